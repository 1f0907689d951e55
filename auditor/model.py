"""The data every part shares: statuses, severities, check headers, outcomes and results."""

from __future__ import annotations

import enum

from auditor.record import field, record, replace
from auditor.sources.secrets import redact_secrets

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


class Status(enum.Enum):
    """What a check concluded."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"
    # A failure that a profile's waiver accepts until its expiry date.
    WAIVED = "waived"


# Most urgent first: the order reports list results in, and the worst status of a set wins.
URGENCY = (Status.FAIL, Status.ERROR, Status.WARN, Status.WAIVED, Status.SKIP, Status.PASS)


class Severity(enum.IntEnum):
    """How bad a failure of the check is; a property of the check, not of one run."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        """The lower-case name used in reports."""
        return self.name.lower()


@record
class Check:
    """A check's declarative header: data only, no behaviour."""

    id: str
    title: str
    severity: Severity
    reads: tuple[str, ...]
    remediation: tuple[str, ...]
    references: tuple[str, ...] = ()
    # Checks whose `fail` makes this one meaningless: it is skipped as "blocked by <id>".
    requires: tuple[str, ...] = ()
    # Filled in by the registry from the module docstring.
    description: str = ""
    # Parameters a profile may set, with their defaults: (("max_functions_per_guest", 0),).
    params: tuple[tuple[str, object], ...] = ()
    # The evidence the check accepts, strongest first, as `explain` and the README say it.
    accepts: tuple[str, ...] = ()
    # When it passes, in a sentence for the README's table of checks (Markdown).
    passes: str = ""

    @property
    def group(self) -> str:
        """The part of the id before the first dot (`iommu`, `kvm`, ...)."""
        return self.id.split(".", 1)[0]


@record
class Evidence:
    """One fact a check relied on: where it was read and what it said. Secret values (a
    `rd.iscsi.password=` on a command line) never reach a report: they are removed here."""

    source: str
    value: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", redact_secrets(self.value))


class ChangeKind(enum.Enum):
    """What must change on a host for a check to pass: the vocabulary checks state their
    fixes in. A check knows no boot tool: `hostaudit plan` (auditor.plan) decides how each
    change is made on the host at hand."""

    FIRMWARE = "firmware"  # target: a firmware setup setting, in the words its menus use
    KERNEL_ARG_ADD = "kernel-arg-add"  # target: the argument, "intel_iommu=on"
    KERNEL_ARG_REMOVE = "kernel-arg-remove"  # target: the argument as written, "iommu=off"
    # target: a PCI address to bind to vfio-pci at every boot; value: its vendor:device;
    # detail: the host driver that claims it otherwise ("" where not known).
    BIND = "bind"
    MODULE_OPTION = "module-option"  # target: "module.parameter"; value: the safe value
    SELINUX_BOOLEAN = "selinux-boolean"  # target: the boolean; value: "on" or "off"
    REBOOT = "reboot"  # target: what is configured but not yet running
    MANUAL = "manual"  # nothing the host's tools can do: the detail says what a person does
    # Only a dangerous option would make the check pass (pcie_acs_override, an unsafe
    # interrupt override): the plan names it, plans nothing, and stops.
    NO_SAFE_FIX = "no-safe-fix"


@record
class Change:
    """One thing that must change for a check to pass, with what the audit read of it."""

    kind: ChangeKind
    target: str
    value: str = ""
    # What a person needs to know: the setting's menu names, why it is needed.
    detail: str = ""
    # The files that set the wrong value now (a modprobe.d file holding an unsafe option).
    where: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        """Two checks asking for the same change make one step."""
        return (self.kind.value, self.target, self.value)


@record
class DeviceResult:
    """One device's part of a device check's outcome, so reports and diffs can name it."""

    address: str
    status: Status
    message: str


def worst_devices(
    devices: Sequence[DeviceResult],
    order: Sequence[Status] = (Status.FAIL, Status.ERROR, Status.WARN),
) -> tuple[Status, list[DeviceResult]]:
    """The first status of `order` that some device has, and those devices; (PASS, [])
    when none has any. A device check's outcome is that status, its message said_of()
    those devices: one way for every device check."""
    for status in order:
        found = [device for device in devices if device.status is status]
        if found:
            return status, found
    return Status.PASS, []


