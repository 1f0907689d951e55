"""`make pyz`: one zip file that Python 3.9 and 3.13 run with -I (no site-packages, so no
psutil, pyudev or anything installed) and that says the same as the installed package."""

from __future__ import annotations

import shutil
import sys
import zipfile

import pytest

from tests.conftest import HOSTS
from tests.packaging.helpers import REPO, audit_json, interpreter, run, verdicts

pytestmark = pytest.mark.packaging
INSTALLED = [sys.executable, "-m", "auditor"]


@pytest.fixture(scope="module")
def pyz(tmp_path_factory, checkout):
    if not shutil.which("make"):
        pytest.skip("needs make")
    out = tmp_path_factory.mktemp("pyz")
    # What an earlier in-tree build left: a module since deleted from the sources must not
    # reach the zip (pip builds in ./build).
    stale = checkout / "build" / "lib" / "auditor" / "deleted_since.py"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("raise SystemExit('stale')\n")
    done = run(
        [
            "make",
            "-s",
            "-C",
            str(checkout),
            "pyz",
            f"PYTHON={sys.executable}",
            f"PYZ={out / 'hostaudit.pyz'}",
            f"PYZ_BUILD={out / 'build'}",
        ]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "hostaudit.pyz"


def _sources() -> set[str]:
    """The package's modules as the checkout holds them, named as installed."""
    folders = {"auditor": "auditor", "checks": "auditor/checks", "reports": "auditor/reports"}
    folders["profiles"] = "auditor/profiles"
    return {
        f"{installed}/{path.relative_to(REPO / folder)}"
        for folder, installed in folders.items()
        for path in (REPO / folder).rglob("*.py")
        if "__pycache__" not in path.parts
    }


def test_the_pyz_holds_hostaudit_and_its_pure_python_dependencies(pyz):
    names = zipfile.ZipFile(pyz).namelist()
    # Exactly the checkout's modules: none left over from an earlier build in ./build.
    assert {n for n in names if n.startswith("auditor/") and n.endswith(".py")} == _sources()
    assert "__main__.py" in names
    assert "auditor/checks/iommu_group_isolation.py" in names
    assert "auditor/profiles/production.toml" in names
    assert "tabulate/__init__.py" in names and "tomli/__init__.py" in names
    assert "fastjsonschema/__init__.py" in names
    # Compiled or libudev-bound modules stay out; no .pyc (one zip serves every Python).
    assert not [n for n in names if n.startswith(("psutil", "pyudev")) or n.endswith(".pyc")]
    assert not [n for n in names if n.endswith("direct_url.json")]


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_the_pyz_audits_every_fixture_host_as_the_installed_package_does(pyz, version):
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter (pyenv or PATH)")
    hosts = sorted(path for path in HOSTS.iterdir() if path.is_dir())
    assert len(hosts) >= 20
    for host in hosts:
        code, report = audit_json([python, "-I", str(pyz)], "--root", str(host))
        expected_code, expected = audit_json(INSTALLED, "--root", str(host))
        assert (code, verdicts(report)) == (expected_code, verdicts(expected)), host.name


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_the_pyz_audits_this_machine(pyz, version):
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter (pyenv or PATH)")
    code, report = audit_json([python, "-I", str(pyz)])
    expected_code, expected = audit_json(INSTALLED)
    assert code == expected_code
    # Live facts come from /proc and the udev database in the pyz, from psutil and pyudev when
    # installed: the statuses agree (messages may differ only in what each path names).
    assert [(r["id"], r["status"]) for r in report["results"]] == [
        (r["id"], r["status"]) for r in expected["results"]
    ]


def test_the_pyz_lists_checks_and_profiles_and_prints_the_collector(pyz):
    python = interpreter("3.9") or sys.executable
    checks = run([python, "-I", str(pyz), "checks"])
    assert checks.returncode == 0 and "pci.device-reset" in checks.stdout
    profiles = run([python, "-I", str(pyz), "profiles"])
    assert profiles.returncode == 0 and "production" in profiles.stdout
    collector = run([python, "-I", str(pyz), "snapshot", "--print-collector"])
    assert collector.returncode == 0
    assert collector.stdout == (REPO / "auditor" / "sources" / "collect.py").read_text()
