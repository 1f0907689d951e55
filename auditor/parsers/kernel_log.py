"""Kernel log records, from /dev/kmsg or from a saved `dmesg` text, as plain messages."""

from __future__ import annotations

import re

from auditor.record import record

_HEX = "0123456789abcdefABCDEF"


def parse_kmsg_record(record: bytes) -> str:
    """The message of one /dev/kmsg record: "prio,seq,usec,flags;text\\n KEY=value..."

    Format: Documentation/ABI/testing/dev-kmsg. Non-printable bytes arrive as \\xNN.
    """
    text = record.decode("utf-8", errors="replace")
    head, _, body = text.partition(";")
    if not _ or "," not in head:
        return text.rstrip("\n")
    message = body.split("\n", 1)[0]
    return _unescape(message) if "\\x" in message else message


def _unescape(text: str) -> str:
    """\\xNN sequences (how /dev/kmsg writes non-printable bytes) back to characters."""
    parts = text.split("\\x")
    out = [parts[0]]
    for part in parts[1:]:
        if len(part) >= 2 and part[0] in _HEX and part[1] in _HEX:
            out.append(chr(int(part[:2], 16)) + part[2:])
        else:
            out.append("\\x" + part)
    return "".join(out)


def _strip_timestamp(line: str) -> str:
    """A `dmesg` line without its "<6>[   12.345678] " prefix (priority optional)."""
    rest = line
    if rest.startswith("<"):
        close = rest.find(">")
        if close > 1 and rest[1:close].isdigit():
            rest = rest[close + 1 :]
    if not rest.startswith("["):
        return line
    close = rest.find("]")
    seconds, dot, fraction = rest[1:close].strip().partition(".")
    if close < 0 or not (dot and seconds.isdigit() and fraction.isdigit()):
        return line
    rest = rest[close + 1 :]
    return rest[1:] if rest[:1].isspace() else rest


def parse_dmesg(text: str) -> list[str]:
    """Messages of a saved `dmesg` output, with the `[  1.234567]` prefix removed."""
    return [_strip_timestamp(line) for line in text.splitlines() if line.strip()]


def find(messages: list[str], *needles: str) -> list[str]:
    """Messages containing any of the needles (case-sensitive, as the kernel prints them)."""
    return [message for message in messages if any(needle in message for needle in needles)]


# -- the boot records: whether a log is whole ---------------------------------------------

# start_kernel() prints linux_banner (init/version.c) before anything else but early
# microcode and a few firmware lines; the command line follows ("Command line:" from x86's
# setup_arch(), "Kernel command line:" from start_kernel() on every architecture).
BANNER = "Linux version "
COMMAND_LINE = ("Command line: ", "Kernel command line: ")
MAX_BEFORE_BANNER = 16  # records a log may hold before the banner (microcode, KASLR, efi)
MAX_FIRST_SECONDS = 1.0  # a log whose first record is later than this lost its start


@record
class Completeness:
    """Whether a kernel log holds every boot message: then a message the kernel always prints,
    absent, is evidence. `release` is the banner's kernel release."""

    whole: bool
    why: str
    release: str | None = None


def completeness(messages: list[str], earliest: float | None) -> Completeness:
    """Judge a log by its boot records; `earliest` is its first timestamp (None if untimed)."""
    banner = next((text for text in messages[:MAX_BEFORE_BANNER] if text.startswith(BANNER)), None)
    if banner is None:
        return Completeness(
            False,
            "not whole: it does not start with the kernel's 'Linux version' record "
            "(a wrapped ring buffer, an excerpt or a journal)",
        )
    fields = banner.split()
    release = fields[2] if len(fields) > 2 else None
    if not any(text.startswith(COMMAND_LINE) for text in messages):
        return Completeness(False, "not whole: it has no 'Command line:' record", release)
    if earliest is not None and earliest > MAX_FIRST_SECONDS:
        return Completeness(
            False, f"not whole: its first record is at {earliest:.6f} s after boot", release
        )
    return Completeness(
        True, f"whole: it starts at boot ('Linux version {release}', 'Command line:')", release
    )


