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

This file also holds the two primitives hostaudit's own folder reader is built on: RootFS
(files under a root, opened without following a link out of it) and Resolver (links
resolved inside the root). The collector must run alone, so the auditor imports them from
here instead of keeping a second copy.
"""

import errno
import os
import re
import stat
import sys

TYPE_CHECKING = False  # `typing` costs milliseconds at start-up; mypy treats this name as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, BinaryIO, Callable, Dict, Iterator, List, Optional, Set, Tuple

VERSION = "0.1.0"  # hostaudit's version; a test keeps it equal to auditor.__version__
FORMAT = "hostaudit-snapshot"  # the top folder: manifest.json, kmsg (live only), root/...
FORMAT_VERSION = 1

# Limits, shared by the collector and by hostaudit's readers (SECURITY.md lists them), so
# that a snapshot the collector writes is one `hostaudit audit --snapshot` accepts.
FILE_LIMIT = 4 << 20  # one file: nothing the checks read is bigger (a large /proc/interrupts)
READ_BUDGET = 64 << 20  # every file of one audit or snapshot together (4,000 functions: ~20 MiB)
KMSG_LIMIT = 4 << 20
KMSG_RECORD_SIZE = 8192  # a read from /dev/kmsg smaller than one record fails with EINVAL
MAX_MEMBERS = 200000  # names in one snapshot (4,000 functions: ~50,000), and in one folder
MAX_SYMLINK_HOPS = 40  # links followed in one lookup, as the kernel allows (MAXSYMLINKS)
# What sysfs (a page: 4 KiB, 64 KiB on some arm64 and ppc64 kernels) and procfs (0) report as
# the size of every attribute, whatever it holds: never a bound, only a reason to read.
PSEUDO_SIZES = frozenset((0, 4096, 16384, 65536))
MAX_DIR_FDS = 256  # folder descriptors RootFS keeps open to avoid walking from the root again

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
    "/boot/efi/EFI",
    "/boot/efi/EFI/*/grub.cfg",
    "/boot/grub/grub.cfg",
    "/boot/grub/grub.conf",
    "/boot/grub/grubenv",
    "/boot/grub2/grub.cfg",
    "/boot/grub2/grubenv",
    "/boot/loader/entries",
    "/boot/loader/entries/*.conf",
    "/dev/iommu",
    "/dev/kmsg",
    "/dev/kvm",
    "/dev/vfio",
    "/dev/vfio/devices",
    "/dev/vfio/vfio",
    "/etc/NIXOS",
    "/etc/NetworkManager/system-connections",
    "/etc/NetworkManager/system-connections/*.nmconnection",
    "/etc/default/grub",
    "/etc/default/grub.d",
    "/etc/default/grub.d/*.cfg",
    "/etc/dracut.conf",
    "/etc/dracut.conf.d",
    "/etc/dracut.conf.d/*.conf",
    "/etc/driverctl.d",
    "/etc/driverctl.d/*",
    "/etc/initramfs-tools",
    "/etc/initramfs-tools/modules",
    "/etc/kernel/cmdline",
    "/etc/kernel/proxmox-boot-uuids",
    "/etc/kernelstub",
    "/etc/kernelstub/configuration",
    "/etc/libvirt/qemu",
    "/etc/libvirt/qemu/*.xml",
    "/etc/mkinitcpio.conf",
    "/etc/modprobe.d",
    "/etc/modprobe.d/*.conf",
    "/etc/modules",
    "/etc/modules-load.d",
    "/etc/modules-load.d/*.conf",
    "/etc/os-release",
    "/etc/selinux/*/modules/active/booleans.local",
    "/etc/selinux/config",
    "/etc/systemd/system",
    "/etc/systemd/system/*.service",
    "/etc/udev/rules.d",
    "/etc/udev/rules.d/*.rules",
    "/lib/modprobe.d",
    "/lib/modprobe.d/*.conf",
    "/lib/modules",
    "/lib/modules/*/config",
    "/lib/modules/*/modules.builtin",
    "/lib/udev/rules.d",
    "/lib/udev/rules.d/*.rules",
    "/proc/cmdline",
    "/proc/config.gz",
    "/proc/cpuinfo",
    "/proc/interrupts",
    "/proc/iomem",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/sys/kernel/osrelease",
    "/proc/version",
    "/run/modprobe.d",
    "/run/modprobe.d/*.conf",
    "/run/ostree-booted",
    "/run/udev/data",
    "/run/udev/data/+pci:*",
    "/selinux/booleans/virt_use_sysfs",
    "/selinux/enforce",
    "/sys",
    "/sys/bus/pci/devices",
    "/sys/bus/pci/devices/*",
    "/sys/bus/pci/devices/*/boot_vga",
    "/sys/bus/pci/devices/*/class",
    "/sys/bus/pci/devices/*/config",
    "/sys/bus/pci/devices/*/device",
    "/sys/bus/pci/devices/*/driver",
    "/sys/bus/pci/devices/*/driver_override",
    "/sys/bus/pci/devices/*/iommu_group",
    "/sys/bus/pci/devices/*/max_link_speed",
    "/sys/bus/pci/devices/*/physfn",
    "/sys/bus/pci/devices/*/reset_method",
    "/sys/bus/pci/devices/*/sriov_numvfs",
    "/sys/bus/pci/devices/*/vendor",
    "/sys/bus/pci/drivers/pci-stub",
    "/sys/bus/pci/drivers/vfio-pci",
    "/sys/bus/pci/slots",
    "/sys/bus/pci/slots/*/address",
    "/sys/class/dmi/id/product_name",
    "/sys/class/dmi/id/sys_vendor",
    "/sys/class/iommu",
    "/sys/class/iommu/*/intel-iommu/ecap",
    "/sys/firmware/acpi/tables",
    "/sys/firmware/acpi/tables/DMAR",
    "/sys/firmware/acpi/tables/IORT",
    "/sys/firmware/acpi/tables/IVRS",
    "/sys/firmware/efi",
    "/sys/fs/selinux/booleans/virt_use_sysfs",
    "/sys/fs/selinux/enforce",
    "/sys/kernel/iommu_groups",
    "/sys/kernel/iommu_groups/*/devices",
    "/sys/kernel/iommu_groups/*/reserved_regions",
    "/sys/kernel/mm/hugepages",
    "/sys/kernel/mm/hugepages/hugepages-*/nr_hugepages",
    "/sys/module",
    "/sys/module/iommufd",
    "/sys/module/iommufd/parameters/allow_unsafe_interrupts",
    "/sys/module/kvm",
    "/sys/module/kvm/parameters/allow_unsafe_assigned_interrupts",
    "/sys/module/kvm_amd",
    "/sys/module/kvm_intel",
    "/sys/module/kvm_pvm",
    "/sys/module/vfio_iommu_type1",
    "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
    "/sys/module/vfio_pci",
    "/sys/module/vfio_pci/initstate",
    "/sys/module/vfio_pci/parameters",
    "/usr/bin/driverctl",
    "/usr/lib/bootc/kargs.d",
    "/usr/lib/modprobe.d",
    "/usr/lib/modprobe.d/*.conf",
    "/usr/lib/modules-load.d",
    "/usr/lib/modules-load.d/*.conf",
    "/usr/lib/udev/rules.d",
    "/usr/lib/udev/rules.d/*.rules",
    "/usr/sbin/driverctl",
    "/usr/sbin/grubby",
    "/var/lib/selinux/*/active/booleans.local",
    "/var/log/dmesg",
)
# END READS

_MAGIC = ("*", "?", "[")
_UNLISTED: "Dict[str, str]" = {}  # marks a folder not listed yet (None: unlistable)


# -- errors RootFS raises besides the OSError of a system call -------------------------------


class NotRegularError(OSError):
    """The path is a device node, FIFO, socket or link where a regular file was expected.

    Raised before the file is opened for reading: opening a watchdog arms it, opening a tape
    rewinds it, opening a FIFO can block.
    """

    def __init__(self, path: str) -> None:
        super().__init__(errno.EINVAL, "not a regular file", path)


class BudgetError(OSError):
    """The total read budget of this audit or snapshot is spent."""

    def __init__(self, path: str, budget: int) -> None:
        super().__init__(
            errno.EFBIG, "the read budget of %d MiB for one run is spent" % (budget >> 20), path
        )


class LinkLoopError(OSError):
    """More than MAX_SYMLINK_HOPS links in one lookup (a loop, or a chain built to be slow)."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ELOOP, "too many levels of symbolic links", path)


