"""`hostaudit plan`, proven on copies of broken fixture hosts: the plan's shell script runs
with stand-ins for the boot tools (tests/plan/standins.py) that edit the copy as the real
tools would, shellcheck reviews it, a second run changes nothing, a simulated reboot makes the
next boot's command line /proc/cmdline and applies the bindings, and the re-audit shows
every check the plan claims to fix passing and no verdict worse than before."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HOSTS, fixture_generator

STANDINS = Path(__file__).parent / "plan" / "standins.py"
TOOLS = (
    "grubby", "grub-mkconfig", "grub2-mkconfig", "update-grub", "kernelstub", "kernel-install",
    "proxmox-boot-tool", "dracut", "update-initramfs", "mkinitcpio", "setsebool", "getsebool",
    "dnf", "yum", "apt-get", "uname", "grub2-reboot", "bootctl",
)  # fmt: skip
# Worst first; a verdict is worse when it moves up this list.
RANK = {"fail": 0, "error": 1, "warn": 2, "skip": 3, "pass": 4, "waived": 4}
GPU = ("--device", "0000:01:00.0", "--device", "0000:01:00.1")
# (fixture, extra arguments, boot chain kind, checks the plan must fix)
SCRIPTED = [
    ("iommu-not-enabled", (), "grubby", {"iommu.kernel-cmdline", "iommu.cmdline-persistent"}),
    ("grub-prompt-edit", (), "grubby", {"iommu.cmdline-persistent"}),
    ("reboot-pending", (), "grubby", {"iommu.kernel-cmdline", "iommu.cmdline-persistent"}),
    ("selinux-boolean-off", (), "grubby", {"selinux.virt-use-sysfs"}),
    ("unsafe-interrupts", (), "grubby", {"kvm.unsafe-interrupts"}),
    ("gpu-with-audio", (), "grubby", {"iommu.group-isolation"}),
    ("chain-rhel8-kernelopts", (), "grubby", {"iommu.kernel-cmdline", "iommu.cmdline-persistent"}),
    ("chain-rhel7-efi-grub", (), "grub-mkconfig", {"iommu.kernel-cmdline", "iommu.cmdline-persistent"}),
    ("chain-debian-grub-dropin", (), "grub-mkconfig", {"iommu.kernel-cmdline", "iommu.cmdline-persistent"}),
    ("chain-pop-kernelstub", (), "kernelstub", {"iommu.kernel-cmdline", "iommu.cmdline-persistent"}),
    ("chain-proxmox-systemd-boot", (), "proxmox", {"iommu.kernel-cmdline", "iommu.cmdline-persistent"}),
    ("chain-proxmox-grub", (), "proxmox", {"iommu.kernel-cmdline", "iommu.cmdline-persistent"}),
    (
        "chain-fedora-systemd-boot",
        GPU,
        "kernel-install",
        {"iommu.kernel-cmdline", "iommu.cmdline-persistent", "pci.driver-binding"},
    ),
]  # fmt: skip


def hostaudit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args], capture_output=True, text=True, check=False
    )


def audit(root: Path, extra: tuple[str, ...]) -> dict[str, str]:
    """check id -> status of an audit of `root`."""
    done = hostaudit("audit", "--root", str(root), "--format", "json", *extra)
    assert done.returncode in (0, 1, 3), done.stderr
    return {r["id"]: r["status"] for r in json.loads(done.stdout)["results"]}


def plan(root: Path, extra: tuple[str, ...], fmt: str) -> str:
    done = hostaudit("plan", "--root", str(root), "--format", fmt, *extra)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of stand-in tools, and `hostaudit` itself, to put first on PATH."""
    folder = tmp_path_factory.mktemp("bin")
    for tool in TOOLS:
        wrapper = folder / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STANDINS}" {tool} "$@"\n')
        wrapper.chmod(0o755)
    wrapper = folder / "hostaudit"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m auditor "$@"\n')
    wrapper.chmod(0o755)
    return folder


def run_script(script: Path, root: Path, tools: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{tools}:{os.environ['PATH']}",
        "HOSTAUDIT_PLAN_ROOT": str(root),
    }
    return subprocess.run(
        ["sh", str(script), *args], capture_output=True, text=True, env=env, check=False
    )


