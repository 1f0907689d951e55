"""Time re-rendering a fleet: `hostaudit report` on 10,000 saved host reports.

Run: make bench (or python benchmarks/bench_reports.py [--runs N] [--hosts N]).

The reports are real audits of the fixture hosts (every status, device results), saved as
JSON under 10,000 host names. One run loads and schema-validates every file once and writes
the fleet HTML (matrix plus a section per host) and the fleet JUnit file. Targets: under
20 s and 500 MiB peak.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from bench_audit import HERE, Targets, command, peak_mib, timed

FIXTURE_HOSTS = os.path.join(HERE, "..", "tests", "fixtures", "hosts")
TARGET_S = 20.0
TARGET_MIB = 500


def saved_reports(folder: str, hosts: int) -> list[str]:
    """`hosts` JSON reports, cycling through audits of the fixture hosts."""
    audits = []
    for name in sorted(os.listdir(FIXTURE_HOSTS)):
        done = subprocess.run(
            [*command(), "audit", "--root", os.path.join(FIXTURE_HOSTS, name), "--format", "json"],
            capture_output=True,
            text=True,
        )
        audits.append(json.loads(done.stdout))
    paths = []
    for index in range(hosts):
        data = audits[index % len(audits)]
        data["host"]["hostname"] = f"hv-{index:04d}.example.com"
        path = os.path.join(folder, f"hv-{index:04d}.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = saved_reports(folder, args.hosts)
        out = os.path.join(folder, "out")
        os.mkdir(out)
        argv = [
            *command(),
            "report",
            *paths,
            "--html",
            os.path.join(out, "fleet.html"),
            "--junit",
            os.path.join(out, "fleet.xml"),
            "--quiet",
        ]
        seconds = timed(argv, args.runs)
        peak = peak_mib(argv)
        sizes = {name: os.path.getsize(os.path.join(out, name)) for name in sorted(os.listdir(out))}
    print(
        f"{args.hosts:,} host reports -> fleet HTML + JUnit: {seconds:.2f} s, peak {peak:.1f} MiB "
        f"({', '.join(f'{name} {size / 1e6:.1f} MB' for name, size in sizes.items())}) "
        f"on Python {sys.version.split()[0]}"
    )
    targets = Targets()
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
    return 1 if targets.missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
