"""Command-line interface: the only place that prints and exits.

The grammar of the command line is auditor/arguments.py; exit codes are its EPILOG, which
`--help` prints.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import os
import sys

from auditor.arguments import FILE_FORMATS, FLEET_FORMATS, STREAMING_FORMATS
from auditor.errors import AuditorError, UsageError

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any, BinaryIO

    from auditor.model import Report, Status

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
NAGIOS_UNKNOWN = 3


def _audit(args: argparse.Namespace) -> int:
    from auditor.context import Context
    from auditor.registry import load_checks
    from auditor.runner import host_info, run_audit
    from auditor.sources import open_host

    devices = _devices(args.device)
    domain_xml = tuple(_read_domain_xml(path) for path in args.domain_xml)
    _check_outputs(args)
    baseline = None
    if args.baseline:
        if args.format != "text":
            raise UsageError(
                "--baseline prints the comparison as text; write reports with "
                "--json/--html/--junit/--prometheus PATH"
            )
        baseline = _baseline(args.baseline, args.quiet)  # fail before auditing, not after
    checks = load_checks()
    not_selected = _selection(args.check, args.skip, [item.check.id for item in checks])
    # The default profile sets nothing: an audit without a profile is an audit with it
    # (tests/test_profiles.py holds the two equal), and needs no profile machinery.
    profile = None
    if args.profile != "default":
        from auditor.profile import load_profile

        profile = load_profile(args.profile, checks)
    with open_host(args.root, args.snapshot, checks) as host:
        ctx = Context(host=host, requested_devices=devices, profile=profile, domain_xml=domain_xml)
        report = run_audit(checks, ctx, host_info(ctx), not_selected)
    # What was read of the host (every file, every derived PCI fact) is not needed to render:
    # at 4,000 functions it is about as large as the report itself.
    del ctx, host
    report = _freshness(args)(report)
    _write_files(report, args)
    if baseline is not None:
        return _print_diff(baseline, report, args.baseline, "this audit", args.quiet)
    return _print_report(report, args)


def _plan(args: argparse.Namespace) -> int:
    """Audit the host and print the plan that makes it ready; exit 0 (a plan was made, even
    an empty one or one that stops), 2 when it could not be made."""
    from auditor.context import Context
    from auditor.plan import make_plan
    from auditor.registry import load_checks
    from auditor.runner import host_info, run_audit
    from auditor.sources import open_host

    devices = _devices(args.device)
    checks = load_checks()
    profile = None
    if args.profile != "default":
        from auditor.profile import load_profile

        profile = load_profile(args.profile, checks)
    with open_host(args.root, args.snapshot, checks) as host:
        ctx = Context(host=host, requested_devices=devices, profile=profile)
        report = run_audit(checks, ctx, host_info(ctx), {})
        plan = make_plan(report, host)
    # reports/ installs as auditor.reports: found by name, as renderer() finds formats.
    module = renderer(f"plan_{args.format}")
    _print(getattr(module, f"render_{args.format}")(plan))
    return EXIT_OK


def _selection(wanted: list[str], unwanted: list[str], ids: list[str]) -> dict[str, str]:
    """--check and --skip patterns as {check id: why it is not selected}. A pattern that
    matches no check is a usage error that lists the checks (a typo must not quietly
    select nothing)."""
    if not wanted and not unwanted:
        return {}
    from fnmatch import fnmatchcase

    for option, patterns in (("--check", wanted), ("--skip", unwanted)):
        for pattern in patterns:
            if not any(fnmatchcase(check_id, pattern) for check_id in ids):
                raise UsageError(
                    f"{option} {pattern!r} matches no check; the checks are: {', '.join(ids)}"
                )
    left_out = {}
    for check_id in ids:
        skipped = [p for p in unwanted if fnmatchcase(check_id, p)]
        if skipped:
            left_out[check_id] = f"--skip {skipped[0]}"
        elif wanted and not any(fnmatchcase(check_id, p) for p in wanted):
            left_out[check_id] = "--check " + " --check ".join(wanted)
    return left_out


def _baseline(path: str, quiet: bool) -> Report | None:
    """The baseline report, or None on a first run (no file there yet): the audit then
    exits by its own result, so that a cron job's first run writes its files."""
    if not os.path.lexists(path):
        if not quiet:
            print(
                f"hostaudit: no baseline yet ({path} does not exist): a first run, "
                "exiting by this audit's own result",
                file=sys.stderr,
            )
        return None
    from auditor.errors import ReportError

    try:
        return _loader().load(path)
    except ReportError as exc:  # else every later run fails the same way: say the way out
        raise UsageError(
            f"--baseline {path}: {exc.detail} (remove it to start again from a first run)"
        ) from None


