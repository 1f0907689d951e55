"""Guest definitions, device identifiers, and `hostaudit devices`."""

from __future__ import annotations

import json
import shutil

import pytest

from auditor.context import Context
from auditor.host import Host
from auditor.model import Status
from auditor.parsers.libvirt import parse_domain
from auditor.parsers.pci import parse_selector
from auditor.profile import load_profile
from auditor.registry import load_checks
from auditor.runner import host_info, run_audit
from tests.conftest import FIXTURES, HOSTS, Link
from tests.test_cli import run_cli

LIBVIRT = FIXTURES / "libvirt"
INTEL = HOSTS / "intel-ready"


def guest_check(*files: str, profile: str = "default", root=INTEL):
    checks = load_checks(include_third_party=False)
    with Host(str(root)) as host:
        ctx = Context(
            host=host,
            profile=load_profile(profile, checks),
            domain_xml=tuple((name, (LIBVIRT / name).read_text()) for name in files),
        )
        report = run_audit(checks, ctx, host_info(ctx))
    return {r.check.id: r for r in report.results}["guest.assigned-devices"]


def test_a_guest_within_the_limit_passes():
    result = guest_check("within-limit.xml", profile="rhel6")
    assert result.status is Status.PASS, result.outcome.message
    assert [(d.address, d.status) for d in result.outcome.devices] == [
        ("0000:00:1f.6", Status.PASS)
    ]


def test_multifunction_devices_are_flagged_where_the_profile_says(tmp_path):
    # rhel6 warns about multifunction devices (and forbids this GPU outright).
    rhel6 = guest_check("shared-group-a.xml", profile="rhel6")
    assert rhel6.status is Status.FAIL and "is a graphics device" in rhel6.outcome.message
    profile = tmp_path / "multifunction.toml"
    profile.write_text('[checks."guest.assigned-devices"]\nwarn_multifunction = true\n')
    result = guest_check("shared-group-a.xml", profile=str(profile))
    assert result.status is Status.WARN
    assert result.outcome.devices[0].message == (
        "guest guest-a: is multifunction: it cannot be hot-plugged, assign it statically"
    )
    # In a guest's persistent definition the device is assigned statically: nothing to say.
    result = guest_check("shared-group-a.xml")
    assert result.status is Status.PASS
    assert result.outcome.devices[0].message == "guest guest-a: can be assigned"


def test_nine_functions_exceed_the_rhel6_limit_only():
    result = guest_check("nine-functions.xml", profile="rhel6")
    assert result.status is Status.FAIL
    assert (
        "guest nic-farm assigns 9 PCI functions; the profile allows 8 per guest"
        in result.outcome.message
    )
    default = guest_check("nine-functions.xml")
    assert "allows" not in default.outcome.message  # no limit by default
    assert "0000:40:00.0 (guest nic-farm) does not exist on this host" in default.outcome.message


def test_graphics_device_is_refused_where_the_profile_forbids_it():
    result = guest_check("graphics.xml", profile="rhel6")
    assert result.status is Status.FAIL
    assert (
        "0000:00:02.0 (guest desktop-igpu) is a graphics device, which the profile does not allow"
        in result.outcome.message
    )
    assert guest_check("graphics.xml").status is Status.PASS


def test_two_guests_sharing_a_group():
    result = guest_check("shared-group-a.xml", "shared-group-b.xml")
    assert result.status is Status.FAIL
    assert (
        "0000:01:00.0 (guest guest-a) shares IOMMU group 1 with guest guest-b: VFIO gives a group "
        "to one guest at a time, so they cannot run together"
    ) in result.outcome.message


def test_a_hostdev_that_does_not_exist():
    result = guest_check("missing-device.xml")
    assert result.status is Status.FAIL
    assert result.outcome.devices[0].message == "guest ghost: does not exist on this host"


def test_unmanaged_device_on_a_host_driver():
    result = guest_check("unmanaged-host-driver.xml")
    assert (
        "is managed='no' but bound to xhci_hcd: bind it to vfio-pci first" in result.outcome.message
    )


