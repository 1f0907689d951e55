"""hostaudit(1), generated from the parser at build time: groff finds nothing to warn about,
and every subcommand, option and exit code of the parser is in it."""

from __future__ import annotations

import os
import re
import shutil
import sys

import pytest

from auditor.arguments import ALL, COMMANDS, build_parser
from tests.packaging.helpers import REPO, run

GENERATOR = REPO / "packaging" / "manpage.py"


@pytest.fixture(scope="module")
def page() -> str:
    done = run([sys.executable, str(GENERATOR)], env={**os.environ, "SOURCE_DATE_EPOCH": "0"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def _every_option() -> set[str]:
    parser, commands = build_parser(ALL)
    found: set[str] = set()
    stack = [parser, *commands.values()]
    while stack:
        current = stack.pop()
        for action in current._actions:
            found.update(action.option_strings)
            stack += list(getattr(action, "_name_parser_map", {}).values())
    return found


@pytest.mark.skipif(shutil.which("groff") is None, reason="needs groff (Debian package groff-base)")
def test_groff_has_no_warning(page, tmp_path):
    (tmp_path / "hostaudit.1").write_text(page)
    done = run(["groff", "-man", "-ww", "-z", str(tmp_path / "hostaudit.1")])
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_every_option_of_the_parser_is_in_the_page(page):
    options = _every_option()
    assert {"--root", "--profile", "--check", "--skip", "--max-age", "--hostdev-xml"} <= options
    missing = [option for option in options if option.replace("-", "\\-") not in page]
    assert not missing


def test_every_subcommand_exit_code_and_variable_is_in_the_page(page):
    for command in COMMANDS:
        assert f"\n.SS {command}\n" in page
    assert '.TH HOSTAUDIT 1 "1970-01-01" "hostaudit ' in page  # SOURCE_DATE_EPOCH's date
    exit_codes = page.split(".SH EXIT STATUS\n", 1)[1].split(".SH", 1)[0]
    assert all(f".B {code}\n" in exit_codes for code in "0123")
    for section in ("DESCRIPTION", "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"):
        assert f"\n.SH {section}\n" in page
    assert "NO_COLOR" in page


@pytest.mark.skipif(shutil.which("man") is None, reason="needs man (Debian package man-db)")
def test_man_renders_the_page(page, tmp_path):
    (tmp_path / "hostaudit.1").write_text(page)
    done = run(["man", "-l", str(tmp_path / "hostaudit.1")], env={**os.environ, "MANWIDTH": "80"})
    assert done.returncode == 0
    text = re.sub(".\b", "", done.stdout)  # overstrike bold, as grotty writes it to a pipe
    assert "hostaudit audit --device 01:00.0 --html report.html" in text
