"""A plan as one POSIX shell script: `set -eu`, idempotent (a second run changes nothing),
every file backed up before its first edit, each step saying how to undo it. It refuses to
run on a host whose kernel release or boot chain differs from the one the plan was made for,
and it never reboots: the operator does, then re-audits against the report it saved first.

HOSTAUDIT_PLAN_ROOT applies the script to a copy of a host (the tests do, with stand-ins for
the boot tools); unset, it changes this host, as root.
"""

from __future__ import annotations

from shlex import quote

from auditor import __version__
from auditor.escape import printable
from auditor.plan import BASELINE, STATE, Action, Plan, Step

# Shell functions the actions call; each returns at once when its change is already made.
HELPERS = r"""say() { printf '%s\n' "$*"; }
die() { printf 'hostaudit plan: %s\n' "$*" >&2; exit 1; }
changed() { mkdir -p "$STATE"; : > "$STATE/pending-$GROUP"; }
backup() {
  if [ -e "$BACKUP$1" ] || [ -e "$BACKUP$1.absent" ]; then return 0; fi
  mkdir -p "$(dirname "$BACKUP$1")"
  if [ -e "$R$1" ]; then
    cp -p "$R$1" "$BACKUP$1"
    say "  backed up $1 to $BACKUP$1"
  else
    : > "$BACKUP$1.absent"
  fi
}
line() {
  if [ -e "$R$1" ] && grep -qxF -- "$2" "$R$1"; then return 0; fi
  backup "$1"
  mkdir -p "$(dirname "$R$1")"
  printf '%s\n' "$2" >> "$R$1"
  changed
  say "  $1: added: $2"
}
words_add() {
  current=$(cat "$R$1" 2>/dev/null || true)
  case " $current " in *" $2 "*) return 0 ;; esac
  backup "$1"
  printf '%s\n' "${current:+$current }$2" > "$R$1"
  changed
  say "  $1: added $2"
}
words_remove() {
  current=$(cat "$R$1" 2>/dev/null || true)
  case " $current " in *" $2 "*) ;; *) return 0 ;; esac
  backup "$1"
  printf '%s\n' "$current" | awk -v w="$2" '{ o = ""; for (i = 1; i <= NF; i++) if ($i != w) o = o (o == "" ? "" : " ") $i; print o }' > "$R$1.hostaudit"
  mv "$R$1.hostaudit" "$R$1"
  changed
  say "  $1: removed $2"
}
# NAME="words" (or 'words', or (words) for mkinitcpio) in a shell-assignment file.
edit_var() {
  awk -v n="$2" -v w="$3" -v op="$4" '
    index($0, n "=") == 1 {
      v = substr($0, length(n) + 2); q = substr(v, 1, 1); c = q
      if (q == "(") c = ")"
      if (q == "\"" || q == "\047" || q == "(") { v = substr(v, 2); sub("[" c "][[:space:]]*$", "", v) }
      else { q = "\""; c = "\"" }
      k = split(v, a, /[[:space:]]+/); o = ""
      for (i = 1; i <= k; i++) if (a[i] != "" && a[i] != w) o = o (o == "" ? "" : " ") a[i]
      if (op == "add") o = o (o == "" ? "" : " ") w
      if (op == "first") o = w (o == "" ? "" : " ") o
      print n "=" q o c; found = 1; next
    }
    { print }
    END { if (!found && op == "add") print n "=\"" w "\"" }
  ' "$R$1" > "$R$1.hostaudit"
  mv "$R$1.hostaudit" "$R$1"
}
var_has() {
  awk -v n="$2" -v w="$3" 'index($0, n "=") == 1 { v = substr($0, length(n) + 2); gsub(/["\047()]/, " ", v); k = split(v, a, /[[:space:]]+/); for (i = 1; i <= k; i++) if (a[i] == w) f = 1 } END { exit !f }' "$R$1" 2>/dev/null
}
var_add() {
  if var_has "$1" "$2" "$3"; then return 0; fi
  backup "$1"
  mkdir -p "$(dirname "$R$1")"
  [ -e "$R$1" ] || : > "$R$1"
  edit_var "$1" "$2" "$3" add
  changed
  say "  $1: $2 gains $3"
}
var_first() {
  if var_has "$1" "$2" "$3"; then return 0; fi
  backup "$1"
  edit_var "$1" "$2" "$3" first
  changed
  say "  $1: $2 starts with $3"
}
var_remove() {
  if ! var_has "$1" "$2" "$3"; then return 0; fi
  backup "$1"
  edit_var "$1" "$2" "$3" remove
  changed
  say "  $1: $2 loses $3"
}
token_remove() {
  if ! awk -v m="$3" -v p="$2" '$1 == "options" { gsub("-", "_", $2); if ($2 == m) for (i = 3; i <= NF; i++) if (index($i, p "=") == 1) f = 1 } END { exit !f }' "$R$1"; then return 0; fi
  backup "$1"
  awk -v m="$3" -v p="$2" '$1 == "options" { name = $2; gsub("-", "_", name); if (name == m) { o = $1 " " $2; for (i = 3; i <= NF; i++) if (index($i, p "=") != 1) o = o " " $i; print o; next } } { print }' "$R$1" > "$R$1.hostaudit"
  mv "$R$1.hostaudit" "$R$1"
  changed
  say "  $1: removed $2 from the options of $3"
}
sysfs() {
  current=$(cat "$R$1")
  case "$current:$2" in 0:0 | N:0 | n:0 | 1:1 | Y:1 | y:1) return 0 ;; esac
  printf '%s\n' "$2" > "$R$1"
  say "  $1: $current -> $2 (the running kernel)"
}
entry_options() {
  env=$(sed -n 's/^kernelopts=//p' "$R/boot/grub2/grubenv" 2>/dev/null || true)
  if [ -d "$R/boot/loader/entries" ]; then
    for entry in "$R"/boot/loader/entries/*.conf; do
      case $entry in *rescue*) continue ;; esac
      sed -n 's/^options[[:space:]]*//p' "$entry" | awk -v env="$env" '{
        i = index($0, "$kernelopts"); if (i) $0 = substr($0, 1, i - 1) env substr($0, i + 11); print
      }'
    done
  else
    sed -n 's/^[[:space:]]*kernel[[:space:]]\{1,\}[^[:space:]]*//p' "$R/boot/grub/grub.conf"
  fi
}
entries_have() {
  entry_options | { while IFS= read -r options; do case " $options " in *" $1 "*) ;; *) exit 1 ;; esac; done; }
}
entries_any() {
  if entry_options | { while IFS= read -r options; do case " $options " in *" $1 "*) exit 1 ;; esac; done; }; then return 1; fi
}
# A copy of a BLS entry, its options ($kernelopts of grubenv written out) gaining the
# words of $3 and losing those of $4: the entry a one-time boot tries.
trial_entry() {
  if [ -e "$R$2" ]; then return 0; fi
  env=$(sed -n 's/^kernelopts=//p' "$R/boot/grub2/grubenv" 2>/dev/null || true)
  awk -v env="$env" -v add="$3" -v remove="$4" '
    /^title / { print $0 " (hostaudit trial)"; next }
    /^id / { print $0 "-hostaudit-trial"; next }
    /^options / {
      o = substr($0, 9); i = index(o, "$kernelopts"); if (i) o = substr(o, 1, i - 1) env substr(o, i + 11)
      n = split(o, w, /[[:space:]]+/); out = ""
      for (k = 1; k <= n; k++) if (w[k] != "" && index(" " remove " ", " " w[k] " ") == 0) out = out (out == "" ? "" : " ") w[k]
      m = split(add, a, " "); for (k = 1; k <= m; k++) if (index(" " out " ", " " a[k] " ") == 0) out = out " " a[k]
      print "options " out; next
    }
    { print }' "$R$1" > "$R$2"
  changed
  say "  $2: a copy of $1 with the new command line"
}
remove() {
  if [ ! -e "$R$1" ]; then return 0; fi
  rm -f "$R$1"
  changed
  say "  removed $1"
}
# The running kernel's command line holds every word of $1 and none of $2.
booted_with() {
  running=" $(cat "$R/proc/cmdline") "
  for word in $1; do case $running in *" $word "*) ;; *) return 1 ;; esac; done
  for word in $2; do case $running in *" $word "*) return 1 ;; esac; done
}
kernelstub_has() { grep -q "\"$1\"" "$R/etc/kernelstub/configuration"; }
run() {
  say "  running: $*"
  sh -c "$*"
  changed
}
regenerate() {
  if [ ! -e "$STATE/pending-$1" ]; then return 0; fi
  say "  running: $2"
  sh -c "$2"
  rm -f "$STATE/pending-$1"
}
"""


