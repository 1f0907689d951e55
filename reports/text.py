"""The human-readable table shown on a terminal."""

from __future__ import annotations

import textwrap

from auditor.escape import printable
from auditor.model import Report, Status

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

MESSAGE_WIDTH = 72
REMEDIATION_WIDTH = 100

COLOURS = {
    Status.PASS: "\033[32m",
    Status.WARN: "\033[33m",
    Status.FAIL: "\033[31m",
    Status.SKIP: "\033[2m",
    Status.ERROR: "\033[35m",
    Status.WAIVED: "\033[36m",
}
RESET = "\033[0m"


def render(report: Report, colour: bool = False) -> str:
    """A status table, then the remediation of every non-passing check."""
    from tabulate import tabulate

    def status_cell(status: Status) -> str:
        word = status.value.upper()
        return f"{COLOURS[status]}{word}{RESET}" if colour else word

    rows = [
        (
            status_cell(result.status),
            printable(result.check.id),
            textwrap.fill(printable(result.outcome.message), MESSAGE_WIDTH),
        )
        for result in report.results
    ]
    host = report.host
    lines = [
        f"hostaudit {printable(report.tool_version)}: {printable(host.hostname)}, kernel "
        f"{printable(host.kernel_release)}, root {printable(host.root)}",
        "",
        tabulate(rows, headers=("status", "check", "message"), tablefmt="simple"),
    ]
    for result in report.results:
        if not result.remediation:
            continue
        lines += [
            "",
            f"{printable(result.check.id)} ({result.status.value}, {result.check.severity.label}): "
            "how to fix",
        ]
        for step in result.remediation:
            lines.append(
                textwrap.fill(
                    printable(step),
                    REMEDIATION_WIDTH,
                    initial_indent="  - ",
                    subsequent_indent="    ",
                )
            )
    if report.notices:
        lines += ["", "notices:"] + [f"  - {printable(notice)}" for notice in report.notices]
    summary = report.summary()
    lines += [
        "",
        ", ".join(f"{count} {status}" for status, count in summary.items())
        + f" in {report.duration_s:.2f}s",
    ]
    return "\n".join(lines) + "\n"


def render_fleet(reports: Sequence[Report], colour: bool = False) -> str:
    """Several hosts' tables one after another, then one line per host."""
    tables = Fleet(colour)
    for report in reports:
        tables.add(report)
    return "".join(tables.chunks())


class Fleet:
    """Tables built one report at a time, then the one-line-per-host summary. `brief`
    (--quiet): only the summary lines of the hosts that do not pass."""

    def __init__(self, colour: bool = False, brief: bool = False) -> None:
        self.colour = colour
        self.brief = brief
        self.tables: list[str] = []
        self.verdicts: list[tuple[str, str]] = []

    def add(self, report: Report) -> None:
        verdict = report.verdict()
        if self.brief and verdict is Status.PASS:
            return
        if not self.brief:
            self.tables.append(render(report, self.colour))
        self.verdicts.append((printable(report.host.hostname), verdict.value))

    def chunks(self) -> Iterator[str]:
        """The output, in pieces to write one after the other."""
        for index, table in enumerate(self.tables):
            yield table if index == 0 else "\n" + table
        width = max((len(name) for name, _ in self.verdicts), default=0)
        yield (
            "\n" + "\n".join(f"{name:{width}}  {verdict}" for name, verdict in self.verdicts) + "\n"
        )
