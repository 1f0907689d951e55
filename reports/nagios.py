"""Nagios / Icinga plugin output: a status line under 80 characters, long output, perfdata.

Plugin API (Nagios Plugin Development Guidelines): first line `TEXT | PERFDATA`, then long
output lines, and more perfdata after a `|` in the long output. States: fail -> CRITICAL,
else error -> UNKNOWN (the audit could not tell), else warn -> WARNING, else OK.
"""

from __future__ import annotations

from auditor.escape import nagios_text
from auditor.model import Report, Status, by_urgency

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = {OK: "OK", WARNING: "WARNING", CRITICAL: "CRITICAL", UNKNOWN: "UNKNOWN"}
STATES = {Status.FAIL: CRITICAL, Status.ERROR: UNKNOWN, Status.WARN: WARNING, Status.PASS: OK}
MAX_LINE = 79


def exit_code(report: Report) -> int:
    """The plugin exit code of a report."""
    return STATES[report.verdict()]


def render(report: Report) -> str:
    """The plugin's output; pair it with exit_code()."""
    counts = report.summary()
    code = exit_code(report)
    total = len(report.results)
    what = {
        CRITICAL: f"{counts['fail']} of {total} checks failed",
        UNKNOWN: f"{counts['error']} of {total} checks could not tell",
        WARNING: f"{counts['warn']} of {total} checks warn",
        OK: f"{counts['pass']} of {total} checks passed, {counts['skip']} skipped",
    }[code]
    text = f"HOSTAUDIT {STATE_NAMES[code]} - {what}"
    first = f"{text} | fail={counts['fail']} warn={counts['warn']} error={counts['error']}"
    if len(first) > MAX_LINE:  # the guideline's 80 columns win over perfdata on line one
        first = text
    lines = [first]
    for result in by_urgency(report.results):
        if result.status in (Status.PASS, Status.SKIP):
            continue
        word = result.status.value.upper()
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
        f"profile {nagios_text(report.profile)}"
    )
    lines.append(f"| pass={counts['pass']} skip={counts['skip']} duration={report.duration_s:.3f}s")
    return "\n".join(lines) + "\n"
