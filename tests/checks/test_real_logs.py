"""Captures that hold a kernel log but not the sysfs proof (sosreports, bare roots): the
kernel's own records decide, and a whole log's silence is evidence (tests/fixtures/kernel-logs)."""

from __future__ import annotations

import shutil

from auditor.model import Status
from tests.conftest import FIXTURES, HOSTS, audit, evidence_text

LOGS = FIXTURES / "kernel-logs"
H87 = (LOGS / "linuxhw-h87-ubuntu-5.4.dmesg").read_text()
H87_CMDLINE = "BOOT_IMAGE=/boot/vmlinuz-5.4.0-100-generic root=UUID=XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX ro quiet splash\n"


def capture(tmp_path, log: str, cmdline: str = H87_CMDLINE):
    """A root holding only the command line and the kernel log, as a minimal capture does."""
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "cmdline").write_text(cmdline)
    (root / "var" / "log").mkdir(parents=True)
    (root / "var" / "log" / "dmesg").write_text(log)
    return root


def test_a_whole_intel_log_decides_tables_activity_and_remapping(tmp_path):
    results = audit(capture(tmp_path, H87))
    table = results["iommu.firmware-table"]
    assert table.status is Status.PASS
    assert table.outcome.message == (
        "DMAR present (judged from the kernel log: the table files are not in this root; "
        "the kernel parsed DMAR)"
    )
    assert "ACPI: DMAR 0x00000000D8A6CC08 0000B8" in evidence_text(table)

    active = results["iommu.kernel-cmdline"]
    assert active.status is Status.FAIL
    assert (
        "the kernel log, whole from boot, has no record an active IOMMU driver prints"
        in active.outcome.message
    )
    text = evidence_text(active)
    assert "whole: it starts at boot ('Linux version 5.4.0-100-generic', 'Command line:')" in text
    assert "iommu: Default domain type: Translated" in text and "printed whether or not" in text

    remapping = results["iommu.interrupt-remapping"]
    assert remapping.status is Status.PASS
    assert remapping.outcome.message == (
        "interrupt remapping enabled (kernel log: DMAR-IR: Enabled IRQ remapping in x2apic mode)"
    )


def test_the_release_comes_from_the_log_banner(tmp_path):
    from auditor.facts import kernel_release
    from auditor.host import Host

    root = capture(tmp_path, H87)
    with Host(str(root)) as host:
        assert kernel_release(host) == "5.4.0-100-generic"
    (root / "proc" / "version").write_text(
        "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian 6.1.76-1\n"
    )
    with Host(str(root)) as host:
        assert kernel_release(host) == "6.1.0-18-amd64"  # /proc/version first


def test_a_log_of_another_kernel_is_not_whole_for_this_one(tmp_path):
    root = capture(tmp_path, H87)
    (root / "proc" / "sys" / "kernel").mkdir(parents=True)
    (root / "proc" / "sys" / "kernel" / "osrelease").write_text("5.15.0-91-generic\n")
    results = audit(root)
    active = results["iommu.kernel-cmdline"]
    assert active.status is Status.SKIP  # the log cannot speak for 5.15's boot
    assert (
        "the log is of 5.4.0-100-generic, the running kernel is 5.15.0-91-generic"
        in evidence_text(active)
    )


def test_an_excerpt_that_refuses_the_dmar_fails_the_table(tmp_path):
    log = (LOGS / "xps13-9310-dmar-at-address-0.dmesg").read_text()
    results = audit(capture(tmp_path, log, "ro quiet\n"))
    table = results["iommu.firmware-table"]
    assert table.status is Status.FAIL
    assert (
        "DMAR reported at address 0" in table.outcome.message
        and "judged from the kernel log" in table.outcome.message
    )


def test_an_excerpt_with_group_records_proves_activity(tmp_path):
    log = (LOGS / "rocm-issue-242-ryzen-4.11.dmesg").read_text()
    results = audit(capture(tmp_path, log, "ro quiet splash\n"))
    active = results["iommu.kernel-cmdline"]
    assert active.status is Status.PASS
    assert (
        active.outcome.message
        == "IOMMU active: kernel log: iommu: Adding device 0000:00:01.0 to group 0"
    )


def test_an_excerpt_without_records_cannot_tell(tmp_path):
    excerpt = "\n".join(H87.splitlines()[2:]) + "\n"  # the banner is gone: not whole
    results = audit(capture(tmp_path, excerpt))
    assert results["iommu.kernel-cmdline"].status is Status.SKIP


def test_a_whole_log_without_the_remapping_record_fails(tmp_path):
    """The no-interrupt-remapping host as a capture without /proc/interrupts: its whole log
    (no 'Enabled IRQ remapping') decides; cut its banner and the audit cannot tell."""
    root = tmp_path / "host"
    shutil.copytree(HOSTS / "no-interrupt-remapping", root, symlinks=True)
    (root / "proc" / "interrupts").unlink()
    remapping = audit(root)["iommu.interrupt-remapping"]
    assert remapping.status is Status.FAIL
    assert "firmware/hardware does not support it" in remapping.outcome.message
    log = root / "var" / "log" / "dmesg"
    log.write_text("\n".join(log.read_text().splitlines()[1:]) + "\n")
    assert audit(root)["iommu.interrupt-remapping"].status is Status.SKIP


def test_the_running_kernel_witnesses_its_own_default_from_its_log(tmp_path):
    """No /proc/sys/kernel/osrelease and no kernel config: the log's banner names the running
    release, and its whole log (no IOMMU started, DMAR parsed) shows the default is off, so
    an entry of that release without intel_iommu= keeps the IOMMU off after a reboot."""
    root = capture(tmp_path, H87)
    (root / "boot" / "grub").mkdir(parents=True)
    (root / "boot" / "grub" / "grub.cfg").write_text(
        "menuentry 'Linux Mint 20.2' {\n"
        "\tlinux /boot/vmlinuz-5.4.0-100-generic root=UUID=XXXXXXXX ro quiet splash\n"
        "}\n"
    )
    persistent = audit(root)["iommu.cmdline-persistent"]
    assert persistent.status is Status.FAIL, persistent.outcome.message
    assert "the running kernel 5.4.0-100-generic has none active" in evidence_text(persistent)


def test_a_capture_without_its_log_is_unreadable_for_the_log_rules(tmp_path):
    """A snapshot that did not collect the saved log: the log rules see an unreadable log
    (cannot tell), never an archive gap that would skip the whole check."""
    from auditor.errors import HostError
    from auditor.facts import kernel_log
    from auditor.host import Host
    from auditor.sources.snapshot import open_snapshot
    from tests.hostile.builders import manifest, snapshot_archive

    archive = snapshot_archive(
        tmp_path / "h.tar.gz",
        manifest(not_collected={"/var/log/dmesg": "the collector was told not to"}),
        {"/proc/cmdline": b"ro\n"},
    )
    host = Host(open_snapshot(str(archive)))
    try:
        kernel_log(host)
    except HostError as exc:
        assert "not collected: the collector was told not to" in str(exc)
    else:
        raise AssertionError("a log that is not in the capture was read")
    finally:
        host.close()
