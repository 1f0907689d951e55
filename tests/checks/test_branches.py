"""Check branches on small hand-built hosts (make_host): one condition each."""

from __future__ import annotations

import pytest

from auditor.context import Context
from auditor.errors import NeedsRootError
from auditor.host import Host
from auditor.model import Status
from auditor.registry import load_checks
from tests.conftest import ACPI, Link, built_in, evidence_text

RUN = {item.check.id: item.run for item in load_checks(include_third_party=False)}
RELEASE = "6.8.0-49-generic"


def intel(cmdline: str = "ro intel_iommu=on", active: bool = True, **extra) -> dict:
    """A minimal Intel host: DMAR, command line, kernel config, and (if active) one IOMMU unit."""
    spec = {
        "/sys/firmware/acpi/tables/DMAR": (ACPI / "intel-dmar.aml").read_bytes(),
        "/proc/cmdline": cmdline + "\n",
        "/proc/sys/kernel/osrelease": RELEASE + "\n",
        "/boot/config-"
        + RELEASE: "CONFIG_INTEL_IOMMU=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\n",
        "/sys/kernel/iommu_groups/.keep": "",
        "/sys/class/iommu/.keep": "",
    }
    if active:
        spec["/sys/class/iommu/dmar0"] = Link("../../devices/virtual/iommu/dmar0")
        spec["/sys/devices/virtual/iommu/dmar0/intel-iommu/ecap"] = "f050da\n"
        spec["/sys/kernel/iommu_groups/0/type"] = "DMA\n"
    spec.update(extra)
    return spec


def check(check_id: str, host: Host, devices: tuple[str, ...] = (), profile: str | None = None):
    context = Context(host=host, requested_devices=devices, profile=built_in(profile))
    return RUN[check_id](context)


def test_passthrough_warns(make_host):
    result = check("iommu.kernel-cmdline", make_host(intel("ro intel_iommu=on iommu=pt")))
    assert result.status is Status.WARN
    assert "passthrough mode (iommu=pt)" in result.message


def test_intel_on_by_default_passes_without_option(make_host):
    spec = intel("ro")
    spec[f"/boot/config-{RELEASE}"] = "CONFIG_INTEL_IOMMU=y\nCONFIG_INTEL_IOMMU_DEFAULT_ON=y\n"
    assert check("iommu.kernel-cmdline", make_host(spec)).status is Status.PASS


def test_intel_off_on_command_line_is_named_and_removed(make_host):
    host = make_host(
        intel("ro intel_iommu=off", active=False, **{"/etc/kernel/cmdline": "ro intel_iommu=off\n"})
    )
    result = check("iommu.kernel-cmdline", host)
    assert result.status is Status.FAIL
    assert result.message == "IOMMU not active: intel_iommu=off"
    assert result.remediation[:2] == (
        "/etc/kernel/cmdline: remove intel_iommu=off",
        "/etc/kernel/cmdline: add intel_iommu=on",
    )


def test_enabled_but_not_active_points_at_the_log(make_host):
    result = check("iommu.kernel-cmdline", make_host(intel("ro intel_iommu=on", active=False)))
    assert result.status is Status.FAIL
    assert "the driver did not start" in result.message
    assert not any("intel_iommu=on" in step for step in result.remediation)  # it is already there


def test_archive_without_sysfs_cannot_verify(make_host):
    spec = intel()
    for key in [k for k in spec if k.startswith(("/sys/class", "/sys/kernel", "/sys/devices"))]:
        del spec[key]
    result = check("iommu.kernel-cmdline", make_host(spec))
    assert result.status is Status.SKIP and "cannot verify activity" in result.message


def test_firmware_table_needs_root(make_host, monkeypatch):
    host = make_host(intel())

    def denied(self, path, limit=0):
        raise NeedsRootError(path)

    monkeypatch.setattr(Host, "read_bytes", denied)
    result = check("iommu.firmware-table", host)
    assert result.status is Status.ERROR
    assert result.message == "DMAR present but needs root to decode: run the audit as root"
    assert "present (mode 0400" in evidence_text(result)


