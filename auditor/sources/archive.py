"""An archive as a host: the members of a TarIndex under one folder of it, read in place."""

from __future__ import annotations

from auditor.errors import FileMissingError, UnreadableError
from auditor.sources.base import DIR, LINK, Node, Reader
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
        member = self.index.members.get(self._key(path))
        return member.target if member is not None and member.kind == LINK else None

    def stat(self, path: str) -> Node:
        member = self.index.members.get(self._key(path))
        if member is None:
            raise FileMissingError(path)
        return Node(member.kind, member.size, member.mtime)

    def listdir(self, path: str) -> list[str]:
        key = self._key(path)
        member = self.index.members.get(key)
        if member is None or member.kind != DIR:
            raise FileMissingError(path)  # as listing a file fails: ENOTDIR
        return list(self.index.children.get(key, ()))

    def read(self, path: str, limit: int) -> bytes:
        key = self._key(path)
        member = self.index.members.get(key)
        if member is None:
            raise FileMissingError(path)
        if member.kind != "file":
            raise UnreadableError(path, "not a regular file")
        if member.size > limit:
            raise UnreadableError(path, f"larger than {limit} bytes")
        return self.index.read(key, limit)