def run_twice(script: Path, root: Path, tools: Path, *args: str) -> None:
    """Run the script, then again: the second run must change nothing."""
    first = run_script(script, root, tools, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    applied = tree(root)
    second = run_script(script, root, tools, *args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert tree(root) == applied, "the second run changed the host"
    for line in second.stdout.splitlines():  # edits print "  /path: ...", tools "  running: ..."
        if "set-oneshot" not in line:  # bootctl set-oneshot again sets the same entry
            assert not line.startswith(("  running:", "  /", "  backed up", "  removed")), line


def tree(root: Path) -> dict[str, str]:
    """Every file of the copy and its content's digest (links by their target)."""
    found = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if key == "var/lib/standins.log":  # which stand-ins ran: the output says it
            continue
        if path.is_symlink():
            found[key] = "-> " + os.readlink(path)
        elif path.is_file():
            found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def copy(name: str, tmp_path: Path) -> Path:
    root = tmp_path / name
    shutil.copytree(HOSTS / name, root, symlinks=True)
    return root


@pytest.mark.parametrize(
    ("name", "extra", "chain", "fixes"), SCRIPTED, ids=[s[0] for s in SCRIPTED]
)
def test_the_plan_makes_the_host_ready(
    name: str, extra: tuple[str, ...], chain: str, fixes: set[str], tmp_path: Path, tools: Path
) -> None:
    root = copy(name, tmp_path)
    before = audit(root, extra)
    document = json.loads(plan(root, extra, "json"))
    assert document["boot_chain"]["kind"] == chain
    assert set(document["fixes"]) == fixes
    assert not document["questions"], document["questions"]
    for check in fixes:
        assert before[check] != "pass", f"{check} passes already: nothing to prove"

    script = tmp_path / "plan.sh"
    script.write_text(plan(root, extra, "sh"))
    trial = any(step["phase"] == "make permanent" for step in document["steps"])
    if trial:  # the permanent part refuses to run before the trial boot
        refused = run_script(script, root, tools, "permanent")
        assert refused.returncode == 1 and "boot the trial entry first" in refused.stderr
    run_twice(script, root, tools)
    assert (root / "var/lib/hostaudit/plan/before.json").exists()
    reboot(root)
    if trial:
        tried = audit(root, extra)
        assert tried["iommu.kernel-cmdline"] == "pass", "the trial boot has the new command line"
        assert tried["iommu.cmdline-persistent"] != "pass", "the default entry is unchanged"
        run_twice(script, root, tools, "permanent")
        assert not list((root / "boot/loader/entries").glob("*hostaudit-trial*"))
        reboot(root)
    after = audit(root, extra)
    for check in fixes:
        assert after[check] == "pass", f"{check}: {after[check]} after the plan"
    worse = {c: (before[c], after[c]) for c in before if RANK[after[c]] < RANK[before[c]]}
    assert not worse, f"verdicts got worse: {worse}"


@pytest.mark.parametrize("name", [s[0] for s in SCRIPTED[:3]] + ["chain-debian-grub-dropin"])
def test_the_script_is_clean_under_shellcheck(name: str, tmp_path: Path) -> None:
    if not shutil.which("shellcheck"):
        pytest.skip("shellcheck is not installed (make test installs it with apt-get as root)")
    script = tmp_path / "plan.sh"
    script.write_text(plan(HOSTS / name, (), "sh"))
    done = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


def test_the_script_refuses_another_kernel_or_boot_chain(tmp_path: Path, tools: Path) -> None:
    root = copy("iommu-not-enabled", tmp_path)
    script = tmp_path / "plan.sh"
    script.write_text(plan(root, (), "sh"))
    original = tree(root)
    (root / "proc/sys/kernel/osrelease").write_text("5.14.0-427.13.1.el9_4.x86_64\n")
    done = run_script(script, root, tools)
    assert done.returncode == 1 and "made for kernel 5.14.0-362.8.1.el9_3.x86_64" in done.stderr
    (root / "proc/sys/kernel/osrelease").write_text("5.14.0-362.8.1.el9_3.x86_64\n")
    shutil.rmtree(root / "boot/loader")
    done = run_script(script, root, tools)
    assert done.returncode == 1 and "/boot/loader/entries is missing" in done.stderr
    assert not (root / "var/lib/hostaudit").exists()
    assert set(tree(root)) == set(original) - {p for p in original if p.startswith("boot/loader/")}


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("chain-nixos", 'add "intel_iommu=on" to boot.kernelParams'),
        ("chain-coreos-rpm-ostree", "rpm-ostree kargs --append-if-missing=intel_iommu=on"),
        ("chain-bootc", 'list "intel_iommu=on" in kargs of a /usr/lib/bootc/kargs.d/*.toml'),
    ],
)
def test_configured_hosts_get_their_setting_not_a_script(
    name: str, said: str, tmp_path: Path, tools: Path
) -> None:
    text = plan(HOSTS / name, (), "text")
    assert said in text and "configured, not scripted" in text
    root = copy(name, tmp_path)
    script = tmp_path / "plan.sh"
    script.write_text(plan(root, (), "sh"))
    original = tree(root)
    done = run_script(script, root, tools)
    assert done.returncode == 1 and "configured, not scripted" in done.stderr
    assert tree(root) == original