def test_broken_table_fails(make_host):
    spec = intel()
    spec["/sys/firmware/acpi/tables/DMAR"] = (ACPI / "template-dmar.aml").read_bytes()
    result = check("iommu.firmware-table", make_host(spec))
    assert result.status is Status.FAIL
    assert "DMAR: DRHD 0 has an invalid register base 0x0" in result.message


def test_no_acpi_at_all_is_skipped(make_host):
    assert check("iommu.firmware-table", make_host({"/proc/cmdline": "ro\n"})).status is Status.SKIP


def test_intremap_off_is_the_kernel_disabling_it(make_host):
    spec = intel(
        "ro intel_iommu=on intremap=off",
        **{"/proc/interrupts": "   CPU0\n  9:  4  IO-APIC  9-fasteoi  acpi\n"},
    )
    result = check("iommu.interrupt-remapping", make_host(spec))
    assert result.status is Status.FAIL
    assert (
        result.message == "interrupt remapping disabled by the kernel command line (intremap=off)"
    )


def test_interrupt_remapping_from_the_log_alone(make_host):
    spec = intel(
        **{"/var/log/dmesg": "[    0.124576] DMAR-IR: Enabled IRQ remapping in x2apic mode\n"}
    )
    result = check("iommu.interrupt-remapping", make_host(spec))
    assert result.status is Status.PASS and "kernel log" in result.message


def test_legacy_kvm_parameter_on_an_old_kernel_fails(make_host):
    spec = {
        "/proc/cmdline": "ro kvm.allow_unsafe_assigned_interrupts=1\n",
        "/proc/sys/kernel/osrelease": "2.6.32-754.el6.x86_64\n",
        "/sys/module/kvm/parameters/allow_unsafe_assigned_interrupts": "1\n",
    }
    result = check("kvm.unsafe-interrupts", make_host(spec))
    assert result.status is Status.FAIL
    assert "kvm.allow_unsafe_assigned_interrupts is on in the running kernel" in result.message
    assert "the kernel command line sets kvm.allow_unsafe_assigned_interrupts=1" in result.message


def test_etc_modprobe_overrides_lib(make_host):
    spec = {
        "/proc/cmdline": "ro\n",
        "/proc/sys/kernel/osrelease": RELEASE + "\n",
        "/lib/modprobe.d/vfio.conf": "options vfio_iommu_type1 allow_unsafe_interrupts=1\n",
        "/etc/modprobe.d/vfio.conf": "options vfio_iommu_type1 allow_unsafe_interrupts=0\n",
    }
    assert check("kvm.unsafe-interrupts", make_host(spec)).status is Status.PASS


@pytest.mark.parametrize(
    ("enforce", "boolean", "local", "status"),
    [
        ("1", "1 1", "virt_use_sysfs=1\n", Status.PASS),
        ("0", "0 0", "", Status.WARN),
        ("1", "1 1", "virt_use_sysfs=0\n", Status.WARN),
        ("1", "1 0", "", Status.WARN),
        ("1", "0 0", "", Status.FAIL),
    ],
)
def test_selinux_states(make_host, enforce, boolean, local, status):
    spec = {"/sys/fs/selinux/enforce": enforce, "/sys/fs/selinux/booleans/virt_use_sysfs": boolean}
    if local:
        spec["/var/lib/selinux/targeted/active/booleans.local"] = local
    assert check("selinux.virt-use-sysfs", make_host(spec)).status is status


def test_selinux_malformed_boolean_is_an_error(make_host):
    spec = {"/sys/fs/selinux/enforce": "1", "/sys/fs/selinux/booleans/virt_use_sysfs": "yes"}
    result = check("selinux.virt-use-sysfs", make_host(spec))
    assert result.status is Status.ERROR and "malformed" in result.message


