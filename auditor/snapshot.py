"""Auditing a snapshot: unpack it safely, then read it as a Host that replays what the
collector recorded (auditor/collect.py writes the format)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager

from auditor import collect
from auditor.archive import ArchiveError, unpack
from auditor.errors import FileMissingError, HostError, NeedsRootError, UnreadableError
from auditor.host import Capture, Host

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from auditor.registry import LoadedCheck

FAILURES: dict[str, type[HostError]] = {
    "missing": FileMissingError,
    "needs-root": NeedsRootError,
    "unreadable": UnreadableError,
}


def reads(checks: list[LoadedCheck]) -> tuple[str, ...]:
    """What a snapshot must hold for these checks: the union of their `reads`, sorted."""
    return tuple(sorted({path for item in checks for path in item.check.reads}))


def is_snapshot_folder(folder: str) -> bool:
    """Whether `folder` is an unpacked snapshot (manifest.json and root/)."""
    return os.path.isfile(os.path.join(folder, "manifest.json")) and os.path.isdir(
        os.path.join(folder, "root")
    )


@contextmanager
def open_snapshot(path: str) -> Iterator[Host]:
    """A Host on a snapshot archive (unpacked into a temporary folder, removed after)
    or on a snapshot folder unpacked earlier."""
    if os.path.isdir(path):
        if not is_snapshot_folder(path):
            raise ArchiveError(path, "not a hostaudit snapshot (no manifest.json and root/)")
        yield load(path, path)
        return
    temp = tempfile.mkdtemp(prefix="hostaudit-snapshot-")
    try:
        unpack(path, temp, top=collect.FORMAT)
        yield load(os.path.join(temp, collect.FORMAT), path)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def load(folder: str, label: str, kind: str = "snapshot") -> Host:
    """The Host of an unpacked snapshot folder; reports call it "`kind` `label`" (the
    archive it came from), and errors name `label`."""
    manifest = _manifest(folder, label)
    failures = {}
    for path, failure in manifest["unreadable"].items():
        reason = failure.get("reason") if isinstance(failure, dict) else None
        if reason not in FAILURES:
            raise ArchiveError(
                label, f"manifest.json: unreadable.{path}: unknown reason {reason!r}"
            )
        failures[path] = FAILURES[reason](path, str(failure.get("detail", "")))
    kmsg = None
    if manifest["kmsg"]:
        try:
            with open(os.path.join(folder, "kmsg"), "rb") as handle:
                data = handle.read()
        except OSError:
            raise ArchiveError(
                label, "the manifest promises a kernel log (kmsg) it lacks"
            ) from None
        kmsg = data.split(b"\0") if data else []
    capture = Capture(
        label=f"{kind} {label}",
        failures=failures,
        listed_only=frozenset(manifest["listed_only"]),
        kmsg=kmsg,
        not_collected=manifest.get("not_collected", {}),
        saved_log=manifest.get("saved_log", "/var/log/dmesg"),
        notices=tuple(manifest.get("notices", ())),
    )
    return Host(os.path.join(folder, "root"), capture)


def _manifest(folder: str, label: str) -> dict[str, Any]:
    try:
        with open(os.path.join(folder, "manifest.json"), "rb") as handle:
            manifest = json.loads(handle.read(16 << 20))
    except FileNotFoundError:
        raise ArchiveError(label, "not a hostaudit snapshot: no manifest.json") from None
    except (OSError, ValueError) as exc:
        raise ArchiveError(label, f"manifest.json cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != collect.FORMAT:
        raise ArchiveError(label, f"manifest.json: not a {collect.FORMAT} manifest")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > collect.FORMAT_VERSION:
        raise ArchiveError(
            label,
            f"snapshot format {version!r} is newer than this hostaudit reads "
            f"({collect.FORMAT_VERSION}): upgrade hostaudit",
        )
    expected = {"unreadable": dict, "listed_only": list, "kmsg": bool}
    for key, kind in expected.items():
        if not isinstance(manifest.get(key), kind):
            raise ArchiveError(
                label,
                f"manifest.json: {key}: expected a {kind.__name__}, found {manifest.get(key)!r}",
            )
    return manifest
