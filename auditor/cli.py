"""Command-line interface: the only place that prints and exits.

Exit codes of `hostaudit audit`:
  0  no check failed
  1  at least one check failed
  2  the audit could not run (bad arguments, missing root, broken check plug-in)
  3  no check failed, but at least one ended in error (could not tell)
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from auditor import __version__
from auditor.errors import AuditorError, UsageError

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3

EPILOG = """exit codes (audit):
  0  no check failed
  1  at least one check failed
  2  the audit could not run (bad arguments, missing root, broken check plug-in)
  3  no check failed, but at least one ended in error (could not tell)
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="hostaudit",
        description="Audit a host for PCI device assignment (KVM/VFIO passthrough) readiness.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hostaudit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    audit = sub.add_parser(
        "audit",
        help="audit this host or a root folder",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit.add_argument(
        "--root",
        default="/",
        metavar="DIR",
        help="audit the host laid out under DIR (default: /, live)",
    )
    audit.add_argument(
        "--device",
        action="append",
        default=[],
        metavar="ID",
        help="a device meant for guests: 0000:01:00.0, 01:00.0 or pci_0000_01_00_0 (repeatable); "
        "default: devices bound to vfio-pci or pci-stub",
    )
    audit.add_argument(
        "--format", choices=("text", "json"), default="text", help="what to print (default: text)"
    )
    audit.add_argument(
        "--json", metavar="PATH", help="also write the JSON report to PATH (atomically)"
    )
    audit.add_argument("--no-color", action="store_true", help="never colour the text output")
    sub.add_parser("checks", help="list the checks")
    explain = sub.add_parser(
        "explain", help="describe one check: purpose, what it reads, remediation"
    )
    explain.add_argument("check_id", metavar="ID")
    return parser


def write_atomic(path: str, text: str) -> None:
    """Write a file so that readers see the old content or the new, never half of it."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def _audit(args: argparse.Namespace) -> int:
    from auditor.context import Context
    from auditor.host import Host
    from auditor.model import Status
    from auditor.parsers.pci import normalise_address
    from auditor.registry import load_checks
    from auditor.runner import host_info, run_audit

    if not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: not a folder")
    try:
        devices = tuple(dict.fromkeys(normalise_address(device) for device in args.device))
    except ValueError as exc:
        raise UsageError(f"--device: {exc}") from None
    if args.json:
        # Fail before auditing rather than lose the results after it.
        folder = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise UsageError(f"--json {args.json}: cannot write: no writable folder {folder}")
    checks = load_checks()
    ctx = Context(host=Host(args.root), requested_devices=devices)
    report = run_audit(checks, ctx, host_info(ctx))

    if args.json:
        try:
            write_atomic(args.json, renderer("json").render(report))
        except OSError as exc:
            raise UsageError(f"--json {args.json}: cannot write: {exc.strerror or exc}") from None
    if args.format == "json":
        sys.stdout.write(renderer("json").render(report))
    else:
        colour = not args.no_color and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(renderer("text").render(report, colour=colour))
    statuses = {result.status for result in report.results}
    if Status.FAIL in statuses:
        return EXIT_FAIL
    if Status.ERROR in statuses:
        return EXIT_ERROR
    return EXIT_OK


def renderer(fmt: str) -> Any:
    """The renderer module of an output format (reports/ installs as auditor.reports)."""
    return importlib.import_module(f"auditor.reports.{fmt}")


def _checks() -> int:
    from auditor.registry import load_checks

    for item in load_checks():
        check = item.check
        print(f"{check.id:28} {check.severity.label:8} {check.title}")
    return EXIT_OK


def _explain(check_id: str) -> int:
    from auditor.registry import load_checks

    for item in load_checks():
        check = item.check
        if check.id != check_id:
            continue
        lines = [
            f"{check.id}: {check.title}",
            f"severity: {check.severity.label}",
            "",
            check.description,
            "",
        ]
        if check.requires:
            lines += [f"requires: {', '.join(check.requires)}", ""]
        lines += ["reads:"] + [f"  {path}" for path in check.reads]
        lines += ["", "remediation:"] + [f"  - {step}" for step in check.remediation]
        lines += ["", "references:"] + [f"  {ref}" for ref in check.references]
        print("\n".join(lines))
        return EXIT_OK
    raise UsageError(f"unknown check {check_id!r}; see `hostaudit checks`")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hostaudit` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "audit":
            return _audit(args)
        if args.command == "checks":
            return _checks()
        if args.command == "explain":
            return _explain(args.check_id)
    except AuditorError as exc:
        print(f"hostaudit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    parser.print_help()
    return EXIT_USAGE