def test_no_safe_fix_stops_the_plan(tmp_path: Path, tools: Path) -> None:
    text = plan(HOSTS / "no-interrupt-remapping", (), "text")
    assert "No safe plan" in text and "allow_unsafe_interrupts is never planned" in text
    document = json.loads(plan(HOSTS / "no-interrupt-remapping", (), "json"))
    assert document["stopped"] and not document["steps"]


def test_dangerous_options_are_never_planned() -> None:
    for name in sorted(os.listdir(HOSTS)):
        document = json.loads(plan(HOSTS / name, (), "json"))
        for step in document["steps"]:
            for action in step["actions"]:
                words = " ".join(str(value) for value in action.values())
                assert "pcie_acs_override" not in words or action["kind"].endswith("remove")
                assert "allow_unsafe_interrupts=1" not in words
                assert not (action["kind"].endswith("add") and "iommu=pt" in words)


def test_every_plan_validates_against_its_schema() -> None:
    from importlib.resources import files

    import jsonschema

    schema = json.loads(files("auditor.reports").joinpath("plan.schema.json").read_text())
    for name in sorted(os.listdir(HOSTS)):
        jsonschema.validate(json.loads(plan(HOSTS / name, (), "json")), schema)


def test_an_error_gets_how_to_see_not_the_fix() -> None:
    text = plan(HOSTS / "symlink-escape", (), "text")
    assert "[before you start] let iommu.kernel-cmdline see" in text
    assert "intel_iommu=on" not in text


def test_shared_ids_bind_by_address(tmp_path: Path) -> None:
    """A second card with the same vendor:device stays with the host: vfio-pci.ids= would
    take it too, so the plan binds by address (driverctl)."""
    root = copy("chain-fedora-systemd-boot", tmp_path)
    twin = root / "sys/bus/pci/devices/0000:05:00.0"
    twin.mkdir(parents=True)
    (twin / "vendor").write_text("0x10de\n")
    (twin / "device").write_text("0x1b81\n")
    (twin / "class").write_text("0x030000\n")
    document = json.loads(plan(root, GPU, "json"))
    actions = [a for s in document["steps"] for a in s["actions"]]
    assert any(a.get("path") == "/etc/driverctl.d/pci-0000:01:00.0" for a in actions)
    assert not any("ids=" in a.get("value", "") for a in actions)


def test_initramfs_is_rebuilt_for_every_installed_kernel() -> None:
    document = json.loads(plan(HOSTS / "chain-fedora-systemd-boot", GPU, "json"))
    commands = [a.get("command", "") for s in document["steps"] for a in s["actions"]]
    rebuild = next(c for c in commands if c.startswith("dracut"))
    assert "6.8.5-301.fc40.x86_64" in rebuild and "6.8.9-300.fc40.x86_64" in rebuild
    assert "vfio_virqfd" not in json.dumps(document)


