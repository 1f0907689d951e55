"""pci.driver-binding, pci.device-reset and the ACS explanation of iommu.group-isolation,
branch by branch on small hand-built hosts, plus the decoders they rest on."""

from __future__ import annotations

import pytest

from auditor.model import Status
from auditor.parsers.pci import acs_state, capabilities, pcie_type, reset_capabilities
from auditor.parsers.qemu import parse_qemu
from tests.checks.test_branches import check, intel
from tests.conftest import Link, evidence_text, fixture_generator

GEN = fixture_generator()
TOP = "/sys/devices/pci0000:00"
OLD_KERNEL = "5.14.0-362.8.1.el9_3.x86_64\n"  # before reset_method: config space decides


def said(result) -> str:
    """Everything a result says: its message, its devices' messages, its evidence."""
    return "\n".join([result.message, *(d.message for d in result.devices), evidence_text(result)])


def old_intel() -> dict:
    spec = intel()
    spec["/proc/sys/kernel/osrelease"] = OLD_KERNEL
    return spec


def pci(
    spec: dict,
    folder: str,
    ids: str,
    cls: int,
    driver: str | None = None,
    group: int | None = None,
    pcie: bool = True,
    **caps,
) -> str:
    """Add one PCI function to a make_host spec (sysfs layout as make_hosts writes it)."""
    address = folder.rsplit("/", 1)[-1]
    vendor, device = (int(part, 16) for part in ids.split(":"))
    bridge = cls >> 8 == 0x0604
    extra = {k: caps.pop(k) for k in ("reset_method", "driver_override") if k in caps}
    if bridge and "buses" not in caps:
        caps["buses"] = (0, int(address[5:7], 16) + 1, int(address[5:7], 16) + 1)
    spec[f"{folder}/vendor"] = f"0x{vendor:04x}\n"
    spec[f"{folder}/device"] = f"0x{device:04x}\n"
    spec[f"{folder}/class"] = f"0x{cls:06x}\n"
    spec[f"{folder}/config"] = GEN.config_space(vendor, device, cls, int(bridge), pcie, **caps)
    if pcie:
        spec[f"{folder}/max_link_speed"] = "8.0 GT/s PCIe\n"
    for name, value in extra.items():
        spec[f"{folder}/{name}"] = value + "\n"
    spec[f"/sys/bus/pci/devices/{address}"] = Link(f"../../..{folder[4:]}")
    if driver:
        spec[f"{folder}/driver"] = Link(f"../../../bus/pci/drivers/{driver}")
        spec[f"/sys/bus/pci/drivers/{driver}/{address}"] = Link(f"../../../..{folder[4:]}")
    if group is not None:
        depth = folder.count("/") - 1
        spec[f"{folder}/iommu_group"] = Link("../" * depth + f"kernel/iommu_groups/{group}")
        spec[f"/sys/kernel/iommu_groups/{group}/devices/{address}"] = Link(
            f"../../../../..{folder}"
        )
    return folder


def gpu_host(**gpu_caps) -> dict:
    """An Intel host (RHEL 9 kernel): root port 00:01.0 with a GPU (01:00.0) and its audio
    (01:00.1)."""
    spec = old_intel()
    port = pci(spec, f"{TOP}/0000:00:01.0", "8086:1901", 0x060400, "pcieport", 1, port_type=4)
    pci(spec, f"{port}/0000:01:00.0", "10de:1b81", 0x030000, "vfio-pci", 1, port_type=1, **gpu_caps)
    pci(spec, f"{port}/0000:01:00.1", "10de:10f0", 0x040300, "vfio-pci", 1)
    return spec


# --- decoders ---------------------------------------------------------------------------