def render_sh(plan: Plan) -> str:
    """The plan as a script; a plan that cannot be scripted gives one that says why and exits 1."""
    lines = [
        "#!/bin/sh",
        f"# hostaudit {__version__} plan for {_comment(plan.hostname)}, kernel "
        f"{_comment(plan.kernel_release)}, boot chain: {_comment(plan.chain.label)}.",
        "# Review it before you run it. It changes files, never reboots, and refuses a host",
        "# other than the one it was made for. Run it again: it changes nothing more.",
        "set -eu",
        'R="${HOSTAUDIT_PLAN_ROOT:-}"',
        f'STATE="$R{STATE}"',
        'BACKUP="$STATE/backup"',
        "GROUP=boot",
        HELPERS.rstrip("\n"),
    ]
    if not plan.scriptable:
        lines += _refusal(plan)
        return "\n".join(lines) + "\n"
    if not plan.steps:
        lines.append("say 'Nothing to change: no check that ran found anything to fix.'")
        return "\n".join(lines) + "\n"
    lines += _guards(plan)
    permanent = [(n, s) for n, s in enumerate(plan.steps, 1) if s.phase == "make permanent"]
    lines.append('case "${1:-apply}" in')
    lines.append("apply)")
    lines += _save_baseline()
    for number, step in enumerate(plan.steps, 1):
        if step.phase != "make permanent":
            lines += _step(number, step)
    lines += [
        "say",
        f"say {quote(f'Done. To undo: restore the files under {STATE}/backup (a .absent file: remove that file), then run the undo commands printed above.')}",
        f"say {quote(_next(plan))}",
        ";;",
    ]
    if permanent and plan.trial:
        add, remove = plan.trial
        lines += [
            "permanent)",
            f"booted_with {quote(add)} {quote(remove)} || die {quote('boot the trial entry first and re-audit: this boot does not have the new command line (if the trial boot failed, the host came back on the unchanged default; nothing permanent was changed)')}",
        ]
        for number, step in permanent:
            lines += _step(number, step)
        lines += [
            "say",
            f"say {quote(f'Permanent. Reboot once more and check: hostaudit audit --baseline {BASELINE}')}",
            ";;",
        ]
    lines += ['*) die "usage: sh plan.sh [apply|permanent]" ;;', "esac"]
    return "\n".join(lines) + "\n"


