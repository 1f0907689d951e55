"""`hostaudit report` over many hosts: the fleet summary, matrix, JSON/NDJSON and JUnit, read
back by their consumers (jsonschema on the published fleet schema, junitparser and the
strict XSD, an HTML parser), with one name per host and outputs bounded per host."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import jsonschema
import pytest

from auditor.fleet import Member, Summary
from auditor.model import Status
from auditor.reports import html, junit, text
from auditor.reports import json as json_report
from auditor.saved import ReportLoader
from tests.conftest import HOSTS, audit_report
from tests.reports.test_renderers import matrix_rows, parse_page, xsd_validate
from tests.test_cli import run_cli

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
import make_hosts

FLEET_SCHEMA = json.loads(json_report.fleet_schema_text())
# Inventory name -> fixture host: a host that passes and three that fail; the tests add one
# that warns (32 assigned functions), one whose saved report is broken and one not reached.
FLEET = {
    "hv-ok": "intel-ready",
    "hv-fails": "iommu-not-enabled",
    "hv-vtd-off": "vtd-off-in-firmware",
    "hv-groups": "gpu-shares-group-with-usb",
}


@pytest.fixture(scope="module")
def member_report(tmp_path_factory) -> str:
    """The saved report of a hypervisor assigning 32 functions (30 VFs, a GPU, its audio)."""
    base = tmp_path_factory.mktemp("member")
    root = make_hosts.build_fleet_member(base / "roots")
    path = base / "hv-vfs.json"
    path.write_text(json_report.render(audit_report(root)))
    return str(path)


@pytest.fixture
def fleet(tmp_path, member_report) -> list[str]:
    paths = []
    for name, host in FLEET.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json_report.render(audit_report(HOSTS / host)))
        paths.append(str(path))
    vfs = tmp_path / "hv-vfs.json"
    vfs.write_text(Path(member_report).read_text())
    broken = tmp_path / "hv-broken.json"
    broken.write_text('{"schema_version": "1.4.0"}')
    return [*paths, str(vfs), str(broken)]


UNREACHABLE = ["--unreachable", "hv-gone=unreachable: no route to host"]


def test_fleet_json_and_ndjson_validate_and_agree(fleet):
    done = run_cli("report", *fleet, *UNREACHABLE, "--format", "json")
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    jsonschema.validate(document, FLEET_SCHEMA)
    hosts = {entry["name"]: entry for entry in document["hosts"]}
    # One name per host, reached or not: the inventory name.
    assert list(hosts) == [*FLEET, "hv-vfs", "hv-broken", "hv-gone"]
    assert hosts["hv-ok"]["hostname"] == "intel-ready"
    verdicts = {name: entry["verdict"] for name, entry in hosts.items()}
    assert verdicts == {
        "hv-ok": "pass",
        "hv-fails": "fail",
        "hv-vtd-off": "fail",
        "hv-groups": "fail",
        "hv-vfs": "warn",
        "hv-broken": "error",
        "hv-gone": "error",
    }
    assert not hosts["hv-gone"]["read"] and hosts["hv-gone"]["stale"].startswith("unreachable")
    assert "invalid report" in hosts["hv-broken"]["stale"]
    [binding] = hosts["hv-vfs"]["failing"]
    assert (binding["check"], binding["status"], binding["devices"]) == (
        "pci.driver-binding",
        "warn",
        30,  # the VFs: nothing recreates them at boot
    )
    # The summary is the hosts counted.
    summary = document["summary"]
    assert summary["hosts"] == len(hosts)
    for status in ("fail", "error", "warn", "pass"):
        assert summary["by_verdict"][status] == sum(v == status for v in verdicts.values())
    assert summary["unreachable"] == 2  # hv-gone, and hv-broken whose report is unreadable
    for row in summary["checks"]:
        failing = sum(
            any(f["check"] == row["id"] and f["status"] == "fail" for f in entry["failing"])
            for entry in hosts.values()
        )
        assert row["fail"] == failing, row

    done = run_cli("report", *fleet, *UNREACHABLE, "--format", "ndjson")
    lines = done.stdout.splitlines()
    host_schema = {**FLEET_SCHEMA, "$ref": "#/definitions/host"}
    for line in lines:
        jsonschema.validate(json.loads(line), host_schema)
    assert [json.loads(line) for line in lines] == document["hosts"]


def test_fleet_junit_has_a_suite_per_host_and_a_case_per_device(tmp_path, fleet):
    from junitparser import Error, Failure, JUnitXml

    path = tmp_path / "fleet.xml"
    done = run_cli("report", *fleet, *UNREACHABLE, "--junit", str(path), "--quiet")
    assert done.returncode == 1, done.stderr
    xsd_validate(path.read_text())
    suites = {suite.name: suite for suite in JUnitXml.fromfile(str(path))}
    assert list(suites) == [*FLEET, "hv-vfs", "hv-broken", "hv-gone"]
    groups = suites["hv-groups"]
    failing = [case.name for case in groups if any(isinstance(r, Failure) for r in case.result)]
    # Which device failed is the case's name.
    assert any(name.startswith("iommu.group-isolation 0000:") for name in failing), failing
    vfs = [case.name for case in suites["hv-vfs"] if case.name.startswith("pci.driver-binding ")]
    assert len(vfs) == 32
    [current] = list(suites["hv-gone"])
    assert current.name == "report-is-current" and isinstance(current.result[0], Error)


def test_fleet_text_is_a_summary_and_detail_adds_each_host(fleet):
    done = run_cli("report", *fleet, *UNREACHABLE)
    assert done.returncode == 1
    out = done.stdout
    assert out.startswith("hostaudit fleet: 7 hosts: 3 fail, 2 error, 1 warn, 1 pass\n")
    lines = [" ".join(line.split()) for line in out.splitlines()]
    fails = lines.index("Hosts that fail (3):")
    assert lines[fails + 1].startswith("hv-fails iommu.cmdline-persistent")
    assert lines[lines.index("Not read (2):") + 1 :][:2] == [
        "hv-broken invalid report " + fleet[-1] + ": not a hostaudit report: at (top level): "
        "'tool' is a required property",
        "hv-gone unreachable: no route to host",
    ]
    assert lines[-1] == "7 hosts; verdict fail"
    assert "hostaudit 0" not in out  # no host's own table

    detail = run_cli("report", *fleet, *UNREACHABLE, "--detail").stdout
    assert detail.count("hostaudit 0.") == len(FLEET) + 3  # every host's table, then the summary
    assert detail.endswith(out)


def test_fleet_html_matrix_is_failing_first_with_details_and_host_pages(tmp_path, fleet):
    page, pages = tmp_path / "out" / "fleet.html", tmp_path / "hosts"
    page.parent.mkdir()
    done = run_cli("report", *fleet, *UNREACHABLE, "--html", str(page), "--html-dir", str(pages))
    assert done.returncode == 1, done.stderr
    document = page.read_text()
    rows = matrix_rows(document)
    names = [row.split("</a>")[0].split(">")[-1] if "<a " in row else row for row in rows]
    order = [name.split(" <span")[0] for name in names]
    assert order[:3] == ["hv-fails", "hv-groups", "hv-vtd-off"]  # failing first, by name
    assert order[-1] == "hv-ok"
    assert "<details" in document and 'id="h6"' not in document  # no details for a pass
    # Every host's own page, linked from the matrix, inside the folder.
    files = sorted(os.listdir(pages))
    assert len(files) == 7 and all(name.endswith(".html") for name in files)
    for name in files:
        assert f'href="../hosts/{name}"' in document
    # Self-contained: no script, style sheet or image from elsewhere; links stay local.
    parsed = parse_page(document)
    assert not {tag for tag, _ in parsed.tags} & {"script", "link", "img", "iframe"}
    for _, attrs in parsed.tags:
        assert not (attrs.get("href") or "").startswith(("http:", "https:", "//")), attrs


def test_a_hostile_host_name_stays_inside_the_pages_folder(tmp_path, member_report):
    data = json.loads(Path(member_report).read_text())
    data["host"]["hostname"] = "../../etc/<script>x"
    path = tmp_path / "x.json"
    path.write_text(json.dumps(data))
    pages = tmp_path / "pages"
    page = tmp_path / "fleet.html"
    args = ("report", str(path), "--unreachable", "../../y", "--fleet", "--html", str(page))
    done = run_cli(*args, "--html-dir", str(pages))
    assert done.returncode == 3, done.stderr
    assert sorted(os.listdir(tmp_path)) == ["fleet.html", "pages", "x.json"]
    assert all("/" not in name and not name.startswith(".") for name in os.listdir(pages))
    assert "<script>" not in page.read_text()


def _members(report_path: str, hosts: int) -> Summary:
    """`hosts` members made from one saved report, every tenth failing."""
    report = ReportLoader().load(report_path)
    failing = audit_report(HOSTS / "iommu-not-enabled")
    summary = Summary()
    for index in range(hosts):
        summary.add(Member(failing if index % 10 == 3 else report, f"hv-{index:05d}"))
    return summary


def test_fleet_outputs_stay_small_per_host(member_report):
    """The bounds of the fleet-output issue, per host so that a test can hold them: an HTML
    page under 50 MB and a text summary under 1 MB at 10,000 hosts."""
    hosts = 2_000
    summary = _members(member_report, hosts)
    page = html.Fleet(now=0)
    report = ReportLoader().load(member_report)
    for member in summary.members:
        page.add(report, member)
    size = len("".join(page.chunks(summary)).encode())
    assert size / hosts < 50e6 / 10_000, size / hosts
    words = len("".join(text.Fleet().chunks(summary)).encode())
    assert words / hosts < 1e6 / 10_000, words / hosts


def test_every_failing_host_is_named_in_a_summary_of_10000(member_report):
    summary = _members(member_report, 10_000)
    out = "".join(text.Fleet().chunks(summary))
    assert len(out.encode()) < 1e6
    assert out.count("\n  hv-") == 1_000  # every tenth host fails, each on its own line
    assert summary.verdicts[Status.FAIL] == 1_000


def test_ndjson_and_json_stream_each_host_as_it_is_added(member_report):
    from auditor.reports import ndjson

    report = ReportLoader().load(member_report)
    lines, document = ndjson.Fleet(), json_report.Fleet()
    member = Member(report, "hv-1")
    lines.add(report, member)
    document.add(report, member)
    assert json.loads("".join(lines.take()))["name"] == "hv-1"
    assert '"name": "hv-1"' in "".join(document.take())


def test_junit_fleet_is_spooled_not_held(member_report):
    report = ReportLoader().load(member_report)
    suites = junit.Fleet()
    for _ in range(3):
        suites.add(report)
    document = "".join(suites.chunks())
    assert document.count("<testsuite ") == 3
    xsd_validate(document)


def _many_checks(report, count: int, status: Status):
    """The report with `count` results of distinct, long check ids, each `status`: what a
    hostile saved report may hold (the schema bounds neither)."""
    from auditor.model import outcome
    from auditor.record import replace

    model = report.results[0]
    results = tuple(
        replace(
            model,
            check=replace(model.check, id=f"hostile.check-{n:05d}-" + "x" * 40),
            outcome=outcome(status, "broken " * 10),
            blocking=True,
        )
        for n in range(count)
    )
    return replace(report, results=results)


def test_hostile_reports_cannot_grow_the_summary_or_the_matrix(member_report):
    """Ten thousand failing hosts with 13 long findings each keep the text summary under
    1 MB (its lists stop and say how many more), and a thousand distinct check ids keep the
    matrix to MATRIX_COLUMNS columns (a cell per host per id would be quadratic)."""
    report = ReportLoader().load(member_report)
    failing = _many_checks(report, 13, Status.FAIL)
    summary = Summary()
    for index in range(10_000):
        summary.add(Member(failing, f"hv-{index:05d}"))
    out = "".join(text.Fleet().chunks(summary))
    assert len(out.encode()) < 1e6
    assert "more (--format ndjson names them all)" in out
    assert out.endswith("10,000 hosts; verdict fail\n")

    wide = _many_checks(report, 1_000, Status.WARN)
    summary = Summary()
    page = html.Fleet(now=0)
    for index in range(20):
        member = Member(wide, f"hv-{index}")
        summary.add(member)
        page.add(wide, member)
    document = "".join(page.chunks(summary))
    matrix = document.split("<h2>Hosts and checks</h2>", 1)[1].split("</table>", 1)[0]
    assert matrix.count('<th class="up">') == html.MATRIX_COLUMNS
    assert f"{1_000 - html.MATRIX_COLUMNS:,} more checks are only in the table below" in matrix


def test_junit_grows_linearly_with_a_hosts_failing_devices(member_report):
    """A device check's case per device carries that device, not the check's message and
    evidence (which name every device): N and 4N failing devices, 4x the document."""
    from auditor.model import DeviceResult, Evidence, outcome
    from auditor.record import replace

    report = ReportLoader().load(member_report)

    def failing(count: int) -> str:
        devices = [
            DeviceResult(f"0000:{n >> 8:02x}:{n & 0xFF:02x}.0", Status.FAIL, "x" * 60)
            for n in range(count)
        ]
        result = replace(
            report.results[0],
            outcome=outcome(
                Status.FAIL,
                "; ".join(f"{d.address} {d.message}" for d in devices),
                [Evidence(f"/sys/kernel/iommu_groups/{n}/devices", "y" * 60) for n in range(count)],
                devices=devices,
            ),
            blocking=True,
        )
        return junit.render(replace(report, results=(result,)))

    small, large = len(failing(500)), len(failing(2000))
    assert large < 5 * small, (small, large)
