"""A folder as a host: the live "/" or a root (a mounted image, an unpacked snapshot).

The system calls and their safety rules (no link followed out of the root, no device node
opened) are rootfs.RootFS's, shared with the stand-alone collector; the read budget is Host's.
"""

from __future__ import annotations

import errno
import os
import stat

from auditor.errors import (
    FileMissingError,
    HostError,
    NeedsRootError,
    UnreadableError,
    UsageError,
)
from auditor.sources.base import DIR, FILE, LINK, OTHER, Node, Reader
from auditor.sources.rootfs import RootFS, read_kmsg_records

UNBOUNDED = 1 << 62

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from auditor.live import LiveFacts


def error_for(path: str, exc: OSError, live: bool = True) -> HostError:
    """The HostError a failed system call on `path` means."""
    if exc.errno == errno.ELOOP and not live:
        # Host resolved every link already and RootFS opens with O_NOFOLLOW: a link here
        # appeared since, where a folder or file was.
        return UnreadableError(path, "a link appeared where none was: the root changed")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return FileMissingError(path)
    if exc.errno in (errno.EACCES, errno.EPERM):
        if os.geteuid() != 0:
            return NeedsRootError(path)
        return UnreadableError(path, "permission denied")
    return UnreadableError(path, exc.strerror or str(exc))


def kind_of(mode: int) -> str:
    """FILE, DIR, LINK or OTHER for a stat mode."""
    if stat.S_ISREG(mode):
        return FILE
    if stat.S_ISDIR(mode):
        return DIR
    return LINK if stat.S_ISLNK(mode) else OTHER


class FolderReader(Reader):
    """Host files under a folder."""

    def __init__(self, root: str = "/") -> None:
        try:
            # The audit's read budget is Host's, for every reader alike: RootFS's own (the
            # stand-alone collector's) is not counted a second time here.
            self.fs = RootFS(root, budget=UNBOUNDED)
        except OSError as exc:
            raise UsageError(f"--root {root}: {exc.strerror or exc}") from None
        self.root = self.label = self.fs.root
        self.live = self.has_kmsg = self.fs.live

    def live_facts(self) -> LiveFacts | None:
        if not self.live:
            return None
        from auditor.live import LiveFacts

        return LiveFacts()

    def close(self) -> None:
        self.fs.close()

    def link_target(self, path: str) -> str | None:
        return self.fs.link_target(path)

    def stat(self, path: str) -> Node:
        try:
            # Live paths are not resolved by Host: the kernel follows their links.
            info = os.stat(path) if self.live else self.fs.lstat(path)
        except OSError as exc:
            raise error_for(path, exc, self.live) from None
        return Node(kind_of(info.st_mode), info.st_size, info.st_mtime)

    def listdir(self, path: str) -> list[str]:
        try:
            return self.fs.listdir(path)
        except OSError as exc:
            raise error_for(path, exc, self.live) from None

    def read(self, path: str, limit: int) -> bytes:
        try:
            return self.fs.read(path, limit)
        except OSError as exc:
            raise error_for(path, exc, self.live) from None

    def kmsg(self) -> list[bytes]:
        if not self.live:
            return super().kmsg()
        try:
            return read_kmsg_records()
        except OSError as exc:
            raise error_for("/dev/kmsg", exc) from None
