"""What binds a PCI device to vfio-pci at the next boot, read from the host's configuration.

Each mechanism as the software that applies it reads it:
- `vfio-pci.ids=` on the kernel command line: a module parameter (module_param_string(ids)
  in drivers/vfio/pci/vfio_pci.c), taken from the command line when vfio-pci is built in or
  when modprobe loads it (kmod reads MODULE.PARAM= from /proc/cmdline);
- `options vfio-pci ids=` in modprobe.d(5), applied when modprobe loads vfio-pci;
- either only binds the device if vfio-pci loads before the host driver claims it: vfio-pci
  built in (modules.builtin), in the initramfs (dracut force_drivers/add_drivers,
  initramfs-tools' modules list, mkinitcpio MODULES), a `softdep HOSTDRIVER pre: vfio-pci`,
  or the host driver blacklisted;
- driverctl's overrides, /etc/driverctl.d/pci-ADDRESS holding the driver name, applied by
  its udev rule as the device appears (driverctl(8));
- `driver_override` in sysfs is runtime state: it is gone after a reboot.
SR-IOV virtual functions exist only after `sriov_numvfs` is written: a udev rule, a systemd
unit, a driver module parameter (max_vfs) or NetworkManager's [sriov] settings recreate them.
"""

from __future__ import annotations

from auditor.errors import FileMissingError, HostError, NotCollectedError
from auditor.facts import MODPROBE_READS, PCI_DEVICES, kernel_config, kernel_release, modprobe_files
from auditor.host import Host
from auditor.parsers.modprobe import (
    Directive,
    ModuleOption,
    module_name,
    parse_directives,
    parse_modprobe_conf,
)
from auditor.record import field, record

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable

DRIVERCTL = "/etc/driverctl.d"
MODULES_LOAD = ("/etc/modules", "/etc/modules-load.d/*.conf", "/usr/lib/modules-load.d/*.conf")
INITRAMFS_CONFIGS = (
    "/etc/dracut.conf",
    "/etc/dracut.conf.d/*.conf",
    "/etc/initramfs-tools/modules",
    "/etc/mkinitcpio.conf",
)
UDEV_RULES = (
    "/etc/udev/rules.d/*.rules",
    "/lib/udev/rules.d/*.rules",
    "/usr/lib/udev/rules.d/*.rules",
)
SYSTEMD_UNITS = ("/etc/systemd/system/*.service",)
NM_CONNECTIONS = ("/etc/NetworkManager/system-connections/*.nmconnection",)
IOMEM = "/proc/iomem"
# Framebuffer drivers that claim a boot display's memory (drivers/video/fbdev/efifb.c,
# vesafb.c, simplefb.c; "BOOTFB" is the region sysfb registers for them).
FRAMEBUFFERS = ("efifb", "vesafb", "simplefb", "simple-framebuffer", "BOOTFB", "vesa-framebuffer")
VFIO = "vfio_pci"
# kernel/module/sysfs.c: /sys/module/NAME/initstate exists only for a loadable module; a
# built-in one still has /sys/module/NAME with its parameters/ (kernel/params.c).
VFIO_SYSFS = "/sys/module/vfio_pci"
VFIO_FORM_READS = (VFIO_SYSFS, f"{VFIO_SYSFS}/initstate", f"{VFIO_SYSFS}/parameters")
BINDING_READS = (
    *MODPROBE_READS,
    DRIVERCTL,
    f"{DRIVERCTL}/*",
    "/lib/modules/*/modules.builtin",
    *VFIO_FORM_READS,
    *INITRAMFS_CONFIGS,
    *MODULES_LOAD,
    "/etc/dracut.conf.d",
    "/etc/modules-load.d",
    *UDEV_RULES,
    *SYSTEMD_UNITS,
    *NM_CONNECTIONS,
    IOMEM,
    f"{PCI_DEVICES}/*/driver_override",
    f"{PCI_DEVICES}/*/physfn",
    f"{PCI_DEVICES}/*/sriov_numvfs",
    # the folders the patterns above list
    *{
        pattern.rsplit("/", 1)[0]
        for pattern in (*UDEV_RULES, *SYSTEMD_UNITS, *NM_CONNECTIONS, *MODULES_LOAD)
        if "*" in pattern
    },
)


