"""Files under a root, read without following a link out of it: the limits every reader
shares, RootFS (dir-fd confined reads against one read budget), Resolver (links resolved
inside the root as a chroot would), and the kernel ring buffer's records.

Part of the stand-alone collector: packaging/generate.py joins rootfs, secrets, tarwriter
and collector (what lies between their markers) into auditor/sources/collect.py, one file
for Python 3.6+ with the standard library only; `make generate` rewrites it, and a test
fails while it is stale.
"""

import errno
import os
import stat

TYPE_CHECKING = False  # `typing` costs milliseconds at start-up; mypy treats this name as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

# BEGIN collect.py
# Limits, shared by the collector and by hostaudit's readers (SECURITY.md lists them), so
# that a snapshot the collector writes is one `hostaudit audit --snapshot` accepts.
FILE_LIMIT = 4 << 20  # one file: nothing the checks read is bigger (a large /proc/interrupts)
READ_BUDGET = 64 << 20  # every file of one audit or snapshot together (4,000 functions: ~20 MiB)
KMSG_LIMIT = 4 << 20
KMSG_RECORD_SIZE = 8192  # a read from /dev/kmsg smaller than one record fails with EINVAL
MAX_MEMBERS = 200000  # names in one snapshot (4,000 functions: ~50,000), and in one folder
MAX_SYMLINK_HOPS = 40  # links followed in one lookup, as the kernel allows (MAXSYMLINKS)
MAX_PATH_BYTES = 4096  # a resolved path; the kernel's PATH_MAX bounds each link target to less
# What sysfs (a page: 4 KiB, 64 KiB on some arm64 and ppc64 kernels) and procfs (0) report as
# the size of every attribute, whatever it holds: never a bound, only a reason to read.
PSEUDO_SIZES = frozenset((0, 4096, 16384, 65536))
MAX_DIR_FDS = 256  # folder descriptors RootFS keeps open to avoid walking from the root again

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


class PathTooLongError(LinkLoopError):
    """A lookup whose links lead to a path longer than MAX_PATH_BYTES: no real host has one,
    and a chain of links into a deep tree built to be slow would otherwise grow every
    remembered path with every step."""

    def __init__(self, path: str) -> None:
        OSError.__init__(
            self, errno.ENAMETOOLONG, "resolves to more than %d bytes" % MAX_PATH_BYTES, path
        )


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
        if len(candidate) > MAX_PATH_BYTES:
            raise PathTooLongError(path)
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
        self._missing: "Dict[str, int]" = {}  # folder -> errno: not there (ENOENT, ENOTDIR)
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
        """An O_PATH descriptor of the folder `path`, opened one component at a time from
        the nearest folder already open.

        The nearest open folder is found from `path` upwards, one dictionary lookup per
        level, and a folder found missing is remembered: a link whose target names 2,000
        folders that do not exist costs 2,000 short lookups, where searching from the root
        down joined every prefix of every step (cubic: ten seconds an audit).
        """
        if path == "/":
            return self._root_fd
        fd = self._dirs.get(path)
        if fd is not None:
            return fd
        names = []
        found = path
        while True:
            missing = self._missing.get(found)
            if missing is not None:
                self._remember(self._missing, path, missing)  # the next level down finds it
                raise OSError(missing, os.strerror(missing), path)
            found, _, name = found.rpartition("/")
            names.append(name)
            if not found:
                fd = self._root_fd
                break
            fd = self._dirs.get(found)
            if fd is not None:
                break
        for name in reversed(names):
            found += "/" + name
            try:
                fd = os.open(
                    name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd
                )
            except OSError as error:
                if error.errno in (errno.ENOENT, errno.ENOTDIR):
                    self._remember(self._missing, found, error.errno)
                    if found != path:
                        self._remember(self._missing, path, error.errno)
                raise
            # Forget the oldest: the collector and the checks visit one folder's entries
            # together, so a folder opened long ago is rarely needed again (and one
            # openat() away if it is).
            self._remember(self._dirs, found, fd, os.close)
        return fd

    @staticmethod
    def _remember(
        memo: "Dict[str, int]",
        path: str,
        value: int,
        forget: "Optional[Callable[[int], None]]" = None,
    ) -> None:
        """Keep `value` for `path` in `memo`, dropping the oldest beyond MAX_DIR_FDS."""
        if len(memo) >= MAX_DIR_FDS:
            oldest = memo.pop(next(iter(memo)))
            if forget is not None:
                forget(oldest)
        memo[path] = value

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


# END collect.py
