"""The sdist holds what every package needs and runs the whole suite once unpacked."""

from __future__ import annotations

import sys
import tarfile

import pytest

from tests.packaging.conftest import unpack
from tests.packaging.helpers import interpreter, run

pytestmark = pytest.mark.packaging


def test_the_sdist_holds_the_sources_of_every_package(sdist):
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for needed in (
        "LICENSE",
        "README.md",
        "Makefile",
        "contrib/systemd/hostaudit.service",
        "contrib/completion/hostaudit.bash",
        "contrib/completion/_hostaudit",
        "contrib/ansible/hostaudit-fleet.yml",
        "docs/report.png",
        "debian/rules",
        "packaging/hostaudit.spec",
        "packaging/manpage.py",
        "tests/fixtures/make_hosts.py",
        "tests/fixtures/acpi/intel-dmar.aml",
    ):
        assert needed in names, needed
    # Links do not survive an sdist: the suite regenerates these trees (tests/conftest.py).
    generated = [n for n in names if n.startswith(("tests/fixtures/hosts/", "tests/fixtures/sos"))]
    files = [n for n in generated if n.count("/") > 3]  # the others are the hosts' folders
    assert files and all(n.endswith("/EXPECTED") for n in files), files
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_sdist_metadata_is_complete(sdist):
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/PKG-INFO"))
        metadata = tar.extractfile(member).read().decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata
    for classifier in (
        "Environment :: Console",
        "Intended Audience :: System Administrators",
        "Operating System :: POSIX :: Linux",
        "Topic :: System :: Systems Administration",
        *(f"Programming Language :: Python :: 3.{minor}" for minor in range(9, 14)),
    ):
        assert f"Classifier: {classifier}\n" in metadata
    assert "Keywords: " in metadata


@pytest.mark.oldest
def test_the_unpacked_sdist_installs_and_passes_the_whole_suite(sdist, tmp_path):
    """On the oldest runtime we support, Python 3.9 with RHEL 9's libraries
    (tests/constraints-oldest.txt), as RHEL 9 builds the package from this sdist: this is
    make test's Python 3.9 run, which checks the sdist and the old runtime in one suite
    instead of two. Without a Python 3.9 the sdist is checked on this interpreter."""
    source = unpack(sdist, tmp_path / "src")
    oldest = interpreter("3.9")
    python_for_venv = oldest or sys.executable
    done = run([python_for_venv, "-m", "venv", str(tmp_path / "venv")], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    python = str(tmp_path / "venv" / "bin" / "python")
    constraints = ["-c", str(source / "tests" / "constraints-oldest.txt")] if oldest else []
    # --no-compile: a module is compiled when the suite first imports it, not all of them.
    done = run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            f"{source}[test]",
            *constraints,
        ],
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Everything but the packaging tests, which would build this sdist again.
    done = run(
        # The venv's pytest script, not `python -m pytest`, which would put the unpacked
        # source first on sys.path instead of the package just installed.
        [
            str(tmp_path / "venv" / "bin" / "pytest"),
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not packaging",
        ],
        cwd=source,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-5000:]
    print(f"the unpacked sdist on {python_for_venv}: {done.stdout.strip().splitlines()[-1]}")
