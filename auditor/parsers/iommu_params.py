"""What a kernel command line (plus the kernel's build defaults) means for the IOMMU.

Rules, each from the kernel source:
- `intel_iommu=` is a comma list walked in order, options prefix-matched with strncmp and
  case-sensitive: `on` clears dmar_disabled, `off` sets it, `sm_on` / `sm_off` set scalable
  mode (intel_iommu_setup() in drivers/iommu/intel/iommu.c). The defaults are
  `dmar_disabled = !IS_ENABLED(CONFIG_INTEL_IOMMU_DEFAULT_ON)` and
  `intel_iommu_sm = IS_ENABLED(CONFIG_INTEL_IOMMU_SCALABLE_MODE_DEFAULT_ON)`.
- Debian's kernel replaces CONFIG_INTEL_IOMMU_DEFAULT_ON with a three-way choice (patch
  "intel-iommu: Add Kconfig option to exclude iGPU by default", Debian bug #935270):
  CONFIG_INTEL_IOMMU_DEFAULT_ON (on), CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF (on, except the
  integrated GPU: as intel_iommu=on,intgpu_off) and CONFIG_INTEL_IOMMU_DEFAULT_OFF (off). In
  such a config `# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set` does not mean off.
- `amd_iommu=` knows `off`, `force_enable`, `fullflush`, `force_isolation`, `pgtbl_v1/v2`,
  `irtcachedis`, `nohugepages`...; there is no `on` ("Unknown option - 'on'"): AMD-Vi is on
  whenever the firmware describes it (parse_amd_iommu_options() in drivers/iommu/amd/init.c).
- `iommu=off` sets no_iommu, which both vendors honour; `iommu=pt` / `iommu=nopt` and
  `iommu.passthrough=` choose identity (untranslated) default domains
  (iommu_setup() in arch/x86/kernel/pci-dma.c, iommu_set_def_domain_type() in drivers/iommu/iommu.c).
- `intremap=off` and `nointremap` disable interrupt remapping (drivers/iommu/irq_remapping.c).
"""

from __future__ import annotations

from auditor.parsers.cmdline import Param, comma_options, kstrtobool
from auditor.parsers.kconfig import enabled
from auditor.record import record


@record
class IommuSetting:
    """The IOMMU state a command line asks for: enabled (None = unknown), and why.
    `by_default`: no option decided it, the kernel's default did."""

    enabled: bool | None
    reason: str
    passthrough: bool = False
    passthrough_reason: str = ""
    by_default: bool = False
    scalable: str = ""  # Intel scalable mode and why, for the evidence ("" elsewhere)


# (default on, why) when nothing on the command line decides: a kernel build option, or what
# the running kernel showed of its own default (facts.default_witness).
Default = tuple["bool | None", str]


def intel_default(kconfig: dict[str, str]) -> Default:
    """The Intel IOMMU's state with no intel_iommu= option, from the kernel's config."""
    if enabled(kconfig, "CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF"):
        return True, (
            "kernel default (CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF=y, Debian: on, except "
            "the integrated GPU)"
        )
    if enabled(kconfig, "CONFIG_INTEL_IOMMU_DEFAULT_OFF"):
        return False, "kernel default (CONFIG_INTEL_IOMMU_DEFAULT_OFF=y, Debian: off)"
    on = enabled(kconfig, "CONFIG_INTEL_IOMMU_DEFAULT_ON")
    if on is None:
        return None, "kernel default unknown (CONFIG_INTEL_IOMMU_DEFAULT_ON: no kernel config)"
    return on, f"kernel default (CONFIG_INTEL_IOMMU_DEFAULT_ON={'y' if on else 'n'})"


