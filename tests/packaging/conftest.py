"""The sdist every package is built from, made once per session."""

from __future__ import annotations

import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from tests.packaging.helpers import REPO, run

# What builds leave in a checkout (.gitignore), anywhere in it or at its top.
_BUILT = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")
_BUILT_AT_TOP = (".git", "build", "dist", "out", ".pybuild")


def _not_sources(folder: str, names: list[str]) -> set[str]:
    top = Path(folder) == REPO
    return {
        name
        for name in names
        if name in _BUILT
        or name.endswith(".egg-info")
        or (top and (name in _BUILT_AT_TOP or name.startswith(".venv")))
    }


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout's sources, where the packages are built: a build writes its
    egg-info and build folders beside the sources, and make test runs the suite on Python
    3.13, whose editable install writes there too, at the same time as these tests."""
    copy = tmp_path_factory.mktemp("checkout") / "hostaudit"
    shutil.copytree(REPO, copy, symlinks=True, ignore=_not_sources)
    return copy


@pytest.fixture(scope="session")
def sdist(tmp_path_factory: pytest.TempPathFactory, checkout: Path) -> Path:
    """hostaudit-VERSION.tar.gz, built by `python -m build --sdist` from the checkout."""
    out = tmp_path_factory.mktemp("sdist")
    done = run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(checkout)])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (archive,) = out.glob("hostaudit-*.tar.gz")
    return archive


def unpack(archive: Path, into: Path) -> Path:
    """The sdist unpacked under `into`; its one top folder."""
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.12+, and backported security releases
            tar.extractall(into, filter="data")
        else:
            tar.extractall(into)
    (top,) = into.iterdir()
    return top
