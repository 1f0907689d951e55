"""Kernel command line tokenising (lib/cmdline.c next_arg) and IOMMU rules."""

from __future__ import annotations

import pytest

from auditor.parsers.cmdline import Param, kstrtobool, last_value, parse_cmdline, values
from auditor.parsers.iommu_params import disabling_params, evaluate, interrupt_remapping_disabled_by


def names(text: str) -> list[str]:
    return [str(p) for p in parse_cmdline(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ro quiet", ["ro", "quiet"]),
        ("  a=1\tb=2\n", ["a=1", "b=2"]),
        ('acpi_osi="Windows 2015" x', ["acpi_osi=Windows 2015", "x"]),
        ('"foo=bar baz" next', ["foo=bar baz", "next"]),
        ("a=\\ b", ["a=\\", "b"]),  # no backslash escapes: this is not shell syntax
        ('dyndbg="file x.c +p"', ["dyndbg=file x.c +p"]),
        ("a=b=c", ["a=b=c"]),
    ],
)
def test_next_arg_rules(text, expected):
    assert names(text) == expected


def test_values_keep_equals_after_the_first():
    assert parse_cmdline("a=b=c")[0] == Param("a", "b=c")


def test_double_dash_ends_kernel_parameters():
    # The real command line of the CI machine: everything after -- goes to init.
    text = "console=ttyS0 quiet rdinit=/process_api -- --firecracker-init --addr 0.0.0.0:2024"
    assert names(text) == ["console=ttyS0", "quiet", "rdinit=/process_api"]


def test_dash_and_underscore_are_equal_and_last_wins():
    params = parse_cmdline("intel-iommu=off intel_iommu=on")
    assert [str(p) for p in values(params, "intel_iommu")] == ["intel-iommu=off", "intel_iommu=on"]
    assert last_value(params, "intel_iommu") == Param("intel_iommu", "on")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, True),
        ("", True),
        ("1", True),
        ("Y", True),
        ("yes", True),
        ("on", True),
        ("0", False),
        ("N", False),
        ("off", False),
        ("false", False),
        ("maybe", None),
        ("o", None),
    ],
)
def test_kstrtobool(value, expected):
    assert kstrtobool(value) is expected


INTEL_OFF_BY_DEFAULT = {"CONFIG_INTEL_IOMMU": "y", "CONFIG_INTEL_IOMMU_DEFAULT_ON": "n"}
INTEL_ON_BY_DEFAULT = {"CONFIG_INTEL_IOMMU": "y", "CONFIG_INTEL_IOMMU_DEFAULT_ON": "y"}


@pytest.mark.parametrize(
    ("cmdline", "kconfig", "enabled"),
    [
        ("intel_iommu=on", INTEL_OFF_BY_DEFAULT, True),
        ("intel_iommu=on,sm_on", INTEL_OFF_BY_DEFAULT, True),  # substring matchers fail this one
        ("intel_iommu=sm_on,on", INTEL_OFF_BY_DEFAULT, True),
        ("intel_iommu=igfx_off", INTEL_OFF_BY_DEFAULT, False),  # igfx_off is not off
        ("intel_iommu=igfx_off", INTEL_ON_BY_DEFAULT, True),
        ("", INTEL_ON_BY_DEFAULT, True),  # Proxmox 6.8+, Fedora: on by default
        ("", INTEL_OFF_BY_DEFAULT, False),
        ("", {}, None),  # no kernel config: the default is unknown
        ("intel_iommu=on intel_iommu=off", INTEL_OFF_BY_DEFAULT, False),
        ("intel_iommu=ON", INTEL_OFF_BY_DEFAULT, False),  # case-sensitive strncmp
        ("intel_iommu=on iommu=off", INTEL_OFF_BY_DEFAULT, False),
    ],
)
def test_intel_rules(cmdline, kconfig, enabled):
    assert evaluate(parse_cmdline(cmdline), "intel", kconfig).enabled is enabled


@pytest.mark.parametrize(
    ("cmdline", "enabled"),
    [
        ("", True),
        ("amd_iommu=on", True),
        ("amd_iommu=off", False),
        ("amd_iommu=fullflush,off", False),
        ("iommu=off", False),
        ("iommu=1", True),
    ],
)
def test_amd_needs_no_option(cmdline, enabled):
    assert evaluate(parse_cmdline(cmdline), "amd", {}).enabled is enabled


@pytest.mark.parametrize(
    ("cmdline", "passthrough"),
    [
        ("iommu=pt", True),
        ("iommu.passthrough=1", True),
        ("iommu=pt iommu=nopt", False),
        ("iommu.passthrough=0", False),
        ("", False),
    ],
)
def test_passthrough(cmdline, passthrough):
    assert evaluate(parse_cmdline(cmdline), "intel", INTEL_ON_BY_DEFAULT).passthrough is passthrough


def test_interrupt_remapping_switches():
    assert interrupt_remapping_disabled_by(parse_cmdline("intremap=off")) == "intremap=off"
    assert interrupt_remapping_disabled_by(parse_cmdline("nointremap")) == "nointremap"
    assert interrupt_remapping_disabled_by(parse_cmdline("intremap=off intremap=on")) is None
    assert interrupt_remapping_disabled_by(parse_cmdline("intremap=nosid")) is None


def test_disabling_params_ignore_igfx_off():
    params = parse_cmdline("intel_iommu=igfx_off intel_iommu=off iommu=pt iommu=off amd_iommu=off")
    assert [str(p) for p in disabling_params(params)] == [
        "intel_iommu=off",
        "iommu=off",
        "amd_iommu=off",
    ]