@record(frozen=False)
class BindingConfig:
    """Everything that decides bindings at the next boot, read once per audit."""

    options: list[tuple[str, ModuleOption]] = field(default_factory=list)
    directives: list[tuple[str, Directive]] = field(default_factory=list)
    vfio_builtin: str = ""  # where vfio-pci shows as built in, "" if it does not
    vfio_module: str = ""  # where vfio-pci shows as a loadable module, "" if nothing shows it
    initramfs: str = ""  # the file that puts vfio-pci in the initramfs, "" if none
    modules_load: str = ""  # the modules-load.d file that loads vfio-pci at boot, "" if none
    driverctl: dict[str, str] = field(default_factory=dict)  # address -> driver
    unreadable: list[str] = field(default_factory=list)

    def vfio_ids(self) -> list[tuple[str, str]]:
        """(where, vendor:device) of every id given to vfio-pci in modprobe.d."""
        found = []
        for path, option in self.options:
            if option.module == VFIO and option.name == "ids":
                found += [(f"{path}: {option}", i) for i in parse_ids(option.value)]
        return found

    def loads_before(self, driver: str | None) -> str:
        """What loads vfio-pci before `driver` claims the device (None: the host driver is
        not known), "" if nothing does."""
        if self.vfio_builtin:
            return f"vfio-pci is built into the kernel ({self.vfio_builtin})"
        if self.initramfs:
            return f"vfio-pci is in the initramfs ({self.initramfs})"
        wanted = None if driver is None else module_name(driver)
        for path, directive in self.directives:
            softdep = directive.kind == "softdep" and VFIO in directive.pre()
            if softdep and wanted in (None, directive.module):
                return f"{path}: {directive}"
        blocked = [
            f"{path}: {directive}"
            for path, directive in self.directives
            if directive.module == wanted and _stops_loading(directive)
        ]
        if blocked and self.modules_load:
            return f"{blocked[0]}, and {self.modules_load} loads vfio-pci"
        return ""


def _vfio_pci_form(host: Host, read: Callable[[str], str | None]) -> tuple[str, str]:
    """(where vfio-pci shows as built in, where it shows as a loadable module): the running
    kernel's /sys/module, its modules.builtin, its build configuration; ("", "") if nothing
    here says."""
    try:
        if host.exists(f"{VFIO_SYSFS}/initstate"):
            return "", f"{VFIO_SYSFS}/initstate exists (a loaded module)"
        if host.exists(f"{VFIO_SYSFS}/parameters"):
            return f"{VFIO_SYSFS} without initstate", ""
    except NotCollectedError:
        pass
    release = kernel_release(host)
    builtin = read(f"/lib/modules/{release}/modules.builtin") if release else None
    if builtin is not None:
        lines = builtin.splitlines()
        if any(line.endswith(("/vfio-pci.ko", "/vfio_pci.ko")) for line in lines):
            return f"/lib/modules/{release}/modules.builtin", ""
        return "", f"not in /lib/modules/{release}/modules.builtin"
    value = kernel_config(host)[0].get("CONFIG_VFIO_PCI")
    if value == "y":
        return "CONFIG_VFIO_PCI=y", ""
    if value == "m":
        return "", "CONFIG_VFIO_PCI=m"
    return "", ""


def _stops_loading(directive: Directive) -> bool:
    """`blacklist DRIVER`, or `install DRIVER /bin/false`: it does not load by itself."""
    if directive.kind == "blacklist":
        return True
    return directive.kind == "install" and directive.words[:1] in (("/bin/false",), ("/bin/true",))


def parse_ids(value: str | None) -> list[str]:
    """vendor:device pairs of an `ids=` value ("10de:1b81,10de:10f0"; subsystem and class
    fields after them are not compared)."""
    found = []
    for item in (value or "").split(","):
        parts = item.strip().lower().split(":")
        if len(parts) >= 2 and all(len(p) == 4 for p in parts[:2]):
            found.append(f"{parts[0]}:{parts[1]}")
    return found


