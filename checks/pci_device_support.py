"""Devices to be assigned are of a kind the profile supports.

The source document (RHEL 6) supports assigning PCI Express devices except graphics cards;
conventional PCI devices carry security and configuration restrictions; assignment
hot-plugs per slot, so a multifunction device cannot be hot-plugged and must be assigned
statically. Those are RHEL 6's restrictions, not today's: current kernels and QEMU assign
GPUs (with their audio function) and conventional PCI devices behind a viable group, and
whether a group is viable is iommu.group-isolation's question. So the parameters default to
what fits GPU passthrough now (graphics allowed, no warning for conventional PCI or
multifunction), and the rhel6 profile turns the source document's rules on.
"""

from __future__ import annotations

from auditor.context import LIBVIRT_QEMU, NO_TARGETS, Context
from auditor.facts import DEVICE_READS
from auditor.facts import PCI_DEVICES as DEVICES
from auditor.model import (
    Check,
    DeviceResult,
    Evidence,
    Outcome,
    Severity,
    Status,
    outcome,
    said_of,
    worst_devices,
)

CHECK = Check(
    id="pci.device-support",
    title="Devices to be assigned are supported for assignment",
    severity=Severity.MEDIUM,
    passes=(
        "the devices are of a kind the profile supports: by default any (a GPU with its audio"
        " function passes); the `rhel6` profile applies the source document's restrictions "
        "(no graphics, conventional PCI and multifunction devices warn)"
    ),
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
    # The rhel6 profile forbids graphics devices (they fail) and warns about conventional PCI
    # and multifunction devices, as the source document does.
    params=(
        ("allow_graphics", True),
        ("warn_conventional_pci", False),
        ("warn_multifunction", False),
    ),
    accepts=(
        (
            "each device's sysfs class, vendor and device, configuration header (multifunction, "
            "header type) and PCI Express capability (max_link_speed, or the capability list on "
            "kernels before 4.13)"
        ),
    ),
)


BUS = {True: "PCI Express", False: "conventional PCI", None: "bus type unknown (needs root)"}
FUNCTIONS = {True: "multifunction", False: "single function", None: "functions unknown"}


def run(ctx: Context) -> Outcome:
    targets, how = ctx.targets()
    if not targets:
        return outcome(Status.SKIP, NO_TARGETS)
    from auditor.pci import read_device  # PCI code loads only for audits that have devices

    names = ctx.names()
    allow_graphics = ctx.param(CHECK, "allow_graphics")
    warn_conventional = ctx.param(CHECK, "warn_conventional_pci")
    warn_multifunction = ctx.param(CHECK, "warn_multifunction")
    evidence: list[Evidence] = []
    devices: list[DeviceResult] = []
    supported: list[str] = []  # the facts of each passing device, for the summary
    notes_of: dict[str, list[str]] = {}  # each flagged device's notes, one clause each
    for address in targets:
        device = read_device(ctx.host, address)
        if device is None:
            devices.append(DeviceResult(address, Status.FAIL, "is not found on this host"))
            continue
        facts = [BUS[device.is_pcie], FUNCTIONS[device.multifunction]]
        if device.is_graphics:
            facts.append("graphics" + (", boot VGA" if device.boot_vga else ""))
        evidence.append(
            Evidence(f"{DEVICES}/{address}", f"{device.describe(names)}; " + ", ".join(facts))
        )
        notes: list[str] = []
        forbidden = device.is_graphics and not allow_graphics
        if forbidden:
            display = "; it is the boot display" if device.boot_vga else ""
            notes.append(
                "is a graphics device, which the profile does not allow to assign "
                f"(not supported for assignment by RHEL 6{display})"
            )
        if warn_conventional and device.is_pcie is False:
            notes.append("is conventional PCI (restricted: shares interrupts and isolation)")
        if warn_multifunction and device.multifunction:
            notes.append("is multifunction: it cannot be hot-plugged, assign it statically")
        if notes:
            notes_of[address] = notes
            status = Status.FAIL if forbidden else Status.WARN
            devices.append(DeviceResult(address, status, "; ".join(notes)))
        elif warn_conventional and device.is_pcie is None:
            devices.append(DeviceResult(address, Status.ERROR, "bus type unknown: needs root"))
        else:
            known = [fact for fact in facts if "unknown" not in fact]
            supported += known
            devices.append(DeviceResult(address, Status.PASS, f"is {', '.join(known)}"))

    # A device that is not of a supported kind outweighs one whose bus cannot be read.
    status, flagged = worst_devices(devices, (Status.FAIL, Status.WARN, Status.ERROR))
    if status is Status.FAIL:
        return outcome(Status.FAIL, said_of(flagged), evidence, devices=devices)
    if status is Status.WARN:
        # One clause per note, each naming its device.
        clauses = [
            DeviceResult(d.address, d.status, n) for d in flagged for n in notes_of[d.address]
        ]
        return outcome(Status.WARN, said_of(clauses), evidence, devices=devices)
    if status is Status.ERROR:
        unknown = ", ".join(d.address for d in flagged)
        return outcome(
            Status.ERROR,
            f"cannot tell PCI Express from conventional PCI for {unknown} on this kernel "
            "without reading configuration space: needs root",
            evidence,
            ("Run hostaudit as root.",),
            devices,
        )
    counts = ", ".join(f"{supported.count(kind)} {kind}" for kind in dict.fromkeys(supported))
    return outcome(
        Status.PASS,
        f"{len(targets)} device(s) ({how}) of a kind the profile supports: {counts}",
        evidence,
        devices=devices,
    )
