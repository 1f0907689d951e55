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
    from auditor.boot import BootConfig, BootSource
    from auditor.host import Host

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
    from auditor.boot import cut_evidence
    from auditor.plan import argument_steps

    host = ctx.host
    if not config.loader:
        detail = f" ({'; '.join(config.unreadable)})" if config.unreadable else ""
        return outcome(
            Status.SKIP,
            "no boot loader configuration found (looked for BLS entries, grub.cfg, /etc/default/grub, "
            f"/etc/kernel/cmdline, grub.conf){detail}",
        )
    vendor = iommu_vendor(host)
    running = kernel_release(host)
    running_kconfig, _ = kernel_config(host)
    firmware = ctx.results.get("iommu.firmware-table")
    witness = default_witness(host, vendor, firmware is not None and firmware.status is Status.PASS)
    evidence: list[Evidence] = [Evidence("boot loader", config.loader)]

    def setting_of(source: BootSource) -> tuple[IommuSetting, str]:
        """The entry's IOMMU setting, and the kernel config that gave its defaults."""
        release = source.kernel_release or running
        kconfig, path = kernel_config(host, release)
        own = witness if release == running else None
        return evaluate(parse_cmdline(source.args), vendor, kconfig, own), path or ""

    def enabling(sources: list[BootSource]) -> tuple[list[str], list[str]]:
        """What turns it on in every one of `sources` (iommu_params.arguments_to_enable)."""
        add: set[str] = set()
        remove: set[str] = set()
        for source in sources:
            release = source.kernel_release or running
            own = witness if release == running else None
            more, fewer = arguments_to_enable(
                parse_cmdline(source.args), vendor, kernel_config(host, release)[0], own
            )
            add.update(more)
            remove.update(fewer)
        return sorted(add), sorted(remove)

    off: list[BootSource] = []
    unknown: list[BootSource] = []
    unknown_reason = ""
    passthrough: list[BootSource] = []
    for source in config.entries:
        setting, kconfig_path = setting_of(source)
        state = {True: "on", False: "OFF", None: "unknown"}[setting.enabled]
        where = f" ({kconfig_path})" if setting.by_default and kconfig_path else ""
        evidence.append(
            Evidence(
                f"{source.path} {source.label}" + (" (default)" if source.is_default else ""),
                f"{source.args or '(no arguments)'} -> IOMMU {state}: {setting.reason}{where}",
            )
        )
        if setting.enabled is False:
            off.append(source)
        elif setting.enabled is None:
            unknown.append(source)
            unknown_reason = setting.reason
        if setting.passthrough:
            passthrough.append(source)
    if config.unreadable:
        evidence += [Evidence("unreadable", problem) for problem in config.unreadable]
    cut = cut_evidence(config)
    if cut:
        evidence.append(Evidence("values cut", cut))

    if not config.entries:
        return outcome(
            Status.ERROR,
            f"{config.loader} configuration found but no boot entry could be read",
            evidence,
        )

    stale = ""
    defaults = config.grub_defaults
    if config.loader == "grub2" and defaults is not None and defaults not in config.entries:
        defaults_setting = setting_of(defaults)[0]
        evidence.append(
            Evidence(f"{defaults.path} {defaults.label}", f"{defaults.args or '(empty)'}")
        )
        if defaults_setting.enabled and off:
            stale = f"{defaults.path} enables it but {config.generated_path} was not regenerated"
        elif defaults_setting.enabled is False and not off:
            stale = f"{defaults.path} disables it: the next grub-mkconfig run will turn it off"

    default = next((source for source in config.entries if source.is_default), None)
    add, remove = enabling(off)
    if off and (default is None or default in off):
        if default is not None:
            message = f"IOMMU will be off after reboot: the default boot entry ({default.label}) does not enable it"
        else:
            message = (
                f"IOMMU will be off after reboot in {len(off)} of {len(config.entries)} boot entries "
                f"({_names(off)}); which entry boots by default could not be determined"
            )
        if stale:
            message += f": {stale}"
        return outcome(
            Status.FAIL,
            message,
            evidence,
            argument_steps(host, add=add, remove=remove),
            changes=_arguments(add, remove),
        )
    if off:
        return outcome(
            Status.WARN,
            f"the default boot entry keeps the IOMMU on, but {len(off)} other entries would boot "
            f"without it ({_names(off)})",
            evidence,
            argument_steps(host, add=add, remove=remove),
            changes=_arguments(add, remove),
        )
    if stale and defaults is not None:  # /etc/default/grub turns it off at the next grub-mkconfig
        disabling = [str(p) for p in disabling_params(parse_cmdline(defaults.args))]
        return outcome(Status.WARN, stale, evidence, changes=_arguments(add, disabling))
    if unknown and (default is None or default in unknown):
        # Entries other than a known, enabling default do not decide the next boot.
        lost = _one_shot_option(host, vendor, running_kconfig)
        if lost and default is not None:
            return outcome(
                Status.WARN,
                f"the running kernel was booted with {lost}, but the next boot's entry "
                f"({default.label}) does not have it: a one-shot edit at the boot prompt, "
                f"lost at the next boot unless the kernel's default is on ({unknown_reason})",
                evidence,
                argument_steps(host, add=[lost], remove=[]),
                changes=_arguments([lost], []),
            )
        return outcome(
            Status.SKIP,
            f"cannot tell whether {_names(unknown)} keeps the IOMMU on: {unknown_reason}",
            evidence,
        )

    if _running_without_iommu(host, vendor, running_kconfig, evidence):
        booted = boot_time(host)
        message = "reboot pending: the boot entries enable the IOMMU but the running kernel has none active"
        try:
            edited = max(host.mtime(source.path) for source in config.entries)
        except HostError:
            edited = None
        if booted is not None and edited is not None:
            evidence.append(
                Evidence(
                    "boot time / last edit",
                    f"booted {_when(booted)}, configuration edited {_when(edited)}",
                )
            )
            if edited > booted:
                message += (
                    f" (configuration edited {_when(edited)}, after the boot at {_when(booted)})"
                )
        return outcome(
            Status.WARN,
            message,
            evidence,
            ("Reboot the host to apply the configured command line.",),
            changes=(Change(ChangeKind.REBOOT, "the configured kernel command line"),),
        )
    if passthrough:
        return outcome(
            Status.WARN,
            f"IOMMU stays on after reboot, in passthrough mode in {len(passthrough)} entries (iommu=pt)",
            evidence,
        )
    return outcome(
        Status.PASS,
        f"IOMMU stays on after reboot in all {len(config.entries)} boot entries",
        evidence,
    )
