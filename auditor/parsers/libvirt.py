"""libvirt domain XML: the guest's name, its assigned PCI devices and the PCI slots it uses.

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
class Domain:
    """What the audit needs from one guest definition."""

    name: str
    hostdevs: tuple[Hostdev, ...]
    # Guest PCI slots taken by other devices that have an explicit guest address.
    other_slots: frozenset[tuple[int, int, int]]
    # Devices without an explicit guest PCI address that still take a slot (disks on virtio,
    # network interfaces, controllers): libvirt assigns one each.
    unaddressed_devices: int


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
    return Domain(name, tuple(hostdevs), frozenset(other_slots), unaddressed)
