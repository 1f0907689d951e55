"""The kernel's own IOMMU default, decided from evidence (iommu.cmdline-persistent and
iommu.kernel-cmdline): the entry's own kernel config, Debian's three-way choice, the
running kernel as a witness for its release, and the one-shot edit at the boot prompt."""

from __future__ import annotations

import gzip

from auditor.context import Context
from auditor.model import Status
from tests.checks.test_branches import RELEASE, RUN, _bls, intel
from tests.conftest import evidence_text

OTHER = "6.8.0-51-generic"  # a kernel installed next to the running one
# Debian 12's linux-image-6.1.0-*-amd64 config, the IOMMU lines (its three-way choice).
DEBIAN_KCONFIG = (
    "CONFIG_INTEL_IOMMU=y\n"
    "CONFIG_INTEL_IOMMU_SVM=y\n"
    "# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\n"
    "CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF=y\n"
    "# CONFIG_INTEL_IOMMU_DEFAULT_OFF is not set\n"
    "CONFIG_INTEL_IOMMU_FLOPPY_WA=y\n"
    "# CONFIG_INTEL_IOMMU_SCALABLE_MODE_DEFAULT_ON is not set\n"
)


def persistent(host, firmware_checked: bool = True):
    """iommu.cmdline-persistent as the runner runs it: after iommu.firmware-table."""
    ctx = Context(host=host)
    if firmware_checked:
        ctx.results["iommu.firmware-table"] = RUN["iommu.firmware-table"](ctx)
    return RUN["iommu.cmdline-persistent"](ctx)


def grub_host(running: str, entry: str, release: str = RELEASE, **extra) -> dict:
    """An Intel host whose only boot entry (BLS) boots `release` with `entry`."""
    spec = intel(
        running,
        **{
            f"/boot/loader/entries/abc-{release}.conf": _bls(release, entry),
            "/boot/grub2/grub.cfg": "blscfg\n",
        },
    )
    spec.update(extra)
    return spec


def without_config(spec: dict) -> dict:
    return {k: v for k, v in spec.items() if not k.startswith("/boot/config-")}


def test_debian_intgpu_off_is_on_by_default(make_host):
    """A Debian host with the IOMMU active and no option: it stays on (was a false failure)."""
    spec = grub_host("ro quiet", "root=/dev/sda1 ro quiet")
    spec[f"/boot/config-{RELEASE}"] = DEBIAN_KCONFIG
    result = persistent(make_host(spec))
    assert result.status is Status.PASS, result.message
    assert (
        "IOMMU on: kernel default (CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF=y, Debian: on, "
        f"except the integrated GPU) (/boot/config-{RELEASE})" in evidence_text(result)
    )
    cmdline = RUN["iommu.kernel-cmdline"](Context(host=make_host(spec)))
    assert "CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF=y" in evidence_text(cmdline)
    # Debian's "off" choice is off.
    spec[f"/boot/config-{RELEASE}"] = DEBIAN_KCONFIG.replace(
        "CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF=y",
        "# CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF is not set",
    ).replace("# CONFIG_INTEL_IOMMU_DEFAULT_OFF is not set", "CONFIG_INTEL_IOMMU_DEFAULT_OFF=y")
    assert persistent(make_host(spec)).status is Status.FAIL


def test_the_module_tree_config_decides_when_boot_has_none(make_host):
    # Fedora and RHEL ship /lib/modules/<release>/config; /boot may be a separate, unmounted fs.
    spec = without_config(grub_host("ro intel_iommu=on", "root=/dev/vda3 ro", OTHER))
    spec[f"/lib/modules/{OTHER}/config"] = "CONFIG_INTEL_IOMMU=y\nCONFIG_INTEL_IOMMU_DEFAULT_ON=y\n"
    result = persistent(make_host(spec))
    assert result.status is Status.PASS
    assert f"(/lib/modules/{OTHER}/config)" in evidence_text(result)


def test_proc_config_gz_speaks_for_the_running_kernel_only(make_host):
    on = gzip.compress(b"CONFIG_INTEL_IOMMU=y\nCONFIG_INTEL_IOMMU_DEFAULT_ON=y\n")
    spec = without_config(grub_host("ro intel_iommu=on", "root=/dev/vda3 ro"))
    spec["/proc/config.gz"] = on
    result = persistent(make_host(spec))
    assert result.status is Status.PASS and "(/proc/config.gz)" in evidence_text(result)
    # An entry booting another release is not described by the running kernel's config.
    spec = without_config(grub_host("ro intel_iommu=on", "root=/dev/vda3 ro", OTHER))
    spec["/proc/config.gz"] = on
    assert persistent(make_host(spec)).status is not Status.PASS


