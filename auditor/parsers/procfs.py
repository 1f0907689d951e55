"""Files under /proc: interrupts, cpuinfo, stat."""

from __future__ import annotations

import re


def interrupt_chips(text: str) -> dict[str, int]:
    """Interrupt chip names in /proc/interrupts with how many IRQs use each.

    Lines look like ` 24:   1   0  IR-IO-APIC   5-edge   ACPI:Ged`: the number of
    per-CPU count columns is the number of CPU headers on the first line.
    """
    lines = text.splitlines()
    if not lines:
        return {}
    cpus = len(lines[0].split())
    chips: dict[str, int] = {}
    for line in lines[1:]:
        label, _, rest = line.partition(":")
        if not label.strip().isdigit():
            continue  # NMI, LOC, ERR...: not device interrupts
        fields = rest.split()
        if len(fields) <= cpus:
            continue
        chip = fields[cpus]
        chips[chip] = chips.get(chip, 0) + 1
    return chips


def remapped(chip: str) -> bool:
    """Whether an interrupt chip name belongs to an interrupt-remapping domain.

    Intel and AMD name them IR-IO-APIC, IR-PCI-MSI(-<bdf>), ...; newer AMD kernels use vIR-.
    """
    return chip.startswith(("IR-", "vIR-"))


def cpu_flags(text: str) -> tuple[str, set[str]]:
    """(vendor_id, flags) of the first processor in /proc/cpuinfo."""
    vendor = ""
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
        if vendor and flags:
            break
    return vendor, flags


# btime is an unsigned long of seconds (fs/proc/stat.c show_stat()); anything past this is
# no boot time a clock can show (time.gmtime() overflows on 401 digits).
MAX_BOOT_TIME = 1 << 40


def boot_time(text: str) -> float | None:
    """Boot time (seconds since the epoch) from the `btime` line of /proc/stat; None when
    absent or not a plausible time."""
    for line in text.splitlines():
        if line.startswith("btime "):
            fields = line.split()
            word = fields[1] if len(fields) > 1 else ""
            if not word.isdigit() or len(word) > 13 or int(word) >= MAX_BOOT_TIME:
                return None
            return float(int(word))
    return None


def release_version(release: str | None) -> tuple[int, int] | None:
    """(major, minor) of a kernel release such as `5.14.0-362.8.1.el9_3.x86_64`; None if unparsable."""
    match = re.match(r"(\d+)\.(\d+)", release or "")
    return (int(match.group(1)), int(match.group(2))) if match else None