def test_capabilities_decode_as_lspci_shows_them():
    # The PRIME Z370-A dump: PCH root port 00:1c.4 [8086:a294], ACS capable, control zero.
    root_port = GEN.config_space(0x8086, 0xA294, 0x060400, 1, True, port_type=4, acs=(0x0F, 0))
    assert pcie_type(root_port) == "root port"
    state = acs_state(root_port)
    assert state is not None and state.present
    assert state.capable == {"SV", "TB", "RR", "CR"} and state.enabled == frozenset()
    assert state.missing() == ["SV", "RR", "CR"]  # UF is not implemented: not required
    # The RTX 3060: Legacy Endpoint, FLReset+, NoSoftRst+.
    gpu = GEN.config_space(0x10DE, 0x2504, 0x030000, 0x80, True, port_type=1, flr=True)
    assert pcie_type(gpu) == "legacy endpoint"
    caps = reset_capabilities(gpu)
    assert caps is not None and (caps.flr, caps.af_flr, caps.pm_reset) == (True, False, False)
    # The I219-V: conventional PCI with Advanced Features TP+ FLR+.
    nic = GEN.config_space(0x8086, 0x15B8, 0x020000, 0, False, af_flr=True)
    assert pcie_type(nic) == "" and acs_state(nic) is None  # 256 bytes: no extended space
    assert reset_capabilities(nic).af_flr  # type: ignore[union-attr]
    # Unprivileged readers get 64 bytes: nothing can be said.
    assert capabilities(gpu[:64]) is None and reset_capabilities(gpu[:64]) is None
    assert acs_state(gpu[:256]) is None


def test_a_looping_capability_list_ends():
    config = bytearray(GEN.config_space(0x8086, 0x1234, 0x020000, 0, True))
    config[0x69] = 0x60  # PCIe capability points back at PM: a loop
    assert capabilities(bytes(config)) is not None
    config[0x102:0x104] = (0x100 << 4).to_bytes(2, "little")  # extended loop
    config[0x100:0x102] = (0x0001).to_bytes(2, "little")
    assert acs_state(bytes(config)) is not None


@pytest.mark.parametrize(
    ("argv", "name", "devices"),
    [
        (
            ["/usr/libexec/qemu-kvm", "-name", "guest=win11,debug-threads=on", "-device",
             '{"driver":"vfio-pci","host":"0000:01:00.0","id":"hostdev0","bus":"pci.5"}'],
            "win11",
            ("0000:01:00.0",),
        ),
        (
            ["qemu-system-x86_64", "-name", "lab", "-device", "vfio-pci,host=01:00.1,x-vga=on",
             "-device", "vfio-pci,sysfsdev=/sys/bus/pci/devices/0000:02:00.0"],
            "lab",
            ("0000:01:00.1", "0000:02:00.0"),
        ),
    ],
)  # fmt: skip
def test_qemu_command_lines(argv, name, devices):
    guest = parse_qemu(4242, argv)
    assert guest is not None and (guest.name, guest.devices) == (name, devices)
    assert parse_qemu(1, ["qemu-system-x86_64", "-device", "virtio-net,netdev=n0"]) is None


# --- pci.device-reset -------------------------------------------------------------------


def test_reset_by_flr_or_pm_passes(make_host):
    result = check("pci.device-reset", make_host(gpu_host(flr=True)), ("0000:01:00.0",))
    assert result.status is Status.PASS and result.devices[0].message == "resets by flr"
    assert "/config (capabilities): flr" in evidence_text(result)
    result = check("pci.device-reset", make_host(gpu_host(soft_reset=False)), ("0000:01:00.0",))
    assert result.devices[0].message == "resets by pm"


def test_the_kernels_own_list_wins(make_host):
    spec = gpu_host(flr=True, reset_method="bus")  # the kernel says what it does
    assert check("pci.device-reset", make_host(spec), ("0000:01:00.0",)).devices[0].message == (
        "has no function-level reset; vfio-pci resets 0000:01:00.0, 0000:01:00.1 together "
        "by a bus reset of 0000:00:01.0"
    )
    alone = {k: v for k, v in spec.items() if "0000:01:00.1" not in k}  # audio gone
    assert check("pci.device-reset", make_host(alone), ("0000:01:00.0",)).devices[0].message == (
        "resets by a bus reset of 0000:00:01.0 (alone on its bus)"
    )
    spec = gpu_host(flr=True)
    spec["/proc/sys/kernel/osrelease"] = "6.8.0-49-generic\n"  # 5.15+ without the file: none
    result = check("pci.device-reset", make_host(spec), ("0000:01:00.0",))
    assert "reset_method absent (Linux 6.8)" in evidence_text(result)
    assert result.status is Status.PASS  # ... but vfio-pci resets the whole bus: both vfio
    assert "vfio-pci resets 0000:01:00.0, 0000:01:00.1 together" in said(result)


