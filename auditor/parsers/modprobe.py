"""modprobe.d(5) configuration: the `options` lines that set module parameters."""

from __future__ import annotations

from auditor.parsers.cmdline import parse_cmdline
from auditor.record import record


@record
class ModuleOption:
    """One `options MODULE name=value` assignment, with where it was written."""

    module: str
    name: str
    value: str | None
    line: int

    def __str__(self) -> str:
        assignment = self.name if self.value is None else f"{self.name}={self.value}"
        return f"options {self.module} {assignment}"


def parse_modprobe_conf(text: str) -> list[ModuleOption]:
    """Every module option set in one modprobe.d file, in order.

    Lines ending in a backslash continue; `#` starts a comment line. Module names
    compare with `-` and `_` equal, as modprobe does (underscores()).
    """
    found: list[ModuleOption] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line, pending = (pending + raw).strip(), ""
        if not line or line.startswith("#"):
            continue
        words = line.split(None, 2)
        if len(words) < 3 or words[0] != "options":
            continue
        module = words[1].replace("-", "_")
        # Values may be double-quoted like kernel parameters; modprobe splits the same way.
        for param in parse_cmdline(words[2]):
            found.append(ModuleOption(module, param.key, param.value, start))
    return found
