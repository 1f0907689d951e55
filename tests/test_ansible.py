"""The contrib/ansible fleet playbook, run for real by ansible-core: several hosts on the
local connection, each pointed at a different fixture root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HOSTS
from tests.test_cli import run_cli

PLAYBOOK = Path(__file__).parents[1] / "contrib" / "ansible" / "hostaudit-fleet.yml"
BIN = Path(sys.executable).parent
# inventory name -> (fixture root, mode)
FLEET = {
    "hv-intel": ("intel-ready", "collector"),
    "hv-amd": ("amd-ready", "collector"),
    "hv-unsafe": ("unsafe-interrupts", "collector"),
    "hv-shared": ("gpu-shares-group-with-usb", "installed"),
}


def run_playbook(
    tmp_path: Path,
    dest: Path,
    fleet: dict[str, tuple[str, str]],
    extra: str = "",
    command: Path = BIN / "hostaudit",
):
    """Run the playbook on `fleet` (inventory name -> (fixture root, mode)), each host on
    the local connection; mode "unreachable" makes a host Ansible cannot connect to."""
    playbook = BIN / "ansible-playbook"
    if not playbook.exists():
        pytest.skip("ansible-core is not installed here (the test extra installs it on 3.11+)")
    lines = []
    for name, (root, mode) in fleet.items():
        if mode == "unreachable":  # its temporary folder cannot be made: Ansible's UNREACHABLE
            lines.append(f"{name} ansible_remote_tmp=/dev/null/cannot-be-made")
        else:
            lines.append(f"{name} hostaudit_root={HOSTS / root} hostaudit_mode={mode}")
    # become: true is the playbook's default. As root, `su` becomes root without a password
    # (sudo is not installed everywhere); other users cannot become root here, so they turn
    # it off, as an operator auditing a lab as themselves would.
    become = "ansible_become_method=su" if os.geteuid() == 0 else "hostaudit_become=false"
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(
        "[hypervisors]\n"
        + "".join(line + "\n" for line in lines)
        + f"\n[hypervisors:vars]\nansible_connection=local\nansible_python_interpreter={sys.executable}\n"
        f"hostaudit_python={sys.executable}\n{become}\n{extra}"
    )
    env = dict(
        os.environ,
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_REMOTE_TEMP=str(tmp_path / "ansible-remote-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
    )
    done = subprocess.run(
        [
            str(playbook),
            "-i",
            str(inventory),
            str(PLAYBOOK),
            "-e",
            f"hostaudit_dest={dest}",
            "-e",
            f"hostaudit_command={command}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    shutil.rmtree(tmp_path / "ansible-tmp", ignore_errors=True)
    assert "Traceback" not in done.stdout
    runs = sorted((dest / "runs").iterdir())
    return done, runs[-1]


def own_audit(root: str) -> dict:
    return json.loads(run_cli("audit", "--root", str(HOSTS / root), "--format", "json").stdout)


def test_fleet_playbook_reports_what_each_host_audit_says(tmp_path):
    dest = tmp_path / "fleet"
    done, run = run_playbook(tmp_path, dest, FLEET)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == sorted(
        f"{name}.tar.gz" for name, (_, mode) in FLEET.items() if mode == "collector"
    )
    assert sorted(p.name for p in (run / "reports").iterdir()) == sorted(f"{n}.json" for n in FLEET)

    # Per host: the fleet's JSON says what that host's own audit says.
    for name, (root, _) in FLEET.items():
        fetched = json.loads((run / "reports" / f"{name}.json").read_text())
        own = own_audit(root)
        assert [(r["id"], r["status"], r["message"]) for r in fetched["results"]] == [
            (r["id"], r["status"], r["message"]) for r in own["results"]
        ], name
        assert fetched["host"]["hostname"] == own["host"]["hostname"]
        assert "stale" not in fetched and fetched["collected_at"] is not None

    # The JUnit fleet report carries every host, with each host's counted failures, and is
    # the latest run's.
    from junitparser import Failure, JUnitXml

    assert (dest / "fleet.xml").read_bytes() == (run / "fleet.xml").read_bytes()
    suites = {suite.name: suite for suite in JUnitXml.fromfile(str(dest / "fleet.xml"))}
    assert len(suites) == len(FLEET)
    for name, (root, _) in FLEET.items():
        own = own_audit(root)
        suite = suites[name]  # each host under its inventory name, reached or not
        assert suite.hostname == own["host"]["hostname"]
        # A device check has a case per device ("CHECK ADDRESS").
        failing = {
            case.name.split(" ")[0]
            for case in suite
            if isinstance(next(iter(case.result), None), Failure)
        }
        assert failing == {
            r["id"] for r in own["results"] if r["blocking"] and r["status"] != "error"
        }, name
    html = (dest / "fleet.html").read_text()
    assert all(
        json.loads((run / "reports" / f"{n}.json").read_text())["host"]["hostname"] in html
        for n in FLEET
    )


def test_fleet_playbook_never_shows_an_old_or_missing_host_as_current(tmp_path):
    """Run 1: two hosts read, one unreachable, one whose collection fails. Run 2: one host
    removed from the inventory. Neither run audits anything but what it collected itself."""
    from junitparser import Error, JUnitXml

    dest = tmp_path / "fleet"
    first = {
        "hv-intel": ("intel-ready", "collector"),
        "hv-shared": ("gpu-shares-group-with-usb", "collector"),
        "hv-down": ("", "unreachable"),
        "hv-broken": ("no-such-root", "collector"),
    }
    done, run1 = run_playbook(tmp_path, dest, first)
    # ansible-playbook exits 4 when a host was unreachable; the fleet report is still made.
    assert done.returncode == 4, done.stdout[-4000:] + done.stderr[-2000:]
    assert "unreachable=1" in done.stdout
    suites = {suite.name: suite for suite in JUnitXml.fromfile(str(dest / "fleet.xml"))}
    assert set(suites) == set(first)  # one name per host: its inventory name
    reasons = {}
    for name in ("hv-down", "hv-broken"):
        [case] = list(suites[name])
        assert case.name == "report-is-current" and isinstance(case.result[0], Error)
        reasons[name] = case.result[0].message
    assert reasons["hv-down"].startswith("stale: unreachable")
    assert reasons["hv-broken"].startswith("stale: Take a snapshot (read-only on the host) failed")
    assert "no-such-root" in reasons["hv-broken"]
    html = (dest / "fleet.html").read_text()
    assert "hv-down" in html and "not read" in html

    # Run 2: hv-shared is gone from the inventory. Its snapshot from run 1 is not audited
    # again, and it is not in the report; run 1's folder is left as it was.
    second = {"hv-intel": first["hv-intel"]}
    before = sorted(p.name for p in (run1 / "reports").iterdir())
    done, run2 = run_playbook(tmp_path, dest, second)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert run2 != run1 and sorted(p.name for p in (run1 / "reports").iterdir()) == before
    assert sorted(p.name for p in (run2 / "snapshots").iterdir()) == ["hv-intel.tar.gz"]
    suites = {suite.name: suite for suite in JUnitXml.fromfile(str(dest / "fleet.xml"))}
    assert list(suites) == ["hv-intel"]
    [suite] = suites.values()
    created = json.loads((run2 / "reports" / "hv-intel.json").read_text())["collected_at"]
    assert suite.timestamp == created[:19]


def test_an_inventory_name_that_climbs_out_writes_nothing_outside(tmp_path):
    """`../../../../escape` would make the fetch write beside the results folder: the name
    is refused and the host listed as not read, with why."""
    dest = tmp_path / "a" / "fleet"
    fleet = {
        "hv-intel": ("intel-ready", "collector"),
        "../../../../escape": ("intel-ready", "collector"),
    }
    done, run = run_playbook(tmp_path, dest, fleet)
    assert not list(tmp_path.rglob("escape*")), done.stdout[-3000:]
    html = (dest / "fleet.html").read_text()
    assert "cannot name a file in the results" in html
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == ["hv-intel.tar.gz"]


def test_a_run_that_cannot_build_its_report_leaves_no_old_one_looking_current(tmp_path):
    dest = tmp_path / "fleet"
    fleet = {"hv-intel": ("intel-ready", "collector")}
    done, _ = run_playbook(tmp_path, dest, fleet)
    assert done.returncode == 0 and (dest / "fleet.xml").exists()
    # The second run's `hostaudit report` fails (exit 2); everything else is the real one.
    wrapper = tmp_path / "hostaudit-report-fails"
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$1" = report ]; then echo "disk full" >&2; exit 2; fi\n'
        f'exec {BIN / "hostaudit"} "$@"\n'
    )
    wrapper.chmod(0o755)
    done, run2 = run_playbook(tmp_path, dest, fleet, command=wrapper)
    assert done.returncode != 0
    page = (dest / "fleet.html").read_text()
    assert "No current fleet report" in page and run2.name in page and "disk full" in page
    assert not (dest / "fleet.xml").exists()
