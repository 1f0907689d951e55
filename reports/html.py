"""One self-contained HTML file: no scripts, no external styles, fonts or images.

It works offline and from an e-mail attachment, and it filters by status without a server
or JavaScript: hidden radio buttons precede the page, and CSS `:checked ~` rules hide the
sections of the other statuses. Printing shows everything. Every host-derived string goes
through `escape()` below; element ids are built from indexes, never from host data.
"""

from __future__ import annotations

import html

from auditor.escape import xml_text
from auditor.model import URGENCY, Report, Result, Status, age, epoch, listed

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from auditor.fleet import Member, Summary


def escape(text: str) -> str:
    """Host text as HTML: markup escaped, control characters shown as \\xNN (a NUL or an
    escape sequence would otherwise reach the page)."""
    return html.escape(xml_text(text), quote=True)


HEADINGS = {
    Status.FAIL: "Failures",
    Status.ERROR: "Errors (could not tell)",
    Status.WARN: "Warnings",
    Status.WAIVED: "Waived",
    Status.SKIP: "Skipped",
    Status.PASS: "Passed",
}

# Status colours; the failure heading's red is what the browser test looks for.
CSS = """
:root { --fail: #b3261e; --error: #6a1b9a; --warn: #a15c00; --waived: #00677f; --skip: #5f6368; --pass: #1e6b30;
  --line: #d0d4d9; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem 1.5rem 3rem; line-height: 1.45; }
h1 { font-size: 1.5rem; margin: .5rem 0; } h2 { font-size: 1.2rem; } h3 { font-size: 1rem; margin: 0; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .9em; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
table { border-collapse: collapse; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; }
.facts th { background: #f3f4f6; font-weight: 600; }
.badge { display: inline-block; min-width: 3.2rem; padding: .05rem .4rem; border-radius: .25rem;
  color: #fff; font-weight: 700; font-size: .8rem; text-align: center; text-transform: uppercase; }
.b-fail { background: var(--fail); } .b-error { background: var(--error); }
.b-warn { background: var(--warn); } .b-skip { background: var(--skip); }
.b-waived { background: var(--waived); }
.b-pass { background: var(--pass); }
.verdict { font-size: 1.1rem; font-weight: 700; }
.notices { border: 1px solid var(--warn); border-radius: .3rem; padding: 0 .8rem; margin: 1rem 0; }
.filter-input { position: absolute; opacity: 0; pointer-events: none; }
.filters { margin: 1rem 0; display: flex; flex-wrap: wrap; gap: .5rem; }
.filters label { border: 1px solid var(--line); border-radius: 1rem; padding: .2rem .8rem; cursor: pointer; }
.results > h2 { color: #fff; padding: .4rem .75rem; border-radius: .3rem; margin: 1.5rem 0 .5rem; }
.s-fail > h2 { background: var(--fail); } .s-error > h2 { background: var(--error); }
.s-warn > h2 { background: var(--warn); } .s-skip > h2 { background: var(--skip); }
.s-waived > h2 { background: var(--waived); }
.s-pass > h2 { background: var(--pass); }
.result { border: 1px solid var(--line); border-left-width: .4rem; border-radius: .3rem;
  padding: .6rem .8rem; margin: .5rem 0; break-inside: avoid; }
.s-fail .result { border-left-color: var(--fail); } .s-error .result { border-left-color: var(--error); }
.s-warn .result { border-left-color: var(--warn); } .s-skip .result { border-left-color: var(--skip); }
.s-waived .result { border-left-color: var(--waived); }
.s-pass .result { border-left-color: var(--pass); }
.result h4 { margin: .6rem 0 .2rem; font-size: .9rem; }
.result ol { margin: .2rem 0; padding-left: 1.5rem; }
.severity, .title { color: #4b5563; font-weight: normal; }
.tag { border: 1px solid currentColor; border-radius: .25rem; padding: 0 .3rem; font-size: .75rem;
  font-weight: 600; color: #4b5563; }
.stale { border: 2px solid var(--error); border-radius: .3rem; padding: .4rem .8rem; margin: 1rem 0; }
.message { margin: .3rem 0; }
.host { border-top: 3px solid #1b1f24; margin-top: 2rem; }
.matrix td { text-align: center; padding: 0 .3rem; } .matrix th { text-align: left; white-space: nowrap;
  font-weight: normal; padding: 0 .4rem; } .matrix a { text-decoration: none; } .scroll { overflow-x: auto; }
.matrix .badge { min-width: 2.6rem; font-size: .7rem; }
.c-fail { background: var(--fail); color: #fff; } .c-error { background: var(--error); color: #fff; }
.c-warn { background: var(--warn); color: #fff; } .c-waived { background: var(--waived); color: #fff; }
.c-skip { color: var(--skip); } .c-pass { color: var(--pass); }
.matrix th.up { vertical-align: bottom; padding: .3rem 0; }
.matrix th.up span { writing-mode: vertical-rl; transform: rotate(180deg); font-family: ui-monospace,
  "DejaVu Sans Mono", monospace; font-size: .75rem; }
.counts td { text-align: right; } .counts td:nth-child(1), .counts td:nth-child(2) { text-align: left; }
details { border-bottom: 1px solid var(--line); padding: .2rem 0; } details ul { margin: .3rem 0; }
#show-fail:checked ~ main .results:not(.s-fail),
#show-error:checked ~ main .results:not(.s-error),
#show-warn:checked ~ main .results:not(.s-warn),
#show-waived:checked ~ main .results:not(.s-waived),
#show-skip:checked ~ main .results:not(.s-skip),
#show-pass:checked ~ main .results:not(.s-pass) { display: none; }
#show-all:checked ~ header label[for=show-all], #show-fail:checked ~ header label[for=show-fail],
#show-error:checked ~ header label[for=show-error], #show-warn:checked ~ header label[for=show-warn],
#show-waived:checked ~ header label[for=show-waived],
#show-skip:checked ~ header label[for=show-skip], #show-pass:checked ~ header label[for=show-pass]
  { background: #1b1f24; color: #fff; }
@media print {
  body { max-width: none; padding: 0; }
  .filters { display: none; }
  main .results { display: block !important; }
  .badge, .results > h2 { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def render(report: Report, now: float | None = None) -> str:
    """One host's report as a page; ages are counted to `now` (default: the current time)."""
    return "".join(_page(report, time_now(now)))


