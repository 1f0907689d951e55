"""Comparing two audits of one host: what newly fails, what was fixed, what still fails.

Results are compared per check and, for device checks, per device, so a second GPU that
starts failing is news even when the check already failed for the first one. "Failing" is
what counts against each audit's profile (Result.counted_as): a failure the profile does not
count is not news, and a warning the profile makes fail is.
"""

from __future__ import annotations

from auditor.escape import printable
from auditor.model import Report, Result, Status
from auditor.record import record

FIXED = frozenset({Status.PASS, Status.WARN})


@record
class Change:
    """One check (or one device of a device check) in both audits."""

    check: str
    device: str  # "" for a check-level result
    before: Status | None  # None: not in that audit
    after: Status | None
    message: str  # the newer audit's message, else the older one's

    @property
    def subject(self) -> str:
        """The check id, with the device address when there is one."""
        return f"{self.check} {self.device}" if self.device else self.check


@record
class Diff:
    """The changes between two audits of `host`."""

    host: str
    new: tuple[Change, ...]  # failing now, not before
    fixed: tuple[Change, ...]  # failing before, passing (or only warning) now
    still: tuple[Change, ...]  # failing in both
    unclear: tuple[Change, ...]  # failing before, now skipped, in error or no longer reported

    @property
    def changed(self) -> bool:
        """Whether anything moved into or out of failing."""
        return bool(self.new or self.fixed or self.unclear)


def compare(old: Report, new: Report) -> Diff:
    """Compare an older and a newer audit of the same host."""
    before, after = _verdicts(old), _verdicts(new)
    groups: dict[str, list[Change]] = {"new": [], "fixed": [], "still": [], "unclear": []}
    for key in dict.fromkeys([*before, *after]):
        was, was_message = before.get(key, (None, ""))
        now, now_message = after.get(key, (None, ""))
        change = Change(key[0], key[1], was, now, now_message or was_message)
        if now is Status.FAIL:
            groups["still" if was is Status.FAIL else "new"].append(change)
        elif was is Status.FAIL:
            groups["fixed" if now in FIXED else "unclear"].append(change)
    return Diff(
        host=new.host.hostname,
        new=tuple(groups["new"]),
        fixed=tuple(groups["fixed"]),
        still=tuple(groups["still"]),
        unclear=tuple(groups["unclear"]),
    )


def _verdicts(report: Report) -> dict[tuple[str, str], tuple[Status, str]]:
    """(check id, device) -> (what it counts as, message), per device where a check has
    devices."""
    verdicts = {}
    for result in report.results:
        if result.outcome.devices:
            for device in result.outcome.devices:
                status = _counted(result, device.status)
                verdicts[(result.check.id, device.address)] = (status, device.message)
        else:
            verdicts[(result.check.id, "")] = (
                _counted(result, result.status),
                result.outcome.message,
            )
    return verdicts


def _counted(result: Result, status: Status) -> Status:
    """What one device's status counts as under the result's profile: its failure fails
    when the result counts; its warning fails when the profile makes the result's warnings
    fail; skips and errors stay what they are (neither failing nor fixed)."""
    if status is Status.FAIL:
        return Status.FAIL if result.blocking else Status.WARN
    if status is Status.WARN:
        warn_fails = result.status is Status.WARN and result.blocking
        return Status.FAIL if warn_fails else Status.WARN
    return status


def render(diff: Diff) -> str:
    """The diff as text: a summary line, then one line per change, news first."""
    lines = [
        f"{printable(diff.host)}: {len(diff.new)} newly failing, {len(diff.fixed)} fixed, "
        f"{len(diff.still)} still failing, {len(diff.unclear)} no longer judged"
    ]
    for label, changes in (
        ("NEW", diff.new),
        ("FIXED", diff.fixed),
        ("UNCLEAR", diff.unclear),
        ("STILL", diff.still),
    ):
        for change in changes:
            was = change.before.value if change.before else "absent"
            now = change.after.value if change.after else "absent"
            lines.append(f"{label:8}{change.subject}: {was} -> {now}: {printable(change.message)}")
    return "\n".join(lines) + "\n"
