"""Unpacking archives we did not make ourselves, safely: snapshots and sosreports.

Nothing is trusted. Every member is checked before a byte is written: relative names only,
no `..`, no hard links, device nodes, FIFOs or sparse files, symbolic links that stay
inside the target, no member written through a link, and limits on the number of members,
each member's size and the total, counted as bytes arrive (not as headers claim). A
refused or corrupt archive leaves nothing behind. tarfile's own `filter="data"` does much
of this, but only from Python 3.12 (and some 3.9/3.10 security releases): this code is
the one rule everywhere.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile

from auditor.errors import UsageError

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable

MAX_MEMBERS = 200_000  # a 4,000-function host's snapshot holds about 60,000
MAX_MEMBER_BYTES = 16 << 20  # the auditor reads nothing bigger than 4 MiB
MAX_TOTAL_BYTES = 512 << 20
_CHUNK = 1 << 16


class ArchiveError(UsageError):
    """The archive cannot be used: corrupt, truncated, foreign, or unsafe to unpack."""

    def __init__(self, archive: str, detail: str) -> None:
        super().__init__(f"{archive}: {detail}")


def unpack(
    archive: str,
    target: str,
    top: str | None = None,
    wanted: Callable[[str], bool] | None = None,
) -> list[str]:
    """Unpack `archive` (tar, optionally gzip/xz/bzip2) into the empty folder `target`.

    `top`: every member must lie under this first component (None: any one top folder).
    `wanted`: members (names below the top folder) not wanted are skipped unread.
    Returns the names unpacked. Raises ArchiveError; then `target` is left empty.
    """
    try:
        names = _unpack(archive, target, top, wanted)
        _check_links(archive, target)
        return names
    except BaseException:
        _empty(target)
        raise


def _unpack(
    archive: str, target: str, top: str | None, wanted: Callable[[str], bool] | None
) -> list[str]:
    import lzma
    import zlib

    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 (closed by the `with tar` below)
    except FileNotFoundError:
        raise ArchiveError(archive, "no such file") from None
    except IsADirectoryError:
        raise ArchiveError(archive, "a folder, not an archive") from None
    except PermissionError:
        raise ArchiveError(archive, "cannot read: permission denied") from None
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise ArchiveError(archive, f"not a tar archive, or corrupt ({exc})") from None
    names: list[str] = []
    total = 0
    count = 0
    folders: set[str] = set()  # folders made or checked already: never links
    try:
        with tar:
            for member in tar:
                count += 1
                if count > MAX_MEMBERS:
                    raise ArchiveError(archive, f"more than {MAX_MEMBERS} members: refused")
                name = _safe_name(archive, member.name)
                first, _, rest = name.partition("/")
                if top is None:
                    top = first
                if first != top and count == 1:
                    raise ArchiveError(archive, f"not a {top} archive (it holds {member.name!r})")
                if first != top:
                    raise ArchiveError(
                        archive, f"member {member.name!r} lies outside the top folder {top}/"
                    )
                if wanted is not None and rest and not wanted(rest):
                    continue
                _check_type(archive, member, name)
                total += _write(
                    archive, tar, member, target, name, MAX_TOTAL_BYTES - total, folders
                )
                names.append(name)
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise ArchiveError(archive, f"corrupt or truncated archive ({exc})") from None
    except OSError as exc:
        raise ArchiveError(archive, f"cannot unpack: {exc.strerror or exc}") from None
    if not names:
        raise ArchiveError(archive, "empty archive")
    return names


def _safe_name(archive: str, name: str) -> str:
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(archive, f"member {name!r} has an absolute path: refused")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(archive, f"member {name!r} climbs out with '..': refused")
    if not parts or "\0" in name:
        raise ArchiveError(archive, f"member {name!r} has no usable name: refused")
    return "/".join(parts)


def _check_type(archive: str, member: tarfile.TarInfo, name: str) -> None:
    if member.isdev() or member.isfifo():
        raise ArchiveError(archive, f"member {member.name!r} is a device file or FIFO: refused")
    if member.islnk():
        raise ArchiveError(archive, f"member {member.name!r} is a hard link: refused")
    if member.issparse():
        raise ArchiveError(archive, f"member {member.name!r} is a sparse file: refused")
    if not (member.isreg() or member.isdir() or member.issym()):
        raise ArchiveError(archive, f"member {member.name!r} has an unknown type: refused")
    if member.isreg() and member.size > MAX_MEMBER_BYTES:
        raise ArchiveError(
            archive,
            f"member {member.name!r} is {member.size} bytes; the limit is {MAX_MEMBER_BYTES}",
        )
    if member.issym():
        target = member.linkname
        if target.startswith("/"):
            raise ArchiveError(
                archive, f"link {member.name!r} points to the absolute path {target!r}: refused"
            )
        depth = name.count("/")  # folders above the link, the top one included
        for part in target.split("/"):
            if part == "..":
                depth -= 1
                if depth < 0:
                    raise ArchiveError(
                        archive, f"link {member.name!r} points out of the archive ({target!r})"
                    )
            elif part not in ("", "."):
                depth += 1


def _write(
    archive: str,
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    target: str,
    name: str,
    budget: int,
    folders: set[str],
) -> int:
    """Create one member under target without following any link; return bytes written."""
    path = os.path.join(target, name)
    _make_parents(archive, target, name, folders)
    if member.isdir():
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                raise ArchiveError(archive, f"member {member.name!r} repeats a name") from None
        return 0
    if member.issym():
        try:
            os.symlink(member.linkname, path)
        except FileExistsError:
            raise ArchiveError(archive, f"member {member.name!r} repeats a name") from None
        return 0
    source = tar.extractfile(member)
    if source is None:
        raise ArchiveError(archive, f"member {member.name!r} has no content")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        raise ArchiveError(archive, f"member {member.name!r} repeats a name") from None
    written = 0
    with os.fdopen(fd, "wb") as out:
        while True:
            chunk = source.read(_CHUNK)
            if not chunk:
                break
            written += len(chunk)
            if written > MAX_MEMBER_BYTES or written > budget:
                raise ArchiveError(
                    archive, f"unpacking {member.name!r} passes the size limit: refused"
                )
            out.write(chunk)
    if member.mtime:
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
    return written


def _make_parents(archive: str, target: str, name: str, folders: set[str]) -> None:
    """Create the member's parent folders, refusing to pass through a link.

    A folder checked once stays a folder: a later member cannot replace it (names that
    exist already are refused), so `folders` remembers them.
    """
    current = target
    for part in name.split("/")[:-1]:
        current = os.path.join(current, part)
        if current in folders:
            continue
        folders.add(current)
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if stat.S_ISLNK(mode):
            raise ArchiveError(archive, f"member {name!r} would be written through a link: refused")
        if not stat.S_ISDIR(mode):
            raise ArchiveError(archive, f"member {name!r} lies under a file: refused")


def _check_links(archive: str, target: str) -> None:
    """Every link, resolved by the kernel through the links unpacked, stays inside target."""
    root = os.path.realpath(target)
    for folder, dirs, files in os.walk(target):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                continue
            resolved = os.path.realpath(path)
            if os.path.commonpath([root, resolved]) != root:
                inside = os.path.relpath(path, target)
                raise ArchiveError(
                    archive, f"link {inside!r} resolves outside the archive: refused"
                )


def _empty(target: str) -> None:
    """Remove what was unpacked (target itself stays, as the caller made it)."""
    for name in os.listdir(target):
        path = os.path.join(target, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