class EscapeError(OSError):
    """A lookup climbed above the root (only raised by a Resolver made with clamp=False)."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.EXDEV, "resolves outside the root", path)


# -- links resolved inside a root ---------------------------------------------------------------


class Resolver(object):
    """Host paths with every symbolic link resolved inside a root, as a chroot resolves them.

    An absolute target starts again at the root and `..` stops there (clamp=False makes
    climbing above the root an EscapeError instead, for checking archives). Each component
    is looked up once: the result of following "a resolved folder + a name" is remembered
    with the number of links it took, so a chain of links that point at the next one twice
    costs linear time, not exponential, and a lookup that needs more than MAX_SYMLINK_HOPS
    links in all fails with ELOOP as the kernel's does. Components are walked in a loop;
    only following a link recurses, at most MAX_SYMLINK_HOPS deep.
    """

    def __init__(
        self,
        link_target: "Callable[[str], Optional[str]]",
        on_link: "Optional[Callable[[str, str], None]]" = None,
        clamp: bool = True,
    ) -> None:
        self.link_target = link_target  # the raw target of a link, None when not a link
        self.on_link = on_link  # told of every link met, once (the collector keeps them)
        self.clamp = clamp
        # resolved folder + name -> itself when not a link, else (where it leads, links taken)
        self._names: "Dict[str, Any]" = {}
        self._paths: "Dict[str, str]" = {"/": "/"}

    def resolve(self, path: str) -> str:
        """The resolved host path of `path` (which starts with '/')."""
        hit = self._paths.get(path)
        if hit is None:
            parent, _, name = path.rpartition("/")
            base = self._paths.get(parent or "/")
            if base is not None and name not in ("", ".", ".."):
                hit = self._step(base, name, path, 0, 0)[0]  # most lookups: parent known
            else:
                hit = self._walk(path, 0)[0]
            self._paths[path] = hit
        return hit

    def _walk(self, path: str, used: int, current: str = "/") -> "Tuple[str, int]":
        """Follow the components of `path` from the resolved folder `current`."""
        hops = 0
        for name in path.split("/"):
            if name == "" or name == ".":
                continue
            if name == "..":
                if current == "/" and not self.clamp:
                    raise EscapeError(path)
                current = current.rsplit("/", 1)[0] or "/"
                continue
            current, hops = self._step(current, name, path, used, hops)
        return current, hops

    def _step(self, current: str, name: str, path: str, used: int, hops: int) -> "Tuple[str, int]":
        """Follow `name` in the resolved folder `current`; (where it leads, hops so far)."""
        candidate = current + name if current == "/" else current + "/" + name
        known = self._names.get(candidate)
        if known is None:
            target = self.link_target(candidate)
            if target is None:
                known = self._names[candidate] = candidate  # not a link: itself, no hop
                return known, hops
            if used + hops + 1 > MAX_SYMLINK_HOPS:
                raise LinkLoopError(path)
            if self.on_link is not None:
                self.on_link(candidate, target)
            # An absolute target starts again at the root; a relative one from the
            # folder the link is in, which is resolved already.
            start = "/" if target.startswith("/") else current
            resolved, taken = self._walk(target, used + hops + 1, start)
            known = self._names[candidate] = (resolved, taken + 1)
        elif known.__class__ is str:
            return known, hops
        hops += known[1]
        if used + hops > MAX_SYMLINK_HOPS:
            raise LinkLoopError(path)
        return known[0], hops


# -- files under a root, never followed out of it --------------------------------------------


class RootFS(object):
    """Files under a root folder, read without ever following a link out of it.

    Paths given here are host paths whose links are already resolved (Resolver). Every
    component is opened relative to its parent's descriptor with O_NOFOLLOW, so a folder
    swapped for a link while we read fails (ELOOP/ENOTDIR) instead of leading out of the
    root. A file's type is checked on an O_PATH descriptor, which opens nothing, before the
    file is opened for reading, through that same descriptor (/proc/self/fd), so the file
    checked is the file read. On the live host (root "/") the kernel resolves links itself:
    nothing lies outside "/".

    Every byte read counts against one budget (READ_BUDGET): a root of 300 sparse 4 MiB
    files does not become 1.2 GB of memory.
    """

    def __init__(self, root: str = "/", budget: int = READ_BUDGET) -> None:
        self.root = os.path.abspath(root)
        self.live = self.root == "/"
        self.budget = budget
        self.spent = 0
        self._dirs: "Dict[str, int]" = {}
        self._root_fd = -1
        # Reopening an O_PATH descriptor through /proc/self/fd opens the very file checked.
        try:
            self._proc_fd = os.open("/proc/self/fd", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            self._proc_fd = -1  # no /proc: open by name again and compare (_open_checked)
        if not self.live:
            # The root itself is the operator's choice: it may be reached through a link.
            self._root_fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        """Close every descriptor held."""
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()
        for fd in (self._root_fd, self._proc_fd):
            if fd >= 0:
                os.close(fd)
        self._root_fd = self._proc_fd = -1

    def __enter__(self) -> "RootFS":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _dir(self, path: str) -> int:
        """An O_PATH descriptor of the folder `path`, opened one component at a time."""
        if path == "/":
            return self._root_fd
        fd = self._dirs.get(path)
        if fd is not None:
            return fd
        parts = path.split("/")  # ["", "sys", "bus", ...]
        depth = len(parts) - 1
        while depth > 1 and "/".join(parts[:depth]) not in self._dirs:
            depth -= 1
        fd = self._dirs[("/".join(parts[:depth]))] if depth > 1 else self._root_fd
        for end in range(depth + 1, len(parts) + 1):
            fd = os.open(
                parts[end - 1],
                os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                dir_fd=fd,
            )
            # Forget the oldest: the collector and the checks visit one folder's entries
            # together, so a folder opened long ago is rarely needed again (and one
            # openat() away if it is).
            if len(self._dirs) >= MAX_DIR_FDS:
                oldest = next(iter(self._dirs))
                os.close(self._dirs.pop(oldest))
            self._dirs["/".join(parts[:end])] = fd
        return fd

    def _at(self, path: str) -> "Tuple[Optional[int], str]":
        """(descriptor of the parent folder, name) for the *at() system calls."""
        if self.live:
            return None, path
        parent, _, name = path.rpartition("/")
        fd = self._dirs.get(parent)
        return (fd if fd is not None else self._dir(parent or "/")), name

    def link_target(self, path: str) -> "Optional[str]":
        """The raw target of the link `path`; None when it is not a link or does not exist."""
        if path == "/":
            return None
        try:
            folder, name = self._at(path)
            return os.readlink(name, dir_fd=folder)
        except OSError:
            return None

    def lstat(self, path: str) -> os.stat_result:
        """The path's own status (a final link is not followed)."""
        if path == "/" and not self.live:
            return os.fstat(self._root_fd)
        folder, name = self._at(path)
        return os.stat(name, dir_fd=folder, follow_symlinks=False)

    def listdir(self, path: str) -> "List[str]":
        """The names in folder `path`, unsorted; more than MAX_MEMBERS is refused."""
        return list(self.scan(path))

    def scan(self, path: str) -> "Dict[str, str]":
        """The names in folder `path` with their kinds ("file", "dir", "link", "other"),
        from the folder's own listing (d_type): one system call for every name's type."""
        if self.live:
            return _kinds(os.scandir(path), path)
        folder, name = (self._root_fd, ".") if path == "/" else self._at(path)
        # O_DIRECTORY fails on anything else before a device could be opened.
        fd = os.open(
            name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=folder
        )
        try:
            try:
                entries = os.scandir(fd)
            except TypeError:  # Python 3.6: no scandir() of a descriptor
                return {
                    child: _kind(os.stat(child, dir_fd=fd, follow_symlinks=False).st_mode)
                    for child in _bounded(os.listdir(fd), path)
                }
            return _kinds(entries, path)
        finally:
            os.close(fd)

    def read(self, path: str, limit: int = FILE_LIMIT) -> bytes:
        """A regular file whole; EFBIG beyond `limit`, NotRegularError for anything else."""
        return self.read_stat(path, limit)[0]

    def read_stat(self, path: str, limit: int = FILE_LIMIT) -> "Tuple[bytes, os.stat_result]":
        """read(), with the status of the file read."""
        if self.spent >= self.budget:
            raise BudgetError(path, self.budget)
        folder, name = self._at(path)
        flags = os.O_PATH | os.O_CLOEXEC | (0 if self.live else os.O_NOFOLLOW)
        probe = os.open(name, flags, dir_fd=folder)
        try:
            info = os.fstat(probe)
            if not stat.S_ISREG(info.st_mode):
                raise NotRegularError(path)
            # sysfs attributes say 4096 (a page) and procfs files 0, whatever they hold
            # (fs/sysfs/file.c sysfs_add_file_mode_ns(), fs/proc/generic.c): their size is
            # known only by reading, and the limit applies to the bytes read below. Any
            # other size is the file's own: a sparse giant is refused without a byte read.
            trusted = info.st_size not in PSEUDO_SIZES
            if trusted and info.st_size > limit:
                raise OSError(errno.EFBIG, "larger than %d bytes" % limit, path)
            fd = self._open_checked(probe, info, name, folder)
        finally:
            os.close(probe)
        try:
            # One read of the size fstat gives where that size is the file's own, and reads
            # until the end where it is not: procfs and sysfs give content a page at a time.
            chunks: "List[bytes]" = []
            size = 0
            want = min(info.st_size, limit) + 1 if trusted else min(limit + 1, 65536)
            while True:
                chunk = os.read(fd, want)
                size += len(chunk)
                self.spent += len(chunk)
                if size > limit:
                    raise OSError(errno.EFBIG, "larger than %d bytes" % limit, path)
                if self.spent > self.budget:
                    raise BudgetError(path, self.budget)
                if chunk:
                    chunks.append(chunk)
                if not chunk or (trusted and len(chunk) < want and not self.live):
                    return b"".join(chunks), info
                want = min(limit + 1 - size, 65536)
        finally:
            os.close(fd)

    def _open_checked(
        self, probe: int, info: os.stat_result, name: str, folder: "Optional[int]"
    ) -> int:
        """Open for reading the very file `probe` refers to (type checked already)."""
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
        if self._proc_fd >= 0:
            return os.open(str(probe), flags, dir_fd=self._proc_fd)
        # Without /proc: open by name again and make sure it is still the same file.
        fd = os.open(name, flags | (0 if self.live else os.O_NOFOLLOW), dir_fd=folder)
        again = os.fstat(fd)
        if (again.st_dev, again.st_ino) != (info.st_dev, info.st_ino):
            os.close(fd)
            raise OSError(errno.EAGAIN, "the file changed while it was opened", name)
        return fd


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "link" if stat.S_ISLNK(mode) else "other"


