"""What a kernel command line (plus the kernel's build defaults) means for the IOMMU.

Rules, each from the kernel source:
- `intel_iommu=` is a comma list walked in order, options prefix-matched with strncmp and
  case-sensitive: `on` clears dmar_disabled, `off` sets it (intel_iommu_setup() in
  drivers/iommu/intel/iommu.c). Its default is !CONFIG_INTEL_IOMMU_DEFAULT_ON.
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
    """The IOMMU state a command line asks for: enabled (None = unknown), and why."""

    enabled: bool | None
    reason: str
    passthrough: bool = False
    passthrough_reason: str = ""


def evaluate(
    params: tuple[Param, ...], vendor: str | None, kconfig: dict[str, str]
) -> IommuSetting:
    """Apply every IOMMU parameter in command-line order, starting from the kernel's defaults."""
    no_iommu = False
    no_iommu_by = ""
    intel_on = enabled(kconfig, "CONFIG_INTEL_IOMMU_DEFAULT_ON")
    intel_by = "kernel default (CONFIG_INTEL_IOMMU_DEFAULT_ON=" + (
        "y)" if intel_on else "n)" if intel_on is False else "unknown: no kernel config)"
    )
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
        return IommuSetting(intel_on, intel_by, passthrough, passthrough_by)
    if vendor == "amd":
        if enabled(kconfig, "CONFIG_AMD_IOMMU") is False:
            return IommuSetting(False, "the kernel is built without CONFIG_AMD_IOMMU")
        return IommuSetting(not amd_off, amd_by, passthrough, passthrough_by)
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
