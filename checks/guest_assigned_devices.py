"""Each libvirt guest's assigned PCI devices must exist, be assignable, and fit the limits.

Per guest: the number of assigned functions within the profile's limit (the source document:
8 per guest on RHEL 6), and the PCI slot budget (32 slots, of which the chipset and default
devices take some: at most 30 usable). Per `<hostdev>`: the source address exists on this
host, its IOMMU group is viable and not split with another guest (VFIO gives a group to one
user at a time), it is not also assigned to another guest, it is not a graphics device where
the profile forbids them, and a `managed='no'` device is already bound to vfio-pci (libvirt
will not bind it). Where the profile says so (rhel6), multifunction devices are flagged: RHEL 6
cannot hot-plug them. A device in a guest's persistent definition is assigned statically, so
the default profile says nothing about it.
"""

from __future__ import annotations

from collections import defaultdict

from auditor.context import LIBVIRT_QEMU, Context
from auditor.facts import DEVICE_READS
from auditor.model import Check, DeviceResult, Evidence, Outcome, Severity, Status, outcome

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from auditor.parsers.libvirt import Hostdev
    from auditor.pci import PciDevice

GUEST_SLOTS = 30  # 32 per bus, less the host bridge and the chipset's ISA bridge (source document)

CHECK = Check(
    id="guest.assigned-devices",
    title="Guests' assigned PCI devices exist, are assignable and fit the limits",
    severity=Severity.HIGH,
    passes=(
        "each libvirt guest's `<hostdev>` devices exist, are assignable (viable group, not "
        "shared with another guest, on vfio-pci when `managed='no'`) and fit the profile's "
        "per-guest limit and the slot budget"
    ),
    reads=(
        LIBVIRT_QEMU,
        f"{LIBVIRT_QEMU}/*.xml",
        *DEVICE_READS,
    ),
    remediation=(
        "Edit the guest (virsh edit <guest>) so that each <hostdev> names a device that exists "
        "and sits in a viable IOMMU group; assign every function of a group to the same guest.",
        "Keep each guest within the profile's limit of assigned functions.",
        "Bind managed='no' devices to vfio-pci before starting the guest "
        "(driverctl set-override <address> vfio-pci), or set managed='yes'.",
    ),
    references=(
        "RHEL 6 Virtualization Host Configuration Guide, PCI device assignment (8 per guest)",
        "libvirt formatdomain: Host device assignment (<hostdev>, managed)",
        "Documentation/driver-api/vfio.rst (groups)",
    ),
    # 0: no limit. The rhel6 profile sets 8, forbids graphics devices and warns about
    # multifunction ones.
    params=(
        ("max_functions_per_guest", 0),
        ("allow_graphics", True),
        ("warn_multifunction", False),
    ),
    accepts=(
        "libvirt domain XML (/etc/libvirt/qemu/*.xml, or --domain-xml)",
        ("the devices, their drivers and IOMMU groups in sysfs, and the profile's per-guest limit"),
    ),
)


