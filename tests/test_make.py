"""`make audit`, as the README's first command runs it. GNU make exits 2 whenever a recipe
fails, so it cannot pass the audit's 1 or 3 on: the recipe says which code hostaudit gave."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HOSTS

REPO = Path(__file__).parents[1]
VENV = Path(sys.executable).parents[1]


@pytest.mark.parametrize(
    ("host", "make_code", "said"),
    [
        ("intel-ready", 0, ""),
        ("iommu-not-enabled", 2, "make audit: hostaudit exited 1: a check failed"),
        ("symlink-escape", 2, "make audit: hostaudit exited 3: a check could not tell"),
        ("no-such-host", 2, "make audit: hostaudit exited 2: the audit could not run"),
    ],
)
def test_make_audit_says_the_audits_own_code(host, make_code, said):
    if not shutil.which("make") or not (VENV / "bin" / "hostaudit").exists():
        pytest.skip("needs make and hostaudit installed in the running virtual environment")
    args = f"--root {HOSTS / host} --quiet"
    done = subprocess.run(
        # -o: take the virtual environment as installed (this one runs the tests).
        ["make", "-s", "-o", f"{VENV}/.installed", "audit", f"VENV={VENV}", f"ARGS={args}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == make_code, done.stderr
    if said:
        assert said in done.stderr
    else:
        assert "make audit:" not in done.stderr
