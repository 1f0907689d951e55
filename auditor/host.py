"""Read-only access to the audited host, rooted at a folder: every check reads through here.

The live host is `Host("/")`; a snapshot, a fixture or a mounted image is any other root.
Symbolic links resolve *inside* the root the way a chroot resolves them: an absolute
target starts again at the root and `..` stops at the root, so no path leaves it.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat

from auditor.errors import (
    FileMissingError,
    HostError,
    NeedsRootError,
    NotCollectedError,
    UnreadableError,
)

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")

# Bounds: a sysfs attribute is at most a page; /proc/interrupts on a large host and a
# kernel log are a few MiB at most. Anything bigger is not a file we should trust.
DEFAULT_LIMIT = 4 * 1024 * 1024
MAX_SYMLINK_HOPS = 40  # the kernel's own limit (MAXSYMLINKS)
KMSG_RECORD_SIZE = 8192  # a read from /dev/kmsg smaller than one record fails with EINVAL

_MAGIC = ("*", "?", "[")


def _error_for(path: str, exc: OSError) -> HostError:
    """Map an OSError to the distinct outcomes checks tell apart."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return FileMissingError(path)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            NeedsRootError(path)
            if os.geteuid() != 0
            else UnreadableError(path, "permission denied")
        )
    return UnreadableError(path, exc.strerror or str(exc))


class Capture:
    """What an archive of a host (a snapshot, a sosreport) records besides its files.

    - failures: host path -> the error its read raised when the archive was made (a
      snapshot taken without root records "needs root" for the ACPI tables);
    - listed_only: files whose name was collected but not their content;
    - kmsg: the kernel log records, when the archive was taken from a running kernel;
    - not_collected: host path -> why this kind of archive never holds it;
    - saved_log: where the archive keeps a `dmesg`-style kernel log;
    - label: what reports call the audited root (the archive, not our temporary folder);
    - notices: what a report should say about the archive (where a fact came from).
    """

    def __init__(
        self,
        label: str,
        failures: dict[str, HostError] | None = None,
        listed_only: frozenset[str] = frozenset(),
        kmsg: list[bytes] | None = None,
        not_collected: dict[str, str] | None = None,
        saved_log: str = "/var/log/dmesg",
        notices: tuple[str, ...] = (),
    ) -> None:
        self.label = label
        self.failures = failures or {}
        self.listed_only = listed_only
        self.kmsg = kmsg
        self.not_collected = not_collected or {}
        self.saved_log = saved_log
        self.notices = notices

    def check(self, path: str) -> None:
        """Raise NotCollectedError when the archive cannot hold `path`."""
        for prefix, reason in self.not_collected.items():
            if path == prefix or path.startswith(prefix + "/"):
                raise NotCollectedError(path, reason)

    def replay(self, requested: str, resolved: str) -> None:
        """Raise the error recorded for a path, if the archive recorded one."""
        failure = self.failures.get(resolved)
        if failure is not None:
            raise type(failure)(requested, failure.detail)
        if resolved in self.listed_only:
            raise NotCollectedError(requested, "only its name was collected")


