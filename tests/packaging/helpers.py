"""What the packaging tests share: the checkout, interpreters by version, running a command."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]


def interpreter(version: str) -> str | None:
    """A `pythonX.Y` from pyenv, else from PATH (the Makefile's test-pythons looks the same way)."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))
    return found[-1] if found else shutil.which(f"python{version}")


def run(command: list[str], timeout: int = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run a command, text output captured; a missing tool or a hang fails the test clearly."""
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


def audit_json(command: list[str], *args: str) -> tuple[int, dict]:
    """(exit code, JSON report) of `COMMAND audit ARGS --format json`."""
    done = run([*command, "audit", *args, "--format", "json"], timeout=120)
    assert done.returncode in (0, 1, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def verdicts(report: dict) -> tuple[str, list[tuple[str, str, str]]]:
    """What must be equal between two installs: the verdict and every check's status and
    message (timings, start times and the tool's own path may differ)."""
    return report["summary"]["verdict"], [
        (r["id"], r["status"], r["message"]) for r in report["results"]
    ]


def require_root_apt() -> None:
    """Skip (with the reason printed by -ra) where packages cannot be installed."""
    if os.geteuid() != 0:
        pytest.skip("needs root to install packages with apt-get")
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        pytest.skip("needs apt-get and dpkg (a Debian or Ubuntu machine)")
