"""Each device to be assigned must sit in an IOMMU group that can be given to a guest.

VFIO hands a guest a whole group. It accepts the group when every member is one of the
assigned devices, unbound, bound to vfio-pci or pci-stub, or a bridge / PCIe port
(drivers with driver_managed_dma). A member bound to a host driver (a USB controller, an
audio function) blocks it. A non-relaxable RMRR ("direct" reserved region) makes a device
ineligible, and `pcie_acs_override=` (an out-of-tree patch) only pretends to isolate: a
group that looks viable only because of it fails.

When a group is too big, the bridges above the device say why (auditor.acs): which one lacks
the ACS controls the kernel requires, whether a kernel quirk covers it, and which other root
port of this host does isolate, so that moving the card there is the fix.
"""

from __future__ import annotations

from auditor.context import LIBVIRT_QEMU, NO_TARGETS, Context
from auditor.errors import HostError
from auditor.facts import CMDLINE, DEVICE_READS, IOMMU_GROUPS, running_cmdline
from auditor.host import Host
from auditor.model import (
    Change,
    ChangeKind,
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
from auditor.parsers.cmdline import values

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from auditor.pci import GroupVerdict, PciDevice

CHECK = Check(
    id="iommu.group-isolation",
    title="Devices to be assigned sit in isolated IOMMU groups",
    severity=Severity.HIGH,
    passes=(
        "each device to be assigned sits in an IOMMU group whose other members are unbound, "
        "on vfio-pci/pci-stub, or bridges; no `direct` RMRR; a group viable only through "
        "`pcie_acs_override` fails. When a group is too big it says why: the ACS capability "
        "and controls of every bridge above the device, whether a kernel quirk covers it, and"
        " which root port (and slot) of this host does isolate"
    ),
    reads=(
        *DEVICE_READS,
        LIBVIRT_QEMU,
        f"{LIBVIRT_QEMU}/*.xml",
        CMDLINE,
        "/sys/bus/pci/slots",
        "/sys/bus/pci/slots/*/address",
    ),
    remediation=(
        "Assign every function of the group to the same guest, or bind the other members to "
        "vfio-pci (driverctl set-override <address> vfio-pci).",
        "Move the card to a slot whose root port isolates it (one with ACS), or use a platform "
        "that supports ACS; never pcie_acs_override=, which only pretends.",
    ),
    references=(
        "Documentation/driver-api/vfio.rst (groups, viability)",
        "Documentation/ABI/testing/sysfs-kernel-iommu_groups",
        "drivers/iommu/iommu.c iommu_device_use_default_domain(), pci_device_group()",
        "drivers/pci/pci.c pci_acs_enabled(); drivers/pci/quirks.c pci_dev_acs_enabled[]",
    ),
    requires=("iommu.firmware-table", "iommu.kernel-cmdline"),
    accepts=(
        "/sys/kernel/iommu_groups/N/devices and reserved_regions (RMRR direct mappings)",
        "each member's driver link (vfio-pci, pci-stub, pcieport or none are accepted)",
        (
            "the ACS capability of every bridge above the device, from configuration space (root "
            "only), and the kernel's ACS quirks"
        ),
        "pcie_acs_override= on the running command line",
    ),
)


def run(ctx: Context) -> Outcome:
    host = ctx.host
    targets, _ = ctx.targets()
    if not targets:
        return outcome(Status.SKIP, NO_TARGETS)
    if not host.is_dir(IOMMU_GROUPS):
        return outcome(
            Status.SKIP,
            f"no {IOMMU_GROUPS}: kernels before 3.5 (RHEL 6) have no IOMMU groups, and archives "
            "such as sosreports do not collect them",
        )
    # PCI code loads only for audits that have devices to look at.
    from auditor.pci import direct_regions, judge_group, read_device

    evidence = [ctx.targets_evidence()]
    wanted = set(targets)
    checked: dict[str, GroupVerdict] = {}  # each group is examined once
    shared: list[str] = []  # targets whose group a host driver also holds
    devices: list[DeviceResult] = []
    changes: list[Change] = []
    for address in targets:
        device = read_device(host, address)
        if device is None:
            devices.append(DeviceResult(address, Status.FAIL, "does not exist on this host"))
            continue
        group = device.iommu_group
        if group is None:
            devices.append(
                DeviceResult(
                    address, Status.FAIL, "is in no IOMMU group (the IOMMU does not cover it)"
                )
            )
            continue
        if group not in checked:
            checked[group] = judge_group(host, group, wanted, ctx.names())
            listing = ", ".join(checked[group].members)
            evidence.append(Evidence(f"{IOMMU_GROUPS}/{group}/devices", listing))
            direct = direct_regions(host, group)
            if direct:
                evidence.append(
                    Evidence(f"{IOMMU_GROUPS}/{group}/reserved_regions", "; ".join(direct))
                )
        verdict = checked[group]
        problems, members = verdict.problems, list(verdict.members)
        if verdict.blocking:
            shared.append(address)
        if problems:
            changes += _group_changes(host, device, group, members, wanted)
            devices.append(
                DeviceResult(
                    address, Status.FAIL, f"is in group {group}, which " + "; ".join(problems)
                )
            )
        else:
            devices.append(DeviceResult(address, Status.PASS, f"is in viable group {group}"))

    try:
        override = values(running_cmdline(host), "pcie_acs_override")
    except HostError:
        override = []
    if override:
        evidence.append(Evidence(CMDLINE, str(override[-1])))
    _, failed = worst_devices(devices, (Status.FAIL,))
    if failed:
        steps, found = _why_too_big(host, shared) if shared else ([], [])
        return outcome(
            Status.FAIL,
            said_of(failed),
            evidence + found,
            [*steps, *CHECK.remediation] if steps else (),
            devices=devices,
            changes=list(dict.fromkeys(changes)),
        )
    if override:
        faked = f"viable only because of {override[-1]} (an out-of-tree patch that fakes ACS)"
        return outcome(
            Status.FAIL,
            f"groups look isolated only because of {override[-1]} (an out-of-tree patch that "
            "fakes ACS): the devices can still reach each other",
            evidence,
            ("Remove pcie_acs_override= and use hardware that isolates the devices.",),
            [DeviceResult(d.address, Status.FAIL, f"is in a group {faked}") for d in devices],
            [Change(ChangeKind.KERNEL_ARG_REMOVE, str(param)) for param in override],
        )
    return outcome(
        Status.PASS,
        f"{len(targets)} device(s) in {len(checked)} viable group(s)",
        evidence,
        devices=devices,
    )


def _why_too_big(host: Host, addresses: list[str]) -> tuple[list[str], list[Evidence]]:
    """Remediation and evidence from the ACS of the bridges above devices whose groups are
    shared: the bridge that lacks it, and the root ports of this host that have it."""
    from auditor.acs import (
        ancestors,
        bridge_acs,
        isolating_root_ports,
        secondary_bus,
        slot_names,
    )

    evidence: list[Evidence] = []
    on_path: set[str] = set()
    for address in addresses:
        path = ancestors(host, address)
        on_path.update(path)
        findings = [bridge_acs(host, bridge) for bridge in path]
        lacking = [f for f in findings if f.isolates is not True]
        for finding in findings:
            evidence.append(Evidence(f"ACS above {address}", finding.describe()))
        if not lacking and path:
            evidence.append(
                Evidence(
                    f"ACS above {address}",
                    "every bridge up to the root port isolates: the group is shared inside the "
                    "device itself (functions without ACS) or by DMA aliasing",
                )
            )
    better = isolating_root_ports(host, on_path)
    slots = slot_names(host)
    steps = []
    for port in better[:3]:
        below = secondary_bus(host, port.address)
        slot = next((name for bus, name in slots.items() if below and bus.startswith(below)), "")
        where = f" (slot {slot})" if slot else ""
        steps.append(
            f"Move the card to a slot below root port {port.address}{where}: {port.why}, so a "
            "device there gets a group of its own."
        )
    if not better:
        evidence.append(
            Evidence(
                "other root ports", "none on this host isolates with ACS (or none is readable)"
            )
        )
    return steps, evidence


def _group_changes(
    host: Host, device: PciDevice, group: str, members: list[str], wanted: set[str]
) -> list[Change]:
    """What makes the group viable: another function of the same card goes to vfio-pci
    with it (a GPU's audio function); any other device held by a host driver is a person's
    decision (move the card, or give that device to the same guest); a firmware direct
    mapping (RMRR) has no safe fix."""
    from auditor.pci import blocking_members, direct_regions

    changes = []
    slot = device.address.rsplit(".", 1)[0]
    for other in blocking_members(host, members, wanted):
        if other.address.rsplit(".", 1)[0] == slot:
            changes.append(
                Change(ChangeKind.BIND, other.address, other.vendor_device, other.driver or "")
            )
        else:
            changes.append(
                Change(
                    ChangeKind.MANUAL,
                    f"isolate {device.address} from {other.address}",
                    detail=f"IOMMU group {group} also holds {other.address} "
                    f"({other.vendor_device}, driver {other.driver}): move the card to a slot "
                    "whose root port isolates it (often a slot wired to the CPU), or give "
                    f"{other.address} to the same guest; pcie_acs_override= only pretends and "
                    "is never planned",
                )
            )
    if direct_regions(host, group):
        changes.append(
            Change(
                ChangeKind.NO_SAFE_FIX,
                f"firmware direct mapping (RMRR) in IOMMU group {group}",
                detail="VFIO refuses a group the firmware needs a direct mapping for; only a "
                "firmware update that drops the RMRR, or another slot or device, helps (kernel "
                "patches that relax RMRRs are unsafe and never planned)",
            )
        )
    return changes
