"""Kernel log records, from /dev/kmsg or from a saved `dmesg` text, as plain messages."""

from __future__ import annotations

import re

_DMESG_PREFIX = re.compile(r"^(?:<\d+>)?\[\s*\d+\.\d+\]\s?")
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def parse_kmsg_record(record: bytes) -> str:
    """The message of one /dev/kmsg record: "prio,seq,usec,flags;text\\n KEY=value..."

    Format: Documentation/ABI/testing/dev-kmsg. Non-printable bytes arrive as \\xNN.
    """
    text = record.decode("utf-8", errors="replace")
    head, _, body = text.partition(";")
    if not _ or "," not in head:
        return text.rstrip("\n")
    message = body.split("\n", 1)[0]
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), message)


def parse_dmesg(text: str) -> list[str]:
    """Messages of a saved `dmesg` output, with the `[  1.234567]` prefix removed."""
    return [_DMESG_PREFIX.sub("", line) for line in text.splitlines() if line.strip()]


def find(messages: list[str], *needles: str) -> list[str]:
    """Messages containing any of the needles (case-sensitive, as the kernel prints them)."""
    return [message for message in messages if any(needle in message for needle in needles)]
