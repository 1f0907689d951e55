"""Devices to be assigned should be the kind the source document supports.

RHEL 6 supports assigning PCI Express devices except graphics cards; conventional PCI
devices carry security and configuration restrictions; assignment hot-plugs per slot, so
a multifunction device cannot be hot-plugged and must be assigned statically.
"""

from __future__ import annotations

from auditor.context import Context
from auditor.model import Check, Evidence, Outcome, Severity, Status, outcome
from auditor.pci import DEVICES, DRIVERS, UDEV_DATA, read_device

CHECK = Check(
    id="pci.device-support",
    title="Devices to be assigned are supported for assignment",
    severity=Severity.MEDIUM,
    reads=(
        f"{DEVICES}/*",
        f"{DRIVERS}/vfio-pci",
        f"{DRIVERS}/pci-stub",
        UDEV_DATA,
        f"{UDEV_DATA}/*",
    ),
    remediation=(
        "Prefer PCI Express devices that are not graphics cards.",
        "Assign multifunction devices statically in the guest definition, with all their functions; "
        "do not hot-plug them.",
    ),
    references=("RHEL 6 Virtualization Host Configuration Guide, PCI device assignment",),
)


def run(ctx: Context) -> Outcome:
    targets, how = ctx.targets()
    if not targets:
        return outcome(
            Status.SKIP, "no devices to assign: pass --device, or bind devices to vfio-pci"
        )
    names = ctx.names()
    evidence: list[Evidence] = []
    missing: list[str] = []
    notes: list[str] = []
    for address in targets:
        device = read_device(ctx.host, address)
        if device is None:
            missing.append(address)
            continue
        facts = [
            "PCI Express"
            if device.is_pcie
            else "conventional PCI"
            if device.is_pcie is False
            else "bus type unknown (needs root)",
            "multifunction"
            if device.multifunction
            else "single function"
            if device.multifunction is False
            else "functions unknown",
        ]
        if device.is_graphics:
            facts.append("graphics" + (", boot VGA" if device.boot_vga else ""))
        evidence.append(
            Evidence(f"{DEVICES}/{address}", f"{device.describe(names)}; " + ", ".join(facts))
        )
        if device.is_graphics:
            notes.append(
                f"{address} is a graphics device (not supported for assignment by RHEL 6"
                + ("; it is the boot display" if device.boot_vga else "")
                + ")"
            )
        if device.is_pcie is False:
            notes.append(
                f"{address} is conventional PCI (restricted: shares interrupts and isolation)"
            )
        if device.multifunction:
            notes.append(
                f"{address} is multifunction: it cannot be hot-plugged, assign it statically"
            )
    if missing:
        return outcome(Status.FAIL, f"not found on this host: {', '.join(missing)}", evidence)
    if notes:
        return outcome(Status.WARN, "; ".join(notes), evidence)
    return outcome(
        Status.PASS,
        f"{len(targets)} device(s) ({how}) are single-function PCI Express, not graphics",
        evidence,
    )
