"""Which tools this host's boot chain takes a kernel argument with, decided from evidence in
the root (the files each tool owns), never from which binaries happen to be installed.

Each chain as its own tool defines it:
- grubby on BLS entries (Fedora, RHEL 8/9 and clones): `grubby --update-kernel=ALL --args`
  edits every /boot/loader/entries/*.conf, and on RHEL 8 the `kernelopts` of grubenv that
  entries name as $kernelopts (rhboot/grubby grubby-bls). New kernels take their options
  from /etc/kernel/cmdline where it exists (kernel-install's 20-grub.install), and
  grub2-mkconfig from GRUB_CMDLINE_LINUX of /etc/default/grub: both are kept in step.
- GRUB with a generated grub.cfg: GRUB_CMDLINE_LINUX in /etc/default/grub, where
  /etc/default/grub.d/*.cfg, sourced after it in name order by grub-mkconfig, may set it
  again; then `update-grub` (Debian's wrapper) or `grub2-mkconfig -o` the file GRUB reads.
- kernelstub (Pop!_OS): /etc/kernelstub/configuration; `kernelstub -a` / `-d`.
- systemd-boot with kernel-install: /etc/kernel/cmdline, then `kernel-install add` for
  each installed kernel writes its entry again.
- Proxmox VE: /etc/kernel/proxmox-boot-uuids; /etc/kernel/cmdline (systemd-boot) or
  /etc/default/grub (GRUB), then `proxmox-boot-tool refresh` copies them to every ESP.
- RHEL 6: /boot/grub/grub.conf, which grubby edits as well.
- NixOS (/etc/NIXOS) and image-based hosts (rpm-ostree: /run/ostree-booted; bootc) are
  configured, not scripted: the plan prints the setting and the one command.
"""

from __future__ import annotations

from auditor.boot import BootConfig, configured_boot
from auditor.errors import HostError, NotCollectedError
from auditor.facts import (
    EFI_GRUB_CFGS,
    GRUB_DEFAULT,
    GRUB_DROPINS,
    KERNEL_CMDLINE,
    KERNELSTUB,
    LEGACY_GRUB,
    PROXMOX_UUIDS,
)
from auditor.host import Host
from auditor.record import record

OS_RELEASE = "/etc/os-release"
OSTREE_BOOTED = "/run/ostree-booted"
BOOTC_KARGS = "/usr/lib/bootc/kargs.d"
NIXOS = "/etc/NIXOS"
EFI_FIRMWARE = "/sys/firmware/efi"
KERNEL_MODULES = "/lib/modules"
# facts.BOOT_READS declares these for snapshots (iommu.cmdline-persistent reads the chain).
DEBIAN_FAMILY = ("debian", "ubuntu")
# What surrounds a shell assignment's words: quotes, or mkinitcpio's parentheses.
QUOTES = str.maketrans({'"': " ", "'": " ", "(": " ", ")": " "})
GRUB2_FAMILY = ("fedora", "rhel", "centos", "suse", "opensuse")


@record
class BootChain:
    """How a kernel argument reaches the next boot on this host."""

    kind: str  # grubby, grub-mkconfig, kernelstub, kernel-install, proxmox, nixos, rpm-ostree, bootc, unknown
    label: str
    # What showed it: "FILE: what it holds", for the plan's evidence.
    evidence: tuple[str, ...]
    # Files whose presence the sh script checks before it changes anything: a script made
    # for one chain never runs on another.
    proof: tuple[str, ...] = ()
    # GRUB: the command that writes grub.cfg again; kernel-install and Proxmox: the refresh.
    regenerate: str = ""
    # GRUB: the file that sets GRUB_CMDLINE_LINUX last (a grub.d drop-in may override the
    # main file); kernel-install and Proxmox with systemd-boot: /etc/kernel/cmdline.
    cmdline_file: str = ""
    # Configuration, not a script: NixOS, rpm-ostree, bootc.
    declarative: bool = False

    @property
    def grub_files(self) -> tuple[str, ...]:
        """The shell-assignment files GRUB's command line is read from, in order."""
        return tuple(path for path in self.proof if path.startswith("/etc/default/grub"))


