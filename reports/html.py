"""One self-contained HTML file: no scripts, no external styles, fonts or images.

It works offline and from an e-mail attachment, and it filters by status without a server
or JavaScript: hidden radio buttons precede the page, and CSS `:checked ~` rules hide the
sections of the other statuses. Printing shows everything. Every host-derived string goes
through `escape()` below; element ids are built from indexes, never from host data.
"""

from __future__ import annotations

import html

from auditor.escape import xml_text
from auditor.model import URGENCY, Report, Result, Status, age, epoch, listed, worst

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


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
.matrix td { text-align: center; } .matrix td:first-child { text-align: left; white-space: nowrap; }
.matrix a { text-decoration: none; } .scroll { overflow-x: auto; }
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
    page = Fleet(fleet=False, now=now)
    page.add(report)
    return "".join(page.chunks())


def render_fleet(reports: Sequence[Report], now: float | None = None) -> str:
    """Several hosts' reports as one page: a host x check matrix, then a section per host."""
    page = Fleet(now=now)
    for report in reports:
        page.add(report)
    return "".join(page.chunks())


class Fleet:
    """A page built one report at a time: each host's section is rendered when it is added
    and the report let go; only what the header and the matrix need is kept. A fleet of
    10,000 hosts is then the size of its page, not of its reports."""

    def __init__(self, fleet: bool = True, now: float | None = None) -> None:
        import time

        self.fleet = fleet  # False: one host's page, its facts in the header
        self.now = time.time() if now is None else now
        self.not_counted = 0
        self.stale = 0
        self.counts = {status: 0 for status in Status}
        self.verdicts: list[Status] = []
        self.notices: list[str] = []  # as list items, escaped
        self.check_ids: dict[str, None] = {}
        self.rows: list[tuple[str, Status, dict[str, tuple[int, Status]]]] = []
        self.sections: list[str] = []
        self.first: Report | None = None  # a single host's report, for its facts

    def add(self, report: Report) -> None:
        index = len(self.verdicts)
        verdict = report.verdict()
        self.verdicts.append(verdict)
        self.first = self.first or report
        for result in report.results:
            self.counts[result.status] += 1
            self.check_ids.setdefault(result.check.id)
        self.not_counted += len(report.not_counted())
        self.stale += bool(report.stale)
        prefix = escape(report.host.hostname) + ": " if self.fleet else ""
        self.notices += [f"<li>{prefix}{escape(notice)}</li>" for notice in report.notices]
        if self.fleet:
            cells = {r.check.id: (n, r.status) for n, r in enumerate(report.results)}
            self.rows.append((report.host.hostname, verdict, cells))
        self.sections.append(_host(report, index, self.fleet, self.now))

    def chunks(self) -> Iterator[str]:
        """The page, in pieces to write one after the other."""
        hosts = len(self.verdicts)
        title = (
            f"hostaudit: {hosts} hosts"
            if self.fleet or self.first is None
            else (f"hostaudit: {self.first.host.hostname}")
        )
        overall = worst(self.verdicts)
        parts = [
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
            f"<title>{escape(title)} ({overall.value})</title>\n<style>{CSS}</style>\n</head>\n"
            "<body>\n",
            '<input type="radio" name="show" id="show-all" class="filter-input" checked>\n',
        ]
        parts += [
            f'<input type="radio" name="show" id="show-{s.value}" class="filter-input">\n'
            for s in URGENCY
        ]
        parts.append(f"<header>\n<h1>{escape(title)}</h1>\n")
        parts.append(f'<p class="verdict">Verdict: {_badge(overall)}')
        if self.fleet:
            failing = sum(verdict is Status.FAIL for verdict in self.verdicts)
            parts.append(f" &middot; {failing} of {hosts} hosts fail")
            if self.stale:
                parts.append(f" &middot; {self.stale} stale")
        if self.not_counted:
            parts.append(
                f' &middot; <span class="tag">{self.not_counted} not counted</span> '
                "(failures and errors below the profile's fail_on)"
            )
        parts.append("</p>\n")
        if not self.fleet and self.first is not None:
            if self.first.stale:
                parts.append(f'<p class="stale">Stale: {escape(self.first.stale)}</p>\n')
            parts.append(_facts(self.first, self.now))
        if self.notices:
            parts.append(
                f'<div class="notices"><h2>Notices</h2><ul>{"".join(self.notices)}</ul></div>\n'
            )
        parts.append('<nav class="filters" aria-label="Show">')
        parts.append(f'<label for="show-all">All ({sum(self.counts.values())})</label>')
        parts += [
            f'<label for="show-{s.value}">{HEADINGS[s].split(" (")[0]} ({self.counts[s]})</label>'
            for s in URGENCY
        ]
        parts.append("</nav>\n</header>\n<main>\n")
        yield "".join(parts)
        if self.fleet:
            yield self._matrix()
        yield from self.sections
        yield "</main>\n</body>\n</html>\n"

    def _matrix(self) -> str:
        """Hosts down, checks across; each cell links to that result's section."""
        head = "".join(f"<th><code>{escape(check_id)}</code></th>" for check_id in self.check_ids)
        rows = []
        for index, (hostname, verdict, cells) in enumerate(self.rows):
            tds = []
            for check_id in self.check_ids:
                cell = cells.get(check_id)
                if cell is None:
                    tds.append("<td>&ndash;</td>")
                else:
                    tds.append(f'<td><a href="#h{index}-c{cell[0]}">{_badge(cell[1])}</a></td>')
            rows.append(
                f'<tr><td><a href="#h{index}">{escape(hostname)}</a></td>'
                f"<td>{_badge(verdict)}</td>{''.join(tds)}</tr>"
            )
        return (
            '<section class="matrix-section"><h2>Hosts and checks</h2><div class="scroll">'
            f'<table class="matrix"><tr><th>Host</th><th>Verdict</th>{head}</tr>\n'
            + "\n".join(rows)
            + "</table></div></section>\n"
        )


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


def _host(report: Report, index: int, fleet: bool, now: float) -> str:
    parts = []
    if fleet:
        stale = f'<p class="stale">Stale: {escape(report.stale)}</p>\n' if report.stale else ""
        parts.append(
            f'<article class="host" id="h{index}">\n<h2>{escape(report.host.hostname)} '
            f"{_badge(report.verdict())}</h2>\n{stale}{_facts(report, now)}"
        )
    else:
        parts.append(f'<article id="h{index}">\n')
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
