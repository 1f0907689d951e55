"""An archive as a host: the members of a TarIndex under one folder of it, read in place."""

from __future__ import annotations

from auditor.errors import FileMissingError, UnreadableError
from auditor.sources.base import FILE, Node, Reader
from auditor.sources.tarindex import TarIndex


class ArchiveReader(Reader):
    """Host path "/x" is member `base` + "/x" of the index (base: "/top" or "/top/root")."""

    def __init__(self, index: TarIndex, base: str) -> None:
        self.index = index
        self.base = base
        self.root = self.label = index.archive

    def close(self) -> None:
        self.index.close()

    def _key(self, path: str) -> str:
        return self.base if path == "/" else self.base + path

    def link_target(self, path: str) -> str | None:
        return self.index.links.get(self._key(path))

    def stat(self, path: str) -> Node:
        key = self._key(path)
        kind = self.index.kind(key)
        if kind is None:
            raise FileMissingError(path)
        if kind == FILE:
            size, mtime, _ = self.index.files[key]
            return Node(FILE, size, mtime)
        return Node(kind)  # folders and links: no time kept

    def listdir(self, path: str) -> list[str]:
        key = self._key(path)
        if key not in self.index.dirs:
            raise FileMissingError(path)  # as listing a file fails: ENOTDIR
        return self.index.names(key)

    def read(self, path: str, limit: int) -> bytes:
        key = self._key(path)
        kind = self.index.kind(key)
        if kind is None:
            raise FileMissingError(path)
        if kind != FILE:
            raise UnreadableError(path, "not a regular file")
        if self.index.files[key][0] > limit:
            raise UnreadableError(path, f"larger than {limit} bytes")
        return self.index.read(key)