def _freshness(args: argparse.Namespace) -> Callable[[Report], Report]:
    """What --max-age does to each report: mark it stale when read too long ago."""
    if not args.max_age:
        return lambda report: report
    import time

    from auditor.model import mark_stale

    now = time.time()
    return lambda report: mark_stale(report, args.max_age, now)


def _devices(identifiers: list[str]) -> tuple[str, ...]:
    """--device values as normalised selectors (addresses or vendor:device), in order."""
    if not identifiers:
        return ()
    from auditor.parsers.pci import parse_selector

    try:
        return tuple(
            dict.fromkeys(parse_selector(device, allow_class=False) for device in identifiers)
        )
    except ValueError as exc:
        raise UsageError(f"--device: {exc}") from None


def _snapshot(args: argparse.Namespace) -> int:
    from auditor.registry import load_checks
    from auditor.sources import collector
    from auditor.sources.snapshot import reads

    if args.print_collector:
        from importlib.resources import files

        # Read as a resource, not through __file__: in hostaudit.pyz it lies inside a zip.
        sys.stdout.write(files("auditor.sources").joinpath("collect.py").read_text("utf-8"))
        return EXIT_OK
    if not args.output:
        raise UsageError("snapshot: give -o HOST.tar.gz (or --print-collector)")
    if not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: not a folder")
    check_target("-o", args.output)
    patterns = reads(load_checks())
    collected = collector.snapshot(args.root, patterns)
    import io

    archive = io.BytesIO()
    collector.write_archive(collected, patterns, archive)
    # Mode 0600: a snapshot may hold what only root could read on the host.
    write_file("-o", args.output, archive.getvalue(), 0o600)
    if not args.quiet:
        print(f"hostaudit: {collector.summary(collected)}; wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def _read_domain_xml(path: str) -> tuple[str, str]:
    from auditor.context import MAX_DOMAIN_BYTES
    from auditor.profile import read_bounded

    try:
        return path, read_bounded(path, MAX_DOMAIN_BYTES).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"--domain-xml {path}: cannot read: {reason}") from None


def _report(args: argparse.Namespace) -> int:
    _check_outputs(args)
    placeholders = _unreachable(args.unreachable)
    if not args.reports and not placeholders:
        raise UsageError("report: give at least one REPORT.json (or --unreachable HOST)")
    if len(args.reports) + len(placeholders) > 1 or args.fleet or args.html_dir:
        return _fleet(args, placeholders)
    fresh = _freshness(args)
    report = fresh(_loader().load(args.reports[0])) if args.reports else placeholders[0]
    _write_files(report, args)
    return _print_report(report, args)


def _unreachable(hosts: list[str]) -> list[Report]:
    """--unreachable HOST[=REASON] as placeholder reports, stale for REASON."""
    import time

    from auditor import __version__
    from auditor.model import not_read
    from auditor.sources.base import utc

    now = utc(time.time())
    placeholders = []
    for value in hosts:
        host, _, reason = value.partition("=")
        if not host.strip():
            raise UsageError(f"--unreachable {value!r}: give a host name, HOST or HOST=REASON")
        placeholders.append(not_read(__version__, host, reason.strip() or "not reached", now))
    return placeholders


