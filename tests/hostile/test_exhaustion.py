"""Inputs built to exhaust memory or time: each run is held to 512 MiB of address space and
a time limit, and must end with a result or a clear refusal, never a crash."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import os
import tarfile

import pytest

from tests.hostile.builders import (
    END,
    GiB,
    MiB,
    copy_root,
    copy_sosreport,
    header,
    member,
    run,
    sparse,
    write,
    zeros_bz2,
    zeros_gzip,
)

# -- 1. /etc/default/grub whose values double on every line --------------------------------

DOUBLING = "A=x\n" + 'A="$A$A"\n' * 32 + 'GRUB_CMDLINE_LINUX="$A intel_iommu=on"\n'


def _persistent(report_text: str) -> dict:
    report = json.loads(report_text)
    return next(r for r in report["results"] if r["id"] == "iommu.cmdline-persistent")


def _assert_cut(outcome: str) -> None:
    result = _persistent(outcome)
    said = result["message"] + json.dumps(result["evidence"])
    assert "cut" in said and "4096" in said, said


def test_grub_values_that_double_every_line_are_cut_in_a_root(tmp_path):
    root = copy_root("reboot-pending", tmp_path / "root")
    write(root / "etc/default/grub", DOUBLING)
    done = run("audit", "--root", str(root), "--format", "json", seconds=30)
    assert not done.crashed and done.code in (0, 1, 3), done
    _assert_cut(done.stdout)


def test_grub_values_that_double_every_line_are_cut_in_a_snapshot(tmp_path):
    root = copy_root("reboot-pending", tmp_path / "root")
    write(root / "etc/default/grub", DOUBLING)
    archive = tmp_path / "h.tar.gz"
    made = run("snapshot", "--root", str(root), "-o", str(archive), seconds=30)
    assert made.code == 0, made
    done = run("audit", "--snapshot", str(archive), "--format", "json", seconds=30)
    assert not done.crashed and done.code in (0, 1, 3), done
    _assert_cut(done.stdout)


def test_grub_values_that_double_every_line_are_cut_in_a_sosreport(tmp_path):
    sos = copy_sosreport(tmp_path)
    write(sos / "etc/default/grub", DOUBLING)
    done = run("audit", "--root", str(sos), "--format", "json", seconds=30)
    assert not done.crashed and done.code in (0, 1, 3), done
    _assert_cut(done.stdout)


# -- 2. tar headers that claim gigabytes -----------------------------------------------------


def _gzip_with_big_header(path, name: str, kind: bytes, size: int) -> None:
    """A gzip'd tar whose first member is a `kind` header claiming `size` bytes of zeros."""
    with open(path, "wb") as out:
        out.write(gzip.compress(header(name, kind, size), mtime=0))
        out.write(zeros_gzip(size + (-size % 512)))
        out.write(gzip.compress(member("hostaudit-snapshot/manifest.json", b"{}") + END, mtime=0))


@pytest.mark.parametrize(
    ("kind", "what"), [(b"L", "GNU long name"), (b"x", "pax")], ids=["gnu-longname", "pax"]
)
def test_a_gigabyte_tar_header_is_refused_before_it_is_read(tmp_path, kind, what):
    archive = tmp_path / "big.tar.gz"
    _gzip_with_big_header(archive, "././@LongLink", kind, 1 * GiB)
    done = run("audit", "--snapshot", str(archive), seconds=30)
    assert done.code == 2 and not done.crashed, done
    assert f"a {what} header of {GiB} bytes; the limit is" in done.stderr, done


def test_a_gigabyte_tar_header_in_a_sosreport_archive_is_refused(tmp_path):
    archive = tmp_path / "sosreport-big.tar.gz"
    _gzip_with_big_header(archive, "././@LongLink", b"L", 1 * GiB)
    done = run("audit", "--root", str(archive), seconds=30)
    assert done.code == 2 and not done.crashed, done
    assert "GNU long name header" in done.stderr, done


# -- 3. link chains built to be exponential ---------------------------------------------------


def _chain(folder, levels: int) -> None:
    """l0 -> l1/../l1 -> ... : naive resolution follows l(i+1) twice for each l(i)."""
    (folder / "d").mkdir(parents=True)
    (folder / "d" / "x.conf").write_text("options kvm ignore_msrs=1\n")
    os.symlink("d", folder / f"l{levels}")
    for level in range(levels):
        os.symlink(f"l{level + 1}/../l{level + 1}", folder / f"l{level}")