def said_of(devices: Sequence[DeviceResult]) -> str:
    """ "ADDRESS message; ADDRESS message": each device named before what is said of it."""
    return "; ".join(f"{device.address} {device.message}" for device in devices)


@record
class Outcome:
    """What a check's run returns; the runner adds the check and the timing."""

    status: Status
    message: str
    evidence: tuple[Evidence, ...] = ()
    # Host-specific steps; when empty, the check header's generic remediation applies.
    remediation: tuple[str, ...] = ()
    # Device checks: the verdict per device; `status` is the worst of them (or the reason none ran).
    devices: tuple[DeviceResult, ...] = ()
    # What must change for the check to pass, as data for `hostaudit plan`; not part of the
    # saved report (a plan is made from a host, not from a report).
    changes: tuple[Change, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", redact_secrets(self.message))
        if not self.message.strip():
            raise ValueError("every outcome needs a message (skip and error say why)")


def outcome(
    status: Status,
    message: str,
    evidence: list[Evidence] | tuple[Evidence, ...] = (),
    remediation: list[str] | tuple[str, ...] = (),
    devices: list[DeviceResult] | tuple[DeviceResult, ...] = (),
    changes: list[Change] | tuple[Change, ...] = (),
) -> Outcome:
    """Build an Outcome from lists, the shape checks accumulate evidence in."""
    return Outcome(
        status, message, tuple(evidence), tuple(remediation), tuple(devices), tuple(changes)
    )


@record
class Result:
    """One check's result in a report."""

    check: Check
    outcome: Outcome
    duration_s: float = 0.0
    # Whether this result counts against the profile: a failure or an error of a check at
    # or above the profile's fail_on severity, or a warning the profile makes fail
    # (warn_fails). None: counted exactly when it is a failure or an error.
    blocking: bool | None = None
    # False for a check left out by --check/--skip: shown, but neither judged nor missed.
    selected: bool = True

    def __post_init__(self) -> None:
        if self.blocking is None:
            counted = self.outcome.status in (Status.FAIL, Status.ERROR)
            object.__setattr__(self, "blocking", counted)

    @property
    def status(self) -> Status:
        """Shortcut to the outcome's status."""
        return self.outcome.status

    @property
    def counted_as(self) -> Status:
        """What this result adds to the verdict, the one rule every format follows: fail for
        a counted failure or a warning the profile makes fail, error for a counted error,
        warn for a warning or a failure or error the profile does not count, else pass."""
        status = self.outcome.status
        if status in (Status.FAIL, Status.WARN, Status.ERROR):
            if not self.blocking:
                return Status.WARN
            return Status.ERROR if status is Status.ERROR else Status.FAIL
        return Status.PASS

    @property
    def not_counted(self) -> bool:
        """A failure or an error that the profile does not count."""
        return self.outcome.status in (Status.FAIL, Status.ERROR) and not self.blocking

    @property
    def remediation(self) -> tuple[str, ...]:
        """Steps to fix a non-passing result: host-specific ones first, else the header's."""
        if self.status in (Status.PASS, Status.SKIP, Status.WAIVED):
            return ()
        return self.outcome.remediation or self.check.remediation


@record
class HostInfo:
    """Who was audited."""

    hostname: str
    kernel_release: str
    root: str


@record
class Report:
    """A whole audit: the host, when, and every result in check order."""

    tool_version: str
    host: HostInfo
    started_at: str
    duration_s: float
    results: tuple[Result, ...] = field(default_factory=tuple)
    profile: str = "default"
    # What the operator should know beyond the results: waivers that expired or expire soon,
    # device identifiers that matched nothing.
    notices: tuple[str, ...] = ()
    # When the host's files were read: a snapshot's creation, when a sosreport was written,
    # else when the audit started. None in reports written before schema 1.3.
    collected_at: str | None = None
    # Why this report does not show the host as it is now: read longer ago than a fleet
    # report allows (--max-age), or not reached by the run that gathered the fleet.
    stale: str | None = None
    # False for a placeholder: a host the fleet run did not read at all (unreachable, or its
    # collection failed), shown so that it is never silently missing. See not_read().
    collected: bool = True
    # False when the capture does not say when it was made (a snapshot without a valid
    # creation time, a report written before schema 1.3): never fresh under --max-age.
    collected_known: bool = True

    def summary(self) -> dict[str, int]:
        """Count of results per status, every status present."""
        counts = {status.value: 0 for status in Status}
        for result in self.results:
            counts[result.status.value] += 1
        return counts

    def verdict(self) -> Status:
        """The audit in one word, as the exit code and every format see it: fail (a counted
        failure), else error (a counted error, or a stale report: the host's state now is
        not known), else warn, else pass. See Result.counted_as."""
        if self.stale:
            return Status.ERROR
        return worst(result.counted_as for result in self.results)

    def not_counted(self) -> list[Result]:
        """The failures and errors the profile does not count."""
        return [result for result in self.results if result.not_counted]

    def coverage(self) -> tuple[int, int, list[str]]:
        """(judged, selected, ids not judged): how many of the checks this run selected gave
        a verdict (pass, warn, fail, waived) rather than a skip or an error, so that a run
        that could judge little never reads as a plain pass."""
        selected = [result for result in self.results if result.selected]
        missed = [r.check.id for r in selected if r.status in (Status.SKIP, Status.ERROR)]
        return len(selected) - len(missed), len(selected), missed

    def judged(self) -> str:
        """ "5 of 12 checks judged", as every format says it."""
        judged, selected, _ = self.coverage()
        return f"{judged} of {selected} checks judged"

    @property
    def when_collected(self) -> str:
        """collected_at, or the audit's start for reports that do not say (and for
        placeholders, which were never read: when the run tried)."""
        return self.collected_at or self.started_at

    @property
    def read_at(self) -> str:
        """When the host was read, as people read it: the time, "unknown" or "not read"."""
        if not self.collected:
            return "not read"
        return self.when_collected if self.collected_known else "unknown"


def not_read(tool_version: str, hostname: str, reason: str, at: str) -> Report:
    """The placeholder of a host that a fleet run did not read, stale for `reason`: no
    results, verdict error, so that it is listed and never passes."""
    return Report(
        tool_version=tool_version,
        host=HostInfo(hostname, "", ""),
        started_at=at,
        duration_s=0.0,
        profile="not audited",
        stale=reason,
        collected=False,
    )


# How far in the future a collection time may lie before it is a wrong clock, not skew.
CLOCK_SKEW_S = 300


def mark_stale(report: Report, max_age_s: float, now: float) -> Report:
    """The report, stale when it was read more than max_age_s before `now`, when it does
    not say when it was read, or when that time lies in the future past CLOCK_SKEW_S."""
    if report.stale or not report.collected:
        return report
    if not report.collected_known:
        return replace(report, stale="cannot tell when it was read (the capture does not say)")
    try:
        seconds = now - epoch(report.when_collected)
    except ValueError:
        return replace(report, stale=f"cannot tell when it was read ({report.when_collected!r})")
    if seconds < -CLOCK_SKEW_S:
        return replace(
            report,
            stale=f"read at {report.when_collected}, {age(-seconds)} in the future: "
            "a clock is wrong (the host's or this one's)",
        )
    if seconds <= max_age_s:
        return report
    return replace(
        report, stale=f"read {age(seconds)} ago, longer than --max-age allows ({age(max_age_s)})"
    )


def by_urgency(results: Iterable[Result]) -> list[Result]:
    """Results most urgent first (URGENCY order), check order kept within a status."""
    rank = {status: index for index, status in enumerate(URGENCY)}
    return sorted(results, key=lambda result: rank[result.status])


def worst(statuses: Iterable[Status]) -> Status:
    """The most urgent of some statuses (URGENCY order); waived, skipped and none pass."""
    present = set(statuses)
    for status in URGENCY[:3]:
        if status in present:
            return status
    return Status.PASS


def listed(items: Sequence[str], limit: int = 8) -> str:
    """`a, b, c and 5 more`: a list of any length as a message of bounded length (an SR-IOV
    bus holds hundreds of functions; naming each in every device's message grows squarely)."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def age(seconds: float) -> str:
    """A duration as people say it: 45 s, 12 min, 5 h, 3 days."""
    if seconds < 0:
        return "in the future"
    for size, unit in ((86400, "days"), (3600, "h"), (60, "min")):
        if seconds >= 2 * size or (unit != "days" and seconds >= size):
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def epoch(iso: str) -> float:
    """Seconds since the epoch of an ISO 8601 time with its offset (reports write
    2026-11-25T21:00:00+00:00); ValueError for anything else, 2024-99-99T99:99:99 included."""
    import datetime

    when = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"{iso}: no time zone")
    return when.timestamp()
