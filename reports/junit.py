"""JUnit XML for CI servers, valid for the strict Windy Road JUnit.xsd.

Mapping (one <testsuite> per host, one <testcase> per check, and for a device check one per
device, "CHECK ADDRESS", so that CI names the GPU that failed), by what each result counts
as under the profile (Result.counted_as), so that CI agrees with the exit code:
  counts as fail  -> <failure message=... type=severity>, text: message, evidence, remediation
                     (a failure at or above fail_on, or a warning the profile makes fail)
  counts as error -> <error message=... type=severity>, same text
  skip            -> <skipped message=reason>
  waived          -> <skipped message=the waiver's justification and expiry>
  anything else   -> no child (the strict schema allows none): passes, warnings, and failures
                     and errors the profile does not count, listed in <system-out>
A stale report (not read recently enough, or not reached) adds a testcase `report-is-current`
with an <error>, and its results, which say what the host was, not what it is, are each
<skipped> ("not current: fail when read at ..."): the <error> is the suite's only verdict,
as the exit code has it. The suite's timestamp is when the host was read.
The schema requires <properties>, <system-out>, <system-err>, a `timestamp` without time zone
and `hostname` on every suite, and `package` and `id` on suites inside <testsuites>.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from auditor.escape import xml_text
from auditor.model import DeviceResult, Report, Result, Status

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from auditor.fleet import Member


def render(report: Report) -> str:
    """One host's report as a JUnit document, every passing check's evidence included."""
    suites = Fleet(brief=False)
    suites.add(report)
    return "".join(suites.chunks())


def render_fleet(reports: Sequence[Report]) -> str:
    """Several hosts' reports as one JUnit document, a testsuite per host."""
    suites = Fleet()
    for report in reports:
        suites.add(report)
    return "".join(suites.chunks())


class Fleet:
    """A JUnit document built one report at a time: each testsuite is serialised when its
    report is added, indented as ET.indent() indents it inside <testsuites>, and spooled
    (auditor.fleet.Spool), so that 10,000 hosts do not sit in memory. `brief` (a fleet):
    <system-out> holds the host, notices and one line per warning, not every passing
    check's evidence, which each host's own report has."""

    def __init__(self, brief: bool = True) -> None:
        from auditor.fleet import Spool

        self.brief = brief
        self.spool = Spool()
        self.spool.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>')
        self.count = 0

    def add(self, report: Report, member: Member | None = None) -> None:
        """One host's suite, named by its fleet name where a fleet gives one."""
        name = member.name if member is not None else report.host.hostname
        suite = _suite(report, self.count, self.brief, name)
        self.count += 1
        ET.indent(suite, level=1)
        self.spool.write("\n  " + ET.tostring(suite, encoding="unicode"))

    def chunks(self, summary: object = None) -> Iterator[str]:
        """The document, in pieces to write one after the other."""
        self.spool.write("\n</testsuites>\n")
        return self.spool.chunks()


