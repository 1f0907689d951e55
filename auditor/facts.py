"""Facts several checks need, read through the Host; each read is cached by the Host."""

from __future__ import annotations

from auditor.errors import HostError, NotCollectedError, ReadBudgetError
from auditor.host import Host
from auditor.model import Evidence
from auditor.parsers.cmdline import Param, parse_cmdline
from auditor.parsers.kconfig import parse_kconfig
from auditor.parsers.kernel_log import parse_dmesg, parse_kmsg_record
from auditor.parsers.procfs import boot_time as parse_btime
from auditor.record import record

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from auditor.parsers.iommu_params import Default

ACPI_TABLES = "/sys/firmware/acpi/tables"
IOMMU_TABLES = ("DMAR", "IVRS", "IORT")
VENDOR_OF_TABLE = {"DMAR": "intel", "IVRS": "amd", "IORT": "arm"}
CMDLINE = "/proc/cmdline"
CPUINFO = "/proc/cpuinfo"
OSRELEASE = "/proc/sys/kernel/osrelease"
IOMMU_CLASS = "/sys/class/iommu"
IOMMU_GROUPS = "/sys/kernel/iommu_groups"
KMSG = "/dev/kmsg"
PCI_DEVICES = "/sys/bus/pci/devices"
PCI_DRIVERS = "/sys/bus/pci/drivers"
UDEV_DATA = "/run/udev/data"
SAVED_DMESG = "/var/log/dmesg"

# Where the next boot's command line is written (auditor.boot reads these); checks that use
# auditor.boot declare BOOT_READS. Kept here so a check's header needs no boot parser.
GRUB_DEFAULT = "/etc/default/grub"
GRUB_DROPINS = "/etc/default/grub.d/*.cfg"
GRUB_CFGS = ("/boot/grub2/grub.cfg", "/boot/grub/grub.cfg")
GRUBENVS = ("/boot/grub2/grubenv", "/boot/grub/grubenv")
BLS_ENTRIES = "/boot/loader/entries/*.conf"
KERNEL_CMDLINE = "/etc/kernel/cmdline"
PROXMOX_UUIDS = "/etc/kernel/proxmox-boot-uuids"
LEGACY_GRUB = "/boot/grub/grub.conf"
BOOT_READS = (
    GRUB_DEFAULT,
    "/etc/default/grub.d",
    GRUB_DROPINS,
    *GRUB_CFGS,
    *GRUBENVS,
    "/boot/loader/entries",
    BLS_ENTRIES,
    KERNEL_CMDLINE,
    PROXMOX_UUIDS,
    LEGACY_GRUB,
    "/usr/sbin/grubby",
)

# Everything auditor.pci reads of a device, its driver and its IOMMU group. The device checks
# declare exactly these, so that a snapshot holds these files and nothing else of sysfs.
PCI_ATTRIBUTES = ("vendor", "device", "class", "config", "max_link_speed", "boot_vga")
PCI_LINKS = ("driver", "iommu_group")
DEVICE_READS = (
    PCI_DEVICES,
    f"{PCI_DEVICES}/*",
    *(f"{PCI_DEVICES}/*/{name}" for name in PCI_ATTRIBUTES + PCI_LINKS),
    f"{PCI_DRIVERS}/vfio-pci",
    f"{PCI_DRIVERS}/pci-stub",
    IOMMU_GROUPS,
    f"{IOMMU_GROUPS}/*/devices",
    f"{IOMMU_GROUPS}/*/reserved_regions",
    UDEV_DATA,
    f"{UDEV_DATA}/+pci:*",
    OSRELEASE,
)


def present_tables(host: Host) -> list[str]:
    """Which IOMMU tables the firmware exposes (existence is visible without root)."""
    return [name for name in IOMMU_TABLES if host.exists(f"{ACPI_TABLES}/{name}")]


def iommu_vendor(host: Host) -> str | None:
    """intel, amd or arm, decided by which firmware table exists (not by CPU flags)."""
    for name in present_tables(host):
        return VENDOR_OF_TABLE[name]
    return None


def running_cmdline(host: Host) -> tuple[Param, ...]:
    """The running kernel's parameters; raises HostError if /proc/cmdline cannot be read."""
    return parse_cmdline(host.read_text(CMDLINE))


def kernel_release(host: Host) -> str | None:
    """The running kernel's release (`uname -r`), None if the root does not say."""
    try:
        return host.read_text(OSRELEASE).strip() or None
    except (HostError, NotCollectedError, ReadBudgetError):
        return None


# modprobe.d(5): /etc overrides /run, which overrides /usr/lib and /lib, file name by file name.
MODPROBE_DIRS = ("/lib/modprobe.d", "/usr/lib/modprobe.d", "/run/modprobe.d", "/etc/modprobe.d")
MODPROBE_READS = (*MODPROBE_DIRS, *(f"{folder}/*.conf" for folder in MODPROBE_DIRS))


def modprobe_files(host: Host) -> list[str]:
    """modprobe.d files in effect, in the order modprobe reads them (by file name)."""
    by_name: dict[str, str] = {}
    for folder in MODPROBE_DIRS:
        for path in host.glob(f"{folder}/*.conf"):
            by_name[path.rsplit("/", 1)[-1]] = path
    return [by_name[name] for name in sorted(by_name)]


