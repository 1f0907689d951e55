"""Time a fleet's morning report: `hostaudit report` over 10,000 saved host reports.

Run: make bench (or python benchmarks/bench_reports.py [--runs N] [--hosts N]).

The reports are real audits: a hypervisor that assigns 32 functions (the GTX 1070 and its
audio function, 30 SR-IOV VFs of an 82599; tests/fixtures/make_hosts.py
build_fleet_member, a ~60 KB report), and one host in twenty a fixture host that fails
(iommu-not-enabled) or cannot be judged (vtd-off-in-firmware), saved under 10,000 host
names; 1% are also given as unreachable. One run loads and schema-validates every file
once and writes all four fleet outputs: the text summary (standard output), the HTML page,
the JUnit file and the fleet JSON.

Targets (the fleet-output issue), on this kind of 2-core machine:
- 10,000 reports to text + HTML + JUnit + JSON under 20 s and 500 MiB peak;
- linear in hosts: the time per host at 10,000 within 1.25x of that at 2,500;
- the fleet HTML under 50 MB and the text summary under 1 MB at 10,000 hosts.
Also printed, no target: the validation cost per report of jsonschema and fastjsonschema
(the figure behind auditor/schema.py's choice).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_audit import HERE, Targets, command, peak_mib, timed

FIXTURE_HOSTS = os.path.join(HERE, "..", "tests", "fixtures", "hosts")
TARGET_S = 20.0
TARGET_MIB = 500
TARGET_HTML_MB = 50
TARGET_TEXT_MB = 1
LINEAR = 1.25


def _audit(root: str) -> dict:
    done = subprocess.run(
        [*command(), "audit", "--root", root, "--format", "json"],
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def saved_reports(folder: str, hosts: int) -> list[str]:
    """`hosts` JSON reports named hv-NNNNN.json: fleet members, one in twenty a host
    that fails or cannot be judged."""
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
    import make_hosts

    member = _audit(str(make_hosts.build_fleet_member(Path(folder) / "roots")))
    failing = _audit(os.path.join(FIXTURE_HOSTS, "iommu-not-enabled"))
    unknown = _audit(os.path.join(FIXTURE_HOSTS, "vtd-off-in-firmware"))
    paths = []
    os.makedirs(os.path.join(folder, "reports"))
    for index in range(hosts):
        data = failing if index % 20 == 7 else unknown if index % 20 == 13 else member
        data["host"]["hostname"] = f"hv-{index:05d}.example.com"
        path = os.path.join(folder, "reports", f"hv-{index:05d}.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        paths.append(path)
    return paths


def fleet_run(paths: list[str], out: str) -> list[str]:
    """The command: every fleet output at once, the text summary on standard output."""
    unreachable = [
        f"--unreachable=gone-{n:03d}=unreachable: no route" for n in range(len(paths) // 100)
    ]
    return [
        sys.executable,
        "-c",
        "import subprocess, sys; "
        "sys.exit(subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], 'w')).returncode)",
        os.path.join(out, "summary.txt"),
        *command(),
        "report",
        *paths,
        *unreachable,
        "--html",
        os.path.join(out, "fleet.html"),
        "--junit",
        os.path.join(out, "fleet.xml"),
        "--json",
        os.path.join(out, "fleet.json"),
    ]


def validators(report_path: str, runs: int = 200) -> dict[str, float]:
    """Milliseconds per report for jsonschema (where installed) and fastjsonschema."""
    sys.path.insert(0, os.path.join(HERE, ".."))
    from auditor.schema import Validator, schema_text

    schema = json.loads(schema_text())
    with open(report_path, encoding="utf-8") as handle:
        document = json.load(handle)
    figures = {}
    ours = Validator(schema)
    start = time.perf_counter()
    for _ in range(runs):
        ours.errors(document)
    figures["fastjsonschema"] = (time.perf_counter() - start) / runs * 1000
    try:
        import jsonschema
    except ImportError:
        return figures
    oracle = jsonschema.Draft7Validator(schema)
    start = time.perf_counter()
    for _ in range(runs // 10):
        list(oracle.iter_errors(document))
    figures["jsonschema"] = (time.perf_counter() - start) / (runs // 10) * 1000
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=10_000)
    args = parser.parse_args()
    targets = Targets()
    with tempfile.TemporaryDirectory() as folder:
        paths = saved_reports(folder, args.hosts)
        size_kb = os.path.getsize(paths[0]) / 1000
        out = os.path.join(folder, "out")
        os.mkdir(out)
        quarter = fleet_run(paths[: args.hosts // 4], out)
        whole = fleet_run(paths, out)
        seconds_quarter = timed(quarter, args.runs)
        seconds = timed(whole, args.runs)
        peak = peak_mib(whole)
        sizes = {name: os.path.getsize(os.path.join(out, name)) for name in sorted(os.listdir(out))}
        checks = validators(paths[0])
    print(
        f"{args.hosts:,} host reports of {size_kb:.0f} KB -> text summary + HTML + JUnit + "
        f"JSON: {seconds:.2f} s, peak {peak:.1f} MiB "
        f"({', '.join(f'{name} {size / 1e6:.1f} MB' for name, size in sizes.items())}) "
        f"on Python {sys.version.split()[0]}"
    )
    print(
        "schema validation per report: "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in sorted(checks.items()))
    )
    targets.check(
        f"fleet report of {args.hosts:,} hosts under {TARGET_S:.0f} s",
        f"{seconds:.2f} s",
        seconds < TARGET_S,
    )
    targets.check(
        f"fleet report of {args.hosts:,} hosts under {TARGET_MIB} MiB",
        f"{peak:.1f} MiB",
        peak < TARGET_MIB,
    )
    per_host = seconds / args.hosts
    per_host_quarter = seconds_quarter / (args.hosts // 4)
    targets.check(
        f"linear in hosts: per host at {args.hosts:,} within {LINEAR}x of at {args.hosts // 4:,}",
        f"{per_host * 1e3:.2f} ms vs {per_host_quarter * 1e3:.2f} ms "
        f"({per_host / per_host_quarter:.2f}x)",
        per_host <= LINEAR * per_host_quarter,
    )
    targets.check(
        f"fleet HTML under {TARGET_HTML_MB} MB",
        f"{sizes['fleet.html'] / 1e6:.1f} MB",
        sizes["fleet.html"] < TARGET_HTML_MB * 1e6,
    )
    targets.check(
        f"text summary under {TARGET_TEXT_MB} MB",
        f"{sizes['summary.txt'] / 1e6:.3f} MB",
        sizes["summary.txt"] < TARGET_TEXT_MB * 1e6,
    )
    return 1 if targets.missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
