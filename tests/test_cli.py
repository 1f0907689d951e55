"""The command line: outputs, exit codes, atomic files, clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from auditor import cli
from tests.conftest import CHECK_IDS, HOSTS


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`hostaudit ARGS` in a new process; `env`: variables to set (NO_COLOR and COLUMNS
    are unset unless given)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS")}
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True,
        text=True,
        env={**environ, **(env or {})},
    )


def load_schema() -> dict:
    from importlib.resources import files

    return json.loads(files("auditor.reports").joinpath("report.schema.json").read_text())


def validate(data: dict) -> None:
    import jsonschema

    jsonschema.validate(data, load_schema())


@pytest.mark.parametrize(
    ("host", "code"),
    [("intel-ready", 0), ("iommu-not-enabled", 1), ("symlink-escape", 3)],
)
def test_exit_codes(host, code):
    done = run_cli("audit", "--root", str(HOSTS / host), "--format", "json")
    assert done.returncode == code, done.stderr
    validate(json.loads(done.stdout))


def test_text_output_has_table_and_remediation():
    done = run_cli("audit", "--root", str(HOSTS / "iommu-not-enabled"))
    assert done.returncode == 1
    assert "FAIL      iommu.kernel-cmdline" in done.stdout
    assert (
        "iommu.kernel-cmdline (fail, critical): how to fix\n  - grubby --update-kernel=ALL --args=intel_iommu=on"
        in done.stdout
    )
    assert "\x1b[" not in done.stdout  # not a terminal: no colour


def test_json_file_is_written_atomically_and_valid(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace
    monkeypatch.setattr(
        os, "replace", lambda a, b: (replaced.append((a, b)), real_replace(a, b))[1]
    )
    code = cli.main(
        ["audit", "--root", str(HOSTS / "intel-ready"), "--json", str(target), "--no-color"]
    )
    assert code == 0
    assert replaced and os.path.dirname(replaced[0][0]) == str(
        tmp_path
    )  # temp file in the same folder
    data = json.loads(target.read_text())
    validate(data)
    statuses = [result["status"] for result in data["results"]]
    not_judged = [r["id"] for r in data["results"] if r["status"] in ("skip", "error")]
    assert data["summary"] == {
        **{
            status: statuses.count(status)
            for status in ("pass", "warn", "fail", "skip", "error", "waived")
        },
        "verdict": "pass",
        "not_counted": 0,
        "judged": len(statuses) - len(not_judged),
        "checks": len(CHECK_IDS),
        "not_judged": not_judged,
    }
    assert {"guest.assigned-devices", "selinux.virt-use-sysfs"} <= set(not_judged)
    assert [name for name in os.listdir(tmp_path)] == ["report.json"]


def test_device_spellings_are_equivalent(capsys):
    outputs = []
    for device in ("0000:01:00.0", "01:00.0", "pci_0000_01_00_0"):
        cli.main(
            [
                "audit",
                "--root",
                str(HOSTS / "gpu-with-audio"),
                "--device",
                device,
                "--format",
                "json",
            ]
        )
        data = json.loads(capsys.readouterr().out)
        outputs.append(
            next(r["message"] for r in data["results"] if r["id"] == "iommu.group-isolation")
        )
    assert len(set(outputs)) == 1 and "0000:01:00.1" in outputs[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["audit", "--root", "/nonexistent-root"],
            "hostaudit: --root /nonexistent-root: not a folder",
        ),
        (
            ["audit", "--device", "10de:1b8"],
            "hostaudit: --device: '10de:1b8' is not a device identifier (expected a PCI address: 0000:01:00.0, 01:00.0 or pci_0000_01_00_0, or vendor:device such as 8086:10c9)",
        ),
        (
            ["explain", "no.such-check"],
            "hostaudit: unknown check 'no.such-check'; see `hostaudit checks`",
        ),
        (
            ["audit", "--json", "/nonexistent-dir/r.json"],
            "hostaudit: --json /nonexistent-dir/r.json: cannot write: no writable folder /nonexistent-dir",
        ),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(args, message):
    done = run_cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_help_documents_exit_codes():
    done = run_cli("audit", "--help")
    assert "3  no check failed, but at least one ended in error" in done.stdout


def test_checks_and_explain():
    listing = run_cli("checks").stdout
    assert "iommu.firmware-table" in listing and "critical" in listing
    explained = run_cli("explain", "kvm.unsafe-interrupts").stdout
    assert "reads:\n  /sys/module/kvm/parameters/allow_unsafe_assigned_interrupts" in explained
    assert "remediation:" in explained and "Three generations of the same switch" in explained


def test_explain_suggests_the_check_meant():
    done = run_cli("explain", "iommu.group-isolaton")
    assert done.returncode == 2
    assert done.stderr == (
        "hostaudit: unknown check 'iommu.group-isolaton'; did you mean iommu.group-isolation?\n"
    )
    assert "see `hostaudit checks`" in run_cli("explain", "zzz").stderr


def test_text_shows_evidence_on_request_and_leaves_unselected_checks_out():
    root = str(HOSTS / "intel-ready")
    plain = run_cli("audit", "--root", root, "--check", "iommu.*").stdout
    rows = [line.split()[1] for line in plain.splitlines() if line.startswith(("PASS ", "SKIP "))]
    assert rows and all(row.startswith("iommu.") for row in rows)
    left_out = len(CHECK_IDS) - len(rows)
    assert f"\n{left_out} checks not selected (--check/--skip) are left out\n" in plain
    assert "evidence:" not in plain
    shown = run_cli("audit", "--root", root, "--check", "iommu.firmware-table", "-v").stdout
    evidence = shown.split("\nevidence:\n", 1)[1]
    assert evidence.startswith("  iommu.firmware-table (pass)\n    /sys/firmware/acpi/tables/DMAR")
    assert "DRHD" in evidence


def test_python_dash_m_and_version():
    assert run_cli("--version").stdout.startswith("hostaudit ")
