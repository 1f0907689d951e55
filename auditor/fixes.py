"""Changes that more than one check asks for, named once, in the words firmware setup menus
use (a check states what must change; `hostaudit plan` decides how and when)."""

from __future__ import annotations

from auditor.model import Change, ChangeKind

# /proc/cpuinfo vendor_id -> the vendor name the IOMMU code uses (auditor.facts.iommu_vendor).
CPU_VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd", "HygonGenuine": "amd"}
FIRMWARE_IOMMU = {
    "intel": "Intel VT-d (Virtualization Technology for Directed I/O)",
    "amd": "IOMMU (AMD-Vi)",
}
FIRMWARE_VIRTUALIZATION = {
    "intel": "Intel Virtualization Technology (VT-x)",
    "amd": "SVM Mode (AMD-V)",
}
SETUP_WHERE = "in the firmware setup (often under Advanced, CPU Configuration or Chipset)"


def firmware_iommu(vendor: str | None) -> Change:
    """Turn the IOMMU on in the firmware setup."""
    return _enable(
        FIRMWARE_IOMMU,
        vendor,
        "Intel VT-d, or IOMMU (AMD-Vi) on AMD",
        f"the IOMMU switch {SETUP_WHERE}; the firmware then publishes its DMAR or IVRS table",
    )


def firmware_virtualization(vendor: str | None) -> Change:
    """Turn hardware virtualization on in the firmware setup."""
    return _enable(
        FIRMWARE_VIRTUALIZATION,
        vendor,
        "Intel VT-x, or SVM Mode on AMD",
        f"the CPU virtualization switch {SETUP_WHERE}; power the host off and on after the change",
    )


def _enable(names: dict[str, str], vendor: str | None, either: str, detail: str) -> Change:
    return Change(ChangeKind.FIRMWARE, names.get(vendor or "", either), "enabled", detail)


def cpu_vendor(vendor_id: str) -> str | None:
    """ "intel" or "amd" of a /proc/cpuinfo vendor_id, None for any other."""
    return CPU_VENDORS.get(vendor_id)
