"""A plan as text for the operator: numbered steps in order, with what each fixes, why this
way, the commands, and how to undo it; then the questions the audit could not answer."""

from __future__ import annotations

from auditor.escape import printable
from auditor.plan import Plan, Step


def render_text(plan: Plan) -> str:
    lines = [
        f"hostaudit plan for {plan.hostname} (kernel {plan.kernel_release or 'unknown'})",
        f"boot chain: {plan.chain.label}"
        + (f" ({'; '.join(plan.chain.evidence)})" if plan.chain.evidence else ""),
    ]
    if plan.stopped:
        lines += [
            "No safe plan: only a dangerous option would make this host ready, and "
            "hostaudit never plans one.",
            *(f"  - {why}" for why in plan.stopped),
        ]
    elif not plan.steps:
        lines += ["", "Nothing to change: no check that ran found anything to fix."]
    for number, step in enumerate(plan.steps, 1):
        lines += _step(number, step)
    if plan.questions:
        lines += ["", "Questions the audit could not answer (the plan needs them):"]
        lines += [f"  ? {question}" for question in plan.questions]
    if plan.left_out:
        lines += ["", "Left out (waived or not counted by the profile):"]
        lines += [f"  - {item}" for item in plan.left_out]
    permanent = [n for n, s in enumerate(plan.steps, 1) if s.phase == "make permanent"]
    if permanent:
        lines += [
            "",
            f"Steps {permanent[0]}-{permanent[-1]} make the command line permanent once the "
            "re-audit of the trial boot passes (sh plan.sh permanent), then reboot and re-audit "
            "again. If the trial boot fails, reset the host: it comes back on the unchanged entry.",
        ]
    if plan.steps and plan.scriptable:
        lines += [
            "",
            "As a script: hostaudit plan --format sh > plan.sh (review it, then run it as root).",
        ]
    elif plan.steps and plan.chain.declarative:
        lines += [
            "",
            f"{plan.chain.label} is configured, not scripted: change the configuration above.",
        ]
    # Paths, titles and names come from the host: shown, never obeyed by the terminal.
    return "".join(printable(line) + "\n" for line in lines)


def _step(number: int, step: Step) -> list[str]:
    reboot = " (takes effect at the reboot)" if step.reboot and step.phase != "by hand" else ""
    lines = ["", f"{number}. [{step.phase}] {step.title}{reboot}"]
    if step.fixes:
        lines.append(f"   fixes: {', '.join(step.fixes)}")
    lines += [f"   why: {why}" for why in step.why]
    if step.manual:
        lines.append(f"   {step.manual}")
    lines += [f"   {action.describe()}" for action in step.actions]
    lines += [f"   undo: {undo}" for undo in step.undo]
    return lines
