"""The human-readable table shown on a terminal."""

from __future__ import annotations

import textwrap

from auditor.escape import printable
from auditor.model import Report, Result, Status

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

WIDTH = 100  # columns when standard output is not a terminal
MESSAGE_MIN = 20  # below this a message column is unreadable: the table runs wider

COLOURS = {
    Status.PASS: "\033[32m",
    Status.WARN: "\033[33m",
    Status.FAIL: "\033[31m",
    Status.SKIP: "\033[2m",
    Status.ERROR: "\033[35m",
    Status.WAIVED: "\033[36m",
}
RESET = "\033[0m"
# Marks on a status that the profile weighs differently (see Result.counted_as).
NOT_COUNTED, COUNTS_AS_FAILURE = "*", "!"


def _wrap(text: str, width: int, first: str = "", then: str = "") -> list[str]:
    """Lines of at most `width` columns, broken between words only: never inside an
    identifier (IR-PCI-MSI-0000:00:1f.6) or a path, which then run past the width."""
    lines = textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=then,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return lines or [first.rstrip()]


def _status(result: Result, colour: bool) -> str:
    word = result.status.value.upper()
    if result.not_counted:
        word = word.lower() + NOT_COUNTED
    elif result.status is Status.WARN and result.counted_as is Status.FAIL:
        word += COUNTS_AS_FAILURE
    return f"{COLOURS[result.status]}{word}{RESET}" if colour else word


def render(report: Report, colour: bool = False, width: int = WIDTH) -> str:
    """A status table, then the remediation of every non-passing check; `width` columns."""
    if not report.collected:  # a placeholder: nothing was read, so there is no table
        return (
            f"hostaudit {printable(report.tool_version)}: {printable(report.host.hostname)}\n"
            f"not read from the host: {printable(report.stale or 'not reached')}\n\n"
            f"verdict {report.verdict().value}\n"
        )
    from tabulate import tabulate

    check_width = max((len(printable(r.check.id)) for r in report.results), default=5)
    message_width = max(MESSAGE_MIN, width - check_width - 12)  # status column and gaps
    rows = [
        (
            _status(result, colour),
            printable(result.check.id),
            "\n".join(_wrap(printable(result.outcome.message), message_width)),
        )
        for result in report.results
    ]
    host = report.host
    lines = _wrap(
        f"hostaudit {printable(report.tool_version)}: {printable(host.hostname)}, kernel "
        f"{printable(host.kernel_release)}, root {printable(host.root)}",
        width,
        then="  ",
    )
    if report.collected_at and report.collected_at != report.started_at:
        lines.append(f"read from the host at {report.collected_at}")
    if report.stale:
        lines += _wrap(f"STALE: {printable(report.stale)}", width, then="  ")
    lines += ["", tabulate(rows, headers=("status", "check", "message"), tablefmt="simple")]
    marks = []
    if any(result.not_counted for result in report.results):
        marks.append(f"{NOT_COUNTED} not counted by profile {printable(report.profile)}")
    if any(r.status is Status.WARN and r.counted_as is Status.FAIL for r in report.results):
        marks.append(
            f"{COUNTS_AS_FAILURE} counted as a failure by profile {printable(report.profile)}"
        )
    if marks:
        lines += ["", *_wrap("; ".join(marks), width)]
    for result in report.results:
        if not result.remediation:
            continue
        lines += [
            "",
            f"{printable(result.check.id)} ({result.status.value}, {result.check.severity.label}): "
            "how to fix",
        ]
        for step in result.remediation:
            lines += _wrap(printable(step), width, "  - ", "    ")
    if any(result.remediation for result in report.results):
        lines += [
            "",
            *_wrap(
                "All of it in order for this host's boot chain, filled in and verified by a "
                "re-audit: hostaudit plan (on the host; --format sh or ansible to apply it)",
                width,
            ),
        ]
    if report.notices:
        lines += ["", "notices:"]
        for notice in report.notices:
            lines += _wrap(printable(notice), width, "  - ", "    ")
    summary = report.summary()
    not_counted = len(report.not_counted())
    # One line whatever the width: scripts read the verdict with `tail -n 1`.
    lines += [
        "",
        ", ".join(f"{count} {status}" for status, count in summary.items())
        + (f" ({not_counted} not counted)" if not_counted else "")
        + f"; {report.judged()} in {report.duration_s:.2f}s: verdict {report.verdict().value}",
    ]
    return "\n".join(lines) + "\n"


def render_fleet(reports: Sequence[Report], colour: bool = False, width: int = WIDTH) -> str:
    """Several hosts' tables one after another, then one line per host."""
    tables = Fleet(colour, width=width)
    for report in reports:
        tables.add(report)
    return "".join(tables.chunks())


class Fleet:
    """Tables built one report at a time, then the one-line-per-host summary. `brief`
    (--quiet): only the summary lines of the hosts that do not pass."""

    def __init__(self, colour: bool = False, brief: bool = False, width: int = WIDTH) -> None:
        self.colour = colour
        self.brief = brief
        self.width = width
        self.tables: list[str] = []
        self.verdicts: list[tuple[str, str]] = []

    def add(self, report: Report) -> None:
        verdict = report.verdict()
        if self.brief and verdict is Status.PASS:
            return
        if not self.brief:
            self.tables.append(render(report, self.colour, self.width))
        stale = f" (stale: {printable(report.stale)})" if report.stale else ""
        self.verdicts.append((printable(report.host.hostname), verdict.value + stale))

    def chunks(self) -> Iterator[str]:
        """The output, in pieces to write one after the other."""
        for index, table in enumerate(self.tables):
            yield table if index == 0 else "\n" + table
        width = max((len(name) for name, _ in self.verdicts), default=0)
        yield (
            "\n" + "\n".join(f"{name:{width}}  {verdict}" for name, verdict in self.verdicts) + "\n"
        )
