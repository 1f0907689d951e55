"""modprobe.d(5) configuration: module options, soft dependencies, blacklists, install commands.

Lines ending in a backslash continue; `#` starts a comment line. Module names compare with
`-` and `_` equal, as modprobe does (underscores() in kmod).
"""

from __future__ import annotations

from auditor.parsers.cmdline import parse_cmdline
from auditor.record import record

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator


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


@record
class Directive:
    """One `softdep`, `blacklist` or `install` line: its module and the rest of its words."""

    kind: str
    module: str
    words: tuple[str, ...]
    line: int

    def __str__(self) -> str:
        return " ".join((self.kind, self.module, *self.words))

    def pre(self) -> list[str]:
        """A softdep's `pre:` modules (loaded before this one), names normalised."""
        found: list[str] = []
        section = ""
        for word in self.words:
            if word in ("pre:", "post:"):
                section = word
            elif section == "pre:":
                found.append(module_name(word))
        return found


def module_name(name: str) -> str:
    """A module name as modprobe compares them: `-` and `_` are the same."""
    return name.replace("-", "_")


def _lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, words) of each logical line that is not blank or a comment."""
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        line, pending = (pending + raw).strip(), ""
        if line and not line.startswith("#"):
            yield start, line.split(None, 2)


def parse_modprobe_conf(text: str) -> list[ModuleOption]:
    """Every module option set in one modprobe.d file, in order."""
    found: list[ModuleOption] = []
    for start, words in _lines(text):
        if len(words) < 3 or words[0] != "options":
            continue
        # Values may be double-quoted like kernel parameters; modprobe splits the same way.
        for param in parse_cmdline(words[2]):
            found.append(ModuleOption(module_name(words[1]), param.key, param.value, start))
    return found


def parse_directives(text: str) -> list[Directive]:
    """Every softdep, blacklist and install line of one modprobe.d file, in order."""
    found: list[Directive] = []
    for start, words in _lines(text):
        if len(words) >= 2 and words[0] in ("softdep", "blacklist", "install"):
            rest = tuple(words[2].split()) if len(words) > 2 else ()
            found.append(Directive(words[0], module_name(words[1]), rest, start))
    return found
