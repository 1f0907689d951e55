"""The running kernel, read through the Host, gives what a plain read gives.

sysfs attributes report a size of 4096 and procfs files 0, whatever they hold (fs/sysfs/file.c,
fs/proc/generic.c); fixtures are regular files of their true size, so only the machine the
suite runs on can show that the Host reads them right. Every path the checks declare in
`reads` that exists here is read both ways; `hostaudit devices` is compared with `lspci`
(pciutils), and every module parameter with a plain read.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import stat
import subprocess

import pytest

from auditor.errors import HostError
from auditor.host import Host
from auditor.registry import load_checks
from tests.test_cli import run_cli

pytestmark = pytest.mark.live

# Files whose counters move between two reads (interrupts, CPU time, clocks, free memory):
# compared with every number masked.
VOLATILE = ("/proc/interrupts", "/proc/stat", "/proc/cpuinfo", "/proc/meminfo")
# Folders of patterns like /sys/bus/pci/devices/*/config: at most this many matches each.
MAX_MATCHES = 400


def _declared_files() -> list[str]:
    """Regular files on this machine that some check declares it reads."""
    patterns = sorted({path for check in load_checks() for path in check.check.reads})
    found: set[str] = set()
    for pattern in patterns:
        for path in sorted(glob.glob(pattern))[:MAX_MATCHES]:
            try:
                if stat.S_ISREG(os.stat(path).st_mode):
                    found.add(path)
            except OSError:
                continue
    return sorted(found)


def _plain(path: str) -> bytes | OSError:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        return exc


def _masked(data: bytes) -> bytes:
    return re.sub(rb"[ \t]*[0-9.]+", b"#", data)


def test_the_machine_has_pseudo_files_to_compare():
    """The comparison below means something only where the kernel serves sysfs and procfs."""
    files = _declared_files()
    assert "/proc/cmdline" in files
    sysfs = [path for path in files if path.startswith("/sys/")]
    if not sysfs:
        pytest.skip("no declared sysfs attribute exists on this machine")
    assert any(os.stat(path).st_size in (0, 4096) for path in sysfs)


def test_every_declared_file_reads_as_a_plain_read():
    host = Host("/")
    mismatches = []
    try:
        for path in _declared_files():
            plain = _plain(path)
            # The limit the content needs, as the checks give one (64 for an attribute),
            # never the size the kernel reports.
            limit = 64 if isinstance(plain, OSError) else len(plain) + 64
            try:
                ours: bytes | HostError = host.read_bytes(path, limit)
            except HostError as exc:
                ours = exc
            if isinstance(plain, OSError) or isinstance(ours, HostError):
                # Both fail (a write-only attribute, a root-only table) or neither does.
                if isinstance(plain, OSError) != isinstance(ours, HostError):
                    mismatches.append(f"{path}: plain read {plain!r:.80}, Host {ours!r:.80}")
                continue
            same = _masked(ours) == _masked(plain) if path in VOLATILE else ours == plain
            if not same:
                mismatches.append(f"{path}: Host gave {ours[:60]!r}, plain read {plain[:60]!r}")
    finally:
        host.close()
    assert not mismatches, "\n".join(mismatches)


def test_module_parameters_read_as_their_values():
    paths = sorted(glob.glob("/sys/module/*/parameters/*"))
    if not paths:
        pytest.skip("no module parameters under /sys/module on this machine")
    host = Host("/")
    wrong = []
    compared = 0
    try:
        for path in paths:
            plain = _plain(path)
            if isinstance(plain, OSError):
                continue  # write-only parameters (mode 0200) have no value to read
            try:
                value = host.read_text(path, limit=max(64, len(plain)))
            except HostError as exc:
                wrong.append(f"{path}: {exc} (plain read: {plain[:40]!r})")
                continue
            compared += 1
            if value != plain.decode("utf-8", "replace"):
                wrong.append(f"{path}: {value!r:.60} != {plain[:60]!r}")
    finally:
        host.close()
    assert compared, "no module parameter could be read"
    assert not wrong, "\n".join(wrong[:20])


def _lspci() -> dict[str, tuple[str, str, str]]:
    """address -> (class, vendor, device) as `lspci -D -n -mm` prints them."""
    done = subprocess.run(
        ["lspci", "-D", "-n", "-mm"], capture_output=True, text=True, timeout=60, check=True
    )
    functions = {}
    for line in done.stdout.splitlines():
        fields = re.findall(r'"([^"]*)"|(\S+)', line)
        values = [quoted or bare for quoted, bare in fields]
        functions[values[0]] = (values[1], values[2], values[3])
    return functions


@pytest.mark.skipif(not shutil.which("lspci"), reason="no lspci (Debian package pciutils)")
def test_devices_agree_with_lspci():
    expected = _lspci()
    if not expected:
        pytest.skip("this machine has no PCI functions")
    done = run_cli("devices", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = {row["address"]: row for row in json.loads(done.stdout)}
    assert sorted(rows) == sorted(expected)
    for address, (pci_class, vendor, device) in expected.items():
        row = rows[address]
        assert row["ids"] == f"{vendor}:{device}", address
        # lspci -n prints class and subclass (the class attribute without its prog-if byte).
        assert (row["class_code"] or "")[:4] == pci_class, address