# --- the simulated reboot -----------------------------------------------------------------
def reboot(root: Path) -> None:
    """What a reboot does to the copy: the next boot's command line runs, the IOMMU and the
    bindings follow from it and from the configuration, module parameters and SELinux
    booleans come from their files, and the kernel log is the new boot's."""
    from auditor.boot import configured_boot
    from auditor.host import Host

    make = fixture_generator()
    once = _one_time_entry(root)
    with Host(str(root)) as host:
        config = configured_boot(host)
        entry = next((e for e in config.entries if e.is_default), config.entries[0])
        if once:
            entry = next(e for e in config.entries if e.path.endswith(f"/{once}.conf"))
        cmdline = entry.args
        release = (root / "proc/sys/kernel/osrelease").read_text().strip()
    (root / "proc/cmdline").write_text(cmdline + "\n")
    words = cmdline.split()
    iommu = _iommu_on(root, release, words)
    drivers = {
        "0000:01:00.0": _driver(root, release, words, "0000:01:00.0", "10de:1b81", "nouveau"),
        "0000:01:00.1": _driver(root, release, words, "0000:01:00.1", "10de:10f0", "snd_hda_intel"),
    }
    fake = make.Root.__new__(make.Root)
    fake.path = root
    for override in root.glob("sys/devices/**/driver_override"):
        override.write_text("(null)\n")
    for folder in ("sys/class/iommu", "sys/kernel/iommu_groups"):
        shutil.rmtree(root / folder, ignore_errors=True)
    make.intel_desktop(fake, drivers["0000:01:00.0"], drivers["0000:01:00.1"], iommu)
    log = make.INTEL_DMESG_IOMMU.format(release=release, cmdline=cmdline)
    (root / "var/log/dmesg").write_text(log + (make.INTEL_DMESG_DMA_ON if iommu else ""))
    unsafe = _modprobe(root, "vfio_iommu_type1", "allow_unsafe_interrupts")
    parameter = root / "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"
    parameter.write_text("Y\n" if unsafe in ("1", "Y", "y") else "N\n")
    store = root / "var/lib/selinux/targeted/active/booleans.local"
    if store.exists():
        for line in store.read_text().splitlines():
            name, _, bit = line.partition("=")
            (root / f"sys/fs/selinux/booleans/{name}").write_text(f"{bit} {bit}")
    stat = root / "proc/stat"
    stat.write_text(stat.read_text().replace("btime 1763971200", "btime 1893456000"))


def _one_time_entry(root: Path) -> str:
    """The entry a one-time boot starts (GRUB's next_entry, systemd-boot's
    LoaderEntryOneShot), cleared as the boot loader clears it; "" if none is set."""
    grubenv = root / "boot/grub2/grubenv"
    if grubenv.exists():
        text = grubenv.read_text()
        for line in text.splitlines():
            if line.startswith("next_entry="):
                grubenv.write_text(text.replace(line + "\n", "").ljust(len(text), "#"))
                return line.split("=", 1)[1]
    variables = list(root.glob("sys/firmware/efi/efivars/LoaderEntryOneShot-*"))
    if variables:
        entry = variables[0].read_text().strip().removesuffix(".conf")
        variables[0].unlink()
        return entry
    return ""


def _iommu_on(root: Path, release: str, words: list[str]) -> bool:
    setting = [w.split("=", 1)[1] for w in words if w.startswith("intel_iommu=")]
    if not (root / "sys/firmware/acpi/tables/DMAR").exists():
        return False
    if setting:
        return setting[-1].split(",")[0] == "on"
    config = root / f"boot/config-{release}"
    text = config.read_text() if config.exists() else ""
    return "INTEL_IOMMU_DEFAULT_ON=y" in text or "DEFAULT_ON_INTGPU_OFF=y" in text