def earliest_dmesg_time(text: str) -> float | None:
    """The timestamp of the first timed line of a saved `dmesg` ([  0.000000]), if any."""
    for line in text[:4096].splitlines()[:MAX_BEFORE_BANNER]:
        rest = line
        if rest.startswith("<"):
            rest = rest[rest.find(">") + 1 :]
        if rest.startswith("["):
            try:
                return float(rest[1 : rest.find("]")].strip())
            except ValueError:
                return None
    return None


def earliest_kmsg_time(record: bytes) -> float | None:
    """The timestamp of a /dev/kmsg record ("prio,seq,usec,flags;text"), in seconds."""
    fields = record.split(b";", 1)[0].split(b",")
    try:
        return int(fields[2]) / 1e6
    except (IndexError, ValueError):
        return None


# -- what the IOMMU drivers print -----------------------------------------------------------

# An IOMMU driver attached devices: drivers/iommu/iommu.c iommu_group_add_device() prints
# "pci 0000:00:02.0: Adding to iommu group 2" (dev_info, Linux 5.8+) and before that
# "iommu: Adding device 0000:00:02.0 to group 2" (pr_info, Linux 3.5 to 5.7).
GROUP_RECORDS = ("Adding to iommu group", "iommu: Adding device ")
GROUPS_SINCE = (3, 5)  # IOMMU groups (drivers/iommu/iommu.c iommu_group_add_device())
# Printed only once the DMA-remapping driver has started, on kernels before IOMMU groups
# and after: intel_iommu_init() ("PCI-DMA: " on 2.6, "DMAR: " later), and the AMD-Vi
# driver's start-up records of 2.6 to 5.x (amd_iommu_init_dma_ops(), print_iommu_info()).
# Not proof: "DMAR: IOMMU enabled" (the option parser), "iommu: Default domain type:" (printed
# by iommu_subsys_init() whether or not an IOMMU exists; a real Ubuntu 5.4 log with no IOMMU
# active prints it: tests/fixtures/kernel-logs).
STARTED_RECORDS = (
    "Intel(R) Virtualization Technology for Directed I/O",
    "AMD-Vi: Lazy IO/TLB flushing enabled",
    "AMD-Vi: IO/TLB flush on unmap enabled",
    "AMD-Vi: Initialized for Passthrough Mode",
)
DEFAULT_DOMAIN = "iommu: Default domain type:"


def iommu_started(messages: list[str]) -> str | None:
    """The first record proving an IOMMU driver runs, None if the log holds none."""
    needles = GROUP_RECORDS + STARTED_RECORDS
    return next((text for text in messages if any(n in text for n in needles)), None)


# Interrupt remapping: drivers/iommu/intel/irq_remapping.c intel_enable_irq_remapping()
# ("DMAR-IR: Enabled IRQ remapping in x2apic mode"), drivers/iommu/amd/init.c
# print_iommu_info() ("AMD-Vi: Interrupt remapping enabled"), 2.6 kernels' enable_IR_x2apic()
# ("Enabled Interrupt-remapping"). Not evidence either way: "x2apic: IRQ remapping doesn't
# support X2APIC mode" (printed beside "Enabled IRQ remapping in xapic mode", and before
# AMD-Vi enables it).
REMAPPING_ENABLED = (
    "Enabled IRQ remapping in",
    "Interrupt remapping enabled",
    "Enabled Interrupt-remapping",
)
REMAPPING_FAILED = (
    "Failed to enable irq remapping",  # intel_prepare_irq_remapping() error path
    "Disabling interrupt remapping",  # AMD-Vi, drivers/iommu/amd/init.c
    "Not enabling interrupt remapping",  # an IO-APIC outside IR scope; enable_IR_x2apic() skipped
)

# Firmware switched VT-x/AMD-V off: arch/x86/kernel/cpu/feat_ctl.c ("VMX (outside TXT)
# disabled by BIOS", 5.6+), arch/x86/kvm/x86.c kvm_init() ("kvm: disabled by bios", before
# 5.16; "kvm: support for 'kvm_intel' disabled by bios" 5.16 to 6.3), arch/x86/kvm/vmx/vmx.c
# ("VMX not enabled (by BIOS) in MSR_IA32_FEAT_CTL", 6.4+), arch/x86/kvm/svm/svm.c ("SVM
# disabled (by BIOS) in MSR_VM_CR"). Matched without case: the wordings say bios and BIOS.
FIRMWARE_VIRT_OFF = (
    "disabled by bios",
    "not enabled (by bios)",
    "disabled (by bios)",
)