def test_a_listed_bus_reset_with_the_host_audio_on_the_bus_warns(make_host):
    """Function 0 is probed before function 1 joins the bus, so the kernel lists `bus` for the
    GPU although its HDMI audio function, used by the host, shares the bus now."""
    spec = gpu_host(reset_method="bus")
    spec[f"{TOP}/0000:00:01.0/0000:01:00.1/driver"] = Link(
        "../../../../bus/pci/drivers/snd_hda_intel"
    )
    result = check("pci.device-reset", make_host(spec), ("0000:01:00.0",))
    assert result.status is Status.WARN
    assert "whose bus also holds 0000:01:00.1 (snd_hda_intel) used by the host" in result.message


def test_only_a_bus_reset_with_a_host_device_on_the_bus_warns(make_host):
    spec = gpu_host()
    spec[f"{TOP}/0000:00:01.0/0000:01:00.1/driver"] = Link(
        "../../../../bus/pci/drivers/snd_hda_intel"
    )
    result = check("pci.device-reset", make_host(spec), ("0000:01:00.0",))
    assert result.status is Status.WARN
    assert "whose bus also holds 0000:01:00.1 (snd_hda_intel) used by the host" in result.message


@pytest.mark.parametrize("functions", [64, 256])
def test_a_crowded_bus_is_named_in_bounded_messages(make_host, functions):
    """Every function of a bus shares one bus reset: naming all of them in each device's
    message grew squarely (4,000 functions: 14 MiB of messages, 114 MiB peak)."""
    spec = old_intel()
    port = pci(spec, f"{TOP}/0000:00:01.0", "8086:1901", 0x060400, "pcieport", 1, port_type=4)
    targets = []
    for index in range(functions):
        slot, function = divmod(index, 8)
        address = f"0000:01:{slot:02x}.{function}"
        driver = "vfio-pci" if index % 2 == 0 else "igbvf"  # every other one used by the host
        pci(spec, f"{port}/{address}", "8086:10ca", 0x020000, driver, 2 + index)
        targets += [address] if driver == "vfio-pci" else []
    result = check("pci.device-reset", make_host(spec), tuple(targets))
    assert result.status is Status.WARN
    assert "also holds 0000:01:00.1 (igbvf), 0000:01:00.3 (igbvf)" in said(result)
    assert f"and {functions // 2 - 8} more used by the host" in said(result)
    assert max(len(d.message) for d in result.devices) < 400
    free = spec.copy()
    for index in range(1, functions, 2):
        slot, function = divmod(index, 8)
        free[f"{port}/0000:01:{slot:02x}.{function}/driver"] = Link(
            "../../../../bus/pci/drivers/vfio-pci"
        )
    result = check("pci.device-reset", make_host(free), tuple(targets))
    assert result.status is Status.PASS
    assert f"and {functions - 8} more together by a bus reset" in said(result)
    assert max(len(d.message) for d in result.devices) < 400


def test_no_reset_on_the_root_bus_fails(make_host):
    spec = old_intel()
    pci(spec, f"{TOP}/0000:00:14.0", "8086:a2af", 0x0C0330, "vfio-pci", 4, pcie=False)
    result = check("pci.device-reset", make_host(spec), ("0000:00:14.0",))
    assert result.status is Status.FAIL and "it is on the root bus" in result.message


def test_quirks_decide_like_the_kernel(make_host):
    # 82579 LAN (8086:1502) has FLR in its capability but the kernel's NO_FLR quirk.
    spec = old_intel()
    pci(spec, f"{TOP}/0000:00:19.0", "8086:1502", 0x020000, "vfio-pci", 5, flr=True)
    assert check("pci.device-reset", make_host(spec), ("0000:00:19.0",)).status is Status.FAIL
    # Ivy Bridge graphics have a device-specific reset.
    spec = old_intel()
    pci(spec, f"{TOP}/0000:00:02.0", "8086:0166", 0x030000, "vfio-pci", 2, pcie=False)
    result = check("pci.device-reset", make_host(spec), ("0000:00:02.0",))
    assert result.devices[0].message == "resets by device_specific"
    # The Samsung NVMe quirk wraps an FLR: without FLR it is no method.
    spec = old_intel()
    pci(spec, f"{TOP}/0000:00:1d.0", "144d:a804", 0x010802, "vfio-pci", 6)
    assert check("pci.device-reset", make_host(spec), ("0000:00:1d.0",)).status is Status.FAIL
    # AMD/ATI VGA: NoSoftRst- is not trusted (quirk_no_pm_reset).
    spec = old_intel()
    pci(spec, f"{TOP}/0000:00:03.0", "1002:67df", 0x030000, "vfio-pci", 3, soft_reset=False)
    assert check("pci.device-reset", make_host(spec), ("0000:00:03.0",)).status is Status.FAIL


