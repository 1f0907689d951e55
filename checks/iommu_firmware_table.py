"""The firmware must describe an IOMMU: an ACPI DMAR (Intel VT-d), IVRS (AMD-Vi) or IORT (Arm) table.

The table is what firmware setup's "VT-d" / "AMD-Vi" / "IOMMU" switch controls. Without
it no kernel option can turn DMA remapping on. A present table can still be broken:
this check decodes it and reports what the kernel would refuse.
"""

from __future__ import annotations

from auditor.context import Context
from auditor.errors import HostError, NeedsRootError, NotCollectedError
from auditor.facts import ACPI_TABLES, CPUINFO, IOMMU_TABLES, LOG_READS, kernel_log, present_tables
from auditor.fixes import cpu_vendor, firmware_iommu
from auditor.model import Check, Evidence, Outcome, Severity, Status, outcome
from auditor.parsers.procfs import cpu_flags

# Who the hypervisor says it is, for the advice inside a VM (drivers/firmware/dmi-id.c).
DMI_VENDOR = "/sys/class/dmi/id/sys_vendor"
DMI_PRODUCT = "/sys/class/dmi/id/product_name"

CHECK = Check(
    id="iommu.firmware-table",
    title="Firmware describes an IOMMU (ACPI DMAR, IVRS or IORT)",
    severity=Severity.CRITICAL,
    passes=(
        "an ACPI DMAR, IVRS or IORT table is present and well-formed (decoded: width, flags, "
        "remapping units, checksum)"
    ),
    reads=(
        ACPI_TABLES,
        f"{ACPI_TABLES}/DMAR",
        f"{ACPI_TABLES}/IVRS",
        f"{ACPI_TABLES}/IORT",
        CPUINFO,
        DMI_VENDOR,
        DMI_PRODUCT,
        *LOG_READS,
    ),
    remediation=(
        "Enable the IOMMU in the firmware setup: 'Intel VT-d' / 'Intel Virtualization Technology "
        "for Directed I/O' on Intel, 'IOMMU' or 'AMD-Vi' on AMD (often under Chipset or "
        "North Bridge settings), then power-cycle the host.",
        "If the option is missing, update the system firmware; some boards do not support it.",
    ),
    references=(
        "include/acpi/actbl1.h (DMAR, IVRS), include/acpi/actbl2.h (IORT)",
        "drivers/iommu/intel/dmar.c parse_dmar_table()",
        "drivers/iommu/amd/init.c check_ivrs_checksum()",
    ),
    accepts=(
        "the tables under /sys/firmware/acpi/tables, decoded (root only)",
        (
            "where the root holds no table files: the kernel log's ACPI table list (presence) and "
            "its DMAR/AMD-Vi parse, refusal and [Firmware Bug] records (usability), said to be "
            "judged from the log"
        ),
        "a whole kernel log whose table list has no DMAR, IVRS or IORT: no IOMMU table",
    ),
)


def run(ctx: Context) -> Outcome:
    host = ctx.host
    try:
        has_tables = host.is_dir(ACPI_TABLES)
    except NotCollectedError:
        has_tables = False
    if not has_tables:
        judged = _from_log(ctx)
        if judged is not None:
            return judged
        return outcome(
            Status.SKIP,
            f"no ACPI tables under {ACPI_TABLES}: not an ACPI system (device-tree firmware) "
            "or not collected in this root, and the kernel log does not list them",
        )
    present = present_tables(host)
    if not present:
        listing = [Evidence(ACPI_TABLES, ", ".join(host.listdir(ACPI_TABLES)) or "(empty)")]
        if _is_virtual_machine(ctx):
            listing.append(Evidence(CPUINFO, "hypervisor flag set"))
            vendor = _dmi(ctx)
            listing.append(Evidence(DMI_VENDOR, vendor or "(none: the hypervisor gives no DMI)"))
            message, steps = _virtual_iommu_advice(vendor)
            return outcome(Status.FAIL, message, listing, steps)
        return outcome(
            Status.FAIL,
            "no DMAR, IVRS or IORT table: the firmware exposes no IOMMU "
            "(VT-d/AMD-Vi disabled in firmware setup, or not supported)",
            listing,
            changes=(firmware_iommu(_cpu_vendor(ctx)),),
        )
    from auditor.parsers.acpi import DECODERS  # loaded only where there is a table to decode

    evidence: list[Evidence] = []
    fatal: list[str] = []
    warnings: list[str] = []
    needs_root: list[str] = []
    for name in present:
        path = f"{ACPI_TABLES}/{name}"
        try:
            data = host.read_bytes(path, limit=1024 * 1024)
        except NeedsRootError:
            needs_root.append(name)
            evidence.append(Evidence(path, "present (mode 0400: content readable only by root)"))
            continue
        except HostError as exc:
            return outcome(Status.ERROR, f"{name} exists but cannot be read: {exc}", evidence)
        try:
            table = DECODERS[name](data)
        except ValueError as exc:
            fatal.append(f"{name}: {exc}")
            continue
        evidence += [Evidence(f"{path} {key}", value) for key, value in table.facts]
        fatal += [f"{name}: {problem}" for problem in table.fatal]
        warnings += [f"{name}: {problem}" for problem in table.warnings]
    found = _findings(present, fatal, warnings, evidence, needs_root=needs_root)
    if found is not None:
        return found
    return outcome(Status.PASS, f"{', '.join(present)} present and well-formed", evidence)


