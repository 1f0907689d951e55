"""The sdist every package is built from, made once per session."""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path

import pytest

from tests.packaging.helpers import REPO, run


@pytest.fixture(scope="session")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hostaudit-VERSION.tar.gz, built by `python -m build --sdist` from the checkout."""
    out = tmp_path_factory.mktemp("sdist")
    done = run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(REPO)])
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
