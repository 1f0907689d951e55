"""Every file generated from the code, written in one go (`make generate`) or checked
(`python3 packaging/generate.py --check`, which tests/test_generated.py runs).

    collect.READS          auditor/sources/collect.py: the paths the checks declare, as a
                           literal, because collect.py is copied alone to hosts
    completions            contrib/completion/hostaudit.bash and _hostaudit (shtab)
    README check tables    "What it checks" (each check's id, severity and `passes`) and
                           "Evidence each check accepts" (each check's `accepts`)

The man page is not here: it is built from the parser when a package is (debian/rules,
packaging/hostaudit.spec: packaging/manpage.py), so it cannot go stale.
A new check therefore touches no generated file by hand: `make generate` after adding it.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "packaging"))  # completions.py beside this file


def _checks() -> list:
    from auditor.registry import load_checks

    return [item.check for item in load_checks(include_third_party=False)]


def collector_reads(text: str) -> str:
    """collect.py with its READS literal equal to what the checks declare."""
    from auditor.registry import load_checks
    from auditor.sources.snapshot import reads

    begin, end = text.index("READS = (\n"), text.index("# END READS")
    block = "READS = (\n" + "".join(f'    "{path}",\n' for path in reads(load_checks(False)))
    return text[:begin] + block + ")\n" + text[end:]


def readme(text: str) -> str:
    """README.md with both check tables generated between their markers."""
    checks = _checks()
    table = "| id | severity | passes when |\n| --- | --- | --- |\n" + "".join(
        f"| `{c.id}` | {c.severity.label} | {c.passes or c.title} |\n" for c in checks
    )
    accepts = "".join(f"- `{c.id}`: " + "; ".join(c.accepts) + ".\n" for c in checks)
    text = _between(text, "<!-- BEGIN CHECKS", "<!-- END CHECKS -->", table)
    return _between(text, "<!-- BEGIN ACCEPTS", "<!-- END ACCEPTS -->", accepts)


def _between(text: str, begin: str, end: str, block: str) -> str:
    start = text.index("\n", text.index(begin)) + 1
    return text[:start] + block + text[text.index(end) :]


def completion(shell: str) -> str:
    import shtab
    from completions import completing_parser

    return str(shtab.complete(completing_parser(), shell=shell))


def generated() -> dict[Path, str]:
    """Each generated file's path and the text it should have."""
    collect = REPO / "auditor" / "sources" / "collect.py"
    readme_path = REPO / "README.md"
    return {
        collect: collector_reads(collect.read_text(encoding="utf-8")),
        readme_path: readme(readme_path.read_text(encoding="utf-8")),
        REPO / "contrib" / "completion" / "hostaudit.bash": completion("bash"),
        REPO / "contrib" / "completion" / "_hostaudit": completion("zsh"),
    }


def stale() -> list[str]:
    """The generated files that differ from what they should be, relative to the repo."""
    return [
        str(path.relative_to(REPO))
        for path, text in generated().items()
        if path.read_text(encoding="utf-8") != text
    ]


def main() -> int:
    if sys.argv[1:] == ["--check"]:
        found = stale()
        for name in found:
            print(f"stale: {name} (run make generate)", file=sys.stderr)
        return 1 if found else 0
    for path, text in generated().items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
