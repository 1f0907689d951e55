"""Each device to be assigned must sit in an IOMMU group that can be given to a guest.

VFIO hands a guest a whole group. It accepts the group when every member is one of the
assigned devices, unbound, bound to vfio-pci or pci-stub, or a bridge / PCIe port
(drivers with driver_managed_dma). A member bound to a host driver (a USB controller, an
audio function) blocks it. A non-relaxable RMRR ("direct" reserved region) makes a device
ineligible, and `pcie_acs_override=` (an out-of-tree patch) only pretends to isolate.
"""

from __future__ import annotations

from auditor.context import LIBVIRT_QEMU, Context
from auditor.errors import HostError
from auditor.facts import CMDLINE, DEVICE_READS, IOMMU_GROUPS, running_cmdline
from auditor.model import Check, DeviceResult, Evidence, Outcome, Severity, Status, outcome
from auditor.parsers.cmdline import values

CHECK = Check(
    id="iommu.group-isolation",
    title="Devices to be assigned sit in isolated IOMMU groups",
    severity=Severity.HIGH,
    reads=(
        *DEVICE_READS,
        LIBVIRT_QEMU,
        f"{LIBVIRT_QEMU}/*.xml",
        CMDLINE,
    ),
    remediation=(
        "Assign every function of the group to the same guest, or bind the other members to "
        "vfio-pci (driverctl set-override <address> vfio-pci).",
        "Move the card to a slot whose root port isolates it (one with ACS), or use a platform "
        "that supports ACS.",
    ),
    references=(
        "Documentation/driver-api/vfio.rst (groups, viability)",
        "Documentation/ABI/testing/sysfs-kernel-iommu_groups",
        "drivers/iommu/iommu.c iommu_device_use_default_domain()",
    ),
    requires=("iommu.firmware-table", "iommu.kernel-cmdline"),
)


def run(ctx: Context) -> Outcome:
    host = ctx.host
    targets, how = ctx.targets()
    if not targets:
        return outcome(
            Status.SKIP, "no devices to assign: pass --device, or bind devices to vfio-pci"
        )
    if not host.is_dir(IOMMU_GROUPS):
        return outcome(
            Status.SKIP,
            f"no {IOMMU_GROUPS}: kernels before 3.5 (RHEL 6) have no IOMMU groups, and archives "
            "such as sosreports do not collect them",
        )
    # PCI code loads only for audits that have devices to look at.
    from auditor.pci import direct_regions, group_problems, read_device

    evidence = [Evidence("targets", f"{', '.join(targets)} ({how})")]
    wanted = set(targets)
    checked: dict[str, tuple[list[str], list[str]]] = {}  # each group is examined once
    devices: list[DeviceResult] = []
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
            checked[group] = group_problems(host, group, wanted, ctx.names())
            problems, members = checked[group]
            evidence.append(Evidence(f"{IOMMU_GROUPS}/{group}/devices", ", ".join(members)))
            direct = direct_regions(host, group)
            if direct:
                evidence.append(
                    Evidence(f"{IOMMU_GROUPS}/{group}/reserved_regions", "; ".join(direct))
                )
        problems = checked[group][0]
        if problems:
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
    failed = [d for d in devices if d.status is Status.FAIL]
    if failed:
        message = "; ".join(f"{d.address} {d.message}" for d in failed)
        return outcome(Status.FAIL, message, evidence, devices=devices)
    if override:
        faked = f"viable only because of {override[-1]} (an out-of-tree patch that fakes ACS)"
        return outcome(
            Status.WARN,
            f"groups look isolated only because of {override[-1]} (an out-of-tree patch that fakes ACS)",
            evidence,
            ("Remove pcie_acs_override= and use hardware that isolates the devices.",),
            [DeviceResult(d.address, Status.WARN, f"is in a group {faked}") for d in devices],
        )
    return outcome(
        Status.PASS,
        f"{len(targets)} device(s) in {len(checked)} viable group(s)",
        evidence,
        devices=devices,
    )