def _suite(report: Report, index: int, brief: bool, name: str) -> ET.Element:
    hostname = xml_text(name) or "localhost"
    stale = bool(report.stale)
    since = report.when_collected if stale else ""
    cases = [case for result in report.results for case in _cases(hostname, result, since)]
    kinds = [case[0].tag if len(case) else "" for case in cases]
    suite = ET.Element(
        "testsuite",
        {
            "name": hostname,
            "package": hostname,
            "id": str(index),
            "hostname": xml_text(report.host.hostname) or "localhost",
            # When the host was read. The schema's pattern has no time zone; ours are UTC.
            "timestamp": report.when_collected[:19],
            "tests": str(len(cases) + stale),
            "failures": str(kinds.count("failure")),
            "errors": str(kinds.count("error") + stale),
            "skipped": str(kinds.count("skipped")),
            "time": f"{report.duration_s:.6f}",
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("hostaudit.version", report.tool_version),
        ("hostaudit.profile", report.profile),
        ("hostaudit.verdict", report.verdict().value),
        ("hostaudit.judged", report.judged()),
        ("host.kernel_release", report.host.kernel_release),
        ("host.root", report.host.root),
        ("started_at", report.started_at),
        ("collected_at", report.read_at),
        *((("hostaudit.stale", report.stale),) if report.stale else ()),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": xml_text(value)})
    if report.stale:
        case = ET.SubElement(
            suite,
            "testcase",
            {"name": "report-is-current", "classname": f"{hostname}.hostaudit", "time": "0"},
        )
        message = xml_text(f"stale: {report.stale}")
        ET.SubElement(case, "error", {"message": message, "type": "stale"}).text = message
    suite.extend(cases)
    ET.SubElement(suite, "system-out").text = xml_text(_system_out(report, brief))
    ET.SubElement(suite, "system-err").text = ""
    return suite


def _cases(hostname: str, result: Result, stale_since: str) -> list[ET.Element]:
    """A check's testcases: one per device for a device check (named "CHECK ADDRESS", so
    that CI names the GPU that failed), plus the check's own where its verdict rests on
    no device; one for any other check. `stale_since`: when a stale report's host was
    read, else ""."""
    devices = result.outcome.devices
    if not devices or stale_since:
        return [_case(hostname, result, stale_since)]
    cases = [_device_case(hostname, result, device) for device in devices]
    if result.counted_as in (Status.FAIL, Status.ERROR) and not any(len(c) for c in cases):
        cases.insert(0, _case(hostname, result, stale_since))
    return cases


def _device_case(hostname: str, result: Result, device: DeviceResult) -> ET.Element:
    """One device's testcase: a failure or error where the device's own status is one
    and the result counts (Result.blocking); a warning only where the profile makes the
    check's warnings fail; skipped when the result is waived."""
    check = result.check
    case = ET.Element(
        "testcase",
        {
            "name": f"{check.id} {xml_text(device.address)}",
            "classname": f"{hostname}.{check.group}",
            "time": "0",
        },
    )
    message = xml_text(f"{device.address}: {device.message}")
    if result.status is Status.WAIVED:
        ET.SubElement(case, "skipped", {"message": xml_text(result.outcome.message)})
    elif device.status is Status.WAIVED:  # this device's finding waived, others not
        ET.SubElement(case, "skipped", {"message": message})
    elif result.blocking and (
        device.status in (Status.FAIL, Status.ERROR)
        or (device.status is Status.WARN and result.status is Status.WARN)
    ):
        element = "error" if device.status is Status.ERROR else "failure"
        child = ET.SubElement(case, element, {"message": message, "type": check.severity.label})
        child.text = xml_text(_details(result, device))
    return case


def _case(hostname: str, result: Result, stale_since: str) -> ET.Element:
    """One check's testcase; `stale_since`: when a stale report's host was read, else ""."""
    check = result.check
    case = ET.Element(
        "testcase",
        {
            "name": check.id,
            "classname": f"{hostname}.{check.group}",
            "time": f"{result.duration_s:.6f}",
        },
    )
    message = xml_text(result.outcome.message)
    counted = result.counted_as
    if stale_since:
        message = xml_text(
            f"not current: {result.status.value} when read at {stale_since}: "
            + result.outcome.message
        )
        ET.SubElement(case, "skipped", {"message": message})
    elif counted in (Status.FAIL, Status.ERROR):
        element = "failure" if counted is Status.FAIL else "error"
        child = ET.SubElement(case, element, {"message": message, "type": check.severity.label})
        child.text = xml_text(_details(result))
    elif result.status in (Status.SKIP, Status.WAIVED):
        ET.SubElement(case, "skipped", {"message": message})
    return case


# A device's case names the check's remediation steps up to this many characters.
DEVICE_STEPS_CHARS = 1000


def _details(result: Result, device: DeviceResult | None = None) -> str:
    """What CI servers show for a failure: the message, evidence, devices, remediation.
    One device's case holds that device and the first remediation steps only: the check's
    message, evidence and steps name every device, and repeating them in each device's
    case would grow with the square of the devices (4,000 functions: gigabytes). The
    whole of it is in <system-out> once (single-host documents) and in the host's report."""
    outcome = result.outcome
    if device is not None:
        lines = [f"{device.address}: {device.status.value}: {device.message}"]
        steps, room = [], DEVICE_STEPS_CHARS
        for step in result.remediation:
            room -= len(step)
            if room < 0:
                steps.append("(more in the host's report)")
                break
            steps.append(step)
        if steps:
            lines += ["remediation:"] + [f"  - {step}" for step in steps]
        return "\n".join(lines)
    lines = [outcome.message]
    lines += [f"  {d.address}: {d.status.value}: {d.message}" for d in outcome.devices]
    if outcome.evidence:
        lines += ["evidence:"] + [f"  {e.source}: {e.value}" for e in outcome.evidence]
    if result.remediation:
        lines += ["remediation:"] + [f"  - {step}" for step in result.remediation]
    return "\n".join(lines)


def _system_out(report: Report, brief: bool) -> str:
    """Everything the test cases cannot hold: the host, warnings, and passing checks'
    evidence; `brief`: warnings in one line each, no passing check's evidence."""
    host = report.host
    lines = [
        f"hostaudit {report.tool_version} audit of {host.hostname} (kernel {host.kernel_release}, "
        f"root {host.root}, profile {report.profile}) started {report.started_at}, "
        f"{'host read ' + report.when_collected if report.collected else 'host not read'}: "
        f"verdict {report.verdict().value}",
    ]
    if report.stale:
        lines.append(f"stale: {report.stale}")
    lines += [f"notice: {notice}" for notice in report.notices]
    for result in report.results:
        if result.counted_as is Status.WARN:  # warnings, and what the profile does not count
            how = "not counted" if result.not_counted else "counted as a pass"
            text = result.outcome.message if brief else _details(result)
            lines += ["", f"[{result.status.value}] {result.check.id} ({how}): " + text]
    if brief:
        return "\n".join(lines) + "\n"
    for result in report.results:  # device checks' failures: their devices have the cases
        if result.outcome.devices and result.counted_as in (Status.FAIL, Status.ERROR):
            lines += ["", f"[{result.status.value}] {result.check.id}: " + _details(result)]
    for result in report.results:
        if result.status is Status.PASS:
            lines += ["", f"[pass] {result.check.id}: " + _details(result)]
    return "\n".join(lines) + "\n"
