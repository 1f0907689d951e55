"""Interrupt remapping must be active: without it an assigned device can forge interrupts.

State is read from /proc/interrupts (remapped chips are named IR-... or vIR-...) and the
kernel log; the cause of a missing remapping is told apart: the command line turned it
off, the firmware does not report the capability (DMAR INTR_REMAP flag, VT-d ecap bit 3),
or the kernel tried and failed.
"""

from __future__ import annotations

from auditor.context import Context
from auditor.errors import HostError
from auditor.facts import (
    ACPI_TABLES,
    CMDLINE,
    IOMMU_TABLES,
    LOG_READS,
    kernel_log,
    present_tables,
    running_cmdline,
)
from auditor.model import Change, ChangeKind, Check, Evidence, Outcome, Severity, Status, outcome
from auditor.parsers.iommu_params import interrupt_remapping_disabled_by
from auditor.parsers.kernel_log import REMAPPING_ENABLED, REMAPPING_FAILED, acpi_tables, find
from auditor.parsers.procfs import interrupt_chips, remapped

INTERRUPTS = "/proc/interrupts"
ECAP_IR = 1 << 3  # Intel VT-d Extended Capability register, IR (interrupt remapping support)

# Where the firmware reports no remapping, only a firmware setting can bring it; failing
# that, only the unsafe-interrupt override would let VFIO assign devices, which no plan does.
NO_REMAPPING = Change(
    ChangeKind.NO_SAFE_FIX,
    "interrupt remapping unsupported by the firmware",
    detail="enable Interrupt Remapping or x2APIC in the firmware setup if it offers either "
    "(then re-run hostaudit plan), or update the firmware; otherwise this host cannot assign "
    "devices securely (allow_unsafe_interrupts is never planned)",
)

CHECK = Check(
    id="iommu.interrupt-remapping",
    title="Interrupt remapping is active",
    severity=Severity.HIGH,
    passes=(
        "interrupt remapping is active (`IR-` chips in `/proc/interrupts`, kernel log), "
        'distinguishing "disabled on the command line", "not supported by firmware/hardware" '
        'and "the kernel failed"'
    ),
    reads=(
        INTERRUPTS,
        CMDLINE,
        *LOG_READS,
        *(f"{ACPI_TABLES}/{name}" for name in IOMMU_TABLES),
        "/sys/class/iommu",
        "/sys/class/iommu/*/intel-iommu/ecap",
    ),
    remediation=(
        "Remove intremap=off / nointremap from the kernel command line if present.",
        "Enable interrupt remapping (sometimes listed with VT-d or x2APIC) in the firmware setup.",
        "Without hardware support, secure device assignment is not possible on this host.",
    ),
    references=(
        "drivers/iommu/irq_remapping.c",
        "drivers/iommu/intel/irq_remapping.c",
        "drivers/iommu/amd/init.c",
    ),
    requires=("iommu.firmware-table",),
    accepts=(
        "IR-/vIR- interrupt chips in /proc/interrupts",
        (
            "the kernel log's enabling records ('DMAR-IR: Enabled IRQ remapping', 'AMD-Vi: "
            "Interrupt remapping enabled', 2.6's 'Enabled Interrupt-remapping') and failure "
            "records; a whole log without an enabling record on a DMAR/IVRS host: off"
        ),
        (
            "the cause: intremap=off/nointremap on the command line, the DMAR INTR_REMAP flag, VT-d"
            " ecap bit 3"
        ),
    ),
)


