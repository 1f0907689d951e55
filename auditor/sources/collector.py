"""The snapshot collector: what the checks declare they read (READS, written from their
`reads` by make generate), the kernel log and the host facts, collected under a root and
written with a manifest into a gzip'd tar; and write_file, the atomic write every output
file uses.

Part of the stand-alone collector (see auditor/sources/rootfs.py): `hostaudit snapshot`
runs this module; `hostaudit snapshot --print-collector` prints the joined collect.py.
"""

import errno
import os
import stat
import sys

from auditor.sources.rootfs import (  # collect.py: the same file, above
    _MAGIC,
    _UNLISTED,
    FILE_LIMIT,
    MAX_MEMBERS,
    READ_BUDGET,
    BudgetError,
    Resolver,
    RootFS,
    _kind,
    read_kmsg_records,
)
from auditor.sources.secrets import (  # collect.py: the same file, above
    redact_secrets,
    scrub,
    scrub_xml,
)
from auditor.sources.tarwriter import (  # collect.py: the same file, above
    _BLOCK,
    _DIRTYPE,
    _REGTYPE,
    _SYMTYPE,
    tar_member,
)

TYPE_CHECKING = False  # `typing` costs milliseconds at start-up; mypy treats this name as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import BinaryIO, Callable, Dict, Iterator, List, Optional, Set, Tuple

# BEGIN collect.py
VERSION = "0.1.0"  # hostaudit's version; a test keeps it equal to auditor.__version__
FORMAT = "hostaudit-snapshot"  # the top folder: manifest.json, kmsg (live only), root/...
FORMAT_VERSION = 1

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
    "/sys/kernel/mm/hugepages/hugepages-*/nr_overcommit_hugepages",
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


# END collect.py
