"""JUnit XML for CI servers, valid for the strict Windy Road JUnit.xsd.

Mapping (one <testsuite> per host, one <testcase> per check):
  pass, warn  -> no child (the strict schema allows none); warnings are listed in <system-out>,
                 unless the profile says warnings fail: then <failure>
  fail        -> <failure message=... type=severity>, text: message, evidence, remediation
  error       -> <error message=... type=severity>, same text
  skip        -> <skipped message=reason>
  waived      -> <skipped message=the waiver's justification and expiry>
The schema requires <properties>, <system-out>, <system-err>, a `timestamp` without time zone
and `hostname` on every suite, and `package` and `id` on suites inside <testsuites>.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from auditor.escape import xml_text
from auditor.model import Report, Result, Status

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


def render(report: Report) -> str:
    """One host's report as a JUnit document."""
    return render_fleet([report])


def render_fleet(reports: Sequence[Report]) -> str:
    """Several hosts' reports as one JUnit document, a testsuite per host."""
    suites = Fleet()
    for report in reports:
        suites.add(report)
    return "".join(suites.chunks())


class Fleet:
    """A JUnit document built one report at a time: each testsuite is serialised when its
    report is added, indented as ET.indent() indents it inside <testsuites>."""

    def __init__(self) -> None:
        self.suites: list[str] = []

    def add(self, report: Report) -> None:
        suite = _suite(report, len(self.suites))
        ET.indent(suite, level=1)
        self.suites.append(ET.tostring(suite, encoding="unicode"))

    def chunks(self) -> Iterator[str]:
        """The document, in pieces to write one after the other."""
        yield '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>'
        for suite in self.suites:
            yield "\n  " + suite
        yield "\n</testsuites>\n"


def _suite(report: Report, index: int) -> ET.Element:
    hostname = xml_text(report.host.hostname) or "localhost"
    statuses = [result.status for result in report.results]
    suite = ET.Element(
        "testsuite",
        {
            "name": hostname,
            "package": hostname,
            "id": str(index),
            "hostname": hostname,
            # The schema's timestamp pattern has no time zone; ours are UTC.
            "timestamp": report.started_at[:19],
            "tests": str(len(statuses)),
            "failures": str(sum(map(_is_failure, report.results))),
            "errors": str(statuses.count(Status.ERROR)),
            "skipped": str(statuses.count(Status.SKIP) + statuses.count(Status.WAIVED)),
            "time": f"{report.duration_s:.6f}",
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("hostaudit.version", report.tool_version),
        ("hostaudit.profile", report.profile),
        ("hostaudit.verdict", report.verdict().value),
        ("host.kernel_release", report.host.kernel_release),
        ("host.root", report.host.root),
        ("started_at", report.started_at),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": xml_text(value)})
    for result in report.results:
        suite.append(_case(hostname, result))
    ET.SubElement(suite, "system-out").text = xml_text(_system_out(report))
    ET.SubElement(suite, "system-err").text = ""
    return suite


def _is_failure(result: Result) -> bool:
    """A failure, or a warning that blocks (the profile says warnings fail)."""
    return result.status is Status.FAIL or (result.status is Status.WARN and bool(result.blocking))


def _case(hostname: str, result: Result) -> ET.Element:
    check = result.check
    case = ET.Element(
        "testcase",
        {
            "name": check.id,
            "classname": f"{hostname}.{check.group}",
            "time": f"{result.duration_s:.6f}",
        },
    )
    status = result.status
    message = xml_text(result.outcome.message)
    if _is_failure(result):
        child = ET.SubElement(case, "failure", {"message": message, "type": check.severity.label})
        child.text = xml_text(_details(result))
    elif status is Status.ERROR:
        child = ET.SubElement(case, "error", {"message": message, "type": check.severity.label})
        child.text = xml_text(_details(result))
    elif status in (Status.SKIP, Status.WAIVED):
        ET.SubElement(case, "skipped", {"message": message})
    return case


def _details(result: Result) -> str:
    """What CI servers show for a failure: the message, evidence, devices, remediation."""
    outcome = result.outcome
    lines = [outcome.message]
    lines += [f"  {d.address}: {d.status.value}: {d.message}" for d in outcome.devices]
    if outcome.evidence:
        lines += ["evidence:"] + [f"  {e.source}: {e.value}" for e in outcome.evidence]
    if result.remediation:
        lines += ["remediation:"] + [f"  - {step}" for step in result.remediation]
    return "\n".join(lines)


def _system_out(report: Report) -> str:
    """Everything the test cases cannot hold: the host, warnings, and passing checks' evidence."""
    host = report.host
    lines = [
        f"hostaudit {report.tool_version} audit of {host.hostname} (kernel {host.kernel_release}, "
        f"root {host.root}, profile {report.profile}) started {report.started_at}: "
        f"verdict {report.verdict().value}",
    ]
    lines += [f"notice: {notice}" for notice in report.notices]
    for result in report.results:
        if result.status is Status.WARN and not result.blocking:
            lines += ["", f"[warn] {result.check.id} (counted as a pass): " + _details(result)]
    for result in report.results:
        if result.status is Status.PASS:
            lines += ["", f"[pass] {result.check.id}: " + _details(result)]
    return "\n".join(lines) + "\n"
