"""The shipped bash and zsh completions (kept equal to the parser by tests/test_generated.py):
bash's own completion machinery offers subcommands, options, check ids, profiles and paths."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

import pytest

from tests.conftest import CHECK_IDS
from tests.packaging.helpers import REPO, run

COMPLETION = REPO / "contrib" / "completion"
GENERATOR = REPO / "packaging" / "completions.py"


def test_every_option_taking_a_value_has_a_completion_decision():
    """A new option must be listed as a path, given ids or names, or declared free text."""
    sys.path.insert(0, str(GENERATOR.parent))
    try:
        pytest.importorskip("shtab", minversion="1.7")
        import completions
    finally:
        sys.path.remove(str(GENERATOR.parent))
    parser = completions.completing_parser()
    undecided = []
    stack = [parser]
    while stack:
        current = stack.pop()
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack += list(action.choices.values())
            elif (
                action.nargs != 0
                and not action.choices
                and not hasattr(action, "complete")
                and action.dest not in completions.FREE
            ):
                undecided.append(action.dest)
    assert not undecided


def complete(words: list[str], cwd) -> list[str]:
    """What bash offers for the last word of `words`, by the shipped completion function."""
    line = " ".join(words)
    script = f"""
source {COMPLETION / "hostaudit.bash"}
COMP_WORDS=({" ".join(f"'{w}'" for w in words)})
COMP_CWORD={len(words) - 1}
COMP_LINE='{line}'
COMP_POINT={len(line)}
_shtab_hostaudit hostaudit '{words[-1]}' '{words[-2]}' 2>/dev/null
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "--norc", "-c", script], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return sorted(set(done.stdout.split()))


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "site.toml").write_text("")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "hostroot").mkdir()
    return tmp_path


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["hostaudit", ""], ["audit", "checks", "devices", "diff", "explain", "profile"]),
        (["hostaudit", "au"], ["audit"]),
        (["hostaudit", "audit", "--pro"], ["--profile"]),
        (["hostaudit", "audit", "--format", ""], ["html", "json", "junit", "nagios"]),
        (["hostaudit", "audit", "--check", "iommu.g"], ["iommu.group-isolation"]),
        (["hostaudit", "audit", "--skip", "kvm"], ["kvm.unsafe-interrupts"]),
        (["hostaudit", "explain", "pci.device-r"], ["pci.device-reset"]),
        (["hostaudit", "audit", "--profile", ""], ["default", "production", "rhel6", "site.toml"]),
        (["hostaudit", "profile", "show", "pro"], ["production"]),
        (["hostaudit", "audit", "--root", "host"], ["hostroot"]),
        (["hostaudit", "report", "no"], ["notes.txt"]),
    ],
)
def test_bash_completes(words, expected, folder):
    offered = complete(words, folder)
    assert set(expected) <= set(offered), offered
    if words[-2:] == ["--profile", ""]:
        assert "notes.txt" not in offered  # profiles are .toml files (or folders on the way)


def test_bash_offers_every_check_id_to_explain(folder):
    assert complete(["hostaudit", "explain", ""], folder) == sorted(CHECK_IDS)


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh (Debian package zsh)")
def test_the_zsh_completion_parses():
    done = run(["zsh", "-n", str(COMPLETION / "_hostaudit")])
    assert done.returncode == 0, done.stderr
