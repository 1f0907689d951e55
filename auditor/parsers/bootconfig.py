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

from auditor.record import record

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _is_name(text: str) -> bool:
    """A shell variable name: [A-Za-z_][A-Za-z0-9_]*."""
    return bool(text) and not text[0].isdigit() and all(ch in _NAME_CHARS for ch in text)


def _assignment(line: str) -> tuple[str, str] | None:
    """(name, value text) of `NAME=value` or `export NAME=value`, else None."""
    text = line.lstrip()
    if text.startswith("export") and text[6:7] in (" ", "\t"):
        text = text[6:].lstrip()
    name, equals, value = text.partition("=")
    return (name, value) if equals and _is_name(name) else None


def _variables(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, name) of every `$NAME` and `${NAME}` in text, in linear time: a name is
    scanned up to its first character that cannot be in a name, which comes no later than
    the next `$` (searching for the closing `}` of an unclosed `${A=${A=${...` at every `${`
    would read the rest of the line each time)."""
    size = len(text)
    index = text.find("$")
    while 0 <= index < size - 1:
        braced = text[index + 1] == "{"
        first = index + 2 if braced else index + 1
        end = first
        while end < size and text[end] in _NAME_CHARS:
            end += 1
        named = end > first and not text[first].isdigit()
        if braced and named and end < size and text[end] == "}":
            yield index, end + 1, text[first:end]
            index = text.find("$", end + 1)
            continue
        if not braced and named:
            yield index, end, text[first:end]
            index = text.find("$", end)
            continue
        index = text.find("$", index + 1)


# No value that ends up on a kernel command line can be longer than the kernel accepts:
# COMMAND_LINE_SIZE is 2048 on x86 (arch/x86/include/asm/setup.h) and at most 4096 on the
# other architectures. Expansion stops here, so `A="$A$A"` repeated cannot double a value
# into gigabytes; a value cut is reported (the `cut` sets below).
MAX_VALUE = 4096


# All the variables of one parse together (a real /etc/default/grub sets a few hundred
# bytes): 437,000 `bN="$A"` lines would otherwise keep 437,000 values of MAX_VALUE each.
# Past it, further assignments are ignored and the parse says so (the `cut` sets below).
MAX_ENVIRONMENT = 256 << 10
ENVIRONMENT_FULL = (
    f"(the shell environment passed {MAX_ENVIRONMENT} bytes: later assignments ignored)"
)


class _Cut(Exception):
    """Raised inside an expansion that reached MAX_VALUE."""


@record
class BootEntry:
    """One bootable entry: its name, the kernel it boots, and its command-line arguments."""

    title: str
    kernel: str
    args: str


def _expand(text: str, env: dict[str, str]) -> str:
    """`$VAR` and `${VAR}` replaced by their values, stopping (_Cut) past MAX_VALUE."""
    if "$" not in text:
        return text
    parts: list[str] = []
    size = 0
    end = 0
    for start, stop, name in _variables(text):
        value = env.get(name, "")
        parts += (text[end:start], value)
        size += start - end + len(value)
        end = stop
        if size > MAX_VALUE:
            raise _Cut("".join(parts)[:MAX_VALUE])
    parts.append(text[end:])
    return "".join(parts)


def _bounded(
    name: str,
    cut: set[str] | None,
    expand: Callable[[str, dict[str, str]], str],
    text: str,
    env: dict[str, str],
) -> str:
    """expand(text, env), or its first MAX_VALUE characters with `name` added to `cut`."""
    try:
        value = expand(text, env)
        if len(value) <= MAX_VALUE:
            return value
    except _Cut as exc:
        value = exc.args[0]
    if cut is not None:
        cut.add(name)
    return value[:MAX_VALUE]


def _shell_word(text: str, env: dict[str, str]) -> str:
    """The value of one shell word: quotes removed, `$VAR` expanded outside single quotes
    (_Cut past MAX_VALUE)."""
    out: list[str] = []
    size = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            end = text.find("'", i + 1)
            end = len(text) if end < 0 else end
            piece = text[i + 1 : end]
            i = end + 1
        elif ch == '"':
            j = i + 1
            chunk: list[str] = []
            while j < len(text) and text[j] != '"':
                if text[j] == "\\" and j + 1 < len(text) and text[j + 1] in '"\\$`':
                    j += 1
                chunk.append(text[j])
                j += 1
            piece = _expand("".join(chunk), env)
            i = j + 1
        elif ch in " \t" or ch == "#":
            break  # end of the word; the rest is another command or a comment
        else:
            j = i
            while j < len(text) and text[j] not in " \t'\"#":
                j += 1
            piece = _expand(text[i:j], env)
            i = j
        out.append(piece)
        size += len(piece)
        if size > MAX_VALUE:
            raise _Cut("".join(out)[:MAX_VALUE])
    return "".join(out)


def parse_shell_assignments(
    text: str, env: dict[str, str] | None = None, cut: set[str] | None = None
) -> dict[str, str]:
    """Variables a sourced shell file like /etc/default/grub leaves set.

    `env` holds values from files sourced before, so a drop-in's
    GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX intel_iommu=on" appends as the shell would.
    Values longer than MAX_VALUE are cut there, and their names added to `cut`.
    """
    values = dict(env or {})
    total = _size(values)
    for line in text.splitlines():
        assignment = _assignment(line)
        if assignment is not None and total <= MAX_ENVIRONMENT:
            name, word = assignment
            value = _bounded(name, cut, _shell_word, word, values)
            total = _assign(values, name, value, total, cut)
    return values


def _size(values: dict[str, str]) -> int:
    return sum(len(name) + len(value) for name, value in values.items())


def _assign(values: dict[str, str], name: str, value: str, total: int, cut: set[str] | None) -> int:
    """Set `name` unless the environment would pass MAX_ENVIRONMENT; the new total."""
    old = values.get(name)
    grown = total + len(name) + len(value) - (0 if old is None else len(name) + len(old))
    if grown > MAX_ENVIRONMENT:
        if cut is not None:
            cut.add(ENVIRONMENT_FULL)
        return MAX_ENVIRONMENT + 1  # full: the parse expands nothing more
    values[name] = value
    return grown


def parse_grub_cfg(
    text: str, env: dict[str, str] | None = None, cut: set[str] | None = None
) -> tuple[list[BootEntry], bool, str]:
    """Menu entries of a generated grub.cfg, whether it reads BLS entries (`blscfg`), and `default`.

    `set` lines are applied in file order, so Debian's `set default="${next_entry}"` ...
    `set default="0"` leaves "0" unless the environment block names a next entry.
    """
    entries: list[BootEntry] = []
    title = ""
    uses_bls = False
    variables = dict(env or {})
    total = _size(variables)
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
            if total > MAX_ENVIRONMENT:
                continue
            name, _, value = words[1].partition("=")
            expanded = _bounded(name, cut, _shell_word, value, variables)
            total = _assign(variables, name, expanded, total, cut)
        elif words[0] in ("linux", "linux16", "linuxefi") and len(words) > 1:
            kernel, _, args = words[1].partition(" ")
            expanded = _bounded(title, cut, _expand, args.strip(), variables)
            entries.append(BootEntry(title, kernel, expanded))
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


def parse_bls_entry(
    text: str, grubenv: dict[str, str], cut: set[str] | None = None
) -> dict[str, str]:
    """A Boot Loader Specification entry: its keys, `options` joined and `$vars` expanded
    (cut at MAX_VALUE, with "options" added to `cut`)."""
    keys: dict[str, str] = {}
    options: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "options":
            options.append(_bounded("options", cut, _expand, value.strip(), grubenv))
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


def parse_kernelstub(text: str) -> list[str] | None:
    """The kernel options kernelstub (Pop!_OS) writes into the boot entry: `kernel_options`
    of the "user" section of /etc/kernelstub/configuration, JSON (kernelstub/config.py;
    a section kernelstub has not upgraded yet may hold them as one string). None: not
    kernelstub's configuration."""
    import json

    try:
        config = json.loads(text)
    except (ValueError, RecursionError):
        return None
    section = config.get("user", config.get("default")) if isinstance(config, dict) else None
    options = section.get("kernel_options") if isinstance(section, dict) else None
    if isinstance(options, str):
        return options.split()
    if isinstance(options, list) and all(isinstance(option, str) for option in options):
        return [word for option in options for word in option.split()]
    return None
