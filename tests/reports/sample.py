"""A fixed in-memory report that every renderer is tested against.

It has every status, a device check, evidence and remediation, and host strings that try to
break each format: markup, a quote, an escape sequence, a NUL, and XML's `]]>`.
"""

from __future__ import annotations

from auditor.model import (
    Check,
    DeviceResult,
    Evidence,
    HostInfo,
    Outcome,
    Report,
    Result,
    Severity,
    Status,
    mark_stale,
    not_read,
)
from auditor.record import replace

HOSTILE = '<script>alert("x")</script> & \x1b[31mred\x00 ]]>'


def _check(check_id: str, severity: Severity, remediation: tuple[str, ...] = ()) -> Check:
    return Check(
        id=check_id,
        title=f"Title of {check_id}",
        severity=severity,
        reads=(),
        remediation=remediation or (f"Generic fix for {check_id}.",),
    )


def sample_report(hostname: str = "hv-07.example.com") -> Report:
    results = (
        Result(
            _check("cpu.virtualization", Severity.CRITICAL),
            Outcome(Status.PASS, "vmx present", (Evidence("/proc/cpuinfo", "flags: vmx"),)),
            0.0012,
        ),
        Result(
            _check("iommu.group-isolation", Severity.HIGH),
            Outcome(
                Status.FAIL,
                "0000:01:00.0 is in group 1, which also holds 0000:00:14.0",
                (Evidence("/sys/kernel/iommu_groups/1/devices", "0000:00:14.0, 0000:01:00.0"),),
                ("Bind 0000:00:14.0 to vfio-pci.", "Or move the card."),
                (
                    DeviceResult(
                        "0000:01:00.0", Status.FAIL, "is in group 1, which also holds 0000:00:14.0"
                    ),
                    DeviceResult("0000:02:00.0", Status.PASS, "is in viable group 2"),
                ),
            ),
            0.004,
        ),
        Result(
            _check("iommu.interrupt-remapping", Severity.HIGH),
            Outcome(Status.ERROR, "cannot read /proc/interrupts: needs root"),
            0.0005,
        ),
        Result(
            _check("pci.device-support", Severity.MEDIUM),
            Outcome(
                Status.WARN,
                f"device name {HOSTILE}",
                (Evidence("/run/udev/data/+pci:0000:01:00.0", HOSTILE),),
            ),
            0.002,
        ),
        Result(
            _check("kvm.unsafe-interrupts", Severity.HIGH),
            Outcome(
                Status.WAIVED,
                "waived until 2026-12-01 (UTC) by virt-team: lab host, OPS-1234; "
                "finding: allow_unsafe_interrupts is Y",
                (Evidence("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "Y"),),
            ),
            0.0003,
            False,
        ),
        Result(
            _check("selinux.virt-use-sysfs", Severity.MEDIUM),
            Outcome(Status.SKIP, "SELinux is disabled"),
            0.0001,
        ),
        # A failure below the profile's fail_on: shown, not counted.
        Result(
            _check("guest.assigned-devices", Severity.LOW),
            Outcome(Status.FAIL, "guest vm1 assigns 9 functions; the limit is 8"),
            0.0002,
            False,
        ),
    )
    return Report(
        tool_version="0.1.0",
        host=HostInfo(hostname, "5.14.0-362.el9.x86_64", "/"),
        started_at="2026-11-24T08:30:00+00:00",
        duration_s=0.0123,
        results=results,
        profile="default",
        notices=("waiver for kvm.unsafe-interrupts (virt-team) expires on 2026-12-01, in 7 days",),
        collected_at="2026-11-24T06:00:00+00:00",  # a snapshot taken 2.5 hours before
    )


# The clock renderings that show ages are given: three hours after the sample was collected.
NOW = 1795510800.0  # 2026-11-24T09:00:00+00:00


def passing_report(hostname: str = "hv-08.example.com") -> Report:
    """A second host whose every check passes."""
    report = sample_report(hostname)
    results = tuple(
        Result(r.check, Outcome(Status.PASS, f"{r.check.id} is fine"), r.duration_s)
        for r in report.results
    )
    return Report(report.tool_version, report.host, report.started_at, 0.01, results, "production")


def stale_report(hostname: str = "hv-09.example.com") -> Report:
    """A host the run that gathered the fleet did not reach (`report --unreachable`)."""
    return not_read(
        "0.1.0",
        hostname,
        "unreachable: Ansible could not connect to it in this run",
        "2026-11-24T08:30:00+00:00",
    )


def old_report() -> Report:
    """The sample, read three days before NOW and marked so by --max-age 36h."""
    report = sample_report()
    report = replace(
        report,
        host=replace(report.host, hostname="hv-11.example.com"),
        collected_at="2026-11-21T08:30:00+00:00",
    )
    return mark_stale(report, 36 * 3600, NOW)
