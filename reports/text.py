"""The human-readable table shown on a terminal."""

from __future__ import annotations

import textwrap

from auditor.escape import printable
from auditor.model import Report, Result, Status

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from auditor.fleet import Member, Spool, Summary

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


def render(report: Report, colour: bool = False, width: int = WIDTH, evidence: bool = False) -> str:
    """A status table, then the remediation of every non-passing check; `width` columns.
    Checks left out by --check/--skip are not rows: a line says how many. `evidence`
    (-v/--evidence): each result's evidence after the table."""
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
        if result.selected
    ]
    left_out = sum(not result.selected for result in report.results)
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
    if left_out:
        lines += ["", f"{left_out} checks not selected (--check/--skip) are left out"]
    if evidence:
        lines += _evidence(report, width)
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


def _evidence(report: Report, width: int) -> list[str]:
    """What each selected result rests on: source, then value, indented."""
    lines = ["", "evidence:"]
    for result in report.results:
        if not result.selected or not result.outcome.evidence:
            continue
        lines.append(f"  {printable(result.check.id)} ({result.status.value})")
        for item in result.outcome.evidence:
            values = item.value.splitlines() or [""]
            if len(values) == 1:  # source: value, on one line where it fits
                line = f"{printable(item.source)}: {printable(values[0])}"
                lines += _wrap(line, width, "    ", "      ")
                continue
            lines.append(f"    {printable(item.source)}:")
            for value in values:
                lines += _wrap(printable(value), width, "      ", "        ")
    return lines


def render_fleet(
    reports: Sequence[Report], colour: bool = False, width: int = WIDTH, detail: bool = False
) -> str:
    """Several hosts: the fleet summary (with `detail`, every host's table before it)."""
    from auditor.fleet import Member, Summary

    tables, summary = Fleet(colour, width=width, detail=detail), Summary()
    for report in reports:
        member = Member(report, report.host.hostname)
        summary.add(member)
        tables.add(report, member)
    return "".join(tables.chunks(summary))


# The summary stays under 1 MB whatever the fleet, hostile reports included (ten thousand
# failing hosts, check ids by the thousand): its lists stop when this many characters are
# spent, and a line says how many more the fleet JSON or NDJSON names.
TEXT_BUDGET = 900_000


class Fleet:
    """A fleet's text, built one report at a time (`add`), written by `chunks`:
    - default: the fleet summary: hosts by verdict, the checks that fail by how many hosts,
      the hosts that fail or could not tell with what, stale and unreachable hosts;
    - `detail` (--detail): every host's own table first, then the summary;
    - `brief` (--quiet): one line for each host that does not pass."""

    def __init__(
        self, colour: bool = False, brief: bool = False, width: int = WIDTH, detail: bool = False
    ) -> None:
        self.colour = colour
        self.brief = brief
        self.detail = detail and not brief
        self.width = width
        self.tables: Spool | None = None
        if self.detail:
            from auditor.fleet import Spool

            self.tables = Spool()

    def add(self, report: Report, member: Member) -> None:
        if self.tables is not None:
            self.tables.write(render(report, self.colour, self.width) + "\n")

    def chunks(self, summary: Summary) -> Iterator[str]:
        """The output, in pieces to write one after the other."""
        if self.tables is not None:
            yield from self.tables.chunks()
        if self.brief:
            members = [m for m in summary.ordered() if m.verdict is not Status.PASS]
            width = max((len(printable(m.name)) for m in members), default=0)
            yield "".join(f"{printable(m.name):{width}}  {_verdict(m)}\n" for m in members)
            return
        yield from _summary(summary, self.colour, self.width)


def _verdict(member: Member) -> str:
    stale = f" (stale: {printable(member.stale)})" if member.stale else ""
    return member.verdict.value + stale


def _summary(summary: Summary, colour: bool, width: int) -> Iterator[str]:
    from auditor.model import URGENCY

    members = summary.ordered()
    hosts = len(members)

    def paint(status: Status, text: str) -> str:
        return f"{COLOURS[status]}{text}{RESET}" if colour else text

    verdicts = ", ".join(
        paint(status, f"{summary.verdicts[status]:,} {status.value}")
        for status in URGENCY
        if status in (Status.FAIL, Status.ERROR, Status.WARN, Status.PASS)
    )
    lines = [f"hostaudit fleet: {hosts:,} hosts: {verdicts}"]
    stale, unreachable = summary.stale(), summary.unreachable()
    if stale or unreachable:
        lines.append(
            f"  of the {summary.verdicts[Status.ERROR]:,} error: {len(unreachable):,} not "
            f"read, {len(stale):,} stale"
        )
    room = [TEXT_BUDGET]

    def listed(heading: str, rows: list[list[str]]) -> None:
        """The heading, then rows (each its lines) while the budget lasts."""
        lines.extend(["", heading])
        for index, row in enumerate(rows):
            cost = sum(len(line) + 1 for line in row)
            if cost > room[0]:
                more = len(rows) - index
                lines.append(f"  ... and {more:,} more (--format ndjson names them all)")
                return
            room[0] -= cost
            lines.extend(row)

    failing = summary.failing_checks()
    if failing:
        id_width = min(max(len(printable(row[0])) for row in failing), 40)
        rows = []
        for check_id, fails, errors, warns in failing:
            counts = [
                f"{fails:,} fail" if fails else "",
                f"{errors:,} could not tell" if errors else "",
                f"{warns:,} warn" if warns else "",
            ]
            rows.append(
                [f"  {printable(check_id):{id_width}}  {', '.join(c for c in counts if c)}"]
            )
        listed("Checks that do not pass, by hosts:", rows)
    for status, heading in (
        (Status.FAIL, "Hosts that fail"),
        (Status.ERROR, "Hosts that could not be judged"),
    ):
        named = [m for m in members if m.verdict is status and m.read and not m.stale]
        if not named:
            continue
        name_width = min(max(len(printable(m.name)) for m in named), 40)
        rows = []
        for member in named:
            what = ", ".join(
                printable(f.check_id) + (f" ({f.devices} devices)" if f.devices > 1 else "")
                for f in member.findings
                if f.status is status
            )
            first = f"  {printable(member.name):{name_width}}  "
            rows.append(_wrap(what, width, first, " " * (name_width + 4)))
        listed(f"{heading} ({len(named):,}):", rows)
    for members_of, heading in ((stale, "Stale"), (unreachable, "Not read")):
        if not members_of:
            continue
        name_width = min(max(len(printable(m.name)) for m in members_of), 40)
        rows = [
            [f"  {printable(m.name):{name_width}}  {printable(m.stale or '')}"] for m in members_of
        ]
        listed(f"{heading} ({len(members_of):,}):", rows)
    # One line whatever the width, last: scripts read the verdict with `tail -n 1`.
    lines += ["", f"{hosts:,} hosts; verdict {summary.verdict.value}"]
    yield "\n".join(lines) + "\n"
