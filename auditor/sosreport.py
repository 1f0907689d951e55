"""Auditing a sosreport: use what it holds, and say what it cannot tell.

A sosreport (https://github.com/sosreport/sos) copies files to their own paths under its
folder and saves command output under sos_commands/. We turn the part the checks read
into a snapshot (auditor/collect.py, with the sosreport folder as the root), then fill
in what sos keeps as command output:

- the kernel log: `dmesg` output, sos_commands/kernel/dmesg (plugin `kernel`);
- the kernel release and host name: sos_commands/kernel/uname_-a, sos_commands/host/hostname;
- SELinux: sos_commands/selinux/sestatus_-b (mode and booleans; plugin `selinux`).

What sos never collects (device nodes, the sysfs PCI tree, IOMMU groups, the udev
database) is marked "not collected": checks that need it skip and say why, never fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager

from auditor import collect
from auditor.archive import ArchiveError, unpack
from auditor.host import Host

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator

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


@contextmanager
def open_sosreport(path: str, checks: list[LoadedCheck] | None = None) -> Iterator[Host]:
    """A Host on a sosreport folder or archive (`checks` decide what is read)."""
    from auditor.registry import load_checks
    from auditor.snapshot import load, reads

    patterns = reads(checks if checks is not None else load_checks())
    temp = tempfile.mkdtemp(prefix="hostaudit-sosreport-")
    try:
        folder = path
        if not os.path.isdir(path):
            folder = _unpack_sosreport(path, os.path.join(temp, "sos"), patterns)
        collector = collect.snapshot(folder, patterns + COMMAND_OUTPUT)
        extra = _fill_in(collector)
        archive = os.path.join(temp, "snapshot.tar")
        with open(archive, "wb") as handle:
            collect.write_archive(collector, patterns, handle, extra, compress=False)
        os.mkdir(os.path.join(temp, "snapshot"))
        unpack(archive, os.path.join(temp, "snapshot"), top=collect.FORMAT)
        yield load(os.path.join(temp, "snapshot", collect.FORMAT), path, kind="sosreport")
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _unpack_sosreport(archive: str, target: str, patterns: tuple[str, ...]) -> str:
    """Unpack only the members the checks can use; return the sosreport's folder."""
    prefixes = tuple(_literal_prefix(pattern).lstrip("/") for pattern in patterns)
    prefixes += (*(path.lstrip("/") for path in COMMAND_OUTPUT), "sos_reports")

    def wanted(name: str) -> bool:
        return any(name == p or name.startswith(p + "/") for p in prefixes)

    os.mkdir(target)
    names = unpack(archive, target, wanted=wanted)
    folder = os.path.join(target, names[0].split("/", 1)[0])
    if not is_sosreport(folder):
        raise ArchiveError(archive, "not a sosreport (no sos_commands/ and sos_reports/)")
    return folder


def _literal_prefix(pattern: str) -> str:
    """The folder part of a pattern before its first wildcard ("/boot" of "/boot/config-*")."""
    parts = []
    for part in pattern.split("/"):
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return "/".join(parts) if len(parts) > 1 else "/"


def _fill_in(collector: collect.Collector) -> dict[str, object]:
    """Add what sos kept as command output; return the manifest's sosreport keys."""
    from auditor.parsers.selinux import parse_sestatus

    notices: list[str] = []
    not_collected = dict(NEVER_COLLECTED)
    for path in ALWAYS_PRESENT:
        if _text(collector, path) is None:
            not_collected[path] = "this sosreport did not collect it"

    uname = (_text(collector, UNAME) or "").split()
    if len(uname) >= 3 and _text(collector, "/proc/sys/kernel/osrelease") is None:
        _add(collector, "/proc/sys/kernel/osrelease", uname[2])
    hostname = _text(collector, HOSTNAME) or _text(collector, "/hostname")
    if hostname and _text(collector, "/proc/sys/kernel/hostname") is None:
        _add(collector, "/proc/sys/kernel/hostname", hostname.strip())

    sestatus = _text(collector, SESTATUS)
    if sestatus is None:
        for folder in ("/sys/fs/selinux", "/selinux"):
            not_collected[folder] = f"this sosreport has no {SESTATUS.lstrip('/')}"
    else:
        fields, booleans = parse_sestatus(sestatus)
        if fields.get("SELinux status") == "enabled":
            mode = fields.get("Current mode", "")
            _add(collector, "/sys/fs/selinux/enforce", "1" if mode == "enforcing" else "0")
            for name, value in booleans.items():
                # sestatus shows the current value; the pending one is taken to equal it.
                bit = "1" if value else "0"
                _add(collector, f"/sys/fs/selinux/booleans/{name}", f"{bit} {bit}")
        notices.append(f"SELinux state read from {SESTATUS.lstrip('/')} of the sosreport")

    saved_log = DMESG if _text(collector, DMESG) is not None else "/var/log/dmesg"
    return {"not_collected": not_collected, "saved_log": saved_log, "notices": notices}


def _text(collector: collect.Collector, path: str) -> str | None:
    try:
        entry = collector.entries.get(collector.resolve(path))
    except OSError:
        return None
    if entry is None or entry.kind != "file":
        return None
    return entry.content.decode("utf-8", "replace")


def _add(collector: collect.Collector, path: str, text: str) -> None:
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts)):
        collector.entries.setdefault("/" + "/".join(parts[:depth]), collect.Entry("dir"))
    collector.entries[path] = collect.Entry("file", content=(text + "\n").encode())