def _bounded(names: "List[str]", path: str) -> "List[str]":
    if len(names) > MAX_MEMBERS:
        raise OSError(errno.E2BIG, "more than %d entries" % MAX_MEMBERS, path)
    return names


def _kinds(entries: "Iterator[os.DirEntry]", path: str) -> "Dict[str, str]":
    """Names and kinds from a scandir() iterator, stopping past MAX_MEMBERS."""
    kinds: "Dict[str, str]" = {}
    with entries:  # type: ignore[attr-defined]
        for entry in entries:
            if entry.is_symlink():
                kinds[entry.name] = "link"
            elif entry.is_dir(follow_symlinks=False):
                kinds[entry.name] = "dir"
            elif entry.is_file(follow_symlinks=False):
                kinds[entry.name] = "file"
            else:
                kinds[entry.name] = "other"
            if len(kinds) > MAX_MEMBERS:
                raise OSError(errno.E2BIG, "more than %d entries" % MAX_MEMBERS, path)
    return kinds


def read_kmsg_records(path: str = "/dev/kmsg", limit: int = KMSG_LIMIT) -> "List[bytes]":
    """Every record in the kernel ring buffer, read once without blocking (live hosts only).

    /dev/kmsg is the one device node hostaudit opens on purpose; its type is checked first.
    """
    if not stat.S_ISCHR(os.stat(path).st_mode):
        raise NotRegularError(path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    records: "List[bytes]" = []
    total = 0
    try:
        if not stat.S_ISCHR(os.fstat(fd).st_mode):
            raise NotRegularError(path)
        while total < limit:
            try:
                record = os.read(fd, KMSG_RECORD_SIZE)
            except BlockingIOError:
                break  # EAGAIN: the end of the buffer
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue  # the record was overwritten while we read; go on
                raise
            if not record:
                break
            records.append(record)
            total += len(record)
    finally:
        os.close(fd)
    return records


# -- secrets: removed from guest definitions before they are stored ---------------------------

# libvirt domain XML keeps console passwords in attributes (<graphics passwd=...>); disk and
# hostdev authentication (<auth>, <encryption>) refers to secrets by uuid or usage, whose
# values live under /etc/libvirt/secrets, which no check reads. Removed: every attribute with
# one of these names, the text of any <secret>, and qemu:arg values that carry a password.
_SECRET_ATTRIBUTES = ("passwd", "password", "passphrase")


# Kernel parameters whose values are secrets: dracut's rd.iscsi.password=, rd.iscsi.in.password=
# and friends (dracut.cmdline(7)) sit on command lines in /proc/cmdline, boot entries and
# /etc/default/grub. Their values are replaced wherever a command line is stored or shown.
_SECRET_WORD = re.compile("password|passwd|secret")
_SPACE = " \t\n\r\v\f"
REMOVED = "(removed)"


def redact_secrets(text: str) -> str:
    """`text` with the value of every secret-named parameter (NAME=VALUE whose NAME holds
    password, passwd or secret, in any case) replaced by (removed). A quoted value ends at its
    closing quote on the same line (an unclosed one, as the kernel's next_arg() reads it, at
    the end of the line), any other value at whitespace. Linear: each character is scanned a
    bounded number of times, however many names and quotes a hostile line holds."""
    lowered = text.lower()
    if "pass" not in lowered and "secret" not in lowered:
        return text  # the common case costs one scan
    out: list[str] = []
    done = 0  # text[:done] is in out already
    scanned = 0  # no `=` ends a name that starts before this
    eol = -1  # the end of the line of the last value, found once per line
    for match in _SECRET_WORD.finditer(lowered):
        at = max(match.end(), scanned, done)
        while at < len(text) and text[at] != "=" and text[at] not in _SPACE:
            at += 1
        scanned = at
        if at >= len(text) or text[at] != "=":
            continue  # no value: a name alone, or the word inside a value
        start = end = at + 1
        if text[start : start + 1] in ('"', "'"):
            if eol < start:
                eol = text.find("\n", start)
                eol = len(text) if eol < 0 else eol
            close = text.find(text[start], start + 1, eol)
            end = eol if close < 0 else close + 1
        while end < len(text) and text[end] not in _SPACE:
            end += 1
        out += (text[done:start], REMOVED)
        done = scanned = end
    out.append(text[done:])
    return "".join(out)


# What the checks read of each kind of file, and so all the collector keeps of it:
# NetworkManager keyfiles hold Wi-Fi PSKs, WireGuard private keys and 802.1X and VPN
# passwords, of which pci.driver-binding needs only the [sriov] section and the interface it
# configures; systemd units (Environment= may hold credentials) and udev rules only whether
# they write sriov_numvfs; boot configuration may hold GRUB's password hashes.
NM_KEPT = {"connection": ("id", "type", "interface-name")}


def scrub_nmconnection(content: bytes) -> bytes:
    """A NetworkManager keyfile reduced to its [sriov] section and the connection's id, type
    and interface name."""
    kept = []
    section = ""
    for line in content.decode("utf-8", "replace").splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip().lower()
            if section in NM_KEPT or section == "sriov":
                kept.append(stripped)
            continue
        key = stripped.split("=", 1)[0].strip().lower()
        if section == "sriov" or key in NM_KEPT.get(section, ()):
            kept.append(redact_secrets(stripped))
    return ("\n".join(kept) + "\n").encode("utf-8")


def scrub_sriov_only(content: bytes) -> bytes:
    """A unit or udev rules file reduced to its section headers and the lines that write
    sriov_numvfs (the only thing pci.driver-binding looks for in them)."""
    kept = [
        redact_secrets(line)
        for line in content.decode("utf-8", "replace").splitlines()
        if "sriov_numvfs" in line or line.strip().startswith("[")
    ]
    return ("\n".join(kept) + "\n").encode("utf-8")


# GRUB's `password`/`password_pbkdf2` lines (generated grub.cfg, legacy grub.conf) hold
# password hashes; no check reads them.
_PASSWORD_LINE = re.compile(r"^([ \t]*)(password\S*).*$", re.MULTILINE)


def scrub_boot(content: bytes) -> bytes:
    """Boot configuration and command lines without password lines and secret values."""
    text = content.decode("utf-8", "surrogateescape")
    text = _PASSWORD_LINE.sub(lambda match: f"{match.group(1)}{match.group(2)} {REMOVED}", text)
    return redact_secrets(text).encode("utf-8", "surrogateescape")


# Files that hold command lines: the running one, the boot loaders', and the kernel log's
# "Command line:" record (/var/log/dmesg; the ring buffer is redacted as it is read).
_BOOT_FILES = (
    "/proc/cmdline",
    "/etc/default/grub",
    "/etc/kernel/cmdline",
    "/boot/grub",
    "/boot/loader/",
    "/var/log/",
)


def scrub(path: str, content: bytes) -> bytes:
    """What the collector keeps of a file it reads (see above); other files whole."""
    if path.endswith(".nmconnection"):
        return scrub_nmconnection(content)
    if path.endswith(".rules") or (
        path.startswith("/etc/systemd/system/") and path.endswith(".service")
    ):
        return scrub_sriov_only(content)
    if path.startswith(_BOOT_FILES):
        return scrub_boot(content)
    return content


def scrub_xml(content: bytes) -> "Optional[bytes]":
    """The XML with its secrets removed by parsed attribute, or None when it cannot be
    parsed safely (a DOCTYPE or entity, or not well-formed): then nothing of it is kept."""
    lowered = content.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        return None
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(content)
    except (ET.ParseError, ValueError):
        return None
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""
        for attribute in list(element.attrib):
            local = attribute.rsplit("}", 1)[-1].lower()
            value = element.attrib[attribute].lower()
            if local in _SECRET_ATTRIBUTES or (
                tag == "arg" and ("password=" in value or "secret" in value)
            ):
                element.set(attribute, "(removed)")
        if tag == "secret" and (element.text or "").strip():
            element.text = "(removed)"
    return ET.tostring(root, encoding="utf-8")


# -- collecting -------------------------------------------------------------------------------


class _Tree(object):
    """Patterns as a tree of their components, for expanding them all in one walk."""

    __slots__ = ("children", "pattern", "wildcards")

    def __init__(self) -> None:
        self.children: "List[Tuple[str, _Tree]]" = []
        self.wildcards: "Set[str]" = set()  # the children's components that hold *, ? or [
        self.pattern: "Optional[str]" = None  # the pattern that ends here, if one does

    def child(self, part: str) -> "_Tree":
        for name, node in self.children:
            if name == part:
                return node
        node = _Tree()
        self.children.append((part, node))
        if any(ch in part for ch in _MAGIC):
            self.wildcards.add(part)
        return node


class Entry(object):
    """One thing stored: a folder, a symbolic link, a file's content, or only a name."""

    __slots__ = ("content", "kind", "mtime", "target")

    def __init__(self, kind: str, mtime: float = 0.0, target: str = "", content: bytes = b""):
        self.kind = kind  # "dir", "link", "file", or "name" (listed, content not collected)
        self.mtime = mtime
        self.target = target
        self.content = content


class Collector(object):
    """Reads host paths under `root` the way the auditor's Host does, and keeps them.

    Each folder on the way is listed once (names and kinds from its own listing), so the
    existence and type of a path, and whether it is a link, cost no system call of their
    own. Times are kept where a check compares them (boot configuration); sysfs, procfs and
    devfs times only say when the kernel made the inode and are stored as 0.
    """

    def __init__(self, root: str = "/", budget: int = READ_BUDGET) -> None:
        self.fs = RootFS(root, budget)
        self.root = self.fs.root
        self.live = self.fs.live
        self.entries: "Dict[str, Entry]" = {}
        self.failures: "Dict[str, Tuple[str, str]]" = {}
        self.listed: "Set[str]" = set()
        self.kmsg: "Optional[List[bytes]]" = None
        self.resolver = Resolver(self._link_target, on_link=self._keep_link)
        self._listings: "Dict[str, Optional[Dict[str, str]]]" = {}
        self._kinds: "Dict[str, object]" = {}  # kinds of paths in folders not listed

    def close(self) -> None:
        self.fs.close()

    def resolve(self, path: str) -> str:
        """The host path `path` names, with every symlink resolved inside the root."""
        return self.resolver.resolve(path)

    # -- what is where: folder listings, each read once --

    def _listing(self, folder: str) -> "Optional[Dict[str, str]]":
        """The names and kinds in a resolved folder; None when it cannot be listed."""
        if folder in self._listings:
            return self._listings[folder]
        try:
            listing: "Optional[Dict[str, str]]" = self.fs.scan(folder)
        except OSError as exc:
            if exc.errno == errno.E2BIG:
                raise
            listing = None
        self._listings[folder] = listing
        return listing

    def kind(self, path: str) -> "Optional[str]":
        """ "file", "dir", "link" or "other" for a resolved path; None when it is missing.

        From the folder's listing when it was listed; otherwise one lstat (a folder is
        listed only where a pattern needs several of its entries)."""
        if path == "/":
            return "dir"
        folder, _, name = path.rpartition("/")
        listing = self._listings.get(folder or "/", _UNLISTED)
        if listing is not _UNLISTED and listing is not None:
            return listing.get(name)
        known = self._kinds.get(path, _UNLISTED)
        if known is _UNLISTED:
            try:
                known = _kind(self.fs.lstat(path).st_mode)
            except OSError:
                known = None
            self._kinds[path] = known
        return known  # type: ignore[return-value]

    def _mtime(self, path: str) -> float:
        if path.startswith(("/sys/", "/proc/", "/dev/")):
            return 0.0
        try:
            return self.fs.lstat(path).st_mtime
        except OSError:
            return 0.0

    def _link_target(self, path: str) -> "Optional[str]":
        """RootFS.link_target, asked only of what the listing says is a link."""
        if self.kind(path) != "link":
            return None
        return self.fs.link_target(path)

    def _keep_link(self, path: str, target: str) -> None:
        folder = path.rsplit("/", 1)[0] or "/"
        absolute = target if target.startswith("/") else folder.rstrip("/") + "/" + target
        # Stored relative and never climbing out of the root: an absolute target (say
        # /dev/null) re-roots, as the auditor resolves it, and stays inside on unpacking.
        # (A relative target with no more `..` than the folder is deep cannot climb out.)
        if target.startswith("/") or (
            target.count("..") > folder.count("/") and _climbs_out(absolute)
        ):
            target = os.path.relpath(_lexical(absolute), folder)
        self._add(path, Entry("link", target=target))

    def _add(self, path: str, entry: Entry) -> None:
        if path not in self.entries and len(self.entries) >= MAX_MEMBERS:
            raise OSError(errno.E2BIG, "the snapshot would hold more than %d names" % MAX_MEMBERS)
        self.entries[path] = entry

    # -- globbing, every pattern at once --

    def glob(self, pattern: str) -> "List[str]":
        """Host paths matching a pattern whose components may hold *, ? and [...]."""
        return [found[0] for found in self._expand((pattern,))]

    def _expand(self, patterns: "Tuple[str, ...]") -> "Iterator[Tuple[str, str, str, str]]":
        """(path, resolved path, kind, pattern) for every path the patterns match, depth
        first: everything under one folder comes together, while that folder's descriptor
        is still open."""
        tree = _Tree()
        for pattern in patterns:
            node = tree
            for part in [p for p in pattern.split("/") if p]:
                node = node.child(part)
            node.pattern = pattern
        return self._walk_tree("/", tree)

    def _walk_tree(self, base: str, node: "_Tree") -> "Iterator[Tuple[str, str, str, str]]":
        import fnmatch

        prefix = base.rstrip("/") + "/"
        if node.wildcards or len(node.children) > 2:  # list the folder once for them all
            try:
                listing = self._listing(self.resolve(base)) or {}
            except OSError:
                listing = {}
        for part, child in node.children:
            if part in node.wildcards:
                names = sorted(listing)
                if part != "*":  # "*" is every name: no match to run
                    names = [name for name in names if fnmatch.fnmatchcase(name, part)]
                found = [prefix + name for name in names]
            else:
                found = [prefix + part]
            for path in found:
                try:
                    real = self.resolve(path)
                    kind = self.kind(real)
                except OSError:
                    continue
                if kind is None:
                    continue
                if child.pattern is not None:
                    yield path, real, kind, child.pattern
                if child.children:
                    yield from self._walk_tree(path, child)

    def _is_link(self, path: str) -> bool:
        """Whether the last component of `path` is a link (resolve() has met it already)."""
        parent, name = path.rsplit("/", 1)
        entry = self.entries.get(self.resolve(parent or "/").rstrip("/") + "/" + name)
        return entry is not None and entry.kind == "link"

    # -- collecting --

    def collect(self, patterns: "Tuple[str, ...]") -> None:
        """Keep every path the patterns match (and the links that lead to them)."""
        if "/dev/kmsg" in patterns:
            self._collect_kmsg()
        for path, real, kind, pattern in self._expand(
            tuple(p for p in patterns if p != "/dev/kmsg")
        ):
            # A folder the pattern names is listed. Folders a wildcard matches (every
            # device of /sys/bus/pci/devices/*) or a link leads to (a device's driver)
            # are kept without their entries.
            listing = kind == "dir" and not any(ch in pattern.rsplit("/", 1)[-1] for ch in _MAGIC)
            try:
                self._collect(path, real, kind, listing and not self._is_link(path))
            except OSError as exc:
                self.failures[path] = _failure(exc)

    def _collect(self, path: str, real: str, kind: str, listing: bool) -> None:
        self._keep_parents(real)
        if kind == "dir":
            if real not in self.entries:
                self._add(real, Entry("dir", self._mtime(real)))
            if listing:
                self._list_folder(real)
        elif kind == "file":
            self._keep_file(path, real)
        else:  # a device node (/dev/kvm), FIFO or socket: its existence is what checks ask
            self._keep_name(real)
            self.failures[real] = ("unreadable", "not a regular file")

    def _keep_parents(self, path: str) -> None:
        parent = path.rsplit("/", 1)[0]
        while parent and parent not in self.entries:
            self._add(parent, Entry("dir", self._mtime(parent)))
            parent = parent.rsplit("/", 1)[0]

    def _list_folder(self, path: str) -> None:
        if path in self.listed:
            return
        self.listed.add(path)
        try:
            listing = self.fs.scan(path)
        except OSError as exc:
            self.failures[path] = _failure(exc)
            return
        self._listings[path] = listing
        for name in sorted(listing):
            child = path.rstrip("/") + "/" + name
            if child in self.entries:
                continue
            kind = listing[name]
            if kind == "link":
                target = self.fs.link_target(child)
                if target is not None:
                    self._keep_link(child, target)
            elif kind == "dir":
                self._add(child, Entry("dir", self._mtime(child)))
            else:
                self._keep_name(child)

    def _keep_name(self, path: str) -> None:
        if path not in self.entries:
            self._add(path, Entry("name", self._mtime(path)))

    def _keep_file(self, requested: str, path: str) -> None:
        if path in self.entries and self.entries[path].kind == "file":
            return
        try:
            content, info = self.fs.read_stat(path, FILE_LIMIT)
        except OSError as exc:
            self._keep_name(path)
            self.failures[path] = _failure(exc)
            return
        # Guest definitions, wherever the file really lives (a link may lead out of
        # /etc/libvirt), and any other XML: secrets removed, or the content left out.
        if requested.endswith(".xml") or path.endswith(".xml"):
            scrubbed = scrub_xml(content)
            if scrubbed is None:
                self._keep_name(path)
                self.failures[path] = (
                    "unreadable",
                    "XML that cannot be parsed safely, left out so no secret leaks",
                )
                return
            content = scrubbed
        else:  # by the name asked for and by the file's own (a link may lead elsewhere)
            content = scrub(path, content)
            if requested != path:
                content = scrub(requested, content)
        mtime = 0.0 if path.startswith(("/sys/", "/proc/", "/dev/")) else info.st_mtime
        self._add(path, Entry("file", mtime, content=content))
        self.failures.pop(path, None)

    def _collect_kmsg(self) -> None:
        """The kernel's ring buffer, record by record (live only).

        A root other than / is an image or a copy, not a running kernel: its saved log
        (/var/log/dmesg) is what an audit of that root reads, and that is collected too.
        """
        if not self.live:
            return
        try:
            # The boot records repeat the command line: its secrets go, as in /proc/cmdline.
            self.kmsg = [
                redact_secrets(record.decode("utf-8", "surrogateescape")).encode(
                    "utf-8", "surrogateescape"
                )
                for record in read_kmsg_records()
            ]
        except OSError as exc:
            self.failures["/dev/kmsg"] = _failure(exc)

    # -- host facts --

    def text(self, path: str) -> "Optional[str]":
        """A collected file's content as text, None if it was not collected as a file."""
        try:
            entry = self.entries.get(self.resolve(path))
        except OSError:
            return None
        if entry is None or entry.kind != "file":
            return None
        return entry.content.decode("utf-8", "replace")

    def facts(self) -> "Dict[str, object]":
        """hostname, kernel release, boot time and machine id, from the collected files."""

        def text(path: str) -> "Optional[str]":
            return (self.text(path) or "").strip() or None

        boot_time = None
        for line in (text("/proc/stat") or "").splitlines():
            fields = line.split()
            if len(fields) == 2 and fields[0] == "btime" and fields[1].isdigit():
                boot_time = int(fields[1])
        return {
            "hostname": text("/proc/sys/kernel/hostname") or text("/etc/hostname"),
            "kernel_release": text("/proc/sys/kernel/osrelease"),
            "boot_time": boot_time,
            "machine_id": text("/etc/machine-id"),
        }


def _failure(exc: OSError) -> "Tuple[str, str]":
    """(kind, detail) the auditor turns back into the error a live read would raise."""
    if isinstance(exc, BudgetError):
        return ("budget", exc.strerror or "")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return ("missing", "")
    if exc.errno in (errno.EACCES, errno.EPERM):
        if os.geteuid() != 0:
            return ("needs-root", "")
        return ("unreadable", "permission denied")
    return ("unreadable", exc.strerror or str(exc))


def _lexical(path: str) -> str:
    """`..` and `.` removed by name, never climbing above /."""
    parts: "List[str]" = []
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


# -- writing the archive --------------------------------------------------------------------


def manifest(
    collector: Collector, patterns: "Tuple[str, ...]", extra: "Optional[Dict[str, object]]" = None
) -> "Dict[str, object]":
    """What the snapshot holds and what could not be read, for people and for the auditor."""
    import time

    data = dict(extra or {})
    data.update(
        {
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
        }
    )
    return data


# ustar header fields (POSIX.1-1988 as extended by POSIX.1-2001 pax), offsets and sizes.
_BLOCK = 512
_REGTYPE, _SYMTYPE, _DIRTYPE, _PAXTYPE = b"0", b"2", b"5", b"x"


def _octal(value: int, size: int) -> bytes:
    return b"%0*o\0" % (size - 1, value)


# The fields every header shares: mode, uid and gid before the size; owner names and device
# numbers after the magic. Each is built once with the sum of its bytes (for the checksum).
_OWNERS = b"ustar\x0000" + b"root".ljust(32, b"\0") * 2 + _octal(0, 8) * 2
_MODES = {
    kind: _octal(0o755 if kind == _DIRTYPE else 0o644, 8) + _octal(0, 8) * 2
    for kind in (_REGTYPE, _SYMTYPE, _DIRTYPE, _PAXTYPE)
}
_MODE_SUMS = {kind: sum(fields) + kind[0] for kind, fields in _MODES.items()}
_CONSTANT_SUM = sum(_OWNERS) + 8 * 32  # the checksum field counts as eight spaces
_NUMBERS: "Dict[int, Tuple[bytes, int]]" = {}  # 12-byte size and time fields, with their sums


def _number_field(value: int) -> "Tuple[bytes, int]":
    """The 12-byte octal field of `value` and the sum of its bytes (remembered: sizes and
    times repeat across the ~50,000 members of a large host's snapshot)."""
    known = _NUMBERS.get(value)
    if known is None:
        field = _octal(value, 12)
        known = (field, sum(field))
        if len(_NUMBERS) < 65536:
            _NUMBERS[value] = known
    return known


def _header(name: bytes, kind: bytes, size: int, mtime: int, target: bytes) -> bytes:
    """One ustar header block; the name is split into prefix and name where it must be."""
    prefix = b""
    if len(name) > 100:
        cut = name.rfind(b"/", 0, 156)
        prefix, name = name[:cut], name[cut + 1 :]
    size_field, size_sum = _number_field(size)
    time_field, time_sum = _number_field(mtime)
    checksum = (
        _CONSTANT_SUM + _MODE_SUMS[kind] + sum(name) + sum(target) + sum(prefix)
        + size_sum + time_sum
    )  # fmt: skip
    return b"".join(
        (
            name.ljust(100, b"\0"),
            _MODES[kind],
            size_field,
            time_field,
            b"%06o\0 " % checksum,
            kind,
            target.ljust(100, b"\0"),
            _OWNERS,
            prefix.ljust(155, b"\0"),
            bytes(12),
        )
    )


def _fits_ustar(name: bytes) -> bool:
    if len(name) <= 100:
        return True
    cut = name.rfind(b"/", 0, 156)
    return cut > 0 and len(name) - cut - 1 <= 100


def _is_ascii(raw: bytes) -> bool:
    return len(raw.decode("ascii", "ignore")) == len(raw)  # bytes.isascii() is Python 3.7+


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _ascii_stand_in(raw: bytes) -> bytes:
    """What the ustar field holds when a pax record carries the real value: its last 100
    bytes, in ASCII (readers that know pax never look at it)."""
    return bytes(byte if 32 <= byte < 127 else 63 for byte in raw[-100:])


def _pax_record(key: bytes, value: bytes) -> bytes:
    """`LENGTH key=value\\n`, where LENGTH counts its own digits too."""
    body = b" " + key + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length).encode()) + len(body) != length:
        length += 1
    return str(length).encode() + body


