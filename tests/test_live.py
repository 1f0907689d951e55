"""The live audit of the machine the tests run on, cross-checked against plain reads of /sys.

CI machines are virtual machines without an IOMMU: the audit must say so, and an IOMMU host
must not be reported without one. The pyudev path is exercised under umockdev.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor import live
from tests.test_cli import validate

pytestmark = pytest.mark.live
UMOCKDEV_GPU = Path(__file__).parent / "fixtures" / "umockdev" / "gtx1070.umockdev"


@pytest.fixture(scope="module")
def live_report() -> tuple[int, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "audit", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, 1, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def _by_id(report: dict) -> dict[str, dict]:
    return {result["id"]: result for result in report["results"]}


def test_live_audit_completes_with_valid_json(live_report):
    code, report = live_report
    validate(report)
    assert report["host"]["root"] == "/"
    statuses = {result["status"] for result in report["results"]}
    assert code == (1 if "fail" in statuses else 3 if "error" in statuses else 0)
    for result in report["results"]:
        print(f"{result['status']:5} {result['id']:26} {result['message']}")


def test_live_firmware_verdict_matches_the_tables(live_report):
    results = _by_id(live_report[1])
    tables_dir = "/sys/firmware/acpi/tables"
    if not os.path.isdir(tables_dir):
        assert results["iommu.firmware-table"]["status"] == "skip"
        return
    present = [name for name in ("DMAR", "IVRS", "IORT") if os.path.exists(f"{tables_dir}/{name}")]
    firmware = results["iommu.firmware-table"]
    if present:
        assert "no DMAR, IVRS or IORT table" not in firmware["message"]
    else:
        assert firmware["status"] == "fail"
        for dependent in (
            "iommu.kernel-cmdline",
            "iommu.interrupt-remapping",
            "iommu.group-isolation",
        ):
            assert results[dependent]["message"] == "blocked by iommu.firmware-table"


def test_live_iommu_verdict_matches_sysfs(live_report):
    results = _by_id(live_report[1])
    units = [n for n in os.listdir("/sys/class/iommu")] if os.path.isdir("/sys/class/iommu") else []
    groups = (
        os.listdir("/sys/kernel/iommu_groups") if os.path.isdir("/sys/kernel/iommu_groups") else []
    )
    cmdline = results["iommu.kernel-cmdline"]
    if units or groups:
        assert cmdline["status"] in ("pass", "warn")
    else:
        assert cmdline["status"] != "pass", (
            "no IOMMU unit or group exists, so the IOMMU is not active"
        )


def test_live_cpu_verdict_matches_cpuinfo(live_report):
    results = _by_id(live_report[1])
    flags = set()
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    hardware = bool(flags & {"vmx", "svm"})
    expected_pass = hardware and os.path.exists("/dev/kvm")
    assert (results["cpu.virtualization"]["status"] == "pass") is expected_pass


@pytest.mark.skipif(
    shutil.which("umockdev-run") is None, reason="umockdev not installed (Debian package umockdev)"
)
def test_pyudev_names_under_umockdev():
    code = "from auditor import live; import json; print(json.dumps(live.udev_names()))"
    done = subprocess.run(
        ["umockdev-run", "--device", str(UMOCKDEV_GPU), "--", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "0000:01:00.0": "NVIDIA Corporation GP104 [GeForce GTX 1070]"
    }


def test_without_libudev_the_names_come_from_files(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyudev", None)  # import fails, as where libudev is missing
    assert live.udev_names() is None


@pytest.mark.skipif(not os.access("/dev/kmsg", os.R_OK), reason="/dev/kmsg not readable here")
def test_live_kernel_log_comes_from_kmsg_without_blocking():
    from auditor.facts import KMSG, kernel_log
    from auditor.host import Host

    log = kernel_log(Host("/"))
    assert log.source == KMSG
    # The ring buffer starts at boot, whose first message names the kernel.
    assert any(message.startswith("Linux version ") for message in log.messages[:20]), log.messages[
        :3
    ]


def test_without_psutil_boot_time_comes_from_proc_stat(monkeypatch):
    """The pyz runs without psutil: the boot time is btime of /proc/stat, as psutil reads it."""
    psutil = pytest.importorskip("psutil")
    from auditor.facts import boot_time
    from auditor.host import Host

    with_psutil, from_psutil = boot_time(Host("/")), psutil.boot_time()
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil now raises ImportError
    assert live.boot_time() is None
    without = boot_time(Host("/"))
    assert with_psutil is not None and without is not None
    assert abs(without - from_psutil) <= 1  # psutil rounds btime adjustments


def test_without_psutil_qemu_command_lines_come_from_proc(monkeypatch, tmp_path):
    """A QEMU binary is found the same way with psutil and from /proc files; a process that
    only calls itself QEMU (argv[0], `exec -a`) is not taken for one."""
    pytest.importorskip("psutil")
    binary = tmp_path / "qemu-system-x86_64"  # a harmless sleep whose executable is "QEMU"
    shutil.copy(shutil.which("sleep"), binary)
    qemu = subprocess.Popen([str(binary), "30"])
    # bash's exec -a sets argv[0] only: the executable stays sleep.
    spoof = subprocess.Popen(["bash", "-c", "exec -a /usr/bin/qemu-system-x86_64 sleep 30"])
    try:
        for process in (qemu, spoof):
            for _ in range(500):  # until exec'd: before, the process is python or bash
                if (
                    Path(f"/proc/{process.pid}/cmdline")
                    .read_bytes()
                    .startswith((str(binary).encode(), b"/usr/bin/qemu"))
                ):
                    break
                time.sleep(0.01)
        pids = (qemu.pid, spoof.pid)
        with_psutil = [g for g in live.qemu_guests() if g[0] in pids]
        monkeypatch.setitem(sys.modules, "psutil", None)
        without = [g for g in live.qemu_guests() if g[0] in pids]
    finally:
        for process in (qemu, spoof):
            process.kill()
            process.wait()
    assert with_psutil == without == [(qemu.pid, os.geteuid(), [str(binary), "30"])]