def _text(host: Host, path: str) -> str:
    """A configuration file's text; "" where it is absent, unreadable or not collected (the
    checks report those)."""
    try:
        return host.read_text(path, limit=1 << 20)
    except (HostError, NotCollectedError):
        return ""


def os_release(host: Host) -> dict[str, str]:
    """/etc/os-release as KEY -> value (os-release(5): shell-like, quotes optional)."""
    values = {}
    for line in _text(host, OS_RELEASE).splitlines():
        key, found, value = line.partition("=")
        if found and key.strip().isidentifier():
            values[key.strip()] = value.strip().strip("\"'")
    return values


def _family(host: Host, names: tuple[str, ...]) -> bool:
    """Whether os-release's ID or ID_LIKE names one of `names`."""
    release = os_release(host)
    words = {release.get("ID", ""), *release.get("ID_LIKE", "").split()}
    return any(name in words for name in names)


def is_debian_family(host: Host) -> bool:
    return _family(host, DEBIAN_FAMILY)


def package_manager(host: Host) -> str:
    """apt-get on the Debian family, zypper on SUSE, yum before RHEL 8 and where os-release
    does not say (RHEL 6 has none; RHEL 8 and later answer to yum too), else dnf."""
    if is_debian_family(host):
        return "apt-get"
    if _family(host, ("suse", "opensuse")):
        return "zypper"
    release = os_release(host)
    major = release.get("VERSION_ID", "").split(".")[0]
    if not release or (_family(host, ("rhel", "centos")) and major.isdigit() and int(major) < 8):
        return "yum"
    return "dnf"


def sets_word(host: Host, path: str, name: str, word: str) -> bool:
    """Whether an assignment of `name` in the shell file `path` holds `word`."""
    for line in _text(host, path).splitlines():
        if line.strip().startswith(f"{name}="):
            value = line.strip()[len(name) + 1 :]
            if word in value.translate(QUOTES).split():
                return True
    return False


def detect(host: Host) -> BootChain:
    """The boot chain of the host, from the files its tools own; decided once per audit
    (each kernel-argument remediation and the plan ask)."""
    return host.derive("boot", "chain", lambda: _detect(host))