def tar_member(name: str, kind: bytes, mtime: float, data: bytes = b"", target: str = "") -> bytes:
    """One member of a POSIX (pax) tar: a pax header when ustar cannot hold the name, the
    link target or the sub-second time, then the ustar header, the data and its padding."""
    try:  # the common member: ASCII, short, whole seconds; nothing but its ustar header
        ascii_name, ascii_target = name.encode("ascii"), target.encode("ascii")
    except UnicodeEncodeError:
        pass
    else:
        whole = int(mtime)
        simple = whole == mtime and 0 <= whole < 8**11 and len(ascii_target) <= 100
        if simple and _fits_ustar(ascii_name):
            header = _header(ascii_name, kind, len(data), whole, ascii_target)
            return header + data + bytes(-len(data) % _BLOCK) if data else header
    raw_name = os.fsencode(name)
    raw_target = os.fsencode(target)
    whole = int(mtime)
    records: "List[bytes]" = []
    if not (_is_ascii(raw_name + raw_target) or _is_utf8(raw_name + raw_target)):
        records.append(_pax_record(b"hdrcharset", b"BINARY"))  # POSIX: raw bytes follow
    if not (_fits_ustar(raw_name) and _is_ascii(raw_name)):
        records.append(_pax_record(b"path", raw_name))
        raw_name = _ascii_stand_in(raw_name)
    if len(raw_target) > 100 or not _is_ascii(raw_target):
        records.append(_pax_record(b"linkpath", raw_target))
        raw_target = _ascii_stand_in(raw_target)
    if mtime != whole:
        records.append(_pax_record(b"mtime", ("%.9f" % mtime).rstrip("0").encode("ascii")))
    if not (0 <= whole < 8**11):
        whole = 0
    parts = []
    if records:
        pax = b"".join(records)
        parts.append(_header(b"././@PaxHeader", _PAXTYPE, len(pax), whole, b""))
        parts.append(pax + b"\0" * (-len(pax) % _BLOCK))
    parts.append(_header(raw_name, kind, len(data), whole, raw_target))
    if data:
        parts.append(data + b"\0" * (-len(data) % _BLOCK))
    return b"".join(parts)


