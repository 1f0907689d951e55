"""Reading tar archives we did not make, in place: snapshots and sosreports.

An archive is read once, front to back, into an index of its members: names, types, link
targets, sizes, times, and the content of the members wanted (in memory for a compressed
archive; as an offset into a plain .tar, read on demand). Nothing is written to disk.

Headers are parsed here rather than by tarfile, for two reasons. tarfile reads a GNU
long-name (`L`, `K`) or pax (`x`, `g`) header whole before any limit can apply, so a 472 KB
.tar.xz holding a 3 GiB long name costs 3 GiB of memory; here each is capped at its
512-byte header. And tarfile spends ~20 us on each header, which dominates auditing a
snapshot of a large host (~50,000 members).

Nothing is trusted. While indexing, every member is checked before its content is read:
relative names only, no `..`, no hard links, device nodes, FIFOs or sparse files, link
targets that stay inside the archive (followed through the other links too), no member
under a link or a file, no name twice, and limits on members, header sizes, each member,
the content kept, and the uncompressed bytes scanned (skipped members count by their
declared size, so an unread 8 GiB member is refused at its header, not after 20 s of
decompression). Values: SECURITY.md.
"""

from __future__ import annotations

import os

from auditor.errors import UsageError
from auditor.sources.rootfs import MAX_MEMBERS, EscapeError, LinkLoopError, Resolver

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

MAX_MEMBER_BYTES = 16 << 20  # one member kept: the auditor reads nothing bigger than 4 MiB
MAX_TOTAL_BYTES = 128 << 20  # content kept from one archive (a snapshot holds at most 68 MiB)
MAX_STREAM_BYTES = 2 << 30  # uncompressed bytes scanned, skipped members included
MAX_NAME_BYTES = 4096  # a GNU long name or link target (`L`, `K`): PATH_MAX
MAX_PAX_BYTES = 64 << 10  # one pax extended header (`x`, `g`)
# Names: a member at most MAX_DEPTH folders deep (the deepest sysfs path of a snapshot, a
# device behind several PCIe switches, is about 20), and the paths the index keeps (every
# member and every folder it implies) at most MAX_NAMES_BYTES together (4,000 functions:
# about 6 MiB). A 4 MB .tgz of 4 KiB names a folder deeper each would otherwise cost 420 MB.
MAX_DEPTH = 64
MAX_NAMES_BYTES = 32 << 20

FILE, DIR, LINK = "file", "dir", "link"
_BLOCK = 512
_ZERO = bytes(_BLOCK)
_CHUNK = 1 << 16
_REGULAR = (b"0", b"\0", b"7")  # 7: contiguous file, read as a regular one


class ArchiveError(UsageError):
    """The archive cannot be used: corrupt, truncated, foreign, or unsafe."""

    def __init__(self, archive: str, detail: str) -> None:
        self.detail = detail
        super().__init__(f"{archive}: {detail}")


class NotOneFolder(ArchiveError):
    """The archive's members are not all in one top folder, as snapshots and sosreports
    are (a tar of a whole root, made with `tar -C root .`, is not)."""