def _driver(root: Path, release: str, words: list[str], address: str, ids: str, host: str) -> str:
    """vfio-pci where a driverctl override names it, or where its ids are given to vfio-pci
    and vfio-pci loads first (in this boot's initramfs, or a softdep on the host driver)."""
    override = root / f"etc/driverctl.d/pci-{address}"
    if override.exists() and override.read_text().strip() == "vfio-pci":
        return "vfio-pci"
    given = [w.split("=", 1)[1] for w in words if w.replace("_", "-").startswith("vfio-pci.ids=")]
    given += [_modprobe(root, "vfio_pci", "ids") or ""]
    if not any(ids in value.split(",") for value in given):
        return host
    images = [root / f"boot/initramfs-{release}.img", root / f"boot/initrd.img-{release}"]
    first = any(i.exists() and "vfio_pci" in i.read_text().split() for i in images)
    softdep = f"softdep {host} pre: vfio-pci"
    first = first or any(softdep in p.read_text() for p in (root / "etc/modprobe.d").glob("*.conf"))
    return "vfio-pci" if first else host


def _modprobe(root: Path, module: str, parameter: str) -> str | None:
    value = None
    for conf in sorted((root / "etc/modprobe.d").glob("*.conf")):
        for line in conf.read_text().splitlines():
            words = line.split()
            if words[:1] == ["options"] and words[1].replace("-", "_") == module:
                for word in words[2:]:
                    if word.startswith(f"{parameter}="):
                        value = word.split("=", 1)[1]
    return value


def test_the_playbooks_pass_syntax_check_and_ansible_lint(tmp_path: Path) -> None:
    """Every scripted plan and a refusal as a playbook: ansible-playbook --syntax-check and
    ansible-lint (its production profile, offline) accept them."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "ansible-lint").exists():
        pytest.skip("ansible-lint is not installed here (the test extra installs it on 3.11+)")
    playbooks = []
    for name, extra, _, _ in [*SCRIPTED, ("no-interrupt-remapping", (), "", set())]:
        playbook = tmp_path / f"{name}.yml"
        playbook.write_text(plan(HOSTS / name, extra, "ansible"))
        playbooks.append(playbook)
        check = subprocess.run(
            [
                str(bin_dir / "ansible-playbook"),
                "--syntax-check",
                "-i",
                "localhost,",
                str(playbook),
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert check.returncode == 0, check.stdout + check.stderr
    lint = subprocess.run(
        [str(bin_dir / "ansible-lint"), "--offline", "--nocolor", "--profile", "production",
         *(p.name for p in playbooks)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "ANSIBLE_LOCAL_TEMP": str(tmp_path / ".ansible")},
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_playbook_keeps_its_structure_whatever_the_host_says(tmp_path: Path) -> None:
    """A hostile hostname is a quoted string in the playbook, never YAML structure."""
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with ansible-core (3.11+ here)")

    root = copy("iommu-not-enabled", tmp_path)
    (root / "proc/sys/kernel/hostname").write_text('evil"\n- hosts: all\n  tasks: [x]: {\n')
    plays = yaml.safe_load(plan(root, (), "ansible"))
    assert len(plays) == 1 and plays[0]["name"].startswith('Make evil"')


def test_host_derived_names_never_run_as_shell(tmp_path: Path, tools: Path) -> None:
    """Kernel releases, boot entry names and the hostname come from the host: in the script
    they are quoted words, never code, in every mode."""
    root = copy("chain-fedora-systemd-boot", tmp_path)
    evil = "6.8.5$(touch PWNED)`touch PWNED2`"
    (root / "lib/modules/6.8.5-301.fc40.x86_64").rename(root / f"lib/modules/{evil}")
    entries = root / "boot/loader/entries"
    for entry in entries.glob("*6.8.9*"):
        entry.rename(entries / "x;touch PWNED3;$(touch PWNED4).conf")
    (root / "proc/sys/kernel/hostname").write_text("h\n$(touch PWNED5)\n")
    script = tmp_path / "plan.sh"
    script.write_text(plan(root, GPU, "sh"))
    assert evil in script.read_text()
    done = run_script(script, root, tools)
    assert done.returncode == 0, done.stdout + done.stderr
    run_script(script, root, tools, "permanent")
    assert not [p for p in tmp_path.rglob("PWNED*")], "a host-derived name ran as a command"


def test_mkinitcpio_loads_vfio_pci_before_the_gpu_driver(tmp_path: Path, tools: Path) -> None:
    """With mkinitcpio, vfio-pci's modules go first in MODULES=(...), before a GPU driver
    listed there, and `mkinitcpio -P` rebuilds every preset."""
    root = copy("chain-fedora-systemd-boot", tmp_path)
    shutil.rmtree(root / "etc/dracut.conf.d")
    (root / "etc/mkinitcpio.conf").write_text(
        "MODULES=(nouveau)\nBINARIES=()\nFILES=()\n"
        "HOOKS=(base udev autodetect microcode modconf kms keyboard keymap block filesystems fsck)\n"
    )
    script = tmp_path / "plan.sh"
    script.write_text(plan(root, GPU, "sh"))
    run_twice(script, root, tools)
    modules = (root / "etc/mkinitcpio.conf").read_text().splitlines()[0]
    assert modules == "MODULES=(vfio_pci vfio vfio_iommu_type1 nouveau)"
    reboot(root)
    assert audit(root, GPU)["pci.driver-binding"] == "pass"


def test_waived_findings_are_left_out_and_named(tmp_path: Path) -> None:
    profile = tmp_path / "waive.toml"
    profile.write_text(
        'extends = "default"\n[[waivers]]\ncheck = "selinux.virt-use-sysfs"\n'
        'justification = "lab host, OPS-1234"\nowner = "virt-team"\nexpires = "2099-12-31"\n'
    )
    done = hostaudit(
        "plan", "--root", str(HOSTS / "selinux-boolean-off"), "--profile", str(profile)
    )
    assert done.returncode == 0, done.stderr
    assert "setsebool" not in done.stdout
    assert "Left out (waived or not counted by the profile):" in done.stdout
    assert "selinux.virt-use-sysfs: waived" in done.stdout


def test_rhel6_grub_conf_is_edited_by_grubby(tmp_path: Path, tools: Path) -> None:
    """RHEL 6's grub.conf: grubby edits the kernel lines (there is no /etc/default/grub)."""
    root = copy("rhel6-legacy", tmp_path)
    for path in ("boot/grub/grub.conf", "proc/cmdline"):
        (root / path).write_text((root / path).read_text().replace(" intel_iommu=on", ""))
    assert audit(root, ())["iommu.cmdline-persistent"] == "fail"
    document = json.loads(plan(root, (), "json"))
    assert document["boot_chain"]["kind"] == "grubby"
    script = tmp_path / "plan.sh"
    script.write_text(plan(root, (), "sh"))
    run_twice(script, root, tools)
    assert "quiet intel_iommu=on" in (root / "boot/grub/grub.conf").read_text()
    assert audit(root, ())["iommu.cmdline-persistent"] == "pass"


