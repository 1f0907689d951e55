"""The canonical JSON report: rendering, the published schema, and loading saved reports."""

from __future__ import annotations

import json
import os

from auditor.errors import ReportError
from auditor.model import (
    Check,
    DeviceResult,
    Evidence,
    HostInfo,
    Outcome,
    Report,
    Result,
    Severity,
    Status,
    epoch,
)

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from auditor.fleet import Member, Summary

# Semantic versioning: a minor version only adds optional keys (see report.schema.json).
SCHEMA_VERSION = "1.4.0"
SCHEMA_FILE = "report.schema.json"
FLEET_SCHEMA_FILE = "fleet.schema.json"


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
        from auditor.fleet import FLEET_SCHEMA_VERSION
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


def fleet_schema_text() -> str:
    """The fleet document's JSON Schema (draft-07), shipped beside the report's."""
    from importlib.resources import files

    return files("auditor.reports").joinpath(FLEET_SCHEMA_FILE).read_text(encoding="utf-8")


def schema_text() -> str:
    """The published JSON Schema (draft-07), as shipped inside the package."""
    from importlib.resources import files

    return files("auditor.reports").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


# What one saved report may cost: a host with 10,000 functions writes about 20 MiB and
# 70,000 JSON objects (a device result, an evidence line each); the decoded objects cost
# about ten times their bytes. A 62 MiB report once cost `hostaudit report` 920 MB and 79 s.
MAX_REPORT_BYTES = 32 << 20
MAX_REPORT_OBJECTS = 200_000


class ReportLoader:
    """Reads saved JSON reports back into Reports, validating each against the schema.

    A saved report is input like any other: only a regular file, at most MAX_REPORT_BYTES,
    strict JSON (no NaN or Infinity, no number that overflows to one), nested no deeper
    than Python parses, valid for the schema, and times that are times.
    """

    def __init__(self) -> None:
        from auditor.schema import Validator

        self._validator = Validator(json.loads(schema_text()))

    def load(self, path: str) -> Report:
        """Read and validate one report file; ReportError names the file and what is wrong."""
        return self.parse(_read_json(path), path)

    def parse(self, data: Any, path: str = "<report>") -> Report:
        """Validate decoded JSON and build the Report it describes."""
        version = data.get("schema_version") if isinstance(data, dict) else None
        if isinstance(version, str) and _newer_minor(version):
            raise ReportError(
                path,
                f"written with schema {version}, newer than this hostaudit reads "
                f"({SCHEMA_VERSION}): upgrade hostaudit",
            )
        errors = self._validator.errors(data)
        if errors:
            where = "/".join(str(part) for part in errors[0].absolute_path) or "(top level)"
            raise ReportError(path, f"not a hostaudit report: at {where}: {errors[0].message}")
        for key in ("started_at", "collected_at"):
            try:
                if data.get(key) is not None:
                    epoch(data[key])
            except ValueError:
                raise ReportError(path, f"{key}: {data[key]!r} is not a date and time") from None
        return _report(data)


def _read_json(path: str) -> Any:
    """A file's strict JSON, read with the limits above."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ReportError(path, exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ReportError(path, "not a regular file")
        data = handle.read(MAX_REPORT_BYTES + 1)
    if len(data) > MAX_REPORT_BYTES:
        raise ReportError(path, f"larger than {MAX_REPORT_BYTES} bytes: not a report")
    try:
        return json.loads(
            data,
            parse_constant=_not_json,
            parse_float=_finite,
            parse_int=_integer,
            object_hook=_Counter(),
        )
    except RecursionError:
        raise ReportError(path, "not JSON: nested too deeply") from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ReportError(path, f"not JSON: {exc}") from None


class _Counter:
    """json.loads' object hook: stops decoding past MAX_REPORT_OBJECTS objects, before
    their memory is spent."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.count += 1
        if self.count > MAX_REPORT_OBJECTS:
            raise ValueError(
                f"more than {MAX_REPORT_OBJECTS} objects: not a report this tool reads"
            )
        return obj


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# Every integer of a report (counts, durations) fits a double exactly; a longer one would
# overflow the float formatting of durations (a 401-digit duration_s did).
MAX_INTEGER_DIGITS = 15


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits is no report value")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} overflows a double")
    return value


def _newer_minor(version: str) -> bool:
    """True when a 1.x report comes from a newer minor version than this reader knows."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return False  # the schema's pattern reports it
    ours_major, ours_minor = (int(part) for part in SCHEMA_VERSION.split(".")[:2])
    return major == ours_major and minor > ours_minor


def _report(data: dict[str, Any]) -> Report:
    host = data["host"]
    return Report(
        tool_version=data["tool"]["version"],
        host=HostInfo(host["hostname"], host["kernel_release"], host["root"]),
        started_at=data["started_at"],
        duration_s=data["duration_s"],
        results=tuple(_result(item) for item in data["results"]),
        profile=data.get("profile", "default"),
        notices=tuple(data.get("notices", ())),
        collected_at=data.get("collected_at"),
        stale=data.get("stale"),
        # null, as against absent (reports before 1.3): the host was not read.
        collected=not ("collected_at" in data and data["collected_at"] is None),
        # Before 1.3 reports did not say when the host was read: unknown, never "now".
        collected_known="collected_at" in data and not data.get("collected_at_unknown", False),
    )


def _result(item: dict[str, Any]) -> Result:
    # A saved report keeps the remediation that applied; it becomes the outcome's own, so
    # Result.remediation gives back exactly what was written.
    check = Check(
        id=item["id"],
        title=item["title"],
        severity=Severity[item["severity"].upper()],
        reads=(),
        remediation=(),
    )
    outcome = Outcome(
        status=Status(item["status"]),
        message=item["message"],
        evidence=tuple(Evidence(e["source"], e["value"]) for e in item["evidence"]),
        remediation=tuple(item["remediation"]),
        devices=tuple(
            DeviceResult(d["address"], Status(d["status"]), d["message"])
            for d in item.get("devices", ())
        ),
    )
    return Result(
        check, outcome, item["duration_s"], item.get("blocking"), item.get("selected", True)
    )