def test_the_same_device_in_two_guests():
    result = guest_check("shared-group-a.xml", "same-device.xml")
    assert (
        "0000:01:00.0 (guest guest-a) is also assigned to guest guest-c" in result.outcome.message
    )


def test_entity_declarations_are_refused_before_parsing():
    with pytest.raises(ValueError, match="DOCTYPE or entities"):
        parse_domain((LIBVIRT / "entity-expansion.xml").read_text())
    result = guest_check("entity-expansion.xml")
    assert result.status is Status.ERROR
    assert "entity-expansion.xml: not a usable domain definition" in result.outcome.message


def test_no_guests_skips():
    assert guest_check().status is Status.SKIP


def test_guests_under_the_root_are_found_and_their_devices_become_targets(tmp_path):
    root = tmp_path / "host"
    shutil.copytree(INTEL, root, symlinks=True)
    (root / "etc/libvirt/qemu").mkdir(parents=True)
    shutil.copy(LIBVIRT / "missing-device.xml", root / "etc/libvirt/qemu/ghost.xml")
    done = run_cli("audit", "--root", str(root), "--format", "json")
    results = {r["id"]: r for r in json.loads(done.stdout)["results"]}
    assert results["guest.assigned-devices"]["status"] == "fail"
    isolation = results["iommu.group-isolation"]
    assert "0000:05:00.0" in [d["address"] for d in isolation["devices"]]
    assert "or assigned to libvirt guests" in isolation["evidence"][0]["value"]


# --- device identifiers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("0000:01:00.0", "0000:01:00.0"),
        ("01:00.0", "0000:01:00.0"),
        ("pci_0000_01_00_0", "0000:01:00.0"),
        ("8086:10C9", "8086:10c9"),
        ("class:03", "class:03"),
        ("class:0x0302", "class:0302"),
    ],
)
def test_selectors(text, normalised):
    assert parse_selector(text) == normalised


def test_classes_only_in_profiles():
    with pytest.raises(ValueError, match="not a device identifier"):
        parse_selector("class:03", allow_class=False)
    done = run_cli("audit", "--root", str(INTEL), "--device", "class:03")
    assert done.returncode == 2 and "--device: 'class:03' is not a device identifier" in done.stderr


def test_vendor_device_matches_every_device_with_those_ids():
    done = run_cli("audit", "--root", str(INTEL), "--device", "10de:1b81", "--format", "json")
    isolation = {r["id"]: r for r in json.loads(done.stdout)["results"]}["iommu.group-isolation"]
    assert [d["address"] for d in isolation["devices"]] == ["0000:01:00.0"]


