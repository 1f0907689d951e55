"""Parsers of text files: kernel log, procfs, kernel config, modprobe.d, SELinux, boot config, PCI."""

from __future__ import annotations

import pytest

from auditor.parsers.bootconfig import (
    parse_bls_entry,
    parse_grub_cfg,
    parse_grubenv,
    parse_legacy_grub_conf,
    parse_shell_assignments,
)
from auditor.parsers.kconfig import enabled, parse_kconfig
from auditor.parsers.kernel_log import find, parse_dmesg, parse_kmsg_record
from auditor.parsers.modprobe import parse_modprobe_conf
from auditor.parsers.pci import (
    has_pcie_capability,
    nodedev_name,
    normalise_address,
    parse_config_header,
)
from auditor.parsers.procfs import boot_time, cpu_flags, interrupt_chips, release_version, remapped
from auditor.parsers.selinux import parse_boolean, parse_booleans_local


def test_kmsg_record():
    record = b"6,339,5140900,-;DMAR-IR: Enabled IRQ remapping in x2apic mode\n SUBSYSTEM=acpi\n"
    assert parse_kmsg_record(record) == "DMAR-IR: Enabled IRQ remapping in x2apic mode"
    assert parse_kmsg_record(b"4,12,1,-;tab\\x09here\n") == "tab\there"


def test_dmesg_lines_lose_their_timestamp():
    text = "[    0.124576] DMAR-IR: Enabled IRQ remapping in x2apic mode\n<6>[    0.184234] DMAR: Host address width 36\n"
    messages = parse_dmesg(text)
    assert messages == [
        "DMAR-IR: Enabled IRQ remapping in x2apic mode",
        "DMAR: Host address width 36",
    ]
    assert find(messages, "Enabled IRQ remapping") == messages[:1]


def test_interrupt_chips_real_layout():
    text = (
        "            CPU0       CPU1       \n"
        "  24:          1          0  IR-IO-APIC   5-edge      ACPI:Ged\n"
        " 122:          0        281  IR-PCI-MSI-0000:00:14.0    0-edge      xhci_hcd\n"
        " 123:          0          0  vIR-PCI-MSIX-0000:01:00.0    0-edge      nvme0q0\n"
        " NMI:          1          1   Non-maskable interrupts\n"
    )
    chips = interrupt_chips(text)
    assert chips == {"IR-IO-APIC": 1, "IR-PCI-MSI-0000:00:14.0": 1, "vIR-PCI-MSIX-0000:01:00.0": 1}
    assert all(remapped(chip) for chip in chips)
    assert not remapped("IO-APIC") and not remapped("PCI-MSI")


def test_cpu_flags_and_btime():
    assert cpu_flags("vendor_id\t: GenuineIntel\nflags\t\t: fpu vmx ept\n") == (
        "GenuineIntel",
        {"fpu", "vmx", "ept"},
    )
    assert boot_time("cpu 1 2\nbtime 1763971200\n") == 1763971200.0
    assert boot_time("cpu 1 2\n") is None


def test_kconfig():
    options = parse_kconfig(
        "CONFIG_INTEL_IOMMU=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\nCONFIG_VFIO=m\n"
    )
    assert enabled(options, "CONFIG_INTEL_IOMMU") is True
    assert enabled(options, "CONFIG_INTEL_IOMMU_DEFAULT_ON") is False
    assert enabled(options, "CONFIG_VFIO") is True
    assert enabled(options, "CONFIG_AMD_IOMMU") is None


def test_modprobe_options():
    text = (
        "# vfio\noptions vfio_iommu_type1 allow_unsafe_interrupts=1\n"
        "options vfio-pci ids=10de:1b81,10de:10f0 \\\n  disable_vga=1\nblacklist nouveau\n"
    )
    options = parse_modprobe_conf(text)
    assert [(o.module, o.name, o.value, o.line) for o in options] == [
        ("vfio_iommu_type1", "allow_unsafe_interrupts", "1", 2),
        ("vfio_pci", "ids", "10de:1b81,10de:10f0", 3),
        ("vfio_pci", "disable_vga", "1", 3),
    ]


def test_selinux_boolean():
    assert parse_boolean("1 0") == (True, False)
    with pytest.raises(ValueError):
        parse_boolean("on")
    assert parse_booleans_local("virt_use_sysfs=1\n# c\nx=0\n") == {
        "virt_use_sysfs": True,
        "x": False,
    }


