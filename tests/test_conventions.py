"""Command-line conventions: no abbreviations, suggestions, check selection, machine-readable
`checks`, colour, terminal width, and Nagios' UNKNOWN for a plugin that could not run."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CHECK_IDS, HOSTS
from tests.test_cli import run_cli

INTEL = str(HOSTS / "intel-ready")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize(
    ("args", "usage", "hint"),
    [
        (["audit", "--formt", "json"], "usage: hostaudit audit ", "did you mean --format?"),
        (["audit", "--form", "json"], "usage: hostaudit audit ", "did you mean --format?"),
        (["audti"], "usage: hostaudit [-h]", "did you mean audit?"),
        (["audit", "--format", "jsno"], "usage: hostaudit audit ", "did you mean json?"),
        (["report", "--max-ag", "1h", "x.json"], "usage: hostaudit report ", "--max-age?"),
    ],
)
def test_a_wrong_word_gets_its_subcommands_usage_and_a_suggestion(args, usage, hint):
    done = run_cli(*args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(usage), done.stderr
    assert done.stderr.rstrip().endswith(hint), done.stderr


def results(*args: str) -> dict[str, dict]:
    done = run_cli("audit", *args, "--format", "json")
    assert done.returncode in (0, 1, 3), done.stderr
    return {r["id"]: r for r in json.loads(done.stdout)["results"]}


def test_check_runs_only_the_matching_checks():
    got = results("--root", INTEL, "--check", "iommu.*", "--check", "kvm.unsafe-interrupts")
    assert list(got) == sorted(got, key=list(got).index)  # report order is kept
    chosen = {i for i in CHECK_IDS if i.startswith("iommu.")} | {"kvm.unsafe-interrupts"}
    for check_id, result in got.items():
        if check_id in chosen:
            assert not result["message"].startswith("not selected"), check_id
        else:
            assert (result["status"], result["message"]) == (
                "skip",
                "not selected (--check iommu.* --check kvm.unsafe-interrupts)",
            )


def test_a_skipped_requirement_leaves_its_dependents_to_their_own_rules():
    # On this host the firmware table fails and blocks four checks; skipped, it blocks none.
    root = str(HOSTS / "vtd-off-in-firmware")
    assert results("--root", root)["iommu.kernel-cmdline"]["message"] == (
        "blocked by iommu.firmware-table"
    )
    got = results("--root", root, "--skip", "iommu.firmware-table")
    assert got["iommu.firmware-table"]["message"] == "not selected (--skip iommu.firmware-table)"
    assert not any(r["message"] == "blocked by iommu.firmware-table" for r in got.values())
    assert got["iommu.kernel-cmdline"]["status"] == "fail"  # judged on its own evidence
    # ... and its failure blocks what needs it, by the usual rule.
    assert got["iommu.group-isolation"]["message"] == "blocked by iommu.kernel-cmdline"


@pytest.mark.parametrize("option", ["--check", "--skip"])
def test_a_pattern_that_matches_nothing_is_a_usage_error_listing_the_checks(option):
    done = run_cli("audit", "--root", INTEL, option, "iommu.intrerupt*")
    assert done.returncode == 2
    assert f"{option} 'iommu.intrerupt*' matches no check; the checks are: " in done.stderr
    assert all(check_id in done.stderr for check_id in CHECK_IDS)


def test_checks_as_json():
    done = run_cli("checks", "--format", "json")
    rows = json.loads(done.stdout)
    assert sorted(row["id"] for row in rows) == sorted(CHECK_IDS)
    keys = {"id", "title", "severity", "requires", "reads", "references", "params", "accepts"}
    assert all(set(row) == keys for row in rows)
    group = next(row for row in rows if row["id"] == "iommu.group-isolation")
    assert group["requires"] == ["iommu.firmware-table", "iommu.kernel-cmdline"]
    assert "/sys/kernel/iommu_groups" in " ".join(group["reads"])
    support = next(row for row in rows if row["id"] == "pci.device-support")
    assert support["params"] == {
        "allow_graphics": True,
        "warn_conventional_pci": False,
        "warn_multifunction": False,
    }


def on_a_terminal(*args: str, env: dict[str, str]) -> str:
    """hostaudit's output with standard output on a pseudo-terminal."""
    leader, follower = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    done = subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        stdout=follower,
        stderr=subprocess.PIPE,
        env={**environ, **env},
        timeout=60,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert done.returncode == 0, done.stderr
    return b"".join(chunks).decode()


