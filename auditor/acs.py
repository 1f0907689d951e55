"""Why an IOMMU group is too big: the PCIe Access Control Services of the bridges above a device.

The kernel puts a device in the group of the first bridge above it whose path to the root
does not isolate peer-to-peer traffic (pci_device_group() and REQ_ACS_FLAGS = Source
Validation | Request Redirect | Completion Redirect | Upstream Forwarding in
drivers/iommu/iommu.c; pci_acs_enabled() and pci_acs_flags_enabled() in drivers/pci/pci.c:
a control the bridge does not implement is not required of it). Devices without a standard
ACS capability can be covered by a kernel quirk (pci_dev_acs_enabled[] in
drivers/pci/quirks.c); the table below holds the bridge entries of Linux 4.15, and newer
kernels add more, so "no quirk" here means "none this tool knows of".
`pcie_acs_override=` is an out-of-tree patch that pretends: it is never the fix.
"""

from __future__ import annotations

from auditor.errors import HostError
from auditor.facts import PCI_DEVICES
from auditor.host import Host
from auditor.parsers.pci import REQUIRED_ACS, acs_state, is_sysfs_address, pcie_type
from auditor.record import record

# Intel PCH root ports with ACS-like controls but no ACS capability (pci_quirk_intel_pch_acs,
# Red Hat bugzilla 1037684), and Sunrise/Union Point PCH root ports whose ACS registers sit
# at the wrong offset (pci_quirk_intel_spt_pch_acs, 100/200 series chipset errata).
_PCH = [
    *range(0x3B42, 0x3B52), *range(0x1C10, 0x1C20), *range(0x1E10, 0x1E20),
    *range(0x8C10, 0x8C20), *range(0x9C10, 0x9C1C), *range(0x9C90, 0x9C9C),
    *range(0x1D10, 0x1D1F, 2), *range(0x8D10, 0x8D1F), *range(0x8C90, 0x8C9F, 2),
]  # fmt: skip
_SPT = [
    *range(0xA110, 0xA120),
    *range(0xA167, 0xA16B),
    *range(0xA290, 0xA2A0),
    *range(0xA2E7, 0xA2EF),
]
ACS_QUIRKS = {
    **{("8086", f"{d:04x}"): "the kernel's Intel PCH root port ACS quirk" for d in _PCH},
    **{("8086", f"{d:04x}"): "the kernel's Intel Sunrise/Union Point PCH ACS quirk" for d in _SPT},
    ("17cb", "0400"): "the kernel's QCOM root port ACS quirk",
    ("17cb", "0401"): "the kernel's QCOM root port ACS quirk",
    ("1002", "4384"): "the kernel's AMD SB ACS quirk",
    ("1022", "780f"): "the kernel's AMD FCH ACS quirk",
}


@record
class BridgeAcs:
    """One bridge above a device, and whether it isolates what is below it."""

    address: str
    ids: str  # vendor:device
    kind: str  # "root port", "switch downstream port"...
    isolates: bool | None  # None: its configuration space could not be read whole
    why: str

    def describe(self) -> str:
        return f"{self.address} [{self.ids}] ({self.kind or 'bridge'}): {self.why}"


def ancestors(host: Host, address: str) -> list[str]:
    """The bridges above a function, nearest first (from its sysfs path)."""
    try:
        real = host.realpath(f"{PCI_DEVICES}/{address}")
    except HostError:
        return []
    parts = [p for p in real.split("/") if is_sysfs_address(p)]
    return list(reversed(parts[:-1]))


def bridge_acs(host: Host, address: str) -> BridgeAcs:
    """Whether one bridge provides the isolation IOMMU groups need, and why."""
    from auditor.pci import read_device

    device = read_device(host, address)
    ids = device.vendor_device if device is not None else "????:????"
    try:
        config = host.read_bytes(f"{PCI_DEVICES}/{address}/config", limit=4096)
    except HostError:
        config = b""
    kind = pcie_type(config) or ""
    quirk = ACS_QUIRKS.get(tuple(ids.split(":")))  # type: ignore[arg-type]
    state = acs_state(config)
    if state is None:
        if quirk:
            return BridgeAcs(address, ids, kind, True, f"ACS through {quirk}")
        return BridgeAcs(address, ids, kind, None, "its ACS capability is unreadable (needs root)")
    if quirk:
        return BridgeAcs(address, ids, kind, True, f"ACS through {quirk}")
    if not state.present:
        return BridgeAcs(
            address,
            ids,
            kind,
            False,
            "no ACS capability, and no kernel ACS quirk known to cover it",
        )
    missing = state.missing()
    if missing:
        return BridgeAcs(
            address,
            ids,
            kind,
            False,
            f"ACS without {', '.join(missing)} enabled (the kernel requires "
            f"{', '.join(REQUIRED_ACS)})",
        )
    return BridgeAcs(address, ids, kind, True, "ACS enabled")


def isolating_root_ports(host: Host, exclude: set[str]) -> list[BridgeAcs]:
    """Root ports of this host, outside `exclude`, whose ACS isolates what is below them."""
    from auditor.pci import all_devices, read_device

    found = []
    for address in all_devices(host):
        if address in exclude:
            continue
        device = read_device(host, address)
        if device is None or not device.is_bridge:
            continue
        finding = bridge_acs(host, address)
        if finding.kind == "root port" and finding.isolates:
            found.append(finding)
    return found


def secondary_bus(host: Host, bridge: str) -> str | None:
    """ "DDDD:BB" of the bus below a bridge (header type 1, Secondary Bus Number at 0x19)."""
    try:
        config = host.read_bytes(f"{PCI_DEVICES}/{bridge}/config", limit=4096)
    except HostError:
        return None
    if len(config) < 0x1A or config[0x0E] & 0x7F != 1:
        return None
    return f"{bridge[:4]}:{config[0x19]:02x}"


def slot_names(host: Host) -> dict[str, str]:
    """Physical slot names by the bus address they hold ("0000:03:00" -> "2"), from
    /sys/bus/pci/slots/*/address (pci_hp and the firmware's slot table)."""
    names = {}
    for path in host.glob("/sys/bus/pci/slots/*/address"):
        try:
            names[host.read_text(path, limit=64).strip()] = path.split("/")[-2]
        except HostError:
            continue
    return names
