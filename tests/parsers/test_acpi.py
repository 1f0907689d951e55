"""ACPI table decoding, checked against tables compiled by iasl (tests/fixtures/acpi/*.asl)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from auditor.parsers.acpi import decode_dmar, decode_header, decode_iort, decode_ivrs
from tests.conftest import ACPI


def table(name: str) -> bytes:
    return (ACPI / f"{name}.aml").read_bytes()


def fix_checksum(data: bytearray) -> bytes:
    data[9] = 0
    data[9] = (-sum(data)) % 256
    return bytes(data)


def test_real_dmar_decodes_like_iasl():
    t = decode_dmar(table("intel-dmar"))
    facts = dict(t.facts)
    assert (t.fatal, t.warnings) == ([], [])
    assert facts["host address width"] == "39"  # "DMAR: Host address width 39"
    assert facts["flags"] == "0x05"
    assert t.intr_remap is True
    assert facts["DRHD 0"] == "segment 0, registers 0xfed90000, listed devices"
    assert facts["DRHD 1"] == "segment 0, registers 0xfed91000, all devices (INCLUDE_PCI_ALL)"
    assert facts["remapping structures"] == "2 DRHD, 1 RMRR"
    assert t.iommu_units == 2


def test_dmar_without_interrupt_remapping_flag():
    assert decode_dmar(table("intel-dmar-nointremap")).intr_remap is False


def test_iasl_template_has_a_zero_register_base():
    t = decode_dmar(table("template-dmar"))
    assert t.fatal == ["DRHD 0 has an invalid register base 0x0"]


def test_dmar_bad_checksum_only_warns():
    data = bytearray(table("intel-dmar"))
    data[9] ^= 0x55
    t = decode_dmar(bytes(data))
    assert t.fatal == [] and "checksum" in t.warnings[0]
    assert dict(t.facts)["checksum"] == "INVALID"


def test_truncated_dmar_is_fatal():
    t = decode_dmar(table("intel-dmar")[:100])
    assert any("only 100 are present" in problem for problem in t.fatal)


def test_record_passing_the_end_is_fatal():
    data = bytearray(table("intel-dmar"))
    data[48 + 2] = 0xFF  # first DRHD claims 255 bytes
    t = decode_dmar(fix_checksum(data))
    assert "passes the table end" in t.fatal[0]


def test_zero_length_record_stops_the_walk():
    data = bytearray(table("intel-dmar"))
    data[48 + 2 : 48 + 4] = b"\x00\x00"
    t = decode_dmar(fix_checksum(data))
    assert "0-length" in t.warnings[0]
    assert "no DRHD" in t.fatal[0]


def test_invalid_host_address_width_is_fatal():
    data = bytearray(table("intel-dmar"))
    data[36] = 5
    assert "host address width 6 is invalid" in decode_dmar(fix_checksum(data)).fatal[0]


def test_ivrs_decodes_ivinfo_and_ivhd():
    t = decode_ivrs(table("amd-ivrs"))
    facts = dict(t.facts)
    assert (t.fatal, t.iommu_units) == ([], 1)
    assert facts["IVinfo"] == "0x00203041"
    assert facts["physical address size"] == "48"
    assert facts["IVHD 0 (type 0x10)"] == "IOMMU at 0000:00:00.2, registers 0xfd200000"


def test_ivrs_bad_checksum_is_fatal():
    # check_ivrs_checksum(): the kernel refuses an IVRS whose bytes do not sum to zero.
    data = bytearray(table("amd-ivrs"))
    data[9] ^= 1
    assert "refuses" in decode_ivrs(bytes(data)).fatal[0]


def test_iort_counts_smmus():
    t = decode_iort(table("arm-iort"))
    assert t.iommu_units == 2
    assert ("SMMU 1", "SMMUv3") in t.facts


def test_short_data_is_a_value_error():
    with pytest.raises(ValueError):
        decode_header(b"DMAR")


def test_wrong_signature_is_fatal():
    assert "signature" in decode_dmar(table("amd-ivrs")).fatal[0]


@pytest.mark.skipif(shutil.which("iasl") is None, reason="iasl (acpica-tools) not installed")
@pytest.mark.parametrize(
    "name", ["intel-dmar", "intel-dmar-nointremap", "amd-ivrs", "arm-iort", "template-dmar"]
)
def test_shipped_binaries_match_their_sources(tmp_path, name):
    """The .aml files are what iasl makes of the .asl sources next to them."""
    shutil.copy(ACPI / f"{name}.asl", tmp_path)
    subprocess.run(["iasl", "-vs", f"{name}.asl"], cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / f"{name}.aml").read_bytes() == table(name)
