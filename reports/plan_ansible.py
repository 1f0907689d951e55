"""A plan as an Ansible playbook: the same steps as the shell script, as ansible.builtin
tasks. Boot-entry and initramfs regeneration are handlers the edits notify; the play then
reboots (into the one-time trial entry where there is one), re-audits against the report
saved first, and only then makes the command line permanent. It refuses to run on a host
whose kernel release or boot chain differs from the one the plan was made for.

Written in block style with every string double-quoted (JSON's escapes, which YAML shares)
or as a literal block, so no host-derived string can change the document's structure.
"""

from __future__ import annotations

import json
import re

from auditor.plan import BASELINE, Action, Plan, Step

EDIT_PHASES = ("kernel command line", "device binding", "initramfs", "SELinux and module options")
HANDLERS = {"boot": "Write the boot entries again", "initramfs": "Rebuild the initramfs"}
# Longer strings are written as folded blocks: ansible-lint's yamllint allows 160 columns.
FOLD_AT = 100


def render_ansible(plan: Plan) -> str:
    play: dict[str, object] = {
        "name": f"Make {plan.hostname} ready for device assignment (hostaudit plan)",
        "hosts": "all",
        "become": True,
        "gather_facts": True,
    }
    if not plan.scriptable:
        why = "; ".join(plan.stopped) or f"{plan.chain.label}: see hostaudit plan --format text"
        play["tasks"] = [
            {
                "name": "Refuse: this plan is not for a playbook",
                "ansible.builtin.fail": {"msg": why},
            }
        ]
        return _document([play])
    if not plan.steps:
        play["tasks"] = [
            {
                "name": "Say that there is nothing to change",
                "ansible.builtin.debug": {"msg": "no check that ran found anything to fix"},
            }
        ]
        return _document([play])
    tasks = _guards(plan)
    tasks.append(
        {
            "name": "Save the audit before the plan",
            "ansible.builtin.command": {
                "cmd": f"hostaudit audit --json {BASELINE} --format json",
                "creates": BASELINE,
            },
            "register": "hostaudit_before",
            "failed_when": "hostaudit_before.rc not in [0, 1, 3]",
        }
    )
    handlers: dict[str, dict[str, object]] = {}
    for step in plan.steps:
        if step.phase in EDIT_PHASES:
            tasks += _tasks(step, handlers)
    tasks.append(
        {
            "name": "Apply the pending boot and initramfs changes",
            "ansible.builtin.meta": "flush_handlers",
        }
    )
    if any(step.phase == "reboot" for step in plan.steps):
        tasks.append(
            {"name": "Reboot the host", "ansible.builtin.reboot": {"reboot_timeout": 1800}}
        )
    tasks.append(_reaudit("Audit again and compare with the audit before the plan"))
    permanent = [step for step in plan.steps if step.phase == "make permanent"]
    if permanent:
        for step in permanent:
            tasks += _tasks(step, handlers)
        tasks.append(
            {"name": "Write the permanent boot entries", "ansible.builtin.meta": "flush_handlers"}
        )
        tasks.append(
            {
                "name": "Reboot on the permanent entries",
                "ansible.builtin.reboot": {"reboot_timeout": 1800},
            }
        )
        tasks.append(_reaudit("Audit the permanent boot"))
    manual = [
        step for step in plan.steps if step.manual and step.phase in ("before you start", "by hand")
    ]
    if manual:
        tasks.insert(
            0,
            {
                "name": "Say what only a person can do",
                "ansible.builtin.debug": {"msg": [f"{s.title}: {s.manual}" for s in manual]},
            },
        )
    for task in tasks:  # a notify needs its handler (grubby edits the entries themselves)
        notify = task.pop("notify", [])
        wanted = [name for name in notify if name in handlers] if isinstance(notify, list) else []
        if wanted:
            task["notify"] = wanted
    play["tasks"] = tasks
    if handlers:
        play["handlers"] = list(handlers.values())
    return _document([play])


def _document(plays: list[dict[str, object]]) -> str:
    head = "---\n# Made by hostaudit plan --format ansible; review it before you run it.\n"
    return head + "\n".join(_yaml(plays)) + "\n"


