"""Facts several checks need, read through the Host; each read is cached by the Host."""

from __future__ import annotations

from auditor.errors import HostError, NotCollectedError, ReadBudgetError, UnreadableError
from auditor.host import Host
from auditor.model import Evidence
from auditor.parsers.cmdline import Param, parse_cmdline
from auditor.parsers.kconfig import parse_kconfig
from auditor.parsers.kernel_log import (
    BANNER,
    DEFAULT_DOMAIN,
    GROUPS_SINCE,
    Completeness,
    completeness,
    earliest_dmesg_time,
    earliest_kmsg_time,
    find,
    iommu_started,
    parse_dmesg,
    parse_kmsg_record,
)
from auditor.parsers.procfs import boot_time as parse_btime
from auditor.parsers.procfs import release_version
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
PROC_VERSION = "/proc/version"
IOMMU_CLASS = "/sys/class/iommu"
IOMMU_GROUPS = "/sys/kernel/iommu_groups"
KMSG = "/dev/kmsg"
PCI_DEVICES = "/sys/bus/pci/devices"
PCI_DRIVERS = "/sys/bus/pci/drivers"
UDEV_DATA = "/run/udev/data"
SAVED_DMESG = "/var/log/dmesg"

# What reading the kernel log touches: the ring buffer, the saved log, and the running
# release (a log of another kernel is not this kernel's). Checks that read the log declare it.
LOG_READS = (KMSG, SAVED_DMESG, OSRELEASE, PROC_VERSION)

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
KERNELSTUB = "/etc/kernelstub/configuration"
# RHEL 7 and 8, Fedora before 34: on an EFI boot the full menu lies on the ESP.
EFI_GRUB_CFGS = "/boot/efi/EFI/*/grub.cfg"
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
    # What `hostaudit plan` reads to tell the boot chain and the initramfs generator apart
    # (auditor.bootchain), so that a snapshot holds it too.
    "/etc/os-release",
    "/etc/kernelstub",
    KERNELSTUB,
    "/run/ostree-booted",
    "/usr/lib/bootc/kargs.d",
    "/etc/NIXOS",
    "/boot/efi/EFI",
    EFI_GRUB_CFGS,
    "/sys/firmware/efi",
    "/lib/modules",
    "/etc/initramfs-tools",
    "/etc/dracut.conf.d",
    "/usr/bin/driverctl",
    "/usr/sbin/driverctl",
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
    *LOG_READS,  # the kernel release: /proc, else the log's banner
)


def present_tables(host: Host) -> list[str]:
    """Which IOMMU tables the firmware exposes (existence is visible without root)."""
    return [name for name in IOMMU_TABLES if host.exists(f"{ACPI_TABLES}/{name}")]


def iommu_vendor(host: Host) -> str | None:
    """intel, amd or arm, decided by which firmware table exists (not by CPU flags); where
    the root holds no table files (a sosreport, a bare capture), by the tables the kernel
    listed at boot in its log."""
    for name in present_tables(host):
        return VENDOR_OF_TABLE[name]
    try:
        if host.is_dir(ACPI_TABLES):
            return None
    except NotCollectedError:
        pass
    from auditor.parsers.kernel_log import acpi_tables

    try:
        listed = acpi_tables(kernel_log(host).messages)
    except HostError:
        return None
    return next((VENDOR_OF_TABLE[name] for name in IOMMU_TABLES if name in listed), None)


def running_cmdline(host: Host) -> tuple[Param, ...]:
    """The running kernel's parameters; raises HostError if /proc/cmdline cannot be read.
    Parsed once per audit: six checks ask."""
    return host.derive("cmdline", CMDLINE, lambda: parse_cmdline(host.read_text(CMDLINE)))


def kernel_release(host: Host) -> str | None:
    """The running kernel's release (`uname -r`), None if the root does not say: from
    /proc/sys/kernel/osrelease (a sosreport's `uname -a` is laid there), else /proc/version,
    else the kernel log's own 'Linux version' banner (init/version.c linux_banner)."""
    return host.derive("kernel-release", "", lambda: _release_file(host) or _release_from_log(host))


def _release_file(host: Host) -> str | None:
    """The release as /proc says it (osrelease, else the third word of /proc/version)."""
    for path in (OSRELEASE, PROC_VERSION):
        try:
            text = host.read_text(path, limit=4096).strip()
        except (HostError, NotCollectedError, ReadBudgetError):
            continue
        if path == OSRELEASE and text:
            return text
        words = text.split()
        if len(words) > 2 and text.startswith(BANNER):
            return words[2]
    return None


