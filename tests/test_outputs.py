"""Report outputs from the command line: several formats per run, fleets, diffs, quiet runs."""

from __future__ import annotations

import json

import pytest

from auditor import diff
from auditor.model import DeviceResult, Outcome, Status
from auditor.record import replace
from auditor.reports import json as json_report
from tests.conftest import HOSTS
from tests.reports.sample import sample_report
from tests.reports.test_renderers import parse_page, xsd_validate
from tests.test_cli import run_cli


def audit_json(tmp_path, host: str, hostname: str | None = None) -> str:
    """Audit a fixture host to a JSON file, optionally renamed (the same host, audited later)."""
    path = tmp_path / f"{host}-{hostname or 'own'}.json"
    done = run_cli("audit", "--root", str(HOSTS / host), "--json", str(path), "--quiet")
    assert done.returncode in (0, 1, 3), done.stderr
    if hostname:
        data = json.loads(path.read_text())
        data["host"]["hostname"] = hostname
        path.write_text(json.dumps(data))
    return str(path)


def test_one_audit_writes_every_file_format(tmp_path):
    paths = {fmt: tmp_path / f"report.{fmt}" for fmt in ("json", "html", "junit", "prometheus")}
    args = [f"--{fmt}={path}" for fmt, path in paths.items()]
    done = run_cli("audit", "--root", str(HOSTS / "gpu-shares-group-with-usb"), *args)
    assert done.returncode == 1, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())
    report = json_report.ReportLoader().load(str(paths["json"]))
    assert report.verdict() is Status.FAIL
    xsd_validate(paths["junit"].read_text())
    assert "iommu.group-isolation" in "".join(parse_page(paths["html"].read_text()).text)

    from prometheus_client.parser import text_string_to_metric_families

    names = {f.name for f in text_string_to_metric_families(paths["prometheus"].read_text())}
    assert "hostaudit_check_status" in names


@pytest.mark.parametrize(
    ("fmt", "code", "start"),
    [
        ("json", 1, "{"),
        ("html", 1, "<!DOCTYPE html>"),
        ("junit", 1, '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>'),
        ("prometheus", 1, "# HELP hostaudit_check_status"),
        ("nagios", 2, "HOSTAUDIT CRITICAL - iommu.group-isolation | "),
    ],
)
def test_format_chooses_stdout(fmt, code, start):
    done = run_cli("audit", "--root", str(HOSTS / "gpu-shares-group-with-usb"), "--format", fmt)
    assert done.returncode == code, done.stderr
    assert done.stdout.startswith(start)


def test_quiet_prints_nothing_when_nothing_failed():
    quiet = run_cli("audit", "--root", str(HOSTS / "intel-ready"), "--quiet")
    assert (quiet.returncode, quiet.stdout) == (0, "")
    failing = run_cli("audit", "--root", str(HOSTS / "iommu-not-enabled"), "--quiet")
    assert failing.returncode == 1 and "FAIL" in failing.stdout


def test_report_renders_a_fleet(tmp_path):
    reports = [
        audit_json(tmp_path, host) for host in ("intel-ready", "amd-ready", "iommu-not-enabled")
    ]
    html, junit = tmp_path / "fleet.html", tmp_path / "fleet.xml"
    done = run_cli("report", *reports, "--html", str(html), "--junit", str(junit), "--quiet")
    assert done.returncode == 1, done.stderr
    page = html.read_text()
    assert page.count('<tr><td><a href="#h') == 3
    assert "1 of 3 hosts fail" in page
    xsd_validate(junit.read_text())
    assert junit.read_text().count("<testsuite ") == 3


def test_single_host_formats_refuse_a_fleet(tmp_path):
    reports = [audit_json(tmp_path, host) for host in ("intel-ready", "amd-ready")]
    done = run_cli("report", *reports, "--format", "prometheus")
    assert done.returncode == 2
    assert done.stderr == (
        "hostaudit: --format prometheus: prometheus describes one host, and 2 reports were given; "
        "fleet reports are text, html or junit\n"
    )


