"""Hostile roots, archives, saved reports and profiles: one clear line and exit 2 for bad
input, valid output for odd but honest input, never a traceback, never exit 1."""

from __future__ import annotations

import json
import os
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.hostile.builders import (
    END,
    MiB,
    copy_root,
    copy_sosreport,
    manifest,
    member,
    pax,
    run,
    snapshot_archive,
    write,
)


def assert_refused(done, *words: str, nagios: bool = False) -> None:
    """Exit 2 with one line on stderr that names the problem; as a Nagios plugin, UNKNOWN
    (3) with its status line, since Nagios reads 2 as CRITICAL."""
    if nagios:
        assert done.code == 3 and not done.crashed, done
        assert done.stdout.startswith("HOSTAUDIT UNKNOWN - could not run: "), done
    else:
        assert done.code == 2 and not done.crashed, done
    assert len(done.stderr.strip().splitlines()) == 1, done
    for word in words:
        assert word in done.stderr, done


def assert_result(done) -> None:
    """A verdict: exit 0, 1 or 3, no traceback, and no check that crashed."""
    assert done.code in (0, 1, 3) and not done.crashed, done
    assert "crashed" not in done.stdout, done.stdout


# -- 10. snapshot manifests of the wrong shape -------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"not_collected": [1, 2]},
        {"not_collected": "abc"},
        {"notices": 5},
        {"listed_only": [{}]},
        {"unreadable": {"/x": {"reason": "needs-root", "detail": 7}}},
    ],
    ids=[
        "not-collected-list",
        "not-collected-string",
        "notices-int",
        "listed-only-dict",
        "detail-int",
    ],
)
def test_a_manifest_of_the_wrong_shape_is_refused(tmp_path, changes):
    archive = snapshot_archive(tmp_path / "h.tar.gz", manifest(**changes))
    assert_refused(run("audit", "--snapshot", str(archive)), "manifest.json")


def test_a_manifest_nested_200000_deep_is_refused(tmp_path):
    deep = b"[" * 200_000 + b"]" * 200_000
    data = manifest(host="HOLE").replace(b'"HOLE"', deep)
    archive = snapshot_archive(tmp_path / "h.tar.gz", data)
    assert_refused(run("audit", "--snapshot", str(archive)), "manifest.json")


def test_an_unknown_failure_reason_is_named_without_terminal_escapes(tmp_path):
    data = manifest(unreadable={"/proc/\x1b[2Jcmd": {"reason": "\x1b[31mboom", "detail": ""}})
    archive = snapshot_archive(tmp_path / "h.tar.gz", data)
    done = run("audit", "--snapshot", str(archive))
    assert_refused(done, "manifest.json")
    assert "\x1b" not in done.stderr


def test_a_malformed_gnu_sparse_pax_member_is_refused(tmp_path):
    archive = tmp_path / "sparse.tar"
    records = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "hostaudit-snapshot/root/x",
        "GNU.sparse.realsize": "1000",
    }
    data = (
        member("hostaudit-snapshot/manifest.json", manifest())
        + pax("hostaudit-snapshot/PaxHeaders/x", records)
        + member("hostaudit-snapshot/GNUSparseFile.0/x", b"not a sparse map\n")
        + END
    )
    archive.write_bytes(data)
    assert_refused(run("audit", "--snapshot", str(archive)), "sparse")


# -- 10. roots with link loops and absurd link targets -----------------------------------------


def test_a_link_loop_at_proc_is_handled_by_snapshot_and_sosreport(tmp_path):
    root = copy_root("intel-ready", tmp_path / "root")
    os.rename(root / "proc", root / "proc.real")
    os.symlink("../proc", root / "proc")
    done = run("snapshot", "--root", str(root), "-o", str(tmp_path / "h.tar.gz"))
    assert done.code == 0 and not done.crashed, done
    assert_result(run("audit", "--snapshot", str(tmp_path / "h.tar.gz")))
    sos = copy_sosreport(tmp_path / "sos")
    os.rename(sos / "proc", sos / "proc.real")
    os.symlink("../proc", sos / "proc")
    assert_result(run("audit", "--root", str(sos)))


def test_a_link_target_of_2000_components(tmp_path):
    root = copy_root("intel-ready", tmp_path / "root")
    os.makedirs(root / "etc/modprobe.d", exist_ok=True)
    os.symlink("a/" * 2000 + "x.conf", root / "etc/modprobe.d/deep.conf")
    assert_result(run("audit", "--root", str(root)))
    done = run("snapshot", "--root", str(root), "-o", str(tmp_path / "h.tar.gz"))
    assert done.code == 0 and not done.crashed, done


