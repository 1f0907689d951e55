"""SECURITY.md states every limit with the value the code uses."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

UNITS = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def _value(text: str) -> int:
    number, _, unit = text.partition(" ")
    return int(number.replace(",", "")) * UNITS.get(unit, 1)


def test_every_limit_in_security_md_is_the_code_s():
    text = (Path(__file__).parents[1] / "SECURITY.md").read_text()
    rows = re.findall(r"^\| [^|]+ \| ([^|]+) \| `([\w.]+)` \|$", text, re.MULTILINE)
    assert len(rows) >= 15
    for value, constant in rows:
        module, name = constant.rsplit(".", 1)
        assert getattr(importlib.import_module(module), name) == _value(value.strip()), constant
