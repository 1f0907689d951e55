"""The configured boot entries must keep DMA remapping on after the next reboot.

Reads what the boot loader will use (BLS entries with grubenv, generated grub.cfg,
/etc/kernel/cmdline, legacy grub.conf) and applies the same rules as the running kernel.
An edit to /etc/default/grub that never reached grub.cfg is reported as stale; a setting
configured but not yet running is reported as "reboot pending".

An entry without an IOMMU option gets its kernel's default, decided from evidence in this
order (facts.kernel_config, facts.default_witness): the build configuration of the entry's
own release (/boot/config-<release>, /lib/modules/<release>/config, /proc/config.gz for the
running one; Debian's three-way choice read as Debian's patch defines it), then, for the
running release, what the running kernel shows of its default. When the running kernel was
booted with the enabling option, the next boot's entry lacks it and nothing shows the
default, that is the one-shot edit at the boot prompt: a warning naming the option lost.
"""

from __future__ import annotations

import time

from auditor.context import Context
from auditor.errors import HostError, NotCollectedError
from auditor.facts import (
    ACPI_TABLES,
    BOOT_READS,
    CMDLINE,
    IOMMU_CLASS,
    IOMMU_GROUPS,
    IOMMU_TABLES,
    KCONFIG_READS,
    LOG_READS,
    OSRELEASE,
    boot_time,
    default_witness,
    iommu_activity,
    iommu_activity_in_log,
    iommu_vendor,
    kernel_config,
    kernel_release,
    running_cmdline,
)
from auditor.model import (
    Change,
    ChangeKind,
    Check,
    Evidence,
    Outcome,
    Severity,
    Status,
    listed,
    outcome,
)
from auditor.parsers.cmdline import parse_cmdline
from auditor.parsers.iommu_params import (
    IommuSetting,
    arguments_to_enable,
    disabling_params,
    evaluate,
)
from auditor.record import replace

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from auditor.boot import BootConfig, BootSource
    from auditor.host import Host
    from auditor.parsers.iommu_params import Default

CHECK = Check(
    id="iommu.cmdline-persistent",
    title="The configured boot entries keep DMA remapping on after reboot",
    severity=Severity.HIGH,
    passes=(
        "every configured boot entry (BLS + grubenv, grub.cfg, `/etc/default/grub` and "
        'drop-ins, `/etc/kernel/cmdline`, legacy grub.conf) keeps it on; "reboot pending" and'
        " stale grub.cfg are told apart. An entry without an IOMMU option gets its kernel's "
        "default from evidence: that release's config (`/boot/config-R`, "
        "`/lib/modules/R/config`, `/proc/config.gz`), Debian's three-way choice "
        "(`INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF` is on), or the running kernel as witness for "
        "its own release; an `intel_iommu=on` typed at the GRUB prompt that the next boot "
        "loses is named as such"
    ),
    reads=(
        *BOOT_READS,
        OSRELEASE,
        *KCONFIG_READS,
        "/proc/stat",
        IOMMU_CLASS,
        IOMMU_GROUPS,
        ACPI_TABLES,
        *(f"{ACPI_TABLES}/{name}" for name in IOMMU_TABLES),
        CMDLINE,
        *LOG_READS,
    ),
    remediation=(
        "Put the IOMMU arguments in the boot loader configuration (not only on a one-off boot "
        "command line), regenerate the boot menu, and reboot.",
    ),
    references=(
        "drivers/iommu/intel/iommu.c intel_iommu_setup(), dmar_disabled",
        "Debian linux: intel-iommu-add-kconfig-option-to-exclude-igpu-by-default.patch",
        "grub-mkconfig(8), grubby(8), kernel-install(8)",
    ),
    requires=("iommu.firmware-table",),
    accepts=(
        (
            "BLS entries with grubenv's kernelopts, grub.cfg, /etc/default/grub and grub.d "
            "drop-ins, /etc/kernel/cmdline, legacy grub.conf"
        ),
        (
            "each entry's kernel default: that release's config, Debian's three-way option, or the "
            "running kernel as witness for its own release (the release from osrelease, "
            "/proc/version or the kernel log's banner)"
        ),
        (
            "the boot time (/proc/stat) against the configuration's modification times, to tell a "
            "pending reboot from a stale grub.cfg"
        ),
    ),
)


