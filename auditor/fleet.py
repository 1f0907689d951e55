"""A fleet as its summaries see it: one small Member per host, and the counts over them.

`hostaudit report` over thousands of saved reports keeps only this (a few hundred bytes a
host) once each report is loaded, so every fleet format (text summary, HTML matrix, fleet
JSON and NDJSON, JUnit) reads the same facts, and memory follows the number of hosts,
not the size of their reports.

A host is known by one name in every format: its inventory name (the report file's name
without `.json`, as contrib/ansible/hostaudit-fleet.yml saves `reports/HOST.json`, and the
name `--unreachable HOST` gives), so that a host keeps its name whether it was reached or
not. Where the files do not give each host its own name, the hostname in the report is used.
"""

from __future__ import annotations

import os

from auditor.model import URGENCY, Report, Result, Status, worst

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

# A failing check's message is shown in the summaries cut to this many characters: the
# full text is in the host's own report.
MESSAGE_CHARS = 160
# Order of hosts in the summaries: the worst verdict first (fail, error, warn, pass).
VERDICT_ORDER = {status: rank for rank, status in enumerate(URGENCY)}


class Finding:
    """One result of a host that does not pass, as the fleet summaries show it."""

    __slots__ = ("check_id", "devices", "message", "status")

    def __init__(self, check_id: str, status: Status, message: str, devices: int) -> None:
        self.check_id = check_id
        self.status = status  # what it counts as: fail, error or warn (Result.counted_as)
        self.message = message
        self.devices = devices  # devices that do not pass (device checks), else 0


class Member:
    """One host of the fleet, without its report."""

    __slots__ = (
        "cells",
        "collected_at",
        "counts",
        "findings",
        "hostname",
        "name",
        "read",
        "stale",
        "verdict",
    )

    def __init__(self, report: Report, name: str) -> None:
        self.name = name
        self.hostname = report.host.hostname
        self.verdict = report.verdict()
        self.read = report.collected  # False: the run never reached it
        self.stale = report.stale
        known = report.collected and report.collected_known
        self.collected_at = report.when_collected if known else None
        self.counts = report.summary()
        # Each check's status on this host as the verdict weighs it (Result.counted_as: a
        # failure the profile does not count is a warning, a warning it makes fail a
        # failure); pass, skip and waived as they are.
        self.cells = {result.check.id: shown(result) for result in report.results}
        self.findings = [
            Finding(
                result.check.id,
                result.counted_as,
                shorten(result.outcome.message),
                sum(device.status is not Status.PASS for device in result.outcome.devices),
            )
            for result in report.results
            if result.counted_as is not Status.PASS
        ]

    @property
    def sort_key(self) -> tuple[int, str]:
        """Failing first, then could-not-tell, warnings, passes; by name within each."""
        return VERDICT_ORDER.get(self.verdict, len(VERDICT_ORDER)), self.name


def shorten(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def names(paths: Iterable[str]) -> dict[str, str] | None:
    """Each report file's inventory name (its base name without .json), or None when two
    files share one: then hosts go by the hostname their report gives."""
    found: dict[str, str] = {}
    for path in paths:
        base = os.path.basename(path)
        found[path] = base[: -len(".json")] if base.endswith(".json") else base
    return found if len(set(found.values())) == len(found) else None


class Summary:
    """Counts over the members, kept as they are added."""

    def __init__(self) -> None:
        self.members: list[Member] = []
        self.verdicts = {status: 0 for status in Status}
        # check id -> status -> number of hosts with that status (counted_as for failures)
        self.checks: dict[str, dict[Status, int]] = {}

    def add(self, member: Member) -> None:
        self.members.append(member)
        self.verdicts[member.verdict] += 1
        for check_id, status in member.cells.items():
            self.checks.setdefault(check_id, {s: 0 for s in Status})[status] += 1

    @property
    def verdict(self) -> Status:
        return worst(member.verdict for member in self.members)

    def ordered(self) -> list[Member]:
        """Members failing first (see Member.sort_key)."""
        return sorted(self.members, key=lambda member: member.sort_key)

    def failing_checks(self) -> list[tuple[str, int, int, int]]:
        """(check id, hosts where it fails, could not tell, warns), most failing first;
        only checks that do not pass somewhere."""
        rows = [
            (check_id, counts[Status.FAIL], counts[Status.ERROR], counts[Status.WARN])
            for check_id, counts in self.checks.items()
            if counts[Status.FAIL] or counts[Status.ERROR] or counts[Status.WARN]
        ]
        return sorted(rows, key=lambda row: (-row[1], -row[2], -row[3], row[0]))

    def stale(self) -> list[Member]:
        """Hosts read, but not recently enough (or when is not known), by name."""
        found = [member for member in self.members if member.read and member.stale]
        return sorted(found, key=lambda member: member.name)

    def unreachable(self) -> list[Member]:
        """Hosts the run did not read at all, by name."""
        return sorted((m for m in self.members if not m.read), key=lambda m: m.name)


def shown(result: Result) -> Status:
    """A result's status as the fleet weighs it (see Member.cells)."""
    counted = result.counted_as
    return result.status if counted is Status.PASS else counted


def entry(member: Member) -> dict[str, object]:
    """One host as fleet JSON and NDJSON give it (fleet.schema.json#/definitions/host)."""
    return {
        "name": member.name,
        "hostname": member.hostname,
        "verdict": member.verdict.value,
        "read": member.read,
        "collected_at": member.collected_at,
        "stale": member.stale,
        "counts": member.counts,
        "failing": [
            {
                "check": finding.check_id,
                "status": finding.status.value,
                "message": finding.message,
                "devices": finding.devices,
            }
            for finding in member.findings
        ],
    }


def summary_entry(summary: Summary) -> dict[str, object]:
    """The counts over the fleet (fleet.schema.json#/definitions/summary)."""
    return {
        "hosts": len(summary.members),
        "verdict": summary.verdict.value,
        "by_verdict": {status.value: summary.verdicts[status] for status in URGENCY},
        "stale": len(summary.stale()),
        "unreachable": len(summary.unreachable()),
        "checks": [
            {"id": check_id, **{status.value: counts[status] for status in URGENCY}}
            for check_id, counts in summary.checks.items()
        ],
    }


class Spool:
    """Text written as hosts come and read back once at the end, held in memory up to
    SPOOL_BYTES and in an unnamed temporary file beyond: a fleet's JUnit document or
    per-host text can be far larger than the memory a fleet run may take."""

    SPOOL_BYTES = 8 << 20
    PIECE = 1 << 20

    def __init__(self) -> None:
        import tempfile

        # Closed by chunks(), which reads it back; a run that stops before lets it go.
        self._file = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=self.SPOOL_BYTES, mode="w+", encoding="utf-8", errors="surrogateescape"
        )

    def write(self, text: str) -> None:
        self._file.write(text)

    def chunks(self) -> Iterator[str]:
        """Everything written, in pieces; the spool is closed after."""
        self._file.seek(0)
        try:
            while True:
                piece = self._file.read(self.PIECE)
                if not piece:
                    return
                yield piece
        finally:
            self._file.close()
