"""The rooted, read-only Host: resolution inside the root, bounded reads, distinct failures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.errors import FileMissingError, UnreadableError
from auditor.host import Host
from tests.conftest import HOSTS, Link, open_to_all


def test_reads_text_and_bytes(make_host):
    host = make_host({"/proc/cmdline": "ro quiet\n", "/sys/x/config": b"\x86\x80"})
    assert host.read_text("/proc/cmdline") == "ro quiet\n"
    assert host.read_bytes("/sys/x/config") == b"\x86\x80"


def test_missing_file_is_its_own_outcome(make_host):
    host = make_host({"/etc/hostname": "h\n"})
    with pytest.raises(FileMissingError):
        host.read_text("/proc/cmdline")
    assert host.read_optional("/proc/cmdline") is None


def test_relative_link_climbing_above_root_stays_inside(tmp_path, make_host):
    (tmp_path / "outside-secret").write_text("SECRET")  # where a naive resolution would land
    host = make_host(
        {"/proc/cmdline": Link("../../../../outside-secret"), "/outside-secret": "inside"}
    )
    # ".." stops at the root, so the link names the root's own /outside-secret.
    assert host.read_text("/proc/cmdline") == "inside"


def test_absolute_link_is_re_rooted(tmp_path, make_host):
    (tmp_path / "outside-secret").write_text("SECRET")
    host = make_host({"/etc/hostname": Link(str(tmp_path / "outside-secret"))})
    with pytest.raises(FileMissingError):
        host.read_text("/etc/hostname")


def test_sysfs_style_links_resolve(make_host):
    host = make_host(
        {
            "/sys/devices/pci0000:00/0000:01:00.0/vendor": "0x10de\n",
            "/sys/bus/pci/devices/0000:01:00.0": Link("../../../devices/pci0000:00/0000:01:00.0"),
            "/sys/devices/pci0000:00/0000:01:00.0/driver": Link(
                "../../../bus/pci/drivers/vfio-pci"
            ),
            "/sys/bus/pci/drivers/vfio-pci/bind": "",
        }
    )
    assert host.read_text("/sys/bus/pci/devices/0000:01:00.0/vendor") == "0x10de\n"
    assert host.link_name("/sys/bus/pci/devices/0000:01:00.0/driver") == "vfio-pci"
    assert (
        host.realpath("/sys/bus/pci/devices/0000:01:00.0") == "/sys/devices/pci0000:00/0000:01:00.0"
    )


def test_link_loop_is_unreadable_not_a_hang(make_host):
    host = make_host({"/a": Link("/b"), "/b": Link("/a")})
    with pytest.raises(UnreadableError):
        host.read_text("/a")


def test_reads_are_bounded(make_host):
    host = make_host({"/var/log/dmesg": "x" * 5000})
    with pytest.raises(UnreadableError, match="larger than 1000 bytes"):
        host.read_text("/var/log/dmesg", limit=1000)


def test_fifo_does_not_block(tmp_path):
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    os.mkfifo(root / "proc" / "cmdline")
    with pytest.raises(UnreadableError, match="not a regular file"):
        Host(str(root)).read_text("/proc/cmdline")


def test_folder_is_unreadable_as_file(make_host):
    host = make_host({"/etc/modprobe.d/a.conf": ""})
    with pytest.raises(UnreadableError):
        host.read_text("/etc/modprobe.d")


def test_glob_listdir_exists(make_host):
    host = make_host(
        {"/etc/modprobe.d/b.conf": "", "/etc/modprobe.d/a.conf": "", "/etc/modprobe.d/x.txt": ""}
    )
    assert host.glob("/etc/modprobe.d/*.conf") == [
        "/etc/modprobe.d/a.conf",
        "/etc/modprobe.d/b.conf",
    ]
    assert host.listdir("/etc/modprobe.d") == ["a.conf", "b.conf", "x.txt"]
    assert host.exists("/etc/modprobe.d/a.conf") and not host.exists("/etc/nothing")


def test_each_file_is_read_once(make_host, monkeypatch):
    host = make_host({"/proc/cmdline": "ro\n"})
    opened: list[str] = []
    real_open = os.open

    def counting_open(path, flags, *args, **kwargs):
        if not flags & (os.O_PATH | os.O_DIRECTORY):  # opened to read content, not probed
            opened.append(path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", counting_open)
    for _ in range(3):
        host.read_text("/proc/cmdline")
    assert len(opened) == 1


def test_trace_records_requested_paths(make_host):
    host = make_host({"/proc/cmdline": "ro\n"})
    host.start_trace()
    host.read_optional("/proc/cmdline")
    host.exists("/etc//nothing")
    assert host.stop_trace() == {"/proc/cmdline", "/etc/nothing"}


NOBODY_SCRIPT = """
import sys
from auditor.host import Host
from auditor.errors import NeedsRootError
host = Host(sys.argv[1])
assert host.exists("/sys/firmware/acpi/tables/DMAR")
try:
    host.read_bytes("/sys/firmware/acpi/tables/DMAR")
except NeedsRootError as exc:
    print("needs root:", exc)
"""


def test_permission_denied_is_needs_root(world_dir):
    """Run the read as an unprivileged user (nobody when we are root, as CI is)."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if os.geteuid() == 0 and python is None:
        pytest.skip("no system python3 that the nobody user can execute")
    root = world_dir / "root"
    shutil.copytree(HOSTS / "intel-ready", root, symlinks=True)
    # The probe needs only the standard library and auditor/, copied where nobody can read it.
    shutil.copytree(Path(__file__).parents[1] / "auditor", world_dir / "src" / "auditor")
    open_to_all(world_dir)
    dmar = root / "sys/firmware/acpi/tables/DMAR"
    os.chmod(dmar, 0o400)  # as the kernel exposes it: existence visible, content root-only

    def drop_privileges() -> None:
        os.setgid(65534)
        os.setuid(65534)

    if os.geteuid() == 0:
        command, preexec = [python, "-c", NOBODY_SCRIPT, str(root)], drop_privileges
    else:
        os.chmod(dmar, 0o000)  # we own the copy: take our own read permission away
        command, preexec = [sys.executable, "-c", NOBODY_SCRIPT, str(root)], None
    env = {"PYTHONPATH": str(world_dir / "src"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        command, capture_output=True, text=True, preexec_fn=preexec, env=env, cwd="/"
    )
    assert done.returncode == 0, done.stderr
    assert "needs root: /sys/firmware/acpi/tables/DMAR: needs root" in done.stdout


def test_the_read_budget_is_the_hosts_whatever_the_reader():
    """A new reader (here: files held in memory) is one class: Host counts what it reads
    against one budget and refuses reads once it is spent, the file that crossed it
    included, never the reader."""
    from auditor.errors import ReadBudgetError
    from auditor.sources.base import FILE, Node, Reader

    files = {f"/f{n}": bytes(1000) for n in range(10)}

    class Memory(Reader):
        def link_target(self, path):
            return None

        def stat(self, path):
            return Node(FILE, 1000)

        def listdir(self, path):
            return sorted(name.lstrip("/") for name in files)

        def read(self, path, limit):
            return files[path]

    host = Host(Memory(), budget=2500)
    assert [len(host.read_bytes(f"/f{n}")) for n in range(3)] == [1000, 1000, 1000]
    with pytest.raises(ReadBudgetError, match="read budget"):
        host.read_bytes("/f3")
    assert host.read_bytes("/f0") == bytes(1000)  # what was read stays readable