def _guards(plan: Plan) -> list[dict[str, object]]:
    tasks: list[dict[str, object]] = []
    if plan.kernel_release:
        tasks.append(
            {
                "name": "Refuse a host running another kernel",
                "ansible.builtin.assert": {
                    "that": [f"ansible_facts.kernel == {json.dumps(plan.kernel_release)}"],
                    "fail_msg": f"made for kernel {plan.kernel_release}: make the plan again",
                },
            }
        )
    for number, path in enumerate(plan.chain.proof, 1):
        tasks += [
            {
                "name": f"Look for {path}",
                "ansible.builtin.stat": {"path": path},
                "register": f"hostaudit_chain_{number}",
            },
            {
                "name": f"Refuse a host without {path}",
                "ansible.builtin.assert": {
                    "that": [f"hostaudit_chain_{number}.stat.exists"],
                    "fail_msg": f"made for {plan.chain.label}: make the plan again",
                },
            },
        ]
    return tasks


def _reaudit(name: str) -> dict[str, object]:
    return {
        "name": name,
        "ansible.builtin.command": {"cmd": f"hostaudit audit --baseline {BASELINE}"},
        "register": "hostaudit_after",
        "changed_when": False,
    }


def _tasks(step: Step, handlers: dict[str, dict[str, object]]) -> list[dict[str, object]]:
    tasks = []
    for number, action in enumerate(step.actions, 1):
        name = _name(step.title) + (f" ({number})" if len(step.actions) > 1 else "")
        if action.kind == "regenerate":
            handler = HANDLERS[action.name]
            handlers[handler] = {
                "name": handler,
                "ansible.builtin.command": {"cmd": action.command},
                "changed_when": True,
            }
            continue
        task = {"name": name, **_module(action)}
        notify = _notify(step)
        if notify and action.kind != "run":
            task["notify"] = [notify]
        tasks.append(task)
    return tasks


def _notify(step: Step) -> str:
    if step.phase in ("kernel command line", "make permanent"):
        return HANDLERS["boot"]
    if step.phase in ("device binding", "initramfs"):
        return HANDLERS["initramfs"]
    return ""


def _name(title: str) -> str:
    """A task name: ansible-lint wants it to start with a capital letter."""
    return title[:1].upper() + title[1:]


def _word(word: str) -> str:
    """A word as a regular expression that matches it whole between blanks or quotes."""
    return r"(?<![^\s\"'(])" + re.escape(word) + r"(?![^\s\"')])"


def _replace(path: str, regexp: str, replace: str) -> dict[str, object]:
    """ansible.builtin.replace, keeping a backup: idempotent when `regexp` no longer matches
    once the change is made."""
    return {
        "ansible.builtin.replace": {
            "path": path, "regexp": regexp, "replace": replace, "backup": True,
        }
    }  # fmt: skip


def _module(action: Action) -> dict[str, object]:
    kind, path = action.kind, action.path
    if kind == "line":
        return {
            "ansible.builtin.lineinfile": {
                "path": path, "line": action.value, "create": True, "backup": True, "mode": "0644",
            }
        }  # fmt: skip
    if kind == "var-add":
        return _replace(
            path,
            rf"^({re.escape(action.name)}=([\"'(]?))(?!.*{_word(action.value)})(.*?)([\"')]?)\s*$",
            rf"\g<1>\g<3> {action.value}\g<4>",
        )
    if kind == "var-first":
        return _replace(
            path,
            rf"^({re.escape(action.name)}=[\"'(]?)(?!.*{_word(action.value)})",
            rf"\g<1>{action.value} ",
        )
    if kind == "var-remove":
        return _replace(
            path, rf"^({re.escape(action.name)}=.*?)\s*{_word(action.value)}(.*)$", r"\g<1>\g<2>"
        )
    if kind == "words-add":
        return _replace(path, rf"^(?!.*{_word(action.value)})(.*?)\s*$", rf"\g<1> {action.value}")
    if kind == "words-remove":
        return _replace(path, rf"\s*{_word(action.value)}", "")
    if kind == "token-remove":
        module = re.escape(action.name).replace("_", "[-_]")
        return _replace(
            path, rf"^(options\s+{module}\b.*?)\s+{re.escape(action.value)}=\S+", r"\g<1>"
        )
    if kind == "remove":
        return {"ansible.builtin.file": {"path": path, "state": "absent"}}
    if kind == "sysfs":
        return {
            "ansible.builtin.shell": {
                "cmd": f'set -o pipefail\ncase "$(cat {path})" in 0 | N | n) exit 0 ;; esac\n'
                f"echo {action.value} > {path}\necho changed\n",
                "executable": "/bin/bash",
            },
            "register": "hostaudit_sysfs",
            "changed_when": "'changed' in hostaudit_sysfs.stdout",
        }
    if kind == "trial-entry":
        return {
            "ansible.builtin.shell": {
                "cmd": _trial_entry(action),
                "creates": path,
            },
        }
    if kind == "run":
        package = re.fullmatch(r"(?:dnf|yum|zypper|apt-get) install -y (\S+)", action.command)
        if package:
            return {"ansible.builtin.package": {"name": package.group(1), "state": "present"}}
        unless = f"if {action.unless}; then exit 0; fi\n" if action.unless else ""
        return {
            "ansible.builtin.shell": {
                "cmd": _with_helpers(f"{unless}{action.command}\necho changed\n"),
                "executable": "/bin/bash",
            },
            "register": "hostaudit_run",
            "changed_when": "'changed' in hostaudit_run.stdout",
        }
    raise ValueError(f"unknown action {kind!r}")


