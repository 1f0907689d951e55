"""The canonical JSON report and the fleet document, as text. The published schemas live
with the validator (auditor/schema.py, re-exported here for the renderer's users); reading
saved reports back is auditor/saved.py's job."""

from __future__ import annotations

import json

from auditor.model import Report, Result
from auditor.schema import SCHEMA_VERSION, fleet_schema_text, schema_text

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
__all__ = ["SCHEMA_VERSION", "Fleet", "fleet_schema_text", "render", "schema_text"]

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from auditor.fleet import Member, Summary


def result_to_dict(result: Result) -> dict[str, Any]:
    """One result as plain data."""
    data = {
        "id": result.check.id,
        "title": result.check.title,
        "severity": result.check.severity.label,
        "status": result.status.value,
        "message": result.outcome.message,
        "evidence": [{"source": e.source, "value": e.value} for e in result.outcome.evidence],
        "remediation": list(result.remediation),
        "duration_s": result.duration_s,
        "blocking": result.blocking,
    }
    if not result.selected:
        data["selected"] = False
    if result.outcome.devices:
        data["devices"] = [
            {"address": d.address, "status": d.status.value, "message": d.message}
            for d in result.outcome.devices
        ]
    return data


def report_to_dict(report: Report) -> dict[str, Any]:
    """The whole report as plain data, keys as the JSON schema names them."""
    data: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "hostaudit", "version": report.tool_version},
        "host": {
            "hostname": report.host.hostname,
            "kernel_release": report.host.kernel_release,
            "root": report.host.root,
        },
        "profile": report.profile,
        "started_at": report.started_at,
        "collected_at": report.when_collected if report.collected else None,
        **({} if report.collected_known else {"collected_at_unknown": True}),
        "duration_s": report.duration_s,
        "summary": {
            **report.summary(),
            "verdict": report.verdict().value,
            "not_counted": len(report.not_counted()),
            **_coverage(report),
        },
        "notices": list(report.notices),
        "results": [result_to_dict(result) for result in report.results],
    }
    if report.stale:
        data["stale"] = report.stale
    return data


def _coverage(report: Report) -> dict[str, Any]:
    judged, selected, missed = report.coverage()
    return {"judged": judged, "checks": selected, "not_judged": missed}


def render(report: Report) -> str:
    """The report as indented, strict JSON text (no NaN or Infinity), ending with a newline."""
    return json.dumps(report_to_dict(report), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


class Fleet:
    """The fleet document (fleet.schema.json): its host entries as hosts are added, the
    summary last, so that it streams; `take` hands over what is ready."""

    def __init__(self) -> None:
        import time

        from auditor import __version__
        from auditor.schema import FLEET_SCHEMA_VERSION
        from auditor.sources.base import utc

        head = {
            "schema_version": FLEET_SCHEMA_VERSION,
            "kind": "hostaudit-fleet",
            "tool": {"name": "hostaudit", "version": __version__},
            "generated_at": utc(time.time()),
        }
        self.pending = [json.dumps(head, indent=2)[:-2] + ',\n  "hosts": [']
        self.hosts = 0

    def add(self, report: Report, member: Member) -> None:
        from auditor.fleet import entry

        text = json.dumps(entry(member), ensure_ascii=False, allow_nan=False)
        self.pending.append(("\n    " if not self.hosts else ",\n    ") + text)
        self.hosts += 1

    def take(self) -> Iterator[str]:
        pending, self.pending = self.pending, []
        yield from pending

    def chunks(self, summary: Summary) -> Iterator[str]:
        from auditor.fleet import summary_entry

        yield from self.take()
        text = json.dumps(summary_entry(summary), indent=2, ensure_ascii=False)
        yield ("\n  " if self.hosts else "") + '],\n  "summary": '
        yield text.replace("\n", "\n  ") + "\n}\n"
