"""Time `hostaudit audit --format json` from every kind of source, and taking snapshots.

Run: make bench (or python benchmarks/bench_audit.py [--runs N]).

Synthetic roots hold 10, 500 and 4,000 PCI functions laid out as sysfs lays them out
(device folders, bus links, driver and group links), every one bound to vfio-pci so the
group check examines each; most sit alone in a group, every eighth shares its neighbour's.
Each root is also audited from its snapshot (`hostaudit snapshot`, read in place) and from
its sosreport form (tests/sosform.py: what sos would collect of it).

Figures are medians. Where two commands are compared, their runs alternate, so that a
machine that slows down for a while slows both. Targets (the fleet-speed issue):
- live audit within 3x the same interpreter's `python -c pass`;
- `audit --root` of 4,000 functions under 1 s; every audit linear in functions (the cost
  per function at 4,000 within 2x of that at 500);
- `audit --snapshot` within 1.5x of `audit --root` of the same host, at 500 and 4,000;
- `hostaudit snapshot` of 4,000 functions under 1 s;
- the audit of a sosreport within 2x of the audit of the equivalent root;
- peak memory of any single-host audit under 60 MiB at 4,000 functions, from any source.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tests.sosform: the sosreport form of a root

SIZES = (10, 500, 4000)
PEAK_SCRIPT = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
    "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _write(path: str, text: str | bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(text.encode() if isinstance(text, str) else text)


def _link(path: str, target: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.symlink(os.path.relpath(target, os.path.dirname(path)), path)


def build_root(base: str, functions: int) -> str:
    """A host root with `functions` PCI functions behind one root port, all bound to vfio-pci."""
    root = os.path.join(base, f"host-{functions}")
    _write(f"{root}/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro intel_iommu=on\n")
    _write(f"{root}/proc/sys/kernel/osrelease", "6.8.0-49-generic\n")
    _write(f"{root}/proc/sys/kernel/hostname", f"bench-{functions}\n")
    _write(f"{root}/proc/cpuinfo", "vendor_id\t: GenuineIntel\nflags\t\t: fpu vmx ept\n")
    _write(f"{root}/proc/interrupts", "    CPU0\n  8:  0  IR-IO-APIC  8-edge  rtc0\n")
    _write(f"{root}/dev/kvm", "")
    with open(
        os.path.join(HERE, "..", "tests", "fixtures", "acpi", "intel-dmar.aml"), "rb"
    ) as table:
        _write(f"{root}/sys/firmware/acpi/tables/DMAR", table.read())
    _write(f"{root}/sys/class/iommu/dmar0/intel-iommu/ecap", "f050da\n")
    _write(f"{root}/etc/kernel/cmdline", "root=/dev/sda1 ro intel_iommu=on\n")
    _write(f"{root}/var/log/dmesg", "[    0.000000] DMAR: IOMMU enabled\n")
    config = bytes(64)
    group = 0
    for index in range(functions):
        bus, function = divmod(index, 8)
        address = f"0000:{bus // 32 + 1:02x}:{bus % 32:02x}.{function}"
        folder = f"{root}/sys/devices/pci0000:00/0000:00:01.0/{address}"
        for name, value in (
            ("vendor", "0x8086\n"),
            ("device", "0x10c9\n"),
            ("class", "0x020000\n"),
            ("max_link_speed", "8.0 GT/s PCIe\n"),
        ):
            _write(f"{folder}/{name}", value)
        _write(f"{folder}/config", config)
        if index % 8 != 7:  # every eighth function shares its neighbour's group
            group += 1
        _link(f"{root}/sys/bus/pci/devices/{address}", folder)
        _link(f"{folder}/iommu_group", f"{root}/sys/kernel/iommu_groups/{group}")
        _link(f"{root}/sys/kernel/iommu_groups/{group}/devices/{address}", folder)
        _link(f"{folder}/driver", f"{root}/sys/bus/pci/drivers/vfio-pci")
        _link(f"{root}/sys/bus/pci/drivers/vfio-pci/{address}", folder)
    return root


def command() -> list[str]:
    script = shutil.which("hostaudit", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "auditor"]


def _run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def timed(argv: list[str], runs: int) -> float:
    """Median wall time of `runs` runs, after one warm-up."""
    return compared({"one": argv}, runs)["one"]


def compared(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median wall time of each command; the commands' runs alternate (after a warm-up)."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():
        _run(argv)
    for _ in range(runs):
        for name, argv in commands.items():
            samples[name].append(_run(argv))
    return {name: statistics.median(values) for name, values in samples.items()}


def peak_mib(argv: list[str]) -> float:
    """The peak resident memory of one run of argv."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, *argv], capture_output=True, text=True
    )
    return int(done.stdout.strip()) / 1024


