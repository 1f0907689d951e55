"""packaging/hostaudit.spec, built with rpmbuild (Debian's rpm package) from the sdist, the
Fedora macros it uses supplied by tests/packaging/rpm-macros; the package it makes is read
back with `rpm -qp`: the files of the .deb, and Fedora's names of the libraries required."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.packaging.helpers import REPO, run

pytestmark = pytest.mark.packaging
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def rpm(sdist, tmp_path_factory):
    if shutil.which("rpmbuild") is None:
        pytest.skip("rpmbuild is not installed (Debian package rpm)")
    top = tmp_path_factory.mktemp("rpmbuild")
    (top / "SOURCES").mkdir()
    shutil.copy(sdist, top / "SOURCES")
    done = run(
        [
            "rpmbuild",
            "-bb",
            "--nodeps",  # the build requirements are Fedora packages: none is installed here
            "--load",
            str(HERE / "rpm-macros"),
            "--define",
            f"_topdir {top}",
            "--define",
            f"python3 {sys.executable}",
            "--define",
            f"rpm_helpers {HERE}",
            str(REPO / "packaging" / "hostaudit.spec"),
        ],
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    (package,) = (top / "RPMS" / "noarch").glob("hostaudit-*.noarch.rpm")
    return package


def query(package: Path, *what: str) -> list[str]:
    done = run(["rpm", "-qp", *what, str(package)])
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_rpm_holds_the_files_of_the_debian_package(rpm):
    files = set(query(rpm, "--list"))
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    site = f"/usr/lib/python{version}/site-packages"
    for path in (
        "/usr/bin/hostaudit",
        "/usr/lib/systemd/system/hostaudit.service",
        "/usr/lib/systemd/system/hostaudit.timer",
        "/usr/share/bash-completion/completions/hostaudit",
        "/usr/share/zsh/site-functions/_hostaudit",
        f"{site}/auditor/cli.py",
        f"{site}/auditor/checks/iommu_group_isolation.py",
        f"{site}/auditor/profiles/production.toml",
        f"{site}/auditor/reports/report.schema.json",
    ):
        assert path in files, path
    assert [f for f in files if f.startswith("/usr/share/man/man1/hostaudit.1")]
    assert [
        f for f in files if f.startswith("/usr/share/doc/") and f.endswith("/hostaudit-fleet.yml")
    ]
    licenses = query(rpm, "--licensefiles")
    assert [f for f in licenses if f.endswith("/LICENSE")]
    assert "Apache-2.0" in query(rpm, "--queryformat", "%{LICENSE}")


def test_the_rpm_requires_fedoras_library_packages(rpm):
    requires = {line.split()[0] for line in query(rpm, "--requires")}
    assert {
        "python3-psutil",
        "python3-pyudev",
        "python3-fastjsonschema",
        "python3-tabulate",
    } <= requires


def test_the_spec_deb_and_python_package_carry_one_version():
    from auditor import __version__

    spec = (REPO / "packaging" / "hostaudit.spec").read_text()
    assert f"\nVersion:        {__version__}\n" in spec
    changelog = (REPO / "debian" / "changelog").read_text()
    assert changelog.startswith(f"hostaudit ({__version__}) ")


def test_rpmlint_finds_no_error_fedora_would_count(rpm):
    """Debian's rpmlint with its own defaults; what Fedora's configuration does not ask for
    (a Group or Packager tag, a signature on a local build) is not an error there."""
    if shutil.which("rpmlint") is None:
        pytest.skip("rpmlint is not installed (Debian package rpmlint)")
    done = run(["rpmlint", str(rpm), str(REPO / "packaging" / "hostaudit.spec")])
    errors = {
        line.split(": E: ", 1)[1].split()[0] for line in done.stdout.splitlines() if ": E: " in line
    }
    assert errors <= {"no-signature", "no-packager-tag", "no-group-tag"}, done.stdout


def test_the_collector_is_a_script_in_the_rpm(rpm):
    """--print-collector prints it for hosts without hostaudit: executable, Fedora's shebang."""
    (line,) = [
        entry
        for entry in query(rpm, "--queryformat", "[%{FILEMODES:perms} %{FILENAMES}\n]")
        if entry.endswith("/auditor/sources/collect.py")
    ]
    assert line.startswith("-rwxr-xr-x ")


def test_the_rpm_units_are_the_ones_the_deb_test_verifies(rpm, tmp_path):
    """systemd-analyze needs /usr/bin/hostaudit on this machine to verify a unit, which only
    the .deb provides here: the RPM's units are the same bytes (tests/packaging/test_deb.py
    verifies them as installed)."""
    if shutil.which("rpm2cpio") is None or shutil.which("cpio") is None:
        pytest.skip("needs rpm2cpio and cpio")
    payload = run(["sh", "-c", f"rpm2cpio {rpm} | cpio -idm --quiet"], cwd=tmp_path)
    assert payload.returncode == 0, payload.stderr
    for name in ("hostaudit.service", "hostaudit.timer"):
        shipped = (REPO / "contrib" / "systemd" / name).read_bytes()
        assert (tmp_path / "usr" / "lib" / "systemd" / "system" / name).read_bytes() == shipped
