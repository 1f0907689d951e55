"""packaging/old-setuptools.py: the distributions' older setuptools (RHEL 9: 53, Debian 12: 66)
build the same wheel from the sdist as a current one, and the tree is put back afterwards."""

from __future__ import annotations

import configparser
import sys
import zipfile
from pathlib import Path

import pytest

from tests.packaging.conftest import unpack
from tests.packaging.helpers import REPO, interpreter, run

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

BEFORE_61 = REPO / "packaging" / "setup-before-61.cfg"


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def test_the_setup_cfg_for_setuptools_before_61_says_what_pyproject_says():
    project_file = tomllib.loads((REPO / "pyproject.toml").read_text())
    project, tool = project_file["project"], project_file["tool"]["setuptools"]
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_string(BEFORE_61.read_text())
    metadata, options = cfg["metadata"], cfg["options"]
    assert metadata["name"] == project["name"]
    assert metadata["description"] == project["description"]
    assert metadata["license"] == project["license"]
    assert _lines(metadata["keywords"]) == project["keywords"]
    assert _lines(metadata["classifiers"]) == project["classifiers"]
    assert options["python_requires"] == project["requires-python"]
    assert _lines(options["packages"]) == tool["packages"]
    package_dir = dict(line.split(" = ") for line in _lines(options["package_dir"]))
    assert package_dir == tool["package-dir"]
    assert [r.replace('"', "'") for r in _lines(options["install_requires"])] == [
        r.replace('"', "'") for r in project["dependencies"]
    ]
    data = {key: _lines(value) for key, value in cfg["options.package_data"].items()}
    assert data == tool["package-data"]
    scripts = dict(
        line.split(" = ") for line in _lines(cfg["options.entry_points"]["console_scripts"])
    )
    assert scripts == project["scripts"]


def _wheel(python: str, source: Path, out: Path) -> zipfile.ZipFile:
    done = run([python, "packaging/old-setuptools.py", "rewrite"], cwd=source)
    assert done.returncode == 0, done.stderr
    built = run(
        [python, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(out), "."], cwd=source
    )
    done = run([python, "packaging/old-setuptools.py", "restore"], cwd=source)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


def _contents(wheel: zipfile.ZipFile) -> tuple[set[str], list[str], str]:
    """Modules and data, the run-time requirements, the console script."""
    names = set(wheel.namelist())
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    requires = [
        line
        for line in wheel.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    scripts = wheel.read(entry_points).decode().strip()
    return {n for n in names if not n.startswith("hostaudit-")}, requires, scripts


@pytest.mark.packaging
@pytest.mark.parametrize(
    ("who", "version", "setuptools"), [("RHEL 9", "3.9", "53.0.0"), ("Debian 12", "3.11", "66.1.1")]
)
def test_an_older_setuptools_builds_the_same_wheel(sdist, tmp_path, who, version, setuptools):
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter (pyenv or PATH) for {who}'s setuptools")
    done = run([python, "-m", "venv", str(tmp_path / "old")])
    assert done.returncode == 0, done.stderr
    old = str(tmp_path / "old" / "bin" / "python")
    done = run(
        [old, "-m", "pip", "install", "--quiet", f"setuptools=={setuptools}", "wheel", "build"]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    source = unpack(sdist, tmp_path / "src")
    before = {p: p.read_bytes() for p in source.iterdir() if p.is_file()}
    old_wheel = _wheel(old, source, tmp_path / "old-wheel")
    assert {p: p.read_bytes() for p in source.iterdir() if p.is_file()} == before  # put back
    current = run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "new"), str(source)]
    )
    assert current.returncode == 0, current.stderr[-3000:]
    (new_wheel,) = (tmp_path / "new").glob("*.whl")
    assert _contents(old_wheel) == _contents(zipfile.ZipFile(new_wheel))
    # The license travels either way: dist-info/LICENSE before 77, dist-info/licenses/ after.
    assert [n for n in old_wheel.namelist() if n.endswith("LICENSE")]
