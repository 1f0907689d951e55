"""The command line's grammar: every subcommand, option and help text, in one place.

`build_parser(command)` builds the arguments of that one subcommand (the others are listed
by `--help` but not built): building the whole parser costs a live audit ~10 ms, more than
the audit itself. The man page and the shell completions are generated from
build_parser(ALL), so they cannot drift from what the parser accepts.

Conventions (argparse): no abbreviated options (`--form` for `--format` breaks scripts the
day an option `--formula` is added), and an error shows the usage of the subcommand it is
about and the closest valid command, option or value.
"""

from __future__ import annotations

import argparse
import os
import sys

from auditor import __version__

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

ALL = "*"  # build_parser(ALL): every subcommand's arguments (man page, completions)
FORMATS = ("text", "json", "ndjson", "html", "junit", "prometheus", "nagios")
FILE_FORMATS = ("json", "ndjson", "html", "junit", "prometheus")
# What can hold many hosts (`hostaudit report A.json B.json ...`), and of those what is
# written to standard output as each host is read (their Fleet has take()).
FLEET_FORMATS = ("text", "json", "ndjson", "html", "junit")
STREAMING_FORMATS = ("json", "ndjson")
PLAN_FORMATS = ("text", "sh", "ansible", "json")

EPILOG = """exit codes (audit, report):
  0  no check failed
  1  at least one check failed
  2  the audit could not run (bad arguments, missing root, broken check plug-in, bad report)
  3  no check failed, but at least one ended in error (could not tell)
with --format nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the plugin convention; a
  run that could not run, bad arguments included, is UNKNOWN, not CRITICAL)
with --baseline (and for diff): 0 nothing newly fails, 1 something newly fails
"""


def terminal_width(default: int) -> int:
    """$COLUMNS, else the width of the terminal on standard output, else `default`.

    What shutil.get_terminal_size() does, without importing shutil (and with it bz2, lzma
    and fnmatch) into every run.
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or default  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):  # no standard output, or not a terminal
        return default


DURATION_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(text: str) -> float:
    """argparse type of --max-age: a number of seconds, or with a unit: 90s, 45m, 36h, 7d, 2w."""
    lowered = text.strip().lower()
    number = lowered.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = DURATION_UNITS.get(lowered[len(number) :] or "s")
    try:
        seconds = float(number) * unit if unit else -1.0
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration: give a positive number with s, m, h, d or w (36h)"
        )
    return seconds


class _Formatter(argparse.RawDescriptionHelpFormatter):
    width: int | None = None  # argparse makes a formatter per argument: measure once

    def __init__(self, prog: str) -> None:
        if _Formatter.width is None:
            _Formatter.width = terminal_width(80) - 2
        super().__init__(prog, width=_Formatter.width)


class Parser(argparse.ArgumentParser):
    """argparse with this tool's conventions: no abbreviations, suggestions on errors."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print this parser's usage, the error and the closest valid word; exit 2."""
        self.print_usage(sys.stderr)
        hint = suggestion(self, message)
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")


def suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    """ "; did you mean X?" for the word in an argparse error closest to a valid one."""
    import difflib

    words: list[str] = []
    for action in parser._actions:
        words += action.option_strings
        if action.choices:
            words += [str(choice) for choice in action.choices]
    wrong: list[str] = []
    if "invalid choice: " in message:
        quoted = message.split("invalid choice: ", 1)[1]
        wrong.append(quoted[1 : quoted.find(quoted[0], 1)] if quoted[:1] in "'\"" else quoted)
    if "unrecognized arguments: " in message:
        wrong += message.split("unrecognized arguments: ", 1)[1].split()
    for word in wrong:
        close = difflib.get_close_matches(word.split("=", 1)[0], words, n=1, cutoff=0.6)
        if close:
            return f"; did you mean {close[0]}?"
    return ""


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="what to print (default: text); ndjson: one line of JSON per host",
    )
    for fmt in FILE_FORMATS:
        parser.add_argument(
            f"--{fmt}",
            metavar="PATH",
            help=f"also write the {fmt} report to PATH (atomically; - is standard output)",
        )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="text: print nothing unless a check failed or ended in error (with --baseline: "
        "unless something changed); other formats always print their document",
    )
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the text output: auto (default) on a terminal unless NO_COLOR is set to "
        "a non-empty value; always (CI logs); never",
    )
    parser.add_argument(
        "--no-color", dest="color", action="store_const", const="never", help="--color never"
    )
    parser.add_argument(
        "-v",
        "--evidence",
        action="store_true",
        help="text: after the table, what each result rests on (the files and values read)",
    )


def _source(parser: argparse.ArgumentParser, verb: str) -> None:
    """--root or --snapshot: the host `verb` reads, as open_host() accepts it."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--root",
        default="/",
        metavar="DIR",
        help=f"{verb} the host laid out under DIR: a mounted image, an unpacked snapshot, a "
        "sosreport folder or archive, a snapshot archive (default: /, live)",
    )
    source.add_argument(
        "--snapshot",
        metavar="HOST.tar.gz",
        help=f"{verb} a snapshot made by `hostaudit snapshot` or collect.py",
    )


