"""Devices meant for guests must still be assignable after the host reboots.

A device bound to vfio-pci by hand (driver_override, `echo > bind`) goes back to its host
driver at the next boot. What keeps it on vfio-pci is read from the host's configuration
(auditor.binding): driverctl overrides, `vfio-pci.ids=` on the next boot's command line or
in modprobe.d together with something that loads vfio-pci before the host driver. A device
only ever given to libvirt guests with managed='yes' needs none of that: libvirt detaches it
from its host driver when the guest starts (virPCIDeviceDetach(), src/util/virpci.c). libvirt
reads an absent `managed` as no (virDomainHostdevDefParseXMLSubsys()); virt-install and
virt-manager write managed='yes'. A boot display whose memory a firmware framebuffer (efifb,
vesafb, simplefb) holds often cannot be detached cleanly: vfio-pci then fails to reserve its
BARs. SR-IOV virtual functions vanish at reboot unless something writes sriov_numvfs again.
"""

from __future__ import annotations

from auditor.binding import BINDING_READS, parse_ids
from auditor.context import LIBVIRT_QEMU, NO_TARGETS, Context
from auditor.facts import BOOT_READS, CMDLINE, DEVICE_READS, KCONFIG_READS, PCI_DEVICES
from auditor.model import (
    Change,
    ChangeKind,
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

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from auditor.binding import BindingConfig
    from auditor.pci import PciDevice

CHECK = Check(
    id="pci.driver-binding",
    title="Devices meant for guests stay assignable after a reboot",
    severity=Severity.HIGH,
    passes=(
        "each device stays assignable after a reboot: bound to vfio-pci at boot (driverctl, "
        "`vfio-pci.ids=` on the next boot's command line or in modprobe.d, with vfio-pci "
        "built in, in the initramfs or loaded first by a softdep), or given only to "
        "`managed='yes'` guests; a boot display held by efifb/simplefb warns; an SR-IOV VF "
        "needs something that recreates it at boot"
    ),
    reads=(
        *DEVICE_READS,
        *BINDING_READS,
        *BOOT_READS,
        *KCONFIG_READS,
        CMDLINE,
        LIBVIRT_QEMU,
        f"{LIBVIRT_QEMU}/*.xml",
        "/usr/sbin/driverctl",
    ),
    remediation=(
        "Make the binding persistent: driverctl set-override <address> vfio-pci, or "
        "`options vfio-pci ids=<vendor:device>` in /etc/modprobe.d/vfio.conf with "
        "`softdep <host driver> pre: vfio-pci`, then rebuild the initramfs.",
        "Or give the device to libvirt guests with <hostdev managed='yes'>, so that libvirt "
        "detaches it from its host driver when the guest starts.",
    ),
    references=(
        "drivers/vfio/pci/vfio_pci.c (ids=)",
        "modprobe.d(5) softdep, driverctl(8)",
        "libvirt src/util/virpci.c virPCIDeviceDetach()",
        "Documentation/PCI/pci-iov-howto.rst (sriov_numvfs)",
    ),
    accepts=(
        "driverctl overrides; vfio-pci.ids= on the next boot's command line or in modprobe.d",
        (
            "what loads vfio-pci first: a softdep, the initramfs configuration (dracut, "
            "initramfs-tools, mkinitcpio), modules-load.d with a blacklist, or vfio-pci built in "
            "(/sys/module/vfio_pci without initstate, modules.builtin, CONFIG_VFIO_PCI=y); it is "
            "called a module only on evidence (initstate, not in modules.builtin, "
            "CONFIG_VFIO_PCI=m)"
        ),
        (
            "the running boot: a device on vfio-pci now with the same vfio-pci.ids= on the running "
            "and the next command line"
        ),
        (
            "libvirt guests' managed= (/etc/libvirt/qemu), a framebuffer holding a boot display "
            "(/proc/iomem), SR-IOV re-creation at boot (udev rules, systemd units, NetworkManager "
            "[sriov], max_vfs)"
        ),
    ),
)

ASSIGNMENT_DRIVERS = ("vfio-pci", "pci-stub")


def run(ctx: Context) -> Outcome:
    targets, how = ctx.targets()
    if not targets:
        return outcome(Status.SKIP, NO_TARGETS)
    from auditor.binding import read_binding_config
    from auditor.pci import read_device

    host = ctx.host
    config = read_binding_config(host)
    boot_ids = _boot_cmdline_ids(ctx)
    running_ids = _running_cmdline_ids(ctx)
    managed = _guest_modes(ctx)
    evidence = [ctx.targets_evidence()]
    evidence += _config_evidence(config, boot_ids)
    devices: list[DeviceResult] = []
    changes: list[Change] = []
    for address in targets:
        device = read_device(host, address)
        if device is None:
            devices.append(DeviceResult(address, Status.FAIL, "does not exist on this host"))
            continue
        status, message = _judge(
            ctx, device, config, (boot_ids, running_ids), managed.get(address, [])
        )
        devices.append(DeviceResult(address, status, message))
        if status in (Status.FAIL, Status.WARN):
            changes.append(_change(ctx, device))
    problems = [d for d in devices if d.status in (Status.FAIL, Status.WARN)]
    worst, _ = worst_devices(devices, (Status.FAIL, Status.WARN))
    failed = worst is Status.FAIL
    if config.unreadable and not failed:
        # What decides the binding at boot was not all read (too large, needs root, the
        # read budget spent): no pass or warning may rest on the part that was.
        return outcome(
            Status.ERROR,
            f"cannot tell: {listed(config.unreadable, 3)} could not be read, and it may bind "
            "or unbind the devices at boot",
            evidence,
            (
                "Run hostaudit as root; a file over the size limit is no configuration modprobe reads.",
            ),
            devices,
        )
    if problems:  # failures and warnings both, each device named: every one needs a step
        return outcome(
            worst,
            said_of(problems),
            evidence,
            _fix(ctx, [d.address for d in problems]),
            devices,
            changes,
        )
    return outcome(
        Status.PASS,
        f"{len(devices)} device(s) ({how}) stay assignable after a reboot",
        evidence,
        devices=devices,
    )


def _judge(
    ctx: Context,
    device: PciDevice,
    config: BindingConfig,
    ids: tuple[list[str], list[str]],
    modes: list[tuple[str, bool]],
) -> tuple[Status, str]:
    """(status, message) of one device."""
    from auditor.binding import driver_override, framebuffer_on, physical_function

    host, address = ctx.host, device.address
    pf = physical_function(host, address)
    if pf is not None:
        return _judge_vf(ctx, device, pf, config)
    framebuffer = framebuffer_on(host, address) if device.boot_vga else None
    if framebuffer:
        return Status.WARN, (
            f"is the boot display and {framebuffer} holds its memory: vfio-pci cannot reserve "
            "its BARs until the framebuffer lets go (video=efifb:off, or boot on another GPU)"
        )
    persistent, takes = _persistent(device, config, *ids)
    now = device.driver or "no driver"
    only_managed = bool(modes) and all(is_managed for _, is_managed in modes)
    if persistent and takes:
        return Status.PASS, f"bound to vfio-pci at boot by {persistent} (now: {now})"
    if only_managed:
        guests = ", ".join(sorted({name for name, _ in modes}))
        if device.boot_vga and device.driver not in (*ASSIGNMENT_DRIVERS, None):
            return Status.WARN, (
                f"is the boot display, driven by {device.driver}: libvirt (managed='yes', "
                f"guest {guests}) must unbind it from the host's console, which often fails"
            )
        return Status.PASS, (
            f"given to guest {guests} with managed='yes': libvirt detaches it from {now} "
            "when the guest starts"
        )
    if persistent:  # configured, but it may not take
        return Status.WARN, persistent
    override = driver_override(host, address)
    if device.driver in ASSIGNMENT_DRIVERS:
        how = f"driver_override={override}" if override else "a manual bind"
        users = (
            "a managed='no' guest ("
            + ", ".join(sorted(name for name, is_managed in modes if not is_managed))
            + ")"
            if modes
            else "no libvirt guest that would bind it"
        )
        return Status.WARN, (
            f"is on {device.driver} now only by {how}: nothing binds it at boot, and it is "
            f"used by {users}; it reverts to its host driver at reboot"
        )
    return Status.WARN, (
        f"is on {now}: nothing binds it to vfio-pci at boot, and no libvirt guest with "
        "managed='yes' detaches it"
    )


def _persistent(
    device: PciDevice, config: BindingConfig, boot_ids: list[str], running_ids: list[str]
) -> tuple[str, bool]:
    """What binds the device to vfio-pci at boot ("" if nothing), and whether it takes: an
    `ids=` binding only does when vfio-pci loads before the host driver."""
    if config.driverctl.get(device.address) == "vfio-pci":
        return f"a driverctl override (/etc/driverctl.d/pci-{device.address})", True
    where = ""
    if device.vendor_device in boot_ids:
        where = f"vfio-pci.ids={device.vendor_device} on the next boot's command line"
    for source, ident in config.vfio_ids():
        if ident == device.vendor_device and not where:
            where = source
    if not where:
        return "", False
    host_driver = None if device.driver in (*ASSIGNMENT_DRIVERS, None) else device.driver
    first = config.loads_before(host_driver)
    if first:
        return f"{where}, and {first}", True
    if (
        device.driver == "vfio-pci"
        and device.vendor_device in boot_ids
        and device.vendor_device in running_ids
    ):
        # The running boot had the same vfio-pci.ids= and the device is on vfio-pci: that
        # boot is the witness that the binding takes, whatever loads vfio-pci.
        return f"{where}; the running boot had the same and bound it", True
    driver = host_driver or "its host driver"
    if config.vfio_module:
        form = f"vfio-pci is a module ({config.vfio_module})"
    else:
        form = (
            "whether vfio-pci is built in or a module is not known here (no /sys/module/"
            "vfio_pci, modules.builtin or kernel config)"
        )
    return (
        f"has {where}, but {form} and nothing loads it before {driver} "
        "(no softdep, initramfs entry or blacklist): the host driver may claim it first"
    ), False


def _judge_vf(
    ctx: Context, device: PciDevice, pf: str, config: BindingConfig
) -> tuple[Status, str]:
    """A virtual function: its PF must keep its host driver, and the VF must come back."""
    from auditor.pci import read_device

    parent = read_device(ctx.host, pf)
    pf_driver = parent.driver if parent is not None else None
    if pf_driver is None or pf_driver in ASSIGNMENT_DRIVERS:
        return Status.FAIL, (
            f"is a virtual function of {pf}, which is on {pf_driver or 'no driver'}: the "
            "physical function must stay on its host driver for the VF to exist"
        )
    from auditor.binding import sriov_persistence

    recreated = sriov_persistence(ctx.host, config)
    if recreated:
        return Status.PASS, (
            f"is a virtual function of {pf} ({pf_driver}), recreated at boot by {recreated[0]}"
        )
    return Status.WARN, (
        f"is a virtual function of {pf} ({pf_driver}): VFs exist only after sriov_numvfs is "
        "written, and nothing here writes it at boot (no udev rule, systemd unit, module "
        "parameter or NetworkManager [sriov] setting): it vanishes at reboot"
    )


def _boot_cmdline_ids(ctx: Context) -> list[str]:
    """vendor:device ids given to vfio-pci on the command line of the next boot's entry."""
    from auditor.boot import configured_boot
    from auditor.parsers.cmdline import parse_cmdline, values

    config = configured_boot(ctx.host)
    entry = next((e for e in config.entries if e.is_default), None) or (
        config.entries[0] if config.entries else None
    )
    if entry is None:
        return []
    return [
        i
        for param in values(parse_cmdline(entry.args), "vfio_pci.ids")
        for i in parse_ids(param.value)
    ]


def _running_cmdline_ids(ctx: Context) -> list[str]:
    """vendor:device ids given to vfio-pci on the running kernel's command line."""
    from auditor.errors import HostError, NotCollectedError
    from auditor.facts import running_cmdline
    from auditor.parsers.cmdline import values

    try:
        params = running_cmdline(ctx.host)
    except (HostError, NotCollectedError):
        return []
    return [i for param in values(params, "vfio_pci.ids") for i in parse_ids(param.value)]


def _guest_modes(ctx: Context) -> dict[str, list[tuple[str, bool]]]:
    """address -> [(guest, managed)] for every <hostdev> of every readable guest."""
    modes: dict[str, list[tuple[str, bool]]] = {}
    for _, domain in ctx.guests():
        if isinstance(domain, str):
            continue
        for hostdev in domain.hostdevs:
            modes.setdefault(hostdev.address, []).append((domain.name, hostdev.managed))
    return modes


def _config_evidence(config: BindingConfig, boot_ids: list[str]) -> list[Evidence]:
    found = [
        Evidence("next boot's command line", "vfio-pci.ids=" + ",".join(boot_ids))
        if boot_ids
        else Evidence("next boot's command line", "no vfio-pci.ids")
    ]
    found += [
        Evidence(source.split(": ", 1)[0], source.split(": ", 1)[-1])
        for source, _ in config.vfio_ids()
    ]
    found += [
        Evidence(path, str(directive))
        for path, directive in config.directives
        if "vfio_pci" in directive.pre() or directive.kind != "softdep"
    ]
    if config.vfio_builtin:
        found.append(Evidence("vfio-pci built in", config.vfio_builtin))
    if config.vfio_module:
        found.append(Evidence("vfio-pci a loadable module", config.vfio_module))
    if config.initramfs:
        found.append(Evidence(config.initramfs, "loads vfio-pci in the initramfs"))
    if config.modules_load:
        found.append(Evidence(config.modules_load, "loads vfio-pci at boot"))
    found += [Evidence(f"/etc/driverctl.d/pci-{a}", d) for a, d in sorted(config.driverctl.items())]
    found += [Evidence("unreadable", item) for item in config.unreadable]
    return found


def _fix(ctx: Context, addresses: list[str]) -> list[str]:
    """Steps with this host's tool: driverctl where it is installed, else modprobe.d."""
    if ctx.host.exists("/usr/sbin/driverctl"):
        return [f"driverctl set-override {a} vfio-pci" for a in addresses]
    return list(CHECK.remediation)


def _change(ctx: Context, device: PciDevice) -> Change:
    """What keeps a device that would not stay assignable on vfio-pci: a binding at every
    boot, except for a virtual function (its physical function must recreate it) and a
    boot display held by a firmware framebuffer (a person chooses the console's GPU)."""
    from auditor.binding import framebuffer_on, physical_function
    from auditor.pci import read_device

    host, address = ctx.host, device.address
    pf = physical_function(host, address)
    parent = read_device(host, pf) if pf is not None else None
    if pf is not None and (parent is None or parent.driver in (*ASSIGNMENT_DRIVERS, None)):
        return Change(
            ChangeKind.MANUAL,
            f"give {pf} back to its host driver",
            detail=f"{address} is a virtual function of {pf}: the physical function must stay "
            "on its host driver for its virtual functions to exist; assign the VFs, not the PF",
        )
    if pf is not None:
        count = _vf_count(ctx, pf)
        return Change(
            ChangeKind.MANUAL,
            f"recreate the virtual functions of {pf} at boot",
            detail=f"{address} is a virtual function of {pf}: write its sriov_numvfs at every "
            f"boot, for example with /etc/udev/rules.d/70-sriov.rules holding "
            f'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="{pf}", ATTR{{sriov_numvfs}}="{count}"',
        )
    if device.boot_vga and framebuffer_on(host, address):
        return Change(
            ChangeKind.MANUAL,
            f"free the boot display {address} from the firmware framebuffer",
            detail="boot the host's console on another GPU (the firmware setup's primary "
            "display), or keep the framebuffer off this one",
        )
    host_driver = "" if device.driver in (*ASSIGNMENT_DRIVERS, None) else device.driver
    return Change(ChangeKind.BIND, address, device.vendor_device, host_driver or "")


def _vf_count(ctx: Context, pf: str) -> str:
    """How many VFs the physical function has now, or a named question where it cannot be
    read (never a silent placeholder)."""
    from auditor.errors import HostError

    try:
        text = ctx.host.read_text(f"{PCI_DEVICES}/{pf}/sriov_numvfs", limit=64).strip()
    except HostError:
        text = ""
    return text if text.isdigit() else "<how many VFs the guests need>"
