"""PCI devices as sysfs shows them (/sys/bus/pci/devices/<address>/...)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from auditor.errors import HostError
from auditor.facts import PCI_DEVICES as DEVICES
from auditor.facts import PCI_DRIVERS as DRIVERS
from auditor.facts import UDEV_DATA, kernel_release
from auditor.host import Host
from auditor.parsers.pci import (
    class_name,
    has_pcie_capability,
    normalise_address,
    parse_config_header,
)
from auditor.parsers.procfs import release_version

ASSIGNMENT_DRIVERS = ("vfio-pci", "pci-stub")
# Kernel drivers that set driver_managed_dma: VFIO accepts group members bound to them
# (pcieport, and the stub drivers above). See iommu_device_use_default_domain().
DMA_SAFE_DRIVERS = (*ASSIGNMENT_DRIVERS, "pcieport")


@dataclass(frozen=True)
class PciDevice:
    """What the audit needs to know of one PCI function."""

    address: str
    pci_class: int | None
    vendor_device: str  # "10de:1b81"
    driver: str | None
    iommu_group: str | None
    is_pcie: bool | None
    multifunction: bool | None
    is_bridge: bool
    boot_vga: bool

    @property
    def kind(self) -> str:
        """A readable class name, e.g. "VGA compatible controller"."""
        return class_name(self.pci_class) if self.pci_class is not None else "unknown class"

    @property
    def is_graphics(self) -> bool:
        """Display class 0x03xxxx."""
        return self.pci_class is not None and self.pci_class >> 16 == 0x03

    def describe(self, names: dict[str, str] | None = None) -> str:
        """`0000:01:00.0 VGA compatible controller [10de:1b81] NVIDIA GP104, driver nouveau`."""
        name = (names or {}).get(self.address)
        text = f"{self.address} {self.kind} [{self.vendor_device}]"
        if name:
            text += f" {name}"
        return text + (f", driver {self.driver}" if self.driver else ", no driver")


def _hex_attribute(host: Host, path: str) -> int | None:
    try:
        return int(host.read_text(path, limit=64).strip(), 16)
    except (HostError, ValueError):
        return None


def read_device(host: Host, address: str) -> PciDevice | None:
    """Read one device's sysfs attributes; None when the device does not exist."""
    base = f"{DEVICES}/{address}"
    if not host.exists(base):
        return None
    vendor = _hex_attribute(host, f"{base}/vendor")
    device = _hex_attribute(host, f"{base}/device")
    pci_class = _hex_attribute(host, f"{base}/class")
    multifunction: bool | None = None
    header_type: int | None = None
    config = b""
    try:
        config = host.read_bytes(f"{base}/config", limit=4096)
        header = parse_config_header(config)
        multifunction, header_type = header.multifunction, header.header_type
    except (HostError, ValueError):
        pass
    # Since Linux 4.13 sysfs shows max_link_speed for every PCI Express function and for
    # no other (pcie_dev_attrs_are_visible()); older kernels need the capability list,
    # which only root can read whole.
    if host.exists(f"{base}/max_link_speed"):
        is_pcie: bool | None = True
    elif (release_version(kernel_release(host)) or (0, 0)) >= (4, 13):
        is_pcie = False
    else:
        is_pcie = has_pcie_capability(config)
    boot_vga = False
    with contextlib.suppress(HostError):
        boot_vga = host.read_text(f"{base}/boot_vga", limit=64).strip() == "1"
    is_bridge = header_type == 1 or (pci_class is not None and pci_class >> 8 == 0x0604)
    return PciDevice(
        address=address,
        pci_class=pci_class,
        vendor_device=f"{vendor or 0:04x}:{device or 0:04x}",
        driver=host.link_name(f"{base}/driver"),
        iommu_group=host.link_name(f"{base}/iommu_group"),
        is_pcie=is_pcie,
        multifunction=multifunction,
        is_bridge=is_bridge,
        boot_vga=boot_vga,
    )


def bound_to(host: Host, drivers: tuple[str, ...]) -> list[str]:
    """Addresses of devices bound to any of `drivers` (the drivers' own folders list them)."""
    found: list[str] = []
    for driver in drivers:
        try:
            entries = host.listdir(f"{DRIVERS}/{driver}")
        except HostError:
            continue
        for entry in entries:
            try:
                found.append(normalise_address(entry))
            except ValueError:
                continue  # bind, unbind, new_id, module...: not devices
    return sorted(set(found))


def group_members(host: Host, group: str) -> list[str]:
    """Addresses of every device in IOMMU group `group`."""
    return host.listdir(f"/sys/kernel/iommu_groups/{group}/devices")


def device_names(host: Host) -> dict[str, str]:
    """Database names (`vendor model`) of PCI devices: pyudev live, else the udev database files.

    The udev database under /run/udev/data is plain text, so a root (a snapshot, a
    container without libudev) gives the same names as the live pyudev path.
    """
    if host.is_live:
        from auditor import live

        names = live.udev_names()
        if names is not None:
            return names
    names = {}
    try:
        entries = host.listdir(UDEV_DATA)
    except HostError:
        return names
    for entry in entries:
        if not entry.startswith("+pci:"):
            continue
        try:
            text = host.read_text(f"{UDEV_DATA}/{entry}", limit=65536)
        except HostError:
            continue
        properties = dict(
            line[2:].split("=", 1)
            for line in text.splitlines()
            if line.startswith("E:") and "=" in line
        )
        name = " ".join(
            properties[key]
            for key in ("ID_VENDOR_FROM_DATABASE", "ID_MODEL_FROM_DATABASE")
            if key in properties
        )
        if name:
            names[entry[5:]] = name
    return names