def run(ctx: Context) -> Outcome:
    guests = ctx.guests()
    if not guests:
        return outcome(
            Status.SKIP,
            f"no libvirt guest definitions: none under {LIBVIRT_QEMU}, none given with --domain-xml",
        )
    from auditor.pci import read_device

    host = ctx.host
    limit = ctx.param(CHECK, "max_functions_per_guest")
    evidence: list[Evidence] = []
    problems: list[str] = []
    unusable: list[str] = []  # definitions that could not be read or parsed
    devices: list[DeviceResult] = []
    owners: dict[str, list[str]] = defaultdict(list)  # host address -> guests
    domains = []
    for source, domain in guests:
        if isinstance(domain, str):
            unusable.append(f"{source}: {domain}")
            continue
        domains.append(domain)
        evidence.append(
            Evidence(
                source,
                f"guest {domain.name}: "
                + (", ".join(h.address for h in domain.hostdevs) or "no PCI hostdev"),
            )
        )
        for hostdev in domain.hostdevs:
            owners[hostdev.address].append(domain.name)

    group_guests: dict[str, set[str]] = defaultdict(set)
    facts: dict[str, PciDevice | None] = {}
    for address in owners:
        device = read_device(host, address)
        facts[address] = device
        if device is not None and device.iommu_group is not None:
            group_guests[device.iommu_group].update(owners[address])

    warnings: list[str] = []
    for domain in domains:
        count = len(domain.hostdevs)
        if limit and count > limit:
            problems.append(
                f"guest {domain.name} assigns {count} PCI functions; the profile allows {limit} per guest"
            )
        slots = set(domain.other_slots)
        loose = domain.unaddressed_devices
        for hostdev in domain.hostdevs:
            if hostdev.guest_slot is None:
                loose += 1
            else:
                slots.add(hostdev.guest_slot)
        if len(slots) + loose > GUEST_SLOTS:
            problems.append(
                f"guest {domain.name} needs {len(slots) + loose} PCI slots; at most {GUEST_SLOTS} are usable"
            )
        wanted = {h.address for h in domain.hostdevs}
        for hostdev in domain.hostdevs:
            status, notes = _judge(
                ctx,
                domain.name,
                hostdev,
                facts[hostdev.address],
                owners,
                group_guests,
                wanted,
            )
            devices.append(
                DeviceResult(hostdev.address, status, f"guest {domain.name}: " + "; ".join(notes))
            )
            if status is Status.FAIL:
                problems.append(f"{hostdev.address} (guest {domain.name}) " + "; ".join(notes))
            elif status is Status.WARN:
                warnings.append(f"{hostdev.address} (guest {domain.name}) " + "; ".join(notes))
    if problems:
        return outcome(Status.FAIL, "; ".join(problems + unusable), evidence, devices=devices)
    if unusable:
        return outcome(Status.ERROR, "; ".join(unusable), evidence, devices=devices)
    if warnings:
        return outcome(Status.WARN, "; ".join(warnings), evidence, devices=devices)
    total = sum(len(d.hostdevs) for d in domains)
    return outcome(
        Status.PASS,
        f"{len(domains)} guest(s) assign {total} PCI function(s), all present, assignable and within limits",
        evidence,
        devices=devices,
    )


def _judge(
    ctx: Context,
    guest: str,
    hostdev: Hostdev,
    device: PciDevice | None,
    owners: dict[str, list[str]],
    group_guests: dict[str, set[str]],
    wanted: set[str],
) -> tuple[Status, list[str]]:
    """(status, notes) of one <hostdev> of one guest."""
    from auditor.pci import ASSIGNMENT_DRIVERS, group_problems

    address = hostdev.address
    if device is None:
        return Status.FAIL, ["does not exist on this host"]
    failures: list[str] = []
    others = [name for name in owners[address] if name != guest]
    if others:
        failures.append(f"is also assigned to guest {', '.join(sorted(set(others)))}")
    if device.iommu_group is None:
        failures.append("is in no IOMMU group (the IOMMU does not cover it)")
    else:
        group = device.iommu_group
        clauses, _ = group_problems(ctx.host, group, wanted, ctx.names())
        if clauses:
            failures.append(f"is in group {group}, which " + "; ".join(clauses))
        sharing = sorted(group_guests[group] - {guest})
        if sharing:
            failures.append(
                f"shares IOMMU group {group} with guest {', '.join(sharing)}: VFIO gives a group to "
                "one guest at a time, so they cannot run together"
            )
    if device.is_graphics and not ctx.param(CHECK, "allow_graphics"):
        failures.append("is a graphics device, which the profile does not allow to assign")
    if not hostdev.managed and device.driver not in ASSIGNMENT_DRIVERS:
        bound = f"bound to {device.driver}" if device.driver else "not bound to any driver"
        failures.append(f"is managed='no' but {bound}: bind it to vfio-pci first")
    if failures:
        return Status.FAIL, failures
    if device.multifunction and ctx.param(CHECK, "warn_multifunction"):
        return Status.WARN, ["is multifunction: it cannot be hot-plugged, assign it statically"]
    return Status.PASS, ["can be assigned"]