def test_stale_grub_cfg(make_host):
    spec = intel(
        **{
            "/etc/default/grub": 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n',
            "/etc/default/grub.d/iommu.cfg": 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT intel_iommu=on"\n',
            "/boot/grub/grub.cfg": "menuentry 'Ubuntu' {\n\tlinux /boot/vmlinuz-6.8.0-49-generic root=/dev/sda2 ro quiet\n}\n",
        }
    )
    result = check("iommu.cmdline-persistent", make_host(spec))
    assert result.status is Status.FAIL
    assert (
        "/etc/default/grub enables it but /boot/grub/grub.cfg was not regenerated" in result.message
    )
    # No os-release says Debian here: grub-mkconfig itself, which update-grub wraps.
    assert (
        result.remediation[1]
        == "Write the boot entries again: grub-mkconfig -o /boot/grub/grub.cfg"
    )


def test_proxmox_kernel_cmdline(make_host):
    spec = intel(
        **{
            "/etc/kernel/cmdline": "root=ZFS=rpool/ROOT/pve-1 boot=zfs\n",
            "/etc/kernel/proxmox-boot-uuids": "ABCD\n",
        }
    )
    result = check("iommu.cmdline-persistent", make_host(spec))
    assert result.status is Status.FAIL
    assert result.remediation[1] == "Write the boot entries again: proxmox-boot-tool refresh"


def test_rhel6_grub_conf_default_entry(make_host):
    conf = (
        "default=0\ntitle Red Hat Enterprise Linux (2.6.32-754.el6.x86_64)\n"
        "\tkernel /vmlinuz-2.6.32-754.el6.x86_64 ro root=/dev/sda1 intel_iommu=on\n"
    )
    result = check("iommu.cmdline-persistent", make_host(intel(**{"/boot/grub/grub.conf": conf})))
    assert result.status is Status.PASS
    assert "legacy-grub" in evidence_text(result)


def test_no_boot_configuration_is_skipped(make_host):
    result = check("iommu.cmdline-persistent", make_host(intel()))
    assert result.status is Status.SKIP and "no boot loader configuration found" in result.message


def test_vt_x_disabled_in_firmware(make_host):
    spec = {
        "/proc/cpuinfo": "vendor_id\t: GenuineIntel\nflags\t\t: fpu sse2\n",
        "/var/log/dmesg": "[    0.000000] x86/cpu: VMX (outside TXT) disabled by BIOS\n",
    }
    result = check("cpu.virtualization", make_host(spec))
    assert result.status is Status.FAIL
    assert result.message == (
        "hardware virtualization is disabled in the firmware setup "
        "(kernel log: x86/cpu: VMX (outside TXT) disabled by BIOS)"
    )


def test_kvm_module_not_loaded(make_host):
    result = check(
        "cpu.virtualization",
        make_host({"/proc/cpuinfo": "vendor_id : AuthenticAMD\nflags : svm\n"}),
    )
    assert result.status is Status.FAIL and result.remediation[0] == "modprobe kvm_amd"


def _group_host(extra: dict) -> dict:
    base = {
        "/sys/devices/pci0000:00/0000:01:00.0/class": "0x020000\n",
        "/sys/devices/pci0000:00/0000:01:00.0/iommu_group": Link("../../../kernel/iommu_groups/7"),
        "/sys/bus/pci/devices/0000:01:00.0": Link("../../../devices/pci0000:00/0000:01:00.0"),
        "/sys/kernel/iommu_groups/7/devices/0000:01:00.0": Link(
            "../../../../devices/pci0000:00/0000:01:00.0"
        ),
    }
    return intel(**{**base, **extra})


def test_acs_override_only_pretends(make_host):
    host = make_host(
        _group_host(
            {"/proc/cmdline": "ro intel_iommu=on pcie_acs_override=downstream,multifunction\n"}
        )
    )
    result = check("iommu.group-isolation", host, ("0000:01:00.0",))
    # A group that looks viable only because of the override is still a failure.
    assert (
        result.status is Status.FAIL
        and "pcie_acs_override=downstream,multifunction" in result.message
    )
    assert not any(
        "pcie_acs_override" in step and "add" in step.lower() for step in result.remediation
    )