def test_reset_needs_root_to_read_capabilities(make_host):
    spec = gpu_host(flr=True)
    spec[f"{TOP}/0000:00:01.0/0000:01:00.0/config"] = spec[
        f"{TOP}/0000:00:01.0/0000:01:00.0/config"
    ][:64]
    result = check("pci.device-reset", make_host(spec), ("0000:01:00.0",))
    assert result.status is Status.ERROR and result.message.endswith("needs root")


# --- pci.driver-binding -------------------------------------------------------------------

VFIO_CONF = "/etc/modprobe.d/vfio.conf"


def binding(make_host, spec: dict, devices=("0000:01:00.0",)):
    return check("pci.driver-binding", make_host(spec), devices)


def test_a_manual_bind_reverts_at_reboot(make_host):
    spec = gpu_host(driver_override="vfio-pci")
    result = binding(make_host, spec)
    assert result.status is Status.WARN
    assert "only by driver_override=vfio-pci: nothing binds it at boot" in result.message
    assert "reverts to its host driver at reboot" in result.message


@pytest.mark.parametrize(
    ("files", "status", "text"),
    [
        ({VFIO_CONF: "options vfio-pci ids=10de:1b81\n"}, Status.WARN, "the host driver may claim it first"),
        ({VFIO_CONF: "options vfio_pci ids=10de:1b81\nsoftdep nouveau pre: vfio-pci\n"}, Status.PASS, "softdep nouveau pre: vfio-pci"),
        ({VFIO_CONF: "options vfio-pci ids=10de:1b81\n", "/etc/dracut.conf.d/vfio.conf": 'force_drivers+=" vfio_pci "\n'}, Status.PASS, "in the initramfs (/etc/dracut.conf.d/vfio.conf)"),
        ({VFIO_CONF: "options vfio-pci ids=10de:1b81\n", "/etc/initramfs-tools/modules": "vfio_pci\n"}, Status.PASS, "in the initramfs"),
        ({VFIO_CONF: "options vfio-pci ids=10de:1b81\n", "/etc/mkinitcpio.conf": "MODULES=(vfio_pci vfio vfio_iommu_type1)\n"}, Status.PASS, "in the initramfs"),
        ({"/lib/modules/5.14.0-362.8.1.el9_3.x86_64/modules.builtin": "kernel/drivers/vfio/pci/vfio-pci.ko\n", "/boot/loader/entries/a.conf": "title x\nversion 5.14.0-362.8.1.el9_3.x86_64\nlinux /vmlinuz\noptions ro vfio-pci.ids=10de:1b81,10de:10f0\n", "/boot/grub2/grub.cfg": "blscfg\n"}, Status.PASS, "vfio-pci.ids=10de:1b81 on the next boot's command line, and vfio-pci is built into the kernel"),
        ({"/etc/driverctl.d/pci-0000:01:00.0": "vfio-pci\n"}, Status.PASS, "a driverctl override"),
    ],
)  # fmt: skip
def test_what_binds_a_device_at_boot(make_host, files, status, text):
    spec = gpu_host(driver_override="vfio-pci")
    spec.update(files)
    result = binding(make_host, spec)
    assert result.status is status, result.message
    assert text in said(result)


@pytest.mark.parametrize(
    ("files", "form"),
    [
        ({}, "whether vfio-pci is built in or a module is not known here"),
        ({"/sys/module/vfio_pci/initstate": "live\n"}, "vfio-pci is a module (/sys/module/vfio_pci/initstate exists"),
        ({"/lib/modules/5.14.0-362.8.1.el9_3.x86_64/modules.builtin": "kernel/fs/ext4/ext4.ko\n"}, "vfio-pci is a module (not in /lib/modules/5.14.0-362.8.1.el9_3.x86_64/modules.builtin)"),
        ({"/boot/config-5.14.0-362.8.1.el9_3.x86_64": "CONFIG_VFIO_PCI=m\n"}, "vfio-pci is a module (CONFIG_VFIO_PCI=m)"),
    ],
)  # fmt: skip
def test_vfio_pci_is_called_a_module_only_on_evidence(make_host, files, form):
    """kernel/module/sysfs.c: initstate exists only for a loadable module."""
    spec = gpu_host(driver_override="vfio-pci")
    spec[VFIO_CONF] = "options vfio-pci ids=10de:1b81\n"
    spec.update(files)
    result = binding(make_host, spec)
    assert result.status is Status.WARN
    assert form in result.message


