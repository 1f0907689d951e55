"""A kernel build configuration (/boot/config-<release>)."""

from __future__ import annotations


def parse_kconfig(text: str) -> dict[str, str]:
    """CONFIG_* options and their values; `# CONFIG_X is not set` becomes "n"."""
    options: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# CONFIG_") and line.endswith(" is not set"):
            options[line[2:-11]] = "n"
        elif line.startswith("CONFIG_") and "=" in line:
            name, _, value = line.partition("=")
            options[name] = value.strip('"')
    return options


def enabled(options: dict[str, str], name: str) -> bool | None:
    """True for y/m, False for n, None when the option is not in the file at all."""
    value = options.get(name)
    if value is None:
        return None
    return value in ("y", "m")
