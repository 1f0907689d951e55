"""A snapshot as a host: the archive the collector wrote (auditor/sources/collect.py), read
in place, or a folder it was unpacked into. What the collector recorded besides files is
replayed: a read that failed on the host fails the same way here ("needs root" stays
"needs root"), a file whose name alone was kept cannot be read, and the kernel log records
taken from /dev/kmsg are the kernel log.
"""

from __future__ import annotations

import json
import os

from auditor.errors import (
    FileMissingError,
    HostError,
    NeedsRootError,
    NotCollectedError,
    ReadBudgetError,
    UnreadableError,
)
from auditor.sources import collector
from auditor.sources.base import FILE, Node, Reader
from auditor.sources.rootfs import KMSG_LIMIT
from auditor.sources.tarindex import ArchiveError

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from auditor.registry import LoadedCheck

FAILURES: dict[str, type[HostError] | type[ReadBudgetError]] = {
    "missing": FileMissingError,
    "needs-root": NeedsRootError,
    "unreadable": UnreadableError,
    "budget": ReadBudgetError,
}
MANIFEST = "manifest.json"
MANIFEST_LIMIT = 16 << 20

# What a manifest may hold (collector.manifest() writes it); validated before any of it is
# used, by auditor.schema. The collector's own output is checked against it by the suite.
MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "format_version", "unreadable", "listed_only", "kmsg"],
    "properties": {
        "format": {"const": collector.FORMAT},
        "format_version": {"type": "integer", "minimum": 1},
        "tool_version": {"type": "string"},
        "created": {"type": "string", "maxLength": 64},
        "collected_as_root": {"type": "boolean"},
        "python": {"type": "string"},
        "root": {"type": "string"},
        "live": {"type": "boolean"},
        "host": {
            "type": "object",
            "properties": {
                "hostname": {"type": ["string", "null"]},
                "kernel_release": {"type": ["string", "null"]},
                "boot_time": {"type": ["integer", "null"]},
                "machine_id": {"type": ["string", "null"]},
            },
        },
        "reads": {"type": "array", "items": {"type": "string"}},
        "kmsg": {"type": "boolean"},
        "unreadable": {
            "type": "object",
            "propertyNames": {"pattern": "^/"},
            "additionalProperties": {
                "type": "object",
                "required": ["reason"],
                "properties": {
                    "reason": {"enum": sorted(FAILURES)},
                    "detail": {"type": "string", "maxLength": 4096},
                },
            },
        },
        "listed_only": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
        "not_collected": {
            "type": "object",
            "propertyNames": {"pattern": "^/"},
            "additionalProperties": {"type": "string", "maxLength": 4096},
        },
        "saved_log": {"type": "string", "pattern": "^/"},
        "notices": {"type": "array", "items": {"type": "string", "maxLength": 4096}},
    },
}


def reads(checks: list[LoadedCheck]) -> tuple[str, ...]:
    """What a snapshot must hold for these checks: the union of their `reads`, sorted."""
    return tuple(sorted({path for item in checks for path in item.check.reads}))


def is_snapshot_folder(folder: str) -> bool:
    """Whether `folder` is an unpacked snapshot (manifest.json and root/)."""
    return os.path.isfile(os.path.join(folder, MANIFEST)) and os.path.isdir(
        os.path.join(folder, "root")
    )


class SnapshotReader(Reader):
    """The host a snapshot holds: its root/ folder, with the collector's records replayed."""

    def __init__(
        self, inner: Reader, manifest: dict[str, Any], kmsg: list[bytes] | None, name: str
    ) -> None:
        self.inner = inner
        self.root = name
        self.label = f"snapshot {name}"
        self.failures = {
            path: (FAILURES[failure["reason"]], failure.get("detail", ""))
            for path, failure in manifest["unreadable"].items()
        }
        self.listed_only = frozenset(manifest["listed_only"])
        self.not_collected: dict[str, str] = manifest.get("not_collected", {})
        self.saved_log = manifest.get("saved_log", self.saved_log)
        self.notices = tuple(manifest.get("notices", ()))
        self.collected_at = _created(manifest.get("created"))
        self.captured = True
        self.has_kmsg = kmsg is not None
        self._kmsg = kmsg or []

    def close(self) -> None:
        self.inner.close()

    def _replay(self, path: str) -> None:
        failure = self.failures.get(path)
        if failure is not None:
            error, detail = failure
            raise error(path, detail)

    def check(self, path: str) -> None:
        for prefix, reason in self.not_collected.items():
            if path == prefix or path.startswith(prefix + "/"):
                raise NotCollectedError(path, reason)

    def link_target(self, path: str) -> str | None:
        return self.inner.link_target(path)

    def stat(self, path: str) -> Node:
        return self.inner.stat(path)

    def listdir(self, path: str) -> list[str]:
        self._replay(path)
        return self.inner.listdir(path)

    def read(self, path: str, limit: int) -> bytes:
        self._replay(path)
        if path in self.listed_only:
            raise NotCollectedError(path, "only its name was collected")
        return self.inner.read(path, limit)

    def kmsg(self) -> list[bytes]:
        self._replay("/dev/kmsg")
        if not self.has_kmsg:
            return super().kmsg()
        return self._kmsg