def test_a_built_in_vfio_pci_shows_in_sys_module_without_initstate(make_host):
    spec = gpu_host(driver_override="vfio-pci")
    spec[VFIO_CONF] = "options vfio-pci ids=10de:1b81\n"
    spec["/sys/module/vfio_pci/parameters/ids"] = "\n"
    result = binding(make_host, spec)
    assert result.status is Status.PASS
    assert "vfio-pci is built into the kernel (/sys/module/vfio_pci without initstate)" in said(
        result
    )


def test_the_running_boot_witnesses_the_same_binding(make_host):
    """vfio-pci.ids= on the running and the next command line, the device on vfio-pci now:
    the running boot shows the binding takes, with nothing known of how vfio-pci loads."""
    entry = "title x\nversion 5.14.0-362.8.1.el9_3.x86_64\nlinux /vmlinuz\noptions ro vfio-pci.ids=10de:1b81\n"
    spec = gpu_host()
    spec.update({"/boot/loader/entries/a.conf": entry, "/boot/grub2/grub.cfg": "blscfg\n"})
    spec["/proc/cmdline"] = "ro intel_iommu=on vfio-pci.ids=10de:1b81\n"
    result = binding(make_host, spec)
    assert result.status is Status.PASS
    assert "the running boot had the same and bound it" in said(result)
    spec["/proc/cmdline"] = "ro intel_iommu=on\n"  # bound by hand this boot: no witness
    assert binding(make_host, spec).status is Status.WARN


def test_blacklisting_the_host_driver_needs_vfio_loaded(make_host):
    spec = gpu_host()
    spec[f"{TOP}/0000:00:01.0/0000:01:00.0/driver"] = Link("../../../../bus/pci/drivers/nouveau")
    spec[VFIO_CONF] = "options vfio-pci ids=10de:1b81\nblacklist nouveau\n"
    assert binding(make_host, spec).status is Status.WARN  # nothing loads vfio-pci
    spec["/etc/modules-load.d/vfio.conf"] = "vfio-pci\n"
    result = binding(make_host, spec)
    assert result.status is Status.PASS
    assert "/etc/modules-load.d/vfio.conf loads vfio-pci" in said(result)


def test_managed_guests_need_no_boot_binding(make_host):
    spec = gpu_host()
    spec[f"{TOP}/0000:00:01.0/0000:01:00.0/driver"] = Link("../../../../bus/pci/drivers/nouveau")
    spec["/etc/libvirt/qemu/g.xml"] = GEN.guest_xml("g", ["0000:01:00.0"], "yes")
    result = binding(make_host, spec)
    assert result.status is Status.PASS
    assert "libvirt detaches it from nouveau when the guest starts" in said(result)


def test_a_boot_display_held_by_a_framebuffer_warns(make_host):
    spec = gpu_host()
    spec[f"{TOP}/0000:00:01.0/0000:01:00.0/boot_vga"] = "1\n"
    spec["/proc/iomem"] = (
        "e0000000-f1ffffff : PCI Bus 0000:01\n"
        "  e0000000-efffffff : 0000:01:00.0\n"
        "    e0000000-e02fffff : efifb\n"
    )
    result = binding(make_host, spec)
    assert result.status is Status.WARN and "efifb holds its memory" in result.message


def test_a_virtual_function(make_host):
    spec = intel()
    port = pci(spec, f"{TOP}/0000:00:1c.4", "8086:a294", 0x060400, "pcieport", 9, port_type=4)
    pci(spec, f"{port}/0000:04:00.0", "8086:1521", 0x020000, "igb", 10, flr=True)
    vf = pci(spec, f"{port}/0000:04:10.0", "8086:1520", 0x020000, "vfio-pci", 11, flr=True)
    spec[f"{vf}/physfn"] = Link("../0000:04:00.0")
    result = check("pci.driver-binding", make_host(spec), ("0000:04:10.0",))
    assert result.status is Status.WARN and "it vanishes at reboot" in result.message
    spec["/etc/udev/rules.d/70-sriov.rules"] = (
        'ACTION=="add", SUBSYSTEM=="net", ENV{ID_NET_DRIVER}=="igb", ATTR{device/sriov_numvfs}="1"\n'
    )
    result = check("pci.driver-binding", make_host(spec), ("0000:04:10.0",))
    assert result.status is Status.PASS and "70-sriov.rules writes sriov_numvfs" in said(result)
    spec[f"{port}/0000:04:00.0/driver"] = Link("../../../../bus/pci/drivers/vfio-pci")
    result = check("pci.driver-binding", make_host(spec), ("0000:04:10.0",))
    assert result.status is Status.FAIL and "must stay on its host driver" in result.message


