"""PCI devices as sysfs shows them (/sys/bus/pci/devices/<address>/...)."""

from __future__ import annotations

from auditor.errors import HostError
from auditor.facts import PCI_DEVICES as DEVICES
from auditor.facts import PCI_DRIVERS as DRIVERS
from auditor.facts import UDEV_DATA, kernel_release
from auditor.host import Host
from auditor.parsers.pci import (
    class_name,
    has_pcie_capability,
    is_sysfs_address,
    normalise_address,
    parse_config_header,
)
from auditor.parsers.procfs import release_version
from auditor.record import record

ASSIGNMENT_DRIVERS = ("vfio-pci", "pci-stub")
# Kernel drivers that set driver_managed_dma: VFIO accepts group members bound to them
# (pcieport, and the stub drivers above). See iommu_device_use_default_domain().
DMA_SAFE_DRIVERS = (*ASSIGNMENT_DRIVERS, "pcieport")


@record
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
    """Read one device's sysfs attributes; None when the device does not exist. Derived
    once per audit: several checks ask for the same devices."""
    return host.derive("pci", address, lambda: _read_device(host, address))


def _read_device(host: Host, address: str) -> PciDevice | None:
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
    try:
        boot_vga = host.read_text(f"{base}/boot_vga", limit=64).strip() == "1"
    except HostError:
        boot_vga = False
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
    """Addresses of every device in IOMMU group `group` (names that are not addresses are
    not devices: is_sysfs_address)."""
    names = host.listdir(f"/sys/kernel/iommu_groups/{group}/devices")
    return [name for name in names if is_sysfs_address(name)]


def device_names(host: Host) -> dict[str, str]:
    """Database names (`vendor model`) of PCI devices: pyudev live, else the udev database files.

    The udev database under /run/udev/data is plain text, so a root (a snapshot, a
    container without libudev) gives the same names as the live pyudev path.
    """
    if host.live is not None:
        names = host.live.udev_names()
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


def all_devices(host: Host) -> list[str]:
    """Addresses of every PCI function on the host."""
    try:
        entries = host.listdir(DEVICES)
    except HostError:
        return []
    return [entry for entry in entries if is_sysfs_address(entry)]


def resolve_selectors(host: Host, selectors: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(addresses named, selectors that matched no device). Addresses stand for themselves,
    present or not (the checks say when one does not exist); vendor:device and class
    prefixes match every device on the host that has them."""
    from auditor.parsers.pci import is_address, selector_matches

    addresses = [s for s in selectors if is_address(s)]
    patterns = [s for s in selectors if not is_address(s)]
    unmatched: list[str] = []
    if patterns:
        devices = [d for d in map(lambda a: read_device(host, a), all_devices(host)) if d]
        for pattern in patterns:
            found = [
                d.address
                for d in devices
                if selector_matches(pattern, d.address, d.vendor_device, d.pci_class)
            ]
            addresses += found
            if not found:
                unmatched.append(pattern)
    return sorted(set(addresses)), unmatched


@record
class GroupVerdict:
    """Why VFIO would refuse an IOMMU group to a guest, as clauses (empty if viable) and as
    data: its members, the members a host driver holds, whether an RMRR pins it."""

    problems: tuple[str, ...]
    members: tuple[str, ...]
    blocking: tuple[PciDevice, ...] = ()
    direct: bool = False


def judge_group(host: Host, group: str, wanted: set[str], names: dict[str, str]) -> GroupVerdict:
    """IOMMU group `group` for a guest given `wanted`. A member blocks when a host driver
    other than vfio-pci, pci-stub or a port driver holds it; a firmware-required direct
    mapping (non-relaxable RMRR) makes VFIO refuse the whole group."""
    try:
        members = group_members(host, group)
    except HostError as exc:
        return GroupVerdict((f"cannot be listed: {exc}",), ())
    blocking = blocking_members(host, members, wanted)
    problems = [
        f"also holds {other.describe(names)}: assign it to the same guest or bind it to vfio-pci"
        for other in blocking
    ]
    direct = bool(direct_regions(host, group))
    if direct:
        problems.append("has a firmware-required direct mapping (RMRR): VFIO refuses to assign it")
    return GroupVerdict(tuple(problems), tuple(members), tuple(blocking), direct)


def group_problems(
    host: Host, group: str, wanted: set[str], names: dict[str, str]
) -> tuple[list[str], list[str]]:
    """judge_group's clauses and members, for callers that need no more."""
    verdict = judge_group(host, group, wanted, names)
    return list(verdict.problems), list(verdict.members)


def blocking_members(host: Host, members: list[str], wanted: set[str]) -> list[PciDevice]:
    """The members of a group, other than `wanted`, that a host driver holds (a bridge, a
    member without driver and one on a DMA-safe driver do not block)."""
    blocking = []
    for member in members:
        if member in wanted:
            continue
        other = read_device(host, member)
        if other is None or other.is_bridge or other.driver in (None, *DMA_SAFE_DRIVERS):
            continue
        blocking.append(other)
    return blocking


def direct_regions(host: Host, group: str) -> list[str]:
    """The group's `direct` reserved regions (non-relaxable RMRRs), as their lines."""
    try:
        text = host.read_text(f"/sys/kernel/iommu_groups/{group}/reserved_regions", limit=65536)
    except HostError:
        return []
    return [line for line in text.splitlines() if line.split()[-1:] == ["direct"]]


def attributes(host: Host, address: str) -> frozenset[str]:
    """The entries of a device's sysfs folder, listed once per audit: optional attributes
    (reset_method, physfn, driver_override) are looked up here instead of each failing to
    open on thousands of devices."""

    def listed() -> frozenset[str]:
        try:
            return frozenset(host.listdir(f"{DEVICES}/{address}"))
        except HostError:
            return frozenset()

    return host.derive("pci-entries", address, listed)
