"""PCI identifiers and configuration-space facts."""

from __future__ import annotations

import re

from auditor.record import record

# Pattern strings: re compiles one when it is first used, not when the module is imported.
_FULL = r"^([0-9a-fA-F]{4,8}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$"
_SHORT = r"^([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$"
_NODEDEV = r"^pci_([0-9a-fA-F]{4,8})_([0-9a-fA-F]{2})_([0-9a-fA-F]{2})_([0-7])$"
_LOWER_HEX = frozenset("0123456789abcdef")

PCI_HEADER_TYPE = 0x0E
PCI_CAPABILITY_LIST = 0x34
PCI_STATUS = 0x06
PCI_STATUS_CAP_LIST = 0x10
PCI_CAP_ID_EXP = 0x10  # PCI Express capability (include/uapi/linux/pci_regs.h)

# The classes named in reports (PCI Code and ID Assignment Specification).
CLASS_NAMES = {
    0x0100: "SCSI storage controller",
    0x0106: "SATA controller",
    0x0108: "Non-Volatile memory controller",
    0x0200: "Ethernet controller",
    0x0207: "InfiniBand controller",
    0x0280: "Network controller",
    0x0300: "VGA compatible controller",
    0x0302: "3D controller",
    0x0380: "Display controller",
    0x0403: "Audio device",
    0x0600: "Host bridge",
    0x0601: "ISA bridge",
    0x0604: "PCI bridge",
    0x0C03: "USB controller",
    0x0C05: "SMBus",
    0x1200: "Processing accelerators",
}


def normalise_address(text: str) -> str:
    """`0000:01:00.0`, `01:00.0` or `pci_0000_01_00_0` as `0000:01:00.0`; ValueError if none."""
    text = text.strip()
    match = re.match(_FULL, text) or re.match(_NODEDEV, text)
    if match:
        domain, bus, slot, function = match.groups()
        return f"{int(domain, 16):04x}:{bus.lower()}:{slot.lower()}.{function}"
    match = re.match(_SHORT, text)
    if match:
        bus, slot, function = match.groups()
        return f"0000:{bus.lower()}:{slot.lower()}.{function}"
    raise ValueError(
        f"{text!r} is not a PCI address (expected 0000:01:00.0, 01:00.0 or pci_0000_01_00_0)"
    )


def is_sysfs_address(name: str) -> bool:
    """Whether a name in a sysfs device folder is a PCI address as the kernel writes it
    (pci_name(): "%04x:%02x:%02x.%d"). Anything else in such a folder comes from a hostile
    or broken root and is ignored."""
    domain, _, rest = name.partition(":")
    return (
        len(name) == len(domain) + 8
        and 4 <= len(domain) <= 8
        and rest[2:3] == ":"
        and rest[5:6] == "."
        and rest[6:7] in "01234567"
        and all(ch in _LOWER_HEX for ch in domain + rest[:2] + rest[3:5])
    )


def address_parts(address: str) -> tuple[int, int, int, int]:
    """(domain, bus, slot, function) of an address; ValueError if it is not one."""
    domain, bus, slot, function = re.match(_FULL, normalise_address(address)).groups()  # type: ignore[union-attr]
    return int(domain, 16), int(bus, 16), int(slot, 16), int(function)


ADDRESS_FORMS = "a PCI address: 0000:01:00.0, 01:00.0 or pci_0000_01_00_0"
ID_FORMS = ADDRESS_FORMS + ", or vendor:device such as 8086:10c9"
SELECTOR_FORMS = ID_FORMS + ", or a class prefix such as class:03 or class:0302"
_VENDOR_DEVICE = r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$"
_CLASS = r"^class:(?:0x)?([0-9a-fA-F]{2}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6})$"


def parse_selector(text: str, allow_class: bool = True) -> str:
    """A device identifier, normalised: an address (`0000:01:00.0`), `vendor:device` in lower
    case (`8086:10c9`), or a class prefix (`class:0302`); ValueError if it is none of them."""
    text = text.strip()
    match = re.match(_VENDOR_DEVICE, text)
    if match:
        return f"{match.group(1).lower()}:{match.group(2).lower()}"
    match = re.match(_CLASS, text)
    if match and allow_class:
        return f"class:{match.group(1).lower()}"
    try:
        return normalise_address(text)
    except ValueError:
        forms = SELECTOR_FORMS if allow_class else ID_FORMS
        raise ValueError(f"{text!r} is not a device identifier (expected {forms})") from None


