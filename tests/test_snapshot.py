"""Snapshots: what the collector takes, round trips (fixture roots and this machine), and
archives built to attack the unpacker."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from auditor import __version__
from auditor.context import Context
from auditor.model import Report
from auditor.registry import load_checks
from auditor.runner import host_info, run_audit
from auditor.sources import collect, open_host
from auditor.sources.snapshot import reads
from auditor.sources.tarindex import ArchiveError, TarIndex
from tests.conftest import HOSTS, audit_report, open_to_all
from tests.test_cli import run_cli

ROOTS = sorted(path.name for path in HOSTS.iterdir())
CHECKS = load_checks(include_third_party=False)


def make_snapshot(root: str, out: Path) -> Path:
    """Collect a root in-process, as `hostaudit snapshot --root` does."""
    patterns = reads(CHECKS)
    collector = collect.snapshot(root, patterns)
    with open(out, "wb") as handle:
        collect.write_archive(collector, patterns, handle)
    return out


def audit_snapshot(archive: Path, devices: tuple[str, ...] = ()) -> Report:
    with open_host(snapshot=str(archive)) as host:
        ctx = Context(host=host, requested_devices=devices)
        return run_audit(CHECKS, ctx, host_info(ctx))


def verdicts(report: Report) -> list[tuple]:
    """Everything a result says, but timings and where the root was."""
    return [
        (
            r.check.id,
            r.status.value,
            r.outcome.message,
            [(e.source, e.value) for e in r.outcome.evidence],
            [(d.address, d.status.value, d.message) for d in r.outcome.devices],
        )
        for r in report.results
    ]


def test_the_collector_is_of_this_version():
    """collect.py stands alone: its READS are kept equal to the checks' by make generate
    (tests/test_generated.py), its version here."""
    assert reads(CHECKS) == collect.READS
    assert __version__ == collect.VERSION


@pytest.mark.parametrize("name", ROOTS)
@pytest.mark.parametrize("devices", [(), ("0000:01:00.0",)], ids=["default", "gpu"])
def test_snapshot_of_a_root_gives_the_same_verdicts(name, devices, tmp_path):
    archive = make_snapshot(str(HOSTS / name), tmp_path / "host.tar.gz")
    expected = audit_report(HOSTS / name, devices)
    got = audit_snapshot(archive, devices)
    assert verdicts(got) == verdicts(expected)
    assert got.host.hostname == expected.host.hostname
    assert got.host.root == f"snapshot {archive}"


def test_snapshot_keeps_sysfs_links_and_records_only_names_of_unread_files(tmp_path):
    archive = make_snapshot(str(HOSTS / "intel-ready"), tmp_path / "host.tar.gz")
    with tarfile.open(archive) as tar:
        members = {m.name.split("/root", 1)[1]: m for m in tar if "/root/" in m.name}
        manifest = json.load(tar.extractfile(f"{collect.FORMAT}/manifest.json"))
    device = members["/sys/bus/pci/devices/0000:01:00.0"]
    assert device.issym() and device.linkname.startswith("../../../devices/pci0000:00/")
    assert members["/sys/kernel/iommu_groups/1/devices/0000:01:00.0"].issym()
    # ACPI tables the checks do not read are listed by name, their content left behind.
    assert members["/sys/firmware/acpi/tables/DSDT"].size == 0
    assert "/sys/firmware/acpi/tables/DSDT" in manifest["listed_only"]
    assert members["/sys/firmware/acpi/tables/DMAR"].size > 0
    # /dev/kvm is a name; reading it is what a live read would say of a device node.
    assert manifest["host"] == {
        "hostname": "intel-ready",
        "kernel_release": "5.14.0-362.8.1.el9_3.x86_64",
        "boot_time": 1763971200,
        "machine_id": None,
    }
    assert manifest["tool_version"] == __version__ and manifest["live"] is False
    assert manifest["reads"] == list(reads(CHECKS))


def test_snapshot_of_a_root_with_escaping_links_stays_inside(tmp_path):
    """symlink-escape's links climb out of the root; stored, they are re-rooted."""
    archive = make_snapshot(str(HOSTS / "symlink-escape"), tmp_path / "host.tar.gz")
    with tarfile.open(archive) as tar:
        links = {m.name: m.linkname for m in tar if m.issym()}
    cmdline = links[f"{collect.FORMAT}/root/proc/cmdline"]
    assert not cmdline.startswith("/")
    assert os.path.normpath(os.path.join("/proc", cmdline)) == "/outside-secret"
    TarIndex(str(archive), top=collect.FORMAT).close()  # passes the reader's own rules


