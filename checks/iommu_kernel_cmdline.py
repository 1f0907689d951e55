"""DMA remapping must be on in the running kernel.

The verdict rests on proof of activity (/sys/class/iommu units, IOMMU groups), explained
by the command line as the kernel parses it and by the kernel's build defaults. AMD hosts
never need `amd_iommu=on` (the option does not exist); `iommu=pt` only warns, because
assigned devices stay isolated while host devices go untranslated.
"""

from __future__ import annotations

from auditor.context import Context
from auditor.errors import HostError, NotCollectedError
from auditor.facts import (
    ACPI_TABLES,
    BOOT_READS,
    CMDLINE,
    IOMMU_CLASS,
    IOMMU_GROUPS,
    IOMMU_TABLES,
    KCONFIG_READS,
    LOG_READS,
    OSRELEASE,
    default_witness,
    iommu_activity,
    iommu_activity_in_log,
    iommu_vendor,
    kernel_config,
    running_cmdline,
)
from auditor.fixes import firmware_iommu
from auditor.host import Host
from auditor.model import Change, ChangeKind, Check, Evidence, Outcome, Severity, Status, outcome
from auditor.parsers.iommu_params import arguments_to_enable, evaluate

# The user-space interfaces to VFIO: the group container (/dev/vfio/vfio and /dev/vfio/N),
# iommufd (/dev/iommu, drivers/iommu/iommufd) and per-device files (/dev/vfio/devices/vfioN,
# CONFIG_VFIO_DEVICE_CDEV, Linux 6.6).
VFIO_INTERFACES = ("/dev/vfio", "/dev/vfio/vfio", "/dev/iommu", "/dev/vfio/devices")

# The driver refused to start although the command line enables it: a person reads why.
DRIVER_DID_NOT_START = Change(
    ChangeKind.MANUAL,
    "IOMMU driver did not start",
    detail="read why in the kernel log (dmesg | grep -i -e DMAR -e AMD-Vi -e IOMMU), check that "
    "VT-d / AMD-Vi is enabled in the firmware setup, and update the firmware",
)

CHECK = Check(
    id="iommu.kernel-cmdline",
    title="DMA remapping is enabled in the running kernel",
    severity=Severity.CRITICAL,
    passes=(
        "the running kernel has an active IOMMU (`/sys/class/iommu` units, IOMMU groups; on "
        "kernels without them, such as RHEL 6, the driver's own start-up line in the kernel "
        "log), explained by the command line and the kernel's build defaults"
    ),
    reads=(
        CMDLINE,
        OSRELEASE,
        *KCONFIG_READS,
        IOMMU_CLASS,
        IOMMU_GROUPS,
        ACPI_TABLES,
        *(f"{ACPI_TABLES}/{name}" for name in IOMMU_TABLES),
        *LOG_READS,
        *BOOT_READS,
        *VFIO_INTERFACES,
    ),
    remediation=(
        "Intel: add intel_iommu=on to the kernel command line (not needed where the kernel "
        "enables it by default), update the boot loader and reboot.",
        "AMD: remove amd_iommu=off and iommu=off if present; there is no amd_iommu=on.",
    ),
    references=(
        "drivers/iommu/intel/iommu.c intel_iommu_setup()",
        "drivers/iommu/amd/init.c parse_amd_iommu_options()",
        "Documentation/admin-guide/kernel-parameters.txt",
    ),
    requires=("iommu.firmware-table",),
    accepts=(
        "/sys/class/iommu units and /sys/kernel/iommu_groups (proof of activity)",
        (
            "where the root holds no /sys/class/iommu: the kernel log's 'Adding to iommu group' "
            "(5.8+) and 'iommu: Adding device X to group N' (3.5 to 5.7) records and the "
            "VT-d/AMD-Vi start-up records; a whole log with none of them: not active ('Default "
            "domain type' is shown, never taken as proof)"
        ),
        (
            "/proc/cmdline as lib/cmdline.c parses it, with the kernel's build defaults "
            "(/boot/config-R, /lib/modules/R/config, /proc/config.gz) and the running kernel as "
            "witness of its own default"
        ),
    ),
)