def test_grub_defaults_with_drop_in_appending():
    base = parse_shell_assignments(
        "GRUB_CMDLINE_LINUX=\"rhgb quiet\" # comment\nGRUB_CMDLINE_LINUX_DEFAULT='splash'\n"
    )
    merged = parse_shell_assignments(
        'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX intel_iommu=on"\n', base
    )
    assert merged["GRUB_CMDLINE_LINUX"] == "rhgb quiet intel_iommu=on"
    assert merged["GRUB_CMDLINE_LINUX_DEFAULT"] == "splash"


def test_grub_cfg_entries_and_bls():
    text = (
        "menuentry 'Debian GNU/Linux' --class debian {\n\tlinux\t/boot/vmlinuz-6.1.0-18-amd64 root=UUID=x ro  quiet\n}\n"
        "menuentry 'Debian (recovery mode)' {\n\tlinux /boot/vmlinuz-6.1.0-18-amd64 root=UUID=x ro single\n}\n"
    )
    entries, uses_bls, default = parse_grub_cfg(text)
    assert not uses_bls and default == "0"
    assert (entries[0].title, entries[0].kernel, entries[0].args) == (
        "Debian GNU/Linux",
        "/boot/vmlinuz-6.1.0-18-amd64",
        "root=UUID=x ro  quiet",
    )
    assert parse_grub_cfg("insmod xfs\nblscfg\n")[1] is True
    # Debian's grub.cfg: next_entry from grubenv wins over the fallback "0" only when set.
    debian = 'if [ "${next_entry}" ] ; then\n   set default="${next_entry}"\nelse\n   set default="0"\nfi\n'
    assert parse_grub_cfg(debian, {})[2] == "0"


def test_bls_entry_expands_kernelopts():
    env = parse_grubenv(
        "# GRUB Environment Block\nkernelopts=root=/dev/sda1 ro intel_iommu=on\n####"
    )
    keys = parse_bls_entry("title RHEL 8\nversion 4.18.0\noptions $kernelopts\n", env)
    assert keys["options"] == "root=/dev/sda1 ro intel_iommu=on"
    assert keys["version"] == "4.18.0"


def test_legacy_grub_conf():
    text = (
        "default=1\ntimeout=5\ntitle Red Hat Enterprise Linux (2.6.32-754.el6.x86_64)\n"
        "\tkernel /vmlinuz-2.6.32-754.el6.x86_64 ro root=/dev/sda1\n"
        "title Red Hat Enterprise Linux (2.6.32-696.el6.x86_64)\n"
        "\tkernel /vmlinuz-2.6.32-696.el6.x86_64 ro root=/dev/sda1 intel_iommu=on\n"
    )
    default, entries = parse_legacy_grub_conf(text)
    assert default == 1
    assert entries[1].args == "ro root=/dev/sda1 intel_iommu=on"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0000:01:00.0", "0000:01:00.0"),
        ("01:00.0", "0000:01:00.0"),
        ("pci_0000_01_00_0", "0000:01:00.0"),
        ("0000:AF:1F.7", "0000:af:1f.7"),
        ("pci_0001_02_03_4", "0001:02:03.4"),
    ],
)
def test_device_addresses(text, expected):
    assert normalise_address(text) == expected


@pytest.mark.parametrize("text", ["1:0.0", "01:00.8", "10de:1b81", "", "pci_0000_01_00"])
def test_bad_device_addresses(text):
    with pytest.raises(ValueError, match="not a PCI address"):
        normalise_address(text)


def test_nodedev_name():
    assert nodedev_name("0000:01:00.0") == "pci_0000_01_00_0"


def test_config_header_and_pcie_capability():
    config = bytearray(256)
    config[0x06] = 0x10
    config[0x0E] = 0x80
    config[0x34] = 0x60
    config[0x60:0x62] = b"\x01\x68"
    config[0x68:0x6A] = b"\x10\x00"
    header = parse_config_header(bytes(config))
    assert header.multifunction and header.header_type == 0
    assert has_pcie_capability(bytes(config)) is True
    assert has_pcie_capability(bytes(config[:64])) is None  # unprivileged read: cannot tell
    config[0x68] = 0x05
    assert has_pcie_capability(bytes(config)) is False


@pytest.mark.parametrize(
    ("release", "version"),
    [
        ("5.14.0-362.8.1.el9_3.x86_64", (5, 14)),
        ("2.6.32-754.el6.x86_64", (2, 6)),
        ("6.18.44-fc-v669", (6, 18)),
        ("4.12-rc1", (4, 12)),
        ("4.12rc1", (4, 12)),
        ("", None),
        ("linux", None),
    ],
)
def test_release_version(release, version):
    assert release_version(release) == version