# -- 10, 11, 12. saved reports -----------------------------------------------------------------


def _saved_report(tmp_path: Path) -> dict:
    done = run("audit", "--root", str(copy_root("intel-ready", tmp_path / "r")), "--format", "json")
    assert done.code == 0, done
    return json.loads(done.stdout)


def _write_report(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_report_nested_100000_deep_is_refused(tmp_path):
    deep = _write_report(tmp_path / "deep.json", "[" * 100_000 + "]" * 100_000)
    good = _write_report(tmp_path / "good.json", json.dumps(_saved_report(tmp_path)))
    assert_refused(run("report", str(deep)), str(deep))
    assert_refused(run("diff", str(good), str(deep)), str(deep))
    root = copy_root("intel-ready", tmp_path / "r2")
    assert_refused(run("audit", "--root", str(root), "--baseline", str(deep)), str(deep))


@pytest.mark.parametrize("fmt", ["text", "html", "junit", "nagios", "json", "prometheus"])
def test_an_infinite_duration_is_refused(tmp_path, fmt):
    report = _saved_report(tmp_path)
    text = json.dumps(report).replace(
        f'"duration_s": {report["duration_s"]}', '"duration_s": 1e400', 1
    )
    path = _write_report(tmp_path / "inf.json", text)
    done = run("report", str(path), "--format", fmt)
    assert_refused(done, str(path), nagios=fmt == "nagios")


def test_nan_is_refused(tmp_path):
    report = _saved_report(tmp_path)
    text = json.dumps(report).replace(
        f'"duration_s": {report["duration_s"]}', '"duration_s": NaN', 1
    )
    path = _write_report(tmp_path / "nan.json", text)
    assert_refused(run("report", str(path), "--format", "json"), str(path))


def test_an_impossible_start_time_is_refused(tmp_path):
    report = _saved_report(tmp_path)
    report["started_at"] = "2024-99-99T99:99:99+00:00"
    path = _write_report(tmp_path / "when.json", json.dumps(report))
    assert_refused(run("report", str(path), "--format", "prometheus"), "started_at")


def test_a_report_that_is_not_a_regular_file_is_refused(tmp_path):
    assert_refused(run("report", "/dev/zero", seconds=10), "/dev/zero")


def test_terminal_escapes_in_a_saved_report_are_not_printed(tmp_path):
    report = _saved_report(tmp_path)
    report["tool"]["version"] = "\x1b[31mRED\x1b]0;title\x07"
    report["host"]["hostname"] = "h\x1b[2J"
    path = _write_report(tmp_path / "esc.json", json.dumps(report))
    for fmt in ("text", "nagios", "prometheus", "html", "junit"):
        done = run("report", str(path), "--format", fmt)
        assert done.code in (0, 1, 3) and not done.crashed, done
        assert "\x1b" not in done.stdout and "\x07" not in done.stdout, (fmt, done.stdout[:300])


def test_a_lone_surrogate_in_a_saved_report_is_written_back_as_strict_json(tmp_path):
    report = _saved_report(tmp_path)
    report["results"][0]["message"] += " \udcff"
    path = tmp_path / "s.json"
    path.write_text(json.dumps(report))  # ensure_ascii: the escape \udcff, valid JSON
    out = tmp_path / "out.json"
    done = run("report", str(path), "--json", str(out), "--format", "json")
    assert done.code == 0 and not done.crashed, done
    assert list(tmp_path.glob(".out.json.*")) == []
    for text in (out.read_bytes().decode("utf-8"), done.stdout):
        assert "\udcff" in json.loads(text)["results"][0]["message"]


# -- 10, 12. non-UTF-8 file names in a root ------------------------------------------------------


def test_non_utf8_file_names_give_strict_utf8_json(tmp_path):
    root = copy_root("intel-ready", tmp_path / "root")
    os.makedirs(root / "etc/modprobe.d", exist_ok=True)
    Path(os.fsdecode(bytes(root / "etc/modprobe.d") + b"/\xff.conf")).write_text(
        "options vfio_iommu_type1 allow_unsafe_interrupts=1\n"
    )
    out = tmp_path / "r.json"
    done = run("audit", "--root", str(root), "--json", str(out), "--format", "json")
    assert_result(done)
    for data in (out.read_bytes(), done.stdout.encode()):
        text = data.decode("utf-8")  # strict: raises on invalid UTF-8
        json.loads(text, parse_constant=lambda name: pytest.fail(f"not JSON: {name}"))
    assert list(tmp_path.glob(".r.json.*")) == []
    again = run("report", str(out), "--format", "json")
    assert again.code in (0, 1, 3) and not again.crashed, again


# -- 10, 13. hostdev XML from sysfs names -----------------------------------------------------------


def test_hostdev_xml_is_built_from_parsed_addresses(tmp_path):
    """Group members named to inject XML attributes, leading to a real device folder."""
    root = copy_root("gpu-shares-group-with-usb", tmp_path / "root")
    group = next(
        p
        for p in (root / "sys/kernel/iommu_groups").iterdir()
        if os.path.lexists(p / "devices/0000:22:00.0")
    )
    real = os.readlink(group / "devices/0000:1e:00.0")
    bus = root / "sys/bus/pci/devices"
    for name in ("0000:09' managed='no:00.1", "nocolon"):
        os.symlink(real, group / "devices" / name)
        os.symlink(os.readlink(bus / "0000:1e:00.0"), bus / name)
    done = run("devices", "--root", str(root), "--hostdev-xml", "22:00.0")
    assert done.code == 0 and not done.crashed, done
    document = ET.fromstring(f"<output>{done.stdout}</output>")
    hostdevs = document.findall("hostdev")
    assert len(hostdevs) == 3 and all(h.get("managed") == "yes" for h in hostdevs), done.stdout
    for address in document.iter("address"):
        assert sorted(address.attrib) == ["bus", "domain", "function", "slot"], address.attrib
        assert all(value.startswith("0x") for value in address.attrib.values())
    listed = run("devices", "--root", str(root), "--format", "json")
    assert listed.code == 0 and "nocolon" not in listed.stdout, listed


# -- 14. Nagios output ------------------------------------------------------------------------------


def test_a_pipe_in_host_text_never_reaches_nagios_output_unescaped(tmp_path):
    root = copy_root("iommu-not-enabled", tmp_path / "root")
    write(root / "proc/sys/kernel/hostname", "bad|host\n")
    write(root / "proc/cmdline", (root / "proc/cmdline").read_text().strip() + " x=a|b\n")
    done = run("audit", "--root", str(root), "--format", "nagios")
    assert done.code in (0, 1, 2, 3) and not done.crashed, done
    lines = done.stdout.splitlines()
    # Perfdata follows the one '|' of the first line and of the last line, nowhere else.
    assert lines[0].count("|") == 1 and lines[-1].startswith("| ")
    assert all("|" not in line for line in lines[1:-1]), lines


# -- 10, 15. profiles and guest definitions ----------------------------------------------------------


def test_a_profile_nested_5000_deep_is_refused(tmp_path):
    profile = tmp_path / "deep.toml"
    profile.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    root = copy_root("intel-ready", tmp_path / "r")
    assert_refused(run("audit", "--root", str(root), "--profile", str(profile)), str(profile))


def test_a_profile_over_1_mib_is_refused_not_cut(tmp_path):
    profile = tmp_path / "big.toml"
    profile.write_text("# " + "x" * (1 * MiB) + '\nfail_on = "critical"\n')
    root = copy_root("intel-ready", tmp_path / "r")
    assert_refused(run("audit", "--root", str(root), "--profile", str(profile)), "larger than")
    shown = run("profile", "show", str(profile))
    assert_refused(shown, "larger than")


def test_a_domain_xml_over_4_mib_is_refused_not_cut(tmp_path):
    guest = tmp_path / "g.xml"
    guest.write_text("<domain><name>g</name><!--" + "x" * (4 * MiB) + "--></domain>")
    root = copy_root("intel-ready", tmp_path / "r")
    assert_refused(run("audit", "--root", str(root), "--domain-xml", str(guest)), "larger than")


def test_a_sosreport_with_a_binary_hostname_is_audited(tmp_path):
    sos = copy_sosreport(tmp_path)
    (sos / "sos_commands/host/hostname").write_bytes(b"\xff\xfe\x1b[31m\n")
    done = run("audit", "--root", str(sos), "--format", "json")
    assert_result(done)
    archive = tmp_path / "s.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(sos, arcname=sos.name)
    assert_result(run("audit", "--root", str(archive)))