def is_address(selector: str) -> bool:
    """Whether a normalised selector is one address (not vendor:device or a class)."""
    return "." in selector


def selector_matches(
    selector: str, address: str, vendor_device: str, pci_class: int | None
) -> bool:
    """Whether a normalised selector names the device at `address`."""
    if selector.startswith("class:"):
        return pci_class is not None and f"{pci_class:06x}".startswith(selector[6:])
    if is_address(selector):
        return selector == address
    return selector == vendor_device


def nodedev_name(address: str) -> str:
    """The libvirt node device name of an address: `0000:01:00.0` -> `pci_0000_01_00_0`."""
    return "pci_" + address.replace(":", "_").replace(".", "_")


def class_name(pci_class: int) -> str:
    """A readable name for a 24-bit class code (base class and subclass)."""
    return CLASS_NAMES.get(pci_class >> 8, f"class {pci_class >> 8:04x}")


@record
class ConfigHeader:
    """Facts from the first 64 bytes of configuration space, readable without root."""

    header_type: int
    multifunction: bool


def parse_config_header(config: bytes) -> ConfigHeader:
    """Decode the standard header; raise ValueError when fewer than 64 bytes are given."""
    if len(config) < 64:
        raise ValueError(f"{len(config)} bytes of configuration space, expected at least 64")
    header = config[PCI_HEADER_TYPE]
    return ConfigHeader(
        header_type=header & 0x7F,
        multifunction=bool(header & 0x80),
    )


def has_pcie_capability(config: bytes) -> bool | None:
    """Whether the capability list holds a PCI Express capability; None if it cannot be read.

    Capabilities live above byte 64, which only root can read through sysfs.
    """
    if len(config) < 256 or not config[PCI_STATUS] & PCI_STATUS_CAP_LIST:
        return None if len(config) < 256 else False
    pointer = config[PCI_CAPABILITY_LIST] & 0xFC
    seen = 0
    while pointer and seen < 48:  # 48 capabilities at most fit; stops a looping list
        if config[pointer] == PCI_CAP_ID_EXP:
            return True
        pointer = config[pointer + 1] & 0xFC
        seen += 1
    return False


# --- capabilities (include/uapi/linux/pci_regs.h) --------------------------------------------
# Standard capabilities live at 0x40-0xff and need the whole 256-byte header; extended ones
# at 0x100-0xfff need the 4096-byte file. sysfs gives the first 64 bytes to other users, so
# every decoder here returns None when the bytes are not there: "needs root", not "absent".

PCI_CAP_ID_PM = 0x01
PCI_CAP_ID_AF = 0x13  # Advanced Features (conventional PCI FLR)
PCI_EXT_CAP_ID_ACS = 0x000D
PCI_EXT_CAP_ID_SRIOV = 0x0010
PCI_PM_CTRL = 4
PCI_PM_CTRL_NO_SOFT_RESET = 0x0008  # "No Soft Reset": D3hot->D0 keeps internal state
PCI_EXP_FLAGS = 2
PCI_EXP_DEVCAP = 4
PCI_EXP_DEVCAP_FLR = 0x10000000
PCI_AF_CAP = 3
PCI_AF_CAP_TP, PCI_AF_CAP_FLR = 0x01, 0x02
PCI_ACS_CAP, PCI_ACS_CTRL = 4, 6
# ACS capability and control bits: Source Validation, Translation Blocking, P2P Request
# Redirect, P2P Completion Redirect, Upstream Forwarding, Egress Control, Direct Translated P2P.
ACS_BITS = {"SV": 0x01, "TB": 0x02, "RR": 0x04, "CR": 0x08, "UF": 0x10, "EC": 0x20, "DT": 0x40}
# What IOMMU groups need of every bridge up to the root (REQ_ACS_FLAGS, drivers/iommu/iommu.c).
REQUIRED_ACS = ("SV", "RR", "CR", "UF")
# Device/Port Type of the PCI Express Capabilities register (PCI_EXP_TYPE_*).
PCIE_TYPES = {
    0x0: "endpoint",
    0x1: "legacy endpoint",
    0x4: "root port",
    0x5: "switch upstream port",
    0x6: "switch downstream port",
    0x7: "PCIe-to-PCI bridge",
    0x8: "PCI-to-PCIe bridge",
    0x9: "root complex integrated endpoint",
    0xA: "root complex event collector",
}