def time_now(now: float | None) -> float:
    import time

    return time.time() if now is None else now


def _page(report: Report, now: float) -> Iterator[str]:
    title = f"hostaudit: {report.host.hostname}"
    verdict = report.verdict()
    counts = {status: 0 for status in Status}
    for result in report.results:
        counts[result.status] += 1
    yield _head(title, verdict)
    parts = [f'<p class="verdict">Verdict: {_badge(verdict)}']
    not_counted = len(report.not_counted())
    if not_counted:
        parts.append(
            f' &middot; <span class="tag">{not_counted} not counted</span> '
            "(failures and errors below the profile's fail_on)"
        )
    parts.append("</p>\n")
    if report.stale:
        parts.append(f'<p class="stale">Stale: {escape(report.stale)}</p>\n')
    parts.append(_facts(report, now))
    if report.notices:
        notices = "".join(f"<li>{escape(notice)}</li>" for notice in report.notices)
        parts.append(f'<div class="notices"><h2>Notices</h2><ul>{notices}</ul></div>\n')
    parts.append('<nav class="filters" aria-label="Show">')
    parts.append(f'<label for="show-all">All ({sum(counts.values())})</label>')
    parts += [
        f'<label for="show-{s.value}">{HEADINGS[s].split(" (")[0]} ({counts[s]})</label>'
        for s in URGENCY
    ]
    parts.append("</nav>\n</header>\n<main>\n")
    yield "".join(parts)
    yield _host(report, 0)
    yield "</main>\n</body>\n</html>\n"