def _next(plan: Plan) -> str:
    if plan.trial:
        return (
            "Now reboot: the new command line is tried once. Then check with hostaudit audit "
            f"--baseline {BASELINE}, and if it passes run: sh plan.sh permanent"
        )
    return f"Now reboot, then check: hostaudit audit --baseline {BASELINE}"


def _comment(text: str) -> str:
    """Host-derived text inside a # comment: one line, nothing that ends it, no control
    character for the terminal that shows the script."""
    return printable(" ".join(text.split())) or "(unknown)"


def _say(text: str) -> str:
    """A line the script prints: host-derived text shown, never obeyed by the terminal."""
    return f"say {quote(printable(text))}"


def _refusal(plan: Plan) -> list[str]:
    if plan.stopped:
        why = "no safe plan: " + "; ".join(plan.stopped)
    elif plan.chain.declarative:
        why = (
            f"this host ({plan.chain.label}) is configured, not scripted: "
            "hostaudit plan --format text prints the configuration to change"
        )
    else:
        why = "the boot loader of this host was not recognised: hostaudit plan --format text"
    return [f"die {quote(why)}"]


def _guards(plan: Plan) -> list[str]:
    release = plan.kernel_release
    lines = [
        '[ -n "$R" ] || [ "$(id -u)" = 0 ] || die "run it as root"',
    ]
    if release:
        refusal = f"made for kernel {release}, this host runs another: make the plan again"
        lines.append(f'[ "$(uname -r)" = {quote(release)} ] || die {quote(refusal)}')
    for path in plan.chain.proof:
        lines.append(
            f'[ -e "$R"{quote(path)} ] || die {quote(f"made for {plan.chain.label}, but {path} is missing: make the plan again")}'
        )
    return lines


def _save_baseline() -> list[str]:
    """The audit before the plan, for the re-audit to compare with (once: a second run
    keeps the first)."""
    return [
        'mkdir -p "$BACKUP"',
        f'if [ ! -e "$R"{quote(BASELINE)} ]; then',
        '  status=0; "${HOSTAUDIT:-hostaudit}" audit --root "${R:-/}" --json "$R"'
        f"{quote(BASELINE)} --format json >/dev/null || status=$?",
        '  case $status in 0 | 1 | 3) say "saved the audit before the plan: ' + BASELINE + '" ;;'
        ' *) die "could not save the audit before the plan" ;; esac',
        "fi",
    ]


def _step(number: int, step: Step) -> list[str]:
    lines = ["", f"# {number}. [{step.phase}] {_comment(step.title)}"]
    if step.fixes:
        lines.append(f"# fixes: {', '.join(step.fixes)}")
    lines += [f"# why: {_comment(why)}" for why in step.why]
    lines.append(_say(f"{number}. {step.title}"))
    if step.manual:
        lines.append(_say("   by hand: " + step.manual))
    if step.phase in ("device binding", "initramfs"):
        lines.append("GROUP=initramfs")
    elif step.phase in ("kernel command line", "make permanent"):
        lines.append("GROUP=boot")
    else:
        lines.append("GROUP=other")
    for action in step.actions:
        lines.append(_action(action))
    lines += [_say("   undo: " + undo) for undo in step.undo]
    return lines


def _action(action: Action) -> str:
    path, value, name = quote(action.path), quote(action.value), quote(action.name)
    kind = action.kind
    if kind == "run":
        unless = f"{action.unless} || " if action.unless else ""
        return f"{unless}run {quote(action.command)}"
    if kind == "trial-entry":
        return f"trial_entry {quote(action.command)} {path} {value} {name}"
    if kind == "remove":
        return f"remove {path}"
    if kind == "regenerate":
        return f"regenerate {quote(action.name)} {quote(action.command)}"
    if kind in ("words-add", "words-remove"):
        return f"words_{kind.split('-')[1]} {path} {value}"
    if kind in ("var-add", "var-remove", "var-first"):
        return f"var_{kind.split('-')[1]} {path} {name} {value}"
    if kind == "line":
        return f"line {path} {value}"
    if kind == "token-remove":
        return f"token_remove {path} {value} {name}"
    if kind == "sysfs":
        return f"sysfs {path} {value}"
    raise ValueError(f"unknown action {kind!r}")
