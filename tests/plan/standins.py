"""Stand-ins for the tools a plan's script calls, editing a copy of a host the way each real
tool edits a real one (HOSTAUDIT_PLAN_ROOT names the copy). Called as `standins.py TOOL ARGS`;
tests/test_plan.py puts one small wrapper per tool name first on PATH.

What each does, after its real counterpart:
- grubby --update-kernel=ALL --args=A / --remove-args=A: every BLS entry's options line, or
  grubenv's kernelopts where entries say $kernelopts (rhboot/grubby, grubby-bls); the
  kernel lines of RHEL 6's grub.conf.
- grub-mkconfig / grub2-mkconfig -o FILE, update-grub: /etc/default/grub and then the
  /etc/default/grub.d/*.cfg drop-ins sourced by sh, GRUB_CMDLINE_LINUX and
  GRUB_CMDLINE_LINUX_DEFAULT written into each entry's linux line (10_linux); recovery
  entries keep `single`.
- kernelstub -a/-d: the user kernel_options of /etc/kernelstub/configuration, and the entry
  it writes on the ESP.
- kernel-install add RELEASE IMAGE: the entry of RELEASE takes /etc/kernel/cmdline.
- proxmox-boot-tool refresh: GRUB's menu from /etc/default/grub where the host boots GRUB;
  with systemd-boot it records that it ran (the ESPs are not in the copy).
- dracut -f IMAGE RELEASE, update-initramfs -u -k all, mkinitcpio -P: the image records
  the modules its configuration forces in, one per line.
- setsebool -P NAME VALUE, getsebool NAME: selinuxfs and the policy store's booleans.local.
- dnf / apt-get install -y PACKAGE: the package's binary appears.
- uname -r: the copy's kernel release.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(os.environ["HOSTAUDIT_PLAN_ROOT"])
LOG = ROOT / "var/lib/standins.log"
# systemd's loader interface vendor GUID (systemd-boot's LoaderEntryOneShot); the real
# variable holds UTF-16 behind a 4-byte attribute word: the stand-in writes the id as text.
ONESHOT = "LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"


def at(path: str) -> Path:
    return ROOT / path.lstrip("/")


def record(*words: str) -> None:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as log:
        log.write(" ".join(words) + "\n")


def edit_words(text: str, add: list[str], remove: list[str]) -> str:
    words = [word for word in text.split() if word not in remove]
    return " ".join(words + [word for word in add if word not in words])


def grubby(args: list[str]) -> None:
    add = [a.split("=", 1)[1] for a in args if a.startswith("--args=")]
    remove = [a.split("=", 1)[1] for a in args if a.startswith("--remove-args=")]
    add = [w for a in add for w in a.split()]
    remove = [w for a in remove for w in a.split()]
    assert "--update-kernel=ALL" in args, args
    entries = sorted(glob.glob(str(at("/boot/loader/entries/*.conf"))))
    if entries:
        for entry in entries:
            if "rescue" in entry:
                continue
            path = Path(entry)
            lines = path.read_text().splitlines()
            for index, line in enumerate(lines):
                if line.startswith("options "):
                    options = line[len("options ") :]
                    if "$kernelopts" in options:
                        grubenv(add, remove)
                    else:
                        lines[index] = "options " + edit_words(options, add, remove)
            path.write_text("\n".join(lines) + "\n")
    else:
        conf = at("/boot/grub/grub.conf")
        lines = conf.read_text().splitlines()
        for index, line in enumerate(lines):
            if line.strip().startswith("kernel "):
                indent = line[: len(line) - len(line.lstrip())]
                words = line.split()
                lines[index] = (
                    indent
                    + " ".join(words[:2])
                    + " "
                    + edit_words(" ".join(words[2:]), add, remove)
                )
        conf.write_text("\n".join(lines) + "\n")
    record("grubby", *args)


def grubenv(add: list[str], remove: list[str]) -> None:
    """grubenv is a 1024-byte block: the edit keeps its size, padding with #."""
    path = at("/boot/grub2/grubenv")
    size = path.stat().st_size
    lines = [
        line for line in path.read_text().splitlines() if line and not line.startswith("#" * 8)
    ]
    lines = [
        "kernelopts=" + edit_words(line[len("kernelopts=") :], add, remove)
        if line.startswith("kernelopts=")
        else line
        for line in lines
    ]
    text = "\n".join(lines) + "\n"
    path.write_text(text + "#" * max(0, size - len(text)))