def members(
    collector: Collector, patterns: "Tuple[str, ...]", extra: "Optional[Dict[str, object]]" = None
) -> "Iterator[bytes]":
    """The archive's members in order: manifest first, so a reader knows the format at once."""
    import json
    import time

    def member(name: str, kind: bytes, mtime: float, data: bytes = b"", target: str = "") -> bytes:
        # Whole seconds keep a member to one ustar header; only boot configuration files
        # need their fraction ("edited after boot" is compared with the boot time).
        if name.startswith(("/root/sys/", "/root/proc/", "/root/dev/")):
            mtime = int(mtime)
        return tar_member(FORMAT + name, kind, mtime, data, target)

    now = int(time.time())
    data = json.dumps(manifest(collector, patterns, extra), indent=1, sort_keys=True)
    yield member("/manifest.json", _REGTYPE, now, data.encode("utf-8", "surrogateescape"))
    if collector.kmsg is not None:
        # Records hold no NUL (the kernel escapes it as \x00): NUL separates them.
        yield member("/kmsg", _REGTYPE, now, b"\0".join(collector.kmsg))
    yield member("/root", _DIRTYPE, now)
    for path in sorted(collector.entries):
        entry = collector.entries[path]
        name = "/root" + path
        if entry.kind == "dir":
            yield member(name, _DIRTYPE, entry.mtime)
        elif entry.kind == "link":
            yield member(name, _SYMTYPE, entry.mtime, target=entry.target)
        else:  # a file's content, or an empty stand-in for a name listed only
            yield member(name, _REGTYPE, entry.mtime, entry.content)


