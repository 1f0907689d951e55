"""SELinux state files: selinuxfs booleans and the persistent boolean store."""

from __future__ import annotations


def parse_boolean(text: str) -> tuple[bool, bool]:
    """A selinuxfs boolean file, "<current> <pending>" (e.g. "1 1"); raise ValueError if not."""
    fields = text.split()
    if len(fields) != 2 or any(field not in ("0", "1") for field in fields):
        raise ValueError(f"expected '<0|1> <0|1>', found {text.strip()!r}")
    return fields[0] == "1", fields[1] == "1"


def parse_booleans_local(text: str) -> dict[str, bool]:
    """`name=value` lines of booleans.local, where `setsebool -P` keeps what it set."""
    values: dict[str, bool] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if not sep or line.lstrip().startswith("#"):
            continue
        value = value.strip().lower()
        if value in ("1", "true", "on"):
            values[name.strip()] = True
        elif value in ("0", "false", "off"):
            values[name.strip()] = False
    return values


def parse_config(text: str) -> dict[str, str]:
    """KEY=value lines of /etc/selinux/config."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
    return values


def parse_sestatus(text: str) -> tuple[dict[str, str], dict[str, bool]]:
    """`sestatus -b` output: its "Key: value" fields, and the "Policy booleans:" section.

    Format of policycoreutils' sestatus.c: `SELinux status:  enabled`, `Current mode:
    enforcing`, then after "Policy booleans:" one `name   on|off` line per boolean.
    """
    fields: dict[str, str] = {}
    booleans: dict[str, bool] = {}
    in_booleans = False
    for line in text.splitlines():
        if line.strip() == "Policy booleans:":
            in_booleans = True
            continue
        if in_booleans:
            parts = line.split()
            if len(parts) == 2 and parts[1] in ("on", "off"):
                booleans[parts[0]] = parts[1] == "on"
            elif line.strip():
                in_booleans = False
            continue
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields[key.strip()] = value.strip()
    return fields, booleans
