"""Running checks: one at a time, isolated, with dependencies turned into skips."""

from __future__ import annotations

import time

from auditor import __version__
from auditor.context import Context
from auditor.errors import HostError, NotCollectedError, ReadBudgetError
from auditor.model import HostInfo, Outcome, Report, Result, Status
from auditor.record import replace
from auditor.registry import LoadedCheck


def run_one(item: LoadedCheck, ctx: Context) -> Outcome:
    """Run one check; an unexpected exception becomes an `error` naming the check."""
    for required in item.check.requires:
        earlier = ctx.results.get(required)
        if earlier is not None and earlier.status is Status.FAIL:
            return Outcome(Status.SKIP, f"blocked by {required}")
    try:
        result = item.run(ctx)
    except NotCollectedError as exc:  # an archive's gap is not evidence: cannot tell
        return Outcome(Status.SKIP, f"cannot tell: {exc.reason} ({exc.path})")
    except ReadBudgetError as exc:  # a hostile root: nothing more is read, nothing is judged
        return Outcome(Status.ERROR, f"cannot tell: {exc}; the audited files are not a host's")
    except HostError as exc:  # an unexpected read failure the check did not handle
        return Outcome(Status.ERROR, f"{item.check.id}: {exc}")
    except Exception as exc:  # isolation: one broken check must not stop the audit
        return Outcome(Status.ERROR, f"{item.check.id} crashed: {type(exc).__name__}: {exc}")
    if not isinstance(result, Outcome):
        return Outcome(
            Status.ERROR, f"{item.check.id} returned {type(result).__name__}, not an Outcome"
        )
    return result


def run_audit(
    checks: list[LoadedCheck],
    ctx: Context,
    host_info: HostInfo,
    not_selected: dict[str, str] | None = None,
) -> Report:
    """Run every check the profile enables, in order, and collect a Report.

    The profile (ctx.profile) sets each check's severity, which failures block (set the exit
    code), and the waivers; dependents see the raw outcome, so a waived failure of a check
    still blocks the checks that need it. `not_selected`: check id -> why it was left out
    (--check, --skip); it is reported as a skip and its dependents go by their own rules.
    """
    profile = ctx.profile
    today = None
    if profile is not None and profile.waivers:
        from auditor.profile import apply_waivers, today_utc, unused_waivers

        today = today_utc()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    start = time.perf_counter()
    results: list[Result] = []
    notices: list[str] = []
    for item in checks:
        check = item.check
        if profile is not None:
            if not profile.policy(check.id).enabled:
                continue
            check = profile.header(check)
        begin = time.perf_counter()
        left_out = (not_selected or {}).get(check.id)
        selected = left_out is None
        if left_out is not None:
            outcome = Outcome(Status.SKIP, f"not selected ({left_out})")
        else:
            outcome = run_one(item, ctx)
            ctx.results[check.id] = outcome
        if today is not None and profile is not None:
            outcome, waiver_notices = apply_waivers(profile, check, outcome, today)
            notices += waiver_notices
        blocking = profile.blocking(check, outcome.status) if profile is not None else None
        # A check the profile requires must be judged: not judging it is an error.
        unjudged = outcome.status in (Status.SKIP, Status.ERROR)
        if selected and unjudged and profile is not None and profile.requires(check.id):
            outcome = replace(
                outcome,
                status=Status.ERROR,
                message=f"required by profile {profile.name}, not judged: {outcome.message}",
            )
            blocking = True
        duration = round(time.perf_counter() - begin, 6)
        results.append(Result(check, outcome, duration, blocking, selected))
    if today is not None and profile is not None:
        notices += unused_waivers(profile, {result.check.id for result in results})
    reader = ctx.host.reader
    return Report(
        tool_version=__version__,
        host=host_info,
        started_at=started_at,
        duration_s=round(time.perf_counter() - start, 6),
        results=tuple(results),
        profile=profile.name if profile is not None else "default",
        collected_at=reader.collected_at or started_at,
        collected_known=bool(reader.collected_at) or not reader.captured,
        notices=tuple(ctx.notices + notices + list(ctx.host.notices)),
    )


def host_info(ctx: Context) -> HostInfo:
    """Hostname, kernel release and root of the audited host."""
    from auditor.facts import kernel_release

    host = ctx.host
    if host.live is not None:
        hostname = host.live.hostname()
    else:
        hostname = ""
        for path in ("/proc/sys/kernel/hostname", "/etc/hostname"):
            try:
                hostname = host.read_text(path, limit=4096).strip()
            except (HostError, NotCollectedError, ReadBudgetError):
                continue
            if hostname:
                break
    return HostInfo(
        hostname=hostname or "unknown",
        kernel_release=kernel_release(host) or "unknown",
        root=host.label,
    )