def write_archive(
    collector: Collector,
    patterns: "Tuple[str, ...]",
    stream: "BinaryIO",
    extra: "Optional[Dict[str, object]]" = None,
) -> None:
    """A gzip'd POSIX (pax) tar: pax keeps sub-second modification times and long names.

    Headers are written here rather than by tarfile, which spends ~20 us on each of the
    ~50,000 members of a large host. `extra`: more manifest keys.
    """
    import gzip

    # Level 1: tar headers compress so well that 6 saves little and costs three times more.
    with gzip.GzipFile(fileobj=stream, mode="wb", mtime=0, compresslevel=1) as out:
        batch: "List[bytes]" = []
        size = 0
        for block in members(collector, patterns, extra):
            batch.append(block)
            size += len(block)
            if size >= 1 << 18:
                out.write(b"".join(batch))
                batch, size = [], 0
        batch.append(b"\0" * (2 * _BLOCK))  # the end-of-archive marker
        out.write(b"".join(batch))


def snapshot(root: str, patterns: "Tuple[str, ...]") -> Collector:
    """Collect `patterns` and the host facts under `root`."""
    collector = Collector(root)
    try:
        # The facts first: a root that spends the read budget must not lose who it is.
        collector.collect(tuple(dict.fromkeys(FACTS + patterns)))
    finally:
        collector.close()
    return collector