def _dmi(ctx: Context) -> str:
    """ "sys_vendor / product_name" as the firmware of the VM gives them, or ""."""
    found = []
    for path in (DMI_VENDOR, DMI_PRODUCT):
        try:
            found.append(ctx.host.read_text(path, limit=256).strip())
        except (HostError, NotCollectedError):
            pass
    return " / ".join(part for part in found if part)


# QEMU refuses intremap=on with the in-kernel IOAPIC ("Intel Interrupt Remapping cannot
# work with kernel-irqchip=on, please use 'split|off'", hw/i386/intel_iommu.c), and a
# device assigned inside the VM needs caching-mode=on (vtd_iommu_notify_flag_changed()
# refuses VFIO without it). libvirt spells both on <iommu model='intel'> <driver> and
# needs <ioapic driver='qemu'/> for the split irqchip (formatdomain: Hypervisor features,
# IOMMU devices).
QEMU_STEPS = (
    "QEMU: -machine q35,kernel-irqchip=split -device intel-iommu,intremap=on,caching-mode=on "
    "(QEMU refuses intremap=on with kernel-irqchip=on, and a device assigned to the VM behind "
    "the virtual IOMMU needs caching-mode=on; the emulated intel-iommu works on AMD hosts too).",
    "libvirt: <features><ioapic driver='qemu'/></features> and <devices><iommu model='intel'>"
    "<driver intremap='on' caching_mode='on'/></iommu></devices> on a q35 machine, then shut "
    "the VM down and start it again (a reboot from inside keeps the old hardware).",
    "Nested virtualization on the physical host too (kvm_intel nested=1 or kvm_amd nested=1), "
    "and the guest's CPU mode host-passthrough.",
)


def _virtual_iommu_advice(vendor: str) -> tuple[str, tuple[str, ...]]:
    """What to tell a VM without a virtual IOMMU, by the hypervisor its DMI names."""
    lowered = vendor.lower()
    if "qemu" in lowered or "kvm" in lowered or "standard pc" in lowered:
        return "no DMAR, IVRS or IORT table: this QEMU/KVM virtual machine has no virtual IOMMU", (
            *QEMU_STEPS,
            "Or audit the physical host instead.",
        )
    if "vmware" in lowered:
        return "no DMAR, IVRS or IORT table: this VMware virtual machine has no virtual IOMMU", (
            "VMware: power the VM off and enable 'Expose IOMMU to the guest OS' (virtual "
            "VT-d, VM hardware version 14 or newer) with 'Expose hardware assisted "
            "virtualization to the guest OS' in its CPU settings; or audit the physical host.",
        )
    if "microsoft" in lowered:
        return (
            "no DMAR, IVRS or IORT table: Hyper-V offers its guests no DMA-remapping IOMMU "
            "(its hyperv-iommu driver remaps interrupts only)",
            ("Devices cannot be assigned onward from a Hyper-V guest: audit the physical host.",),
        )
    if not vendor:
        return (
            "no DMAR, IVRS or IORT table: this virtual machine has no virtual IOMMU, and its "
            "hypervisor gives no DMI to name it (a microVM such as Firecracker offers none)",
            (
                "A microVM hypervisor offers no IOMMU to its guests: audit the physical host, "
                "or a full VM with a virtual IOMMU.",
                *QEMU_STEPS,
            ),
        )
    return f"no DMAR, IVRS or IORT table: this virtual machine ({vendor}) has no virtual IOMMU", (
        *QEMU_STEPS,
        "Other hypervisors: give the VM a virtual IOMMU where the hypervisor offers one, or "
        "audit the physical host instead.",
    )


