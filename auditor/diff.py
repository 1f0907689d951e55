"""Comparing two audits of one host: what newly fails, what was fixed, what still fails.

Results are compared per check and, for device checks, per device, so a second GPU that
starts failing is news even when the check already failed for the first one.
"""

from __future__ import annotations

from auditor.escape import printable
from auditor.model import Report, Status
from auditor.record import record

# What the comparison counts as failing; warnings join when a profile says they fail.
FAILING = frozenset({Status.FAIL})
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


def compare(old: Report, new: Report, failing: frozenset[Status] = FAILING) -> Diff:
    """Compare an older and a newer audit of the same host."""
    before, after = _verdicts(old), _verdicts(new)
    groups: dict[str, list[Change]] = {"new": [], "fixed": [], "still": [], "unclear": []}
    for key in dict.fromkeys([*before, *after]):
        was, was_message = before.get(key, (None, ""))
        now, now_message = after.get(key, (None, ""))
        change = Change(key[0], key[1], was, now, now_message or was_message)
        if now in failing:
            groups["still" if was in failing else "new"].append(change)
        elif was in failing:
            groups["fixed" if now in FIXED else "unclear"].append(change)
    return Diff(
        host=new.host.hostname,
        new=tuple(groups["new"]),
        fixed=tuple(groups["fixed"]),
        still=tuple(groups["still"]),
        unclear=tuple(groups["unclear"]),
    )


def _verdicts(report: Report) -> dict[tuple[str, str], tuple[Status, str]]:
    """(check id, device) -> (status, message), per device where a check has devices."""
    verdicts = {}
    for result in report.results:
        if result.outcome.devices:
            for device in result.outcome.devices:
                verdicts[(result.check.id, device.address)] = (device.status, device.message)
        else:
            verdicts[(result.check.id, "")] = (result.status, result.outcome.message)
    return verdicts


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
