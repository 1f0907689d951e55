"""Prometheus text exposition format, for node_exporter's textfile collector.

No sample timestamps (the collector refuses them); the run's own time is a metric instead.
"""

from __future__ import annotations

from auditor.escape import label_value
from auditor.model import Report, Status, epoch


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{name}="{label_value(value)}"' for name, value in labels.items()) + "}"


def render(report: Report) -> str:
    """The report as gauges: per check and status, per device, counts, duration, last run."""
    out: list[str] = []

    def metric(name: str, help_text: str, samples: list[tuple[str, float | int]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} gauge")
        out.extend(f"{name}{labels} {value}" for labels, value in samples)

    metric(
        "hostaudit_check_status",
        "1 for the status each check ended with, 0 for the other statuses.",
        [
            (
                _labels(check=r.check.id, severity=r.check.severity.label, status=status.value),
                int(r.status is status),
            )
            for r in report.results
            for status in Status
        ],
    )
    metric(
        "hostaudit_device_status",
        "1 for the status a device check gave each device to be assigned, 0 for the others.",
        [
            (
                _labels(check=r.check.id, device=d.address, status=status.value),
                int(d.status is status),
            )
            for r in report.results
            for d in r.outcome.devices
            for status in Status
        ],
    )
    metric(
        "hostaudit_check_counted",
        "1 when the check's result counts against the profile (a failure or error at or above "
        "fail_on, or a warning the profile makes fail), 0 when it does not: a failure with 0 "
        "here does not fail the host.",
        [
            (
                _labels(check=r.check.id, severity=r.check.severity.label),
                int(r.counted_as in (Status.FAIL, Status.ERROR)),
            )
            for r in report.results
        ],
    )
    verdict = report.verdict()
    metric(
        "hostaudit_verdict",
        "1 for the audit's verdict under its profile (what the exit code says), 0 for the others.",
        [
            (_labels(verdict=status.value), int(verdict is status))
            for status in (Status.PASS, Status.WARN, Status.FAIL, Status.ERROR)
        ],
    )
    metric(
        "hostaudit_checks",
        "Number of checks that ended with each status.",
        [(_labels(status=status), count) for status, count in report.summary().items()],
    )
    judged, selected, _ = report.coverage()
    metric(
        "hostaudit_checks_judged",
        "Checks this run selected that gave a verdict (not a skip or an error).",
        [("", judged)],
    )
    metric(
        "hostaudit_checks_selected",
        "Checks this run selected (--check and --skip leave the others out).",
        [("", selected)],
    )
    metric(
        "hostaudit_audit_duration_seconds",
        "How long the audit took.",
        [("", report.duration_s)],
    )
    started = int(epoch(report.started_at))
    metric(
        "hostaudit_last_run_timestamp_seconds",
        "When the audit started, in seconds since the Unix epoch.",
        [("", started)],
    )
    metric(
        "hostaudit_collected_timestamp_seconds",
        "When the host's files were read (a snapshot's creation), in seconds since the epoch.",
        [("", int(epoch(report.when_collected)))] if report.collected else [],
    )
    metric(
        "hostaudit_stale",
        "1 when the report does not show the host as it is now (too old, or not reached).",
        [("", int(bool(report.stale)))],
    )
    metric(
        "hostaudit_info",
        "The audited host and the tool: always 1.",
        [
            (
                _labels(
                    version=report.tool_version,
                    kernel_release=report.host.kernel_release,
                    profile=report.profile,
                ),
                1,
            )
        ],
    )
    return "\n".join(out) + "\n"