def _head(title: str, verdict: Status, filters: bool = True) -> str:
    """The document up to the <h1>, with the hidden radio buttons the filters use."""
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{escape(title)} ({verdict.value})</title>\n<style>{CSS}</style>\n</head>\n"
        "<body>\n",
    ]
    if filters:
        parts.append(
            '<input type="radio" name="show" id="show-all" class="filter-input" checked>\n'
        )
        parts += [
            f'<input type="radio" name="show" id="show-{s.value}" class="filter-input">\n'
            for s in URGENCY
        ]
    parts.append(f"<header>\n<h1>{escape(title)}</h1>\n")
    return "".join(parts)


def render_fleet(reports: Sequence[Report], now: float | None = None) -> str:
    """Several hosts' reports as one fleet page (see Fleet)."""
    from auditor.fleet import Member, Summary

    page, summary = Fleet(now=now), Summary()
    for report in reports:
        member = Member(report, report.host.hostname)
        summary.add(member)
        page.add(report, member)
    return "".join(page.chunks(summary))


# The matrix's cells: a letter a colour-blind reader can tell apart, and the status as
# the cell's class (its colour).
LETTERS = {
    Status.FAIL: "F",
    Status.ERROR: "E",
    Status.WARN: "W",
    Status.WAIVED: "V",
    Status.SKIP: "S",
    Status.PASS: "P",
}


# The matrix's columns at most: a fleet knows a few dozen check ids at most (the built-in
# ones, over a few versions), but saved reports are hostile, and a cell per host per id
# would grow with hosts x ids. Further checks are in the table of checks below it.
MATRIX_COLUMNS = 40