def test_direct_rmrr_makes_the_group_ineligible(make_host):
    regions = (
        "0x000000007c000000 0x00000000803fffff direct\n0x00000000fee00000 0x00000000feefffff msi\n"
    )
    host = make_host(_group_host({"/sys/kernel/iommu_groups/7/reserved_regions": regions}))
    result = check("iommu.group-isolation", host, ("0000:01:00.0",))
    assert result.status is Status.FAIL and "(RMRR)" in result.message


def test_device_without_group(make_host):
    spec = _group_host({})
    del spec["/sys/devices/pci0000:00/0000:01:00.0/iommu_group"]
    result = check("iommu.group-isolation", make_host(spec), ("0000:01:00.0",))
    assert result.message == "0000:01:00.0 is in no IOMMU group (the IOMMU does not cover it)"


def test_conventional_pci_on_a_modern_kernel(make_host):
    # No max_link_speed on Linux >= 4.13 means conventional PCI, even without root.
    spec = _group_host({"/sys/devices/pci0000:00/0000:01:00.0/config": bytes(64)})
    result = check("pci.device-support", make_host(spec), ("0000:01:00.0",), "rhel6")
    assert result.status is Status.WARN and "0000:01:00.0 is conventional PCI" in result.message
    # The default profile does not hold RHEL 6's restriction against it.
    result = check("pci.device-support", make_host(spec), ("0000:01:00.0",))
    assert result.status is Status.PASS
    assert result.message.endswith("supports: 1 conventional PCI, 1 single function")


def test_bus_type_on_an_old_kernel_needs_root(make_host):
    spec = _group_host({"/sys/devices/pci0000:00/0000:01:00.0/config": bytes(64)})
    spec["/proc/sys/kernel/osrelease"] = "2.6.32-754.el6.x86_64\n"
    result = check("pci.device-support", make_host(spec), ("0000:01:00.0",), "rhel6")
    assert result.status is Status.ERROR and result.message.endswith("needs root")
    assert "bus type unknown (needs root)" in evidence_text(result)
    # Where the bus type does not matter (default profile), not knowing it is no error.
    assert check("pci.device-support", make_host(spec), ("0000:01:00.0",)).status is Status.PASS
    spec["/sys/devices/pci0000:00/0000:01:00.0/config"] = bytes(
        256
    )  # root reads it all: no PCIe capability
    result = check("pci.device-support", make_host(spec), ("0000:01:00.0",), "rhel6")
    assert result.status is Status.WARN and "conventional PCI" in result.message


FEDORA_KCONFIG = "CONFIG_INTEL_IOMMU=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\n"


def _bls(version: str, options: str) -> str:
    return f"title Fedora Linux ({version})\nversion {version}\nlinux /vmlinuz-{version}\noptions {options}\n"


@pytest.mark.parametrize(
    ("grubenv", "status", "message"),
    [
        # No saved entry: blscfg boots the newest kernel, which has the option.
        (
            "",
            Status.WARN,
            "the default boot entry keeps the IOMMU on, but 1 other entries would boot without it",
        ),
        (
            "saved_entry=abc-6.11.4-301.fc41.x86_64\n",
            Status.WARN,
            "the default boot entry keeps the IOMMU on",
        ),
        # The saved entry is the old kernel without it: the next boot loses the IOMMU.
        (
            "saved_entry=abc-6.8.5-301.fc40.x86_64\n",
            Status.FAIL,
            "IOMMU will be off after reboot: the default boot entry",
        ),
        # A saved entry that matches nothing: which one boots cannot be known.
        ("saved_entry=gone\n", Status.FAIL, "which entry boots by default could not be determined"),
    ],
)
def test_bls_default_entry_decides(make_host, grubenv, status, message):
    spec = intel(
        **{
            "/boot/loader/entries/abc-6.11.4-301.fc41.x86_64.conf": _bls(
                "6.11.4-301.fc41.x86_64", "root=/dev/vda3 ro intel_iommu=on"
            ),
            "/boot/loader/entries/abc-6.8.5-301.fc40.x86_64.conf": _bls(
                "6.8.5-301.fc40.x86_64", "root=/dev/vda3 ro"
            ),
            "/boot/grub2/grubenv": "# GRUB Environment Block\n" + grubenv,
            "/boot/grub2/grub.cfg": "blscfg\n",
            "/boot/config-6.11.4-301.fc41.x86_64": FEDORA_KCONFIG,
            "/boot/config-6.8.5-301.fc40.x86_64": FEDORA_KCONFIG,
        }
    )
    result = check("iommu.cmdline-persistent", make_host(spec))
    assert result.status is status
    assert message in result.message