def _names(sources: list[BootSource]) -> str:
    return listed([source.label for source in sources], limit=3)


def _running_without_iommu(
    host: Host, vendor: str | None, kconfig: dict[str, str], evidence: list[Evidence]
) -> bool:
    """Whether the running kernel has no IOMMU active: sysfs says so; where the root holds
    no /sys/class/iommu (a sosreport), the kernel log's start-up line proves it on, and
    else the running command line with the kernel's defaults can prove it off."""
    activity = iommu_activity(host)
    if activity.visible:
        return not activity.active
    logged = iommu_activity_in_log(host, vendor)
    if logged.active is not None:
        if not logged.active:
            evidence.extend(logged.evidence)
        return not logged.active
    try:
        setting = evaluate(running_cmdline(host), vendor, kconfig)
    except (HostError, NotCollectedError):
        return False
    if setting.enabled is False:
        evidence.append(Evidence(CMDLINE, f"running kernel: IOMMU off: {setting.reason}"))
    return setting.enabled is False


def _one_shot_option(host: Host, vendor: str | None, kconfig: dict[str, str]) -> str:
    """The option that enabled the IOMMU on the running command line ("" if none did)."""
    try:
        setting = evaluate(running_cmdline(host), vendor, kconfig)
    except (HostError, NotCollectedError):
        return ""
    return setting.reason if setting.enabled and not setting.by_default else ""


def _arguments(add: list[str], remove: list[str]) -> list[Change]:
    return [Change(ChangeKind.KERNEL_ARG_REMOVE, arg) for arg in remove] + [
        Change(ChangeKind.KERNEL_ARG_ADD, arg) for arg in add
    ]


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def run(ctx: Context) -> Outcome:
    from auditor.boot import configured_boot, cut_evidence  # only where this check runs

    config = configured_boot(ctx.host)
    result = _judge(ctx, config)
    cut = cut_evidence(config)
    if cut:  # a value cut at the kernel's own bound was judged as cut: say so
        return replace(result, message=f"{result.message} ({cut})")
    return result


def _judge(ctx: Context, config: BootConfig) -> Outcome:
    """The next boot's IOMMU, decided rule by rule, the first that applies winning."""
    if not config.loader:
        detail = f" ({'; '.join(config.unreadable)})" if config.unreadable else ""
        return outcome(
            Status.SKIP,
            "no boot loader configuration found (looked for BLS entries, grub.cfg, /etc/default/grub, "
            f"/etc/kernel/cmdline, grub.conf){detail}",
        )
    entries = _Entries(ctx, config)
    if not config.entries:
        return outcome(
            Status.ERROR,
            f"{config.loader} configuration found but no boot entry could be read",
            entries.evidence,
        )
    stale = _grub_mkconfig_not_rerun(entries, config)
    return (
        _default_entry_boots_without_it(entries, stale)
        or _grub_defaults_turn_it_off(entries, config, stale)
        or _option_typed_at_the_boot_prompt(entries)
        or _reboot_pending(entries, config)
        or _stays_on(entries)
    )


