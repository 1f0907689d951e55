"""Making host-derived text safe for each medium it is written to.

A device name, hostname or command line is data from the audited host: it may hold control
characters or markup. HTML uses the standard library's `html.escape`; the rest are here.
"""

from __future__ import annotations

import re

# Characters XML 1.0 forbids (section 2.2, Char): C0 controls but tab, LF and CR; surrogates;
# U+FFFE and U+FFFF.
_NOT_XML = "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"
_compiled: dict[str, re.Pattern[str]] = {}  # compiled when the first XML is written


def _hex(char: str) -> str:
    return f"\\x{ord(char):02x}"


def printable(text: str) -> str:
    """Control characters shown as \\xNN, so text cannot drive a terminal or break a line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _hex(ch) for ch in text)


def xml_text(text: str) -> str:
    """Text with the characters XML 1.0 cannot carry written as a visible \\xNN."""
    pattern = _compiled.get(_NOT_XML)
    if pattern is None:
        pattern = _compiled[_NOT_XML] = re.compile(_NOT_XML)
    return pattern.sub(lambda match: _hex(match.group()), text)


def label_value(text: str) -> str:
    """A Prometheus label value: control characters but newline shown as \\xNN, then
    backslash, double quote and newline escaped as the text format wants."""
    if not text.replace("\n", "").isprintable():
        text = "".join(ch if ch.isprintable() or ch == "\n" else _hex(ch) for ch in text)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def nagios_text(text: str) -> str:
    """Plugin output text: printable, and no '|', which starts performance data there
    (Nagios Plugin Development Guidelines); shown as \\x7c instead."""
    return printable(text).replace("|", "\\x7c")
