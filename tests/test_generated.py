"""Files generated from the code are current: collect.READS, the completions, the README's
check tables. After changing a check or an option: `make generate`, then review the diff."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_no_generated_file_is_stale():
    pytest.importorskip("shtab", minversion="1.7")  # Debian 12's 1.5.5 cannot do subcommands
    done = subprocess.run(
        [sys.executable, str(REPO / "packaging" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_generate_rewrites_a_table_that_went_stale(tmp_path):
    sys.path.insert(0, str(REPO / "packaging"))
    try:
        import generate
    finally:
        sys.path.remove(str(REPO / "packaging"))
    readme = tmp_path / "README.md"
    text = (REPO / "README.md").read_text(encoding="utf-8")
    readme.write_text(text.replace("| `kvm.unsafe-interrupts` | high |", "| `kvm.x` | high |"))
    assert generate.readme(readme.read_text()) == text
