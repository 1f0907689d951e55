"""sosreports: recognised as folders and archives; what they hold is used, what they lack
makes checks skip with the reason, never fail."""

from __future__ import annotations

import json
import shutil
import tarfile

import pytest

from auditor.parsers.selinux import parse_sestatus
from tests.conftest import FIXTURES
from tests.test_cli import run_cli

SOS = FIXTURES / "sosreports" / "sosreport-hv01-2026-11-20-qkwztnb"

# What the sosreport says per check; as with the fixture hosts' EXPECTED files, a check not
# named here is not asserted (a new check needs no line).
EXPECTED = {
    "cpu.virtualization": "pass",  # vmx in proc/cpuinfo and sys/module/kvm_intel, without /dev/kvm
    "iommu.firmware-table": "pass",
    "iommu.kernel-cmdline": "pass",
    "iommu.cmdline-persistent": "pass",
    "iommu.interrupt-remapping": "pass",
    "kvm.unsafe-interrupts": "pass",
    "selinux.virt-use-sysfs": "skip",
    "iommu.group-isolation": "skip",
    "pci.device-support": "skip",
    "guest.assigned-devices": "skip",
    "pci.driver-binding": "skip",  # sos collects no sysfs PCI tree: cannot tell
    "pci.device-reset": "skip",
}


