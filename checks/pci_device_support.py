"""Devices to be assigned should be the kind the source document supports.

RHEL 6 supports assigning PCI Express devices except graphics cards; conventional PCI
devices carry security and configuration restrictions; assignment hot-plugs per slot, so
a multifunction device cannot be hot-plugged and must be assigned statically.
"""

from __future__ import annotations

from auditor.context import LIBVIRT_QEMU, Context
from auditor.facts import DEVICE_READS
from auditor.facts import PCI_DEVICES as DEVICES
from auditor.model import Check, DeviceResult, Evidence, Outcome, Severity, Status, outcome

CHECK = Check(
    id="pci.device-support",
    title="Devices to be assigned are supported for assignment",
    severity=Severity.MEDIUM,
    reads=(
        *DEVICE_READS,
        LIBVIRT_QEMU,
        f"{LIBVIRT_QEMU}/*.xml",
    ),
    remediation=(
        "Prefer PCI Express devices that are not graphics cards.",
        "Assign multifunction devices statically in the guest definition, with all their functions; "
        "do not hot-plug them.",
    ),
    references=("RHEL 6 Virtualization Host Configuration Guide, PCI device assignment",),
    # The rhel6 profile forbids graphics devices: they fail instead of warning.
    params=(("allow_graphics", True),),
)


BUS = {True: "PCI Express", False: "conventional PCI", None: "bus type unknown (needs root)"}
FUNCTIONS = {True: "multifunction", False: "single function", None: "functions unknown"}


def run(ctx: Context) -> Outcome:
    targets, how = ctx.targets()
    if not targets:
        return outcome(
            Status.SKIP, "no devices to assign: pass --device, or bind devices to vfio-pci"
        )
    from auditor.pci import read_device  # PCI code loads only for audits that have devices

    names = ctx.names()
    evidence: list[Evidence] = []
    devices: list[DeviceResult] = []
    for address in targets:
        device = read_device(ctx.host, address)
        if device is None:
            devices.append(DeviceResult(address, Status.FAIL, "is not found on this host"))
            continue
        facts = [BUS[device.is_pcie], FUNCTIONS[device.multifunction]]
        notes: list[str] = []
        if device.is_graphics:
            facts.append("graphics" + (", boot VGA" if device.boot_vga else ""))
            display = "; it is the boot display" if device.boot_vga else ""
            notes.append(f"is a graphics device (not supported for assignment by RHEL 6{display})")
        evidence.append(
            Evidence(f"{DEVICES}/{address}", f"{device.describe(names)}; " + ", ".join(facts))
        )
        if device.is_pcie is False:
            notes.append("is conventional PCI (restricted: shares interrupts and isolation)")
        if device.multifunction:
            notes.append("is multifunction: it cannot be hot-plugged, assign it statically")
        if device.is_graphics and not ctx.param(CHECK, "allow_graphics"):
            devices.append(DeviceResult(address, Status.FAIL, "; ".join(notes)))
        elif notes:
            devices.append(DeviceResult(address, Status.WARN, "; ".join(notes)))
        elif device.is_pcie is None:
            devices.append(DeviceResult(address, Status.ERROR, "bus type unknown: needs root"))
        else:
            devices.append(
                DeviceResult(address, Status.PASS, "is single-function PCI Express, not graphics")
            )

    def having(status: Status) -> list[DeviceResult]:
        return [d for d in devices if d.status is status]

    if having(Status.FAIL):
        message = "; ".join(f"{d.address} {d.message}" for d in having(Status.FAIL))
        return outcome(Status.FAIL, message, evidence, devices=devices)
    if having(Status.WARN):
        # One clause per note, each naming its device.
        notes = [
            f"{d.address} {note}" for d in having(Status.WARN) for note in d.message.split("; ")
        ]
        return outcome(Status.WARN, "; ".join(notes), evidence, devices=devices)
    if having(Status.ERROR):
        unknown = ", ".join(d.address for d in having(Status.ERROR))
        return outcome(
            Status.ERROR,
            f"cannot tell PCI Express from conventional PCI for {unknown} on this kernel "
            "without reading configuration space: needs root",
            evidence,
            ("Run hostaudit as root.",),
            devices,
        )
    return outcome(
        Status.PASS,
        f"{len(targets)} device(s) ({how}) are single-function PCI Express, not graphics",
        evidence,
        devices=devices,
    )