@pytest.mark.parametrize(
    ("options", "env", "coloured"),
    [
        ((), {}, True),
        ((), {"NO_COLOR": "1"}, False),
        ((), {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value turns it off
        (("--no-color",), {}, False),
        (("--color", "never"), {}, False),
        ((), {"TERM": "dumb"}, False),  # a terminal that shows escape sequences as text
    ],
)
def test_colour_on_a_terminal(options, env, coloured):
    out = on_a_terminal("audit", "--root", INTEL, *options, env=env)
    assert bool(ANSI.search(out)) is coloured


def test_colour_can_be_forced_for_ci_logs():
    forced = run_cli("audit", "--root", INTEL, "--color", "always")
    assert ANSI.search(forced.stdout)
    assert not ANSI.search(run_cli("audit", "--root", INTEL).stdout)  # a pipe: auto is off


@pytest.mark.parametrize("columns", [60, 100, 160])
def test_text_wraps_to_the_width_and_never_inside_an_identifier(columns):
    out = run_cli(
        "audit", "--root", INTEL, env={"COLUMNS": str(columns)}
    ).stdout  # COLUMNS is what shutil.get_terminal_size() honours first
    *lines, summary = out.splitlines()
    # The summary is one line at any width, so that `tail -n 1` reads the verdict.
    assert re.fullmatch(r"\d+ pass, .* in \d+\.\d\ds: verdict pass", summary)
    identifiers = re.compile(r"IR-PCI-MSI-0000:00:1f\.6|IR-PCI-MSI-0000:00:14\.0")
    for line in lines:
        if len(line) > columns:  # only a word longer than the room may run past
            assert not re.search(r"\s", line.strip()[columns:]), line
    text = " ".join(lines)
    assert len(identifiers.findall(text)) == 2  # each whole, on one line
    assert not any(line.rstrip().endswith(("IR-PCI-", "MSI-")) for line in lines)


def test_nagios_says_unknown_when_it_could_not_run():
    for args in (["--root", "/no/such/root"], ["--bogus"]):
        done = run_cli("audit", "--format", "nagios", *args)
        assert done.returncode == 3, done.stderr  # UNKNOWN, never CRITICAL (2)
        assert done.stdout.startswith("HOSTAUDIT UNKNOWN - could not run: ")
        assert len(done.stdout.splitlines()[0]) < 80
    assert run_cli("audit", "--format", "json", "--bogus").returncode == 2


@pytest.mark.parametrize("columns", [80, 120])
def test_devices_table_fits_columns(columns):
    root = str(HOSTS / "gpu-shares-group-with-usb")
    out = run_cli("devices", "--root", root, env={"COLUMNS": str(columns)}).stdout
    table = out.split("\n\n", 1)[1].splitlines()
    header = table[0]
    # The reasons column (last) wraps between words; the columns before it are as wide as
    # their widest cell, so the table fits unless those alone are wider.
    before = header.rindex("assignable")
    for line in table:
        assert len(line) <= max(columns, before + 24), line
    unwrapped = run_cli("devices", "--root", root).stdout  # a pipe, no COLUMNS: one line each
    assert len(unwrapped.split("\n\n", 1)[1].splitlines()) < len(table)


def _imports_at_load(path: Path, module: str, known: set[str]) -> set[str]:
    """The package's modules `module` imports when loaded or type-checked: top-level
    imports and those under `if TYPE_CHECKING:` (imports inside functions are lazy)."""
    import ast

    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                visit(node.body)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{parent}.{base}" if base else parent
                for alias in node.names:
                    name = f"{base}.{alias.name}"
                    found.add(name if name in known else base)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {name for name in found if name in known and name != module}


def test_no_import_cycles_even_for_types():
    """One module that imports another, which imports it back, even for types only, is one
    room that is really two: the issue that asked for rooms found model <-> context."""
    root = Path(__file__).resolve().parent.parent
    folders = {"auditor": "auditor", "checks": "auditor.checks", "reports": "auditor.reports"}
    modules: dict[str, Path] = {}
    for folder, package in folders.items():
        for path in (root / folder).rglob("*.py"):
            parts = path.relative_to(root / folder).with_suffix("").parts
            name = ".".join((package, *parts))
            modules[name.removesuffix(".__init__")] = path
    known = set(modules)
    graph = {name: _imports_at_load(path, name, known) for name, path in modules.items()}
    cycles = []
    for start in graph:  # depth-first from each module: a path back to it is a cycle
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, trail = stack.pop()
            for target in graph[node]:
                if target == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, [*trail, target]))
    assert not cycles, cycles[:3]
