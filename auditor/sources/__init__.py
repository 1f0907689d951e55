"""Where host data comes from: one reader per kind of source, behind the one Host.

- folder.py: a folder, the live "/" or a root (a mounted image, an unpacked snapshot);
- archive.py over tarindex.py: an archive's members, indexed once and read in place;
- snapshot.py: a snapshot (archive or folder), with what the collector recorded replayed;
- sosreport.py: a sosreport (folder or archive), with command output laid over its files;
- collect.py: the stand-alone collector that writes snapshots, and the rooted-filesystem
  primitives (RootFS, Resolver) the folder reader shares with it.

`open_host` is the one place that tells the sources apart, so `audit`, `devices` and the
tests accept the same things.
"""

from __future__ import annotations

import os

from auditor.errors import UsageError

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from auditor.host import Host
    from auditor.registry import LoadedCheck
    from auditor.sources.base import Reader


def open_reader(
    root: str = "/", snapshot: str | None = None, checks: list[LoadedCheck] | None = None
) -> Reader:
    """The reader for `--snapshot ARCHIVE|FOLDER`, or for `--root` given a folder (a host
    root, an unpacked snapshot, a sosreport) or an archive (a snapshot or a sosreport).
    `checks` decide what of a sosreport archive is kept (all built-ins when None)."""
    if snapshot is not None:
        from auditor.sources.snapshot import open_snapshot

        return open_snapshot(snapshot)
    from auditor.sources.folder import FolderReader

    if root == "/":
        return FolderReader(root)
    from auditor.sources import snapshot as snapshots
    from auditor.sources import sosreport

    if os.path.isdir(root):
        if snapshots.is_snapshot_folder(root):
            return snapshots.open_snapshot(root)
        if sosreport.is_sosreport(root):
            return sosreport.open_sosreport(root, checks)
        return FolderReader(root)
    if os.path.isfile(root) and sosreport.looks_like_archive(root):
        if _is_snapshot_archive(root):
            return snapshots.open_snapshot(root)
        return sosreport.open_sosreport(root, checks)
    if os.path.exists(root):
        raise UsageError(
            f"--root {root}: not a folder; a snapshot archive is audited with --snapshot, "
            "a sosreport archive must end in .tar.xz, .tar.gz, .tar.bz2 or .tar"
        )
    raise UsageError(f"--root {root}: not a folder")


def _is_snapshot_archive(path: str) -> bool:
    """Whether an archive starts with a snapshot's manifest (`hostaudit-snapshot/...`), as
    the collector writes it: the first header of a gzip'd or plain tar, nothing more."""
    import zlib

    from auditor.sources.collector import FORMAT

    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
        if head.startswith(b"\x1f\x8b"):
            head = zlib.decompressobj(47).decompress(head, 512)
    except (OSError, zlib.error):
        return False
    return head[:100].split(b"/", 1)[0] == FORMAT.encode()


class open_host:
    """A Host on what open_reader() chooses, released when the `with` block ends.

    A class rather than a contextlib.contextmanager: contextlib is not otherwise imported
    by an audit, and importing it costs ~0.5 ms of every start-up.
    """

    def __init__(
        self,
        root: str = "/",
        snapshot: str | None = None,
        checks: list[LoadedCheck] | None = None,
    ) -> None:
        self.reader = open_reader(root, snapshot, checks)

    def __enter__(self) -> Host:
        from auditor.host import Host

        return Host(self.reader)

    def __exit__(self, *exc: object) -> None:
        self.reader.close()