def read_binding_config(host: Host) -> BindingConfig:
    """Read the modprobe.d, initramfs, driverctl and SR-IOV configuration of the host."""
    config = BindingConfig()

    def read(path: str) -> str | None:
        try:
            return host.read_text(path, limit=1 << 20)
        except FileMissingError:
            return None
        except (HostError, NotCollectedError) as exc:  # needs root, not collected...
            config.unreadable.append(str(exc))
            return None

    for path in modprobe_files(host):
        text = read(path)
        if text is not None:
            config.options += [(path, o) for o in parse_modprobe_conf(text)]
            config.directives += [(path, d) for d in parse_directives(text)]
    config.vfio_builtin, config.vfio_module = _vfio_pci_form(host, read)
    for pattern in INITRAMFS_CONFIGS:
        for path in host.glob(pattern) if "*" in pattern else [pattern]:
            text = read(path)
            if text and _initramfs_has_vfio(path, text):
                config.initramfs = path
                break
        if config.initramfs:
            break
    for pattern in MODULES_LOAD:
        for path in host.glob(pattern) if "*" in pattern else [pattern]:
            text = read(path)
            if text and _lists_vfio(text) and not config.modules_load:
                config.modules_load = path
    for path in host.glob(f"{DRIVERCTL}/pci-*"):
        text = read(path)
        if text and text.strip():
            config.driverctl[path.rsplit("/pci-", 1)[-1]] = text.strip()
    return config


def sriov_persistence(host: Host, config: BindingConfig) -> list[str]:
    """What recreates SR-IOV virtual functions at boot: udev rules and systemd units that
    write sriov_numvfs, NetworkManager [sriov] settings, max_vfs/num_vfs module options.
    Read only when a virtual function is to be assigned (udev rules are many files)."""
    found = []
    for pattern in (*UDEV_RULES, *SYSTEMD_UNITS, *NM_CONNECTIONS):
        for path in host.glob(pattern):
            try:
                text = host.read_text(path, limit=1 << 20)
            except (HostError, NotCollectedError):
                continue
            if "sriov_numvfs" in text:
                found.append(f"{path} writes sriov_numvfs")
            elif "[sriov]" in text:
                found.append(f"{path} has [sriov] settings")
    for path, option in config.options:
        if option.name in ("max_vfs", "num_vfs") and option.value not in (None, "0"):
            found.append(f"{path}: {option}")
    return found


def _initramfs_has_vfio(path: str, text: str) -> bool:
    """Whether an initramfs generator's configuration includes vfio-pci: initramfs-tools'
    module list, mkinitcpio's MODULES=(...), dracut's force_drivers / add_drivers."""
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        key, _, value = line.partition("=")
        if path.startswith("/etc/initramfs-tools/"):
            words = [line]
        elif path.startswith("/etc/mkinitcpio"):
            words = value.strip("()").split() if key == "MODULES" else []
        else:
            dracut = key.strip().rstrip("+") in ("force_drivers", "add_drivers")
            words = value.strip().strip("\"'").split() if dracut else []
        if any(module_name(word) == VFIO for word in words):
            return True
    return False


def _lists_vfio(text: str) -> bool:
    """Whether a modules-load.d(5) file (or /etc/modules) names vfio-pci."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return any(module_name(line) == VFIO for line in lines)


def driver_override(host: Host, address: str) -> str | None:
    """The runtime driver_override of a device ("(null)" in sysfs means none)."""
    from auditor.pci import attributes

    if "driver_override" not in attributes(host, address):
        return None
    try:
        value = host.read_text(f"{PCI_DEVICES}/{address}/driver_override", limit=256).strip()
    except HostError:
        return None
    return None if value in ("", "(null)") else value


def physical_function(host: Host, address: str) -> str | None:
    """The physical function of an SR-IOV virtual function, None for other functions."""
    from auditor.pci import attributes

    if "physfn" not in attributes(host, address):
        return None
    return host.link_name(f"{PCI_DEVICES}/{address}/physfn")


def framebuffer_on(host: Host, address: str) -> str | None:
    """The framebuffer driver holding memory of the device's BARs in /proc/iomem, if any.
    Names are visible without root (only the addresses are hidden)."""
    try:
        text = host.read_text(IOMEM, limit=1 << 20)
    except HostError:
        return None
    depth = None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        name = line.split(" : ", 1)[-1].strip()
        if depth is not None and indent <= depth:
            depth = None
        if name == address:
            depth = indent
        elif depth is not None and name in FRAMEBUFFERS:
            return name
    return None