def evaluate(
    params: tuple[Param, ...],
    vendor: str | None,
    kconfig: dict[str, str],
    witness: Default | None = None,
) -> IommuSetting:
    """Apply every IOMMU parameter in command-line order, starting from the kernel's defaults.
    `witness`: the default as the running kernel showed it, used where the config is silent."""
    no_iommu = False
    no_iommu_by = ""
    intel_on, intel_by = intel_default(kconfig)
    if intel_on is None and witness is not None and witness[0] is not None:
        intel_on, intel_by = witness
    default_by = intel_by
    scalable = bool(enabled(kconfig, "CONFIG_INTEL_IOMMU_SCALABLE_MODE_DEFAULT_ON"))
    scalable_by = "CONFIG_INTEL_IOMMU_SCALABLE_MODE_DEFAULT_ON=" + ("y" if scalable else "n")
    amd_off = False
    amd_by = "AMD-Vi is on by default when the firmware describes it"
    passthrough = bool(enabled(kconfig, "CONFIG_IOMMU_DEFAULT_PASSTHROUGH"))
    passthrough_by = "CONFIG_IOMMU_DEFAULT_PASSTHROUGH=y" if passthrough else ""

    for param in params:
        if param.key == "iommu":
            for option in comma_options(param.value):
                if option == "off":
                    no_iommu, no_iommu_by = True, str(param)
                elif option == "pt":
                    passthrough, passthrough_by = True, str(param)
                elif option == "nopt":
                    passthrough, passthrough_by = False, ""
        elif param.key == "iommu.passthrough":
            value = kstrtobool(param.value)
            if value is not None:
                passthrough, passthrough_by = value, str(param) if value else ""
        elif param.key == "intel_iommu":
            for option in comma_options(param.value):
                if option.startswith("on"):
                    intel_on, intel_by = True, str(param)
                elif option.startswith("off"):
                    intel_on, intel_by = False, str(param)
                elif option.startswith(("sm_on", "sm_off")):
                    scalable, scalable_by = option.startswith("sm_on"), str(param)
        elif param.key == "amd_iommu" and any(
            option.startswith("off") for option in comma_options(param.value)
        ):
            amd_off, amd_by = True, str(param)

    if no_iommu:
        return IommuSetting(
            False, f"{no_iommu_by} disables every IOMMU", passthrough, passthrough_by
        )
    if vendor == "intel":
        if enabled(kconfig, "CONFIG_INTEL_IOMMU") is False:
            return IommuSetting(False, "the kernel is built without CONFIG_INTEL_IOMMU")
        mode = f"scalable mode {'on' if scalable else 'off'} if the hardware has it ({scalable_by})"
        return IommuSetting(
            intel_on, intel_by, passthrough, passthrough_by, intel_by == default_by, mode
        )
    if vendor == "amd":
        if enabled(kconfig, "CONFIG_AMD_IOMMU") is False:
            return IommuSetting(False, "the kernel is built without CONFIG_AMD_IOMMU")
        return IommuSetting(not amd_off, amd_by, passthrough, passthrough_by, not amd_off)
    if vendor == "arm":
        # Arm SMMU drivers probe whenever IORT describes an SMMU; only iommu=off-style
        # options (handled above) or a missing driver stop them.
        return IommuSetting(True, "Arm SMMU drivers probe by default", passthrough, passthrough_by)
    return IommuSetting(None, "no vendor-specific rule applies", passthrough, passthrough_by)


def interrupt_remapping_disabled_by(params: tuple[Param, ...]) -> str | None:
    """The parameter that turns interrupt remapping off, if the last word on it does."""
    disabled_by: str | None = None
    for param in params:
        if param.key == "nointremap":
            disabled_by = str(param)
        elif param.key == "intremap":
            for option in comma_options(param.value):
                if option.startswith("off"):
                    disabled_by = str(param)
                elif option.startswith("on"):
                    disabled_by = None
    return disabled_by


def enable_argument(vendor: str | None) -> str | None:
    """The argument that turns DMA remapping on for a vendor; None where none is needed."""
    return "intel_iommu=on" if vendor == "intel" else None


def disabling_params(params: tuple[Param, ...]) -> list[Param]:
    """The parameters that switch DMA remapping off (to remove them, not to add `on`)."""
    found: list[Param] = []
    for param in params:
        options = comma_options(param.value)
        if (param.key == "iommu" and "off" in options) or (
            param.key in ("intel_iommu", "amd_iommu") and any(o.startswith("off") for o in options)
        ):
            found.append(param)
    return found


def arguments_to_enable(
    params: tuple[Param, ...],
    vendor: str | None,
    kconfig: dict[str, str],
    witness: Default | None = None,
) -> tuple[list[str], list[str]]:
    """(add, remove): what turns DMA remapping on from `params`. Every argument that turns it
    off goes; the vendor's enabling option is added only where the kernel's default, once
    they are gone, is not on (Debian's kernel enables it by default: removing
    intel_iommu=off is enough there). AMD has no enabling option."""
    remove = disabling_params(params)
    rest = tuple(param for param in params if param not in remove)
    option = enable_argument(vendor)
    needed = option and evaluate(rest, vendor, kconfig, witness).enabled is not True
    return ([option] if option and needed else []), [str(param) for param in remove]