# --- ACS ----------------------------------------------------------------------------------


def shared_group(acs: tuple[int, int] | None, root_port: str = "8086:1901") -> dict:
    """GPU behind a root port, sharing group 1 with a host NIC behind a second root port."""
    spec = intel()
    port = pci(
        spec, f"{TOP}/0000:00:01.0", root_port, 0x060400, "pcieport", 1, port_type=4, acs=acs
    )
    pci(spec, f"{port}/0000:01:00.0", "10de:1b81", 0x030000, "vfio-pci", 1)
    other = pci(spec, f"{TOP}/0000:00:01.1", "8086:1905", 0x060400, "pcieport", 1, port_type=4)
    pci(spec, f"{other}/0000:02:00.0", "8086:10d3", 0x020000, "e1000e", 1)
    return spec


@pytest.mark.parametrize(
    ("acs", "root_port", "said"),
    [
        (None, "8086:1901", "no ACS capability, and no kernel ACS quirk known to cover it"),
        (
            (0x1F, 0x01),
            "8086:1901",
            "ACS without RR, CR, UF enabled (the kernel requires SV, RR, CR, UF)",
        ),
        (None, "8086:a294", "ACS through the kernel's Intel Sunrise/Union Point PCH ACS quirk"),
    ],
)
def test_why_a_group_is_too_big(make_host, acs, root_port, said):
    result = check(
        "iommu.group-isolation", make_host(shared_group(acs, root_port)), ("0000:01:00.0",)
    )
    assert result.status is Status.FAIL
    assert said in evidence_text(result)


def test_a_root_port_with_acs_elsewhere_is_named_as_the_fix(make_host):
    spec = shared_group(None)
    pci(
        spec,
        f"{TOP}/0000:00:1c.0",
        "8086:a290",
        0x060400,
        "pcieport",
        8,
        port_type=4,
        buses=(0, 3, 3),
    )
    spec["/sys/bus/pci/slots/4/address"] = "0000:03:00\n"
    result = check("iommu.group-isolation", make_host(spec), ("0000:01:00.0",))
    assert result.remediation[0] == (
        "Move the card to a slot below root port 0000:00:1c.0 (slot 4): ACS through the "
        "kernel's Intel Sunrise/Union Point PCH ACS quirk, so a device there gets a group of "
        "its own."
    )
    assert not any(
        "pcie_acs_override=" in step and "never" not in step for step in result.remediation
    )


def test_unreadable_acs_says_needs_root(make_host):
    spec = shared_group(None)
    spec[f"{TOP}/0000:00:01.0/config"] = spec[f"{TOP}/0000:00:01.0/config"][:64]
    result = check("iommu.group-isolation", make_host(spec), ("0000:01:00.0",))
    assert "its ACS capability is unreadable (needs root)" in evidence_text(result)


def test_one_viability_rule_for_devices_and_group_isolation(make_host):
    """A firmware-required direct mapping (RMRR) blocks the group in both answers, in the
    same words: `hostaudit devices` and iommu.group-isolation once disagreed on it."""
    from auditor.devices import assignable
    from auditor.pci import read_device

    spec = gpu_host()
    spec["/sys/kernel/iommu_groups/1/reserved_regions"] = (
        "0x00000000fee00000 0x00000000feefffff msi\n0x00000000d9e91000 0x00000000d9e9ffff direct\n"
    )
    host = make_host(spec)
    result = check("iommu.group-isolation", host, ("0000:01:00.0", "0000:01:00.1"))
    assert result.status is Status.FAIL
    clause = "has a firmware-required direct mapping (RMRR): VFIO refuses to assign it"
    assert clause in result.message
    device = read_device(host, "0000:01:00.0")
    assert assignable(host, device) == (False, [f"group 1 {clause}"])
