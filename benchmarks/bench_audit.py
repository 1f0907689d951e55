"""Time `hostaudit audit --format json` on synthetic hosts and live, against a bare interpreter.

Run: make bench (or python benchmarks/bench_audit.py [--runs N]).

Synthetic roots hold 10, 500 and 4,000 PCI functions laid out as sysfs lays them out
(device folders, bus links, driver and group links), every one bound to vfio-pci so the
group check examines each; most sit alone in a group, every eighth shares its
neighbour's. Targets: live audit within 3x `python -c pass`; 4,000 functions under 1 s;
cost linear in functions; peak memory under 60 MiB at 4,000 functions.
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

SIZES = (10, 500, 4000)
PEAK_SCRIPT = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
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
    _write(f"{root}/proc/cpuinfo", "vendor_id\t: GenuineIntel\nflags\t\t: fpu vmx ept\n")
    _write(f"{root}/proc/interrupts", "    CPU0\n  8:  0  IR-IO-APIC  8-edge  rtc0\n")
    _write(f"{root}/dev/kvm", "")
    with open(
        os.path.join(HERE, "..", "tests", "fixtures", "acpi", "intel-dmar.aml"), "rb"
    ) as table:
        _write(f"{root}/sys/firmware/acpi/tables/DMAR", table.read())
    _write(f"{root}/sys/class/iommu/dmar0/intel-iommu/ecap", "f050da\n")
    _write(f"{root}/etc/kernel/cmdline", "root=/dev/sda1 ro intel_iommu=on\n")
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


HERE = os.path.dirname(os.path.abspath(__file__))


def command() -> list[str]:
    script = shutil.which("hostaudit", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-m", "auditor"]


def timed(argv: list[str], runs: int) -> float:
    """Median wall time of `runs` runs, after one warm-up."""
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def peak_mib(argv: list[str]) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, *argv], capture_output=True, text=True
    )
    return int(done.stdout.strip()) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    audit = [*command(), "audit", "--format", "json"]
    bare = timed([sys.executable, "-c", "pass"], args.runs)
    print(f"python -c pass: {bare * 1000:.1f} ms ({sys.version.split()[0]})")
    live = timed(audit, args.runs)
    ok_live = live <= 3 * bare
    print(
        f"live audit:     {live * 1000:.1f} ms = {live / bare:.2f}x bare interpreter "
        f"(target <= 3x: {'ok' if ok_live else 'MISSED'})"
    )
    results = {}
    with tempfile.TemporaryDirectory() as base:
        for size in SIZES:
            root = build_root(base, size)
            argv = [*audit, "--root", root]
            results[size] = (timed(argv, args.runs), peak_mib(argv))
            seconds, peak = results[size]
            print(
                f"{size:5} functions: {seconds * 1000:7.1f} ms, peak {peak:5.1f} MiB, "
                f"{(seconds - bare) / size * 1e6:6.1f} us/function over start-up"
            )
    big_time, big_peak = results[4000]
    per_mid = (results[500][0] - bare) / 500
    per_big = (big_time - bare) / 4000
    checks = {
        "4,000 functions under 1 s": big_time < 1.0,
        "peak memory under 60 MiB at 4,000": big_peak < 60,
        "linear: per-function cost at 4,000 within 2x of 500": per_big <= 2 * per_mid,
        "live within 3x bare interpreter": ok_live,
    }
    for name, ok in checks.items():
        print(f"{'ok    ' if ok else 'MISSED'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