class Targets:
    """Figures with a target: printed as they are met, and counted."""

    def __init__(self) -> None:
        self.missed: list[str] = []

    def check(self, name: str, figure: str, ok: bool) -> None:
        print(f"  {'ok    ' if ok else 'MISSED'} {name}: {figure}")
        if not ok:
            self.missed.append(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    audit = [*command(), "audit", "--format", "json"]
    targets = Targets()

    times = compared({"bare": [sys.executable, "-c", "pass"], "live": audit}, args.runs * 3)
    bare, live = times["bare"], times["live"]
    print(f"Python {sys.version.split()[0]}: python -c pass {bare * 1000:.1f} ms")
    print(f"live audit: {live * 1000:.1f} ms, peak {peak_mib(audit):.1f} MiB")
    targets.check("live audit within 3x python -c pass", f"{live / bare:.2f}x", live <= 3 * bare)

    from tests.sosform import sosreport_of

    figures: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as base:
        for size in SIZES:
            root = build_root(base, size)
            snapshot = os.path.join(base, f"host-{size}.tar.gz")
            take = [*command(), "snapshot", "--root", root, "-o", snapshot, "-q"]
            subprocess.run(take, check=True)
            sos = sosreport_of(Path(root), Path(base) / f"sos-{size}")
            sources = {
                "root": [*audit, "--root", root],
                "snapshot": [*audit, "--snapshot", snapshot],
                "sosreport": [*audit, "--root", str(sos)],
            }
            times = compared({**sources, "take": take}, args.runs)
            peaks = {name: peak_mib(argv) for name, argv in sources.items()}
            figures[size] = times
            print(
                f"{size:5} functions: "
                + ", ".join(
                    f"{name} {times[name] * 1000:.0f} ms ({peaks[name]:.0f} MiB)"
                    for name in sources
                )
                + f"; taking the snapshot {times['take'] * 1000:.0f} ms"
            )
            if size == 4000:
                targets.check(
                    "audit --root of 4,000 functions under 1 s",
                    f"{times['root'] * 1000:.0f} ms",
                    times["root"] < 1.0,
                )
                targets.check(
                    "hostaudit snapshot of 4,000 functions under 1 s",
                    f"{times['take'] * 1000:.0f} ms",
                    times["take"] < 1.0,
                )
                for name, peak in peaks.items():
                    targets.check(
                        f"peak memory of audit from a {name} under 60 MiB at 4,000",
                        f"{peak:.1f} MiB",
                        peak < 60,
                    )
            if size in (500, 4000):
                ratio = times["snapshot"] / times["root"]
                targets.check(
                    f"audit --snapshot within 1.5x audit --root at {size:,}",
                    f"{ratio:.2f}x",
                    ratio <= 1.5,
                )
                ratio = times["sosreport"] / times["root"]
                targets.check(
                    f"sosreport audit within 2x the equivalent root at {size:,}",
                    f"{ratio:.2f}x",
                    ratio <= 2.0,
                )
    for name in ("root", "snapshot"):
        per_mid = (figures[500][name] - bare) / 500
        per_big = (figures[4000][name] - bare) / 4000
        targets.check(
            f"audit from a {name} linear in functions",
            f"{per_big * 1e6:.0f} us/function at 4,000, {per_mid * 1e6:.0f} at 500",
            per_big <= 2 * per_mid,
        )
    return 1 if targets.missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