def _device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="ID",
        help="a device meant for guests: 0000:01:00.0, 01:00.0, pci_0000_01_00_0, or "
        "vendor:device such as 8086:10c9 (every match); repeatable. Default: the profile's "
        "devices, else those bound to vfio-pci or pci-stub or assigned to libvirt guests",
    )


def _profile_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default="default",
        metavar="NAME|PATH",
        help="a built-in profile (see `hostaudit profiles`) or a TOML file (default: default)",
    )


def _audit(parser: argparse.ArgumentParser) -> None:
    _source(parser, "audit")
    _device(parser)
    _profile_option(parser)
    parser.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only the checks whose id matches PATTERN, a shell-style glob such as "
        "iommu.* (repeatable); text leaves the others out and says how many, JSON lists "
        "them as skipped, 'not selected'",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="PATTERN",
        help="do not run the checks whose id matches PATTERN (repeatable); checks that need "
        "a skipped one still run, or skip, by their own rules",
    )
    parser.add_argument(
        "--domain-xml",
        action="append",
        default=[],
        metavar="FILE",
        help="a libvirt guest definition to check besides those under the root's "
        "/etc/libvirt/qemu (repeatable)",
    )
    parser.add_argument(
        "--baseline",
        metavar="OLD.json",
        help="compare with an earlier JSON report: print what newly fails, was fixed or still "
        "fails, and exit 1 only when something newly fails; a missing OLD.json is a first run",
    )
    _max_age(parser)
    _output_options(parser)


def _plan(parser: argparse.ArgumentParser) -> None:
    _source(parser, "plan for")
    _device(parser)
    _profile_option(parser)
    parser.add_argument(
        "--format",
        choices=PLAN_FORMATS,
        default="text",
        help="text (default): the steps for a person; sh: one POSIX shell script; ansible: a "
        "playbook of the same steps; json: data (plan.schema.json)",
    )


def _max_age(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-age",
        type=duration,
        metavar="DURATION",
        help="mark a report stale (verdict error, in every format) when its host was read "
        "longer ago than DURATION: 90m, 36h, 7d",
    )


def _report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reports", nargs="*", metavar="REPORT.json")
    parser.add_argument(
        "--unreachable",
        action="append",
        default=[],
        metavar="HOST[=REASON]",
        help="list HOST in the report as not read, stale for REASON (default: not reached); "
        "for hosts a fleet run could not collect from; repeatable",
    )
    _max_age(parser)
    _output_options(parser)
    parser.add_argument(
        "--fleet",
        action="store_true",
        help="a fleet report even of one host (a fleet run whose inventory is one host "
        "keeps the fleet's formats and names)",
    )
    parser.add_argument(
        "--detail",
        action="store_true",
        help="fleet text: every host's own table before the fleet summary",
    )
    parser.add_argument(
        "--html-dir",
        metavar="DIR",
        help="fleet HTML: also write one page per host into DIR (created if missing), "
        "linked from the fleet page's matrix",
    )


def _diff(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", metavar="OLD.json")
    parser.add_argument("new", metavar="NEW.json")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing when nothing changed"
    )