def _fleet(args: argparse.Namespace, placeholders: list[Report]) -> int:
    """Several saved reports, streamed: each is loaded, boiled down to its fleet Member,
    added to every output and let go, so memory follows the number of hosts, not the size
    of their reports. Hosts not read (placeholders) come last. JSON and NDJSON on standard
    output are written as the hosts come."""
    from auditor.fleet import Member, Summary, names

    hosts = len(args.reports) + len(placeholders)
    outputs = [(f"--{fmt}", fmt, getattr(args, fmt)) for fmt in FILE_FORMATS]
    outputs = [(option, fmt, path) for option, fmt, path in outputs if path and path != "-"]
    outputs.append((f"--format {args.format}", args.format, "-"))
    builders = []
    for option, fmt, path in outputs:
        if fmt not in FLEET_FORMATS:
            raise UsageError(
                f"{option}: {fmt} describes one host, and {hosts} hosts were given; fleet "
                f"reports are {', '.join(FLEET_FORMATS[:-1])} or {FLEET_FORMATS[-1]}"
            )
        builders.append((option, path, _fleet_builder(fmt, path, args)))
    inventory = names(args.reports)
    summary = Summary()
    verdicts = set()
    loader, fresh = _loader(), _freshness(args)
    loaded = ((path, fresh(_load_or_row(loader, path))) for path in args.reports)
    for path, report in itertools.chain(loaded, ((None, p) for p in placeholders)):
        name = inventory[path] if inventory and path is not None else report.host.hostname
        member = Member(report, name)
        summary.add(member)
        verdicts.add(member.verdict)
        for _, target, builder in builders:
            builder.add(report, member)
            if target == "-" and args.format in STREAMING_FORMATS:
                for chunk in builder.take():
                    _print(chunk)
    code = _exit_code(verdicts)
    for option, path, builder in builders:
        if path != "-":
            write_file(option, path, builder.chunks(summary))
        elif not (args.quiet and code == EXIT_OK and args.format == "text"):
            for chunk in builder.chunks(summary):
                _print(chunk)
    return code


def _fleet_builder(fmt: str, path: str, args: argparse.Namespace) -> Any:
    """The fleet output of one format, built a host at a time."""
    from auditor.arguments import terminal_width

    module = renderer(fmt)
    if fmt == "text":
        # Quiet text: a line for each host that does not pass, not a summary.
        width = terminal_width(100)
        return module.Fleet(_colour(args), brief=args.quiet, width=width, detail=args.detail)
    if fmt == "html" and args.html_dir:
        _make_folder("--html-dir", args.html_dir)
        # The host pages are linked from the fleet page: relative to where it is written.
        base = os.path.dirname(os.path.abspath(path)) if path != "-" else os.getcwd()
        link = os.path.relpath(os.path.abspath(args.html_dir), base)
        return module.Fleet(pages=args.html_dir, link=link)
    return module.Fleet()


