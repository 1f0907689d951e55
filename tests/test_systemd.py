"""contrib/systemd: the units parse cleanly, are hardened as promised, and their command
writes the JSON and Prometheus reports."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import HOSTS

UNITS = Path(__file__).parents[1] / "contrib" / "systemd"


def directives(unit: Path) -> dict[str, list[str]]:
    return directives_of(unit.read_text())


def directives_of(text: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            values.setdefault(key.strip(), []).append(value.strip())
    return values


# --man=no: Documentation=man:hostaudit(1) is installed by the packages, not by pip;
# tests/packaging/test_deb.py verifies the units as installed, man page and all.


def verify(analyze: str, folder: Path, env: dict[str, str] | None = None) -> None:
    """systemd-analyze verify on the service and timer in `folder`: no warning at all."""
    done = subprocess.run(
        [
            analyze,
            "verify",
            "--man=no",
            str(folder / "hostaudit.service"),
            str(folder / "hostaudit.timer"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    # verify exits 0 even for unknown keys or bad values; the warnings are the verdict.
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done.stderr


def test_units_verify_without_a_warning(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The packages install /usr/bin/hostaudit (tests/packaging/test_deb.py verifies the unit
    # as installed); here the hostaudit running the suite stands in for it.
    hostaudit = Path(sys.executable).parent / "hostaudit"
    service = (UNITS / "hostaudit.service").read_text()
    (tmp_path / "hostaudit.service").write_text(
        service.replace("/usr/bin/hostaudit", str(hostaudit))
    )
    shutil.copy(UNITS / "hostaudit.timer", tmp_path)
    verify(analyze, tmp_path)


def test_the_service_is_hardened_as_documented():
    unit = directives(UNITS / "hostaudit.service")
    assert unit["PrivateNetwork"] == ["yes"] and unit["IPAddressDeny"] == ["any"]
    assert unit["ProtectSystem"] == ["strict"] and unit["StateDirectory"] == ["hostaudit"]
    assert unit["Nice"] == ["19"] and unit["IOSchedulingClass"] == ["idle"]
    assert unit["NoNewPrivileges"] == ["yes"]
    assert unit["SuccessExitStatus"] == ["1 3"]
    # A oneshot has no start timeout by default: bound its time and memory.
    assert unit["TimeoutStartSec"] == ["15min"] and unit["MemoryMax"] == ["512M"]
    assert unit["UMask"] == ["0027"]
    # The kernel log is read from /dev/kmsg: these would hide it.
    assert "ProtectKernelLogs" not in unit and "PrivateDevices" not in unit
    timer = directives(UNITS / "hostaudit.timer")
    assert timer["OnCalendar"] == ["daily"] and timer["Persistent"] == ["true"]


def test_the_service_command_writes_json_and_prometheus(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    (command,) = directives(UNITS / "hostaudit.service")["ExecStart"]
    argv = shlex.split(command.replace("/var/lib/hostaudit", str(tmp_path)))
    argv[0] = str(Path(sys.executable).parent / "hostaudit")
    (umask,) = directives(UNITS / "hostaudit.service")["UMask"]
    done = subprocess.run(
        [*argv, "--root", str(HOSTS / "unsafe-interrupts")],
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(int(umask, 8)),
    )
    assert done.returncode == 1, done.stderr  # a check fails: a result, not a service failure
    # The report (command line, devices, guests) is root's; the metrics are node_exporter's.
    assert oct((tmp_path / "report.json").stat().st_mode & 0o777) == "0o640"
    assert oct((tmp_path / "hostaudit.prom").stat().st_mode & 0o777) == "0o644"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"]["fail"] >= 1
    families = {
        f.name for f in text_string_to_metric_families((tmp_path / "hostaudit.prom").read_text())
    }
    assert "hostaudit_check_status" in families
    assert done.stdout.startswith("hostaudit")  # --quiet still speaks when something fails


def _readme_drop_in() -> str:
    readme = (UNITS.parents[1] / "README.md").read_text()
    block = readme.split("# /etc/systemd/system/hostaudit.service.d/pipx.conf\n", 1)[1]
    return textwrap.dedent(block.split("```", 1)[0])


def test_the_units_run_the_packaged_path():
    (command,) = directives(UNITS / "hostaudit.service")["ExecStart"]
    assert command.startswith("/usr/bin/hostaudit audit ")


def test_the_readme_drop_in_runs_the_same_command_from_pipx(tmp_path):
    """The pip/pipx install is served by the README's drop-in, not by editing the unit."""
    drop_in = directives_of(_readme_drop_in())
    (command,) = directives(UNITS / "hostaudit.service")["ExecStart"]
    assert drop_in["ExecStart"] == ["", command.replace("/usr/bin/", "/usr/local/bin/")]
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The unit as shipped plus the drop-in, found where systemd looks for drop-ins.
    shutil.copy(UNITS / "hostaudit.service", tmp_path)
    shutil.copy(UNITS / "hostaudit.timer", tmp_path)
    (tmp_path / "hostaudit.service.d").mkdir()
    hostaudit = Path(sys.executable).parent / "hostaudit"  # stands in for /usr/local/bin's
    (tmp_path / "hostaudit.service.d" / "pipx.conf").write_text(
        _readme_drop_in().replace("/usr/local/bin/hostaudit", str(hostaudit))
    )
    verify(analyze, tmp_path, env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"})


def _unit_capabilities() -> list[str]:
    """The service's capability bounding set, as setpriv names capabilities."""
    (value,) = directives(UNITS / "hostaudit.service")["CapabilityBoundingSet"]
    return [name.lower().removeprefix("cap_") for name in value.split()]


def _python_as(capabilities: list[str] | None, *args: str) -> str:
    """The output of `python ARGS` as root, limited to `capabilities` the way systemd limits
    the service (its bounding set, no new privileges); None: root with every capability."""
    command = [sys.executable, *args]
    if capabilities is not None:
        bounding = ",".join(["-all", *(f"+{name}" for name in capabilities)])
        command = [
            "setpriv",
            "--no-new-privs",
            f"--bounding-set={bounding}",
            "--inh-caps=-all",
            "--",
            *command,
        ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120).stdout


CONFIG_SIZES = (
    "import glob, json; from auditor.host import Host; host = Host('/');"
    "print(json.dumps({p: len(host.read_bytes(p)) for p in glob.glob('/sys/bus/pci/devices/*/config')}))"
)


@pytest.mark.live
@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv (util-linux)"
)
def test_the_unit_capabilities_see_what_root_sees():
    """Under exactly the unit's capabilities, the audit gives root's verdicts and device table,
    and PCI configuration space reads whole, not the 64 bytes other readers get."""
    unit = _unit_capabilities()
    strip = lambda report: [(r["id"], r["status"], r["message"]) for r in report["results"]]  # noqa: E731
    audits = [
        json.loads(_python_as(caps, "-m", "auditor", "audit", "--format", "json"))
        for caps in (None, unit)
    ]
    assert strip(audits[0]) == strip(audits[1])
    tables = [
        json.loads(_python_as(caps, "-m", "auditor", "devices", "--format", "json"))
        for caps in (None, unit)
    ]
    assert tables[0] == tables[1]
    as_root, as_unit = (json.loads(_python_as(caps, "-c", CONFIG_SIZES)) for caps in (None, unit))
    assert as_root == as_unit
    if as_root:
        assert any(size > 64 for size in as_root.values())
        # Without CAP_SYS_ADMIN the kernel gives the header only: what the unit must avoid.
        without = [cap for cap in unit if cap != "sys_admin"]
        assert set(json.loads(_python_as(without, "-c", CONFIG_SIZES)).values()) == {64}