def test_profile_class_prefix_and_unmatched_identifiers(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text('devices = ["class:0300", "1234:5678"]\n')
    done = run_cli("audit", "--root", str(INTEL), "--profile", str(profile), "--format", "json")
    data = json.loads(done.stdout)
    support = {r["id"]: r for r in data["results"]}["pci.device-support"]
    assert [d["address"] for d in support["devices"]] == ["0000:00:02.0", "0000:01:00.0"]
    assert data["notices"] == [
        "device identifier 1234:5678 (named by profile p) matches no device on this host"
    ]


# --- hostaudit devices ---------------------------------------------------------------------


def test_devices_table_and_json():
    done = run_cli(
        "devices", "--root", str(HOSTS / "gpu-shares-group-with-usb"), "--format", "json"
    )
    rows = {row["address"]: row for row in json.loads(done.stdout)}
    assert rows["0000:22:00.0"]["nodedev"] == "pci_0000_22_00_0"
    assert rows["0000:22:00.0"]["assignable"] is False
    # The same words as iommu.group-isolation: one viability rule decides both.
    assert rows["0000:22:00.0"]["reasons"] == [
        "group 15 also holds 0000:1e:00.0 USB controller [1b21:2142], driver xhci_hcd: "
        "assign it to the same guest or bind it to vfio-pci"
    ]
    assert (rows["0000:00:01.2"]["assignable"], rows["0000:00:01.2"]["reasons"]) == (
        False,
        ["a bridge"],
    )
    text = run_cli("devices", "--root", str(INTEL)).stdout
    assert "pci_0000_01_00_0" in text
    assert "yes: together with 0000:01:00.1 (same IOMMU group 1)" in text


@pytest.mark.parametrize("how", ["--root", "--snapshot"])
def test_devices_reads_a_snapshot_as_the_folder_it_was_taken_from(tmp_path, how):
    root = HOSTS / "gpu-with-audio"
    snapshot = tmp_path / "gpu.tar.gz"
    assert run_cli("snapshot", "--root", str(root), "-o", str(snapshot), "-q").returncode == 0
    live = run_cli("devices", "--root", str(root), "--format", "json")
    taken = run_cli("devices", how, str(snapshot), "--format", "json")
    assert taken.returncode == 0, taken.stderr
    assert json.loads(taken.stdout) == json.loads(live.stdout)
    assert len(json.loads(live.stdout)) == 8


def test_devices_names_an_archive_it_cannot_read(tmp_path):
    import tarfile

    archive = tmp_path / "root.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:  # `tar -C root .`: members ./etc, ./sys, ...
        tar.add(HOSTS / "gpu-with-audio", arcname=".")
    done = run_cli("devices", "--root", str(archive))
    assert done.returncode == 2
    assert "not a sosreport nor a snapshot" in done.stderr
    assert "unpack it and give --root the folder" in done.stderr


def test_hostdev_xml_lists_the_functions_that_must_go_along():
    done = run_cli("devices", "--root", str(HOSTS / "gpu-with-audio"), "--hostdev-xml", "01:00.0")
    assert done.returncode == 0
    assert "<address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>" in done.stdout
    assert "<!-- 0000:01:00.1 must be assigned with it: same IOMMU group 1 -->" in done.stdout
    missing = run_cli("devices", "--root", str(INTEL), "--hostdev-xml", "05:00.0")
    assert missing.returncode == 2
    assert missing.stderr == "hostaudit: --hostdev-xml: no PCI device 0000:05:00.0 on this host\n"


def test_devices_names_the_vfio_device_file_and_the_guest_using_it(make_host, monkeypatch):
    from auditor import devices, live

    host = make_host(
        {
            "/sys/devices/pci0000:00/0000:01:00.0/class": "0x030000\n",
            "/sys/devices/pci0000:00/0000:01:00.0/vfio-dev/vfio0/dev": "511:0\n",
            "/sys/bus/pci/devices/0000:01:00.0": Link("../../../devices/pci0000:00/0000:01:00.0"),
            "/dev/iommu": "",
            "/dev/vfio/devices/vfio0": "",
        }
    )
    [row] = devices.inventory(host)
    assert row["vfio_device"] == "/dev/vfio/devices/vfio0" and row["used_by"] is None
    assert devices.interfaces(host) == (
        "VFIO groups (/dev/vfio): no; iommufd (/dev/iommu): yes; VFIO device files "
        "(/dev/vfio/devices): 1"
    )
    # On a live host, the QEMU process holding the device is named (psutil).
    argv = ["/usr/libexec/qemu-kvm", "-name", "guest=win11", "-device", "vfio-pci,host=01:00.0"]
    monkeypatch.setattr(live, "qemu_guests", lambda: [(4242, 0, argv)])
    monkeypatch.setattr(host, "live", live.LiveFacts())
    assert devices._qemu_users(host) == {"0000:01:00.0": "guest win11 (pid 4242)"}
    # Another user's QEMU cannot hold a device whose VFIO group it does not own.
    monkeypatch.setattr(live, "qemu_guests", lambda: [(4243, 1000, argv)])
    assert devices._qemu_users(host) == {}