def run(ctx: Context) -> Outcome:
    host = ctx.host
    try:
        params = running_cmdline(host)
    except HostError as exc:
        return outcome(Status.ERROR, f"cannot read the running command line: {exc}")
    vendor = iommu_vendor(host)
    kconfig, kconfig_path = kernel_config(host)
    firmware = ctx.results.get("iommu.firmware-table")
    witness = default_witness(host, vendor, firmware is not None and firmware.status is Status.PASS)
    setting = evaluate(params, vendor, kconfig, witness)
    enabling = arguments_to_enable(params, vendor, kconfig, witness)
    activity = iommu_activity(host)
    evidence = [
        Evidence(CMDLINE, " ".join(str(p) for p in params) or "(empty)"),
        Evidence("vendor (from firmware table)", vendor or "unknown"),
        Evidence(kconfig_path or "kernel config", "found" if kconfig_path else "not found"),
        Evidence(
            "command line + kernel defaults", f"IOMMU {_word(setting.enabled)}: {setting.reason}"
        ),
        *([Evidence("Intel scalable mode", setting.scalable)] if setting.scalable else []),
        Evidence(
            IOMMU_CLASS,
            ", ".join(activity.units) or ("(empty)" if activity.visible else "not present"),
        ),
        Evidence(IOMMU_GROUPS, f"{activity.groups} groups"),
        Evidence("VFIO interfaces", _interfaces(host)),
    ]
    # Kernels before /sys/class/iommu (RHEL 6) and archives without it: the kernel log decides,
    # by a record an active driver prints, or (a whole log) by the absence of every such record.
    logged = None if activity.visible else iommu_activity_in_log(host, vendor)
    if logged is not None:
        evidence += logged.evidence
    if activity.active:
        proof: str | None = f"{len(activity.units)} IOMMU unit(s), {activity.groups} IOMMU group(s)"
    else:
        proof = f"kernel log: {logged.evidence[0].value}" if logged and logged.active else None
    if proof is not None:
        if setting.passthrough:
            return outcome(
                Status.WARN,
                f"IOMMU active ({proof}) but host devices are in passthrough mode "
                f"({setting.passthrough_reason}): assigned devices stay isolated, host devices are "
                "not translated",
                evidence,
                (
                    "Remove iommu=pt / iommu.passthrough=1 unless you rely on it for host DMA performance.",
                ),
            )
        return outcome(Status.PASS, f"IOMMU active: {proof}", evidence)
    if not activity.visible and logged is not None and logged.active is False:
        why = "the kernel log, whole from boot, has no record an active IOMMU driver prints"
        if setting.enabled is True:
            return outcome(
                Status.FAIL,
                f"IOMMU not active although the kernel is set to enable it ({setting.reason}): {why}",
                evidence,
                (
                    "Read why in the kernel log: dmesg | grep -i -e DMAR -e AMD-Vi -e IOMMU",
                    "Check that VT-d / AMD-Vi is enabled in the firmware setup and update the firmware.",
                ),
                changes=(DRIVER_DID_NOT_START,),
            )
        return outcome(
            Status.FAIL,
            f"IOMMU not active ({setting.reason}): {why}",
            evidence,
            _fix(ctx, *enabling),
            changes=_changes(*enabling, vendor),
        )
    if not activity.visible:
        if setting.enabled is False:
            return outcome(
                Status.FAIL,
                f"IOMMU disabled: {setting.reason}",
                evidence,
                _fix(ctx, *enabling),
                changes=_changes(*enabling, vendor),
            )
        return outcome(
            Status.SKIP,
            f"cannot verify activity: the root holds no {IOMMU_CLASS} "
            f"(command line says: {_word(setting.enabled)}, {setting.reason})",
            evidence,
        )
    if setting.enabled is False:
        message = f"IOMMU not active: {setting.reason}"
    elif setting.enabled is True:
        # Adding the option again would change nothing: the driver refused to start.
        return outcome(
            Status.FAIL,
            f"IOMMU not active although the kernel is set to enable it ({setting.reason}): "
            "the driver did not start",
            evidence,
            (
                "Read why in the kernel log: dmesg | grep -i -e DMAR -e AMD-Vi -e IOMMU",
                "Check that VT-d / AMD-Vi is enabled in the firmware setup and update the firmware; "
                "a broken table is reported by iommu.firmware-table.",
            ),
            changes=(DRIVER_DID_NOT_START,),
        )
    else:
        message = f"IOMMU not active ({setting.reason})"
    return outcome(
        Status.FAIL, message, evidence, _fix(ctx, *enabling), changes=_changes(*enabling, vendor)
    )


def _word(enabled: bool | None) -> str:
    return {True: "on", False: "off", None: "unknown"}[enabled]


def _fix(ctx: Context, add: list[str], remove: list[str]) -> list[str]:
    """Host-specific steps: which arguments to add and remove, for this boot loader."""
    if not add and not remove:
        return list(CHECK.remediation)
    from auditor.plan import argument_steps  # the boot chain, only when it is needed

    return argument_steps(ctx.host, add=add, remove=remove)


def _changes(add: list[str], remove: list[str], vendor: str | None) -> list[Change]:
    """The arguments that turn DMA remapping on, as data for `hostaudit plan`."""
    changes = [Change(ChangeKind.KERNEL_ARG_REMOVE, arg) for arg in remove]
    changes += [Change(ChangeKind.KERNEL_ARG_ADD, arg) for arg in add]
    if not changes:  # nothing on the command line would change it: the firmware must
        changes.append(firmware_iommu(vendor))
    return changes


def _interfaces(host: Host) -> str:
    """Which VFIO interfaces the running kernel offers (no interface is not a failure: the
    modules load when a device is bound)."""
    try:
        return _offered(host)
    except NotCollectedError as exc:  # sosreports hold no device nodes
        return f"not known: {exc.reason}"


def _offered(host: Host) -> str:
    try:
        files = [n for n in host.listdir("/dev/vfio/devices") if n.startswith("vfio")]
    except HostError:
        files = []
    offered = [
        name
        for name, present in (
            ("VFIO groups (/dev/vfio/vfio)", host.exists("/dev/vfio/vfio")),
            ("iommufd (/dev/iommu)", host.exists("/dev/iommu")),
            (f"{len(files)} VFIO device file(s) (/dev/vfio/devices)", bool(files)),
        )
        if present
    ]
    return ", ".join(offered) or "none yet (vfio and iommufd load when a device is bound)"
