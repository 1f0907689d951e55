"""Secrets removed before anything is stored or shown: secret-named kernel parameters,
console passwords in libvirt guest definitions, NetworkManager connection secrets, boot
loader passwords.

Part of the stand-alone collector (see auditor/sources/rootfs.py).
"""

import re

TYPE_CHECKING = False  # `typing` costs milliseconds at start-up; mypy treats this name as True
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional

# BEGIN collect.py
# -- secrets: removed from guest definitions before they are stored ---------------------------

# libvirt domain XML keeps console passwords in attributes (<graphics passwd=...>); disk and
# hostdev authentication (<auth>, <encryption>) refers to secrets by uuid or usage, whose
# values live under /etc/libvirt/secrets, which no check reads. Removed: every attribute with
# one of these names, the text of any <secret>, and qemu:arg values that carry a password.
_SECRET_ATTRIBUTES = ("passwd", "password", "passphrase")


# Kernel parameters whose values are secrets: dracut's rd.iscsi.password=, rd.iscsi.in.password=
# and friends (dracut.cmdline(7)) sit on command lines in /proc/cmdline, boot entries and
# /etc/default/grub. Their values are replaced wherever a command line is stored or shown.
_SECRET_WORD = re.compile("password|passwd|secret")
_SPACE = " \t\n\r\v\f"
REMOVED = "(removed)"


def redact_secrets(text: str) -> str:
    """`text` with the value of every secret-named parameter (NAME=VALUE whose NAME holds
    password, passwd or secret, in any case) replaced by (removed). A quoted value ends at its
    closing quote on the same line (an unclosed one, as the kernel's next_arg() reads it, at
    the end of the line), any other value at whitespace. Linear: each character is scanned a
    bounded number of times, however many names and quotes a hostile line holds."""
    lowered = text.lower()
    if "pass" not in lowered and "secret" not in lowered:
        return text  # the common case costs one scan
    out: list[str] = []
    done = 0  # text[:done] is in out already
    scanned = 0  # no `=` ends a name that starts before this
    eol = -1  # the end of the line of the last value, found once per line
    for match in _SECRET_WORD.finditer(lowered):
        at = max(match.end(), scanned, done)
        while at < len(text) and text[at] != "=" and text[at] not in _SPACE:
            at += 1
        scanned = at
        if at >= len(text) or text[at] != "=":
            continue  # no value: a name alone, or the word inside a value
        start = end = at + 1
        if text[start : start + 1] in ('"', "'"):
            if eol < start:
                eol = text.find("\n", start)
                eol = len(text) if eol < 0 else eol
            close = text.find(text[start], start + 1, eol)
            end = eol if close < 0 else close + 1
        while end < len(text) and text[end] not in _SPACE:
            end += 1
        out += (text[done:start], REMOVED)
        done = scanned = end
    out.append(text[done:])
    return "".join(out)


# What the checks read of each kind of file, and so all the collector keeps of it:
# NetworkManager keyfiles hold Wi-Fi PSKs, WireGuard private keys and 802.1X and VPN
# passwords, of which pci.driver-binding needs only the [sriov] section and the interface it
# configures; systemd units (Environment= may hold credentials) and udev rules only whether
# they write sriov_numvfs; boot configuration may hold GRUB's password hashes.
NM_KEPT = {"connection": ("id", "type", "interface-name")}


def scrub_nmconnection(content: bytes) -> bytes:
    """A NetworkManager keyfile reduced to its [sriov] section and the connection's id, type
    and interface name."""
    kept = []
    section = ""
    for line in content.decode("utf-8", "replace").splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip().lower()
            if section in NM_KEPT or section == "sriov":
                kept.append(stripped)
            continue
        key = stripped.split("=", 1)[0].strip().lower()
        if section == "sriov" or key in NM_KEPT.get(section, ()):
            kept.append(redact_secrets(stripped))
    return ("\n".join(kept) + "\n").encode("utf-8")


def scrub_sriov_only(content: bytes) -> bytes:
    """A unit or udev rules file reduced to its section headers and the lines that write
    sriov_numvfs (the only thing pci.driver-binding looks for in them)."""
    kept = [
        redact_secrets(line)
        for line in content.decode("utf-8", "replace").splitlines()
        if "sriov_numvfs" in line or line.strip().startswith("[")
    ]
    return ("\n".join(kept) + "\n").encode("utf-8")


# GRUB's `password`/`password_pbkdf2` lines (generated grub.cfg, legacy grub.conf) hold
# password hashes; no check reads them.
_PASSWORD_LINE = re.compile(r"^([ \t]*)(password\S*).*$", re.MULTILINE)


def scrub_boot(content: bytes) -> bytes:
    """Boot configuration and command lines without password lines and secret values."""
    text = content.decode("utf-8", "surrogateescape")
    text = _PASSWORD_LINE.sub(lambda match: f"{match.group(1)}{match.group(2)} {REMOVED}", text)
    return redact_secrets(text).encode("utf-8", "surrogateescape")


# Files that hold command lines: the running one, the boot loaders', and the kernel log's
# "Command line:" record (/var/log/dmesg; the ring buffer is redacted as it is read).
_BOOT_FILES = (
    "/proc/cmdline",
    "/etc/default/grub",
    "/etc/kernel/cmdline",
    "/boot/grub",
    "/boot/loader/",
    "/var/log/",
)


def scrub(path: str, content: bytes) -> bytes:
    """What the collector keeps of a file it reads (see above); other files whole."""
    if path.endswith(".nmconnection"):
        return scrub_nmconnection(content)
    if path.endswith(".rules") or (
        path.startswith("/etc/systemd/system/") and path.endswith(".service")
    ):
        return scrub_sriov_only(content)
    if path.startswith(_BOOT_FILES):
        return scrub_boot(content)
    return content


def scrub_xml(content: bytes) -> "Optional[bytes]":
    """The XML with its secrets removed by parsed attribute, or None when it cannot be
    parsed safely (a DOCTYPE or entity, or not well-formed): then nothing of it is kept."""
    lowered = content.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        return None
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(content)
    except (ET.ParseError, ValueError):
        return None
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""
        for attribute in list(element.attrib):
            local = attribute.rsplit("}", 1)[-1].lower()
            value = element.attrib[attribute].lower()
            if local in _SECRET_ATTRIBUTES or (
                tag == "arg" and ("password=" in value or "secret" in value)
            ):
                element.set(attribute, "(removed)")
        if tag == "secret" and (element.text or "").strip():
            element.text = "(removed)"
    return ET.tostring(root, encoding="utf-8")


# END collect.py
