"""The committed fixture hosts are exactly what their generator makes: no hand edits, no drift."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import FIXTURES, HOSTS, fixture_generator


def _tree(base: Path) -> dict[str, tuple[str, bytes | str]]:
    entries: dict[str, tuple[str, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            key = os.path.relpath(path, base)
            if os.path.islink(path):
                entries[key] = ("link", os.readlink(path))
            else:
                entries[key] = ("file", Path(path).read_bytes())
    return entries


def test_fixture_hosts_match_their_generator(tmp_path):
    fixture_generator().build(tmp_path / "hosts")
    generated, committed = _tree(tmp_path / "hosts"), _tree(HOSTS)
    # Each host's EXPECTED is written by hand (tests/checks/test_scenarios.py), not generated.
    committed = {path: entry for path, entry in committed.items() if not path.endswith("/EXPECTED")}
    assert sorted(generated) == sorted(committed)
    different = [path for path in generated if generated[path] != committed[path]]
    assert not different, f"regenerate with: python tests/fixtures/make_hosts.py ({different[:5]})"


def test_the_sosreport_fixture_matches_its_generator(tmp_path):
    fixture_generator().build_sosreport(tmp_path / "sosreports")
    generated, committed = _tree(tmp_path / "sosreports"), _tree(FIXTURES / "sosreports")
    assert generated == committed, "regenerate with: python tests/fixtures/make_hosts.py"
