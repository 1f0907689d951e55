"""libvirt domain XML: the guest's name, its assigned PCI devices, the PCI slots it uses, its
memory and the hugepages its <memoryBacking> asks for.

Parsed safely: a document with a DOCTYPE or an entity declaration is refused before parsing
(libvirt never writes one), so no entity expansion and no external fetch can happen.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from auditor.record import record

_DECLARATION = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


@record
class Hostdev:
    """One `<hostdev mode='subsystem' type='pci'>`: the host address it assigns."""

    address: str  # normalised host address, 0000:06:12.5
    managed: bool  # managed='yes': libvirt binds it to vfio-pci itself
    guest_slot: tuple[int, int, int] | None  # (domain, bus, slot) of its guest <address>


@record
class Hugepages:
    """One <memoryBacking><hugepages><page>, or <hugepages/> alone (size None: the host's
    default hugepage size)."""

    size_kib: int | None
    nodeset: str  # the guest NUMA nodes it backs ("" for all)


@record
class Domain:
    """What the audit needs from one guest definition."""

    name: str
    hostdevs: tuple[Hostdev, ...]
    # Guest PCI slots taken by other devices that have an explicit guest address.
    other_slots: frozenset[tuple[int, int, int]]
    # Devices without an explicit guest PCI address that still take a slot (disks on virtio,
    # network interfaces, controllers): libvirt assigns one each.
    unaddressed_devices: int
    # <memory>, in KiB (0 when absent), and what <memoryBacking><hugepages> asks for.
    memory_kib: int = 0
    hugepages: tuple[Hugepages, ...] = ()


# libvirt's scaled integers (virScaleInteger, docs formatdomain "Memory Allocation"): a
# unit's first letter, then "" or "iB" for powers of 1024, "B" for powers of 1000; bytes.
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def to_kib(value: str | None, unit: str | None, default: str = "KiB") -> int:
    """A libvirt size as KiB (rounded up); ValueError for what libvirt would refuse."""
    text = (value or "").strip()
    if len(text) > 20:  # more than 2**64: no machine has it (and int() of a huge text is slow)
        raise ValueError(f"a size of {len(text)} digits")
    number = int(text, 10)
    if number < 0:
        raise ValueError(f"a negative size {number}")
    unit = (unit or default).strip()
    lowered = unit.lower()
    if lowered in ("b", "byte", "bytes"):
        return -(-number // 1024)
    power = _POWERS.get(lowered[:1])
    if power is None or lowered[1:] not in ("", "ib", "b"):
        raise ValueError(f"an unknown unit {unit!r}")
    base = 1000 if lowered[1:] == "b" else 1024
    return -(-(number * base**power) // 1024)


def _number(text: str | None) -> int:
    """A libvirt address attribute: 0x-prefixed hex, or decimal (virStrToLong_uip, base 0)."""
    if text is None:
        return 0
    text = text.strip()
    if text.lower().startswith("0x"):
        return int(text, 16)
    if len(text) > 1 and text.startswith("0"):
        return int(text, 8)
    return int(text, 10)


def _pci_address(element: ET.Element) -> tuple[int, int, int, int]:
    return (
        _number(element.get("domain")),
        _number(element.get("bus")),
        _number(element.get("slot")),
        _number(element.get("function")),
    )


def _takes_a_slot(device: ET.Element) -> bool:
    """Devices libvirt puts on a PCI slot of their own when the XML gives no address."""
    if device.get("model") == "none":  # <memballoon model='none'/> and the like
        return False
    if device.tag == "disk":
        return device.find("target[@bus='virtio']") is not None
    return device.tag in ("interface", "sound", "watchdog", "rng", "memballoon")


def parse_domain(text: str) -> Domain:
    """Parse a domain definition; ValueError says what is wrong."""
    if _DECLARATION.search(text):
        raise ValueError("it declares a DOCTYPE or entities, which libvirt never writes")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML ({exc})") from None
    if root.tag != "domain":
        raise ValueError(f"the root element is <{root.tag}>, not <domain>")
    name = (root.findtext("name") or "").strip()
    if not name:
        raise ValueError("the domain has no <name>")
    hostdevs: list[Hostdev] = []
    other_slots: set[tuple[int, int, int]] = set()
    unaddressed = 0
    devices = root.find("devices")
    for device in devices if devices is not None else ():
        guest = next((a for a in device.findall("address") if a.get("type") == "pci"), None)
        guest_slot = _pci_address(guest)[:3] if guest is not None else None
        if device.tag == "hostdev" and device.get("type") == "pci":
            source = device.find("source/address")
            if source is None:
                raise ValueError(f"a PCI <hostdev> of {name} has no <source><address>")
            try:
                domain, bus, slot, function = _pci_address(source)
            except ValueError:
                raise ValueError(f"a PCI <hostdev> of {name} has a malformed address") from None
            hostdevs.append(
                Hostdev(
                    address=f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}",
                    managed=device.get("managed", "no") == "yes",
                    guest_slot=guest_slot,
                )
            )
        elif guest_slot is not None:
            other_slots.add(guest_slot)
        elif _takes_a_slot(device):
            unaddressed += 1
    memory, hugepages = _memory(root, name)
    return Domain(name, tuple(hostdevs), frozenset(other_slots), unaddressed, memory, hugepages)


def _memory(root: ET.Element, name: str) -> tuple[int, tuple[Hugepages, ...]]:
    """<memory> in KiB and the <memoryBacking><hugepages> pages of a domain."""
    memory = root.find("memory")
    try:
        kib = to_kib(memory.text, memory.get("unit")) if memory is not None else 0
    except ValueError as exc:
        raise ValueError(f"the <memory> of {name} is not a size: {exc}") from None
    backing = root.find("memoryBacking/hugepages")
    if backing is None:
        return kib, ()
    pages = []
    for page in backing.findall("page"):
        try:
            size = to_kib(page.get("size"), page.get("unit"))
        except ValueError as exc:
            raise ValueError(f"a hugepage <page> of {name} has no usable size: {exc}") from None
        pages.append(Hugepages(size, (page.get("nodeset") or "").strip()))
    return kib, tuple(pages) or (Hugepages(None, ""),)
