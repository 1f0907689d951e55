"""Saved JSON reports read back: `hostaudit report`, `diff`, `--baseline` and fleets.

A saved report is input like any other (it may come from a machine or a person we do not
control): it is read bounded, parsed strictly and validated against the published schema
(reports/report.schema.json) before a Report is built from it. Writing reports is the
renderers' job (auditor/reports/json.py); reading them back is this module's.
"""

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
from auditor.schema import SCHEMA_VERSION, schema_text

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

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
