#!/usr/bin/env python3
"""hostaudit's snapshot collector: one file, the standard library only, Python 3.6 or newer.

Copy this file to a host that cannot install hostaudit and run it there, as root:

    python3 collect.py > HOST.tar.gz
    python3 collect.py -o HOST.tar.gz --root /mnt/image   # a mounted image instead

then audit the archive anywhere: `hostaudit audit --snapshot HOST.tar.gz`.

It collects what the checks declare they read (READS below, the union of every built-in
check's `reads`; a test keeps the two equal), the kernel log, and the host facts, and
writes them with a manifest into a gzip'd tar (layout in FORMAT below). It reads, never
writes, on the host, and it does not walk folders: a folder named by a pattern is stored
with the names and types of its entries, and a file's content only when a pattern names
the file. Symbolic links stay symbolic links, so sysfs keeps its shape. What could not be
read is recorded with the reason, so that an audit of the snapshot says "needs root" where
a live audit would.
"""

import argparse
import errno
import fnmatch
import gzip
import io
import json
import os
import re
import stat
import sys
import tarfile
import time
from typing import BinaryIO, Dict, Iterator, List, Optional, Set, Tuple

VERSION = "0.1.0"  # hostaudit's version; a test keeps it equal to auditor.__version__
FORMAT = "hostaudit-snapshot"  # the top folder: manifest.json, kmsg (live only), root/...
FORMAT_VERSION = 1
LIMIT = 4 * 1024 * 1024  # per file, as the auditor reads: nothing we read is bigger
KMSG_LIMIT = 4 * 1024 * 1024
KMSG_RECORD_SIZE = 8192
MAX_SYMLINK_HOPS = 40

# Host facts every snapshot carries, besides what the checks read.
FACTS = (
    "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/osrelease",
    "/proc/stat",
    "/etc/hostname",
    "/etc/machine-id",
)

# BEGIN READS: the union of the built-in checks' `reads` (tests/test_snapshot.py keeps it so)
READS = (
    "/boot/config-*",
    "/boot/grub/grub.cfg",
    "/boot/grub/grub.conf",
    "/boot/grub/grubenv",
    "/boot/grub2/grub.cfg",
    "/boot/grub2/grubenv",
    "/boot/loader/entries",
    "/boot/loader/entries/*.conf",
    "/dev/kmsg",
    "/dev/kvm",
    "/etc/default/grub",
    "/etc/default/grub.d",
    "/etc/default/grub.d/*.cfg",
    "/etc/kernel/cmdline",
    "/etc/kernel/proxmox-boot-uuids",
    "/etc/libvirt/qemu",
    "/etc/libvirt/qemu/*.xml",
    "/etc/modprobe.d",
    "/etc/modprobe.d/*.conf",
    "/etc/selinux/*/modules/active/booleans.local",
    "/etc/selinux/config",
    "/lib/modprobe.d",
    "/lib/modprobe.d/*.conf",
    "/proc/cmdline",
    "/proc/config.gz",
    "/proc/cpuinfo",
    "/proc/interrupts",
    "/proc/stat",
    "/proc/sys/kernel/osrelease",
    "/run/modprobe.d",
    "/run/modprobe.d/*.conf",
    "/run/udev/data",
    "/run/udev/data/+pci:*",
    "/selinux/booleans/virt_use_sysfs",
    "/selinux/enforce",
    "/sys/bus/pci/devices",
    "/sys/bus/pci/devices/*",
    "/sys/bus/pci/devices/*/boot_vga",
    "/sys/bus/pci/devices/*/class",
    "/sys/bus/pci/devices/*/config",
    "/sys/bus/pci/devices/*/device",
    "/sys/bus/pci/devices/*/driver",
    "/sys/bus/pci/devices/*/iommu_group",
    "/sys/bus/pci/devices/*/max_link_speed",
    "/sys/bus/pci/devices/*/vendor",
    "/sys/bus/pci/drivers/pci-stub",
    "/sys/bus/pci/drivers/vfio-pci",
    "/sys/class/iommu",
    "/sys/class/iommu/*/intel-iommu/ecap",
    "/sys/firmware/acpi/tables",
    "/sys/firmware/acpi/tables/DMAR",
    "/sys/firmware/acpi/tables/IORT",
    "/sys/firmware/acpi/tables/IVRS",
    "/sys/fs/selinux/booleans/virt_use_sysfs",
    "/sys/fs/selinux/enforce",
    "/sys/kernel/iommu_groups",
    "/sys/kernel/iommu_groups/*/devices",
    "/sys/kernel/iommu_groups/*/reserved_regions",
    "/sys/module/iommufd",
    "/sys/module/iommufd/parameters/allow_unsafe_interrupts",
    "/sys/module/kvm",
    "/sys/module/kvm/parameters/allow_unsafe_assigned_interrupts",
    "/sys/module/kvm_amd",
    "/sys/module/kvm_intel",
    "/sys/module/kvm_pvm",
    "/sys/module/vfio_iommu_type1",
    "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
    "/usr/lib/modprobe.d",
    "/usr/lib/modprobe.d/*.conf",
    "/usr/sbin/grubby",
    "/var/lib/selinux/*/active/booleans.local",
    "/var/log/dmesg",
)
# END READS

