"""One verdict in every format: for every fixture host under every built-in profile (and a
profile that only fails on high severity), the exit code, the JSON summary, the text summary
line, the HTML banner, the JUnit failures and errors, the Nagios state and first line, and the
Prometheus series say the same thing, each read back with a real parser.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from auditor import cli
from auditor.reports import nagios
from tests.conftest import HOSTS
from tests.reports.test_renderers import xsd_validate
from tests.test_cli import validate

PROFILES = ("default", "development", "production", "rhel6", "fail-on-high")
FAIL_ON_HIGH = 'description = "Only high and critical findings count."\nfail_on = "high"\n'
# Exit code -> the verdicts it can stand for (warnings do not change the exit code).
EXIT_VERDICTS = {0: {"pass", "warn"}, 1: {"fail"}, 3: {"error"}}
NAGIOS_STATES = {"pass": "OK", "warn": "WARNING", "fail": "CRITICAL", "error": "UNKNOWN"}
HOSTS_AND_PROFILES = [
    (host.name, profile)
    for host in sorted(HOSTS.iterdir())
    if host.is_dir()
    for profile in PROFILES
]
# Filled by the parametrised test; the last test checks the matrix was not vacuous.
SEEN: dict[str, set] = {"verdicts": set(), "not_counted": set()}


class Banner(HTMLParser):
    """The verdict badge of the page's header."""

    def __init__(self) -> None:
        super().__init__()
        self.in_verdict = False
        self.verdict = ""

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "p" and "verdict" in classes:
            self.in_verdict = True
        elif self.in_verdict and not self.verdict and tag == "span" and "badge" in classes:
            self.verdict = next(c[2:] for c in classes if c.startswith("b-"))

    def handle_endtag(self, tag):
        if tag == "p":
            self.in_verdict = False


def audit(tmp_path: Path, host: str, profile: str, *options: str) -> int:
    if profile == "fail-on-high":
        path = tmp_path / "fail-on-high.toml"
        path.write_text(FAIL_ON_HIGH)
        profile = str(path)
    return cli.main(["audit", "--root", str(HOSTS / host), "--profile", profile, *options])


@pytest.mark.parametrize(("host", "profile"), HOSTS_AND_PROFILES)
def test_every_format_says_the_same(tmp_path, capsys, host, profile):
    from junitparser import Error, Failure, JUnitXml
    from prometheus_client.parser import text_string_to_metric_families

    files = {fmt: tmp_path / f"report.{fmt}" for fmt in ("json", "html", "junit", "prometheus")}
    options = [x for fmt, path in files.items() for x in (f"--{fmt}", str(path))]
    code = audit(tmp_path, host, profile, *options, "--format", "text", "--no-color")
    text = capsys.readouterr().out
    assert code in EXIT_VERDICTS

    # JSON: the verdict, and which results count.
    data = json.loads(files["json"].read_text())
    validate(data)
    verdict = data["summary"]["verdict"]
    assert verdict in EXIT_VERDICTS[code]
    counted = {r["id"]: r["status"] for r in data["results"] if r["blocking"]}
    counted_fail = {i for i, s in counted.items() if s in ("fail", "warn")}
    counted_error = {i for i, s in counted.items() if s == "error"}
    not_counted = {
        r["id"] for r in data["results"] if r["status"] in ("fail", "error") and not r["blocking"]
    }
    assert data["summary"]["not_counted"] == len(not_counted)
    assert (verdict == "fail") == bool(counted_fail)
    assert (verdict == "error") == (not counted_fail and bool(counted_error))
    SEEN["verdicts"].add(verdict)
    SEEN["not_counted"] |= {(profile, i) for i in not_counted}

    # Text: the summary line, and a mark on what is not counted.
    assert text.rstrip("\n").splitlines()[-1].endswith(f": verdict {verdict}")
    marked = {line.split()[1] for line in text.splitlines() if re.match(r"(fail|error)\* ", line)}
    assert marked == not_counted

    # HTML: the header's badge.
    banner = Banner()
    banner.feed(files["html"].read_text())
    assert banner.verdict == verdict

    # JUnit: <failure> exactly for what counts as failing, <error> for what counts as an error.
    document = files["junit"].read_text()
    xsd_validate(document)
    [suite] = list(JUnitXml.fromfile(str(files["junit"])))
    kinds = {type(child) for case in suite for child in case.result}
    # A device check has a case per device, "CHECK ADDRESS": its failures name the check.
    failing = [case.name for case in suite if any(isinstance(r, Failure) for r in case.result)]
    erring = [case.name for case in suite if any(isinstance(r, Error) for r in case.result)]
    failures = {name.split(" ")[0] for name in failing}
    errors = {name.split(" ")[0] for name in erring}
    assert (failures, errors) == (counted_fail, counted_error), kinds
    assert (suite.failures, suite.errors) == (len(failing), len(erring))

    # Prometheus: the verdict series and the counted flag per check.
    families = {f.name: f for f in text_string_to_metric_families(files["prometheus"].read_text())}
    [shown] = [s.labels["verdict"] for s in families["hostaudit_verdict"].samples if s.value]
    assert shown == verdict
    flagged = {s.labels["check"] for s in families["hostaudit_check_counted"].samples if s.value}
    assert flagged == set(counted)

    # Nagios: the plugin's exit code, its state word, and the checks the first line names.
    state = NAGIOS_STATES[verdict]
    codes = {name: code for code, name in nagios.STATE_NAMES.items()}
    assert audit(tmp_path, host, profile, "--format", "nagios") == codes[state]
    output = capsys.readouterr().out
    first, _, perfdata = output.splitlines()[0].partition(" | ")
    assert len(first) < 80 and perfdata
    assert first.startswith(f"HOSTAUDIT {state} - ")
    named = counted_fail if verdict == "fail" else counted_error if verdict == "error" else set()
    if named:
        assert any(check_id in first for check_id in named), first
    for line in output.splitlines()[1:]:
        word = line.split(":")[0]
        if line.startswith(("FAIL ", "ERROR ")) and "(not counted)" not in word:
            assert verdict in ("fail", "error"), f"counted under a {verdict} state: {line}"
            assert word.split()[1] in counted, line


def test_the_matrix_covers_every_verdict_and_uncounted_failures():
    """Run after the matrix (file order): the fixtures reach each verdict, and the
    fail_on = "high" profile leaves some failure uncounted, so the agreement is not vacuous."""
    if len(SEEN["verdicts"]) == 0:
        pytest.skip("run with the matrix above")
    assert SEEN["verdicts"] >= {"pass", "warn", "fail", "error"}
    assert any(profile == "fail-on-high" for profile, _ in SEEN["not_counted"])