def test_option_parser_message_is_not_proof(make_host):
    """ "Intel-IOMMU: enabled" is printed by the option parser, before anything starts."""
    spec = intel("ro intel_iommu=on")
    for key in [k for k in spec if k.startswith(("/sys/class", "/sys/kernel", "/sys/devices"))]:
        del spec[key]
    spec["/var/log/dmesg"] = "Intel-IOMMU: enabled\ndmar: Host address width 39\n"
    assert check("iommu.kernel-cmdline", make_host(spec)).status is Status.SKIP
    spec["/var/log/dmesg"] += "PCI-DMA: Intel(R) Virtualization Technology for Directed I/O\n"
    assert check("iommu.kernel-cmdline", make_host(spec)).status is Status.PASS


def test_unsafe_interrupts_names_only_the_sources_it_read(make_host):
    bare = check("kvm.unsafe-interrupts", make_host({"/proc/cmdline": "ro quiet\n"}))
    assert bare.status is Status.PASS
    assert bare.message == (
        "no unsafe-interrupt override is set (read: command line; not read: live values "
        "(no /sys/module in this root), modprobe.d (no modprobe.d folder in this root))"
    )
    full = {
        "/proc/cmdline": "ro quiet\n",
        "/etc/modprobe.d/kvm.conf": "options kvm_intel nested=1\n",
        "/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts": "N\n",
    }
    result = check("kvm.unsafe-interrupts", make_host(full))
    assert result.message == (
        "no unsafe-interrupt override is set (read: live /sys/module, modprobe.d, command line)"
    )


def test_a_loaded_vfio_module_without_its_parameter_is_a_capture_gap(make_host):
    """vfio_iommu_type1 has had allow_unsafe_interrupts since it exists: a capture that holds
    the module but not the parameter cannot say what it is now."""
    spec = {"/proc/cmdline": "ro\n", "/sys/module/vfio_iommu_type1/refcnt": "0\n"}
    result = check("kvm.unsafe-interrupts", make_host(spec))
    assert result.status is Status.SKIP
    assert result.message.startswith(
        "cannot tell: vfio_iommu_type1.allow_unsafe_interrupts is not in this capture"
    )


@pytest.mark.parametrize(
    ("vendor", "product", "says", "advice"),
    [
        # DMI of a libvirt q35 guest (sys_vendor, product_name as QEMU sets them).
        ("QEMU", "Standard PC (Q35 + ICH9, 2009)", "QEMU/KVM", "kernel-irqchip=split"),
        ("VMware, Inc.", "VMware Virtual Platform", "VMware", "Expose IOMMU to the guest OS"),
        ("Microsoft Corporation", "Virtual Machine", "Hyper-V", "audit the physical host"),
        (None, None, "gives no DMI", "microVM"),
    ],
)
def test_a_vm_without_a_virtual_iommu_is_told_what_its_hypervisor_needs(
    make_host, vendor, product, says, advice
):
    spec = {
        "/sys/firmware/acpi/tables/APIC": b"APIC",
        "/proc/cpuinfo": "vendor_id\t: GenuineIntel\nflags\t\t: fpu vmx hypervisor\n",
    }
    if vendor:
        spec["/sys/class/dmi/id/sys_vendor"] = vendor + "\n"
        spec["/sys/class/dmi/id/product_name"] = product + "\n"
    result = check("iommu.firmware-table", make_host(spec))
    assert result.status is Status.FAIL
    assert says in result.message
    assert any(advice in step for step in result.remediation), result.remediation
    if vendor == "QEMU":  # everything QEMU and libvirt need, not half of it
        steps = " ".join(result.remediation)
        for word in ("intremap=on", "caching-mode=on", "<ioapic driver='qemu'/>", "caching_mode"):
            assert word in steps
