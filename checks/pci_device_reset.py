"""Devices meant for guests must be resettable, or one guest's state reaches the next.

The methods are the kernel's own (auditor.reset): its reset_method list where the kernel has
one (Linux 5.15+), else the same probe redone from configuration space. A function-level
reset (FLR, Advanced Features FLR, PM reset, a device-specific quirk) passes; a secondary bus
reset passes when the device is alone on its bus or every function on that bus goes to the
same guest (vfio-pci then resets them together); a bus reset blocked by a function the host
uses warns, naming it; no method at all fails, as libvirt refuses such a device ("Unable to
reset PCI device: no FLR, PM reset or bus reset available", src/util/virpci.c).
"""

from __future__ import annotations

from auditor.context import LIBVIRT_QEMU, NO_TARGETS, Context
from auditor.facts import DEVICE_READS
from auditor.model import (
    Check,
    DeviceResult,
    Evidence,
    Outcome,
    Severity,
    Status,
    listed,
    outcome,
    said_of,
    worst_devices,
)

CHECK = Check(
    id="pci.device-reset",
    title="Devices meant for guests can be reset between guests",
    severity=Severity.HIGH,
    passes=(
        "each device can be reset between guests: the kernel's `reset_method` (Linux 5.15+) "
        "or its probe redone from configuration space (FLR, AF FLR, PM reset, device-specific"
        " and NO_FLR/NO_BUS_RESET quirks); a bus reset that a host device on the bus blocks "
        "warns, no method fails"
    ),
    reads=(
        *DEVICE_READS,
        "/sys/bus/pci/devices/*/reset_method",
        LIBVIRT_QEMU,
        f"{LIBVIRT_QEMU}/*.xml",
    ),
    remediation=(
        "Assign devices that support Function Level Reset (most server NICs, HBAs and "
        "data-center GPUs do).",
        "For a device that only has a bus reset: give every function on its bus to the same "
        "guest, or move the card to a slot of its own.",
    ),
    references=(
        "drivers/pci/pci.c pci_reset_fn_methods[], pci_parent_bus_reset()",
        "drivers/pci/quirks.c pci_dev_reset_methods[], quirk_no_bus_reset()",
        "drivers/vfio/pci/vfio_pci_core.c vfio_pci_dev_set_try_reset()",
        "libvirt src/util/virpci.c virPCIDeviceReset()",
    ),
    accepts=(
        (
            "the kernel's reset_method (Linux 5.15+), else its probe redone from configuration "
            "space (FLR, AF FLR, PM reset, device-specific and NO_FLR/NO_BUS_RESET quirks)"
        ),
        (
            "for a bus reset, the functions on the bus now and their drivers (the kernel probes "
            "function 0 before its siblings join the bus)"
        ),
    ),
)

# Drivers that leave a bus reset to the guest's owner: stubs, and no driver at all.
FREE_DRIVERS = ("vfio-pci", "pci-stub", None)


def run(ctx: Context) -> Outcome:
    targets, how = ctx.targets()
    if not targets:
        return outcome(Status.SKIP, NO_TARGETS)
    from auditor.pci import all_devices, read_device
    from auditor.reset import bus_peers, bus_reset_quirked, buses, parent_bridge, reset_methods

    host = ctx.host
    by_bus = buses(all_devices(host))
    wanted = set(targets)
    used_on_bus: dict[str, list[tuple[str, str | None]]] = {}
    evidence = [ctx.targets_evidence()]
    devices: list[DeviceResult] = []
    for address in targets:
        device = read_device(host, address)
        if device is None:
            devices.append(DeviceResult(address, Status.FAIL, "does not exist on this host"))
            continue
        bridge = parent_bridge(host, address)
        peers = bus_peers(address, by_bus)
        found = reset_methods(host, device, not peers, bridge)
        evidence.append(Evidence(found.source, ", ".join(found.methods) or "no method"))
        if not found.readable:
            devices.append(
                DeviceResult(
                    address,
                    Status.ERROR,
                    "cannot tell: its capabilities are beyond the 64 bytes of configuration "
                    "space other users may read: needs root",
                )
            )
            continue
        if found.function_level:
            devices.append(
                DeviceResult(address, Status.PASS, f"resets by {', '.join(found.function_level)}")
            )
            continue
        # The kernel lists `bus` when the function was alone on its bus *when probed*:
        # function 0 is probed before its siblings join the bus (pci_init_reset_methods(),
        # pci_parent_bus_reset() in drivers/pci/pci.c), so the bus is read again as it is now.
        if "bus" in found.methods and not peers:
            devices.append(
                DeviceResult(
                    address, Status.PASS, f"resets by a bus reset of {bridge} (alone on its bus)"
                )
            )
            continue
        if "bus" not in found.methods and (bridge is None or bus_reset_quirked(host, bridge)):
            where = "it is on the root bus" if bridge is None else f"{bridge} cannot reset its bus"
            devices.append(
                DeviceResult(
                    address,
                    Status.FAIL,
                    f"has no FLR, PM reset or bus reset ({where}): libvirt refuses to start a "
                    "guest with it, and state would carry over between guests",
                )
            )
            continue
        bus = address.rsplit(":", 1)[0]
        if bus not in used_on_bus:  # each bus is read once, however many targets it holds
            used_on_bus[bus] = []
            for peer in by_bus.get(bus, []):
                other = read_device(host, peer)
                if other is not None and other.driver not in FREE_DRIVERS:
                    used_on_bus[bus].append((peer, other.driver))
        users = [f"{peer} ({driver})" for peer, driver in used_on_bus[bus] if peer not in wanted]
        if users:
            devices.append(
                DeviceResult(
                    address,
                    Status.WARN,
                    f"has no function-level reset, only a bus reset of {bridge}, whose bus also "
                    f"holds {listed(users)} used by the host: libvirt and vfio-pci refuse "
                    "that reset while they are in use",
                )
            )
        else:
            together = listed([address, *peers])
            devices.append(
                DeviceResult(
                    address,
                    Status.PASS,
                    f"has no function-level reset; vfio-pci resets {together} together by a "
                    f"bus reset of {bridge}",
                )
            )
    status, flagged = worst_devices(devices)
    if flagged:
        steps = ("Run hostaudit as root.",) if status is Status.ERROR else CHECK.remediation
        return outcome(status, said_of(flagged), evidence, steps, devices)
    return outcome(
        Status.PASS,
        f"{len(devices)} device(s) ({how}) can be reset between guests",
        evidence,
        devices=devices,
    )