def firmware_disabled_virtualization(messages: list[str]) -> list[str]:
    """The records saying firmware keeps VT-x/AMD-V off."""
    found = []
    for text in messages:
        lowered = text.lower()
        if any(n in lowered for n in FIRMWARE_VIRT_OFF) and any(
            word in lowered for word in ("vmx", "svm", "kvm")
        ):
            found.append(text)
    return found


# -- firmware tables as the kernel listed and parsed them ------------------------------------

# ACPICA lists every table at boot, acpi_tb_print_table_header() (drivers/acpi/acpica/
# tbprint.c): "ACPI: DMAR 0x00000000D8A6CC08 0000B8 (v01 INTEL  HSW ...)"; kernels before
# 3.14 printed the address without 0x ("ACPI: DMAR 00000000ba1e7d40 000090 (v01 ...").
_TABLE_RECORD = re.compile(r"ACPI: ([A-Z0-9_!]{4}) (?:0x)?[0-9A-Fa-f]{8,16} [0-9A-Fa-f]{4,8} \(v\d")
TABLE_LIST_MARKERS = ("RSDP", "XSDT", "RSDT")

# The kernel parsed the table: drivers/iommu/intel/dmar.c parse_dmar_table() ("DMAR: Host
# address width 39"), dmar_parse_one_drhd() ("DMAR: DRHD base: ..."); drivers/iommu/amd/
# init.c ("AMD-Vi: Found IOMMU cap 0x40", "AMD-Vi: Using global IVHD EFR").
PARSED_RECORDS = {
    "DMAR": ("Host address width", "DRHD base"),
    "IVRS": ("AMD-Vi: Found IOMMU", "AMD-Vi: Using global IVHD EFR"),
}
# The kernel refused the table: warn_invalid_dmar() in dmar.c ("Your BIOS is broken; DMAR
# reported at address 0!": detect_intel_iommu() then leaves VT-d off) and parse_dmar_table()'s
# "DMAR: Parse DMAR table failure." ("dmar: parse DMAR table failure." before 3.x), after which
# neither DMA nor interrupt remapping starts. Matched without case.
BROKEN_RECORDS = ("dmar reported at address 0", "parse dmar table failure")
# Whose records name each table's problems ("DMAR: [Firmware Bug]: ...", "AMD-Vi: [Firmware Bug]: ...").
OWNERS = {"DMAR": ("DMAR",), "IVRS": ("AMD-Vi", "IVRS"), "IORT": ("IORT",)}


def acpi_tables(messages: list[str]) -> dict[str, str]:
    """Signature -> the record listing it, from the boot log's ACPI table list."""
    tables: dict[str, str] = {}
    for text in messages:
        if text.startswith("ACPI: "):
            match = _TABLE_RECORD.match(text)
            if match and match.group(1) not in tables:
                tables[match.group(1)] = text
    return tables


@record
class TableVerdict:
    """What the kernel log says of one IOMMU table: listed, parsed, refused, complained of."""

    listed: str
    parsed: list[str]
    broken: list[str]
    bugs: list[str]


def table_in_log(messages: list[str], name: str, listed: str) -> TableVerdict:
    """The kernel's own records of the table `name` (DMAR, IVRS, IORT) it listed as `listed`."""
    parsed = find(messages, *PARSED_RECORDS.get(name, ()))
    broken = (
        [text for text in messages if any(n in text.lower() for n in BROKEN_RECORDS)]
        if name == "DMAR"
        else []
    )
    refused = set(broken)
    owners = OWNERS.get(name, (name,))
    bugs = [
        text
        for text in find(messages, "[Firmware Bug]")
        if text not in refused and any(owner in text for owner in owners)
    ]
    return TableVerdict(listed, parsed, broken, bugs)