class Fleet:
    """The fleet page, small at 10,000 hosts: the summary, the checks by how many hosts fail
    them, a host x check matrix with the failing hosts first, and for each host that does
    not pass what does not pass, collapsed (<details>). The full report of each host goes
    to its own page under `pages` (--html-dir) when given, linked from the matrix.

    Only what the page needs is kept per host (auditor.fleet.Member): 10,000 hosts of 60 KB
    reports make a page of about 10 MB."""

    def __init__(
        self, now: float | None = None, pages: str | None = None, link: str | None = None
    ) -> None:
        self.now = time_now(now)
        self.pages = pages  # the folder for one page per host, or None
        self.link = link if link is not None else pages  # that folder as the page links it
        self.titles: dict[str, str] = {}
        self.files: dict[Member, str] = {}  # each host's page (two may share a name)

    def add(self, report: Report, member: Member) -> None:
        for result in report.results:
            self.titles.setdefault(result.check.id, result.check.title)
        if self.pages is not None:
            self.files[member] = self._write_page(report, member.name, len(self.files))

    def _write_page(self, report: Report, host: str, index: int) -> str:
        """The host's own page, named by its position and its name made safe for a file
        name (a host name is host data: never a path)."""
        import os
        import re

        from auditor.errors import UsageError
        from auditor.sources.collector import write_file

        assert self.pages is not None
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", host)[:64].lstrip(".") or "host"
        name = f"{index:05d}-{safe}.html"
        text = render(report, self.now).encode("utf-8", "backslashreplace")
        try:
            write_file(os.path.join(self.pages, name), lambda handle: handle.write(text), 0o644)
        except OSError as exc:
            raise UsageError(
                f"--html-dir {self.pages}: cannot write {name}: {exc.strerror}"
            ) from None
        return name

    def chunks(self, summary: Summary) -> Iterator[str]:
        """The page, in pieces to write one after the other."""
        members = summary.ordered()
        hosts = len(members)
        overall = summary.verdict
        title = f"hostaudit: {hosts:,} hosts"
        parts = [
            _head(title, overall, filters=False),
            f'<p class="verdict">Verdict: {_badge(overall)}',
            f" &middot; {summary.verdicts[Status.FAIL]:,} of {hosts:,} hosts fail",
        ]
        for status in (Status.ERROR, Status.WARN, Status.PASS):
            parts.append(f" &middot; {_badge(status)} {summary.verdicts[status]:,}")
        stale, unreachable = len(summary.stale()), len(summary.unreachable())
        if stale or unreachable:
            parts.append(f" &middot; {unreachable:,} not read, {stale:,} stale")
        parts.append(f'</p>\n<p class="title">Made {escape(_utc(self.now))} UTC</p>\n')
        parts.append("</header>\n<main>\n")
        yield "".join(parts)
        yield self._matrix(members, _columns(summary), len(summary.checks))
        yield self._checks(summary)
        yield from self._details(members)
        yield "</main>\n</body>\n</html>\n"

    def _checks(self, summary: Summary) -> str:
        """The checks with how many hosts have each status, failing most first."""
        head = "".join(f"<th>{_badge(s)}</th>" for s in URGENCY)
        rows = []
        order = sorted(
            summary.checks.items(),
            key=lambda item: tuple(-item[1][s] for s in (Status.FAIL, Status.ERROR, Status.WARN)),
        )
        for check_id, counts in order:
            cells = "".join(f"<td>{counts[s]:,}</td>" for s in URGENCY)
            rows.append(
                f"<tr><td><code>{escape(check_id)}</code></td>"
                f"<td>{escape(self.titles.get(check_id, ''))}</td>{cells}</tr>"
            )
        return (
            '<section><h2>Checks, by hosts</h2><table class="counts">'
            f"<tr><th>Check</th><th>Title</th>{head}</tr>\n"
            + "\n".join(rows)
            + "</table></section>\n"
        )

    def _matrix(self, members: list[Member], columns: list[str], checks: int) -> str:
        """Hosts down (failing first), checks across (their ids written upwards, so that a
        dozen checks fit a 1400 px screen); a host's name links to what does not pass on
        it, its verdict to its own page (with --html-dir)."""
        heads = "".join(
            f'<th class="up"><span>{escape(check_id)}</span></th>' for check_id in columns
        )
        rows = []
        for index, member in enumerate(members):
            cells = []
            for check_id in columns:
                status = member.cells.get(check_id)
                cells.append(
                    "<td></td>"
                    if status is None
                    else f'<td class="c-{status.value}">{LETTERS[status]}</td>'
                )
            name = escape(member.name)
            if member.findings or member.stale:
                name = f'<a href="#h{index}">{name}</a>'
            if member.hostname != member.name:  # the file's name is not the host's own
                name += f' <span class="title">{escape(member.hostname)}</span>'
            verdict = _badge(member.verdict)
            page = self.files.get(member)
            if page is not None and self.link is not None:
                href = escape(f"{self.link.rstrip('/')}/{page}")
                verdict = f'<a href="{href}">{verdict}</a>'
            rows.append(f"<tr><th>{name}</th><td>{verdict}</td>{''.join(cells)}</tr>")
        hidden = checks - len(columns)
        more = f" {hidden:,} more checks are only in the table below." if hidden > 0 else ""
        return (
            '<section><h2>Hosts and checks</h2><p class="title">F fail, E could not tell, '
            f"W warn, V waived, S skip, P pass; failing hosts first.{more}</p>"
            f'<div class="scroll"><table class="matrix"><tr><th>Host</th><th>Verdict</th>'
            f"{heads}</tr>\n" + "\n".join(rows) + "</table></div></section>\n"
        )

    def _details(self, members: list[Member]) -> Iterator[str]:
        """For each host that does not pass, what does not pass, collapsed."""
        yield "<section><h2>What does not pass</h2>\n"
        for index, member in enumerate(members):
            if not (member.findings or member.stale):
                continue
            label = "Stale" if member.read else "Not read"
            items = [f"<li>{label}: {escape(member.stale)}</li>"] if member.stale else []
            for finding in member.findings:
                devices = f" ({finding.devices} devices)" if finding.devices else ""
                items.append(
                    f"<li>{_badge(finding.status)} <code>{escape(finding.check_id)}</code>"
                    f"{devices}: {escape(finding.message)}</li>"
                )
            yield (
                f'<details id="h{index}"><summary>{escape(member.name)} '
                f"{_badge(member.verdict)}</summary><ul>{''.join(items)}</ul></details>\n"
            )
        yield "</section>\n"


