"""Decode the ACPI tables that describe an IOMMU: DMAR (Intel VT-d), IVRS (AMD-Vi), IORT (Arm).

Layouts: ACPICA include/acpi/actbl1.h (DMAR, IVRS) and actbl2.h (IORT); the kernel's own
validation, which decides whether the table is used: parse_dmar_table() and
dmar_walk_remapping_entries() in drivers/iommu/intel/dmar.c, check_ivrs_checksum() and
init_iommu_all() in drivers/iommu/amd/init.c.

Every decoder returns facts (for evidence) and two lists: `fatal` problems make the
kernel refuse the table, `warnings` are firmware bugs the kernel works around.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from auditor.record import field, record

HEADER_SIZE = 36
PAGE_SHIFT = 12  # x86

DMAR_INTR_REMAP = 1 << 0
DMAR_X2APIC_OPT_OUT = 1 << 1
DMAR_PLATFORM_OPT_IN = 1 << 2
DRHD_INCLUDE_PCI_ALL = 1 << 0
DMAR_TYPES = {0: "DRHD", 1: "RMRR", 2: "ATSR", 3: "RHSA", 4: "ANDD", 5: "SATC", 6: "SIDP"}

IVHD_TYPES = {0x10: 24, 0x11: 40, 0x40: 40}  # type -> header size
IVMD_TYPES = (0x20, 0x21, 0x22)

IORT_SMMU_TYPES = {3: "SMMUv1/v2", 4: "SMMUv3"}


@record
class AcpiHeader:
    """The 36-byte header common to every ACPI table."""

    signature: str
    length: int
    revision: int
    checksum_ok: bool
    oem_id: str
    oem_table_id: str


@record(frozen=False)
class DecodedTable:
    """What a decoder learned: the header, facts to show, and problems found."""

    header: AcpiHeader
    facts: list[tuple[str, str]] = field(default_factory=list)
    fatal: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    iommu_units: int = 0
    intr_remap: bool | None = None  # DMAR flag; None where the table does not say


def _text(raw: bytes) -> str:
    return raw.decode("ascii", errors="replace").rstrip("\x00 ")


def decode_header(data: bytes) -> AcpiHeader:
    """Decode the common header; raise ValueError when there is not even a header."""
    if len(data) < HEADER_SIZE:
        raise ValueError(f"{len(data)} bytes: shorter than the 36-byte ACPI header")
    signature, length, revision = struct.unpack_from("<4sIB", data, 0)
    return AcpiHeader(
        signature=_text(signature),
        length=length,
        revision=revision,
        checksum_ok=sum(data[: min(length, len(data))]) % 256 == 0,
        oem_id=_text(data[10:16]),
        oem_table_id=_text(data[16:24]),
    )


def _start(data: bytes, signature: str, fixed: int) -> DecodedTable:
    """Decode and sanity-check the header of a table with `fixed` bytes before its subtables."""
    header = decode_header(data)
    table = DecodedTable(header)
    table.facts += [
        ("signature", header.signature),
        ("length", str(header.length)),
        ("revision", str(header.revision)),
        ("oem", f"{header.oem_id} {header.oem_table_id}".strip()),
        ("checksum", "valid" if header.checksum_ok else "INVALID"),
    ]
    if header.signature != signature:
        table.fatal.append(f"signature is {header.signature!r}, expected {signature!r}")
    if header.length > len(data):
        table.fatal.append(f"header says {header.length} bytes but only {len(data)} are present")
    if header.length < fixed:
        table.fatal.append(f"length {header.length} is shorter than the {fixed}-byte fixed part")
    return table


def _walk(
    data: bytes, start: int, end: int, type_fmt: str, table: DecodedTable
) -> Iterator[tuple[int, int, int]]:
    """Yield (offset, type, length) of each subtable, stopping where the kernel stops.

    DMAR subtables start with a u16 type, IVRS ones with a u8 type and u8 flags; in both
    the u16 length sits at offset 2.
    """
    offset = start
    while offset + 4 <= end:
        (kind,) = struct.unpack_from(type_fmt, data, offset)
        (length,) = struct.unpack_from("<H", data, offset + 2)
        if length == 0:
            # dmar_walk_remapping_entries(): "Invalid 0-length structure", walk stops.
            table.warnings.append(f"0-length structure at offset {offset}: the rest is ignored")
            return
        if offset + length > end:
            # "Record passes table end": -EINVAL, the kernel gives up on the table.
            table.fatal.append(f"structure at offset {offset} passes the table end")
            return
        yield offset, kind, length
        offset += length


def decode_dmar(data: bytes) -> DecodedTable:
    """Decode a DMAR table: width, flags, and the remapping structures."""
    table = _start(data, "DMAR", 48)
    if len(data) < 48:
        return table
    width, flags = struct.unpack_from("<BB", data, 36)
    haw = width + 1
    table.intr_remap = bool(flags & DMAR_INTR_REMAP)
    table.facts += [
        ("host address width", str(haw)),
        ("flags", f"0x{flags:02x}"),
        ("interrupt remapping (INTR_REMAP)", "supported" if table.intr_remap else "not reported"),
        ("x2APIC opt-out", "yes" if flags & DMAR_X2APIC_OPT_OUT else "no"),
        ("DMA control platform opt-in", "yes" if flags & DMAR_PLATFORM_OPT_IN else "no"),
    ]
    if width < PAGE_SHIFT - 1:
        # parse_dmar_table(): "Invalid DMAR haw", -EINVAL.
        table.fatal.append(f"host address width {haw} is invalid (the kernel rejects the table)")
    if not table.header.checksum_ok:
        # ACPICA only warns ("Incorrect checksum in table"); dmar.c does not check it.
        table.warnings.append("checksum does not sum to zero (firmware bug; Linux still uses it)")
    counts: dict[str, int] = {}
    end = min(table.header.length, len(data))
    for offset, kind, length in _walk(data, 48, end, "<H", table):
        name = DMAR_TYPES.get(kind, f"type {kind}")
        counts[name] = counts.get(name, 0) + 1
        if kind == 0:
            _decode_drhd(data, offset, length, table)
            table.iommu_units += 1
    table.facts.append(
        ("remapping structures", ", ".join(f"{n} {k}" for k, n in counts.items()) or "none")
    )
    if not table.iommu_units and not table.fatal:
        # parse_dmar_table(): "[Firmware Bug]: No DRHD structure found in DMAR table".
        table.fatal.append("no DRHD (remapping hardware unit) structure: no IOMMU is described")
    return table


def _decode_drhd(data: bytes, offset: int, length: int, table: DecodedTable) -> None:
    """One DRHD: flags, PCI segment and register base address."""
    if length < 16:
        table.fatal.append(f"DRHD at offset {offset} is {length} bytes, shorter than 16")
        return
    flags, _size, segment, address = struct.unpack_from("<BBHQ", data, offset + 4)
    index = table.iommu_units
    scope = "all devices (INCLUDE_PCI_ALL)" if flags & DRHD_INCLUDE_PCI_ALL else "listed devices"
    table.facts.append((f"DRHD {index}", f"segment {segment}, registers 0x{address:x}, {scope}"))
    # dmar_validate_one_drhd(): a zero base or registers reading all ones is a firmware bug
    # ("[Firmware Bug]: Your BIOS is broken; DMAR reported at address ...") and the unit is ignored.
    if address == 0 or address == 0xFFFFFFFFFFFFFFFF:
        table.fatal.append(f"DRHD {index} has an invalid register base 0x{address:x}")


def decode_ivrs(data: bytes) -> DecodedTable:
    """Decode an IVRS table: IVinfo and the IVHD (IOMMU) and IVMD (memory) blocks."""
    table = _start(data, "IVRS", 48)
    if len(data) < 48:
        return table
    (ivinfo,) = struct.unpack_from("<I", data, 36)
    table.facts += [
        ("IVinfo", f"0x{ivinfo:08x}"),
        ("EFR supported", "yes" if ivinfo & 1 else "no"),
        ("DMA remapping reported (DMAGuard opt-in)", "yes" if ivinfo & 2 else "no"),
        ("physical address size", str((ivinfo >> 8) & 0x7F)),
        ("virtual address size", str((ivinfo >> 15) & 0x7F)),
    ]
    if not table.header.checksum_ok:
        # check_ivrs_checksum(): "[Firmware Bug]: IVRS invalid checksum", -ENODEV: AMD-Vi stays off.
        table.fatal.append("checksum does not sum to zero (the kernel refuses the table)")
    memory_blocks = 0
    end = min(table.header.length, len(data))
    for offset, kind, length in _walk(data, 48, end, "<B", table):
        if kind in IVHD_TYPES:
            if length < IVHD_TYPES[kind]:
                table.fatal.append(f"IVHD type 0x{kind:02x} at offset {offset} is too short")
                continue
            device_id, _cap, address, segment = struct.unpack_from("<HHQH", data, offset + 4)
            table.iommu_units += 1
            table.facts.append(
                (
                    f"IVHD {table.iommu_units - 1} (type 0x{kind:02x})",
                    f"IOMMU at {segment:04x}:{device_id >> 8:02x}:{(device_id >> 3) & 0x1F:02x}."
                    f"{device_id & 7}, registers 0x{address:x}",
                )
            )
        elif kind in IVMD_TYPES:
            memory_blocks += 1
    table.facts.append(("IVMD memory definitions", str(memory_blocks)))
    if not table.iommu_units and not table.fatal:
        table.fatal.append("no IVHD block: no IOMMU is described")
    return table


def decode_iort(data: bytes) -> DecodedTable:
    """Decode an IORT table: its nodes, counting SMMUs (the Arm IOMMUs)."""
    table = _start(data, "IORT", 48)
    if len(data) < 48:
        return table
    node_count, node_offset = struct.unpack_from("<II", data, 36)
    table.facts.append(("nodes", str(node_count)))
    end = min(table.header.length, len(data))
    offset = node_offset
    for _ in range(node_count):
        if offset + 4 > end:
            table.fatal.append(f"node at offset {offset} passes the table end")
            break
        kind, length = struct.unpack_from("<BH", data, offset)
        if length == 0 or offset + length > end:
            table.fatal.append(f"node at offset {offset} has a bad length {length}")
            break
        if kind in IORT_SMMU_TYPES:
            table.iommu_units += 1
            table.facts.append((f"SMMU {table.iommu_units - 1}", IORT_SMMU_TYPES[kind]))
        offset += length
    if not table.header.checksum_ok:
        table.warnings.append("checksum does not sum to zero (firmware bug)")
    if not table.iommu_units and not table.fatal:
        table.fatal.append("no SMMU node: the table describes no IOMMU")
    return table


DECODERS = {"DMAR": decode_dmar, "IVRS": decode_ivrs, "IORT": decode_iort}