class TarIndex:
    """The members of one archive, indexed by "/" + their name ("/top/a/b")."""

    def __init__(
        self,
        archive: str,
        top: str | None = None,
        wanted: Callable[[str], bool] | None = None,
    ) -> None:
        """Index `archive` (tar, optionally gzip, xz or bzip2).

        `top`: every member must lie under this first component (None: any one top folder).
        `wanted`: names below the top folder that are kept; the others are skipped unread.
        Raises ArchiveError naming the archive and the reason.
        """
        self.archive = archive
        # Three plain tables rather than an object per name: a large host's snapshot holds
        # ~50,000 names. The times of folders and links are not kept (no check reads them).
        self.files: dict[str, tuple[int, float, bytes | int]] = {}  # size, mtime, content
        self.links: dict[str, str] = {}  # the raw target
        self.dirs: dict[str, list[str]] = {"/": []}  # the keys of the folder's entries
        self._targets: dict[str, str] = {}  # one string for each distinct link target
        self._plain: BinaryIO | None = None  # a plain .tar stays open: content read on demand
        self._names_bytes = 0  # the paths kept so far (MAX_NAMES_BYTES)
        self.top = self._index(top, wanted)

    def kind(self, key: str) -> str | None:
        """FILE, DIR or LINK for a key; None when the archive has no such name."""
        if key in self.files:
            return FILE
        if key in self.dirs:
            return DIR
        return LINK if key in self.links else None

    def names(self, key: str) -> list[str]:
        """The names in the folder `key`."""
        return [child.rpartition("/")[2] for child in self.dirs[key]]

    def close(self) -> None:
        """Release the archive."""
        if self._plain is not None:
            self._plain.close()
            self._plain = None

    def read(self, key: str) -> bytes:
        """The content of the regular member `key` (known to exist)."""
        size, _, data = self.files[key]
        if isinstance(data, bytes):
            return data
        assert self._plain is not None  # offsets exist only for a plain .tar
        return os.pread(self._plain.fileno(), size, data)

    # -- indexing --

    def _refuse(self, detail: str) -> ArchiveError:
        return ArchiveError(self.archive, detail)

    def _index(self, top: str | None, wanted: Callable[[str], bool] | None) -> str:
        import lzma
        import zlib

        stream = self._open()
        try:
            return self._scan(stream, top, wanted)
        except ArchiveError:
            self.close()
            raise
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
            self.close()
            raise self._refuse(f"corrupt or truncated archive ({_reason(exc)})") from None
        finally:
            if self._plain is None:
                stream.raw.close()
                stream.handle.close()

    def _open(self) -> _Stream:
        import stat

        try:
            fd = os.open(self.archive, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            raise self._refuse("no such file") from None
        except PermissionError:
            raise self._refuse("cannot read: permission denied") from None
        except OSError as exc:
            raise self._refuse(f"cannot read: {exc.strerror}") from None
        handle = os.fdopen(fd, "rb", buffering=0)
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            handle.close()
            raise self._refuse("a folder, not an archive" if stat.S_ISDIR(mode) else "not a file")
        magic = os.pread(fd, 6, 0)
        raw: BinaryIO
        if magic.startswith(b"\x1f\x8b"):
            import gzip

            raw = gzip.GzipFile(fileobj=handle, mode="rb")  # type: ignore[assignment]
        elif magic.startswith(b"\xfd7zXZ\x00"):
            import lzma

            raw = lzma.LZMAFile(handle)  # type: ignore[assignment]  # noqa: SIM115
        elif magic.startswith(b"BZh"):
            import bz2

            raw = bz2.BZ2File(handle)  # type: ignore[assignment]
        elif magic.startswith(b"\x28\xb5\x2f\xfd"):
            handle.close()
            raise self._refuse("zstd-compressed: not supported; unpack it and audit the folder")
        else:
            raw = handle  # a plain tar: content stays on disk, read by offset when asked
            self._plain = handle
        return _Stream(self.archive, handle, raw, os.fstat(fd).st_size)

    def _scan(self, stream: _Stream, top: str | None, wanted: Callable[[str], bool] | None) -> str:
        count = 0
        kept_bytes = 0
        pending: dict[str, str] = {}  # from pax and GNU headers, for the next member
        checked_parent = ""  # the last parent folder verified (members come in order)
        first = True
        links: list[str] = []
        while True:
            block = stream.read(_BLOCK)
            if len(block) < _BLOCK:
                if first:
                    raise self._refuse("not a tar archive, or corrupt (too short)")
                if block:
                    raise self._refuse("corrupt or truncated archive (a partial header)")
                break  # the end of the file without the end marker: tar accepts it
            if block == _ZERO:
                break  # the end-of-archive marker; what follows is padding
            header = _parse(block)
            if header is None:
                if first:
                    raise self._refuse("not a tar archive, or corrupt (bad header checksum)")
                raise self._refuse("corrupt archive (bad header checksum)")
            first = False
            count += 1
            if count > MAX_MEMBERS:
                raise self._refuse(f"more than {MAX_MEMBERS} members: refused")
            kind, raw_name, size, mtime, raw_target = header
            if size < 0:  # octal "-7777777000" or a GNU base-256 negative: no tar writes one
                raise self._refuse(f"corrupt archive (a member of negative size {size})")
            if kind in (b"x", b"g", b"L", b"K"):
                limit = MAX_NAME_BYTES if kind in (b"L", b"K") else MAX_PAX_BYTES
                if size > limit:
                    raise self._refuse(
                        f"a {_META[kind]} header of {size} bytes; the limit is {limit}: refused"
                    )
                data = stream.read(size)
                stream.skip(-size % _BLOCK)
                if len(data) < size:
                    raise self._refuse("corrupt or truncated archive (a partial header)")
                if kind == b"x":
                    pending.update(self._pax(data))
                elif kind == b"g":
                    self._pax(data)  # checked (sparse, form) but applies to nothing we use
                else:
                    key = "path" if kind == b"L" else "linkpath"
                    pending[key] = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                continue
            name = pending.pop("path", None) or raw_name.decode("utf-8", "surrogateescape")
            target = pending.pop("linkpath", None)
            if target is None:
                target = raw_target.decode("utf-8", "surrogateescape")
            if "size" in pending:
                size = _pax_number(self.archive, pending.pop("size"))
            if "mtime" in pending:
                mtime = _pax_float(self.archive, pending.pop("mtime"))
            pending.clear()
            if kind == b"5" and name.strip("./") == "":
                continue  # `tar -C folder .` names the folder itself ./: nothing to index
            parts = self._safe_name(name)
            if top is None:
                top = parts[0]
            if parts[0] != top:
                if count == 1 or len(self.dirs) + len(self.files) + len(self.links) == 1:
                    raise self._refuse(f"not a {top} archive (it holds {name!r})")
                raise NotOneFolder(
                    self.archive, f"member {name!r} lies outside the top folder {top}/"
                )
            has_data = kind in _REGULAR or kind not in _TYPES
            rest = "/".join(parts[1:])
            if wanted is not None and rest and not wanted(rest):
                if has_data:
                    stream.skip(size + (-size % _BLOCK))
                continue
            self._check_type(kind, name, size)
            if kind == b"2":
                self._check_link_target(name, parts, target)
            key = "/" + "/".join(parts)
            parent = key.rsplit("/", 1)[0] or "/"
            if parent != checked_parent:
                self._make_parents(name, parent)
                checked_parent = parent
            if kind == b"5":
                if key not in self.dirs:
                    self._claim(name, key)
                    self.dirs[key] = []
                continue
            if kind == b"2":
                self._claim(name, key)
                self.links[key] = self._targets.setdefault(target, target)
                links.append(key)
                continue
            kept_bytes += size
            if kept_bytes > MAX_TOTAL_BYTES:
                raise self._refuse(
                    f"reading {name!r} passes the size limit of {MAX_TOTAL_BYTES} bytes "
                    "kept from one archive: refused"
                )
            content: bytes | int
            if stream.raw is stream.handle:
                content = stream.position
                stream.skip(size)
            else:
                content = stream.read(size)
                if len(content) < size:
                    raise self._refuse("corrupt or truncated archive (unexpected end of data)")
            stream.skip(-size % _BLOCK)
            self._claim(name, key)
            self.files[key] = (size, mtime, content)
        if not (self.files or self.links or len(self.dirs) > 1):
            raise self._refuse("empty archive")
        self._check_chains(links)
        return top or ""

    def _pax(self, data: bytes) -> dict[str, str]:
        """The records of a pax extended header: `LENGTH key=value\\n` each."""
        records: dict[str, str] = {}
        offset = 0
        while offset < len(data):
            if data[offset] == 0:
                break  # padding
            space = data.find(b" ", offset, offset + 20)
            try:
                length = int(data[offset:space])
            except ValueError:
                raise self._refuse("corrupt pax header") from None
            end = offset + length
            if space < 0 or length <= 0 or end > len(data) or data[end - 1 : end] != b"\n":
                raise self._refuse("corrupt pax header")
            key, equals, value = data[space + 1 : end - 1].partition(b"=")
            if not equals:
                raise self._refuse("corrupt pax header")
            text = key.decode("utf-8", "replace")
            if text.startswith("GNU.sparse."):
                raise self._refuse("member is a sparse file (GNU sparse pax): refused")
            if text in ("path", "linkpath", "size", "mtime"):
                records[text] = value.decode("utf-8", "surrogateescape")
            offset = end
        return records

    def _safe_name(self, name: str) -> list[str]:
        if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
            raise self._refuse(f"member {name!r} has an absolute path: refused")
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise self._refuse(f"member {name!r} climbs out with '..': refused")
        if not parts or "\0" in name:
            raise self._refuse(f"member {name!r} has no usable name: refused")
        if len(parts) > MAX_DEPTH:
            raise self._refuse(
                f"member {name[:200]!r}... is {len(parts)} folders deep; the limit is {MAX_DEPTH}"
            )
        return parts

    def _check_type(self, kind: bytes, name: str, size: int) -> None:
        if kind in (b"3", b"4", b"6"):
            raise self._refuse(f"member {name!r} is a device file or FIFO: refused")
        if kind == b"1":
            raise self._refuse(f"member {name!r} is a hard link: refused")
        if kind == b"S":
            raise self._refuse(f"member {name!r} is a sparse file: refused")
        if kind not in _TYPES:
            raise self._refuse(f"member {name!r} has an unknown type: refused")
        if kind in _REGULAR and size > MAX_MEMBER_BYTES:
            raise self._refuse(f"member {name!r} is {size} bytes; the limit is {MAX_MEMBER_BYTES}")

    def _check_link_target(self, name: str, parts: list[str], target: str) -> None:
        if target.startswith("/"):
            raise self._refuse(f"link {name!r} points to the absolute path {target!r}: refused")
        depth = len(parts) - 1  # folders above the link, the top one included
        for part in target.split("/"):
            if part == "..":
                depth -= 1
                if depth < 0:
                    raise self._refuse(f"link {name!r} points out of the archive ({target!r})")
            elif part not in ("", "."):
                depth += 1

    def _make_parents(self, name: str, parent: str) -> None:
        """The member's folders exist as folders: implicit ones are made, and a member
        under a link or a file is refused (it would be written through the link)."""
        path = ""
        for part in parent.split("/")[1:]:
            folder = path or "/"
            path += "/" + part
            if path in self.dirs:
                continue
            if path in self.links:
                raise self._refuse(f"member {name!r} would be written through a link: refused")
            if path in self.files:
                raise self._refuse(f"member {name!r} lies under a file: refused")
            self._count_name(path)
            self.dirs[folder].append(path)
            self.dirs[path] = []

    def _claim(self, name: str, key: str) -> None:
        """Enter a new name in its folder; a name the archive holds already is refused."""
        if key in self.files or key in self.links or key in self.dirs:
            raise self._refuse(f"member {name!r} repeats a name")
        self._count_name(key)
        self.dirs[key.rpartition("/")[0] or "/"].append(key)

    def _count_name(self, key: str) -> None:
        """Every path kept counts against MAX_NAMES_BYTES."""
        self._names_bytes += len(key)
        if self._names_bytes > MAX_NAMES_BYTES:
            raise self._refuse(
                f"its names pass {MAX_NAMES_BYTES} bytes together (a snapshot's are a few MiB): refused"
            )

    def _check_chains(self, links: list[str]) -> None:
        """Each link alone stays inside (checked at its header); followed through the other
        links it must too. Only a `..` after a name can climb further than it looks."""

        resolver = Resolver(self.links.get, clamp=False)
        for key in links:
            parts = self.links[key].split("/")
            names = [i for i, part in enumerate(parts) if part not in ("", ".", "..")]
            if not names or ".." not in parts[names[0] :]:
                continue
            try:
                resolver.resolve(key)
            except EscapeError:
                raise self._refuse(
                    f"link {key[1:]!r} resolves outside the archive: refused"
                ) from None
            except LinkLoopError:
                continue  # a loop leads nowhere; reading through it fails later


class _Stream:
    """The archive's uncompressed bytes, counted against MAX_STREAM_BYTES."""

    def __init__(self, archive: str, handle: BinaryIO, raw: BinaryIO, file_size: int) -> None:
        self.archive = archive
        self.handle = handle
        self.raw = raw
        self.file_size = file_size  # of the archive on disk (a plain tar's bytes)
        self.position = 0

    def _spend(self, size: int) -> None:
        if self.raw is not self.handle and self.position + size > MAX_STREAM_BYTES:
            raise ArchiveError(
                self.archive,
                f"holds more than {MAX_STREAM_BYTES >> 20} MiB uncompressed: refused "
                "(unpack it and audit the folder with --root)",
            )

    def read(self, size: int) -> bytes:
        """Up to `size` bytes (fewer only at the end)."""
        self._spend(size)
        chunks = []
        left = size
        while left > 0:
            chunk = self.raw.read(min(left, _CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        self.position += len(data)
        return data

    def skip(self, size: int) -> None:
        """Pass over `size` bytes: a seek in a plain tar, decompressed and dropped otherwise."""
        if size <= 0:
            return
        if self.raw is self.handle:  # a seek costs nothing: not counted as bytes scanned
            self.handle.seek(size, os.SEEK_CUR)
            self.position += size
            if self.position > self.file_size:
                raise ArchiveError(self.archive, "corrupt or truncated archive (unexpected end)")
            return
        self._spend(size)
        left = size
        while left > 0:
            chunk = self.raw.read(min(left, _CHUNK))
            if not chunk:
                raise ArchiveError(self.archive, "corrupt or truncated archive (unexpected end)")
            left -= len(chunk)
        self.position += size


_NO_TIME = 0.0
_TYPES = (*_REGULAR, b"1", b"2", b"3", b"4", b"5", b"6", b"S")
_META = {b"x": "pax", b"g": "pax global", b"L": "GNU long name", b"K": "GNU long link"}


def _parse(block: bytes) -> tuple[bytes, bytes, int, float, bytes] | None:
    """(type, name, size, mtime, link target) of a header block; None if its checksum is
    wrong. ustar's prefix field extends the name; GNU tar's magic has no prefix."""
    try:
        checksum = _number(block[148:156])
        size = _number(block[124:136])
        mtime = _number(block[136:148])
    except ValueError:
        return None
    unsigned = sum(block) - sum(block[148:156]) + 256
    if checksum != unsigned and checksum != unsigned - 256 * sum(
        1 for byte in block if byte > 127
    ):  # some old tars summed signed chars
        return None
    name = block[:100].split(b"\0", 1)[0]
    if block[257:263] == b"ustar\x00":
        prefix = block[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    when = _NO_TIME if mtime == 0 else float(mtime)  # most members have none: one shared 0.0
    return block[156:157], name, size, when, block[157:257].split(b"\0", 1)[0]


def _number(field: bytes) -> int:
    """A header number: octal text, or GNU base-256 (first byte 0x80 or 0xff)."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        return -((1 << (8 * (len(field) - 1))) - value) if field[0] == 0xFF else value
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _pax_number(archive: str, text: str) -> int:
    if not text.isdigit():
        raise ArchiveError(archive, f"corrupt pax header (size {text!r})")
    return int(text)


def _pax_float(archive: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ArchiveError(archive, f"corrupt pax header (mtime {text!r})") from None
    if value != value or abs(value) > 1e11:
        raise ArchiveError(archive, f"corrupt pax header (mtime {text!r})")
    return value


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text if len(text) < 200 else text[:200] + "..."
