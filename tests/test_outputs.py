"""Report outputs from the command line: several formats per run, fleets, diffs, quiet runs."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from auditor import diff
from auditor.model import DeviceResult, Outcome, Status
from auditor.record import replace
from auditor.reports import json as json_report
from auditor.saved import ReportLoader
from tests.conftest import HOSTS
from tests.reports.sample import sample_report
from tests.reports.test_renderers import matrix_rows, parse_page, xsd_validate
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
    report = ReportLoader().load(str(paths["json"]))
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


@pytest.mark.parametrize("fmt", ["json", "prometheus", "junit", "html", "nagios"])
def test_quiet_never_silences_a_document(fmt):
    """A cron job piping `--format json --quiet` gets the document, passing host or not."""
    done = run_cli("audit", "--root", str(HOSTS / "intel-ready"), "--quiet", "--format", fmt)
    assert done.returncode == 0
    reference = run_cli("audit", "--root", str(HOSTS / "intel-ready"), "--format", fmt)
    assert len(done.stdout) > 100 and done.stdout[:40] == reference.stdout[:40]
    if fmt == "json":
        assert json.loads(done.stdout)["summary"]["verdict"] == "pass"


def test_nagios_first_line_names_the_checks_and_stays_under_80_columns():
    from auditor.reports import nagios

    report = sample_report()
    many = tuple(
        replace(report.results[1], check=replace(report.results[1].check, id=f"site.check-{n}"))
        for n in range(12)
    )
    first = nagios.render(replace(report, results=many)).splitlines()[0]
    text, _, perfdata = first.partition(" | ")
    assert text.startswith("HOSTAUDIT CRITICAL - site.check-0, site.check-1, ")
    assert re.search(r" \+\d+ more$", text) and len(text) < 80, text
    named = text.count("site.check-")
    assert text.endswith(f"+{12 - named} more")
    assert perfdata.startswith("fail=12 ")
    # A host-derived "|" would start the perfdata early: it is escaped wherever it appears.
    piped = replace(
        report,
        results=(replace(many[0], check=replace(many[0].check, id="a|b")),),
        host=replace(report.host, hostname="hv|x"),
    )
    lines = nagios.render(piped).splitlines()
    assert lines[0].count("|") == 1 and all("|" not in line for line in lines[1:-1])


def test_report_renders_a_fleet(tmp_path):
    reports = [
        audit_json(tmp_path, host) for host in ("intel-ready", "amd-ready", "iommu-not-enabled")
    ]
    html, junit = tmp_path / "fleet.html", tmp_path / "fleet.xml"
    done = run_cli("report", *reports, "--html", str(html), "--junit", str(junit), "--quiet")
    assert done.returncode == 1, done.stderr
    page = html.read_text()
    assert len(matrix_rows(page)) == 3
    assert "1 of 3 hosts fail" in page
    xsd_validate(junit.read_text())
    assert junit.read_text().count("<testsuite ") == 3


def test_single_host_formats_refuse_a_fleet(tmp_path):
    reports = [audit_json(tmp_path, host) for host in ("intel-ready", "amd-ready")]
    done = run_cli("report", *reports, "--format", "prometheus")
    assert done.returncode == 2
    assert done.stderr == (
        "hostaudit: --format prometheus: prometheus describes one host, and 2 hosts were given; "
        "fleet reports are text, json, ndjson, html or junit\n"
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


# --- freshness: --max-age and hosts a fleet run did not read --------------------------------


def read_back(tmp_path, *args: str, one_host: bool = True) -> tuple[int, dict[str, Any]]:
    """`hostaudit report ARGS` writing every format (those of one host only when one_host);
    (exit code, {format: document})."""
    from prometheus_client.parser import text_string_to_metric_families

    paths = {fmt: tmp_path / f"out.{fmt}" for fmt in ("html", "junit")}
    done = run_cli("report", *args, *(f"--{fmt}={path}" for fmt, path in paths.items()))
    documents = {fmt: path.read_text() for fmt, path in paths.items()}
    documents["text"] = done.stdout
    xsd_validate(documents["junit"])
    if one_host:
        for fmt in ("json", "prometheus", "nagios"):
            documents[fmt] = run_cli("report", *args, "--format", fmt).stdout
        families = text_string_to_metric_families(documents["prometheus"])
        documents["prometheus_values"] = {
            s.name + str(sorted(s.labels.items())): s.value for f in families for s in f.samples
        }
    return done.returncode, documents


def test_max_age_marks_reports_read_too_long_ago_stale_everywhere(tmp_path):
    path = tmp_path / "old.json"
    data = json_report.report_to_dict(sample_report())
    data["collected_at"] = "2026-01-01T00:00:00+00:00"  # long before any test run
    path.write_text(json.dumps(data))

    code, out = read_back(tmp_path, str(path), "--max-age", "36h")
    # The sample fails a check, but long ago: what fails now is not known. Error, exit 3.
    assert code == 3 and json.loads(out["json"])["summary"]["verdict"] == "error"
    stale = json.loads(out["json"])["stale"]
    assert stale.startswith("read ") and "longer than --max-age allows (36 h)" in stale
    assert f"STALE: {stale}" in out["text"]
    assert "report-is-current" in out["junit"] and 'type="stale"' in out["junit"]
    assert "Stale: read " in out["html"]
    assert out["prometheus_values"]["hostaudit_stale[]"] == 1
    assert out["nagios"].startswith("HOSTAUDIT UNKNOWN - stale: read ")

    # Every check passed, long ago: still error, exit 3, Nagios UNKNOWN, never "pass".
    data["results"] = [r for r in data["results"] if r["status"] == "pass"]
    path.write_text(json.dumps(data))
    code, out = read_back(tmp_path, str(path), "--max-age", "36h")
    assert code == 3 and json.loads(out["json"])["summary"]["verdict"] == "error"
    assert out["nagios"].startswith("HOSTAUDIT UNKNOWN - stale: read ")
    assert out["prometheus_values"]["hostaudit_verdict[('verdict', 'error')]"] == 1
    assert out["prometheus_values"]["hostaudit_verdict[('verdict', 'pass')]"] == 0

    # Read recently enough: not stale.
    code, out = read_back(tmp_path, str(path), "--max-age", "10000d")
    assert code == 0 and "stale" not in json.loads(out["json"])


@pytest.mark.parametrize("value", ["0", "-5h", "3x", "h", "nan", "infd", "1e400s"])
def test_max_age_refuses_what_is_not_a_duration(value):
    done = run_cli("report", "whatever.json", f"--max-age={value}")
    assert done.returncode == 2 and "is not a duration" in done.stderr


def test_unreachable_hosts_are_listed_and_never_pass(tmp_path):
    fresh = audit_json(tmp_path, "intel-ready")
    code, out = read_back(
        tmp_path,
        fresh,
        "--unreachable",
        "hv-b=ssh: connection timed out",
        "--unreachable=hv-c",
        one_host=False,
    )
    assert code == 3  # intel-ready passes; two hosts were not read
    lines = [" ".join(line.split()) for line in out["text"].splitlines()]
    assert lines[lines.index("Not read (2):") + 1 :][:2] == [
        "hv-b ssh: connection timed out",
        "hv-c not reached",
    ]
    from junitparser import Error, JUnitXml

    path = tmp_path / "fleet.xml"
    path.write_text(out["junit"])
    suites = {suite.name: suite for suite in JUnitXml.fromfile(str(path))}
    [case] = list(suites["hv-b"])
    assert case.name == "report-is-current" and isinstance(case.result[0], Error)
    assert "not read" in "".join(parse_page(out["html"]).text)

    # A placeholder saved as JSON reads back as one: not read, no results, stale.
    saved = tmp_path / "hv-b.json"
    assert run_cli("report", "--unreachable", "hv-b=down", "--json", str(saved)).returncode == 3
    data = json.loads(saved.read_text())
    assert (data["collected_at"], data["results"], data["stale"]) == (None, [], "down")
    report = ReportLoader().load(str(saved))
    assert not report.collected and report.verdict() is Status.ERROR


def test_report_needs_something_to_report():
    done = run_cli("report")
    assert done.returncode == 2 and "give at least one REPORT.json" in done.stderr