def _detect(host: Host) -> BootChain:
    if host.exists(OSTREE_BOOTED):
        if host.is_dir(BOOTC_KARGS):
            return BootChain(
                "bootc", "bootc image", (f"{OSTREE_BOOTED} and {BOOTC_KARGS}",), declarative=True
            )
        return BootChain(
            "rpm-ostree", "rpm-ostree (image-based)", (f"{OSTREE_BOOTED}",), declarative=True
        )
    if host.exists(NIXOS):
        return BootChain("nixos", "NixOS", (f"{NIXOS}",), declarative=True)
    config = configured_boot(host)
    if host.exists(PROXMOX_UUIDS):
        if host.exists(KERNEL_CMDLINE):
            return BootChain(
                "proxmox",
                "Proxmox VE, systemd-boot via proxmox-boot-tool",
                (f"{PROXMOX_UUIDS}", f"{KERNEL_CMDLINE}"),
                (PROXMOX_UUIDS, KERNEL_CMDLINE),
                "proxmox-boot-tool refresh",
                KERNEL_CMDLINE,
            )
        files = _grub_files(host)
        return BootChain(
            "proxmox",
            "Proxmox VE, GRUB via proxmox-boot-tool",
            (f"{PROXMOX_UUIDS}", *files),
            (PROXMOX_UUIDS, *files),
            "proxmox-boot-tool refresh",
            _grub_cmdline_file(host, files),
        )
    if host.exists(KERNELSTUB):
        return BootChain(
            "kernelstub", "kernelstub (Pop!_OS)", (KERNELSTUB,), (KERNELSTUB,), cmdline_file=""
        )
    if config.loader == "bls" and config.generated_path and _grub_with_bls(host):
        files = _grub_files(host)
        return BootChain(
            "grubby",
            "GRUB with BLS entries, edited by grubby",
            ("/boot/loader/entries: BLS entries", "grub.cfg: blscfg"),
            ("/boot/loader/entries", *files),
            cmdline_file=_grub_cmdline_file(host, files),
        )
    if config.loader in ("bls", "kernel-install") and host.exists(KERNEL_CMDLINE):
        return BootChain(
            "kernel-install",
            "systemd-boot with kernel-install",
            ("/boot/loader/entries: BLS entries without GRUB", KERNEL_CMDLINE),
            ("/boot/loader/entries", KERNEL_CMDLINE),
            "kernel-install",
            KERNEL_CMDLINE,
        )
    if config.loader == "grub2" and config.generated_path:
        files = _grub_files(host)
        target = _grub_target(host, config)
        # Fedora, RHEL and SUSE name it grub2-mkconfig; Debian wraps grub-mkconfig as update-grub.
        tool = (
            "grub2-mkconfig"
            if "/grub2/" in target or _family(host, GRUB2_FAMILY)
            else "grub-mkconfig"
        )
        regenerate = "update-grub" if is_debian_family(host) else f"{tool} -o {target}"
        return BootChain(
            "grub-mkconfig",
            f"GRUB, {target} generated from {GRUB_DEFAULT}",
            (f"{target}: generated menu", *files),
            (target, *files),
            regenerate,
            _grub_cmdline_file(host, files),
        )
    if config.loader == "legacy-grub":
        return BootChain(
            "grubby",
            "legacy GRUB (RHEL 6), edited by grubby",
            (f"{LEGACY_GRUB}",),
            (LEGACY_GRUB,),
        )
    return BootChain("unknown", "not recognised", tuple(config.unreadable))


def _grub_with_bls(host: Host) -> bool:
    """grub.cfg reads BLS entries (blscfg): grubby's layout."""
    from auditor.facts import GRUB_CFGS

    return any("blscfg" in _text(host, path) for path in GRUB_CFGS)


def _grub_files(host: Host) -> tuple[str, ...]:
    """/etc/default/grub and the grub.d drop-ins grub-mkconfig sources after it."""
    main = (GRUB_DEFAULT,) if host.exists(GRUB_DEFAULT) else ()
    return (*main, *host.glob(GRUB_DROPINS))


def _grub_cmdline_file(host: Host, files: tuple[str, ...]) -> str:
    """The file whose GRUB_CMDLINE_LINUX assignment wins: the last one sourced that sets it
    (a cloud image's drop-in replaces the main file's value), else the main file."""
    winner = GRUB_DEFAULT
    for path in files:
        text = _text(host, path)
        if any(line.strip().startswith("GRUB_CMDLINE_LINUX=") for line in text.splitlines()):
            winner = path
    return winner


def _grub_target(host: Host, config: BootConfig) -> str:
    """The grub.cfg the firmware's GRUB reads: on an EFI boot a full menu on the ESP (RHEL 8,
    Fedora before 34) rather than the stub that only loads /boot/grub2/grub.cfg."""
    if host.exists(EFI_FIRMWARE):
        for path in host.glob(EFI_GRUB_CFGS):
            text = _text(host, path)
            if "menuentry" in text or "blscfg" in text:
                return path
    return config.generated_path or "/boot/grub/grub.cfg"


def installed_kernels(host: Host, config: BootConfig | None = None) -> list[str]:
    """Every kernel release installed: /lib/modules/R, else the boot entries' releases."""
    try:
        releases = [name for name in host.listdir(KERNEL_MODULES) if name[:1].isdigit()]
    except (HostError, NotCollectedError):
        releases = []
    if not releases:
        config = config or configured_boot(host)
        releases = [entry.kernel_release for entry in config.entries if entry.kernel_release]
    return sorted(dict.fromkeys(releases))
