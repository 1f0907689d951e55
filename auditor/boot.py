"""The configured (next-boot) kernel command line, and how to change it on this host."""

from __future__ import annotations

import re

from auditor.errors import HostError
from auditor.facts import (
    BLS_ENTRIES,
    EFI_GRUB_CFGS,
    GRUB_CFGS,
    GRUB_DEFAULT,
    GRUB_DROPINS,
    GRUBENVS,
    KERNEL_CMDLINE,
    KERNELSTUB,
    LEGACY_GRUB,
)
from auditor.host import Host
from auditor.model import listed
from auditor.parsers.bootconfig import (
    ENVIRONMENT_FULL,
    MAX_VALUE,
    BootEntry,
    parse_bls_entry,
    parse_grub_cfg,
    parse_grubenv,
    parse_kernelstub,
    parse_legacy_grub_conf,
    parse_shell_assignments,
)
from auditor.record import field, record, replace


@record
class BootSource:
    """One place a next-boot command line is written."""

    path: str
    label: str
    args: str
    kernel_release: str | None = None
    is_default: bool = False  # the entry the next boot starts, where that can be known


@record(frozen=False)
class BootConfig:
    """What the boot loader will use at the next boot."""

    # "bls", "grub2", "kernelstub", "kernel-install", "legacy-grub", or "" when none was found
    loader: str
    entries: list[BootSource] = field(default_factory=list)
    grub_defaults: BootSource | None = None  # /etc/default/grub, the source of grub.cfg
    generated_path: str | None = None
    unreadable: list[str] = field(default_factory=list)
    # Values that expanded past MAX_VALUE and were cut there: "FILE: NAME".
    cut: list[str] = field(default_factory=list)

    def note_cut(self, path: str, names: set[str]) -> None:
        self.cut += [f"{path}: {name}" for name in sorted(names)]


def _read(host: Host, path: str, config: BootConfig) -> str | None:
    try:
        return host.read_optional(path)
    except HostError as exc:
        config.unreadable.append(str(exc))
        return None


def _version_key(version: str) -> list[int]:
    """A sort key for kernel versions: the numbers in them, in order."""
    return [int(number) for number in re.findall(r"\d+", version)]


def _release(kernel: str) -> str | None:
    """The kernel release a boot entry's image names: "5.14.0-362" of ".../vmlinuz-5.14.0-362"."""
    _, found, release = kernel.rpartition("vmlinuz-")
    return release if found and release and not any(ch.isspace() for ch in release) else None


def _is_recovery(text: str) -> bool:
    """A recovery or rescue entry, which the next normal boot does not start."""
    lowered = text.lower()
    return "recovery mode" in lowered or "rescue" in lowered


def configured_boot(host: Host) -> BootConfig:
    """Find the boot loader and the command lines its next boot will use; parsed once per
    audit (iommu.cmdline-persistent and pci.driver-binding both ask)."""
    return host.derive("boot", "config", lambda: _configured_boot(host))


