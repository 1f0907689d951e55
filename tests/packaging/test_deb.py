"""The Debian package, built the Debian way from the sdist (debhelper, dh-python, pybuild's
pyproject plugin, Debian's setuptools), installed with apt-get, run with Debian's Python and
libraries, checked by lintian and systemd-analyze, then purged."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import HOSTS
from tests.packaging.conftest import unpack
from tests.packaging.helpers import audit_json, require_root_apt, run, verdicts

pytestmark = pytest.mark.packaging
# Debian's tools and its /usr/bin/python3, not a pyenv or virtual environment's python3.
DEBIAN = {
    **os.environ,
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND": "noninteractive",
}
DEBIAN.pop("VIRTUAL_ENV", None)
INSTALLED = [sys.executable, "-m", "auditor"]
UNITS = Path("/lib/systemd/system")


def debian(*command: str, cwd: Path | None = None, timeout: int = 900):
    done = run(list(command), cwd=cwd, env=DEBIAN, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-4000:]}{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def deb(sdist, tmp_path_factory):
    require_root_apt()
    if run(["dpkg-query", "-W", "hostaudit"], env=DEBIAN).returncode == 0:
        pytest.skip("a hostaudit package is already installed here: not replacing it")
    source = unpack(sdist, tmp_path_factory.mktemp("deb"))
    debian("apt-get", "update", "-qq")
    debian("apt-get", "build-dep", "-y", "-qq", "./", cwd=source)
    debian("dpkg-buildpackage", "-us", "-uc", "-b", cwd=source)
    (package,) = source.parent.glob("hostaudit_*_all.deb")
    debian("apt-get", "install", "-y", "-qq", f"./{package.name}", cwd=source.parent)
    yield package
    debian("apt-get", "purge", "-y", "-qq", "hostaudit")
    assert not Path("/usr/bin/hostaudit").exists()


def test_the_package_installs_what_an_operator_needs(deb):
    listing = debian("dpkg", "-L", "hostaudit").stdout.split()
    for path in (
        "/usr/bin/hostaudit",
        "/usr/share/man/man1/hostaudit.1.gz",
        "/usr/share/bash-completion/completions/hostaudit",
        "/usr/share/zsh/vendor-completions/_hostaudit",
        f"{UNITS}/hostaudit.service",
        f"{UNITS}/hostaudit.timer",
        "/usr/lib/python3/dist-packages/auditor/profiles/production.toml",
        "/usr/share/doc/hostaudit/copyright",
        "/usr/share/doc/hostaudit/examples/hostaudit-fleet.yml",
    ):
        assert path in listing, path
    depends = debian("dpkg-query", "-W", "-f", "${Depends}", "hostaudit").stdout
    for library in (
        "python3-psutil",
        "python3-pyudev",
        "python3-fastjsonschema",
        "python3-tabulate",
    ):
        assert library in depends
    assert Path("/usr/bin/hostaudit").read_text().startswith("#!/usr/bin/python3\n")
    # Installed, not enabled: no timer started behind the operator's back.
    assert not list(Path("/etc/systemd/system").glob("*.wants/hostaudit.*"))


def test_removal_stops_and_disables_an_enabled_timer(deb):
    """dh_installsystemd --no-start adds no stop: debian/hostaudit.prerm does, on removal."""
    prerm = debian("dpkg-deb", "-I", str(deb), "prerm").stdout
    assert 'if [ "$1" = remove ]' in prerm
    assert "deb-systemd-invoke stop hostaudit.timer hostaudit.service" in prerm
    assert "deb-systemd-helper disable hostaudit.timer" in prerm
    spec = (Path(__file__).parents[2] / "packaging" / "hostaudit.spec").read_text()
    assert "%preun\n%systemd_preun hostaudit.service hostaudit.timer" in spec


def test_the_packaged_hostaudit_audits_every_fixture_host_as_the_wheel_does(deb):
    for host in sorted(path for path in HOSTS.iterdir() if path.is_dir()):
        code, report = audit_json(["/usr/bin/hostaudit"], "--root", str(host))
        expected_code, expected = audit_json(INSTALLED, "--root", str(host))
        assert (code, verdicts(report)) == (expected_code, verdicts(expected)), host.name


def test_the_packaged_hostaudit_audits_this_machine(deb):
    code, report = audit_json(["/usr/bin/hostaudit"])
    expected_code, expected = audit_json(INSTALLED)
    assert code == expected_code
    assert [(r["id"], r["status"]) for r in report["results"]] == [
        (r["id"], r["status"]) for r in expected["results"]
    ]
    assert report["tool"]["version"] == expected["tool"]["version"]


def test_lintian_finds_no_error(deb):
    if shutil.which("lintian", path=DEBIAN["PATH"]) is None:
        debian("apt-get", "install", "-y", "-qq", "--no-install-recommends", "lintian")
    debian("lintian", "--fail-on", "error", str(deb))


def test_systemd_verifies_the_installed_units_as_shipped(deb):
    if shutil.which("systemd-analyze", path=DEBIAN["PATH"]) is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    done = run(
        ["systemd-analyze", "verify", f"{UNITS}/hostaudit.service", f"{UNITS}/hostaudit.timer"],
        env=DEBIAN,
    )
    assert done.returncode == 0 and done.stdout == "" and done.stderr == "", done.stderr


@pytest.mark.parametrize("name", ["fixture-hosts", "this-host"])
def test_the_autopkgtests_pass_on_the_installed_package(deb, name, tmp_path):
    """debian/tests/ as autopkgtest runs them: from the source tree, the package installed."""
    (source,) = [path for path in deb.parent.iterdir() if path.is_dir()]
    done = run(
        [str(source / "debian" / "tests" / name)],
        cwd=source,
        env={**DEBIAN, "AUTOPKGTEST_TMP": str(tmp_path)},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