def _make_folder(option: str, path: str) -> None:
    """An output folder that exists (made if missing) and can be written."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot make the folder: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: cannot write into the folder")


def _load_or_row(loader: Any, path: str) -> Report:
    """One fleet member: its report, or (unreadable, invalid) an error row that names the
    file and why, so one bad report never hides the rest of the fleet."""
    from auditor.errors import ReportError

    try:
        return loader.load(path)
    except ReportError as exc:
        import time

        from auditor import __version__
        from auditor.model import not_read
        from auditor.sources.base import utc

        host = os.path.basename(path)
        host = host[: -len(".json")] if host.endswith(".json") else host
        return not_read(__version__, host, f"invalid report {path}: {exc.detail}", utc(time.time()))


def _diff(args: argparse.Namespace) -> int:
    loader = _loader()
    return _print_diff(loader.load(args.old), loader.load(args.new), args.old, args.new, args.quiet)


def _loader() -> Any:
    from auditor.saved import ReportLoader

    return ReportLoader()


def _check_outputs(args: argparse.Namespace) -> None:
    """Fail before the work rather than lose its results after it: every file option names
    a regular file (or none yet) in a writable folder, no file twice, and at most one
    document goes to standard output (`-`). Settles args.format."""
    paths: dict[str, str] = {}
    to_stdout = [fmt for fmt in FILE_FORMATS if getattr(args, fmt) == "-"]
    if len(to_stdout) > 1:
        raise UsageError(
            f"--{to_stdout[0]} - and --{to_stdout[1]} -: only one document can go to "
            "standard output"
        )
    if to_stdout:
        if args.format not in (None, to_stdout[0]):
            raise UsageError(
                f"--format {args.format} and --{to_stdout[0]} - both write to standard "
                "output: choose one"
            )
        args.format = to_stdout[0]
    args.format = args.format or "text"
    for fmt in FILE_FORMATS:
        path = getattr(args, fmt)
        if not path or path == "-":
            continue
        same = paths.get(os.path.realpath(path))
        if same is not None:
            raise UsageError(
                f"--{same} and --{fmt} name the same file {path} twice: give each report "
                "its own path"
            )
        paths[os.path.realpath(path)] = fmt
        check_target(f"--{fmt}", path)


def check_target(option: str, path: str) -> None:
    """The file `path` can be written: its folder is writable and it is (or will be) a
    regular file. Replacing /dev/null or a FIFO with a report is refused, not done."""
    import stat

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: cannot write: no writable folder {folder}")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise UsageError(f"{option} {path}: not a regular file: refusing to replace it")


def write_file(
    option: str, path: str, data: bytes | Iterable[str], mode: int | None = None
) -> None:
    """Write one output file atomically (collector.write_file), errors named by option.
    `data`: the bytes, or text in pieces (each encoded as it is written)."""
    from auditor.sources.collector import write_file as write_atomic

    def write(handle: BinaryIO) -> None:
        if isinstance(data, bytes):
            handle.write(data)
        else:
            for chunk in data:
                handle.write(_encoded(chunk))

    try:
        write_atomic(path, write, mode)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None


def _encoded(text: str) -> bytes:
    """Output as UTF-8. A lone surrogate (a file name that is not UTF-8, read back from a
    report) becomes the escape \\udcff: valid UTF-8 everywhere, and valid JSON."""
    return text.encode("utf-8", "backslashreplace")


# The Prometheus text file is read by node_exporter, which runs as its own user: 0644
# whatever the umask (the service writes everything else 0640, UMask=0027).
FILE_MODES = {"prometheus": 0o644}


def _write_files(report: Report, args: argparse.Namespace) -> None:
    for fmt in FILE_FORMATS:
        path = getattr(args, fmt)
        if path and path != "-":
            data = _encoded(_render(fmt, report))
            write_file(f"--{fmt}", path, data, FILE_MODES.get(fmt))


def _render(fmt: str, report: Report, args: argparse.Namespace | None = None) -> str:
    """One host's report in `fmt`; text as args ask for it (colour, evidence)."""
    from auditor.arguments import terminal_width

    module = renderer(fmt)
    if fmt != "text":
        return str(module.render(report))
    colour = _colour(args) if args is not None else False
    evidence = bool(getattr(args, "evidence", False))
    return str(module.render(report, colour, terminal_width(100), evidence=evidence))


def _exit_code(verdicts: set[Status]) -> int:
    """fail, else error, else ok: the exit code of one audit or of a fleet."""
    from auditor.model import Status

    if Status.FAIL in verdicts:
        return EXIT_FAIL
    return EXIT_ERROR if Status.ERROR in verdicts else EXIT_OK