# Guest definitions may hold console passwords (<graphics passwd='...'>); no check reads them.
_SECRET = re.compile(rb"""(\b(?:passwd|password)=)(["'])[^"']*\2""")
_MAGIC = ("*", "?", "[")


class Entry:
    """One thing stored: a folder, a symbolic link, a file's content, or only a name."""

    __slots__ = ("content", "kind", "mtime", "target")

    def __init__(self, kind: str, mtime: float = 0.0, target: str = "", content: bytes = b""):
        self.kind = kind  # "dir", "link", "file", or "name" (listed, content not collected)
        self.mtime = mtime
        self.target = target
        self.content = content


class Collector:
    """Reads host paths under `root` the way the auditor's Host does, and keeps them."""

    def __init__(self, root: str = "/") -> None:
        self.root = os.path.abspath(root)
        self.live = self.root == "/"
        self.prefix = "" if self.live else self.root
        self.entries: Dict[str, Entry] = {}
        self.failures: Dict[str, Tuple[str, str]] = {}
        self.listed: Set[str] = set()
        self._resolved: Dict[str, str] = {}
        self.kmsg: Optional[List[bytes]] = None

    # -- resolving inside the root, recording every link on the way --

    def resolve(self, path: str, hops: int = 0) -> str:
        """The host path `path` names, with every symlink resolved inside the root."""
        if hops == 0:
            hit = self._resolved.get(path)
            if hit is None:
                hit = self._resolved[path] = self._resolve(path, 0)
            return hit
        return self._resolve(path, hops)

    def _resolve(self, path: str, hops: int) -> str:
        current = "/"
        for name in [part for part in path.split("/") if part not in ("", ".")]:
            if name == "..":
                current = current.rsplit("/", 1)[0] or "/"
                continue
            candidate = current.rstrip("/") + "/" + name
            try:
                target = os.readlink(self.prefix + candidate)
            except OSError:
                current = candidate
                continue
            if hops >= MAX_SYMLINK_HOPS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links")
            self._keep_link(candidate, target)
            joined = target if target.startswith("/") else current.rstrip("/") + "/" + target
            current = self.resolve(joined, hops + 1)
        return current

    def _keep_link(self, path: str, target: str) -> None:
        folder = path.rsplit("/", 1)[0] or "/"
        absolute = target if target.startswith("/") else folder.rstrip("/") + "/" + target
        # Stored relative and never climbing out of the root: an absolute target (say
        # /dev/null) re-roots, as the auditor resolves it, and stays inside on unpacking.
        if target.startswith("/") or _climbs_out(absolute):
            target = os.path.relpath(_lexical(absolute), folder)
        self.entries[path] = Entry("link", target=target)

    # -- listing and globbing --

    def _real(self, path: str) -> str:
        return self.prefix + self.resolve(path)

    def glob(self, pattern: str) -> List[str]:
        """Host paths matching a pattern whose components may hold *, ? and [...]."""
        matches = ["/"]
        for part in [p for p in pattern.split("/") if p]:
            found: List[str] = []
            for base in matches:
                prefix = base.rstrip("/") + "/"
                if any(ch in part for ch in _MAGIC):
                    try:
                        names = sorted(os.listdir(self._real(base)))
                    except OSError:
                        continue
                    found.extend(prefix + name for name in names if fnmatch.fnmatchcase(name, part))
                else:
                    found.append(prefix + part)
            matches = found
        return [path for path in matches if self._lexists(path)]

    def _is_link(self, path: str) -> bool:
        parent, name = path.rsplit("/", 1)
        return os.path.islink(self.prefix + self.resolve(parent or "/").rstrip("/") + "/" + name)

    def _lexists(self, path: str) -> bool:
        try:
            os.lstat(self.prefix + self.resolve(path.rsplit("/", 1)[0] or "/"))
            os.lstat(self.prefix + self.resolve(path))
        except OSError:
            return False
        return True

    # -- collecting --

    def collect(self, patterns: Tuple[str, ...]) -> None:
        """Keep every path the patterns match (and the links that lead to them)."""
        for pattern in patterns:
            if pattern == "/dev/kmsg":
                self._collect_kmsg()
                continue
            # A folder the pattern names is listed. Folders a wildcard matches (every
            # device of /sys/bus/pci/devices/*) or a link leads to (a device's driver)
            # are kept without their entries.
            named = not any(ch in pattern.rsplit("/", 1)[-1] for ch in _MAGIC)
            for path in self.glob(pattern):
                try:
                    self._collect(path, named and not self._is_link(path))
                except OSError as exc:
                    self.failures[path] = _failure(exc)

    def _collect(self, path: str, listing: bool) -> None:
        real = self.resolve(path)
        info = os.lstat(self.prefix + real)
        self._keep_parents(real)
        if stat.S_ISDIR(info.st_mode):
            if real not in self.entries:
                self.entries[real] = Entry("dir", info.st_mtime)
            if listing:
                self._list_folder(real)
        elif stat.S_ISREG(info.st_mode):
            self._keep_file(real, info)
        else:  # a device node (/dev/kvm), FIFO or socket: its existence is what checks ask
            self._keep_name(real, info)
            self.failures[real] = ("unreadable", "not a regular file")

    def _keep_parents(self, path: str) -> None:
        parent = path.rsplit("/", 1)[0]
        while parent and parent not in self.entries:
            info = os.lstat(self.prefix + parent)
            self.entries[parent] = Entry("dir", info.st_mtime)
            parent = parent.rsplit("/", 1)[0]

    def _list_folder(self, path: str) -> None:
        if path in self.listed:
            return
        self.listed.add(path)
        try:
            names = sorted(os.listdir(self.prefix + path))
        except OSError as exc:
            self.failures[path] = _failure(exc)
            return
        for name in names:
            child = path.rstrip("/") + "/" + name
            if child in self.entries:
                continue
            try:
                child_info = os.lstat(self.prefix + child)
            except OSError:
                continue  # gone while we looked
            if stat.S_ISLNK(child_info.st_mode):
                self._keep_link(child, os.readlink(self.prefix + child))
            elif stat.S_ISDIR(child_info.st_mode):
                self.entries[child] = Entry("dir", child_info.st_mtime)
            else:
                self._keep_name(child, child_info)

    def _keep_name(self, path: str, info: os.stat_result) -> None:
        if path not in self.entries:
            self.entries[path] = Entry("name", info.st_mtime)

    def _keep_file(self, path: str, info: os.stat_result) -> None:
        if path in self.entries and self.entries[path].kind == "file":
            return
        try:
            content = _read(self.prefix + path, LIMIT)
        except OSError as exc:
            self._keep_name(path, info)
            self.failures[path] = _failure(exc)
            return
        if path.startswith("/etc/libvirt/") and path.endswith(".xml"):
            content = _SECRET.sub(rb"\1\2(removed)\2", content)
        self.entries[path] = Entry("file", info.st_mtime, content=content)
        self.failures.pop(path, None)

    def _collect_kmsg(self) -> None:
        """The kernel's ring buffer, record by record, read without blocking (live only).

        A root other than / is an image or a copy, not a running kernel: its saved log
        (/var/log/dmesg) is what an audit of that root reads, and that is collected too.
        """
        if not self.live:
            return
        try:
            fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            self.failures["/dev/kmsg"] = _failure(exc)
            return
        records: List[bytes] = []
        total = 0
        try:
            while total < KMSG_LIMIT:
                try:
                    record = os.read(fd, KMSG_RECORD_SIZE)
                except BlockingIOError:
                    break  # EAGAIN: the end of the buffer
                except OSError as exc:
                    if exc.errno == errno.EPIPE:
                        continue  # overwritten while we read; go on
                    self.failures["/dev/kmsg"] = _failure(exc)
                    return
                if not record:
                    break
                records.append(record)
                total += len(record)
        finally:
            os.close(fd)
        self.kmsg = records

    # -- host facts --

    def facts(self) -> Dict[str, object]:
        """hostname, kernel release, boot time and machine id, from the collected files."""

        def text(path: str) -> Optional[str]:
            entry = self.entries.get(self.resolve(path))
            if entry is None or entry.kind != "file":
                return None
            return entry.content.decode("utf-8", "replace").strip() or None

        boot_time = None
        for line in (text("/proc/stat") or "").splitlines():
            if line.startswith("btime "):
                boot_time = int(line.split()[1])
        return {
            "hostname": text("/proc/sys/kernel/hostname") or text("/etc/hostname"),
            "kernel_release": text("/proc/sys/kernel/osrelease"),
            "boot_time": boot_time,
            "machine_id": text("/etc/machine-id"),
        }


