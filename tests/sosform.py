"""A host root laid out as a sosreport of that host, as sos 4 writes one.

sos copies files to their own paths (plugins kernel, processor, hardware, grub2, selinux,
libvirt) and saves command output under sos_commands/; it collects nothing of /dev, the
sysfs PCI tree, IOMMU groups, /sys/class/iommu or the udev database, and SELinux state only
as `sestatus -b` output (sos/report/plugins/kernel.py, pci.py, selinux.py). Used by the
test that compares the audit of every fixture root with the audit of its sosreport form,
and by the benchmark that times them against each other. Standard library only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# What sos leaves out (as auditor/sources/sosreport.py NEVER_COLLECTED says), and the
# selinuxfs mounts it reports through sestatus instead.
LEFT_OUT = (
    "dev",
    "sys/bus/pci",
    "sys/kernel/iommu_groups",
    "sys/class/iommu",
    "run/udev",
    "sys/devices",
    "sys/fs/selinux",
    "selinux",
)


def _text(root: Path, path: str) -> str | None:
    try:
        return (root / path).read_text().strip()
    except OSError:
        return None


def sosreport_of(root: Path, target: Path) -> Path:
    """Write the sosreport form of `root` under `target`; return its folder."""
    hostname = _text(root, "proc/sys/kernel/hostname") or _text(root, "etc/hostname") or "host"
    release = _text(root, "proc/sys/kernel/osrelease") or "6.1.0"
    folder = target / f"sosreport-{hostname}-2026-11-25-abcdefg"

    def ignore(current: str, names: list[str]) -> set[str]:
        relative = os.path.relpath(current, root)
        prefix = "" if relative == "." else relative + "/"
        return {name for name in names if prefix + name in LEFT_OUT}

    shutil.copytree(root, folder, symlinks=True, ignore=ignore)
    commands = folder / "sos_commands"
    for path, text in (
        ("version.txt", "sosreport: 4.6.0\n"),
        ("sos_reports/manifest.json", '{"version": "4.6.0"}\n'),
        ("sos_commands/host/hostname", hostname + "\n"),
        (
            "sos_commands/kernel/uname_-a",
            f"Linux {hostname} {release} #1 SMP PREEMPT_DYNAMIC x86_64 x86_64 x86_64 GNU/Linux\n",
        ),
    ):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    dmesg = _text(root, "var/log/dmesg")
    if dmesg is not None:
        (commands / "kernel" / "dmesg").write_text(dmesg + "\n")
    sestatus = _sestatus(root)
    if sestatus is not None:
        (commands / "selinux").mkdir(parents=True, exist_ok=True)
        (commands / "selinux" / "sestatus_-b").write_text(sestatus)
    return folder


def _sestatus(root: Path) -> str | None:
    """`sestatus -b` as sos records it, from the root's selinuxfs; None without one."""
    for mount in ("sys/fs/selinux", "selinux"):
        enforce = _text(root, f"{mount}/enforce")
        if enforce is None:
            continue
        mode = "enforcing" if enforce == "1" else "permissive"
        lines = [
            "SELinux status:                 enabled",
            f"SELinuxfs mount:                /{mount}",
            f"Current mode:                   {mode}",
            "",
            "Policy booleans:",
        ]
        booleans = root / mount / "booleans"
        for name in sorted(os.listdir(booleans)) if booleans.is_dir() else ():
            current = (_text(root, f"{mount}/booleans/{name}") or "0").split()[0]
            lines.append(f"{name:<44}{'on' if current == '1' else 'off'}")
        return "\n".join(lines) + "\n"
    if (root / "etc/selinux/config").exists():
        return "SELinux status:                 disabled\n"
    return None