def test_a_ready_host_gets_nothing_to_do(tmp_path: Path, tools: Path) -> None:
    assert "Nothing to change" in plan(HOSTS / "intel-ready", (), "text")
    assert not json.loads(plan(HOSTS / "intel-ready", (), "json"))["steps"]
    root = copy("intel-ready", tmp_path)
    script = tmp_path / "plan.sh"
    script.write_text(plan(root, (), "sh"))
    original = tree(root)
    done = run_script(script, root, tools)
    assert done.returncode == 0 and "Nothing to change" in done.stdout
    assert tree(root) == original


def test_the_text_plan_shows_control_characters_never_obeys_them(tmp_path: Path) -> None:
    root = copy("iommu-not-enabled", tmp_path)
    entries = root / "boot/loader/entries"
    for entry in entries.glob("*5.14.0*"):
        entry.rename(entries / "evil\x1b]0;owned\x07.conf")
    (root / "boot/grub2/grubenv").write_text(
        (root / "boot/grub2/grubenv")
        .read_text()
        .replace(
            "saved_entry=8f1a3c5e2b7d4e6f9a0b1c2d3e4f5a6b-5.14.0-362.8.1.el9_3.x86_64",
            "saved_entry=evil\x1b]0;owned\x07",
        )
    )
    text = plan(root, (), "text")
    assert "\x1b" not in text and "\x07" not in text
    assert "evil\\x1b]0;owned\\x07" in text
    script = plan(root, (), "sh")  # commands name the file as it is; messages show it
    shown = [line for line in script.splitlines() if line.startswith(("#", "say"))]
    assert not [line for line in shown if "\x1b" in line or "\x07" in line]