class Host:
    """A read-only view of one host's files, rooted at `root`."""

    def __init__(self, root: str = "/", capture: Capture | None = None) -> None:
        self.root = os.path.abspath(root)
        self.is_live = self.root == "/" and capture is None
        self.capture = capture
        self.label = capture.label if capture is not None else self.root
        self._prefix = "" if self.is_live else self.root
        self._resolved: dict[str, str] = {}
        self._reads: dict[tuple[str, int], bytes | _Failure] = {}
        self._kmsg: dict[tuple[str, int], list[bytes] | _Failure] = {}
        self._trace: set[str] | None = None

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
        if self.capture is not None:
            self.capture.check(path)
        return path

    # -- path resolution inside the root --

    def _resolve(self, path: str, hops: int = 0) -> str:
        """Return `path` with every symlink resolved inside the root (a host path)."""
        if path == "/":
            return "/"
        hit = self._resolved.get(path)
        if hit is not None:
            return hit
        parent, name = path.rsplit("/", 1)
        base = self._resolve(parent or "/", hops)
        if name == "..":
            result = base.rsplit("/", 1)[0] or "/"
        else:
            candidate = base.rstrip("/") + "/" + name
            try:
                target = os.readlink(self._prefix + candidate)
            except OSError:  # not a link, or missing: either way the name stands
                result = candidate
            else:
                if hops >= MAX_SYMLINK_HOPS:
                    raise UnreadableError(path, "too many levels of symbolic links")
                joined = target if target.startswith("/") else base.rstrip("/") + "/" + target
                result = self._resolve(_normalise(joined), hops + 1)
        self._resolved[path] = result
        return result

    def _real(self, path: str) -> str:
        """The real filesystem path of a host path, symlinks resolved inside the root."""
        if self.is_live:
            return path  # resolving inside "/" is what the kernel does already
        return self._prefix + self._resolve(path)

    def realpath(self, path: str) -> str:
        """The host path `path` resolves to (inside the root)."""
        return self._resolve(self._note(path))

    # -- reads --

    def read_bytes(self, path: str, limit: int = DEFAULT_LIMIT) -> bytes:
        """Read a regular file whole; raise a HostError subclass on every failure."""
        path = self._note(path)
        return _once(self._reads, (path, limit), lambda: self._read_file(path, limit))

    def _read_file(self, path: str, limit: int) -> bytes:
        real = self._real(path)
        if self.capture is not None:
            self.capture.replay(path, real[len(self._prefix) :])
        try:
            # O_NONBLOCK: a FIFO planted in a root must not hang the audit. Under another root
            # every link is resolved already, so a link here appeared since: do not follow it.
            # On the live host the kernel resolves links, inside "/" by definition.
            nofollow = 0 if self.is_live else os.O_NOFOLLOW
            fd = os.open(real, os.O_RDONLY | nofollow | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise _error_for(path, exc) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnreadableError(path, "not a regular file")
            chunks: list[bytes] = []
            size = 0
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise UnreadableError(path, f"larger than {limit} bytes")
            return b"".join(chunks)
        except OSError as exc:
            raise _error_for(path, exc) from None
        finally:
            os.close(fd)

    def read_text(self, path: str, limit: int = DEFAULT_LIMIT) -> str:
        """Read a file as text (UTF-8, undecodable bytes replaced)."""
        return self.read_bytes(path, limit).decode("utf-8", errors="replace")

    def read_optional(self, path: str, limit: int = DEFAULT_LIMIT) -> str | None:
        """Read a file as text, or None when it does not exist (other failures still raise)."""
        try:
            return self.read_text(path, limit)
        except FileMissingError:
            return None

    def read_kmsg(self, path: str = "/dev/kmsg", max_bytes: int = DEFAULT_LIMIT) -> list[bytes]:
        """Every record in the kernel ring buffer, read once without blocking (live hosts).

        An archive taken from a running kernel gives back the records it holds.
        """
        path = self._note(path)
        if self.capture is not None:
            self.capture.replay(path, path)
            if self.capture.kmsg is None:
                raise FileMissingError(path, "the archive holds no kernel ring buffer")
            return self.capture.kmsg
        return _once(self._kmsg, (path, max_bytes), lambda: self._read_records(path, max_bytes))

    def _read_records(self, path: str, max_bytes: int) -> list[bytes]:
        try:
            fd = os.open(self._real(path), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise _error_for(path, exc) from None
        records: list[bytes] = []
        total = 0
        try:
            if not stat.S_ISCHR(os.fstat(fd).st_mode):
                raise UnreadableError(path, "not a character device")
            while total < max_bytes:
                try:
                    record = os.read(fd, KMSG_RECORD_SIZE)
                except BlockingIOError:
                    break  # EAGAIN: the end of the buffer
                except OSError as exc:
                    if exc.errno == errno.EPIPE:
                        continue  # the record was overwritten while we read; go on
                    raise _error_for(path, exc) from None
                if not record:
                    break
                records.append(record)
                total += len(record)
        finally:
            os.close(fd)
        return records

    # -- metadata --

    def exists(self, path: str) -> bool:
        """Whether the path exists (after resolving links inside the root)."""
        path = self._note(path)
        try:
            os.stat(self._real(path))
        except (OSError, HostError):
            return False
        return True

    def is_dir(self, path: str) -> bool:
        """Whether the path is a folder (after resolving links inside the root)."""
        path = self._note(path)
        try:
            return os.path.isdir(self._real(path))
        except HostError:
            return False

    def mtime(self, path: str) -> float:
        """Modification time in seconds since the epoch."""
        path = self._note(path)
        try:
            return os.stat(self._real(path)).st_mtime
        except OSError as exc:
            raise _error_for(path, exc) from None

    def listdir(self, path: str) -> list[str]:
        """Sorted entry names of a folder."""
        path = self._note(path)
        real = self._real(path)
        if self.capture is not None:
            self.capture.replay(path, real[len(self._prefix) :])
        try:
            return sorted(os.listdir(real))
        except OSError as exc:
            raise _error_for(path, exc) from None

    def readlink(self, path: str) -> str:
        """The raw target of a symbolic link (the link itself is not followed)."""
        path = self._note(path)
        if self.is_live:
            real = path
        else:
            parent, name = path.rsplit("/", 1)
            real = self._prefix + self._resolve(parent or "/").rstrip("/") + "/" + name
        try:
            return os.readlink(real)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise UnreadableError(path, "not a symbolic link") from None
            raise _error_for(path, exc) from None

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


def _once(
    store: dict[tuple[str, int], T | _Failure], key: tuple[str, int], load: Callable[[], T]
) -> T:
    """Load once per key; later calls get the same content, or the same failure raised anew."""
    cached = store.get(key)
    if cached is None:
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
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return "/" + "/".join(parts)