def _columns(summary: Summary) -> list[str]:
    """The matrix's checks: all of them, in the order the reports give them, or where there
    are more than MATRIX_COLUMNS, those that fail, cannot tell or warn on most hosts."""
    columns = list(summary.checks)
    if len(columns) <= MATRIX_COLUMNS:
        return columns
    bad = (Status.FAIL, Status.ERROR, Status.WARN)
    worst = sorted(columns, key=lambda c: -sum(summary.checks[c][s] for s in bad))
    kept = set(worst[:MATRIX_COLUMNS])
    return [check_id for check_id in columns if check_id in kept]


def _utc(seconds: float) -> str:
    from auditor.sources.base import utc

    return utc(seconds)


def _counting(result: Result) -> str:
    """A tag where the profile weighs a result other than its status says."""
    if result.not_counted:
        return ' <span class="tag">not counted</span>'
    if result.status is Status.WARN and result.counted_as is Status.FAIL:
        return ' <span class="tag">counts as a failure</span>'
    return ""


def _badge(status: Status) -> str:
    return f'<span class="badge b-{status.value}">{status.value}</span>'


def _facts(report: Report, now: float) -> str:
    host = report.host
    try:
        ago = f" ({age(now - epoch(report.when_collected))} ago)" if report.collected else ""
    except ValueError:
        ago = ""
    _, _, missed = report.coverage()
    judged = report.judged() + (f" (not judged: {listed(missed)})" if missed else "")
    rows = (
        ("Host", host.hostname),
        ("Kernel", host.kernel_release),
        ("Root", host.root),
        ("Profile", report.profile),
        ("Read from the host (UTC)", report.read_at + ago),
        ("Audit started (UTC)", report.started_at),
        ("Duration", f"{report.duration_s:.3f} s"),
        ("Tool", f"hostaudit {report.tool_version}"),
        ("Judged", judged),
    )
    summary = report.summary()
    cells = "".join(f"<tr><th>{name}</th><td>{escape(value)}</td></tr>" for name, value in rows)
    counts = " ".join(f"{_badge(s)} {summary[s.value]}" for s in URGENCY)
    return f'<table class="facts">{cells}<tr><th>Checks</th><td>{counts}</td></tr></table>\n'


def _host(report: Report, index: int) -> str:
    parts = [f'<article id="h{index}">\n']
    positions = {id(result): n for n, result in enumerate(report.results)}
    for status in URGENCY:
        results = [result for result in report.results if result.status is status]
        if not results:
            continue
        parts.append(
            f'<section class="results s-{status.value}">\n'
            f"<h2>{HEADINGS[status]} ({len(results)})</h2>\n"
        )
        parts += [_result(result, f"h{index}-c{positions[id(result)]}") for result in results]
        parts.append("</section>\n")
    parts.append("</article>\n")
    return "".join(parts)


def _result(result: Result, anchor: str) -> str:
    check, outcome = result.check, result.outcome
    parts = [
        f'<div class="result" id="{anchor}">\n<h3>{_badge(result.status)} '
        f'<code>{escape(check.id)}</code> <span class="severity">severity '
        f"{check.severity.label}</span>{_counting(result)}</h3>\n"
        f'<div class="title">{escape(check.title)}</div>\n'
        f'<p class="message">{escape(outcome.message)}</p>\n'
    ]
    if outcome.devices:
        rows = "".join(
            f'<tr><td class="mono">{escape(d.address)}</td><td>{_badge(d.status)}</td>'
            f"<td>{escape(d.message)}</td></tr>"
            for d in outcome.devices
        )
        parts.append(f"<h4>Devices</h4>\n<table>{rows}</table>\n")
    if result.remediation:
        steps = "".join(f"<li>{escape(step)}</li>" for step in result.remediation)
        parts.append(f"<h4>How to fix</h4>\n<ol>{steps}</ol>\n")
    if outcome.evidence:
        rows = "".join(
            f'<tr><td class="mono">{escape(e.source)}</td><td><pre>{escape(e.value)}</pre></td></tr>'
            for e in outcome.evidence
        )
        parts.append(f"<h4>Evidence</h4>\n<table>{rows}</table>\n")
    parts.append("</div>\n")
    return "".join(parts)
