"""`hostaudit devices`: the source document's procedure, automated.

Lists the host's PCI functions with what assignment needs to know (libvirt node device name,
class, IDs, driver, IOMMU group, bus, its VFIO device file, and on a live host the QEMU
process using it) and whether each can be assigned, and prints the `<hostdev>` element for a
device with hex domain/bus/slot/function, plus every function that must go with it (same
IOMMU group, or the other functions of a multifunction device).

The text output starts with the VFIO interfaces the kernel offers: the group interface
(/dev/vfio/N), iommufd (/dev/iommu) and per-device files (/dev/vfio/devices/vfioN, whose
device shows as /sys/bus/pci/devices/ADDRESS/vfio-dev/vfioN; drivers/vfio/device_cdev.c).
"""

from __future__ import annotations

import json
import os

from auditor.errors import UsageError
from auditor.escape import printable
from auditor.host import Host
from auditor.parsers.pci import address_parts, nodedev_name, normalise_address
from auditor.pci import PciDevice, all_devices, group_members, group_problems, read_device

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

BUS = {True: "PCIe", False: "PCI", None: "unknown"}


def main(host: Host, fmt: str, hostdev_for: str | None, width: int = 0) -> str:
    """The output of `hostaudit devices`; the table's last column wrapped to fit `width`
    columns ($COLUMNS or the terminal; 0: never wrapped, one line per device for grep)."""
    if hostdev_for is not None:
        try:
            address = normalise_address(hostdev_for)
        except ValueError as exc:
            raise UsageError(f"--hostdev-xml: {exc}") from None
        return hostdev_xml(host, address)
    rows = inventory(host)
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    users = any(row["used_by"] for row in rows)
    from tabulate import tabulate

    headers = (
        "address",
        "node device",
        "class",
        "ids",
        "name",
        "driver",
        "group",
        "bus",
        *(("used by",) if users else ()),
        "assignable",
    )
    table = [
        [
            printable(str(row[key] if row[key] is not None else "-"))
            for key in (
                "address",
                "nodedev",
                "class",
                "ids",
                "name",
                "driver",
                "iommu_group",
                "bus",
                *(("used_by",) if users else ()),
            )
        ]
        + [printable(("yes: " if row["assignable"] else "no: ") + "; ".join(row["reasons"]))]
        for row in rows
    ]
    if width and table:
        _fit(table, headers, width)
    summary = interfaces(host)
    return summary + "\n\n" + tabulate(table, headers=headers, tablefmt="simple") + "\n"


# Narrower than this, the reasons column is unreadable: the table runs wider instead.
REASONS_MIN = 24


def _fit(table: list[list[str]], headers: tuple[str, ...], width: int) -> None:
    """Wrap the last column (the reasons) so that rows fit `width` columns, between words;
    tabulate 0.8.9 (Debian 12) has no maxcolwidths, so it is done here."""
    import textwrap

    others = [
        max(len(headers[index]), *(len(row[index]) for row in table))
        for index in range(len(headers) - 1)
    ]
    room = max(REASONS_MIN, width - sum(others) - 2 * len(others))
    for row in table:
        row[-1] = "\n".join(
            textwrap.wrap(row[-1], room, break_long_words=False, break_on_hyphens=False)
        )


def interfaces(host: Host) -> str:
    """One line: which VFIO interfaces the kernel offers."""
    from auditor.errors import HostError, NotCollectedError

    try:
        files = [n for n in host.listdir("/dev/vfio/devices") if n.startswith("vfio")]
        host.exists("/dev/vfio/vfio")
    except HostError:
        files = []
    except NotCollectedError as exc:
        return f"VFIO interfaces: not known ({exc.reason})"
    parts = [
        "VFIO groups (/dev/vfio): " + ("yes" if host.exists("/dev/vfio/vfio") else "no"),
        "iommufd (/dev/iommu): " + ("yes" if host.exists("/dev/iommu") else "no"),
        f"VFIO device files (/dev/vfio/devices): {len(files)}",
    ]
    return "; ".join(parts)


def inventory(host: Host) -> list[dict[str, Any]]:
    """One row per PCI function."""
    from auditor.pci import device_names

    names = device_names(host)
    users = _qemu_users(host)
    rows = []
    for address in all_devices(host):
        device = read_device(host, address)
        if device is None:
            continue
        can, reasons = assignable(host, device)
        rows.append(
            {
                "address": address,
                "nodedev": nodedev_name(address),
                "class": device.kind,
                # The numbers sysfs gave, as lspci -n prints them (None: unreadable).
                "class_code": None if device.pci_class is None else f"{device.pci_class:06x}",
                "ids": device.vendor_device,
                "name": names.get(address, ""),
                "driver": device.driver,
                "iommu_group": device.iommu_group,
                "bus": BUS[device.is_pcie],
                "vfio_device": _vfio_device(host, address),
                "used_by": users.get(address),
                "assignable": can,
                "reasons": reasons,
            }
        )
    return rows