def audit_json(*args: str) -> tuple[int, dict]:
    done = run_cli("audit", "--format", "json", *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def by_id(report: dict) -> dict[str, dict]:
    return {result["id"]: result for result in report["results"]}


def test_a_sosreport_folder_is_recognised_and_used():
    code, report = audit_json("--root", str(SOS))
    assert code == 0
    results = by_id(report)
    assert {key: results[key]["status"] for key in EXPECTED if key in results} == EXPECTED
    assert report["host"]["hostname"] == "hv01.example.com"  # sos_commands/host/hostname
    assert report["host"]["kernel_release"] == "5.14.0-362.8.1.el9_3.x86_64"  # uname -a
    assert report["host"]["root"] == f"sosreport {SOS}"
    # The kernel log is sos's `dmesg` output.
    sources = [e["source"] for e in results["iommu.kernel-cmdline"]["evidence"]]
    assert "/sos_commands/kernel/dmesg" in sources
    # What sos never collects is a reason to skip, named as such.
    groups = results["iommu.group-isolation"]["message"]
    assert groups.startswith("cannot tell: a sosreport holds lspci output, not the sysfs PCI")
    # /dev/kvm is not in a sosreport: the CPU flags decide, and the message says what was not known.
    assert results["cpu.virtualization"]["message"] == (
        "vmx present and kvm_intel loaded (/dev/kvm not known: a sosreport holds no device nodes)"
    )
    assert (
        "SELinux state read from sos_commands/selinux/sestatus_-b of the sosreport"
        in (report["notices"])
    )


@pytest.mark.parametrize("suffix, mode", [(".tar.xz", "w:xz"), (".tar.gz", "w:gz")])
def test_a_sosreport_archive_gives_the_same_verdicts(tmp_path, suffix, mode):
    archive = tmp_path / f"{SOS.name}{suffix}"
    with tarfile.open(archive, mode) as tar:
        tar.add(SOS, arcname=SOS.name)
    _, from_folder = audit_json("--root", str(SOS))
    _, from_archive = audit_json("--root", str(archive))
    strip = lambda report: [(r["id"], r["status"], r["message"]) for r in report["results"]]  # noqa: E731
    assert strip(from_archive) == strip(from_folder)
    assert from_archive["host"]["root"] == f"sosreport {archive}"


def _copy(tmp_path):
    copy = tmp_path / SOS.name
    shutil.copytree(SOS, copy, symlinks=True)
    return copy


def test_sestatus_booleans_decide_virt_use_sysfs(tmp_path):
    copy = _copy(tmp_path)
    sestatus = copy / "sos_commands/selinux/sestatus_-b"
    sestatus.write_text(sestatus.read_text() + "virt_use_sysfs                              off\n")
    code, report = audit_json("--root", str(copy))
    result = by_id(report)["selinux.virt-use-sysfs"]
    assert (code, result["status"]) == (1, "fail")
    assert result["message"] == "virt_use_sysfs is off (SELinux is enforcing)"


def test_without_sestatus_output_selinux_is_not_judged(tmp_path):
    copy = _copy(tmp_path)
    (copy / "sos_commands/selinux/sestatus_-b").unlink()
    _, report = audit_json("--root", str(copy))
    result = by_id(report)["selinux.virt-use-sysfs"]
    assert result["status"] == "skip"
    assert result["message"] == (
        "cannot tell: this sosreport has no sos_commands/selinux/sestatus_-b (/sys/fs/selinux/enforce)"
    )


def test_a_sosreport_without_proc_cmdline_skips_rather_than_fails(tmp_path):
    copy = _copy(tmp_path)
    (copy / "proc/cmdline").unlink()
    code, report = audit_json("--root", str(copy))
    statuses = {r["id"]: r["status"] for r in report["results"]}
    assert code == 0
    assert "fail" not in statuses.values() and "error" not in statuses.values(), statuses
    assert statuses["iommu.kernel-cmdline"] == "skip"


def test_a_sosreport_archive_with_a_traversal_member_is_refused(tmp_path):
    archive = tmp_path / "sosreport-evil.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(SOS, arcname=SOS.name)
        info = tarfile.TarInfo(f"{SOS.name}/../../evil")
        tar.addfile(info)
    done = run_cli("audit", "--root", str(archive))
    assert done.returncode == 2
    assert "climbs out with '..': refused" in done.stderr
    assert not (tmp_path.parent / "evil").exists()


def test_an_archive_that_is_not_a_sosreport_is_refused(tmp_path):
    archive = tmp_path / "photos.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(FIXTURES / "acpi", arcname="photos")
    done = run_cli("audit", "--root", str(archive))
    assert done.returncode == 2
    assert "not a sosreport" in done.stderr


def test_parse_sestatus():
    fields, booleans = parse_sestatus(
        "SELinux status:                 enabled\nCurrent mode:                   permissive\n\n"
        "Policy booleans:\nvirt_use_nfs                                on\nvirt_use_sysfs    off\n"
    )
    assert fields == {"SELinux status": "enabled", "Current mode": "permissive"}
    assert booleans == {"virt_use_nfs": True, "virt_use_sysfs": False}


ROOTS = sorted(path.name for path in (FIXTURES / "hosts").iterdir())


@pytest.mark.parametrize("name", ROOTS)
def test_the_sosreport_form_of_every_fixture_root_agrees_with_the_root(name, tmp_path):
    """Each check says what the root's audit says, or cannot tell because sos did not
    collect what it needs; never another verdict. Archived, the sosreport says the same."""
    from tests.conftest import HOSTS, audit_report
    from tests.sosform import sosreport_of

    folder = sosreport_of(HOSTS / name, tmp_path)
    root = {r.check.id: r for r in audit_report(HOSTS / name).results}
    _, report = audit_json("--root", str(folder))
    for result in report["results"]:
        expected = root[result["id"]]
        if result["status"] == "skip" and result["message"].startswith("cannot tell:"):
            continue
        assert result["status"] == expected.status.value, (result, expected.outcome.message)
    archive = tmp_path / f"{folder.name}.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(folder, arcname=folder.name)
    if name == "symlink-escape":  # its links climb out of the root: refused as an archive
        done = run_cli("audit", "--root", str(archive))
        assert done.returncode == 2 and "points out of the archive" in done.stderr
        return
    _, from_archive = audit_json("--root", str(archive))
    strip = lambda r: [(x["id"], x["status"], x["message"]) for x in r["results"]]  # noqa: E731
    assert strip(from_archive) == strip(report)
