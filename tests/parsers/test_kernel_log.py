"""Kernel-log rules on real machines' logs (tests/fixtures/kernel-logs/SOURCE.md says whose)."""

from __future__ import annotations

import re
import time

import pytest

from auditor.parsers import kernel_log as rules
from auditor.parsers.kernel_log import (
    acpi_tables,
    completeness,
    earliest_dmesg_time,
    firmware_disabled_virtualization,
    iommu_started,
    parse_dmesg,
    table_in_log,
)
from tests.conftest import FIXTURES

LOGS = FIXTURES / "kernel-logs"
# What the whole-log fixtures keep of their source: every record a rule reads (below).
FILTER = re.compile(
    r"(?-i:ACPI: [A-Z0-9_!]{4} )|linux version|command line|dmar|amd-vi|ivrs|iommu|remapping"
    r"|x2apic|virtualization technology|kvm|vmx|svm|by bios|firmware bug|host address width"
    r"|drhd base",
    re.IGNORECASE,
)


def log(name: str) -> tuple[list[str], float | None]:
    text = (LOGS / name).read_text()
    return parse_dmesg(text), earliest_dmesg_time(text)


def test_the_filter_keeps_every_record_a_rule_reads():
    """A filtered whole log hides nothing a rule could find: each needle matches FILTER."""
    needles = [
        rules.BANNER,
        *rules.COMMAND_LINE,
        *rules.GROUP_RECORDS,
        *rules.STARTED_RECORDS,
        rules.DEFAULT_DOMAIN,
        *rules.REMAPPING_ENABLED,
        *rules.REMAPPING_FAILED,
        *rules.FIRMWARE_VIRT_OFF,
        *rules.BROKEN_RECORDS,
        *(needle for pair in rules.PARSED_RECORDS.values() for needle in pair),
        "ACPI: DMAR 0x00000000D8A6CC08 0000B8 (v01",
    ]
    missed = [needle for needle in needles if not FILTER.search(needle)]
    assert not missed


def test_a_whole_linuxhw_log_is_whole_and_names_its_release():
    messages, earliest = log("linuxhw-h87-ubuntu-5.4.dmesg")
    judged = completeness(messages, earliest)
    assert judged.whole and judged.release == "5.4.0-100-generic"
    assert "whole: it starts at boot" in judged.why


@pytest.mark.parametrize(
    "name, why",
    [
        ("rocm-issue-242-ryzen-4.11.dmesg", "does not start with the kernel's 'Linux version'"),
        ("xps13-9310-dmar-at-address-0.dmesg", "does not start with"),
        # A journal (`[ts] kernel: ...`) holds the banner, but not as a kernel record: never whole.
        ("lkml-elitebook-6.18-journal.dmesg", "a wrapped ring buffer, an excerpt or a journal"),
    ],
)
def test_excerpts_and_journals_are_not_whole(name, why):
    judged = completeness(*log(name))
    assert not judged.whole and why in judged.why


def test_a_log_that_lost_its_start_is_not_whole():
    messages, _ = log("linuxhw-h87-ubuntu-5.4.dmesg")
    assert not completeness(messages, 12.5).whole
    assert not completeness(messages[1:], None).whole  # the banner scrolled out
    without_command_line = [m for m in messages if "ommand line" not in m]
    assert "no 'Command line:' record" in completeness(without_command_line, 0.0).why


def test_an_inactive_iommu_prints_the_default_domain_all_the_same():
    """Ubuntu 5.4 leaves the Intel IOMMU off: no group, no VT-d start-up record, yet
    iommu_subsys_init() prints the default domain type: it is no proof."""
    messages, _ = log("linuxhw-h87-ubuntu-5.4.dmesg")
    assert iommu_started(messages) is None
    assert any(m.startswith(rules.DEFAULT_DOMAIN) for m in messages)


@pytest.mark.parametrize(
    "name, record",
    [
        ("rocm-issue-242-ryzen-4.11.dmesg", "iommu: Adding device 0000:00:01.0 to group 0"),
        ("lkml-elitebook-6.18-journal.dmesg", "kernel: pci 0000:c5:00.5: Adding to iommu group 28"),
    ],
)
def test_group_records_of_old_and_new_kernels_prove_an_active_iommu(name, record):
    assert iommu_started(log(name)[0]) == record


