"""Every renderer against a fixed in-memory report: the full expected output, then real consumers.

The expected files under expected/ are the reviewed output; after a deliberate change, rewrite
them with HOSTAUDIT_REGENERATE=1 and review the diff before committing it.
"""

from __future__ import annotations

import json
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from auditor.errors import ReportError
from auditor.model import Status
from auditor.record import replace
from auditor.reports import html, junit, nagios, prometheus, text
from auditor.reports import json as json_report
from auditor.saved import ReportLoader
from tests.conftest import FIXTURES
from tests.reports.sample import (
    HOSTILE,
    NOW,
    old_report,
    passing_report,
    sample_report,
    stale_report,
)

EXPECTED = Path(__file__).parent / "expected"
XSD = FIXTURES / "junit" / "JUnit.xsd"


def expect(name: str, actual: str) -> None:
    path = EXPECTED / name
    if os.environ.get("HOSTAUDIT_REGENERATE"):
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


FLEET = lambda: [sample_report(), passing_report(), old_report(), stale_report()]  # noqa: E731
RENDERINGS = {
    "sample.txt": lambda: text.render(sample_report()),
    "sample.json": lambda: json_report.render(sample_report()),
    "sample.html": lambda: html.render(sample_report(), now=NOW),
    "fleet.html": lambda: html.render_fleet(FLEET(), now=NOW),
    "sample.xml": lambda: junit.render(sample_report()),
    "fleet.xml": lambda: junit.render_fleet(FLEET()),
    "sample.prom": lambda: prometheus.render(sample_report()),
    "sample.nagios": lambda: nagios.render(sample_report()),
}


@pytest.mark.parametrize("name", sorted(RENDERINGS))
def test_full_expected_output(name):
    expect(name, RENDERINGS[name]())


# --- JSON ----------------------------------------------------------------------------------


def test_json_validates_and_round_trips():
    loader = ReportLoader()
    written = json_report.render(sample_report())
    again = loader.parse(json.loads(written))
    assert json_report.render(again) == written
    assert again.results[1].outcome.devices[0].status is Status.FAIL


def test_json_schema_is_draft_07_and_versioned():
    schema = json.loads(json_report.schema_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert json_report.SCHEMA_VERSION.split(".")[0] == "1"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("results"), "at (top level): 'results' is a required property"),
        (
            lambda d: d["results"][0].update(status="maybe"),
            "at results/0/status: 'maybe' is not one of",
        ),
        (
            lambda d: d.update(schema_version="1.99.0"),
            "written with schema 1.99.0, newer than this",
        ),
        (lambda d: d.update(schema_version="2.0.0"), "at schema_version: '2.0.0' does not match"),
    ],
)
def test_invalid_reports_are_refused_with_the_place(mutate, message):
    data = json.loads(json_report.render(sample_report()))
    mutate(data)
    with pytest.raises(ReportError) as caught:
        ReportLoader().parse(data, "r.json")
    assert str(caught.value).startswith("r.json: ")
    assert message in str(caught.value)


def test_loading_a_file_that_is_not_json(tmp_path):

    path = tmp_path / "r.json"
    path.write_bytes(b"\x00\xffnot json")
    with pytest.raises(ReportError, match=r"r\.json: not JSON"):
        ReportLoader().load(str(path))
    with pytest.raises(ReportError, match="No such file"):
        ReportLoader().load(str(tmp_path / "missing.json"))


# --- JUnit ---------------------------------------------------------------------------------


def xsd_validate(document: str) -> None:
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(XSD)))
    tree = etree.fromstring(document.encode("utf-8"))
    assert schema.validate(tree), schema.error_log


@pytest.mark.parametrize("warn_fails", [False, True])
def test_junit_is_valid_for_the_strict_xsd_and_counts_match(tmp_path, warn_fails):
    from junitparser import JUnitXml

    reports = FLEET()
    if warn_fails:  # as a profile with warn_fails = true marks them
        reports[0] = replace(
            reports[0],
            results=tuple(
                replace(r, blocking=True) if r.status is Status.WARN else r
                for r in reports[0].results
            ),
        )
    document = junit.render_fleet(reports)
    xsd_validate(document)
    path = tmp_path / "junit.xml"
    path.write_text(document, encoding="utf-8")
    suites = list(JUnitXml.fromfile(str(path)))
    assert [suite.name for suite in suites] == [r.host.hostname for r in reports]
    for index, (suite, report) in enumerate(zip(suites, reports)):
        summary = report.summary()
        counted = [r for r in report.results if r.blocking]
        failures = sum(r.status is not Status.ERROR for r in counted)
        assert failures == summary["fail"] - len(report.not_counted()) + (
            summary["warn"] if warn_fails and index == 0 else 0
        )
        cases = list(suite)
        kinds = [type(case.result[0]).__name__ if case.result else "" for case in cases]
        counts = (len(cases), kinds.count("Failure"), kinds.count("Error"), kinds.count("Skipped"))
        assert (suite.tests, suite.failures, suite.errors, suite.skipped) == counts
        if report.stale:  # one <error>, report-is-current; the results are not current
            assert counts == (len(report.results) + 1, 0, 1, len(report.results))
            continue
        # The failing checks, by name; a device check is a case per device, "CHECK ADDRESS",
        # in the order of its devices, and fails where its failing devices do.
        failing = {c.name.split(" ")[0] for c, k in zip(cases, kinds) if k == "Failure"}
        assert len(failing) == failures
        assert failing == {r.check.id for r in counted if r.status is not Status.ERROR}
        names = [case.name for case in cases]
        for result in report.results:
            if result.outcome.devices:
                assert [n for n in names if n.startswith(result.check.id + " ")] == [
                    f"{result.check.id} {d.address}" for d in result.outcome.devices
                ]
            else:
                assert result.check.id in names