class _Entries:
    """Every configured boot entry as the kernel will parse its command line
    (lib/cmdline.c, iommu_params.evaluate), an entry without an IOMMU option getting the
    build default of its own release, with the running kernel as witness for its own."""

    def __init__(self, ctx: Context, config: BootConfig) -> None:
        from auditor.boot import cut_evidence

        self.host = host = ctx.host
        self.vendor = iommu_vendor(host)
        self.running = kernel_release(host)
        self.running_kconfig = kernel_config(host)[0]
        firmware = ctx.results.get("iommu.firmware-table")
        firmware_ok = firmware is not None and firmware.status is Status.PASS
        self.witness = default_witness(host, self.vendor, firmware_ok)
        self.evidence: list[Evidence] = [Evidence("boot loader", config.loader)]
        self.off: list[BootSource] = []
        self.unknown: list[BootSource] = []
        self.unknown_reason = ""
        self.passthrough: list[BootSource] = []
        self.default = next((source for source in config.entries if source.is_default), None)
        self.count = len(config.entries)
        for source in config.entries:
            setting, kconfig_path = self.setting(source)
            state = {True: "on", False: "OFF", None: "unknown"}[setting.enabled]
            where = f" ({kconfig_path})" if setting.by_default and kconfig_path else ""
            self.evidence.append(
                Evidence(
                    f"{source.path} {source.label}" + (" (default)" if source.is_default else ""),
                    f"{source.args or '(no arguments)'} -> IOMMU {state}: {setting.reason}{where}",
                )
            )
            if setting.enabled is False:
                self.off.append(source)
            elif setting.enabled is None:
                self.unknown.append(source)
                self.unknown_reason = setting.reason
            if setting.passthrough:
                self.passthrough.append(source)
        self.evidence += [Evidence("unreadable", problem) for problem in config.unreadable]
        cut = cut_evidence(config)
        if cut:
            self.evidence.append(Evidence("values cut", cut))

    def _own(self, source: BootSource) -> tuple[str | None, Default | None]:
        release = source.kernel_release or self.running
        return release, self.witness if release == self.running else None

    def setting(self, source: BootSource) -> tuple[IommuSetting, str]:
        """The entry's IOMMU setting, and the kernel config that gave its defaults."""
        release, own = self._own(source)
        kconfig, path = kernel_config(self.host, release)
        return evaluate(parse_cmdline(source.args), self.vendor, kconfig, own), path or ""

    def enabling(self, sources: list[BootSource]) -> tuple[list[str], list[str]]:
        """What turns it on in every one of `sources` (iommu_params.arguments_to_enable)."""
        add: set[str] = set()
        remove: set[str] = set()
        for source in sources:
            release, own = self._own(source)
            kconfig = kernel_config(self.host, release)[0]
            more, fewer = arguments_to_enable(parse_cmdline(source.args), self.vendor, kconfig, own)
            add.update(more)
            remove.update(fewer)
        return sorted(add), sorted(remove)

    def fix(self, add: list[str], remove: list[str]) -> dict[str, Any]:
        """The outcome's remediation and changes for these arguments."""
        from auditor.plan import argument_steps

        return {
            "remediation": argument_steps(self.host, add=add, remove=remove),
            "changes": _arguments(add, remove),
        }


def _grub_mkconfig_not_rerun(entries: _Entries, config: BootConfig) -> str:
    """grub.cfg is generated from /etc/default/grub (grub-mkconfig(8)): an IOMMU setting in
    one that the other lacks is a grub.cfg not regenerated, or a setting the next
    regeneration brings; "" when they agree."""
    defaults = config.grub_defaults
    if config.loader != "grub2" or defaults is None or defaults in config.entries:
        return ""
    enabled = entries.setting(defaults)[0].enabled
    entries.evidence.append(
        Evidence(f"{defaults.path} {defaults.label}", f"{defaults.args or '(empty)'}")
    )
    if enabled and entries.off:
        return f"{defaults.path} enables it but {config.generated_path} was not regenerated"
    if enabled is False and not entries.off:
        return f"{defaults.path} disables it: the next grub-mkconfig run will turn it off"
    return ""


