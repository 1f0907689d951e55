"""What every source of host data gives Host: read a file, list a folder, read a link, stat.

A folder (the live "/" or a root), a snapshot archive and a sosreport are three ways of
holding the same host. Each is a Reader; Host does the rest once for all of them: rooting,
link resolution, bounds, caching and tracing. Paths given to a reader are host paths
("/proc/cmdline") whose links Host has already resolved (on the live host, the kernel
resolves them). Failures are HostError subclasses naming the path, so that "missing",
"needs root" and "unreadable" mean the same whatever the source.
"""

from __future__ import annotations

from auditor.errors import FileMissingError

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from auditor.live import LiveFacts

FILE, DIR, LINK, OTHER = "file", "dir", "link", "other"


class Node:
    """What stat() says of a path: its kind, size and modification time."""

    __slots__ = ("kind", "mtime", "size")

    def __init__(self, kind: str, size: int = 0, mtime: float = 0.0) -> None:
        self.kind = kind
        self.size = size
        self.mtime = mtime


class Reader:
    """One source of host data. Subclasses implement the five methods that raise."""

    root = "/"  # the folder or archive read, as the operator named it
    label = "/"  # what reports call the audited root
    live = False  # the running host, whose kernel resolves links and holds /dev/kmsg
    has_kmsg = False  # whether kmsg() gives the kernel's ring buffer records
    saved_log = "/var/log/dmesg"  # where this source keeps a `dmesg`-style kernel log
    notices: tuple[str, ...] = ()  # what reports should say about the source
    # When the data was taken from the host (UTC, 2026-11-25T21:00:00+00:00); None: now,
    # for a folder read as the audit runs.
    collected_at: str | None = None
    # A capture made at another time (a snapshot, a sosreport): without collected_at, when
    # it was made is unknown, never "now".
    captured = False

    def link_target(self, path: str) -> str | None:
        """The raw target of the link `path`; None when it is not a link or is missing."""
        raise NotImplementedError

    def stat(self, path: str) -> Node:
        """The kind, size and time of `path`."""
        raise NotImplementedError

    def listdir(self, path: str) -> list[str]:
        """The names in folder `path`, in any order."""
        raise NotImplementedError

    def read(self, path: str, limit: int) -> bytes:
        """A regular file's content, at most `limit` bytes (UnreadableError beyond)."""
        raise NotImplementedError

    def kmsg(self) -> list[bytes]:
        """The kernel ring buffer's records (has_kmsg); FileMissingError where there are none."""
        raise FileMissingError("/dev/kmsg", "this source holds no kernel ring buffer")

    def check(self, path: str) -> None:
        """Raise NotCollectedError when this kind of source never holds `path`."""

    def live_facts(self) -> LiveFacts | None:
        """What only the running host tells beside its files (psutil, pyudev, processes);
        None for every source but the live "/"."""
        return None

    def close(self) -> None:
        """Release what the reader holds open."""


def utc(seconds: float) -> str:
    """Seconds since the epoch as reports write times: 2026-11-25T21:00:00+00:00."""
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(seconds))