def run(ctx: Context) -> Outcome:
    host = ctx.host
    evidence: list[Evidence] = []
    chips: dict[str, int] = {}
    try:
        chips = interrupt_chips(host.read_text(INTERRUPTS))
        evidence.append(
            Evidence(
                INTERRUPTS,
                ", ".join(f"{chip} ({n})" for chip, n in sorted(chips.items()))
                or "(no device interrupts)",
            )
        )
    except HostError as exc:
        evidence.append(Evidence(INTERRUPTS, str(exc)))
    active_chips = sorted(chip for chip in chips if remapped(chip))
    if active_chips:
        return outcome(
            Status.PASS, f"interrupt remapping active ({', '.join(active_chips)})", evidence
        )

    log_enabled: list[str] = []
    log_failed: list[str] = []
    log_whole = False
    try:
        log = kernel_log(host)
        log_enabled = find(log.messages, *REMAPPING_ENABLED)
        log_failed = find(log.messages, *REMAPPING_FAILED)
        log_whole = log.whole
        evidence += [Evidence(log.source, line) for line in (log_enabled + log_failed)[:6]]
        if not log_enabled and not log_failed:
            evidence.append(Evidence(log.source, "no interrupt remapping messages"))
        evidence.append(log.about())
    except HostError as exc:
        evidence.append(Evidence("kernel log", str(exc)))

    if not chips:
        if log_enabled and not log_failed:
            return outcome(
                Status.PASS,
                f"interrupt remapping enabled (kernel log: {log_enabled[-1]})",
                evidence,
            )
        if log_failed:
            return outcome(
                Status.FAIL,
                f"the kernel failed to enable interrupt remapping: {log_failed[-1]}",
                evidence,
            )
        table = ctx.results.get("iommu.firmware-table")
        listed = set(present_tables(host)) | set(acpi_tables(log.messages) if log_whole else ())
        if (
            not log_whole
            or table is None
            or table.status not in (Status.PASS, Status.WARN)
            or not listed & {"DMAR", "IVRS"}  # IORT (Arm): interrupts are isolated by the GIC ITS
        ):
            return outcome(
                Status.SKIP,
                "cannot tell: neither /proc/interrupts nor the kernel log say",
                evidence,
            )
        # The firmware has a DMAR/IVRS table (iommu.firmware-table), and the kernel prints
        # its enabling record on every boot that enables remapping: a whole log without one
        # is a boot without it.
        absent = "the kernel log, whole from boot, has no record of enabling it"
    else:
        absent = "no IR- interrupt chips"

    # Remapping is off (no remapped chip, or a whole log without the record). Why?
    disabled_by = None
    try:
        disabled_by = interrupt_remapping_disabled_by(running_cmdline(host))
    except HostError as exc:
        evidence.append(Evidence(CMDLINE, str(exc)))
    if disabled_by:
        evidence.append(Evidence(CMDLINE, disabled_by))
        return outcome(
            Status.FAIL,
            f"interrupt remapping disabled by the kernel command line ({disabled_by})",
            evidence,
            (f"Remove {disabled_by} from the kernel command line and reboot.",),
            changes=(Change(ChangeKind.KERNEL_ARG_REMOVE, disabled_by),),
        )
    capability = _firmware_capability(ctx, evidence)
    if capability is False:
        return outcome(
            Status.FAIL,
            "interrupt remapping not active: the firmware/hardware does not support it",
            evidence,
            (
                "Enable interrupt remapping / x2APIC in the firmware setup if offered; otherwise "
                "this host cannot assign devices securely.",
            ),
            changes=(NO_REMAPPING,),
        )
    if log_failed:
        return outcome(
            Status.FAIL,
            f"the kernel failed to enable interrupt remapping: {log_failed[-1]}",
            evidence,
        )
    supported = " although the firmware reports support" if capability else ""
    return outcome(Status.FAIL, f"interrupt remapping not active{supported} ({absent})", evidence)


def _firmware_capability(ctx: Context, evidence: list[Evidence]) -> bool | None:
    """Whether firmware and hardware report interrupt remapping (Intel only; None if unknown)."""
    from auditor.parsers.acpi import decode_dmar  # loaded only where it is needed

    host = ctx.host
    path = f"{ACPI_TABLES}/DMAR"
    if not host.exists(path):
        return None
    flag: bool | None = None
    try:
        flag = decode_dmar(host.read_bytes(path, limit=1024 * 1024)).intr_remap
        evidence.append(Evidence(f"{path} flags", f"INTR_REMAP {'set' if flag else 'clear'}"))
    except (HostError, ValueError) as exc:
        evidence.append(Evidence(path, str(exc)))
    units: list[bool] = []
    try:
        for unit in host.listdir("/sys/class/iommu"):
            ecap_path = f"/sys/class/iommu/{unit}/intel-iommu/ecap"
            try:
                ecap = int(host.read_text(ecap_path, limit=64).strip(), 16)
            except (HostError, ValueError):
                continue
            units.append(bool(ecap & ECAP_IR))
            evidence.append(
                Evidence(
                    ecap_path,
                    f"0x{ecap:x} (IR {'supported' if ecap & ECAP_IR else 'not supported'})",
                )
            )
    except HostError:
        pass
    if flag is False or (units and not all(units)):
        return False
    if flag or units:
        return True
    return None
