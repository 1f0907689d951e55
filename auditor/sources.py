"""What an audit reads: the live host, a root folder, a snapshot, or a sosreport.

`open_host` is the one place that tells them apart, so `audit` and `devices` accept the
same things.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from auditor.errors import UsageError
from auditor.host import Host

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator

    from auditor.registry import LoadedCheck


@contextmanager
def open_host(
    root: str = "/", snapshot: str | None = None, checks: list[LoadedCheck] | None = None
) -> Iterator[Host]:
    """A Host for `--snapshot ARCHIVE`, or for `--root` given a folder (a host root, an
    unpacked snapshot, a sosreport) or a sosreport archive. Temporary folders an archive
    is unpacked into are removed when the block ends. `checks` decide what of a sosreport
    is read (all built-ins when None)."""
    if snapshot is not None:
        from auditor.snapshot import open_snapshot

        with open_snapshot(snapshot) as host:
            yield host
        return
    if root == "/":
        yield Host(root)
        return
    from auditor import snapshot as snapshots
    from auditor import sosreport

    if os.path.isdir(root):
        if snapshots.is_snapshot_folder(root):
            yield snapshots.load(root, root)
        elif sosreport.is_sosreport(root):
            with sosreport.open_sosreport(root, checks) as host:
                yield host
        else:
            yield Host(root)
    elif os.path.isfile(root) and sosreport.looks_like_archive(root):
        with sosreport.open_sosreport(root, checks) as host:
            yield host
    elif os.path.exists(root):
        raise UsageError(
            f"--root {root}: not a folder; a snapshot archive is audited with --snapshot, "
            "a sosreport archive must end in .tar.xz, .tar.gz, .tar.bz2 or .tar"
        )
    else:
        raise UsageError(f"--root {root}: not a folder")