def _trial_entry(action: Action) -> str:
    """The shell script's trial_entry, for one entry."""
    from shlex import quote

    words = (action.command, action.path, action.value, action.name)
    call = "trial_entry " + " \\\n  ".join(quote(word) for word in words) + "\n"
    return _with_helpers(call)


def _with_helpers(script: str) -> str:
    """`script` after the plan script's shell functions it calls (and those they call), on
    this host's own root; pipelines fail as a whole."""
    from .plan_sh import HELPERS  # reports/ installs as auditor.reports: relative

    # Each function: one line ("name() { ...; }") or up to a "}" alone on its line.
    pattern = r"^(\w+)\(\) \{(?:[^\n]*\}\n|.*?^\}\n)"
    functions = {m.group(1): m.group(0) for m in re.finditer(pattern, HELPERS, re.M | re.S)}
    needed: list[str] = []
    text = script
    grown = True
    while grown:
        grown = False
        for name, body in functions.items():
            if name not in needed and re.search(rf"\b{name}\b", text):
                needed.append(name)
                text += body
                grown = True
    prelude = "set -eo pipefail\nR=\nSTATE=/var/lib/hostaudit/plan\nGROUP=other\n"
    return prelude + "".join(functions[name] for name in reversed(needed)) + script


# --- YAML, as much of it as a playbook needs ---------------------------------------------
def _yaml(value: object, indent: int = 0) -> list[str]:
    """Block-style YAML: mappings and lists, strings double-quoted (JSON's escapes are
    YAML's) or as literal blocks when they hold lines, so no host-derived string can change
    the document's structure."""
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            lines += _entry(f"{pad}{key}:", item, indent)
        return lines
    if isinstance(value, list):
        lines = []
        for item in value:
            if isinstance(item, dict):
                inner = _yaml(item, indent + 2)
                lines.append(f"{pad}- {inner[0].lstrip()}")
                lines += inner[1:]
            else:
                lines += _entry(f"{pad}-", item, indent)
        return lines
    return [pad + _scalar(value)]


def _entry(head: str, item: object, indent: int) -> list[str]:
    if isinstance(item, (dict, list)) and item:
        return [head, *_yaml(item, indent + 2)]
    if isinstance(item, str) and "\n" in item:
        body = item if item.endswith("\n") else item + "\n"
        return [f"{head} |" + ("" if item.endswith("\n") else "-")] + [
            (" " * (indent + 2) + line).rstrip() for line in body.splitlines()
        ]
    if isinstance(item, str) and len(item) > FOLD_AT and _foldable(item):
        import textwrap

        width = max(40, FOLD_AT - indent)
        return [f"{head} >-"] + [" " * (indent + 2) + line for line in textwrap.wrap(item, width)]
    return [f"{head} {_scalar(item)}"]


def _foldable(text: str) -> bool:
    """Whether a folded block keeps `text` exactly: printable, words one space apart
    (folding joins lines with one space), nothing YAML would read as indentation."""
    return text.isprintable() and "  " not in text and text == text.strip()


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (dict, list)):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(str(value), ensure_ascii=False)
