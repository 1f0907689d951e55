"""A sosreport as a host, read in place (folder or archive).

A sosreport (https://github.com/sosreport/sos) copies files to their own paths under its
folder, so host paths map onto it directly, and saves command output under sos_commands/.
What the checks need of that output is laid over the paths they read:

- the kernel log: `dmesg` output, sos_commands/kernel/dmesg (plugin `kernel`), read as the
  saved log;
- the kernel release and host name: sos_commands/kernel/uname_-a, sos_commands/host/hostname
  become /proc/sys/kernel/osrelease and /proc/sys/kernel/hostname where sos lacks them;
- SELinux: sos_commands/selinux/sestatus_-b (mode and booleans; plugin `selinux`) becomes
  /sys/fs/selinux/enforce and /sys/fs/selinux/booleans/*.

What sos never collects (device nodes, the sysfs PCI tree, IOMMU groups, the udev
database) is "not collected": checks that need it skip and say why, never fail.
"""

from __future__ import annotations

import os

from auditor.errors import FileMissingError, HostError, NotCollectedError
from auditor.sources.base import DIR, FILE, Node, Reader, utc
from auditor.sources.rootfs import FILE_LIMIT, LinkLoopError, Resolver
from auditor.sources.tarindex import ArchiveError

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from auditor.registry import LoadedCheck

ARCHIVE_SUFFIXES = (".tar.xz", ".tar.gz", ".tar.bz2", ".tar", ".txz", ".tgz")
DMESG = "/sos_commands/kernel/dmesg"
UNAME = "/sos_commands/kernel/uname_-a"
HOSTNAME = "/sos_commands/host/hostname"
SESTATUS = "/sos_commands/selinux/sestatus_-b"
COMMAND_OUTPUT = (DMESG, UNAME, HOSTNAME, SESTATUS, "/hostname", "/version.txt")

NEVER_COLLECTED = {
    "/dev": "a sosreport holds no device nodes",
    "/sys/bus/pci": "a sosreport holds lspci output, not the sysfs PCI device tree",
    "/sys/kernel/iommu_groups": "a sosreport does not collect IOMMU groups",
    "/sys/class/iommu": "a sosreport does not collect /sys/class/iommu",
    "/run/udev": "a sosreport does not collect the udev database",
}
# Every running Linux has these; a sosreport without one did not collect it.
ALWAYS_PRESENT = ("/proc/cmdline", "/proc/cpuinfo")


def is_sosreport(folder: str) -> bool:
    """sos writes sos_commands/ and, since sos 4, sos_reports/ (3.x: version.txt)."""
    return os.path.isdir(os.path.join(folder, "sos_commands")) and (
        os.path.isdir(os.path.join(folder, "sos_reports"))
        or os.path.isfile(os.path.join(folder, "version.txt"))
    )


def looks_like_archive(path: str) -> bool:
    return path.endswith(ARCHIVE_SUFFIXES)


