"""How a PCI function can be reset between guests, as the kernel decides it.

Linux 5.15 and later list a function's reset methods in /sys/bus/pci/devices/X/reset_method
and hide the file when there is none (reset_method_attr_is_visible(), drivers/pci/pci-sysfs.c).
Older kernels probe the same methods in order (pci_reset_fn_methods[], drivers/pci/pci.c),
which this module redoes from configuration space:
- device_specific: the quirk table pci_dev_reset_methods[] (drivers/pci/quirks.c);
- flr: the PCIe Device Capabilities FLR bit (pcie_reset_flr()), unless the device has the
  NO_FLR quirk (quirk_intel_no_flr: 8086:1502, 8086:1503, 82579 LAN);
- af_flr: the Advanced Features capability with Transactions Pending and FLR (pci_af_flr());
- pm: a Power Management capability without No_Soft_Reset (pci_pm_reset()), unless the
  device has the NO_PM_RESET quirk (quirk_no_pm_reset: AMD/ATI VGA devices);
- bus: a secondary bus reset of the parent bridge, only when the function is alone on its
  bus, the bus is not the root bus and the bridge has no NO_BUS_RESET quirk
  (pci_parent_bus_reset(), quirk_no_bus_reset: Atheros AR93xx/AR94xx/QCA988x).
When no function-level method exists, vfio-pci can still reset the device with a bus reset
of every function on that bus together, once they all belong to the same user
(vfio_pci_dev_set_try_reset(), drivers/vfio/pci/vfio_pci_core.c): a function on the bus that
the host uses makes that impossible. libvirt leaves vfio-pci devices to vfio-pci and itself
tries FLR, PM reset, then a secondary bus reset when no other device on the bus is active
("no FLR, PM reset or bus reset available", virPCIDeviceReset(), src/util/virpci.c).
"""

from __future__ import annotations

from auditor.errors import HostError
from auditor.facts import PCI_DEVICES, kernel_release
from auditor.host import Host
from auditor.parsers.pci import reset_capabilities
from auditor.parsers.procfs import release_version
from auditor.record import record

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from auditor.pci import PciDevice

# pci_dev_reset_methods[] (drivers/pci/quirks.c): vendor, device -> name. The Chelsio entry
# applies to T4 parts only ((device & 0xf000) == 0x4000).
DEVICE_SPECIFIC = {
    ("8086", "10ed"): "82599 SFP VF reset",
    ("8086", "0156"): "Ivy Bridge IGD reset",
    ("8086", "0166"): "Ivy Bridge IGD reset",
    ("19e5", "375e"): "HINIC VF reset",
}
# Entries that wrap an FLR: their probe succeeds only when the function has FLR
# (nvme_disable_and_flr(), delay_250ms_after_flr() call pcie_reset_flr(dev, PROBE)).
DEVICE_SPECIFIC_FLR = {
    ("144d", "a802"): "NVMe disable then FLR",
    ("144d", "a804"): "NVMe disable then FLR",
    ("8086", "0953"): "FLR with a 250 ms delay",
}
NO_FLR = {("8086", "1502"), ("8086", "1503")}  # quirk_intel_no_flr
NO_BUS_RESET = {("168c", dev) for dev in ("0030", "0032", "0033", "0034", "003c", "003e")}
RESET_METHOD_SINCE = (5, 15)
FUNCTION_RESETS = ("device_specific", "acpi", "flr", "af_flr", "pm")


@record
class ResetFinding:
    """How one function can be reset: the methods found, and how they were found."""

    methods: tuple[str, ...]  # reset_method names: flr, af_flr, pm, bus, device_specific...
    source: str  # where the methods came from (the sysfs file, or config space)
    readable: bool = True  # False: config space was not readable whole (needs root)

    @property
    def function_level(self) -> list[str]:
        """The methods that reset this function alone."""
        return [m for m in self.methods if m in FUNCTION_RESETS]


def reset_methods(
    host: Host, device: PciDevice, alone_on_bus: bool, bridge: str | None
) -> ResetFinding:
    """The reset methods of `device`. `alone_on_bus`: no other function shares its bus;
    `bridge`: the parent bridge's address, None on a root bus."""
    from auditor.pci import attributes

    base = f"{PCI_DEVICES}/{device.address}"
    if "reset_method" in attributes(host, device.address):
        try:
            listed = host.read_text(f"{base}/reset_method", limit=4096).split()
            return ResetFinding(tuple(listed), f"{base}/reset_method")
        except HostError:
            pass
    version = release_version(kernel_release(host)) or (0, 0)
    if version >= RESET_METHOD_SINCE:
        # The kernel hides reset_method when it found no method at all.
        return ResetFinding((), f"{base}/reset_method absent (Linux {version[0]}.{version[1]})")
    try:
        config = host.read_bytes(f"{base}/config", limit=4096)
    except HostError:
        config = b""
    caps = reset_capabilities(config)
    if caps is None:
        return ResetFinding((), f"{base}/config", readable=False)
    vendor, dev = device.vendor_device.split(":")
    methods = []
    chelsio_t4 = vendor == "1425" and int(dev, 16) & 0xF000 == 0x4000
    wraps_flr = (vendor, dev) in DEVICE_SPECIFIC_FLR and caps.flr
    if (vendor, dev) in DEVICE_SPECIFIC or chelsio_t4 or wraps_flr:
        methods.append("device_specific")
    if caps.flr and (vendor, dev) not in NO_FLR:
        methods.append("flr")
    if caps.af_flr:
        methods.append("af_flr")
    ati_vga = vendor == "1002" and device.pci_class is not None and device.pci_class >> 8 == 0x0300
    if caps.pm_reset and not ati_vga:
        methods.append("pm")
    if bridge is not None and alone_on_bus and not bus_reset_quirked(host, bridge):
        methods.append("bus")
    return ResetFinding(tuple(methods), f"{base}/config (capabilities)")


def bus_reset_quirked(host: Host, bridge: str) -> bool:
    """Whether the bridge carries the NO_BUS_RESET quirk."""
    from auditor.pci import read_device

    parent = read_device(host, bridge)
    return parent is not None and tuple(parent.vendor_device.split(":")) in NO_BUS_RESET


def parent_bridge(host: Host, address: str) -> str | None:
    """The bridge above a function (from its sysfs path), None on a root bus."""
    from auditor.parsers.pci import is_sysfs_address

    try:
        real = host.realpath(f"{PCI_DEVICES}/{address}")
    except HostError:
        return None
    parent = real.rstrip("/").rsplit("/", 2)[-2] if real.count("/") >= 2 else ""
    return parent if is_sysfs_address(parent) else None


def buses(every: list[str]) -> dict[str, list[str]]:
    """Functions by bus ("0000:01" -> its addresses), to find a function's bus peers."""
    found: dict[str, list[str]] = {}
    for address in every:
        found.setdefault(address.rsplit(":", 1)[0], []).append(address)
    return found


def bus_peers(address: str, by_bus: dict[str, list[str]]) -> list[str]:
    """The other functions on the same bus (same domain and bus number)."""
    return [other for other in by_bus.get(address.rsplit(":", 1)[0], []) if other != address]
