"""A tar writer: ustar headers with pax records where a name or time needs one, as
snapshots are written (auditor/sources/tarindex.py reads them back).

Part of the stand-alone collector (see auditor/sources/rootfs.py).
"""

import os

TYPE_CHECKING = False  # `typing` costs milliseconds at start-up; mypy treats this name as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Dict, List, Tuple

# BEGIN collect.py
# -- writing the archive --------------------------------------------------------------------

# ustar header fields (POSIX.1-1988 as extended by POSIX.1-2001 pax), offsets and sizes.
_BLOCK = 512
_REGTYPE, _SYMTYPE, _DIRTYPE, _PAXTYPE = b"0", b"2", b"5", b"x"


def _octal(value: int, size: int) -> bytes:
    return b"%0*o\0" % (size - 1, value)


# The fields every header shares: mode, uid and gid before the size; owner names and device
# numbers after the magic. Each is built once with the sum of its bytes (for the checksum).
_OWNERS = b"ustar\x0000" + b"root".ljust(32, b"\0") * 2 + _octal(0, 8) * 2
_MODES = {
    kind: _octal(0o755 if kind == _DIRTYPE else 0o644, 8) + _octal(0, 8) * 2
    for kind in (_REGTYPE, _SYMTYPE, _DIRTYPE, _PAXTYPE)
}
_MODE_SUMS = {kind: sum(fields) + kind[0] for kind, fields in _MODES.items()}
_CONSTANT_SUM = sum(_OWNERS) + 8 * 32  # the checksum field counts as eight spaces
_NUMBERS: "Dict[int, Tuple[bytes, int]]" = {}  # 12-byte size and time fields, with their sums


def _number_field(value: int) -> "Tuple[bytes, int]":
    """The 12-byte octal field of `value` and the sum of its bytes (remembered: sizes and
    times repeat across the ~50,000 members of a large host's snapshot)."""
    known = _NUMBERS.get(value)
    if known is None:
        field = _octal(value, 12)
        known = (field, sum(field))
        if len(_NUMBERS) < 65536:
            _NUMBERS[value] = known
    return known


def _header(name: bytes, kind: bytes, size: int, mtime: int, target: bytes) -> bytes:
    """One ustar header block; the name is split into prefix and name where it must be."""
    prefix = b""
    if len(name) > 100:
        cut = name.rfind(b"/", 0, 156)
        prefix, name = name[:cut], name[cut + 1 :]
    size_field, size_sum = _number_field(size)
    time_field, time_sum = _number_field(mtime)
    checksum = (
        _CONSTANT_SUM + _MODE_SUMS[kind] + sum(name) + sum(target) + sum(prefix)
        + size_sum + time_sum
    )  # fmt: skip
    return b"".join(
        (
            name.ljust(100, b"\0"),
            _MODES[kind],
            size_field,
            time_field,
            b"%06o\0 " % checksum,
            kind,
            target.ljust(100, b"\0"),
            _OWNERS,
            prefix.ljust(155, b"\0"),
            bytes(12),
        )
    )


def _fits_ustar(name: bytes) -> bool:
    if len(name) <= 100:
        return True
    cut = name.rfind(b"/", 0, 156)
    return cut > 0 and len(name) - cut - 1 <= 100


def _is_ascii(raw: bytes) -> bool:
    return len(raw.decode("ascii", "ignore")) == len(raw)  # bytes.isascii() is Python 3.7+


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _ascii_stand_in(raw: bytes) -> bytes:
    """What the ustar field holds when a pax record carries the real value: its last 100
    bytes, in ASCII (readers that know pax never look at it)."""
    return bytes(byte if 32 <= byte < 127 else 63 for byte in raw[-100:])


def _pax_record(key: bytes, value: bytes) -> bytes:
    """`LENGTH key=value\\n`, where LENGTH counts its own digits too."""
    body = b" " + key + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length).encode()) + len(body) != length:
        length += 1
    return str(length).encode() + body


def tar_member(name: str, kind: bytes, mtime: float, data: bytes = b"", target: str = "") -> bytes:
    """One member of a POSIX (pax) tar: a pax header when ustar cannot hold the name, the
    link target or the sub-second time, then the ustar header, the data and its padding."""
    try:  # the common member: ASCII, short, whole seconds; nothing but its ustar header
        ascii_name, ascii_target = name.encode("ascii"), target.encode("ascii")
    except UnicodeEncodeError:
        pass
    else:
        whole = int(mtime)
        simple = whole == mtime and 0 <= whole < 8**11 and len(ascii_target) <= 100
        if simple and _fits_ustar(ascii_name):
            header = _header(ascii_name, kind, len(data), whole, ascii_target)
            return header + data + bytes(-len(data) % _BLOCK) if data else header
    raw_name = os.fsencode(name)
    raw_target = os.fsencode(target)
    whole = int(mtime)
    records: "List[bytes]" = []
    if not (_is_ascii(raw_name + raw_target) or _is_utf8(raw_name + raw_target)):
        records.append(_pax_record(b"hdrcharset", b"BINARY"))  # POSIX: raw bytes follow
    if not (_fits_ustar(raw_name) and _is_ascii(raw_name)):
        records.append(_pax_record(b"path", raw_name))
        raw_name = _ascii_stand_in(raw_name)
    if len(raw_target) > 100 or not _is_ascii(raw_target):
        records.append(_pax_record(b"linkpath", raw_target))
        raw_target = _ascii_stand_in(raw_target)
    if mtime != whole:
        records.append(_pax_record(b"mtime", ("%.9f" % mtime).rstrip("0").encode("ascii")))
    if not (0 <= whole < 8**11):
        whole = 0
    parts = []
    if records:
        pax = b"".join(records)
        parts.append(_header(b"././@PaxHeader", _PAXTYPE, len(pax), whole, b""))
        parts.append(pax + b"\0" * (-len(pax) % _BLOCK))
    parts.append(_header(raw_name, kind, len(data), whole, raw_target))
    if data:
        parts.append(data + b"\0" * (-len(data) % _BLOCK))
    return b"".join(parts)


# END collect.py