def test_report_rejects_a_file_that_is_not_a_report(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": "1.0.0"}')
    done = run_cli("report", str(bad))
    assert done.returncode == 2
    assert done.stderr.startswith(f"hostaudit: {bad}: not a hostaudit report: at (top level): ")


def test_reports_written_by_1_0_still_load(tmp_path):
    data = json.loads(json_report.render(sample_report()))
    data["schema_version"] = "1.0.0"
    del data["profile"]
    for result in data["results"]:
        result.pop("devices", None)
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    done = run_cli("report", str(old), "--format", "nagios")
    assert done.returncode == 2, done.stderr  # Nagios CRITICAL: the sample has a failure
    assert done.stdout.startswith("HOSTAUDIT CRITICAL - iommu.group-isolation | ")


def test_schema_command_prints_the_published_schema():
    done = run_cli("schema")
    assert done.returncode == 0
    assert json.loads(done.stdout) == json.loads(json_report.schema_text())


# --- diff ----------------------------------------------------------------------------------


def test_diff_names_new_failures_and_exits_1(tmp_path):
    old = audit_json(tmp_path, "intel-ready")
    new = audit_json(tmp_path, "iommu-not-enabled", hostname="intel-ready")
    done = run_cli("diff", old, new)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("intel-ready: 2 newly failing, 0 fixed, 0 still failing")
    assert lines[1].startswith("NEW     iommu.cmdline-persistent: pass -> fail: ")
    assert lines[2].startswith("NEW     iommu.kernel-cmdline: pass -> fail: IOMMU not active")
    back = run_cli("diff", new, old)
    assert back.returncode == 0
    assert "FIXED   iommu.kernel-cmdline: fail -> pass" in back.stdout


def test_diff_quiet_and_unchanged(tmp_path):
    old = audit_json(tmp_path, "iommu-not-enabled")
    done = run_cli("diff", old, old, "--quiet")
    assert (done.returncode, done.stdout) == (0, "")
    loud = run_cli("diff", old, old)
    assert "0 newly failing, 0 fixed, 2 still failing" in loud.stdout
    assert "STILL   iommu.kernel-cmdline" in loud.stdout


def test_diff_refuses_two_different_hosts(tmp_path):
    done = run_cli("diff", audit_json(tmp_path, "intel-ready"), audit_json(tmp_path, "amd-ready"))
    assert done.returncode == 2
    assert "a diff compares two audits of one host" in done.stderr


def test_audit_with_baseline(tmp_path):
    baseline = audit_json(tmp_path, "intel-ready", hostname="iommu-not-enabled")
    root = str(HOSTS / "iommu-not-enabled")
    done = run_cli("audit", "--root", root, "--baseline", baseline)
    assert done.returncode == 1
    assert "NEW     iommu.kernel-cmdline" in done.stdout
    same = audit_json(tmp_path, "iommu-not-enabled")
    quiet = run_cli("audit", "--root", root, "--baseline", same, "--quiet")
    assert (quiet.returncode, quiet.stdout) == (0, "")  # still failing, but nothing new
    wrong = run_cli("audit", "--root", root, "--baseline", same, "--format", "json")
    assert wrong.returncode == 2 and "--baseline prints the comparison as text" in wrong.stderr


def test_diff_is_per_device():
    old = sample_report()
    group = old.results[1]
    worse = replace(
        group,
        outcome=replace(
            group.outcome,
            devices=(
                group.outcome.devices[0],
                DeviceResult("0000:02:00.0", Status.FAIL, "is in group 2, which also holds x"),
            ),
        ),
    )
    new = replace(old, results=(old.results[0], worse, *old.results[2:]))
    changes = diff.compare(old, new)
    assert [(c.check, c.device) for c in changes.new] == [("iommu.group-isolation", "0000:02:00.0")]
    assert [(c.check, c.device) for c in changes.still] == [
        ("iommu.group-isolation", "0000:01:00.0")
    ]
    # guest.assigned-devices fails in both, but the profile does not count it: not "still".
    assert [r.check.id for r in old.not_counted()] == ["guest.assigned-devices"]
    counted = replace(old, results=tuple(replace(r, blocking=True) for r in old.results))
    assert ("guest.assigned-devices", "") in [
        (c.check, c.device) for c in diff.compare(old, counted).new
    ]
    # A failing check that now only skips is not called fixed.
    skipped = replace(
        old,
        results=(
            old.results[0],
            replace(group, outcome=Outcome(Status.SKIP, "blocked")),
            *old.results[2:],
        ),
    )
    unclear = diff.compare(old, skipped)
    assert unclear.fixed == () and [c.device for c in unclear.unclear] == ["0000:01:00.0"]
