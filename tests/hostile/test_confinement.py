"""The auditor never reads outside the root it was given, never opens what it has not
checked the type of, and never writes anything but the regular files it was asked for."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from tests.hostile.builders import copy_root, is_root, run, write

MARKER = "OUTSIDE-MARKER"
# What the evidence of kvm.unsafe-interrupts quotes when it reads the outside file (the
# inside root never sets it).
LEAKED_OPTION = "options vfio_iommu_type1 allow_unsafe_interrupts=1"

# -- 4. a folder of the root swapped for a link to an outside folder during the audit --------


class Swapper(threading.Thread):
    """Swaps root/etc/modprobe.d for a link to an outside folder, and back, until stopped."""

    def __init__(self, root: Path, outside: Path) -> None:
        super().__init__(daemon=True)
        self.folder = root / "etc/modprobe.d"
        self.parked = root / "etc/.modprobe.d-parked"
        self.outside = outside
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            os.rename(self.folder, self.parked)
            os.symlink(self.outside, self.folder)
            time.sleep(0.0001)
            os.unlink(self.folder)
            os.rename(self.parked, self.folder)
            time.sleep(0.0001)


def _race_root(tmp_path: Path) -> tuple[Path, Path]:
    """A root and an outside folder with the same 100 modprobe.d file names: each file read
    while the swap is under way is a chance to read the outside one."""
    root = copy_root("intel-ready", tmp_path / "root")
    outside = tmp_path / "outside"
    for index in range(100):
        write(root / f"etc/modprobe.d/x{index:03}.conf", "options kvm ignore_msrs=1\n")
        write(outside / f"x{index:03}.conf", f"{LEAKED_OPTION} # {MARKER}\n")
    return root, outside


def test_swapping_a_folder_for_an_outside_link_never_shows_outside_content(tmp_path):
    root, outside = _race_root(tmp_path)
    swapper = Swapper(root, outside)
    swapper.start()
    try:
        leaks = 0
        for _ in range(30):
            done = run("audit", "--root", str(root), "--format", "json", seconds=30)
            assert not done.crashed, done
            leaks += LEAKED_OPTION in done.stdout
    finally:
        swapper.stop.set()
        swapper.join()
    assert leaks == 0, f"{leaks} of 30 audits showed a file from outside the root"


def test_swapping_a_folder_for_an_outside_link_never_puts_outside_content_in_a_snapshot(tmp_path):
    root, outside = _race_root(tmp_path)
    swapper = Swapper(root, outside)
    swapper.start()
    try:
        leaks = 0
        for index in range(60):
            archive = tmp_path / f"h{index}.tar.gz"
            done = run("snapshot", "--root", str(root), "-o", str(archive), seconds=30)
            assert done.code == 0, done
            with tarfile.open(archive) as tar:
                for item in tar:
                    if item.isreg() and MARKER.encode() in (tar.extractfile(item).read() or b""):
                        leaks += 1
    finally:
        swapper.stop.set()
        swapper.join()
    assert leaks == 0, f"{leaks} of 60 snapshots hold a file from outside the root"


# -- 5. report paths that are not regular files ----------------------------------------------


def test_a_fifo_given_as_report_path_is_refused_not_replaced(tmp_path):
    fifo = tmp_path / "report.json"
    os.mkfifo(fifo)
    done = run(
        "audit", "--root", str(copy_root("intel-ready", tmp_path / "r")), "--json", str(fifo)
    )
    assert done.code == 2 and not done.crashed, done
    assert "not a regular file" in done.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced"


def test_dash_means_standard_output(tmp_path):
    root = copy_root("intel-ready", tmp_path / "r")
    done = run("audit", "--root", str(root), "--json", "-")
    assert done.code == 0, done
    assert json.loads(done.stdout)["host"]["hostname"] == "intel-ready"
    both = run("audit", "--root", str(root), "--json", "-", "--format", "nagios")
    assert both.code == 3 and "standard output" in both.stderr, both  # Nagios: UNKNOWN


@pytest.mark.skipif(
    not is_root() or not shutil.which("unshare"), reason="needs root and unshare(1)"
)
@pytest.mark.parametrize("device", ["null", "full", "stdout"])
def test_device_files_given_as_report_paths_are_refused_as_root(tmp_path, device):
    """In a private mount namespace with a tmpfs over /dev, so the real /dev is safe."""
    root = copy_root("intel-ready", tmp_path / "r")
    script = (
        "set -e; mount -t tmpfs tmpfs /dev; mknod /dev/null c 1 3; mknod /dev/full c 1 7; "
        "ln -s /proc/self/fd/1 /dev/stdout; "
        f"{sys.executable} -m auditor audit --root {root} --json /dev/{device} "
        f">/dev/null 2>{tmp_path}/stderr && code=0 || code=$?; "
        f"echo $code > {tmp_path}/code; stat -c %F /dev/{device} > {tmp_path}/kind"
    )
    subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        check=True,
        cwd=Path(__file__).parents[2],
    )
    kind = (tmp_path / "kind").read_text().strip()
    assert (tmp_path / "code").read_text().strip() == "2", (tmp_path / "stderr").read_text()
    assert kind in ("character special file", "symbolic link"), kind
    assert "Traceback" not in (tmp_path / "stderr").read_text()


# -- 7. the stand-alone collector's output file ----------------------------------------------


def test_the_collector_does_not_follow_a_link_planted_at_its_temporary_name(tmp_path):
    collector = tmp_path / "collect.py"
    done = run("snapshot", "--print-collector")
    collector.write_text(done.stdout)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "out.tar.gz"
    # Plant <out>.<pid>.tmp -> victim for the collector's own pid, then become the collector.
    plant = (
        "import os, sys; "
        f"os.symlink({str(victim)!r}, {str(out)!r} + '.%d.tmp' % os.getpid()); "
        f"os.execv(sys.executable, [sys.executable, {str(collector)!r}, '--root', "
        f"{str(tmp_path)!r}, '-o', {str(out)!r}, '-q'])"
    )
    subprocess.run([sys.executable, "-c", plant], check=False, capture_output=True)
    assert victim.read_text() == "precious\n", "the collector wrote through a planted link"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_snapshot_archives_are_written_mode_0600(tmp_path):
    out = tmp_path / "h.tar.gz"
    assert (
        run(
            "snapshot", "--root", str(copy_root("intel-ready", tmp_path / "r")), "-o", str(out)
        ).code
        == 0
    )
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


# -- 8. device nodes and FIFOs inside the root are never opened ------------------------------

IN_OPEN, IN_NONBLOCK = 0x20, 0o4000


class OpenWatch:
    """inotify IN_OPEN on some paths: it fires for an open that can read, never for O_PATH."""

    def __init__(self, *paths: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(IN_NONBLOCK)
        assert self.fd >= 0
        for path in paths:
            assert libc.inotify_add_watch(self.fd, bytes(path), IN_OPEN) >= 0

    def opened(self) -> int:
        count = 0
        while True:
            try:
                count += len(os.read(self.fd, 4096)) // 16
            except BlockingIOError:
                return count


def test_fifos_and_device_nodes_in_a_root_are_never_opened(tmp_path):
    root = copy_root("intel-ready", tmp_path / "root")
    planted = [root / "proc/cmdline", root / "etc/default/grub"]
    for path in planted:
        path.unlink(missing_ok=True)
        os.mkfifo(path)
    if is_root():  # a character device too (this one is harmless: /dev/null's numbers)
        (root / "proc/cpuinfo").unlink()
        os.mknod(root / "proc/cpuinfo", 0o644 | stat.S_IFCHR, os.makedev(1, 3))
        planted.append(root / "proc/cpuinfo")
    watch = OpenWatch(*planted)
    done = run("audit", "--root", str(root), "--format", "json", seconds=30)
    assert not done.crashed, done
    snap = run("snapshot", "--root", str(root), "-o", str(tmp_path / "h.tar.gz"), seconds=30)
    assert snap.code == 0, snap
    assert watch.opened() == 0, "a FIFO or device node of the root was opened"
    assert "not a regular file" in done.stdout


# -- 17. output files --------------------------------------------------------------------------


def test_the_same_output_path_twice_is_refused(tmp_path):
    root = copy_root("intel-ready", tmp_path / "r")
    same = tmp_path / "x"
    done = run("audit", "--root", str(root), "--json", str(same), "--html", str(same))
    assert done.code == 2 and "twice" in done.stderr, done
    assert not same.exists()


def test_an_existing_report_keeps_its_mode_and_owner(tmp_path):
    root = copy_root("intel-ready", tmp_path / "r")
    report = tmp_path / "report.json"
    report.write_text("{}")
    os.chmod(report, 0o600)
    owner = (65534, 65534) if is_root() else (os.getuid(), os.getgid())
    if is_root():
        os.chown(report, *owner)
    assert run("audit", "--root", str(root), "--json", str(report)).code == 0
    info = os.stat(report)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert (info.st_uid, info.st_gid) == owner
    assert json.loads(report.read_text())["host"]["hostname"] == "intel-ready"


@pytest.mark.parametrize("where", ["parse", "dispatch"])
def test_sigterm_while_arguments_are_parsed_or_the_run_ends_is_exit_143(monkeypatch, capsys, where):
    """Under load a SIGTERM landed while the arguments were still parsed (outside the try
    that handled it) or as the run returned: a traceback, not 143."""
    from auditor import arguments, cli

    def terminated(*_):
        cli._terminate(signal.SIGTERM, None)  # as the signal does: inside the handler

    if where == "parse":
        monkeypatch.setattr(arguments, "parse", terminated)
    else:
        monkeypatch.setattr(cli, "_dispatch", terminated)
    before = signal.getsignal(signal.SIGTERM)
    try:
        assert cli.main(["checks"]) == 128 + signal.SIGTERM
    finally:
        after = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, before)
    assert "terminated (SIGTERM)" in capsys.readouterr().err
    # After the run the handler is the one before it, so a late signal ends the process
    # as signals do.
    assert after == before


def test_a_second_sigterm_does_not_break_off_the_clean_up():
    from auditor import cli

    before = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(cli.Terminated):
            cli._terminate(signal.SIGTERM, None)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)


def test_after_a_run_the_previous_sigterm_handler_is_back(capsys):
    from auditor import cli

    def mine(*_):
        pass

    before = signal.signal(signal.SIGTERM, mine)
    try:
        assert cli.main(["checks"]) == 0
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)


def test_sigterm_leaves_no_temporary_files(tmp_path):
    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    from bench_audit import build_root

    root = build_root(str(tmp_path), 4000)
    archive = tmp_path / "big.tar.gz"
    assert run("snapshot", "--root", root, "-o", str(archive), seconds=120).code == 0
    temp = tmp_path / "tmp"
    temp.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, TMPDIR=str(temp))
    for delay in (0.1, 0.4, 0.8):
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "auditor",
                "audit",
                "--snapshot",
                str(archive),
                "--json",
                str(out / "r.json"),
                "--html",
                str(out / "r.html"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(delay)
        running = child.poll() is None
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
        assert b"Traceback" not in err, err
        if running:  # killed is not a verdict
            # 143 once hostaudit's handler is installed; a SIGTERM that arrives before start-up
            # finished kills the interpreter itself (-15), which is no verdict either.
            assert child.returncode in (128 + signal.SIGTERM, -signal.SIGTERM), (
                child.returncode,
                err,
            )
        assert list(temp.iterdir()) == [], "temporary files left in TMPDIR"
        assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