class SosreportReader(Reader):
    """The host a sosreport describes: its files, with command output laid over them."""

    def __init__(self, inner: Reader, name: str) -> None:
        self.inner = inner
        self.root = name
        self.label = f"sosreport {name}"
        self._resolver = Resolver(inner.link_target)
        self.files: dict[str, bytes] = {}  # host path -> content made from command output
        self.folders: dict[str, set[str]] = {}  # folders those files need -> their names
        self.not_collected = dict(NEVER_COLLECTED)
        self.captured = True
        self._fill_in()

    def close(self) -> None:
        self.inner.close()

    def _text(self, path: str) -> str | None:
        """A file of the sosreport as text, None when it is not there as a file."""
        try:
            real = self._resolver.resolve(path)
            if self.inner.stat(real).kind != FILE:
                return None
            return self.inner.read(real, FILE_LIMIT).decode("utf-8", "replace")
        except (HostError, LinkLoopError):
            return None

    def _add(self, path: str, text: str) -> None:
        self.files[path] = (text + "\n").encode()
        parent, name = path.rsplit("/", 1)
        while parent:
            self.folders.setdefault(parent, set()).add(name)
            parent, name = parent.rsplit("/", 1)
        self.folders.setdefault("/", set()).add(name)

    def _fill_in(self) -> None:
        from auditor.parsers.selinux import parse_sestatus

        notices: list[str] = []
        for path in ALWAYS_PRESENT:
            if self._text(path) is None:
                self.not_collected[path] = "this sosreport did not collect it"

        uname = (self._text(UNAME) or "").split()
        if len(uname) >= 3 and self._text("/proc/sys/kernel/osrelease") is None:
            self._add("/proc/sys/kernel/osrelease", uname[2])
        hostname = self._text(HOSTNAME) or self._text("/hostname")
        if hostname and self._text("/proc/sys/kernel/hostname") is None:
            self._add("/proc/sys/kernel/hostname", hostname.strip())

        sestatus = self._text(SESTATUS)
        if sestatus is None:
            for folder in ("/sys/fs/selinux", "/selinux"):
                self.not_collected[folder] = f"this sosreport has no {SESTATUS.lstrip('/')}"
        else:
            fields, booleans = parse_sestatus(sestatus)
            if fields.get("SELinux status") == "enabled":
                mode = fields.get("Current mode", "")
                self._add("/sys/fs/selinux/enforce", "1" if mode == "enforcing" else "0")
                for name, value in booleans.items():
                    # sestatus shows the current value; the pending one is taken to equal it.
                    bit = "1" if value else "0"
                    self._add(f"/sys/fs/selinux/booleans/{name}", f"{bit} {bit}")
            notices.append(f"SELinux state read from {SESTATUS.lstrip('/')} of the sosreport")
        if self._text(DMESG) is not None:
            self.saved_log = DMESG
        self.notices = tuple(notices)
        # When sos finished writing its report: the time of its manifest (sos 4) or of
        # version.txt (sos 3). sos's own start_time is local time without a zone.
        for marker in ("/sos_reports/manifest.json", "/version.txt"):
            try:
                self.collected_at = utc(self.inner.stat(marker).mtime)
                break
            except HostError:
                continue

    def check(self, path: str) -> None:
        for prefix, reason in self.not_collected.items():
            if path == prefix or path.startswith(prefix + "/"):
                raise NotCollectedError(path, reason)

    def link_target(self, path: str) -> str | None:
        if path in self.files or path in self.folders:
            return None
        return self.inner.link_target(path)

    def stat(self, path: str) -> Node:
        if path in self.files:
            return Node(FILE, len(self.files[path]))
        try:
            return self.inner.stat(path)
        except FileMissingError:
            if path in self.folders:
                return Node(DIR)
            raise

    def listdir(self, path: str) -> list[str]:
        made = self.folders.get(path)
        if made is None:
            return self.inner.listdir(path)
        try:
            names = set(self.inner.listdir(path))
        except FileMissingError:
            names = set()
        return sorted(names | made)

    def read(self, path: str, limit: int) -> bytes:
        if path in self.files:
            return self.files[path]
        return self.inner.read(path, limit)


def open_sosreport(path: str, checks: list[LoadedCheck] | None = None) -> SosreportReader:
    """The reader of a sosreport folder, or of an archive indexed in place (only the members
    `checks` can use are kept; all built-ins when None)."""
    if os.path.isdir(path):
        from auditor.sources.folder import FolderReader

        return SosreportReader(FolderReader(path), path)

    from auditor.registry import load_checks
    from auditor.sources.archive import ArchiveReader
    from auditor.sources.snapshot import reads
    from auditor.sources.tarindex import NotOneFolder, TarIndex

    patterns = reads(checks if checks is not None else load_checks())
    prefixes = tuple(_literal_prefix(pattern).lstrip("/") for pattern in patterns)
    prefixes += (*(path.lstrip("/") for path in COMMAND_OUTPUT), "sos_reports")

    def wanted(name: str) -> bool:
        return any(name == p or name.startswith(p + "/") for p in prefixes)

    try:
        index = TarIndex(path, wanted=wanted)
    except NotOneFolder as exc:
        raise ArchiveError(
            path,
            f"not a sosreport nor a snapshot ({exc.detail}); a tar of a host root is not "
            "read in place: unpack it and give --root the folder",
        ) from None
    inner = ArchiveReader(index, f"/{index.top}")
    has_commands = index.kind(f"/{index.top}/sos_commands") == DIR
    marker = index.kind(f"/{index.top}/sos_reports") or index.kind(f"/{index.top}/version.txt")
    if not has_commands or marker is None:
        index.close()
        raise ArchiveError(
            path, "not a sosreport (no sos_commands/ and sos_reports/) nor a snapshot"
        )
    try:
        return SosreportReader(inner, path)
    except BaseException:
        index.close()
        raise


def _literal_prefix(pattern: str) -> str:
    """The folder part of a pattern before its first wildcard ("/boot" of "/boot/config-*")."""
    parts = []
    for part in pattern.split("/"):
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return "/".join(parts) if len(parts) > 1 else "/"