def _is_virtual_machine(ctx: Context) -> bool:
    """Whether the CPU flags say this kernel runs under a hypervisor."""
    try:
        return "hypervisor" in cpu_flags(ctx.host.read_text(CPUINFO))[1]
    except HostError:
        return False


def _cpu_vendor(ctx: Context) -> str | None:
    """ "intel" or "amd" from /proc/cpuinfo (no table names the vendor here)."""
    try:
        return cpu_vendor(cpu_flags(ctx.host.read_text(CPUINFO))[0])
    except HostError:
        return None


def _from_log(ctx: Context) -> Outcome | None:
    """The tables as the kernel listed and parsed them at boot, where the root holds no
    table files (a sosreport without /sys/firmware, a kernel log alone). None: the log
    cannot tell (unreadable, or it holds no ACPI table list)."""
    from auditor.parsers.kernel_log import TABLE_LIST_MARKERS, acpi_tables, table_in_log

    try:
        log = kernel_log(ctx.host)
    except HostError:
        return None
    listed = acpi_tables(log.messages)
    source = log.source
    evidence = [log.about()]
    # Listed at boot, or (an excerpt without the list) parsed or refused by its driver.
    verdicts = {
        name: table_in_log(log.messages, name, listed.get(name, "")) for name in IOMMU_TABLES
    }
    present = [
        name
        for name, verdict in verdicts.items()
        if verdict.listed or verdict.parsed or (name == "DMAR" and verdict.broken)
    ]
    if not present:
        if not log.whole or not any(marker in listed for marker in TABLE_LIST_MARKERS):
            return None  # an excerpt, or a boot without an ACPI table list: cannot tell
        evidence.append(
            Evidence(source, f"ACPI tables listed at boot: {', '.join(sorted(listed))}")
        )
        return outcome(
            Status.FAIL,
            "no DMAR, IVRS or IORT table among the ACPI tables the kernel listed at boot "
            "(judged from the kernel log, whole from boot): the firmware exposes no IOMMU",
            evidence,
            changes=(firmware_iommu(_cpu_vendor(ctx)),),
        )
    fatal: list[str] = []
    warnings: list[str] = []
    decoded: list[str] = []
    for name in present:
        verdict = verdicts[name]
        evidence.append(Evidence(source, verdict.listed or f"{name}: not in a table list here"))
        evidence += [
            Evidence(source, line)
            for line in (verdict.parsed[:2] + verdict.broken + verdict.bugs)[:6]
        ]
        fatal += [f"{name}: {line}" for line in verdict.broken]
        warnings += [f"{name}: {line}" for line in verdict.bugs]
        if verdict.parsed:
            decoded.append(name)
    where = "judged from the kernel log: the table files are not in this root"
    found = _findings(present, fatal, warnings, evidence, where)
    if found is not None:
        return found
    parsed = (
        f"the kernel parsed {', '.join(decoded)}"
        if decoded
        else "not parsed on this boot, so its content is not known"
    )
    return outcome(Status.PASS, f"{', '.join(present)} present ({where}; {parsed})", evidence)


def _findings(
    present: list[str],
    fatal: list[str],
    warnings: list[str],
    evidence: list[Evidence],
    where: str = "",
    needs_root: list[str] | tuple[str, ...] = (),
) -> Outcome | None:
    """The verdict of what the tables showed, decoded or as the kernel logged them: a table
    the kernel refuses fails, one only root can decode is an error, firmware bugs warn;
    None when there is none of these."""
    said = f" ({where})" if where else ""
    if fatal:
        return outcome(
            Status.FAIL,
            f"firmware IOMMU table is broken{said}: " + "; ".join(fatal),
            evidence,
            ("Update the system firmware (BIOS/UEFI); report the finding to the vendor.",),
        )
    if needs_root:
        return outcome(
            Status.ERROR,
            f"{', '.join(needs_root)} present but needs root to decode: run the audit as root",
            evidence,
            ("Run hostaudit as root to decode the firmware tables.",),
        )
    if warnings:
        return outcome(
            Status.WARN,
            f"{', '.join(present)} present with firmware bugs{said}: " + "; ".join(warnings),
            evidence,
        )
    return None