def test_a_doubling_link_chain_in_a_root_costs_no_time_to_snapshot(tmp_path):
    root = copy_root("intel-ready", tmp_path / "root")
    _chain(root / "etc/chain", 24)
    os.makedirs(root / "etc/modprobe.d", exist_ok=True)
    os.symlink("../chain/l0/x.conf", root / "etc/modprobe.d/chain.conf")
    done = run("snapshot", "--root", str(root), "-o", str(tmp_path / "h.tar.gz"), seconds=20)
    assert done.code == 0 and not done.crashed, done
    audited = run("audit", "--snapshot", str(tmp_path / "h.tar.gz"), seconds=20)
    assert audited.code in (0, 1, 3) and not audited.crashed, audited


def test_a_doubling_link_chain_in_a_sosreport_costs_no_time(tmp_path):
    sos = copy_sosreport(tmp_path)
    _chain(sos / "etc/chain", 36)
    os.makedirs(sos / "etc/modprobe.d", exist_ok=True)
    os.symlink("../chain/l0/x.conf", sos / "etc/modprobe.d/chain.conf")
    done = run("audit", "--root", str(sos), seconds=20)
    assert done.code in (0, 1, 3) and not done.crashed, done
    archive = tmp_path / "sosreport-chain.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(sos, arcname=sos.name)
    assert archive.stat().st_size < 64 * 1024
    done = run("audit", "--root", str(archive), seconds=20)
    assert done.code in (0, 1, 3) and not done.crashed, done


# -- 9. many files, each under the per-file bound, together far over any honest host -------


def _many_sparse_files(root) -> None:
    for index in range(300):
        sparse(root / f"etc/modprobe.d/big{index:03}.conf", 4 * MiB)


def test_a_root_of_many_big_sparse_files_stops_at_the_read_budget(tmp_path):
    root = copy_root("intel-ready", tmp_path / "root")
    _many_sparse_files(root)
    done = run("audit", "--root", str(root), "--format", "json", seconds=60)
    assert not done.crashed and done.code == 3, done
    report = json.loads(done.stdout)
    errors = [r for r in report["results"] if r["status"] == "error"]
    assert errors and all("read budget" in r["message"] for r in errors), errors


def test_a_snapshot_of_many_big_sparse_files_stops_at_the_read_budget(tmp_path):
    root = copy_root("intel-ready", tmp_path / "root")
    _many_sparse_files(root)
    archive = tmp_path / "h.tar.gz"
    done = run("snapshot", "--root", str(root), "-o", str(archive), seconds=60)
    assert done.code == 0 and not done.crashed, done
    assert "read budget" in done.stderr
    audited = run("audit", "--snapshot", str(archive), "--format", "json", seconds=60)
    assert not audited.crashed and audited.code == 3, audited
    assert "read budget" in audited.stdout


# -- 16. sosreport members the checks never read ----------------------------------------------


def _sos_members() -> bytes:
    """The sosreport fixture as tar members (no end marker)."""
    from tests.hostile.builders import SOS

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        tar.add(SOS, arcname=SOS.name)
    return buffer.getvalue().rstrip(b"\0")


def test_an_unread_8_gib_member_of_a_compressed_sosreport_is_not_decompressed(tmp_path):
    from tests.hostile.builders import SOS

    size = 8 * GiB
    archive = tmp_path / f"{SOS.name}.tar.bz2"
    body = _sos_members()
    body += bytes(-len(body) % 512)
    with open(archive, "wb") as out:
        out.write(bz2.compress(body + header(f"{SOS.name}/var/log/huge", b"0", size), 1))
        out.write(zeros_bz2(size))
        out.write(bz2.compress(END, 1))
    assert archive.stat().st_size < 1 * MiB
    done = run("audit", "--root", str(archive), seconds=10)
    assert not done.crashed, done
    assert done.code == 2 and "uncompressed: refused" in done.stderr, done


def test_an_unread_8_gib_member_of_a_plain_sosreport_tar_is_skipped_by_seeking(tmp_path):
    from tests.hostile.builders import SOS

    size = 8 * GiB
    archive = tmp_path / f"{SOS.name}.tar"
    body = _sos_members()
    body += bytes(-len(body) % 512)
    with open(archive, "wb") as out:
        out.write(header(f"{SOS.name}/var/log/huge", b"0", size))
        out.seek(size, os.SEEK_CUR)  # the member's content: a hole
        out.write(body + END)
    assert archive.stat().st_blocks * 512 < 16 * MiB
    done = run("audit", "--root", str(archive), seconds=10)
    assert done.code in (0, 1, 3) and not done.crashed, done
