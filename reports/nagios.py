"""Nagios / Icinga plugin output: a status line under 80 characters, long output, perfdata.

Plugin API (Nagios Plugin Development Guidelines): first line `TEXT | PERFDATA`, then long
output lines, and more perfdata after a `|` in the long output. The state is the report's
verdict under its profile, as the exit code and every other format have it: fail ->
CRITICAL, error (or stale) -> UNKNOWN, warn -> WARNING, pass -> OK. The first line names
the checks behind the state, so that a pager notification built from it says what broke.
"""

from __future__ import annotations

from auditor.escape import nagios_text
from auditor.model import Report, Status, by_urgency

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
STATES = {Status.FAIL: CRITICAL, Status.ERROR: UNKNOWN, Status.WARN: WARNING, Status.PASS: OK}
MAX_LINE = 79  # the guideline's 80 columns, before the perfdata


def exit_code(report: Report) -> int:
    """The plugin exit code of a report."""
    return STATES[report.verdict()]


def render(report: Report) -> str:
    """The plugin's output; pair it with exit_code()."""
    counts = report.summary()
    verdict = report.verdict()
    code = STATES[verdict]
    if report.stale:
        summary = f"stale: {nagios_text(report.stale)}"
    elif code == OK:
        # OK names what it could not judge: a pass of 3 checks out of 12 is not a plain OK.
        judged, selected, missed = report.coverage()
        summary = f"{report.judged()}, none failing"
        if missed:
            summary = f"{judged} of {selected} judged; not judged: "
            summary += _names(
                [nagios_text(check_id) for check_id in missed],
                MAX_LINE - len(f"HOSTAUDIT OK - {summary}"),
            )
    else:
        # The checks that make the state: for WARNING, warnings and what is not counted.
        summary = _names(
            [nagios_text(r.check.id) for r in report.results if r.counted_as is verdict],
            MAX_LINE - len(f"HOSTAUDIT {STATE_NAMES[code]} - "),
        )
    text = f"HOSTAUDIT {STATE_NAMES[code]} - {summary}"[:MAX_LINE]
    lines = [f"{text} | fail={counts['fail']} warn={counts['warn']} error={counts['error']}"]
    for result in by_urgency(report.results):
        if result.status in (Status.PASS, Status.SKIP):
            continue
        word = result.status.value.upper()
        if result.not_counted:
            word += " (not counted)"
        elif result.status is Status.WARN and result.counted_as is Status.FAIL:
            word += " (counts as a failure)"
        devices = [d for d in result.outcome.devices if d.status is not Status.PASS]
        if not devices:
            lines.append(
                f"{word} {nagios_text(result.check.id)}: {nagios_text(result.outcome.message)}"
            )
        for device in devices:  # the check's message repeats these; one line per device
            lines.append(
                f"{word} {nagios_text(result.check.id)} {nagios_text(device.address)}: "
                f"{nagios_text(device.message)}"
            )
    lines += [f"NOTICE {nagios_text(notice)}" for notice in report.notices]
    host = report.host
    lines.append(
        f"host {nagios_text(host.hostname)}, kernel {nagios_text(host.kernel_release)}, "
        f"profile {nagios_text(report.profile)}, read {report.read_at}"
    )
    judged, selected, _ = report.coverage()
    lines.append(
        f"| pass={counts['pass']} skip={counts['skip']} judged={judged};;;0;{selected} "
        f"duration={report.duration_s:.3f}s"
    )
    return "\n".join(lines) + "\n"


def _names(ids: list[str], room: int) -> str:
    """Check ids joined with ", ", the last ones replaced by "+N more" to fit in `room`."""
    for shown in range(len(ids), 0, -1):
        text = ", ".join(ids[:shown]) + (f" +{len(ids) - shown} more" if shown < len(ids) else "")
        if len(text) <= room:
            return text
    return f"{len(ids)} checks"
