"""Build with a setuptools older than 77 (Debian 12 has 66, RHEL 9 has 53), then put back.

    python3 packaging/old-setuptools.py rewrite | restore

debian/rules and packaging/hostaudit.spec run it around building the wheel. With setuptools
77 or newer it does nothing.

- 61 to 76 read pyproject.toml's [project] but not the SPDX `license = "Apache-2.0"` (PEP 639)
  nor `license-files`: the same metadata in their spelling is `license = { text = ... }`, and
  LICENSE is among the files they include by default.
- Before 61 they read no [project] at all: pyproject.toml keeps only its [build-system], and
  packaging/setup-before-61.cfg, the same metadata as setup.cfg sections, is appended to
  setup.cfg (which an sdist already has, holding [egg_info]).
"""

import os
import shutil
import sys

PYPROJECT = "pyproject.toml"
SETUP_CFG = "setup.cfg"
BEFORE_61 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "setup-before-61.cfg")
BUILD_SYSTEM_BEFORE_61 = (
    '[build-system]\nrequires = ["setuptools>=40.8"]\nbuild-backend = "setuptools.build_meta"\n'
)


def rewrite() -> None:
    try:
        import setuptools
    except ImportError:  # none here: the wheel is built in an isolated, current environment
        return
    major = int(setuptools.__version__.split(".")[0])
    if major >= 77:
        return
    _save(PYPROJECT)
    if major >= 61:
        _write(PYPROJECT, "".join(_spdx_to_table(_read(PYPROJECT).splitlines(True))))
        return
    _save(SETUP_CFG)
    existing = _read(SETUP_CFG) if os.path.exists(SETUP_CFG) else ""
    _write(PYPROJECT, BUILD_SYSTEM_BEFORE_61)
    _write(SETUP_CFG, existing + "\n" + _read(BEFORE_61))


def _spdx_to_table(lines: list) -> list:
    kept = []
    for line in lines:
        if line.startswith("license = "):
            line = "license = { text = " + line.split("=", 1)[1].strip() + " }\n"
        elif line.startswith("license-files = "):
            continue
        elif line.startswith('requires = ["setuptools>=77"]'):
            line = 'requires = ["setuptools>=61"]\n'
        kept.append(line)
    return kept


def _save(path: str) -> None:
    """path to path.orig; a missing file is saved as a missing-marker (an empty .absent)."""
    if os.path.exists(path + ".orig") or os.path.exists(path + ".absent"):
        return  # an interrupted build: keep the first original
    if os.path.exists(path):
        shutil.copyfile(path, path + ".orig")
    else:
        _write(path + ".absent", "")


def restore() -> None:
    for path in (PYPROJECT, SETUP_CFG):
        if os.path.exists(path + ".orig"):
            shutil.move(path + ".orig", path)
        elif os.path.exists(path + ".absent"):
            os.remove(path + ".absent")
            if os.path.exists(path):
                os.remove(path)


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


if __name__ == "__main__":
    {"rewrite": rewrite, "restore": restore}[sys.argv[1]]()