def summary(collector: Collector) -> str:
    files = sum(1 for entry in collector.entries.values() if entry.kind == "file")
    links = sum(1 for entry in collector.entries.values() if entry.kind == "link")
    kinds = [kind for kind, _ in collector.failures.values()]
    text = "collected %d files and %d links from %s" % (files, links, collector.root)
    if kinds:
        text += "; %d could not be read" % len(kinds)
        if "needs-root" in kinds:
            text += " (%d need root: run as root for a complete snapshot)" % kinds.count(
                "needs-root"
            )
        if "budget" in kinds:
            text += "; the read budget of %d MiB was spent" % (READ_BUDGET >> 20)
    return text


def write_file(
    path: str, write: "Callable[[BinaryIO], object]", mode: "Optional[int]" = None
) -> None:
    """Write a new file beside `path`, then rename it over `path`: readers see the old
    content or the new, never half of it.

    mkstemp creates the temporary file itself (O_EXCL, mode 0600): a link planted under a
    predictable name cannot make us truncate another file, even as root. A target that
    exists and is not a regular file (/dev/null, a FIFO, a terminal) is refused rather than
    replaced. `mode`: the file's permissions; None keeps an existing file's mode and owner,
    and gives a new one 0666 less the umask.
    """
    import tempfile

    try:
        existing = os.stat(path)  # type: Optional[os.stat_result]
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise OSError(errno.EINVAL, "not a regular file: refusing to replace it", path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(
        dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            elif existing is not None:
                os.fchmod(handle.fileno(), stat.S_IMODE(existing.st_mode))
                if (existing.st_uid, existing.st_gid) != (os.geteuid(), os.getegid()):
                    try:
                        os.fchown(handle.fileno(), existing.st_uid, existing.st_gid)
                    except PermissionError:
                        pass  # only root may give a file away: it stays ours
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(handle.fileno(), 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        if os.path.lexists(temp):
            os.unlink(temp)
        raise


def main(argv: "Optional[List[str]]" = None, patterns: "Tuple[str, ...]" = READS) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="collect.py", description="Collect what hostaudit reads into a snapshot archive."
    )
    parser.add_argument("--root", default="/", help="the host root (default: /, this host)")
    parser.add_argument("-o", "--output", help="write the archive here (default: standard output)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print no summary")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.root):
        print("collect.py: --root %s: not a folder" % args.root, file=sys.stderr)
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
            # Mode 0600: a snapshot may hold what only root could read on the host.
            write_file(
                args.output, lambda handle: write_archive(collector, patterns, handle), 0o600
            )
    except OSError as exc:
        print("collect.py: cannot write the archive: %s" % (exc.strerror or exc), file=sys.stderr)
        return 2
    if not args.quiet:
        print(summary(collector), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
