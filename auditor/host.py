"""Read-only access to the audited host: every check reads through here.

A Host reads from one Reader (auditor/sources/: a folder, a snapshot, a sosreport) and does
what is common to all of them once: symbolic links resolved *inside* the root the way a
chroot resolves them (an absolute target starts again at the root, `..` stops there, 40
links at most per lookup), reads bounded in size, each file read once, and every path
asked for traced, so the tests can prove a check reads only what it declares.
"""

from __future__ import annotations

import fnmatch

from auditor.errors import (
    FileMissingError,
    HostError,
    NotCollectedError,
    ReadBudgetError,
    UnreadableError,
)
from auditor.sources.base import DIR, Reader
from auditor.sources.rootfs import FILE_LIMIT, READ_BUDGET, LinkLoopError, Resolver

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")

# Bounds: a sysfs attribute is at most a page; /proc/interrupts on a large host and a
# kernel log are a few MiB at most. Anything bigger is not a file we should trust.
DEFAULT_LIMIT = FILE_LIMIT

_MAGIC = ("*", "?", "[")


class Host:
    """A read-only view of one host's files."""

    def __init__(self, root: str | Reader = "/", budget: int = READ_BUDGET) -> None:
        if isinstance(root, Reader):
            reader = root
        else:
            from auditor.sources.folder import FolderReader

            reader = FolderReader(root)
        self.reader = reader
        self.root = reader.root
        self.label = reader.label
        # What only the running host tells beside its files (auditor.live.LiveFacts), or
        # None: asked for by what it tells, never by whether the host is live.
        self.live = reader.live_facts()
        # The live kernel resolves links itself: nothing lies outside "/".
        self._resolver = None if reader.live else Resolver(reader.link_target)
        self._reads: dict[tuple[str, int], bytes | _Failure] = {}
        # One read budget per audit, whatever the reader: every byte of file content the
        # host hands out counts, so a hostile root, archive or remote host is read at most
        # READ_BUDGET (plus the one file that crosses it) before reads are refused.
        self.budget = budget
        self.spent = 0
        self._kmsg: list[bytes] | _Failure | None = None
        self._trace: set[str] | None = None
        # Facts derived from reads (a PCI device's attributes), kept for the audit as the
        # reads are: the host does not change while it is audited. Keyed by (kind, name).
        self.derived: dict[tuple[str, str], Any] = {}

    def derive(self, kind: str, name: str, compute: Callable[[], T]) -> T:
        """compute(), once per audit: a fact derived from reads (a PCI device's attributes,
        the parsed command line) is kept as the reads are, and a HostError it raised is
        raised again to every later asker."""
        return _once(self.derived, (kind, name), compute)

    def close(self) -> None:
        """Release what the reader holds open."""
        self.reader.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def has_kmsg(self) -> bool:
        """Whether the kernel's ring buffer can be read (the live host, a live snapshot)."""
        return self.reader.has_kmsg

    @property
    def saved_log(self) -> str:
        """Where this host keeps a `dmesg`-style kernel log."""
        return self.reader.saved_log

    @property
    def notices(self) -> tuple[str, ...]:
        """What reports should say about where this host's data came from."""
        return self.reader.notices

    # -- tracing: which host paths a check asked for (conformance tests use it) --

    def start_trace(self) -> None:
        """Begin recording every path asked for."""
        self._trace = set()

    def stop_trace(self) -> set[str]:
        """Stop recording and return the paths asked for since start_trace()."""
        paths, self._trace = self._trace or set(), None
        return paths

    def _note(self, path: str) -> str:
        path = _normalise(path)
        if self._trace is not None:
            self._trace.add(path)
        self.reader.check(path)
        return path

    # -- path resolution inside the root --

    def _resolve(self, path: str) -> str:
        """`path` with every symlink resolved inside the root (a host path)."""
        if self._resolver is None:
            return path
        try:
            return self._resolver.resolve(path)
        except LinkLoopError as error:  # or PathTooLongError: said by its strerror
            raise UnreadableError(path, error.strerror or str(error)) from None

    def realpath(self, path: str) -> str:
        """The host path `path` resolves to (inside the root)."""
        return self._resolve(self._note(path))

    # -- reads --

    def read_bytes(self, path: str, limit: int = DEFAULT_LIMIT) -> bytes:
        """Read a regular file whole; raise a HostError subclass on every failure."""
        path = self._note(path)
        return _once(self._reads, (path, limit), lambda: self._read(path, limit))

    def _read(self, path: str, limit: int) -> bytes:
        if self.spent >= self.budget:
            raise ReadBudgetError(
                path, f"the read budget of {self.budget >> 20} MiB for one run is spent"
            )
        real = self._resolve(path)
        try:
            data = self.reader.read(real, limit)
            self.spent += len(data)
            return data
        except HostError as exc:  # named by the path asked for, not the one it led to
            raise type(exc)(path, exc.detail) from None
        except NotCollectedError as exc:
            raise NotCollectedError(path, exc.reason) from None

    def read_text(self, path: str, limit: int = DEFAULT_LIMIT) -> str:
        """Read a file as text (UTF-8, undecodable bytes replaced)."""
        return self.read_bytes(path, limit).decode("utf-8", errors="replace")

    def read_optional(self, path: str, limit: int = DEFAULT_LIMIT) -> str | None:
        """Read a file as text, or None when it does not exist (other failures still raise)."""
        try:
            return self.read_text(path, limit)
        except FileMissingError:
            return None

    def read_kmsg(self, path: str = "/dev/kmsg") -> list[bytes]:
        """Every record in the kernel ring buffer, read once without blocking (live hosts,
        and snapshots taken from a running kernel)."""
        self._note(path)
        if self._kmsg is None:
            try:
                self._kmsg = self.reader.kmsg()
            except HostError as exc:
                self._kmsg = _Failure(exc)
        if isinstance(self._kmsg, _Failure):
            raise self._kmsg.error(self._kmsg.path, self._kmsg.detail)
        return self._kmsg

    # -- metadata --

    def exists(self, path: str) -> bool:
        """Whether the path exists (after resolving links inside the root)."""
        path = self._note(path)
        try:
            self.reader.stat(self._resolve(path))
        except HostError:
            return False
        return True

    def is_dir(self, path: str) -> bool:
        """Whether the path is a folder (after resolving links inside the root)."""
        path = self._note(path)
        try:
            return self.reader.stat(self._resolve(path)).kind == DIR
        except HostError:
            return False

    def mtime(self, path: str) -> float:
        """Modification time in seconds since the epoch."""
        path = self._note(path)
        try:
            return self.reader.stat(self._resolve(path)).mtime
        except HostError as exc:
            raise type(exc)(path, exc.detail) from None

    def listdir(self, path: str) -> list[str]:
        """Sorted entry names of a folder."""
        path = self._note(path)
        try:
            return sorted(self.reader.listdir(self._resolve(path)))
        except HostError as exc:
            raise type(exc)(path, exc.detail) from None

    def readlink(self, path: str) -> str:
        """The raw target of a symbolic link (the link itself is not followed)."""
        path = self._note(path)
        parent, name = path.rsplit("/", 1)
        real = self._resolve(parent or "/").rstrip("/") + "/" + name
        target = self.reader.link_target(real)
        if target is not None:
            return target
        try:
            self.reader.stat(real)
        except HostError as exc:
            raise type(exc)(path, exc.detail) from None
        raise UnreadableError(path, "not a symbolic link")

    def link_name(self, path: str) -> str | None:
        """The last component of a link's target (a driver or group name), None if no link."""
        try:
            return self.readlink(path).rstrip("/").rsplit("/", 1)[-1]
        except HostError:
            return None

    def glob(self, pattern: str) -> list[str]:
        """Host paths matching a pattern whose components may hold `*`, `?` and `[...]`."""
        matches = ["/"]
        for part in _normalise(pattern).strip("/").split("/"):
            found: list[str] = []
            for base in matches:
                prefix = base.rstrip("/") + "/"
                if any(ch in part for ch in _MAGIC):
                    try:
                        names = self.listdir(base)
                    except HostError:
                        continue
                    found.extend(prefix + name for name in names if fnmatch.fnmatchcase(name, part))
                else:
                    found.append(prefix + part)
            matches = found
        return sorted(path for path in matches if self.exists(path))


class _Failure:
    """A cached failed read: the error class and its detail.

    Not the exception itself, whose traceback would keep every frame alive for the audit.
    """

    __slots__ = ("detail", "error", "path")

    def __init__(self, exc: HostError) -> None:
        self.error, self.path, self.detail = type(exc), exc.path, exc.detail


def _once(store: dict[Any, Any], key: tuple[str, Any], load: Callable[[], T]) -> T:
    """Load once per key; later calls get the same content, or the same failure raised anew."""
    if key in store:
        cached = store[key]
    else:
        try:
            cached = load()
        except HostError as exc:
            cached = _Failure(exc)
        store[key] = cached
    if isinstance(cached, _Failure):
        raise cached.error(cached.path, cached.detail)
    return cached


def _normalise(path: str) -> str:
    """Collapse repeated slashes and `.`; keep `..`, which must be resolved against links."""
    if "//" not in path and "/." not in path and path.startswith("/"):
        return path.rstrip("/") or "/"
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return "/" + "/".join(parts)
