"""Generate hostaudit's bash and zsh completion from its argparse parser with shtab.

    python3 packaging/completions.py bash > hostaudit.bash
    python3 packaging/completions.py zsh > _hostaudit

Run where hostaudit is importable, with shtab 1.7 or newer: Debian 12's python3-shtab 1.5.5
writes a bash completion that completes neither subcommands nor choice lists (PACKAGING.md).
The generated files are committed under contrib/completion/ for the packages to install;
tests/packaging/test_completion.py fails when they differ from what this script writes.
Nothing here runs at audit time: the completion is static, check ids and profile names
included, as of the release it was generated for.
"""

from __future__ import annotations

import argparse
import sys


def _words(shell_function: str, words: list[str], files: str | None = None) -> dict:
    """A shtab `.complete` value offering `words` (and files matching `files`, if given)."""
    listed = " ".join(words)
    bash_files = f'\n  compgen -f -X "!{files}" -- "$1"\n  compgen -d -- "$1"' if files else ""
    zsh = f"({listed})"
    if files:
        # Unquoted and escaped: shtab writes the spec inside double quotes.
        zsh = f"_alternative 'names:name:({listed})' 'files:file:_files -g \\{files}'"
    return {
        "bash": shell_function,
        "zsh": zsh,
        "preamble": {
            "bash": f'{shell_function}() {{\n  compgen -W "{listed}" -- "$1"{bash_files}\n}}\n'
        },
    }


def completing_parser() -> argparse.ArgumentParser:
    """build_parser(ALL) with shtab's `.complete` set on the options that take ids and paths."""
    import shtab

    from auditor.arguments import ALL, build_parser
    from auditor.profile import builtin_names
    from auditor.registry import load_checks

    parser, commands = build_parser(ALL)
    check_ids = _words("_hostaudit_check_ids", [c.check.id for c in load_checks(False)])
    profiles = _words("_hostaudit_profiles", builtin_names(), files="*.toml")
    completions = {dest: shtab.FILE for dest in PATHS}
    completions.update(check_id=check_ids, check=check_ids, skip=check_ids, profile=profiles)
    completions.update(device=PCI_ADDRESSES, hostdev_xml=PCI_ADDRESSES)
    for command in commands.values():
        for sub in [command, *_nested(command)]:
            for action in sub._actions:
                if action.dest in completions and not action.choices:
                    action.complete = completions[action.dest]  # type: ignore[attr-defined]
    return parser


# Arguments that name a file or folder (--root also takes snapshot and sosreport archives).
PATHS = ("root", "snapshot", "domain_xml", "baseline", "json", "html", "junit", "prometheus")
PATHS += ("ndjson", "html_dir", "reports", "old", "new", "output")
# Arguments whose values nothing on this host lists: no completion offered.
FREE = ("max_age", "unreachable")
# This host's PCI functions, as sysfs names them (0000:01:00.0).
PCI_ADDRESSES = {
    "bash": "_hostaudit_pci_addresses",
    "zsh": "($(ls /sys/bus/pci/devices 2>/dev/null))",
    "preamble": {
        "bash": "_hostaudit_pci_addresses() {\n"
        '  compgen -W "$(ls /sys/bus/pci/devices 2>/dev/null)" -- "$1"\n}\n'
    },
}


def _nested(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Parsers of a subcommand's own subcommands (`profile show`)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += list(action.choices.values())
    return found


def main() -> int:
    import shtab

    shell = sys.argv[1] if len(sys.argv) > 1 else "bash"
    sys.stdout.write(shtab.complete(completing_parser(), shell=shell))
    return 0


if __name__ == "__main__":
    sys.exit(main())