# Where a kernel's build configuration is, for a release: Debian, Ubuntu, Fedora and RHEL
# install /boot/config-<release>; Fedora and RHEL also ship it in the module tree; a kernel
# built with CONFIG_IKCONFIG_PROC shows its own at /proc/config.gz (the running one only).
KCONFIG_READS = ("/boot/config-*", "/lib/modules/*/config", "/proc/config.gz")
MAX_KCONFIG_BYTES = 4 << 20


def kernel_config(host: Host, release: str | None = None) -> tuple[dict[str, str], str | None]:
    """The build configuration of the kernel `release` (default: the running one) and where
    it came from ({} and None if not found)."""
    running = kernel_release(host)
    release = release or running
    paths = [f"/boot/config-{release}", f"/lib/modules/{release}/config"] if release else []
    for path in paths:
        try:
            return parse_kconfig(host.read_text(path)), path
        except (HostError, NotCollectedError):
            continue
    if release is not None and release != running:
        return {}, None  # /proc/config.gz describes the running kernel, not this one
    import zlib

    try:
        # Bounded: a real config is ~300 KB; a hostile root's gzip bomb stops at the limit.
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        data = inflate.decompress(host.read_bytes("/proc/config.gz"), MAX_KCONFIG_BYTES)
        return parse_kconfig(data.decode("utf-8", errors="replace")), "/proc/config.gz"
    except (HostError, NotCollectedError, zlib.error):
        return {}, None


@record
class IommuActivity:
    """Proof that an IOMMU driver is running: its units and the number of IOMMU groups."""

    units: tuple[str, ...]
    groups: int
    visible: bool  # False when the root holds no /sys/class/iommu at all (archives)

    @property
    def active(self) -> bool:
        return bool(self.units) or self.groups > 0


def iommu_activity(host: Host) -> IommuActivity:
    """Entries of /sys/class/iommu and numeric folders of /sys/kernel/iommu_groups."""
    try:
        # sysfs never holds dot-files; a snapshot or fixture may (.gitkeep): not units.
        units = tuple(name for name in host.listdir(IOMMU_CLASS) if not name.startswith("."))
        visible = True
    except (HostError, NotCollectedError):  # an archive without sysfs: the log must tell
        units, visible = (), False
    try:
        groups = sum(1 for name in host.listdir(IOMMU_GROUPS) if name.isdigit())
    except (HostError, NotCollectedError):
        groups = 0
    return IommuActivity(units, groups, visible)


# Printed only once the DMA-remapping driver has started: intel_iommu_init() after
# init_dmars() ("PCI-DMA: " on 2.6 kernels, "DMAR: " later), amd_iommu_init_dma_ops() on
# kernels that predate /sys/class/iommu. Option parsers' "IOMMU enabled" proves nothing.
IOMMU_STARTED_LINES = (
    "Intel(R) Virtualization Technology for Directed I/O",
    "AMD-Vi: Lazy IO/TLB flushing enabled",
    "AMD-Vi: IO/TLB flush on unmap enabled",
    "AMD-Vi: Initialized for Passthrough Mode",
)


@record
class KernelLog:
    """Kernel log messages and where they came from."""

    source: str
    messages: list[str]


def kernel_log(host: Host) -> KernelLog:
    """The kernel log: /dev/kmsg on the live host (or the records a snapshot took from it),
    else the root's saved /var/log/dmesg (a sosreport's `dmesg` output).

    Raises HostError when neither can be read (the last error says why).
    """
    if host.has_kmsg:
        try:
            return KernelLog(KMSG, [parse_kmsg_record(record) for record in host.read_kmsg(KMSG)])
        except HostError:
            pass  # dmesg_restrict or a container without /dev/kmsg: try the saved log
    return KernelLog(host.saved_log, parse_dmesg(host.read_text(host.saved_log)))


def boot_time(host: Host) -> float | None:
    """When the audited kernel booted (seconds since the epoch), None if unknown."""
    if host.is_live:
        from auditor import live

        booted = live.boot_time()
        if booted is not None:
            return booted
        # Without psutil (hostaudit.pyz): the btime line psutil itself reads.
    try:
        return parse_btime(host.read_text("/proc/stat"))
    except HostError:
        return None


def iommu_started_in_log(host: Host) -> Evidence | None:
    """The kernel log line proving the IOMMU driver started, for kernels without sysfs proof."""
    try:
        log = kernel_log(host)
    except HostError:
        return None
    for message in log.messages:
        if any(line in message for line in IOMMU_STARTED_LINES):
            return Evidence(log.source, message)
    return None


def default_witness(host: Host, vendor: str | None, firmware_ok: bool) -> Default | None:
    """The Intel IOMMU's default as the running kernel shows it, for its own release: with no
    intel_iommu= (or iommu=off) option on the running command line, an active IOMMU proves
    the default on for this host (platform opt-in included), and none active with a
    well-formed DMAR table (`firmware_ok`) proves it off. None when nothing proves either."""
    if vendor != "intel":
        return None
    from auditor.parsers.iommu_params import evaluate

    try:
        params = running_cmdline(host)
    except (HostError, NotCollectedError):
        return None
    if not evaluate(params, vendor, {}).by_default:
        return None  # an option decided the running state: it shows nothing of the default
    release = kernel_release(host) or "running"
    activity = iommu_activity(host)
    if activity.active or (not activity.visible and iommu_started_in_log(host) is not None):
        return True, (
            f"the running kernel {release} has it active with no intel_iommu= option: "
            "on by default on this host"
        )
    if activity.visible and firmware_ok:
        return False, (
            f"the running kernel {release} has none active with no intel_iommu= option and a "
            "well-formed DMAR table: off by default"
        )
    return None