def _colour(args: argparse.Namespace) -> bool:
    """--color: always, never, or auto: on a terminal, unless NO_COLOR is set and not
    empty (no-color.org: "when present and not an empty string")."""
    if args.color != "auto":
        return bool(args.color == "always")
    # TERM=dumb: a terminal that cannot show escape sequences (Emacs shell, some CI logs).
    dumb = os.environ.get("TERM") == "dumb"
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and not dumb


def _print_report(report: Report, args: argparse.Namespace) -> int:
    code = _exit_code({report.verdict()})
    if args.format == "nagios":
        code = renderer("nagios").exit_code(report)
    if args.quiet and code == EXIT_OK and args.format == "text":
        return code  # quiet silences the human text only: documents always print
    _print(_render(args.format, report, args))
    return code


def _print(text: str) -> None:
    sys.stdout.flush()
    sys.stdout.buffer.write(_encoded(text))
    sys.stdout.buffer.flush()


def _print_diff(old: Report, new: Report, old_name: str, new_name: str, quiet: bool) -> int:
    from auditor import diff

    if old.host.hostname != new.host.hostname:
        raise UsageError(
            f"{old_name} audits host {old.host.hostname!r} and {new_name} host "
            f"{new.host.hostname!r}: a diff compares two audits of one host"
        )
    changes = diff.compare(old, new)
    if changes.changed or not quiet:
        _print(diff.render(changes))
    return EXIT_FAIL if changes.new else EXIT_OK


def renderer(fmt: str) -> Any:
    """The renderer module of an output format (reports/ installs as auditor.reports)."""
    return importlib.import_module(f"auditor.reports.{fmt}")


def _profiles() -> int:
    from auditor.profile import builtin_names, load_profile
    from auditor.registry import load_checks

    checks = load_checks()
    for name in builtin_names():
        print(f"{name:12} {load_profile(name, checks).description}")
    return EXIT_OK


def _profile_show(reference: str) -> int:
    from auditor.profile import load_profile, to_toml
    from auditor.registry import load_checks

    checks = load_checks()
    sys.stdout.write(to_toml(load_profile(reference, checks), checks))
    return EXIT_OK


def _schema(fleet: bool) -> int:
    from auditor.schema import fleet_schema_text, schema_text

    sys.stdout.write(fleet_schema_text() if fleet else schema_text())
    return EXIT_OK