def test_guest_console_passwords_are_not_collected(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(HOSTS / "intel-ready", root, symlinks=True)
    guest = root / "etc/libvirt/qemu/g.xml"
    guest.parent.mkdir(parents=True, exist_ok=True)
    guest.write_text("<domain><devices><graphics type='vnc' passwd='s3cret'/></devices></domain>")
    archive = make_snapshot(str(root), tmp_path / "host.tar.gz")
    with tarfile.open(archive) as tar:
        text = tar.extractfile(f"{collect.FORMAT}/root/etc/libvirt/qemu/g.xml").read()
    assert b"s3cret" not in text and b'passwd="(removed)"' in text


@pytest.mark.live
def test_live_audit_equals_the_audit_of_its_snapshot(tmp_path):
    archive = tmp_path / "live.tar.gz"
    done = run_cli("snapshot", "-o", str(archive))
    assert done.returncode == 0, done.stderr
    assert "collected" in done.stderr
    live = run_cli("audit", "--format", "json")
    snap = run_cli("audit", "--snapshot", str(archive), "--format", "json")
    assert live.returncode == snap.returncode, (live.stdout, snap.stdout)
    a, b = json.loads(live.stdout), json.loads(snap.stdout)

    def judged(report: dict) -> list[tuple]:
        return [(r["id"], r["status"], r["message"], r.get("devices")) for r in report["results"]]

    assert judged(a) == judged(b)
    assert (a["host"]["hostname"], a["host"]["kernel_release"]) == (
        b["host"]["hostname"],
        b["host"]["kernel_release"],
    )


def _python36() -> str | None:
    pyenv = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    candidates = sorted(Path(pyenv or "/nonexistent").glob("versions/3.6.*/bin/python3.6"))
    return str(candidates[-1]) if candidates else shutil.which("python3.6")


def test_the_collector_runs_alone_on_python_3_6(tmp_path):
    """Copied out of the package, with nothing but the standard library of Python 3.6."""
    python = _python36()
    if python is None:
        pytest.skip("no Python 3.6 interpreter (pyenv install 3.6) to run the collector with")
    script = tmp_path / "collect.py"
    shutil.copy(collect.__file__, script)
    done = subprocess.run(
        [python, "-I", str(script), "--root", str(HOSTS / "amd-ready")],
        capture_output=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr.decode()
    archive = tmp_path / "host.tar.gz"
    archive.write_bytes(done.stdout)  # python3 collect.py > host.tar.gz
    assert b"collected" in done.stderr
    assert verdicts(audit_snapshot(archive)) == verdicts(audit_report(HOSTS / "amd-ready"))


def test_print_collector_gives_the_stand_alone_file():
    done = run_cli("snapshot", "--print-collector")
    assert done.returncode == 0
    assert done.stdout == Path(collect.__file__).read_text()


def test_a_snapshot_taken_without_root_says_needs_root(world_dir):
    """The collector as nobody: a root-only file is recorded, and the audit of the
    snapshot says "needs root" for it, as a live audit by that user would."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if os.geteuid() != 0 or python is None:
        pytest.skip("needs root (to become nobody) and a system python3")
    world = world_dir
    root = world / "root"
    shutil.copytree(HOSTS / "intel-ready", root, symlinks=True)
    shutil.copy(collect.__file__, world / "collect.py")
    open_to_all(world)
    os.chmod(root / "sys/firmware/acpi/tables/DMAR", 0o400)
    os.chmod(world, 0o777)  # nobody writes the archive here

    def nobody() -> None:
        os.setgid(65534)
        os.setuid(65534)

    out = world / "host.tar.gz"
    done = subprocess.run(
        [python, "-I", str(world / "collect.py"), "--root", str(root), "-o", str(out)],
        capture_output=True,
        text=True,
        preexec_fn=nobody,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    assert "1 need root" in done.stderr
    results = {r.check.id: r for r in audit_snapshot(out).results}
    firmware = results["iommu.firmware-table"]
    # What the firmware check says when the live audit runs without root.
    assert firmware.status.value == "error"
    assert (
        firmware.outcome.message == "DMAR present but needs root to decode: run the audit as root"
    )


# -- archives that must be refused --------------------------------------------------------


def _archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w:gz"):
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is None and info.isreg() and info.size:
                # A header that claims more than follows: addfile() refuses to write one
                # from Python 3.13 on, so write the header block itself.
                block = info.tobuf(tar.format, tar.encoding, tar.errors)
                tar.fileobj.write(block)
                tar.offset += len(block)
                continue
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", size: int = 0):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size, info.mode = kind, link, size, 0o644
    return info


def _manifest() -> tuple[tarfile.TarInfo, bytes]:
    return (_member(f"{collect.FORMAT}/manifest.json"), b"{}")


TOP = collect.FORMAT
MALICIOUS = {
    "path traversal": [_manifest(), (_member(f"{TOP}/../../evil-traversal"), b"x")],
    "absolute path": [_manifest(), (_member("/tmp/evil-absolute"), b"x")],
    "symlink escape": [
        _manifest(),
        (_member(f"{TOP}/root/etc", tarfile.SYMTYPE, "../../../.."), None),
    ],
    "absolute symlink": [_manifest(), (_member(f"{TOP}/root/etc", tarfile.SYMTYPE, "/etc"), None)],
    "write through a link": [
        _manifest(),
        (_member(f"{TOP}/root/dir", tarfile.SYMTYPE, "."), None),
        (_member(f"{TOP}/root/dir/x"), b"x"),
    ],
    # Each link alone stays inside; followed through the first, the second leaves.
    "link chain escape": [
        _manifest(),
        (_member(f"{TOP}/root/a/b/up", tarfile.SYMTYPE, "../../../.."), None),
        (_member(f"{TOP}/root/a/b/out", tarfile.SYMTYPE, "up/../x"), None),
    ],
    "character device": [_manifest(), (_member(f"{TOP}/root/dev/mem", tarfile.CHRTYPE), None)],
    "block device": [_manifest(), (_member(f"{TOP}/root/dev/sda", tarfile.BLKTYPE), None)],
    "fifo": [_manifest(), (_member(f"{TOP}/root/fifo", tarfile.FIFOTYPE), None)],
    "hard link": [
        _manifest(),
        (_member(f"{TOP}/root/passwd", tarfile.LNKTYPE, "/etc/passwd"), None),
    ],
    "huge member header": [_manifest(), (_member(f"{TOP}/root/big", size=10 << 30), None)],
    "foreign archive": [(_member("photos/cat.jpg"), b"\xff\xd8")],
}
REASONS = {
    "path traversal": "climbs out with '..'",
    "absolute path": "absolute path",
    "symlink escape": "points out of the archive",
    "absolute symlink": "points to the absolute path",
    "write through a link": "written through a link",
    "link chain escape": "resolves outside the archive",
    "character device": "device file or FIFO",
    "block device": "device file or FIFO",
    "fifo": "device file or FIFO",
    "hard link": "hard link",
    "huge member header": "the limit is",
    "foreign archive": "not a hostaudit-snapshot archive",
}


def _assert_refused(archive: Path, tmp_path: Path, reason: str) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    done = run_cli("audit", "--snapshot", str(archive))
    assert done.returncode == 2, done.stdout + done.stderr
    assert reason in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"hostaudit: {archive}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "nothing written beside it"
    with pytest.raises(ArchiveError, match=reason.replace("(", r"\(")):
        TarIndex(str(archive), top=collect.FORMAT)


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_archives_are_refused(case, tmp_path):
    # Built inside a folder of its own, so that anything written outside shows up.
    work = tmp_path / "work"
    work.mkdir()
    archive = _archive(work / "evil.tar.gz", MALICIOUS[case])
    _assert_refused(archive, work, REASONS[case])
    assert not Path("/tmp/evil-absolute").exists()
    assert not (tmp_path / "evil-traversal").exists()


def test_a_sparse_10_gib_member_is_refused(tmp_path):
    tar = shutil.which("tar")
    if tar is None:
        pytest.skip("GNU tar is needed to write a sparse member")
    work = tmp_path / "work"
    (work / collect.FORMAT / "root").mkdir(parents=True)
    (work / collect.FORMAT / "manifest.json").write_text("{}")
    sparse = work / collect.FORMAT / "root" / "sparse"
    with open(sparse, "wb") as handle:
        handle.truncate(10 << 30)  # 10 GiB of holes: no disk used
    archive = tmp_path / "sparse.tar.gz"
    subprocess.run([tar, "-czSf", str(archive), "-C", str(work), collect.FORMAT], check=True)
    shutil.rmtree(work)
    assert archive.stat().st_size < 1 << 20
    _assert_refused(archive, tmp_path, "refused")


def test_truncated_and_garbage_archives_are_refused(tmp_path):
    good = make_snapshot(str(HOSTS / "intel-ready"), tmp_path / "good.tar.gz")
    work = tmp_path / "work"
    work.mkdir()
    truncated = work / "truncated.tar.gz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _assert_refused(truncated, work, "corrupt or truncated")
    garbage = work / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b" + os.urandom(4000))
    _assert_refused(garbage, work, "corrupt")
    text = work / "notes.txt"
    text.write_text("hello\n" * 100)
    _assert_refused(text, work, "not a tar archive")


def test_limits_count_members_and_bytes_as_they_arrive(tmp_path, monkeypatch):
    from auditor.sources import tarindex

    good = make_snapshot(str(HOSTS / "intel-ready"), tmp_path / "good.tar.gz")
    monkeypatch.setattr(tarindex, "MAX_MEMBERS", 10)
    with pytest.raises(ArchiveError, match="more than 10 members"):
        TarIndex(str(good), top=collect.FORMAT)
    monkeypatch.setattr(tarindex, "MAX_MEMBERS", 200_000)
    monkeypatch.setattr(tarindex, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(ArchiveError, match="size limit"):
        TarIndex(str(good), top=collect.FORMAT)


def test_a_newer_snapshot_format_asks_for_an_upgrade(tmp_path):
    manifest = json.dumps({"format": collect.FORMAT, "format_version": 99}).encode()
    archive = _archive(
        tmp_path / "new.tar.gz",
        [
            (_member(f"{TOP}/manifest.json"), manifest),
            (_member(f"{TOP}/root", tarfile.DIRTYPE), None),
        ],
    )
    done = run_cli("audit", "--snapshot", str(archive))
    assert done.returncode == 2
    assert "snapshot format 99 is newer than this hostaudit reads (1): upgrade" in done.stderr


def test_snapshot_and_root_are_exclusive_and_output_is_required(tmp_path):
    done = run_cli("audit", "--snapshot", "x.tar.gz", "--root", "/tmp")
    assert done.returncode == 2 and "not allowed with argument" in done.stderr
    done = run_cli("snapshot")
    assert done.returncode == 2 and "give -o HOST.tar.gz" in done.stderr
    done = run_cli("audit", "--snapshot", str(tmp_path / "missing.tar.gz"))
    assert done.returncode == 2 and "no such file" in done.stderr


def test_an_unpacked_snapshot_folder_is_a_root_too(tmp_path):
    archive = make_snapshot(str(HOSTS / "gpu-shares-group-with-usb"), tmp_path / "h.tar.gz")
    folder = tmp_path / "unpacked"
    folder.mkdir()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(folder)], check=True)
    done = run_cli("audit", "--root", str(folder / collect.FORMAT), "--format", "json")
    by_id = {r["id"]: r["status"] for r in json.loads(done.stdout)["results"]}
    expected = {
        r.check.id: r.status.value
        for r in audit_report(HOSTS / "gpu-shares-group-with-usb").results
    }
    assert by_id == expected


def test_the_snapshot_command_writes_an_archive_the_audit_reads(tmp_path):
    archive = tmp_path / "h.tar.gz"
    done = run_cli("snapshot", "--root", str(HOSTS / "unsafe-interrupts"), "-o", str(archive))
    assert done.returncode == 0, done.stderr
    assert f"wrote {archive}" in done.stderr
    root = run_cli("audit", "--root", str(HOSTS / "unsafe-interrupts"))
    snap = run_cli("audit", "--snapshot", str(archive))
    assert root.returncode == snap.returncode == 1
    assert _same_table(root.stdout, snap.stdout)


def _same_table(a: str, b: str) -> bool:
    """Text reports equal but for the header (root) and the duration."""
    strip = lambda text: [  # noqa: E731
        line for line in text.split("\n\n", 1)[1].splitlines() if " in " not in line
    ]
    return strip(a) == strip(b)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
