"""The kernel command line, split and interpreted by the kernel's own rules.

Tokenising follows next_arg() in lib/cmdline.c (whitespace outside double quotes, quotes
stripped, no backslash escapes: this is not shell syntax) and parse_args() in
kernel/params.c (a bare `--` ends kernel parameters; the rest goes to init). Parameter
names compare with `-` and `_` equal (parameq()); every occurrence is applied in order,
so for a plain value the last one wins.
"""

from __future__ import annotations

from functools import cached_property

from auditor.record import record
from auditor.sources.secrets import redact_secrets

_SPACE = " \t\n\r\v\f"


@record
class Param:
    """One kernel parameter as written: its name and its value (None for a bare flag)."""

    name: str
    value: str | None

    @cached_property  # kept in the instance: a hostile line holds a million parameters
    def key(self) -> str:
        """The name compared as the kernel compares it: `-` and `_` are equal."""
        return self.name.replace("-", "_")

    def __str__(self) -> str:
        """As written, but a secret's value (rd.iscsi.password=...) shown as (removed)."""
        if self.value is None:
            return self.name
        return redact_secrets(f"{self.name}={self.value}")


def _next_arg(text: str, start: int) -> tuple[str, str | None, int]:
    """One step of lib/cmdline.c next_arg() from `start`: (param, value, where the next
    argument starts). Indexes into the line instead of copying its rest, so a line of any
    length is split in linear time."""
    end = len(text)
    in_quote = quoted = False
    i = start
    if text.startswith('"', i):
        i += 1
        in_quote = quoted = True
    begin = i
    equals = 0  # as in next_arg(): an `=` at the first character counts as none
    while i < end:
        ch = text[i]
        if ch in _SPACE and not in_quote:
            break
        if equals == 0 and ch == "=":
            equals = i - begin
        if ch == '"':
            in_quote = not in_quote
        i += 1
    token = text[begin:i]
    if quoted and token.endswith('"'):
        token = token[:-1]
    if not equals:
        param, value = token, None
    else:
        param, value = token[:equals], token[equals + 1 :]
        # "Don't include quotes in value": strip a leading quote and the closing one.
        if value.startswith('"'):
            value = value[1:]
            if not quoted and value.endswith('"'):
                value = value[:-1]
    i += 1
    while i < end and text[i] in _SPACE:
        i += 1
    return param, value, i


def parse_cmdline(text: str) -> tuple[Param, ...]:
    """Split a command line into kernel parameters, stopping at a bare `--`."""
    params: list[Param] = []
    line = text.strip(_SPACE + "\x00")
    at = 0
    while at < len(line):
        name, value, at = _next_arg(line, at)
        if value is None and name == "--":
            break
        params.append(Param(name, value))
    return tuple(params)


def values(params: tuple[Param, ...], name: str) -> list[Param]:
    """Every occurrence of parameter `name`, in command-line order."""
    key = name.replace("-", "_")
    return [param for param in params if param.key == key]


def last_value(params: tuple[Param, ...], name: str) -> Param | None:
    """The occurrence that wins for a plain-valued parameter: the last one."""
    found = values(params, name)
    return found[-1] if found else None


def comma_options(value: str | None) -> list[str]:
    """Split a comma list the way intel_iommu_setup() walks it (empty items skipped)."""
    return [item for item in (value or "").split(",") if item]


def kstrtobool(value: str | None) -> bool | None:
    """A boolean module parameter's value as param_set_bool() reads it (lib/kstrtox.c).

    A bare flag (no `=`) means true; anything unparsable is None (the kernel rejects it).
    """
    if value is None or value == "":
        return True
    first = value[0].lower()
    if first in "y1t":
        return True
    if first in "n0f":
        return False
    if first == "o" and len(value) > 1:
        second = value[1].lower()
        if second == "n":
            return True
        if second == "f":
            return False
    return None