def _read(path: str, limit: int) -> bytes:
    """A regular file whole, bounded, without following a final link or blocking."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        chunks: List[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise OSError(errno.EFBIG, f"larger than {limit} bytes")
    finally:
        os.close(fd)


def _failure(exc: OSError) -> Tuple[str, str]:
    """(kind, detail) the auditor turns back into the error a live read would raise."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return ("missing", "")
    if exc.errno in (errno.EACCES, errno.EPERM):
        if os.geteuid() != 0:
            return ("needs-root", "")
        return ("unreadable", "permission denied")
    return ("unreadable", exc.strerror or str(exc))


def _lexical(path: str) -> str:
    """`..` and `.` removed by name, never climbing above /."""
    parts: List[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/" + "/".join(parts)


def _climbs_out(path: str) -> bool:
    depth = 0
    for part in path.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


# -- writing the archive --


def manifest(
    collector: Collector, patterns: Tuple[str, ...], extra: Optional[Dict[str, object]] = None
) -> Dict[str, object]:
    """What the snapshot holds and what could not be read, for people and for the auditor."""
    return dict(
        extra or {},
        **{
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "tool_version": VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "collected_as_root": os.geteuid() == 0,
            "python": sys.version.split()[0],
            "root": collector.root,
            "live": collector.live,
            "host": collector.facts(),
            "reads": list(patterns),
            "kmsg": collector.kmsg is not None,
            "unreadable": {
                path: {"reason": kind, "detail": detail}
                for path, (kind, detail) in sorted(collector.failures.items())
            },
            "listed_only": sorted(
                path
                for path, entry in collector.entries.items()
                if entry.kind == "name" and path not in collector.failures
            ),
        },
    )


def members(
    collector: Collector, patterns: Tuple[str, ...], extra: Optional[Dict[str, object]] = None
) -> Iterator[Tuple[tarfile.TarInfo, bytes]]:
    """The archive's members in order: manifest first, so a reader knows the format at once."""

    def member(
        name: str, kind: bytes, mtime: float, data: bytes = b"", target: str = ""
    ) -> Tuple[tarfile.TarInfo, bytes]:
        info = tarfile.TarInfo(FORMAT + name)
        # Whole seconds keep a member to one ustar header; only boot configuration files
        # need their fraction ("edited after boot" is compared with the boot time).
        if name.startswith(("/root/sys/", "/root/proc/", "/root/dev/")) or mtime == int(mtime):
            mtime = int(mtime)
        info.type, info.mtime, info.linkname = kind, mtime, target
        info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        info.size = len(data)
        return info, data

    now = time.time()
    data = json.dumps(manifest(collector, patterns, extra), indent=1, sort_keys=True).encode()
    yield member("/manifest.json", tarfile.REGTYPE, now, data)
    if collector.kmsg is not None:
        # Records hold no NUL (the kernel escapes it as \x00): NUL separates them.
        yield member("/kmsg", tarfile.REGTYPE, now, b"\0".join(collector.kmsg))
    yield member("/root", tarfile.DIRTYPE, now)
    for path in sorted(collector.entries):
        entry = collector.entries[path]
        name = "/root" + path
        if entry.kind == "dir":
            yield member(name, tarfile.DIRTYPE, entry.mtime)
        elif entry.kind == "link":
            yield member(name, tarfile.SYMTYPE, entry.mtime, target=entry.target)
        else:  # a file's content, or an empty stand-in for a name listed only
            yield member(name, tarfile.REGTYPE, entry.mtime, entry.content)


def write_archive(
    collector: Collector,
    patterns: Tuple[str, ...],
    stream: BinaryIO,
    extra: Optional[Dict[str, object]] = None,
    compress: bool = True,
) -> None:
    """A gzip'd POSIX (pax) tar: pax keeps sub-second modification times and long names.

    `extra`: more manifest keys (a sosreport's gaps); `compress=False` for a tar that is
    unpacked at once on the same machine.
    """
    out = gzip.GzipFile(fileobj=stream, mode="wb", mtime=0) if compress else stream
    with out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members(collector, patterns, extra):
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def snapshot(root: str, patterns: Tuple[str, ...]) -> Collector:
    """Collect `patterns` and the host facts under `root`."""
    collector = Collector(root)
    collector.collect(tuple(dict.fromkeys(patterns + FACTS)))
    return collector


def summary(collector: Collector) -> str:
    files = sum(1 for entry in collector.entries.values() if entry.kind == "file")
    links = sum(1 for entry in collector.entries.values() if entry.kind == "link")
    needs_root = sum(1 for kind, _ in collector.failures.values() if kind == "needs-root")
    text = f"collected {files} files and {links} links from {collector.root}"
    if collector.failures:
        text += f"; {len(collector.failures)} could not be read"
        if needs_root:
            text += f" ({needs_root} need root: run as root for a complete snapshot)"
    return text


def main(argv: Optional[List[str]] = None, patterns: Tuple[str, ...] = READS) -> int:
    parser = argparse.ArgumentParser(
        prog="collect.py", description="Collect what hostaudit reads into a snapshot archive."
    )
    parser.add_argument("--root", default="/", help="the host root (default: /, this host)")
    parser.add_argument("-o", "--output", help="write the archive here (default: standard output)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print no summary")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.root):
        print(f"collect.py: --root {args.root}: not a folder", file=sys.stderr)
        return 2
    if args.output is None and sys.stdout.isatty():
        print(
            "collect.py: standard output is a terminal; give -o FILE or redirect", file=sys.stderr
        )
        return 2
    collector = snapshot(args.root, patterns)
    try:
        if args.output is None:
            write_archive(collector, patterns, sys.stdout.buffer)
            sys.stdout.flush()
        else:
            temp = f"{args.output}.{os.getpid()}.tmp"
            try:
                with open(temp, "wb") as handle:
                    write_archive(collector, patterns, handle)
                os.replace(temp, args.output)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
    except OSError as exc:
        print(f"collect.py: cannot write the archive: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(summary(collector), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
