"""Boot loader configuration: where the next boot's kernel command line is written.

- /etc/default/grub and /etc/default/grub.d/*.cfg: shell assignments sourced in that
  order by grub-mkconfig (GRUB_CMDLINE_LINUX for every entry, GRUB_CMDLINE_LINUX_DEFAULT
  for non-recovery ones).
- generated grub.cfg: `linux` lines inside `menuentry` blocks, or `blscfg` on BLS systems.
- BLS entries (/boot/loader/entries/*.conf): `options` lines, `$kernelopts` from grubenv.
- /etc/kernel/cmdline: one line (systemd-boot, kernel-install, Proxmox).
- legacy GRUB (RHEL 6): /boot/grub/grub.conf `title` blocks with `kernel` lines, `default=N`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class BootEntry:
    """One bootable entry: its name, the kernel it boots, and its command-line arguments."""

    title: str
    kernel: str
    args: str


def _expand(text: str, env: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)


def _shell_word(text: str, env: dict[str, str]) -> str:
    """The value of one shell word: quotes removed, `$VAR` expanded outside single quotes."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            end = text.find("'", i + 1)
            end = len(text) if end < 0 else end
            out.append(text[i + 1 : end])
            i = end + 1
        elif ch == '"':
            j = i + 1
            chunk: list[str] = []
            while j < len(text) and text[j] != '"':
                if text[j] == "\\" and j + 1 < len(text) and text[j + 1] in '"\\$`':
                    j += 1
                chunk.append(text[j])
                j += 1
            out.append(_expand("".join(chunk), env))
            i = j + 1
        elif ch in " \t" or ch == "#":
            break  # end of the word; the rest is another command or a comment
        else:
            j = i
            while j < len(text) and text[j] not in " \t'\"#":
                j += 1
            out.append(_expand(text[i:j], env))
            i = j
    return "".join(out)


def parse_shell_assignments(text: str, env: dict[str, str] | None = None) -> dict[str, str]:
    """Variables a sourced shell file like /etc/default/grub leaves set.

    `env` holds values from files sourced before, so a drop-in's
    GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX intel_iommu=on" appends as the shell would.
    """
    values = dict(env or {})
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match:
            values[match.group(1)] = _shell_word(match.group(2), values)
    return values


def parse_grub_cfg(
    text: str, env: dict[str, str] | None = None
) -> tuple[list[BootEntry], bool, str]:
    """Menu entries of a generated grub.cfg, whether it reads BLS entries (`blscfg`), and `default`.

    `set` lines are applied in file order, so Debian's `set default="${next_entry}"` ...
    `set default="0"` leaves "0" unless the environment block names a next entry.
    """
    entries: list[BootEntry] = []
    title = ""
    uses_bls = False
    variables = dict(env or {})
    for raw in text.splitlines():
        line = raw.strip()
        words = line.split(None, 1)
        if not words:
            continue
        if words[0] == "menuentry":
            match = re.match(r"""menuentry\s+(['"])(.*?)\1""", line)
            title = match.group(2) if match else line
        elif words[0] == "blscfg":
            uses_bls = True
        elif words[0] == "set" and len(words) > 1 and "=" in words[1]:
            name, _, value = words[1].partition("=")
            variables[name] = _shell_word(value, variables)
        elif words[0] in ("linux", "linux16", "linuxefi") and len(words) > 1:
            kernel, _, args = words[1].partition(" ")
            entries.append(BootEntry(title, kernel, _expand(args.strip(), variables)))
    return entries, uses_bls, variables.get("default", "0")


def parse_grubenv(text: str) -> dict[str, str]:
    """The GRUB environment block: `name=value` lines padded with `#`."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name] = value
    return values


def parse_bls_entry(text: str, grubenv: dict[str, str]) -> dict[str, str]:
    """A Boot Loader Specification entry: its keys, `options` joined and `$vars` expanded."""
    keys: dict[str, str] = {}
    options: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "options":
            options.append(_expand(value.strip(), grubenv))
        else:
            keys.setdefault(key, value.strip())
    keys["options"] = " ".join(option for option in options if option)
    return keys


def parse_legacy_grub_conf(text: str) -> tuple[int, list[BootEntry]]:
    """Legacy GRUB's grub.conf: the `default=` index and each `title` with its `kernel` line."""
    default = 0
    entries: list[BootEntry] = []
    title = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        # "default=0", "default 0", "title Foo", "kernel /vmlinuz args": a key, then = or space.
        key, value = [*re.split(r"\s*=\s*|\s+", line, maxsplit=1), ""][:2]
        if key == "default":
            try:
                default = int(value.strip())
            except ValueError:
                default = 0  # "saved" and friends: GRUB falls back to the first entry
        elif key == "title":
            title = value.strip()
        elif key == "kernel":
            kernel, _, args = value.strip().partition(" ")
            entries.append(BootEntry(title, kernel, args.strip()))
    return default, entries
