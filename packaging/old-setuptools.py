"""Build pyproject.toml for a setuptools older than 77 (Debian 12 has 66), and put it back.

    python3 packaging/old-setuptools.py rewrite | restore

debian/rules and packaging/hostaudit.spec run it before building the wheel.

setuptools 77 reads `license = "Apache-2.0"` (an SPDX expression, PEP 639) and
`license-files`; older ones reject the first and do not know the second. The same metadata in
their spelling is `license = { text = "Apache-2.0" }`, and LICENSE is among the files they
include by default. With setuptools 77 or newer nothing is rewritten. Older than 61 (RHEL 9
has 53) cannot build a PEP 621 project at all.
"""

import shutil
import sys

PYPROJECT = "pyproject.toml"
SAVED = "pyproject.toml.orig"


def rewrite() -> None:
    try:
        import setuptools
    except ImportError:  # none here: the wheel is built in an isolated, current environment
        return

    if int(setuptools.__version__.split(".")[0]) >= 77:
        return
    shutil.copyfile(PYPROJECT, SAVED)
    lines = []
    with open(PYPROJECT, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("license = "):
                line = "license = { text = " + line.split("=", 1)[1].strip() + " }\n"
            elif line.startswith("license-files = "):
                continue
            elif line.startswith('requires = ["setuptools>=77"]'):
                line = 'requires = ["setuptools>=61"]\n'
            lines.append(line)
    with open(PYPROJECT, "w", encoding="utf-8") as handle:
        handle.writelines(lines)


def restore() -> None:
    try:
        shutil.move(SAVED, PYPROJECT)
    except FileNotFoundError:
        pass


if __name__ == "__main__":
    {"rewrite": rewrite, "restore": restore}[sys.argv[1]]()