def open_snapshot(path: str) -> SnapshotReader:
    """The reader of a snapshot archive (indexed in place) or of a folder it was unpacked to."""
    if os.path.isdir(path):
        from auditor.sources.folder import FolderReader

        if not is_snapshot_folder(path):
            raise ArchiveError(path, "not a hostaudit snapshot (no manifest.json and root/)")
        # `tar xf` of a hostile archive can make root/ a link (root -> /): the audit would
        # then read the auditor's own host as the snapshot's. root/ must be a real folder.
        import stat

        if not stat.S_ISDIR(os.lstat(os.path.join(path, "root")).st_mode):
            raise ArchiveError(
                path,
                "not a hostaudit snapshot: its root/ is a symbolic link, not a folder inside it",
            )
        outer: Reader = FolderReader(path)
        try:
            manifest, kmsg = _records(outer, path)
        finally:
            outer.close()
        return SnapshotReader(FolderReader(os.path.join(path, "root")), manifest, kmsg, path)

    from auditor.sources.archive import ArchiveReader
    from auditor.sources.tarindex import TarIndex

    index = TarIndex(path, top=collector.FORMAT)
    top = ArchiveReader(index, f"/{collector.FORMAT}")
    try:
        manifest, kmsg = _records(top, path)
        if top.stat("/root").kind != "dir":
            raise FileMissingError("/root")
    except HostError:
        index.close()
        raise ArchiveError(path, "not a hostaudit snapshot: no root/ folder") from None
    except BaseException:
        index.close()
        raise
    return SnapshotReader(ArchiveReader(index, f"/{collector.FORMAT}/root"), manifest, kmsg, path)


def _records(top: Reader, name: str) -> tuple[dict[str, Any], list[bytes] | None]:
    """The manifest, validated, and the kernel log records it promises."""
    try:
        if top.stat(f"/{MANIFEST}").kind != FILE:
            raise FileMissingError(f"/{MANIFEST}")
        data = top.read(f"/{MANIFEST}", MANIFEST_LIMIT)
    except HostError as exc:
        raise ArchiveError(name, f"not a hostaudit snapshot: {MANIFEST} {exc.reason}") from None
    manifest = parse_manifest(data, name)
    kmsg = None
    if manifest["kmsg"]:
        try:
            records = top.read("/kmsg", KMSG_LIMIT)
        except HostError:
            raise ArchiveError(name, "the manifest promises a kernel log (kmsg) it lacks") from None
        kmsg = records.split(b"\0") if records else []
    return manifest, kmsg


def parse_manifest(data: bytes, name: str) -> dict[str, Any]:
    """A manifest's content, checked against MANIFEST_SCHEMA; ArchiveError names the key."""
    from auditor.schema import Validator

    try:
        manifest = json.loads(data)
    except RecursionError:
        raise ArchiveError(name, f"{MANIFEST}: nested too deeply") from None
    except ValueError as exc:
        raise ArchiveError(name, f"{MANIFEST} cannot be read: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != collector.FORMAT:
        raise ArchiveError(name, f"{MANIFEST}: not a {collector.FORMAT} manifest")
    version = manifest.get("format_version")
    if isinstance(version, int) and version > collector.FORMAT_VERSION:
        raise ArchiveError(
            name,
            f"snapshot format {version!r} is newer than this hostaudit reads "
            f"({collector.FORMAT_VERSION}): upgrade hostaudit",
        )
    errors = Validator(MANIFEST_SCHEMA).errors(manifest)
    if errors:
        where = ".".join(str(part) for part in errors[0].absolute_path) or "(top level)"
        raise ArchiveError(name, f"{MANIFEST}: {where}: {errors[0].message}")
    return manifest


def _created(text: str | None) -> str | None:
    """The manifest's creation time (collect.py writes 2026-11-25T21:00:00Z) as reports
    write times; None when it is missing or not a time."""
    from auditor.model import epoch
    from auditor.sources.base import utc

    try:
        return utc(epoch(text)) if text else None
    except ValueError:
        return None