def test_remapping_records_of_both_vendors():
    intel, _ = log("linuxhw-h87-ubuntu-5.4.dmesg")
    amd, _ = log("lkml-elitebook-6.18-journal.dmesg")
    assert rules.find(intel, *rules.REMAPPING_ENABLED) == [
        "DMAR-IR: Enabled IRQ remapping in x2apic mode"
    ]
    assert rules.find(amd, *rules.REMAPPING_ENABLED) == [
        "kernel: AMD-Vi: Interrupt remapping enabled"
    ]


def test_the_acpi_table_list_in_both_formats():
    messages, _ = log("linuxhw-h87-ubuntu-5.4.dmesg")
    tables = acpi_tables(messages)
    assert (
        tables["DMAR"]
        == "ACPI: DMAR 0x00000000D8A6CC08 0000B8 (v01 INTEL  HSW      00000001 INTL 00000001)"
    )
    assert {"RSDP", "XSDT", "ASF!", "SSDT"} <= set(tables)
    assert "IRQ0" not in tables  # "ACPI: IRQ0 used by override." is no table
    # Before 3.14 the address had no 0x (a real 3.x line quoted on the Ubuntu forums).
    old = ["ACPI: DMAR 00000000ba1e7d40 000090 (v01 INTEL      HSW  00000001 INTL 00000001)"]
    assert set(acpi_tables(old)) == {"DMAR"}


def test_a_dmar_the_kernel_parsed_and_one_it_refused():
    messages, _ = log("linuxhw-h87-ubuntu-5.4.dmesg")
    tables = acpi_tables(messages)
    good = table_in_log(messages, "DMAR", tables["DMAR"])
    assert good.parsed[0] == "DMAR: Host address width 39" and not good.broken
    refused, _ = log("xps13-9310-dmar-at-address-0.dmesg")
    bad = table_in_log(refused, "DMAR", "ACPI: DMAR (listed)")
    assert bad.broken == [
        "DMAR: [Firmware Bug]: Your BIOS is broken; DMAR reported at address 0!",
        "DMAR: Parse DMAR table failure.",
    ]


@pytest.mark.parametrize(
    "line",
    [
        "kvm: disabled by bios",  # Lenovo B590, 3.x (a real log quoted on Ask Ubuntu)
        "x86/cpu: VMX (outside TXT) disabled by BIOS",  # feat_ctl.c, 5.6+
        "kvm: support for 'kvm_intel' disabled by bios",  # x86.c, 5.16 to 6.3
        "kvm_intel: VMX not enabled (by BIOS) in MSR_IA32_FEAT_CTL on CPU 0",  # vmx.c, 6.4+
        "kvm_amd: SVM disabled (by BIOS) in MSR_VM_CR on CPU 0",  # svm.c
    ],
)
def test_every_wording_of_virtualization_off_in_firmware(line):
    assert firmware_disabled_virtualization(["Booting", line]) == [line]


def test_other_features_off_in_firmware_are_not_virtualization():
    # A real Proxmox boot prints this beside a working VT-x.
    assert firmware_disabled_virtualization(["x86/cpu: SGX disabled by BIOS."]) == []


def test_rules_are_linear():
    """N and 4N records of the worst shape (no record matches, every needle is tried), in
    processor time (a busy machine shares a long run's clock time with others)."""
    line = "[    0.109725] DMAR: RMRR base: 0x000000d9e91000 end: 0x000000d9e9ffff ACPI: x\n"

    def cost(count: int) -> float:
        text = line * count
        start = time.process_time()
        messages = parse_dmesg(text)
        completeness(messages, earliest_dmesg_time(text))
        iommu_started(messages)
        acpi_tables(messages)
        firmware_disabled_virtualization(messages)
        table_in_log(messages, "DMAR", "")
        return time.process_time() - start

    small = min(cost(5000) for _ in range(3))
    large = min(cost(20000) for _ in range(3))
    assert large < small * 6 + 0.05
