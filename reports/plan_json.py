"""A plan as JSON for other tools; it validates against plan.schema.json (shipped beside it)."""

from __future__ import annotations

import json

from auditor import __version__
from auditor.plan import BASELINE, Plan

PLAN_SCHEMA_VERSION = "1.0.0"


def plan_document(plan: Plan) -> dict[str, object]:
    return {
        "schema_version": PLAN_SCHEMA_VERSION,
        "tool_version": __version__,
        "host": plan.hostname,
        "kernel_release": plan.kernel_release,
        "boot_chain": {
            "kind": plan.chain.kind,
            "label": plan.chain.label,
            "evidence": list(plan.chain.evidence),
            "declarative": plan.chain.declarative,
        },
        "steps": [
            {
                "phase": step.phase,
                "title": step.title,
                "fixes": list(step.fixes),
                "reboot": step.reboot,
                "why": list(step.why),
                "manual": step.manual,
                "actions": [
                    {
                        key: value
                        for key, value in (
                            ("kind", action.kind),
                            ("path", action.path),
                            ("value", action.value),
                            ("name", action.name),
                            ("command", action.command),
                            ("unless", action.unless),
                        )
                        if value or key == "kind"
                    }
                    for action in step.actions
                ],
                "undo": list(step.undo),
            }
            for step in plan.steps
        ],
        "fixes": plan.fixes,
        "questions": plan.questions,
        "left_out": plan.left_out,
        "stopped": plan.stopped,
        "baseline": BASELINE,
    }


def render_json(plan: Plan) -> str:
    return json.dumps(plan_document(plan), indent=2, ensure_ascii=False) + "\n"
