"""Kernel log records, from /dev/kmsg or from a saved `dmesg` text, as plain messages."""

from __future__ import annotations

_HEX = "0123456789abcdefABCDEF"


def parse_kmsg_record(record: bytes) -> str:
    """The message of one /dev/kmsg record: "prio,seq,usec,flags;text\\n KEY=value..."

    Format: Documentation/ABI/testing/dev-kmsg. Non-printable bytes arrive as \\xNN.
    """
    text = record.decode("utf-8", errors="replace")
    head, _, body = text.partition(";")
    if not _ or "," not in head:
        return text.rstrip("\n")
    message = body.split("\n", 1)[0]
    return _unescape(message) if "\\x" in message else message


def _unescape(text: str) -> str:
    """\\xNN sequences (how /dev/kmsg writes non-printable bytes) back to characters."""
    parts = text.split("\\x")
    out = [parts[0]]
    for part in parts[1:]:
        if len(part) >= 2 and part[0] in _HEX and part[1] in _HEX:
            out.append(chr(int(part[:2], 16)) + part[2:])
        else:
            out.append("\\x" + part)
    return "".join(out)


def _strip_timestamp(line: str) -> str:
    """A `dmesg` line without its "<6>[   12.345678] " prefix (priority optional)."""
    rest = line
    if rest.startswith("<"):
        close = rest.find(">")
        if close > 1 and rest[1:close].isdigit():
            rest = rest[close + 1 :]
    if not rest.startswith("["):
        return line
    close = rest.find("]")
    seconds, dot, fraction = rest[1:close].strip().partition(".")
    if close < 0 or not (dot and seconds.isdigit() and fraction.isdigit()):
        return line
    rest = rest[close + 1 :]
    return rest[1:] if rest[:1].isspace() else rest


def parse_dmesg(text: str) -> list[str]:
    """Messages of a saved `dmesg` output, with the `[  1.234567]` prefix removed."""
    return [_strip_timestamp(line) for line in text.splitlines() if line.strip()]


def find(messages: list[str], *needles: str) -> list[str]:
    """Messages containing any of the needles (case-sensitive, as the kernel prints them)."""
    return [message for message in messages if any(needle in message for needle in needles)]
