"""The canonical JSON report."""

from __future__ import annotations

import json

from auditor.model import Report, Result

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = "1.0.0"


def result_to_dict(result: Result) -> dict[str, Any]:
    """One result as plain data."""
    return {
        "id": result.check.id,
        "title": result.check.title,
        "severity": result.check.severity.label,
        "status": result.status.value,
        "message": result.outcome.message,
        "evidence": [{"source": e.source, "value": e.value} for e in result.outcome.evidence],
        "remediation": list(result.remediation),
        "duration_s": result.duration_s,
    }


def report_to_dict(report: Report) -> dict[str, Any]:
    """The whole report as plain data, keys as the JSON schema names them."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "hostaudit", "version": report.tool_version},
        "host": {
            "hostname": report.host.hostname,
            "kernel_release": report.host.kernel_release,
            "root": report.host.root,
        },
        "started_at": report.started_at,
        "duration_s": report.duration_s,
        "summary": report.summary(),
        "results": [result_to_dict(result) for result in report.results],
    }


def render(report: Report) -> str:
    """The report as indented JSON text, ending with a newline."""
    return json.dumps(report_to_dict(report), indent=2, ensure_ascii=False) + "\n"