def _snapshot(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="HOST.tar.gz", help="the archive to write")
    parser.add_argument(
        "--root", default="/", metavar="DIR", help="the host root (default: /, this host)"
    )
    parser.add_argument(
        "--print-collector",
        action="store_true",
        help="print the stand-alone collector (collect.py) instead",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print no summary")


def _profile(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="profile_command", metavar="ACTION")
    show = actions.add_parser("show", help="print the resolved profile as TOML")
    show.add_argument("profile", metavar="NAME|PATH")


def _devices(parser: argparse.ArgumentParser) -> None:
    _source(parser, "list the devices of")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--hostdev-xml",
        metavar="ADDRESS",
        help="print the libvirt <hostdev> element for a device, and for every function that "
        "must be assigned with it",
    )


def _checks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: id, title, severity, requires, reads, references and parameters of each",
    )


def _explain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("check_id", metavar="ID")


def _schema(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fleet",
        action="store_true",
        help="the fleet document's schema instead (report --format json of several hosts; "
        "#/definitions/host is one line of ndjson)",
    )


def _nothing(parser: argparse.ArgumentParser) -> None:
    """A subcommand without arguments."""


# Subcommand -> (help, description, whether the exit-code epilog applies, its arguments).
COMMANDS: dict[str, tuple[str, str, bool, Callable[[argparse.ArgumentParser], None]]] = {
    "audit": ("audit this host or a root folder", "", True, _audit),
    "report": (
        "re-render saved JSON reports; several hosts make one fleet report",
        "",
        True,
        _report,
    ),
    "diff": (
        "compare two JSON reports of one host (exit 1 when something newly fails)",
        "",
        False,
        _diff,
    ),
    "snapshot": (
        "collect what the checks read into an archive, to audit elsewhere",
        "Collect what the checks read, the kernel log and host facts into a gzip'd tar. Run "
        "as root for a complete snapshot. Hosts without hostaudit can run the collector "
        "alone: `hostaudit snapshot --print-collector > collect.py`, then "
        "`python3 collect.py > HOST.tar.gz` there (Python 3.6+, standard library only).",
        False,
        _snapshot,
    ),
    "schema": ("print the JSON Schema that JSON reports validate against", "", False, _schema),
    "profiles": ("list the built-in profiles", "", False, _nothing),
    "profile": ("show a profile fully resolved", "", False, _profile),
    "devices": (
        "list PCI devices with their IOMMU group and whether they can be assigned",
        "",
        False,
        _devices,
    ),
    "plan": (
        "print an ordered, verified plan that makes this host ready (changes nothing)",
        "Audit the host, then print what to change, in order, for this host's own boot chain: "
        "firmware settings, kernel command line, device binding, initramfs, SELinux and module "
        "options, the reboot, and the re-audit that verifies it. --format sh prints it as a "
        "script (review it, run it as root), ansible as a playbook, json as data "
        "(plan.schema.json).",
        False,
        _plan,
    ),
    "checks": ("list the checks", "", False, _checks),
    "explain": ("describe one check: purpose, what it reads, remediation", "", False, _explain),
}


def build_parser(command: str | None = ALL) -> tuple[Parser, dict[str, Parser]]:
    """The parser, and each subcommand's; only `command`'s arguments are built (ALL: all)."""
    parser = Parser(
        prog="hostaudit",
        description="Audit a host for PCI device assignment (KVM/VFIO passthrough) readiness.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"hostaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    parsers: dict[str, Parser] = {}
    # A known subcommand's parser alone: the others only serve --help and error messages.
    names = [command] if command in COMMANDS else list(COMMANDS)
    for name in names:
        summary, description, epilog, arguments = COMMANDS[name]
        parsers[name] = sub.add_parser(
            name,
            help=summary,
            description=description or summary[:1].upper() + summary[1:] + ".",
            epilog=EPILOG if epilog else None,
        )
        if command in (name, ALL):
            arguments(parsers[name])
    return parser, parsers


def parse(argv: Sequence[str]) -> tuple[Parser, argparse.Namespace]:
    """Parse a command line (exits 2 on a bad one, with the subcommand's own usage)."""
    command = next((word for word in argv if not word.startswith("-")), None)
    parser, parsers = build_parser(command if command in COMMANDS else None)
    args, extras = parser.parse_known_args(argv)
    if extras:
        (parsers.get(args.command) or parser).error("unrecognized arguments: " + " ".join(extras))
    return parser, args