def _configured_boot(host: Host) -> BootConfig:
    config = BootConfig(loader="")
    grubenv: dict[str, str] = {}
    for path in GRUBENVS:
        text = _read(host, path, config)
        if text is not None:
            grubenv = parse_grubenv(text)
            break

    defaults = _grub_defaults(host, config)
    config.grub_defaults = defaults

    if host.exists(KERNELSTUB):
        # kernelstub writes the systemd-boot entry on the ESP from its configuration at every
        # kernel update: the configuration is what the next boot gets.
        config.loader = "kernelstub"
        text = _read(host, KERNELSTUB, config)
        options = parse_kernelstub(text) if text is not None else None
        if options is not None:
            args = " ".join(options)
            config.entries.append(
                BootSource(KERNELSTUB, "kernelstub kernel_options", args, None, True)
            )
        elif text is not None:
            config.unreadable.append(f"{KERNELSTUB}: not kernelstub's JSON configuration")
        return config
    bls_paths = host.glob(BLS_ENTRIES)
    grub_cfg_path = next((path for path in GRUB_CFGS if host.exists(path)), None)
    if grub_cfg_path is None:
        grub_cfg_path = next(iter(host.glob(EFI_GRUB_CFGS)), None)
    grub_entries: list[BootEntry] = []
    uses_bls = False
    grub_default = "0"
    if grub_cfg_path:
        text = _read(host, grub_cfg_path, config)
        if text is not None:
            cut: set[str] = set()
            grub_entries, uses_bls, grub_default = parse_grub_cfg(text, grubenv, cut)
            config.note_cut(grub_cfg_path, cut)

    if bls_paths and (uses_bls or not grub_entries):
        config.loader = "bls"
        config.generated_path = "/boot/loader/entries"
        for path in bls_paths:
            if _is_recovery(path):
                continue
            text = _read(host, path, config)
            if text is None:
                continue
            cut = set()
            keys = parse_bls_entry(text, grubenv, cut)
            config.note_cut(path, cut)
            title = keys.get("title", path.rsplit("/", 1)[-1])
            if _is_recovery(title):
                continue
            release = keys.get("version") or _release(keys.get("linux", ""))
            stem = path.rsplit("/", 1)[-1][: -len(".conf")]
            is_default = stem == grubenv.get("saved_entry")
            config.entries.append(
                BootSource(path, f"entry '{title}'", keys["options"], release, is_default)
            )
        if "saved_entry" not in grubenv and config.entries:
            # Without a saved entry GRUB's blscfg boots the first entry, sorted newest first.
            newest = max(
                config.entries, key=lambda source: _version_key(source.kernel_release or "")
            )
            config.entries[config.entries.index(newest)] = replace(newest, is_default=True)
    elif grub_entries and grub_cfg_path:
        config.loader = "grub2"
        config.generated_path = grub_cfg_path
        for index, entry in enumerate(grub_entries):
            if not _is_recovery(entry.title):
                label = f"menuentry '{entry.title}'"
                # `default` is an index (0 = the first entry) or an entry's title; anything
                # else (a submenu path, an id) is left undetermined.
                is_default = grub_default == entry.title or (grub_default == "0" and index == 0)
                release = _release(entry.kernel)
                config.entries.append(
                    BootSource(grub_cfg_path, label, entry.args, release, is_default)
                )
    elif host.exists(KERNEL_CMDLINE):
        config.loader = "kernel-install"
        text = _read(host, KERNEL_CMDLINE, config)
        if text is not None:
            args = " ".join(text.split())
            config.entries.append(
                BootSource(KERNEL_CMDLINE, "kernel command line", args, None, True)
            )
    elif host.exists(LEGACY_GRUB):
        config.loader = "legacy-grub"
        text = _read(host, LEGACY_GRUB, config)
        if text is not None:
            default, entries = parse_legacy_grub_conf(text)
            if entries:
                entry = entries[default] if default < len(entries) else entries[0]
                label = f"default entry '{entry.title}'"
                release = _release(entry.kernel)
                config.entries.append(BootSource(LEGACY_GRUB, label, entry.args, release, True))
    elif defaults is not None:
        config.loader = "grub2"  # grub.cfg not found (EFI layout we do not know): use its source
        config.entries.append(replace(defaults, is_default=True))
    return config


def _grub_defaults(host: Host, config: BootConfig) -> BootSource | None:
    """GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT after /etc/default/grub and drop-ins."""
    text = _read(host, GRUB_DEFAULT, config)
    if text is None:
        return None
    cut: set[str] = set()
    values = parse_shell_assignments(text, cut=cut)
    config.note_cut(GRUB_DEFAULT, cut)
    for path in host.glob(GRUB_DROPINS):
        more = _read(host, path, config)
        if more is not None:
            cut = set()
            values = parse_shell_assignments(more, values, cut)
            config.note_cut(path, cut)
    args = " ".join(
        value
        for value in (
            values.get("GRUB_CMDLINE_LINUX", ""),
            values.get("GRUB_CMDLINE_LINUX_DEFAULT", ""),
        )
        if value
    )
    return BootSource(GRUB_DEFAULT, "GRUB_CMDLINE_LINUX + GRUB_CMDLINE_LINUX_DEFAULT", args)


def cut_evidence(config: BootConfig) -> str:
    """What a result says of values cut at MAX_VALUE ("" when none was)."""
    full = [item for item in config.cut if item.endswith(ENVIRONMENT_FULL)]
    cut = [item for item in config.cut if not item.endswith(ENVIRONMENT_FULL)]
    said = []
    if cut:
        said.append(
            f"{listed(cut, 4)} expanded past {MAX_VALUE} characters and "
            f"{'was' if len(cut) == 1 else 'were'} cut there (no kernel accepts a longer "
            "command line: COMMAND_LINE_SIZE is 2048 on x86)"
        )
    if full:
        said.append(listed(full, 4))
    return "; ".join(said)