def _default_entry_boots_without_it(entries: _Entries, stale: str) -> Outcome | None:
    """The loader boots its default entry: that entry without the IOMMU fails; other
    entries without it warn (someone may pick them at the menu)."""
    off, default = entries.off, entries.default
    if not off:
        return None
    fix = entries.fix(*entries.enabling(off))
    if default is not None and default not in off:
        return outcome(
            Status.WARN,
            f"the default boot entry keeps the IOMMU on, but {len(off)} other entries would boot "
            f"without it ({_names(off)})",
            entries.evidence,
            **fix,
        )
    if default is not None:
        message = f"IOMMU will be off after reboot: the default boot entry ({default.label}) does not enable it"
    else:
        message = (
            f"IOMMU will be off after reboot in {len(off)} of {entries.count} boot entries "
            f"({_names(off)}); which entry boots by default could not be determined"
        )
    if stale:
        message += f": {stale}"
    return outcome(Status.FAIL, message, entries.evidence, **fix)


def _grub_defaults_turn_it_off(entries: _Entries, config: BootConfig, stale: str) -> Outcome | None:
    """Every entry has it, but /etc/default/grub disables it: the next grub-mkconfig run
    writes that into grub.cfg."""
    defaults = config.grub_defaults
    if not stale or defaults is None:
        return None
    disabling = [str(p) for p in disabling_params(parse_cmdline(defaults.args))]
    return outcome(Status.WARN, stale, entries.evidence, changes=_arguments([], disabling))


def _option_typed_at_the_boot_prompt(entries: _Entries) -> Outcome | None:
    """The default entry's IOMMU cannot be told from its own arguments and kernel: if the
    running kernel was booted with the enabling option the entry lacks, it was typed at the
    boot prompt (lost at the next boot); otherwise it cannot be told."""
    default = entries.default
    if not entries.unknown or (default is not None and default not in entries.unknown):
        return None  # entries other than a known, enabling default do not decide the next boot
    lost = _one_shot_option(entries.host, entries.vendor, entries.running_kconfig)
    if lost and default is not None:
        return outcome(
            Status.WARN,
            f"the running kernel was booted with {lost}, but the next boot's entry "
            f"({default.label}) does not have it: a one-shot edit at the boot prompt, "
            f"lost at the next boot unless the kernel's default is on ({entries.unknown_reason})",
            entries.evidence,
            **entries.fix([lost], []),
        )
    return outcome(
        Status.SKIP,
        f"cannot tell whether {_names(entries.unknown)} keeps the IOMMU on: "
        f"{entries.unknown_reason}",
        entries.evidence,
    )


def _reboot_pending(entries: _Entries, config: BootConfig) -> Outcome | None:
    """The entries enable it and the running kernel has none active: the command line is
    read only at boot, so the configuration waits for a reboot."""
    host = entries.host
    if not _running_without_iommu(host, entries.vendor, entries.running_kconfig, entries.evidence):
        return None
    booted = boot_time(host)
    message = (
        "reboot pending: the boot entries enable the IOMMU but the running kernel has none active"
    )
    try:
        edited = max(host.mtime(source.path) for source in config.entries)
    except HostError:
        edited = None
    if booted is not None and edited is not None:
        entries.evidence.append(
            Evidence(
                "boot time / last edit",
                f"booted {_when(booted)}, configuration edited {_when(edited)}",
            )
        )
        if edited > booted:
            message += f" (configuration edited {_when(edited)}, after the boot at {_when(booted)})"
    return outcome(
        Status.WARN,
        message,
        entries.evidence,
        ("Reboot the host to apply the configured command line.",),
        changes=(Change(ChangeKind.REBOOT, "the configured kernel command line"),),
    )


def _stays_on(entries: _Entries) -> Outcome:
    """Every entry keeps it on; iommu=pt (identity-mapped host DMA) is named, since it
    changes how the host's own devices use the IOMMU."""
    passthrough = entries.passthrough
    if passthrough:
        return outcome(
            Status.WARN,
            f"IOMMU stays on after reboot, in passthrough mode in {len(passthrough)} entries (iommu=pt)",
            entries.evidence,
        )
    return outcome(
        Status.PASS,
        f"IOMMU stays on after reboot in all {entries.count} boot entries",
        entries.evidence,
    )