def _vfio_device(host: Host, address: str) -> str | None:
    """The device's VFIO device file (/dev/vfio/devices/vfioN), None when it has none."""
    from auditor.errors import HostError

    try:
        names = host.listdir(f"/sys/bus/pci/devices/{address}/vfio-dev")
    except HostError:
        return None
    return next((f"/dev/vfio/devices/{n}" for n in names if n.startswith("vfio")), None)


def _qemu_users(host: Host) -> dict[str, str]:
    """address -> "guest NAME (pid N)" for devices a running QEMU holds (live hosts only)."""
    live = host.live
    if live is None:
        return {}
    from auditor.parsers.qemu import parse_qemu

    users: dict[str, str] = {}
    for pid, uid, argv in live.qemu_guests():
        try:
            guest = parse_qemu(pid, argv)
        except Exception:  # one process's command line never fails the run
            continue
        if guest is None:
            continue
        for address in guest.devices:
            if _could_hold(host, uid, address):
                users[address] = f"guest {guest.name} (pid {guest.pid})"
    return users


def _could_hold(host: Host, uid: int, address: str) -> bool:
    """Whether a process of `uid` can hold the device: root, or the owner of the device's
    VFIO group file (libvirt gives /dev/vfio/N to the guest's user before QEMU starts)."""
    if uid == 0:
        return True
    device = read_device(host, address)
    if device is None or device.iommu_group is None:
        return False
    try:
        return os.stat(f"/dev/vfio/{device.iommu_group}").st_uid == uid
    except OSError:
        return False


def _group_peers(host: Host, device: PciDevice) -> list[PciDevice]:
    """The other functions of the device's IOMMU group, bridges left out (VFIO accepts them)."""
    if device.iommu_group is None:
        return []
    peers = (read_device(host, member) for member in group_members(host, device.iommu_group))
    return [p for p in peers if p is not None and p.address != device.address and not p.is_bridge]


def companions(host: Host, device: PciDevice) -> list[tuple[str, str]]:
    """(address, why) of every function that must be assigned together with `device`."""
    found = {
        p.address: f"same IOMMU group {device.iommu_group}" for p in _group_peers(host, device)
    }
    if device.multifunction:
        slot = device.address.rsplit(".", 1)[0]
        for address in all_devices(host):
            if address != device.address and address.startswith(slot + "."):
                found.setdefault(address, "another function of the same multifunction device")
    return sorted(found.items())


def assignable(host: Host, device: PciDevice) -> tuple[bool, list[str]]:
    """Whether the device can be assigned to a guest now, and why (or why not): one
    reason per finding. Whether the profile allows its kind (graphics, conventional PCI) is
    the audit's pci.device-support question, not this one."""
    if device.is_bridge or (device.pci_class is not None and device.pci_class >> 16 == 0x06):
        return False, ["a bridge"]
    if device.iommu_group is None:
        return False, ["in no IOMMU group (IOMMU off, or it does not cover this device)"]
    # One viability rule for `devices` and iommu.group-isolation (auditor.pci.group_problems):
    # a member on a host driver, or a firmware-required direct mapping (RMRR), blocks it.
    problems, _ = group_problems(host, device.iommu_group, {device.address}, {})
    if problems:
        return False, [f"group {device.iommu_group} {problem}" for problem in problems]
    others = companions(host, device)
    if others:
        return True, [f"together with {address} ({why})" for address, why in others]
    return True, [f"alone in group {device.iommu_group}"]


def hostdev_xml(host: Host, address: str) -> str:
    """The <hostdev> element(s) for a device and every function that must go with it."""
    device = read_device(host, address)
    if device is None:
        raise UsageError(f"--hostdev-xml: no PCI device {address} on this host")
    parts = [
        _comment(
            f"{address} ({nodedev_name(address)}); paste into the guest with `virsh edit`, "
            "or save one element per file for `virsh attach-device`"
        ),
        _element(address),
    ]
    for other, why in companions(host, device):
        parts += [_comment(f"{other} must be assigned with it: {why}"), _element(other)]
    return "\n".join(parts) + "\n"


def _comment(text: str) -> str:
    # XML comments may not hold "--"; the text here is built from parsed addresses.
    return f"<!-- {text.replace('--', '- -')} -->"


def _element(address: str) -> str:
    """A <hostdev> element built with ElementTree from the parsed address, hex as libvirt's
    guest XML wants it (domain='0x0000' bus='0x01' slot='0x00' function='0x0')."""
    import xml.etree.ElementTree as ET

    domain, bus, slot, function = address_parts(address)
    hostdev = ET.Element("hostdev", {"mode": "subsystem", "type": "pci", "managed": "yes"})
    source = ET.SubElement(hostdev, "source")
    ET.SubElement(
        source,
        "address",
        {
            "domain": f"0x{domain:04x}",
            "bus": f"0x{bus:02x}",
            "slot": f"0x{slot:02x}",
            "function": f"0x{function:x}",
        },
    )
    ET.indent(hostdev)
    # Written as libvirt's documentation writes it: single quotes, no space before "/>"
    # (every value is hex digits formatted here, so neither can change its meaning).
    return ET.tostring(hostdev, encoding="unicode").replace('"', "'").replace(" />", "/>")
