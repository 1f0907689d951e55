"""Devices to be assigned should be the kind the source document supports.

RHEL 6 supports assigning PCI Express devices except graphics cards; conventional PCI
devices carry security and configuration restrictions; assignment hot-plugs per slot, so
a multifunction device cannot be hot-plugged and must be assigned statically.
"""

from __future__ import annotations

from auditor.context import Context
from auditor.facts import OSRELEASE, UDEV_DATA
from auditor.facts import PCI_DEVICES as DEVICES
from auditor.facts import PCI_DRIVERS as DRIVERS
from auditor.model import Check, Evidence, Outcome, Severity, Status, outcome

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
        OSRELEASE,
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
    from auditor.pci import read_device  # PCI code loads only for audits that have devices

    names = ctx.names()
    evidence: list[Evidence] = []
    missing: list[str] = []
    notes: list[str] = []
    unknown: list[str] = []
    for address in targets:
        device = read_device(ctx.host, address)
        if device is None:
            missing.append(address)
            continue
        bus = {
            True: "PCI Express",
            False: "conventional PCI",
            None: "bus type unknown (needs root)",
        }
        functions = {True: "multifunction", False: "single function", None: "functions unknown"}
        facts = [bus[device.is_pcie], functions[device.multifunction]]
        if device.is_graphics:
            facts.append("graphics" + (", boot VGA" if device.boot_vga else ""))
            display = "; it is the boot display" if device.boot_vga else ""
            notes.append(
                f"{address} is a graphics device (not supported for assignment by RHEL 6{display})"
            )
        evidence.append(
            Evidence(f"{DEVICES}/{address}", f"{device.describe(names)}; " + ", ".join(facts))
        )
        if device.is_pcie is False:
            notes.append(
                f"{address} is conventional PCI (restricted: shares interrupts and isolation)"
            )
        elif device.is_pcie is None:
            unknown.append(address)
        if device.multifunction:
            notes.append(
                f"{address} is multifunction: it cannot be hot-plugged, assign it statically"
            )
    if missing:
        return outcome(Status.FAIL, f"not found on this host: {', '.join(missing)}", evidence)
    if notes:
        return outcome(Status.WARN, "; ".join(notes), evidence)
    if unknown:
        return outcome(
            Status.ERROR,
            f"cannot tell PCI Express from conventional PCI for {', '.join(unknown)} on this kernel "
            "without reading configuration space: needs root",
            evidence,
            ("Run hostaudit as root.",),
        )
    return outcome(
        Status.PASS,
        f"{len(targets)} device(s) ({how}) are single-function PCI Express, not graphics",
        evidence,
    )
