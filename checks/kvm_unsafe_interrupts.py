"""The unsafe-interrupt overrides must be off: they let devices be assigned without interrupt remapping.

Three generations of the same switch: kvm.allow_unsafe_assigned_interrupts (legacy KVM
device assignment, removed in Linux 4.12), vfio_iommu_type1.allow_unsafe_interrupts and
iommufd.allow_unsafe_interrupts. Each is read live (/sys/module, writable at run time),
from /etc/modprobe.d (the next module load) and from the kernel command line.
"""

from __future__ import annotations

from auditor.context import Context
from auditor.errors import FileMissingError, HostError
from auditor.facts import (
    CMDLINE,
    MODPROBE_DIRS,
    MODPROBE_READS,
    OSRELEASE,
    kernel_release,
    modprobe_files,
    running_cmdline,
)
from auditor.model import Change, ChangeKind, Check, Evidence, Outcome, Severity, Status, outcome
from auditor.parsers.cmdline import kstrtobool
from auditor.parsers.modprobe import ModuleOption, parse_modprobe_conf
from auditor.parsers.procfs import release_version

# (module, parameter, last kernel where it exists or None)
PARAMETERS = (
    ("kvm", "allow_unsafe_assigned_interrupts", (4, 11)),
    ("vfio_iommu_type1", "allow_unsafe_interrupts", None),
    ("iommufd", "allow_unsafe_interrupts", None),
)
CHECK = Check(
    id="kvm.unsafe-interrupts",
    title="Unsafe-interrupt overrides are off",
    severity=Severity.HIGH,
    passes=(
        "`kvm.allow_unsafe_assigned_interrupts`, `vfio_iommu_type1.allow_unsafe_interrupts` "
        "and `iommufd.allow_unsafe_interrupts` are off live, in modprobe.d and on the command"
        " line"
    ),
    reads=(
        "/sys/module/kvm/parameters/allow_unsafe_assigned_interrupts",
        "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
        "/sys/module/iommufd/parameters/allow_unsafe_interrupts",
        "/sys/module/kvm",
        "/sys/module/vfio_iommu_type1",
        "/sys/module/iommufd",
        "/sys/module",
        *MODPROBE_READS,
        CMDLINE,
        OSRELEASE,
    ),
    remediation=(
        "Remove allow_unsafe_interrupts / allow_unsafe_assigned_interrupts from /etc/modprobe.d "
        "and from the kernel command line.",
        "Turn the live value off: echo N > /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
        "Use a host with interrupt remapping instead; these overrides are for development only.",
    ),
    references=(
        "drivers/vfio/vfio_iommu_type1.c allow_unsafe_interrupts",
        "drivers/iommu/iommufd/device.c allow_unsafe_interrupts",
        "RHEL 6 Virtualization Host Configuration Guide, PCI device assignment",
    ),
    # The development profile sets it: an override is then a warning, not a failure.
    params=(("override_warns", False),),
    accepts=(
        "live values under /sys/module/*/parameters",
        "modprobe.d options (/etc, /run, /usr/lib, /lib)",
        "the running command line",
        (
            "the message names the sources it read and those it could not; a loaded module whose "
            "parameter a capture lacks cannot tell"
        ),
    ),
)


def run(ctx: Context) -> Outcome:
    host = ctx.host
    evidence: list[Evidence] = []
    unsafe: list[str] = []
    changes: list[Change] = []
    problems: list[str] = []
    release = release_version(kernel_release(host))

    # Name only the sources actually read: a root may hold no /sys/module (a chroot, a
    # bare folder) or no modprobe.d at all.
    read: list[str] = []
    not_read: list[str] = []
    if any(host.is_dir(folder) for folder in MODPROBE_DIRS):
        read.append("modprobe.d")
    else:
        not_read.append("modprobe.d (no modprobe.d folder in this root)")
    options: list[tuple[str, ModuleOption]] = []
    for path in modprobe_files(host):
        try:
            options += [(path, option) for option in parse_modprobe_conf(host.read_text(path))]
        except HostError as exc:
            problems.append(str(exc))
    try:
        params = running_cmdline(host)
        read.append("command line")
    except HostError as exc:
        params = ()
        problems.append(str(exc))
    live_root = host.is_dir("/sys/module")
    uncaptured: list[str] = []

    for module, name, last in PARAMETERS:
        full = f"{module}.{name}"
        removed = last is not None and release is not None and release > last
        sysfs = f"/sys/module/{module}/parameters/{name}"
        try:
            live = host.read_text(sysfs, limit=64).strip()
            evidence.append(Evidence(sysfs, live))
            if kstrtobool(live):
                unsafe.append(f"{full} is on in the running kernel")
                changes.append(Change(ChangeKind.MODULE_OPTION, full, "0", where=(sysfs,)))
        except FileMissingError:
            if not live_root:
                state = "not in this root (no /sys/module)"
            elif removed:
                state = "removed in Linux 4.12: not applicable"
            elif host.exists(f"/sys/module/{module}"):
                if module == "kvm":  # only with CONFIG_KVM_DEVICE_ASSIGNMENT, before 4.12
                    state = "module loaded without this parameter"
                else:  # every vfio_iommu_type1 and iommufd has it: a gap in the capture
                    state = "module loaded, but this parameter is not in this capture"
                    uncaptured.append(full)
            else:
                state = "module not loaded"
            evidence.append(Evidence(sysfs, state))
        except HostError as exc:
            problems.append(str(exc))
        for path, option in options:
            if option.module == module and option.name == name:
                value = kstrtobool(option.value)
                evidence.append(Evidence(f"{path}:{option.line}", str(option)))
                if value and not removed:
                    unsafe.append(f"{path} sets {full}={option.value} for the next module load")
                    changes.append(Change(ChangeKind.MODULE_OPTION, full, "0", where=(path,)))
        for param in params:
            if param.key == full:
                evidence.append(Evidence(CMDLINE, str(param)))
                if kstrtobool(param.value) and not removed:
                    unsafe.append(f"the kernel command line sets {param}")
                    changes.append(Change(ChangeKind.KERNEL_ARG_REMOVE, str(param)))

    if live_root:
        read.insert(0, "live /sys/module")
    else:
        not_read.insert(0, "live values (no /sys/module in this root)")
    if unsafe:
        status = Status.WARN if ctx.param(CHECK, "override_warns") else Status.FAIL
        return outcome(
            status,
            "unsafe interrupts allowed: " + "; ".join(unsafe),
            evidence,
            changes=_merged(changes),
        )
    if problems:
        return outcome(
            Status.ERROR, "could not read every setting: " + "; ".join(problems), evidence
        )
    sources = f"read: {', '.join(read)}" + (
        f"; not read: {', '.join(not_read)}" if not_read else ""
    )
    if uncaptured:
        return outcome(
            Status.SKIP,
            f"cannot tell: {' and '.join(uncaptured)} is not in this capture although its module "
            f"is loaded (settable at run time); no override elsewhere ({sources})",
            evidence,
        )
    if not read:
        return outcome(Status.SKIP, f"cannot tell: no setting could be read ({sources})", evidence)
    return outcome(Status.PASS, f"no unsafe-interrupt override is set ({sources})", evidence)


def _merged(changes: list[Change]) -> list[Change]:
    """One module-option change per parameter, naming every place that sets it."""
    merged: dict[tuple[str, str, str], Change] = {}
    for change in changes:
        earlier = merged.get(change.key)
        where = (*earlier.where, *change.where) if earlier else change.where
        merged[change.key] = Change(change.kind, change.target, change.value, where=where)
    return list(merged.values())