def capabilities(config: bytes) -> dict[int, int] | None:
    """Standard capability id -> offset of its first instance; None without the full header."""
    if len(config) < 256:
        return None
    found: dict[int, int] = {}
    if not config[PCI_STATUS] & PCI_STATUS_CAP_LIST:
        return found
    pointer = config[PCI_CAPABILITY_LIST] & 0xFC
    for _ in range(48):  # 48 capabilities at most fit; stops a looping list
        if pointer < 0x40:
            break
        found.setdefault(config[pointer], pointer)
        pointer = config[pointer + 1] & 0xFC
    return found


def extended_capabilities(config: bytes) -> dict[int, int] | None:
    """Extended capability id -> offset (PCI Express, at 0x100); None without 4096 bytes."""
    if len(config) < 4096:
        return None
    found: dict[int, int] = {}
    pointer = 0x100
    for _ in range(960):  # (4096 - 256) / 4 headers at most
        header = int.from_bytes(config[pointer : pointer + 4], "little")
        if header in (0, 0xFFFFFFFF):
            break
        found.setdefault(header & 0xFFFF, pointer)
        pointer = (header >> 20) & 0xFFC
        if pointer < 0x100:
            break
    return found


def _word(config: bytes, offset: int) -> int:
    return int.from_bytes(config[offset : offset + 2], "little")


def pcie_type(config: bytes) -> str | None:
    """The PCI Express Device/Port Type ("root port", "endpoint"...), "" for conventional
    PCI, None when the capabilities cannot be read."""
    caps = capabilities(config)
    if caps is None:
        return None
    if PCI_CAP_ID_EXP not in caps:
        return ""
    kind = (_word(config, caps[PCI_CAP_ID_EXP] + PCI_EXP_FLAGS) >> 4) & 0xF
    return PCIE_TYPES.get(kind, f"type {kind}")


@record
class ResetCapabilities:
    """What configuration space says about resetting one function (drivers/pci/pci.c:
    pcie_reset_flr(), pci_af_flr(), pci_pm_reset())."""

    flr: bool  # PCIe Device Capabilities: Function Level Reset
    af_flr: bool  # Advanced Features capability with Transactions Pending and FLR
    pm_reset: bool  # a PM capability without No_Soft_Reset: D3hot -> D0 resets it


def reset_capabilities(config: bytes) -> ResetCapabilities | None:
    """The function-level resets the capabilities offer; None without the full header."""
    caps = capabilities(config)
    if caps is None:
        return None
    flr = af_flr = pm_reset = False
    if PCI_CAP_ID_EXP in caps:
        at = caps[PCI_CAP_ID_EXP] + PCI_EXP_DEVCAP
        flr = bool(int.from_bytes(config[at : at + 4], "little") & PCI_EXP_DEVCAP_FLR)
    if PCI_CAP_ID_AF in caps:
        af = config[caps[PCI_CAP_ID_AF] + PCI_AF_CAP]
        af_flr = bool(af & PCI_AF_CAP_TP) and bool(af & PCI_AF_CAP_FLR)
    if PCI_CAP_ID_PM in caps:
        control = _word(config, caps[PCI_CAP_ID_PM] + PCI_PM_CTRL)
        pm_reset = not control & PCI_PM_CTRL_NO_SOFT_RESET
    return ResetCapabilities(flr, af_flr, pm_reset)


@record
class AcsState:
    """A function's ACS extended capability (`present`), which controls it has and which
    are on."""

    present: bool
    capable: frozenset[str] = frozenset()
    enabled: frozenset[str] = frozenset()

    def missing(self, required: tuple[str, ...] = REQUIRED_ACS) -> list[str]:
        """Required controls that are not on; as pci_acs_flags_enabled() does, a control the
        device does not implement is not required of it."""
        return [bit for bit in required if bit in self.capable and bit not in self.enabled]


def acs_state(config: bytes) -> AcsState | None:
    """The ACS capability (present=False when the function has none); None without the
    4096 bytes only root can read."""
    ext = extended_capabilities(config)
    if ext is None:
        return None
    if PCI_EXT_CAP_ID_ACS not in ext:
        return AcsState(False)
    at = ext[PCI_EXT_CAP_ID_ACS]
    cap, ctrl = _word(config, at + PCI_ACS_CAP), _word(config, at + PCI_ACS_CTRL)
    return AcsState(
        True,
        frozenset(name for name, bit in ACS_BITS.items() if cap & bit),
        frozenset(name for name, bit in ACS_BITS.items() if ctrl & bit),
    )