def grub_mkconfig(output: str) -> None:
    files = [str(at("/etc/default/grub")), *sorted(glob.glob(str(at("/etc/default/grub.d/*.cfg"))))]
    script = "".join(f'. "{f}"\n' for f in files if os.path.exists(f))
    script += 'printf "%s\\n%s\\n" "$GRUB_CMDLINE_LINUX" "$GRUB_CMDLINE_LINUX_DEFAULT"\n'
    linux, default = (
        [
            *subprocess.run(
                ["sh", "-c", script], capture_output=True, text=True, check=True
            ).stdout.split("\n"),
            "",
            "",
        ]
    )[:2]
    path = at(output)
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        words = line.split()
        if words and words[0] in ("linux", "linuxefi", "linux16") and " ro " in f" {line} ":
            indent = line[: len(line) - len(line.lstrip())]
            head = " ".join(words[: words.index("ro") + 1])
            tail = "single" if words[-1] == "single" else f"{linux} {default}".strip()
            lines[index] = f"{indent}{head} {tail}".rstrip()
    path.write_text("\n".join(lines) + "\n")
    record("grub-mkconfig", output)


def kernelstub(args: list[str]) -> None:
    path = at("/etc/kernelstub/configuration")
    config = json.loads(path.read_text())
    options = config["user"]["kernel_options"]
    option, value = args[0], args[1]
    words = value.split()
    if option == "-a":
        options += [w for w in words if w not in options]
    elif option == "-d":
        options[:] = [o for o in options if o not in words]
    path.write_text(json.dumps(config, indent=2) + "\n")
    for entry in glob.glob(str(at("/boot/efi/loader/entries/*.conf"))):
        text = Path(entry).read_text()
        head = re.search(r"^options (root=\S+ ro)", text, re.M)
        assert head, entry
        Path(entry).write_text(
            re.sub(
                r"^options .*$", f"options {head.group(1)} {' '.join(options)}", text, flags=re.M
            )
        )
    record("kernelstub", *args)


def kernel_install(args: list[str]) -> None:
    assert args[0] == "add", args
    release = args[1]
    cmdline = " ".join(at("/etc/kernel/cmdline").read_text().split())
    for entry in glob.glob(str(at(f"/boot/loader/entries/*-{release}.conf"))):
        text = Path(entry).read_text()
        Path(entry).write_text(re.sub(r"^options .*$", f"options {cmdline}", text, flags=re.M))
    record("kernel-install", *args)