def _checks(fmt: str) -> int:
    from auditor.registry import load_checks

    checks = [item.check for item in load_checks()]
    if fmt == "json":
        import json

        rows = [
            {
                "id": check.id,
                "title": check.title,
                "severity": check.severity.label,
                "requires": list(check.requires),
                "reads": list(check.reads),
                "references": list(check.references),
                "accepts": list(check.accepts),
                "params": dict(check.params),
            }
            for check in checks
        ]
        _print(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        return EXIT_OK
    for check in checks:
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
        if check.accepts:
            import textwrap

            lines.append("evidence it accepts:")
            for accepted in check.accepts:
                lines += textwrap.wrap(
                    accepted, 96, initial_indent="  - ", subsequent_indent="    "
                )
            lines.append("")
        lines += ["reads:"] + [f"  {path}" for path in check.reads]
        lines += ["", "remediation:"] + [f"  - {step}" for step in check.remediation]
        lines += [
            "  `hostaudit plan` turns its findings into ordered steps for the host at hand "
            "(its boot chain, its devices), with the reboot and the re-audit."
        ]
        lines += ["", "references:"] + [f"  {ref}" for ref in check.references]
        print("\n".join(lines))
        return EXIT_OK
    import difflib

    known = [item.check.id for item in load_checks()]
    close = difflib.get_close_matches(check_id, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else "; see `hostaudit checks`"
    raise UsageError(f"unknown check {check_id!r}{hint}")


class Terminated(BaseException):
    """SIGTERM arrived: unwind (temporary files are removed on the way) and exit 143."""


def _terminate(signum: int, frame: object) -> None:
    import signal

    # Once: a second SIGTERM must not break off the clean-up the first one started.
    signal.signal(signum, signal.SIG_IGN)
    raise Terminated(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `hostaudit` command.

    Exit codes are results only when the run finished: a bad input is one line and 2, a
    signal 128+N, and an unexpected exception is one line naming it and 2, never 1 (which
    means "a check failed").
    """
    import gc

    # A short run that builds many objects which live to its end (checks, archive indexes,
    # results): frequent young-generation collections only rescan them. Measured: 10-25%
    # of a live audit, 20-40% of collecting a 4,000-function snapshot.
    gc.set_threshold(10_000, 50, 50)
    words = sys.argv[1:] if argv is None else list(argv)
    # A SIGTERM anywhere in the run, its argument parsing and its clean-up included, ends
    # here (one that came while the arguments were parsed, or as the run returned, used to
    # escape as a traceback). One that comes after the run, when the previous handler is
    # back, ends the process as the signal does.
    try:
        return _run(words)
    except Terminated:
        import signal

        print("hostaudit: terminated (SIGTERM)", file=sys.stderr)
        return 128 + signal.SIGTERM


def _run(words: list[str]) -> int:
    """Parse `words` and run the command, with SIGTERM handled for as long as it runs."""
    if TYPE_CHECKING:
        import signal
    else:  # the C module: `signal` builds enums of every signal number at import (~0.8 ms)
        try:
            import _signal as signal
        except ImportError:  # not CPython
            import signal
    from auditor.arguments import parse

    nagios = _nagios(words)
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            parser, args = parse(words)
        except SystemExit as exc:  # argparse has printed the usage and the error
            if exc.code == EXIT_USAGE:
                return _could_not_run("", nagios, "bad arguments (see standard error)")
            raise
        return _dispatch(parser, args)
    except AuditorError as exc:
        return _could_not_run(str(exc), nagios)
    except KeyboardInterrupt:
        print("hostaudit: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:  # `hostaudit ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except (Exception, RecursionError) as exc:  # a bug or an input we did not foresee
        return _could_not_run(
            f"unexpected {type(exc).__name__} while running `{' '.join(words)}`: "
            f"{str(exc)[:300]} (please report it)",
            nagios,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _could_not_run(message: str, nagios: bool, summary: str = "") -> int:
    """Say on standard error why the run could not finish; exit 2, or for a Nagios plugin
    (which reads 2 as CRITICAL) UNKNOWN, 3, with the plugin's status line."""
    from auditor.escape import nagios_text, printable

    if message:
        print(f"hostaudit: {printable(message)}", file=sys.stderr)
    if not nagios:
        return EXIT_USAGE
    line = f"HOSTAUDIT UNKNOWN - could not run: {nagios_text(summary or message)}"
    print(line[:79])
    return NAGIOS_UNKNOWN


def _nagios(words: list[str]) -> bool:
    """Whether a command line asks for Nagios plugin output."""
    pairs = zip(words, words[1:])
    return "--format=nagios" in words or ("--format", "nagios") in pairs


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "audit":
        return _audit(args)
    if args.command == "report":
        return _report(args)
    if args.command == "snapshot":
        return _snapshot(args)
    if args.command == "diff":
        return _diff(args)
    if args.command == "schema":
        return _schema(args.fleet)
    if args.command == "profiles":
        return _profiles()
    if args.command == "profile" and args.profile_command == "show":
        return _profile_show(args.profile)
    if args.command == "devices":
        from auditor import devices
        from auditor.arguments import terminal_width
        from auditor.sources import open_host

        with open_host(args.root, args.snapshot) as host:
            width = terminal_width(0) if args.format == "text" else 0
            _print(devices.main(host, args.format, args.hostdev_xml, width))
        return EXIT_OK
    if args.command == "plan":
        return _plan(args)
    if args.command == "checks":
        return _checks(args.format)
    if args.command == "explain":
        return _explain(args.check_id)
    parser.print_help()
    return EXIT_USAGE