def _release_from_log(host: Host) -> str | None:
    try:
        return kernel_log(host).completeness.release
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


@record
class KernelLog:
    """Kernel log messages, where they came from, and whether the log is whole (then the
    absence of a message the kernel always prints is evidence)."""

    source: str
    messages: list[str]
    completeness: Completeness = Completeness(False, "not judged")

    @property
    def whole(self) -> bool:
        return self.completeness.whole

    def about(self) -> Evidence:
        """The evidence line saying whether this log is whole, and why."""
        return Evidence(f"{self.source} (kernel log)", self.completeness.why)


def kernel_log(host: Host) -> KernelLog:
    """The kernel log: /dev/kmsg on the live host (or the records a snapshot took from it),
    else the root's saved /var/log/dmesg (a sosreport's `dmesg` output). Read and judged once
    per audit.

    Raises HostError when neither can be read (the last error says why).
    """
    return host.derive("kernel-log", "", lambda: _read_kernel_log(host))


def _read_kernel_log(host: Host) -> KernelLog:
    if host.has_kmsg:
        try:
            records = host.read_kmsg(KMSG)
            messages = [parse_kmsg_record(record) for record in records]
            earliest = earliest_kmsg_time(records[0]) if records else None
            return KernelLog(KMSG, messages, _judged(host, messages, earliest))
        except HostError:
            pass  # dmesg_restrict or a container without /dev/kmsg: try the saved log
    try:
        text = host.read_text(host.saved_log)
    except NotCollectedError as exc:  # no log in this capture: as unreadable, never as silent
        raise UnreadableError(host.saved_log, f"not collected: {exc.reason}") from None
    messages = parse_dmesg(text)
    return KernelLog(host.saved_log, messages, _judged(host, messages, earliest_dmesg_time(text)))


def _judged(host: Host, messages: list[str], earliest: float | None) -> Completeness:
    """completeness(), and a log of another kernel than the running one is not whole for it
    (a saved /var/log/dmesg left by an earlier boot)."""
    judged = completeness(messages, earliest)
    running = _release_file(host)
    if judged.whole and running and judged.release and judged.release != running:
        return Completeness(
            False,
            f"not whole for this kernel: the log is of {judged.release}, the running kernel is {running}",
            judged.release,
        )
    return judged


@record
class LogActivity:
    """What a kernel log says of the IOMMU: active (True), not active (False: a whole log
    without any record an active driver prints), or cannot tell (None)."""

    active: bool | None
    evidence: tuple[Evidence, ...]


def iommu_activity_in_log(host: Host, vendor: str | None) -> LogActivity:
    """Whether the kernel log proves an IOMMU driver started, or (whole) proves none did."""
    try:
        log = kernel_log(host)
    except HostError as exc:
        return LogActivity(None, (Evidence("kernel log", str(exc)),))
    proof = iommu_started(log.messages)
    if proof is not None:
        return LogActivity(True, (Evidence(log.source, proof),))
    evidence = [log.about()]
    default = find(log.messages, DEFAULT_DOMAIN)
    if default:  # printed with no IOMMU too: shown, never taken as proof
        evidence.append(
            Evidence(log.source, f"{default[0]} (printed whether or not an IOMMU runs)")
        )
    version = release_version(log.completeness.release) or (0, 0)
    if log.whole and (vendor == "intel" or version >= GROUPS_SINCE):
        evidence.append(
            Evidence(
                log.source, "no 'Adding to iommu group' or IOMMU start-up record in the whole log"
            )
        )
        return LogActivity(False, tuple(evidence))
    return LogActivity(None, tuple(evidence))


def boot_time(host: Host) -> float | None:
    """When the audited kernel booted (seconds since the epoch), None if unknown."""
    if host.live is not None:
        booted = host.live.boot_time()
        if booted is not None:
            return booted
        # Without psutil (hostaudit.pyz): the btime line psutil itself reads.
    try:
        return parse_btime(host.read_text("/proc/stat"))
    except HostError:
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
    logged = None if activity.visible else iommu_activity_in_log(host, vendor).active
    if activity.active or logged:
        return True, (
            f"the running kernel {release} has it active with no intel_iommu= option: "
            "on by default on this host"
        )
    if (activity.visible or logged is False) and firmware_ok:
        seen = "" if activity.visible else " (its whole boot log shows no IOMMU started)"
        return False, (
            f"the running kernel {release} has none active{seen} with no intel_iommu= option "
            "and a well-formed DMAR table: off by default"
        )
    return None