def initramfs(image: str, release: str) -> None:
    """The modules an initramfs of `release` forces in, as its generator's config lists them."""
    modules: list[str] = []
    for conf in sorted(glob.glob(str(at("/etc/dracut.conf.d/*.conf")))):
        for line in Path(conf).read_text().splitlines():
            found = re.match(r"\s*(?:force_drivers|add_drivers)\+?=\s*[\"'](.*)[\"']", line)
            if found:
                modules += found.group(1).split()
    tools = at("/etc/initramfs-tools/modules")
    if tools.exists():
        modules += [
            line.split()[0]
            for line in tools.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
    mkinitcpio = at("/etc/mkinitcpio.conf")
    if mkinitcpio.exists():
        found = re.search(r"^MODULES=\((.*)\)", mkinitcpio.read_text(), re.M)
        modules += found.group(1).split() if found else []
    at(image).parent.mkdir(parents=True, exist_ok=True)
    at(image).write_text(f"release {release}\n" + "".join(f"{m}\n" for m in modules))
    record("initramfs", image, release)


def releases() -> list[str]:
    found = [p.name for p in at("/lib/modules").glob("*")] if at("/lib/modules").exists() else []
    return found or [p.name[len("config-") :] for p in at("/boot").glob("config-*")]


def selinux(tool: str, args: list[str]) -> None:
    if tool == "getsebool":
        value = at(f"/sys/fs/selinux/booleans/{args[0]}").read_text().split()[0]
        print(f"{args[0]} --> {'on' if value == '1' else 'off'}")
        return
    persistent = args[0] == "-P"
    name, value = args[-2], args[-1]
    bit = "1" if value in ("on", "1", "true") else "0"
    at(f"/sys/fs/selinux/booleans/{name}").write_text(f"{bit} {bit}")
    if persistent:
        store = at("/var/lib/selinux/targeted/active/booleans.local")
        store.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            line
            for line in (store.read_text().splitlines() if store.exists() else [])
            if not line.startswith(f"{name}=")
        ]
        store.write_text("\n".join([*lines, f"{name}={bit}"]) + "\n")
    record(tool, *args)


def main() -> int:
    tool, args = sys.argv[1], sys.argv[2:]
    if tool == "uname":
        if args == ["-r"]:
            print(at("/proc/sys/kernel/osrelease").read_text().strip())
            return 0
        return subprocess.call(["/bin/uname", *args])
    if tool == "grubby":
        grubby(args)
    elif tool in ("grub-mkconfig", "grub2-mkconfig"):
        grub_mkconfig(args[args.index("-o") + 1])
    elif tool == "update-grub":
        grub_mkconfig("/boot/grub/grub.cfg")
    elif tool == "kernelstub":
        kernelstub(args)
    elif tool == "kernel-install":
        kernel_install(args)
    elif tool == "grub2-reboot":  # grub2-editenv - set next_entry=ID
        path = at("/boot/grub2/grubenv")
        size = path.stat().st_size
        lines = [
            line
            for line in path.read_text().splitlines()
            if line and not line.startswith(("#" * 8, "next_entry="))
        ]
        text = "\n".join([*lines, f"next_entry={args[0]}"]) + "\n"
        path.write_text(text + "#" * max(0, size - len(text)))
        record(tool, *args)
    elif tool == "bootctl":  # set-oneshot ID: the LoaderEntryOneShot EFI variable
        assert args[0] == "set-oneshot", args
        variable = at(f"/sys/firmware/efi/efivars/{ONESHOT}")
        variable.parent.mkdir(parents=True, exist_ok=True)
        variable.write_text(args[1])
        record(tool, *args)
    elif (
        tool == "proxmox-boot-tool"
    ):  # refresh: GRUB's menu (or systemd-boot's entries) on each ESP
        if not at("/etc/kernel/cmdline").exists():
            grub_mkconfig("/boot/grub/grub.cfg")
        record("proxmox-boot-tool", *args)
    elif tool == "dracut":
        image, release = args[-2], args[-1]
        initramfs(image, release)
    elif tool == "update-initramfs":
        for release in releases():
            initramfs(f"/boot/initrd.img-{release}", release)
    elif tool == "mkinitcpio":
        for release in releases():
            initramfs(f"/boot/initramfs-{release}.img", release)
    elif tool in ("setsebool", "getsebool"):
        selinux(tool, args)
    elif tool in ("dnf", "yum", "apt-get"):
        for package in [a for a in args if not a.startswith("-") and a != "install"]:
            binary = at(f"/usr/sbin/{package}")
            binary.parent.mkdir(parents=True, exist_ok=True)
            binary.write_text("")
        record(tool, *args)
    else:
        print(f"stand-in: unknown tool {tool}", file=sys.stderr)
        return 127
    return 0


if __name__ == "__main__":
    sys.exit(main())
