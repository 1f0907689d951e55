"""Every check on the fixture hosts: status and the evidence behind it."""

from __future__ import annotations

import json

import pytest

from auditor.model import Status
from tests.conftest import CHECK_IDS, HOSTS, audit, audit_report, evidence_text

P, W, F, S, E = Status.PASS, Status.WARN, Status.FAIL, Status.SKIP, Status.ERROR
# Every fixture host: tests/fixtures/hosts/HOST/EXPECTED.
FIXTURE_HOSTS = sorted(path.name for path in HOSTS.iterdir() if path.is_dir())


def expected(name: str) -> dict[str, Status]:
    """The verdicts a fixture host's EXPECTED file names: "check-id status" per line, #
    comments; a check it does not name is not asserted."""
    verdicts = {}
    for number, line in enumerate((HOSTS / name / "EXPECTED").read_text().splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if words:
            assert len(words) == 2, f"{name}/EXPECTED:{number}: want 'check-id status'"
            verdicts[words[0]] = Status(words[1])
    return verdicts


@pytest.mark.parametrize("name", FIXTURE_HOSTS)
def test_statuses(name):
    wanted = expected(name)
    results = audit(HOSTS / name)
    unknown = set(wanted) - set(results)
    assert not unknown, f"{name}/EXPECTED names checks that do not exist: {unknown}"
    assert {check_id: results[check_id].status for check_id in wanted} == wanted
    for result in results.values():
        if result.status in (S, E):
            assert result.outcome.message.strip(), "skip and error must say why"


def test_the_fixture_hosts_assert_every_check_somewhere():
    """A check no host's EXPECTED names is tested by no scenario."""
    named = {check_id for name in FIXTURE_HOSTS for check_id in expected(name)}
    assert not set(CHECK_IDS) - named


def test_intel_ready_evidence():
    results = audit(HOSTS / "intel-ready")
    firmware = evidence_text(results["iommu.firmware-table"])
    assert "/sys/firmware/acpi/tables/DMAR host address width: 39" in firmware
    assert "DRHD 1: segment 0, registers 0xfed91000, all devices (INCLUDE_PCI_ALL)" in firmware
    cmdline = results["iommu.kernel-cmdline"]
    assert cmdline.outcome.message == "IOMMU active: 2 IOMMU unit(s), 6 IOMMU group(s)"
    assert "IOMMU on: intel_iommu=on" in evidence_text(cmdline)
    assert "IR-IO-APIC" in results["iommu.interrupt-remapping"].outcome.message
    group = evidence_text(results["iommu.group-isolation"])
    assert "0000:01:00.0, 0000:01:00.1 (bound to vfio-pci or pci-stub)" in group
    assert "/sys/kernel/iommu_groups/1/devices: 0000:00:01.0, 0000:01:00.0, 0000:01:00.1" in group
    support = results["pci.device-support"]
    # A GPU with its audio function, on vfio-pci in a viable group: what GPU passthrough is.
    assert support.status is Status.PASS
    assert support.outcome.message == (
        "2 device(s) (bound to vfio-pci or pci-stub) of a kind the profile supports: "
        "2 PCI Express, 2 multifunction, 1 graphics"
    )
    assert support.outcome.devices[0].message == "is PCI Express, multifunction, graphics"
    assert "NVIDIA Corporation GP104 [GeForce GTX 1070], driver vfio-pci" in evidence_text(support)
    # The source document's RHEL 6 rules are the rhel6 profile's.
    rhel6 = audit(HOSTS / "intel-ready", profile="rhel6")["pci.device-support"]
    assert rhel6.status is Status.FAIL
    assert rhel6.outcome.message == (
        "0000:01:00.0 is a graphics device, which the profile does not allow to assign (not "
        "supported for assignment by RHEL 6); is multifunction: it cannot be hot-plugged, "
        "assign it statically"
    )
    assert "does not define virt_use_sysfs" in results["selinux.virt-use-sysfs"].outcome.message


def test_amd_host_passes_without_amd_iommu_on():
    results = audit(HOSTS / "amd-ready")
    assert "AMD-Vi is on by default" in evidence_text(results["iommu.kernel-cmdline"])
    persistent = results["iommu.cmdline-persistent"]
    assert "grub2" in evidence_text(persistent)
    assert "menuentry 'Debian GNU/Linux'" in evidence_text(persistent)
    assert "recovery mode" not in evidence_text(persistent)  # recovery entries are not judged
    remediation = " ".join(r for res in results.values() for r in res.remediation)
    assert "amd_iommu=on" not in remediation and "iommu=1" not in remediation


def test_firmware_off_blocks_dependents():
    results = audit(HOSTS / "vtd-off-in-firmware")
    assert "the firmware exposes no IOMMU" in results["iommu.firmware-table"].outcome.message
    for check_id in (
        "iommu.kernel-cmdline",
        "iommu.cmdline-persistent",
        "iommu.interrupt-remapping",
        "iommu.group-isolation",
    ):
        assert results[check_id].outcome.message == "blocked by iommu.firmware-table"


def test_iommu_not_enabled_says_what_to_do_with_grubby():
    results = audit(HOSTS / "iommu-not-enabled")
    cmdline = results["iommu.kernel-cmdline"]
    assert (
        cmdline.outcome.message
        == "IOMMU not active: kernel default (CONFIG_INTEL_IOMMU_DEFAULT_ON=n)"
    )
    assert cmdline.remediation[0] == "grubby --update-kernel=ALL --args=intel_iommu=on"
    assert cmdline.remediation[1] == "/etc/default/grub: add intel_iommu=on to GRUB_CMDLINE_LINUX"
    assert cmdline.remediation[-1].startswith("Reboot the host; `hostaudit plan` gives")
    assert results["iommu.group-isolation"].outcome.message == "blocked by iommu.kernel-cmdline"
    persistent = results["iommu.cmdline-persistent"]
    assert persistent.outcome.message == (
        "IOMMU will be off after reboot: the default boot entry "
        "(entry 'Red Hat Enterprise Linux (5.14.0-362.8.1.el9_3.x86_64) 9.3 (Plow)') does not enable it"
    )
    assert "rescue" not in evidence_text(persistent)


def test_reboot_pending():
    result = audit(HOSTS / "reboot-pending")["iommu.cmdline-persistent"]
    assert result.outcome.message.startswith("reboot pending")
    assert "after the boot at 2025-11-24 08:00 UTC" in result.outcome.message
    assert result.remediation == ("Reboot the host to apply the configured command line.",)


def test_no_interrupt_remapping_blames_firmware():
    result = audit(HOSTS / "no-interrupt-remapping")["iommu.interrupt-remapping"]
    assert "firmware/hardware does not support it" in result.outcome.message
    text = evidence_text(result)
    assert "INTR_REMAP clear" in text
    assert "ecap: 0xf01012 (IR not supported)" in text


def test_unsafe_interrupts_names_every_source():
    result = audit(HOSTS / "unsafe-interrupts")["kvm.unsafe-interrupts"]
    assert (
        "vfio_iommu_type1.allow_unsafe_interrupts is on in the running kernel"
        in result.outcome.message
    )
    assert (
        "/etc/modprobe.d/vfio.conf sets vfio_iommu_type1.allow_unsafe_interrupts=1"
        in result.outcome.message
    )
    assert (
        "/etc/modprobe.d/vfio.conf:2: options vfio_iommu_type1 allow_unsafe_interrupts=1"
        in evidence_text(result)
    )
    # Linux 5.14 has no kvm.allow_unsafe_assigned_interrupts: said so, not failed.
    assert "removed in Linux 4.12: not applicable" in evidence_text(result)


def test_selinux_boolean_off():
    result = audit(HOSTS / "selinux-boolean-off")["selinux.virt-use-sysfs"]
    assert result.outcome.message == "virt_use_sysfs is off (SELinux is enforcing)"
    assert result.remediation == ("setsebool -P virt_use_sysfs 1",)
    assert "booleans.local: virt_use_sysfs=0" in evidence_text(result)
    # RHEL 7 (3.10) still has the legacy KVM parameter; it is read, and off.
    assert "allow_unsafe_assigned_interrupts: N" in evidence_text(
        audit(HOSTS / "selinux-boolean-off")["kvm.unsafe-interrupts"]
    )


def test_gpu_sharing_group_with_usb_names_the_usb_controller():
    result = audit(HOSTS / "gpu-shares-group-with-usb")["iommu.group-isolation"]
    assert (
        "0000:22:00.0 is in group 15, which also holds 0000:1e:00.0 USB controller [1b21:2142] "
        "ASMedia Technology Inc. ASM2142 USB 3.1 Host Controller, driver xhci_hcd"
    ) in result.outcome.message
    assert "1d:04.0" not in result.outcome.message  # bridges in the group are fine
    devices = {d.address: d for d in result.outcome.devices}
    assert devices["0000:22:00.0"].status is F
    assert devices["0000:22:00.0"].message.startswith(
        "is in group 15, which also holds 0000:1e:00.0"
    )


def test_gpu_with_audio_on_host_driver():
    result = audit(HOSTS / "gpu-with-audio", devices=("0000:01:00.0",))["iommu.group-isolation"]
    assert "0000:01:00.1 Audio device [10de:10f0]" in result.outcome.message
    assert "driver snd_hda_intel" in result.outcome.message
    both = audit(HOSTS / "gpu-with-audio", devices=("0000:01:00.0", "0000:01:00.1"))
    assert both["iommu.group-isolation"].status is P
    assert [
        (d.address, d.status, d.message) for d in both["iommu.group-isolation"].outcome.devices
    ] == [
        ("0000:01:00.0", P, "is in viable group 1"),
        ("0000:01:00.1", P, "is in viable group 1"),
    ]


def test_requested_device_that_does_not_exist():
    results = audit(HOSTS / "intel-ready", devices=("0000:05:00.0",))
    assert (
        results["iommu.group-isolation"].outcome.message
        == "0000:05:00.0 does not exist on this host"
    )
    assert results["pci.device-support"].status is F


def test_hostile_strings_stay_data():
    report = audit_report(HOSTS / "hostile-strings")
    from auditor.reports import json as json_report
    from auditor.reports import text

    data = json.loads(json_report.render(report))
    assert data["host"]["hostname"] == "<b>host</b>&\"'\x1b[2J"
    cmdline = next(r for r in data["results"] if r["id"] == "iommu.kernel-cmdline")
    assert "note=<script>alert(1)</script>" in cmdline["evidence"][0]["value"]
    support = next(r for r in data["results"] if r["id"] == "pci.device-support")
    assert "<script>alert('x')</script>" in support["evidence"][0]["value"]
    shown = text.render(report)
    assert "\x1b" not in shown  # no terminal control from host data...
    assert "<b>host</b>&\"'\\x1b[2J" in shown  # ...it is shown as text
    assert "GP104 \x1b]0;pwned\x07" in support["evidence"][0]["value"]  # JSON keeps the data exact


def test_symlink_escape_reads_nothing_outside(tmp_path):
    results = audit(HOSTS / "symlink-escape")
    assert (
        results["iommu.kernel-cmdline"].outcome.message
        == "cannot read the running command line: /proc/cmdline: missing"
    )
    report = audit_report(HOSTS / "symlink-escape")
    assert report.host.hostname == "unknown"


def test_rhel6_host_of_the_source_document():
    results = audit(HOSTS / "rhel6-legacy", profile="rhel6")
    # No /sys/class/iommu before Linux 3.x: the driver's own start-up line is the proof.
    assert results["iommu.kernel-cmdline"].outcome.message == (
        "IOMMU active: kernel log: PCI-DMA: Intel(R) Virtualization Technology for Directed I/O"
    )
    assert (
        "kernels before 3.5 (RHEL 6) have no IOMMU groups"
        in results["iommu.group-isolation"].outcome.message
    )
    assert "IR-IO-APIC-edge" in results["iommu.interrupt-remapping"].outcome.message
    unsafe = evidence_text(results["kvm.unsafe-interrupts"])
    assert "/sys/module/kvm/parameters/allow_unsafe_assigned_interrupts: N" in unsafe
    assert "vfio_iommu_type1/parameters/allow_unsafe_interrupts: module not loaded" in unsafe
    assert "legacy-grub" in evidence_text(results["iommu.cmdline-persistent"])
    assert "/selinux/booleans/virt_use_sysfs: current 1, pending 1" in evidence_text(
        results["selinux.virt-use-sysfs"]
    )
    support = results["pci.device-support"]
    # The guide's example NIC: PCI Express (from the capability list: 2.6.32 has no
    # max_link_speed), multifunction, so it must be assigned statically.
    assert "0000:01:00.0 is multifunction: it cannot be hot-plugged" in support.outcome.message
    assert (
        "Ethernet controller [8086:10c9], driver pci-stub; PCI Express, multifunction"
        in evidence_text(support)
    )
