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


def test_fleet_playbook_reports_what_each_host_audit_says(tmp_path):
    playbook = BIN / "ansible-playbook"
    if not playbook.exists():
        pytest.skip("ansible-core is not installed here (the test extra installs it on 3.11+)")
    hostaudit = BIN / "hostaudit"
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(
        "[hypervisors]\n"
        + "".join(
            f"{name} hostaudit_root={HOSTS / root} hostaudit_mode={mode}\n"
            for name, (root, mode) in FLEET.items()
        )
        + f"\n[hypervisors:vars]\nansible_connection=local\nansible_python_interpreter={sys.executable}\n"
        f"hostaudit_python={sys.executable}\n"
    )
    dest = tmp_path / "fleet"
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
            f"hostaudit_command={hostaudit}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert sorted(p.name for p in (dest / "snapshots").iterdir()) == sorted(
        f"{name}.tar.gz" for name, (_, mode) in FLEET.items() if mode == "collector"
    )
    assert sorted(p.name for p in (dest / "reports").iterdir()) == sorted(
        f"{n}.json" for n in FLEET
    )

    # Per host: the fleet's JSON says what that host's own audit says.
    for name, (root, _) in FLEET.items():
        fetched = json.loads((dest / "reports" / f"{name}.json").read_text())
        own = json.loads(run_cli("audit", "--root", str(HOSTS / root), "--format", "json").stdout)
        assert [(r["id"], r["status"], r["message"]) for r in fetched["results"]] == [
            (r["id"], r["status"], r["message"]) for r in own["results"]
        ], name
        assert fetched["host"]["hostname"] == own["host"]["hostname"]

    # The JUnit fleet report carries every host, with each host's failures.
    from junitparser import JUnitXml

    suites = {suite.name: suite for suite in JUnitXml.fromfile(str(dest / "fleet.xml"))}
    for name, (root, _) in FLEET.items():
        own = json.loads(run_cli("audit", "--root", str(HOSTS / root), "--format", "json").stdout)
        suite = suites[own["host"]["hostname"]]
        assert suite.failures == own["summary"]["fail"], name
    html = (dest / "fleet.html").read_text()
    assert all(
        json.loads((dest / "reports" / f"{n}.json").read_text())["host"]["hostname"] in html
        for n in FLEET
    )
    assert "Traceback" not in done.stdout
    shutil.rmtree(tmp_path / "ansible-tmp", ignore_errors=True)