def test_junit_replaces_characters_xml_cannot_carry():
    document = junit.render(sample_report())
    assert "\x00" not in document and "\x1b" not in document
    assert "\\x1b[31mred\\x00" in document
    xsd_validate(document)


# --- Prometheus ----------------------------------------------------------------------------


def test_prometheus_parses_with_the_real_parser():
    from prometheus_client.parser import text_string_to_metric_families

    families = {
        f.name: f for f in text_string_to_metric_families(prometheus.render(sample_report()))
    }
    status = {
        (s.labels["check"], s.labels["status"]): s.value
        for s in families["hostaudit_check_status"].samples
    }
    assert status[("iommu.group-isolation", "fail")] == 1
    assert status[("iommu.group-isolation", "pass")] == 0
    assert len(status) == len(sample_report().results) * len(Status)
    counts = {s.labels["status"]: s.value for s in families["hostaudit_checks"].samples}
    assert counts == {k: float(v) for k, v in sample_report().summary().items()}
    assert all(s.timestamp is None for f in families.values() for s in f.samples)
    assert families["hostaudit_last_run_timestamp_seconds"].samples[0].value == 1795509000


def test_prometheus_escapes_label_values():
    from prometheus_client.parser import text_string_to_metric_families

    report = sample_report()
    hostile = type(report)(
        report.tool_version, report.host, report.started_at, 0.1, report.results, 'p"\\\nq'
    )
    [info] = [
        f
        for f in text_string_to_metric_families(prometheus.render(hostile))
        if f.name == "hostaudit_info"
    ]
    assert info.samples[0].labels["profile"] == 'p"\\\nq'


# --- Nagios --------------------------------------------------------------------------------


def test_nagios_first_line_and_exit_codes():
    first = nagios.render(sample_report()).splitlines()[0]
    assert len(first) < 80 and " | " in first
    assert nagios.exit_code(sample_report()) == nagios.CRITICAL
    assert nagios.exit_code(passing_report()) == nagios.OK
    assert first.startswith("HOSTAUDIT CRITICAL - iommu.group-isolation | ")
    total = len(passing_report().results)
    assert nagios.render(passing_report()).startswith(
        f"HOSTAUDIT OK - {total} of {total} checks judged, none failing | "
    )


def test_nagios_ok_names_what_it_could_not_judge():
    """A pass of a few checks is no plain OK: the first line names the rest."""
    report = passing_report()
    skipped = [
        replace(r, outcome=replace(r.outcome, status=Status.SKIP, message="cannot tell"))
        for r in report.results[:3]
    ]
    report = replace(report, results=(*skipped, *report.results[3:]))
    first = nagios.render(report).splitlines()[0]
    assert nagios.exit_code(report) == nagios.OK
    ids = ", ".join(r.check.id for r in skipped)
    total = len(report.results)
    assert first.startswith(f"HOSTAUDIT OK - {total - 3} of {total} judged; not judged: ")
    assert len(first.split(" | ")[0]) <= nagios.MAX_LINE
    assert ids.split(", ")[0] in first


# --- HTML ----------------------------------------------------------------------------------


class PageParser(HTMLParser):
    """Collects what a browser would see: tags, attributes, text and the style sheet."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.in_style = False
        self.style = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.in_style = tag == "style"

    def handle_endtag(self, tag):
        self.in_style = False

    def handle_data(self, data):
        if self.in_style:
            self.style += data
        else:
            self.text.append(data)


def matrix_rows(page: str) -> list[str]:
    """The host cells of the fleet page's matrix, one per host."""
    import re

    matrix = page.split("<h2>Hosts and checks</h2>", 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr><th>(.*?)</th>", matrix)[1:]  # the first row is the heading


def parse_page(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser


@pytest.mark.parametrize(
    "page", [html.render(sample_report()), html.render_fleet([sample_report(), passing_report()])]
)
def test_html_is_self_contained_and_escapes_host_strings(page):
    parsed = parse_page(page)
    tags = [tag for tag, _ in parsed.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "action", "data"):
            value = attrs.get(name)
            assert value is None or value.startswith("#"), (tag, attrs)
    assert "url(" not in parsed.style and "@import" not in parsed.style
    # The hostile device name is text on the page, never markup; controls are shown, not sent.
    assert HOSTILE.replace("\x1b", "\\x1b").replace("\x00", "\\x00") in "".join(parsed.text)
    assert "\x00" not in page and "\x1b" not in page
    assert "<script>" not in page


def test_html_lists_failures_first_and_can_filter_without_scripts():
    page = html.render(sample_report())
    order = [
        page.index(f'class="results s-{s}"') for s in ("fail", "error", "warn", "skip", "pass")
    ]
    assert order == sorted(order)
    assert "#show-fail:checked ~ main .results:not(.s-fail)" in page
    assert "@media print" in page


def test_html_fleet_has_a_matrix_row_per_host():
    page = html.render_fleet([sample_report(), passing_report()])
    rows = matrix_rows(page)
    assert len(rows) == 2 and rows[0].startswith('<a href="#h0">')  # failing first, linked
    assert 'id="h0"' in page and 'id="h1"' not in page  # details only for what does not pass
    assert "1 of 2 hosts fail" in page