def test_a_gzip_bomb_at_proc_config_gz_is_cut(make_host):
    bomb = gzip.compress(b"CONFIG_INTEL_IOMMU=y\n" + b"#" * (64 << 20))
    spec = without_config(grub_host("ro intel_iommu=on", "root=/dev/vda3 ro"))
    spec["/proc/config.gz"] = bomb
    result = persistent(make_host(spec))  # bounded: reads 4 MiB of it, no more
    assert result.status in (Status.WARN, Status.SKIP)


def test_the_running_kernel_witnesses_its_default_on(make_host):
    """No config anywhere (a sosreport, a snapshot without /boot): the running release has
    the IOMMU active with no option, so an entry booting that release stays on."""
    spec = without_config(grub_host("ro quiet", "root=/dev/vda3 ro quiet"))
    result = persistent(make_host(spec))
    assert result.status is Status.PASS, result.message
    assert (
        f"the running kernel {RELEASE} has it active with no intel_iommu= option: on by "
        "default on this host" in evidence_text(result)
    )
    # The same evidence says nothing of another release.
    spec = without_config(grub_host("ro quiet", "root=/dev/vda3 ro quiet", OTHER))
    result = persistent(make_host(spec))
    assert result.status is Status.SKIP
    assert result.message == (
        f"cannot tell whether entry 'Fedora Linux ({OTHER})' keeps the IOMMU on: kernel "
        "default unknown (CONFIG_INTEL_IOMMU_DEFAULT_ON: no kernel config)"
    )


def test_the_running_kernel_witnesses_its_default_off(make_host):
    spec = without_config(grub_host("ro quiet", "root=/dev/vda3 ro quiet"))
    spec = {k: v for k, v in spec.items() if "dmar0" not in k and "iommu_groups/0" not in k}
    result = persistent(make_host(spec))
    assert result.status is Status.FAIL, result.message
    assert "has none active with no intel_iommu= option and a well-formed DMAR table" in (
        evidence_text(result)
    )
    # Without a checked firmware table, an inactive IOMMU proves nothing.
    assert persistent(make_host(spec), firmware_checked=False).status is Status.SKIP


def test_a_one_shot_edit_at_the_boot_prompt_is_named(make_host):
    """Booted with intel_iommu=on typed at the GRUB prompt; the entry lacks it; the default
    is unknown: the next boot loses it. Said exactly, never "cannot tell"."""
    spec = without_config(grub_host("ro intel_iommu=on", "root=/dev/vda3 ro"))
    result = persistent(make_host(spec))
    assert result.status is Status.WARN
    assert result.message.startswith(
        "the running kernel was booted with intel_iommu=on, but the next boot's entry "
        f"(entry 'Fedora Linux ({RELEASE})') does not have it: a one-shot edit at the boot "
        "prompt, lost at the next boot unless the kernel's default is on"
    )
    assert any("intel_iommu=on" in step for step in result.remediation)
    # With the default known to be on, nothing is lost: pass.
    spec[f"/boot/config-{RELEASE}"] = "CONFIG_INTEL_IOMMU=y\nCONFIG_INTEL_IOMMU_DEFAULT_ON=y\n"
    assert persistent(make_host(spec)).status is Status.PASS


def test_scalable_mode_is_in_the_evidence(make_host):
    from auditor.parsers.cmdline import parse_cmdline
    from auditor.parsers.iommu_params import evaluate

    kconfig = {
        "CONFIG_INTEL_IOMMU_DEFAULT_ON": "y",
        "CONFIG_INTEL_IOMMU_SCALABLE_MODE_DEFAULT_ON": "y",
    }
    setting = evaluate(parse_cmdline("intel_iommu=sm_off"), "intel", kconfig)
    assert setting.enabled is True and setting.by_default  # sm_off is no "off"
    assert setting.scalable == "scalable mode off if the hardware has it (intel_iommu=sm_off)"
    setting = evaluate(parse_cmdline("intel_iommu=on,sm_on"), "intel", {})
    assert setting.enabled is True and not setting.by_default
    assert setting.scalable.startswith("scalable mode on")
