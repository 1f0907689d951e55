"""`hostaudit plan`: from an audit's findings to an ordered plan for this host.

Checks state what must change as data (model.Change); this planner decides how and when on
the host at hand: which boot chain takes a kernel argument (auditor.bootchain), how a device
is bound (by vendor:device only when no device the host keeps shares it), which initramfs
generator must load vfio-pci first, and where the reboot falls. It knows no check by name,
and it changes nothing: renderers (reports/plan_*.py) print the plan as text, a POSIX shell
script, an Ansible playbook or JSON.

Order (one step per change, deduplicated): what only a person can do (firmware settings in
the words setup menus use, hardware), the kernel command line, device binding, the
initramfs, SELinux and module options, the reboot, then the re-audit against the report
taken before.
"""

from __future__ import annotations

from auditor.bootchain import BootChain, detect, installed_kernels, package_manager, sets_word
from auditor.errors import HostError, NotCollectedError
from auditor.facts import running_cmdline
from auditor.host import Host
from auditor.model import Change, ChangeKind, Report, Result, Status
from auditor.record import field, record

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from auditor.binding import BindingConfig

PHASES = (
    "before you start",
    "by hand",
    "kernel command line",
    "device binding",
    "initramfs",
    "SELinux and module options",
    "reboot",
    "verify",
    # Where the boot loader offers a one-time boot, the command line is first tried once;
    # these steps make it permanent after the re-audit of that boot passes (`sh plan.sh
    # permanent`).
    "make permanent",
)
STATE = "/var/lib/hostaudit/plan"
BASELINE = f"{STATE}/before.json"
# The modules that bind a device to vfio-pci in the initramfs. vfio_virqfd is never listed:
# Linux 6.2 merged it into vfio (commit e2d55709398e), and dracut and mkinitcpio refuse a
# module the kernel lacks; vfio_pci's own dependencies (vfio_pci_core, 5.16+) come with it.
VFIO_MODULES = ("vfio_pci", "vfio", "vfio_iommu_type1")
DRIVERCTL_DIR = "/etc/driverctl.d"
# Why a chain gets no one-time trial boot, and the way back if the new boot fails.
NO_TRIAL = {
    "grub-mkconfig": "no one-time boot: grub-reboot needs GRUB_DEFAULT=saved, which would "
    "change how this host picks its entry; if the new boot fails, pick the recovery entry in "
    "the GRUB menu and restore the backups",
    "kernelstub": "no one-time boot: kernelstub rewrites the entry it manages; if the new boot "
    "fails, pick the Pop_OS-oldkern entry in the systemd-boot menu and restore the backups",
    "proxmox": "no one-time boot: proxmox-boot-tool writes every ESP's entries at once; if the "
    "new boot fails, pick the previous kernel in the boot menu and restore the backups",
    "": "no one-time boot for this boot loader; if the new boot fails, pick the previous "
    "kernel or a rescue entry in the boot menu and restore the backups",
}
MODPROBE_VFIO = "/etc/modprobe.d/vfio.conf"
DRACUT_VFIO = "/etc/dracut.conf.d/vfio.conf"


@record
class Action:
    """One change the shell script makes; every kind is idempotent where it is applied.

    kinds: run (`command`, skipped when the shell test `unless` holds), trial-entry (a copy
    of the entry `command` at `path`, its options gaining the words of `value` and losing
    those of `name`), remove (a file this plan wrote), words-add and
    words-remove (a word in a one-line file such as /etc/kernel/cmdline), var-add and
    var-remove (a word in a shell assignment `name` of /etc/default/grub; var-first puts it
    first), line (a line in a
    file, created if absent), token-remove (`value` off the `options <name>` lines of a
    modprobe.d file), sysfs (write `value` to a writable module parameter), regenerate
    (`command`, run once after any edit its phase made)."""

    kind: str
    path: str = ""
    value: str = ""
    name: str = ""
    command: str = ""
    unless: str = ""

    def describe(self) -> str:
        """The action in words, for the text plan and a check's remediation."""
        action = self
        kind = action.kind
        if kind in ("run", "regenerate"):
            return f"$ {action.command}" + (
                f"   (unless: {action.unless})" if action.unless else ""
            )
        return action.words()

    def words(self) -> str:
        """What the action does, without the shell test that skips it."""
        action = self
        kind = action.kind
        if kind in ("run", "regenerate"):
            return action.command
        if kind == "line":
            return f"{action.path}: the line `{action.value}`"
        if kind.startswith("words-"):
            return f"{action.path}: {kind[6:]} {action.value}"
        if kind == "var-first":
            return f"{action.path}: {action.value} first in {action.name}"
        if kind.startswith("var-"):
            return f"{action.path}: {kind[4:]} {action.value} {'to' if kind == 'var-add' else 'from'} {action.name}"
        if kind == "token-remove":
            return f"{action.path}: remove {action.value}= from `options {action.name}`"
        if kind == "trial-entry":
            return (
                f"{action.path}: a copy of {action.command} whose options gain "
                f"{action.value or 'nothing'} and lose {action.name or 'nothing'}"
            )
        if kind == "remove":
            return f"remove {action.path}"
        if kind == "sysfs":
            return f"{action.path}: write {action.value} (the running kernel)"
        return f"{kind} {action.path} {action.value}"


@record
class Step:
    """One change to the host, the checks it fixes, and why it is made this way."""

    phase: str
    title: str
    fixes: tuple[str, ...] = ()
    why: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()
    undo: tuple[str, ...] = ()
    # For a person: what to do where no tool can (firmware setup, moving a card).
    manual: str = ""
    reboot: bool = False


@record(frozen=False)
class Plan:
    """The steps for one host, and what the plan leaves out and why."""

    hostname: str
    kernel_release: str
    chain: BootChain
    steps: list[Step] = field(default_factory=list)
    # Values the audit could not read, as questions for a person; never a silent placeholder.
    questions: list[str] = field(default_factory=list)
    # Waived and not-counted findings: not planned, named.
    left_out: list[str] = field(default_factory=list)
    # Only a dangerous option would help: the plan says so and plans nothing.
    stopped: list[str] = field(default_factory=list)
    # Checks whose fix waits on an answer to one of the questions.
    unsure: set[str] = field(default_factory=set)
    # The arguments a one-time trial boot adds and removes (space-separated), when there is one.
    trial: tuple[str, str] | None = None

    @property
    def fixes(self) -> list[str]:
        """The checks the plan's own steps fix: each passes at the re-audit after the reboot
        (tests/test_plan.py holds it to that). Not those that need a person's step or wait
        on a question (by_hand)."""
        waiting = set(self.by_hand)
        found = [
            check
            for step in self.steps
            for check in step.fixes
            if step.phase != "verify" and check not in waiting
        ]
        return list(dict.fromkeys(found))

    @property
    def by_hand(self) -> list[str]:
        """The checks that pass only after a person's step, or an answer to a question."""
        manual = [
            check
            for step in self.steps
            for check in step.fixes
            if step.manual and not step.actions and step.phase not in ("reboot", "verify")
        ]
        return list(dict.fromkeys([*manual, *sorted(self.unsure)]))

    @property
    def scriptable(self) -> bool:
        """Whether a shell script can carry it out (not for configured, declarative hosts)."""
        return not self.chain.declarative and self.chain.kind != "unknown" and not self.stopped


def make_plan(report: Report, host: Host) -> Plan:
    """The plan for `host`, from the audit `report` of it."""
    chain = detect(host)
    plan = Plan(report.host.hostname, report.host.kernel_release, chain)
    wanted: dict[tuple[str, str, str], tuple[Change, list[str]]] = {}
    advice: list[Result] = []
    for result in report.results:
        if not result.selected or result.status in (Status.PASS, Status.SKIP):
            continue
        if result.status is Status.WAIVED or result.not_counted:
            plan.left_out.append(f"{result.check.id}: {result.status.value}, not counted")
        elif result.status is Status.ERROR:
            plan.steps.append(_make_visible(result))
        elif result.outcome.changes:
            for change in result.outcome.changes:
                found = wanted.setdefault(change.key, (change, []))
                found[1].append(result.check.id)
        else:
            advice.append(result)
    stops = [(c, ids) for c, ids in wanted.values() if c.kind is ChangeKind.NO_SAFE_FIX]
    if stops:
        plan.stopped = [f"{c.target} ({', '.join(ids)}): {c.detail}" for c, ids in stops]
        return plan
    by_kind: dict[ChangeKind, list[tuple[Change, list[str]]]] = {}
    for change, ids in wanted.values():
        by_kind.setdefault(change.kind, []).append((change, ids))
    planner = _Planner(host, chain, plan)
    for change, ids in by_kind.get(ChangeKind.FIRMWARE, []):
        planner.firmware(change, ids)
    for change, ids in by_kind.get(ChangeKind.MANUAL, []):
        planner.manual(change.target, change.detail, ids)
    for result in advice:
        title = result.check.title
        planner.manual(
            f"see to it that {title[:1].lower()}{title[1:]}",
            " ".join(result.remediation),
            [result.check.id],
        )
    binding = planner.binding(by_kind.get(ChangeKind.BIND, []))
    arguments = [
        (change, ids)
        for kind in (ChangeKind.KERNEL_ARG_REMOVE, ChangeKind.KERNEL_ARG_ADD)
        for change, ids in by_kind.get(kind, [])
    ]
    planner.kernel_arguments(arguments + binding.arguments)
    plan.steps += binding.steps
    for change, ids in by_kind.get(ChangeKind.SELINUX_BOOLEAN, []):
        planner.selinux(change, ids)
    for change, ids in by_kind.get(ChangeKind.MODULE_OPTION, []):
        planner.module_option(change, ids)
    reboot_for = [check for _, ids in by_kind.get(ChangeKind.REBOOT, []) for check in ids]
    if plan.steps or reboot_for:  # nothing to change: nothing to verify either
        planner.reboot_and_verify(reboot_for)
    plan.steps.sort(key=lambda step: PHASES.index(step.phase))
    return plan


def argument_steps(host: Host, add: list[str], remove: list[str]) -> list[str]:
    """A check's remediation for kernel arguments: what `hostaudit plan` does with them on
    this host's boot chain, in words (the plan adds the order, a one-time trial boot where
    the boot loader offers one, and the re-audit)."""
    chain = detect(host)
    planner = _Planner(host, chain, Plan("", "", chain))
    steps: list[str] = []
    for arg, adding in [(arg, False) for arg in remove] + [(arg, True) for arg in add]:
        actions, _ = planner._argument_actions(arg, adding)
        steps += [action.words() for action in actions] or [planner._declarative(arg, adding)]
    if chain.regenerate:
        steps.append(f"Write the boot entries again: {planner._regenerate_command()}")
    steps.append("Reboot the host; `hostaudit plan` gives every step in order and verifies them.")
    return steps


def _make_visible(result: Result) -> Step:
    """An error: how to let the check see, not the failure's fix."""
    message = result.outcome.message
    # HostError says "needs root" for what only root may read (auditor.errors.NeedsRootError).
    root = "needs root" in message
    how = (
        "run hostaudit plan as root on the host itself"
        if root
        else "audit the host itself (or a snapshot taken as root with `hostaudit snapshot`) so "
        "that the file it names is read"
    )
    return Step(
        "before you start",
        f"let {result.check.id} see: {how}",
        why=(f"{result.check.id}: {message}",),
        manual=f"{result.check.id} could not tell ({message}); {how}, then make the plan again: "
        "this plan cannot fix what the audit could not see.",
    )


@record(frozen=False)
class _Binding:
    """How the devices to bind are bound: arguments for the command line, and the steps."""

    arguments: list[tuple[Change, list[str]]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)


class _Planner:
    """Turns changes into steps for one host and boot chain."""

    def __init__(self, host: Host, chain: BootChain, plan: Plan) -> None:
        self.host = host
        self.chain = chain
        self.plan = plan

    def add(self, step: Step) -> None:
        self.plan.steps.append(step)

    def firmware(self, change: Change, ids: list[str]) -> None:
        self.add(
            Step(
                "by hand",
                f"enable {change.target} in the firmware setup",
                tuple(ids),
                manual=f"At the reboot, enter the firmware setup and set {change.target} to "
                f"{change.value or 'enabled'} ({change.detail}).",
                reboot=True,
            )
        )

    def manual(self, title: str, detail: str, ids: list[str]) -> None:
        self.add(Step("by hand", title, tuple(ids), manual=detail))

    # --- the kernel command line, as this chain takes it ----------------------------------
    def kernel_arguments(self, arguments: list[tuple[Change, list[str]]]) -> None:
        if not arguments:
            return
        chain = self.chain
        why: tuple[str, ...] = (f"boot chain: {chain.label}",)
        trial = self._trial(arguments, why)
        phase = "make permanent" if trial else "kernel command line"
        if not trial and not chain.declarative:
            why = (*why, NO_TRIAL.get(chain.kind, NO_TRIAL[""]))
        if trial:  # first, so that the tools below never see it as one of the host's entries
            self.add(
                Step(
                    phase,
                    f"remove the trial entry {trial}",
                    why=("the default entries get the same command line next",),
                    actions=(Action("remove", trial),),
                )
            )
        for change, ids in arguments:
            adding = change.kind is ChangeKind.KERNEL_ARG_ADD
            arg = change.target
            verb = "add" if adding else "remove"
            actions, undo = self._argument_actions(arg, adding)
            self.add(
                Step(
                    phase,
                    f"{verb} {arg} {'to' if adding else 'from'} the kernel command line",
                    tuple(ids),
                    why,
                    tuple(actions),
                    tuple(undo),
                    manual="" if actions else self._declarative(arg, adding),
                    reboot=True,
                )
            )
        if chain.regenerate:
            all_ids = tuple(dict.fromkeys(i for _, ids in arguments for i in ids))
            self.add(
                Step(
                    phase,
                    f"write the boot entries again: {self._regenerate_words()}",
                    all_ids,
                    why,
                    (Action("regenerate", command=self._regenerate_command(), name="boot"),),
                    (f"after restoring the backups, run {self._regenerate_words()} again",),
                )
            )

    def _trial(self, arguments: list[tuple[Change, list[str]]], why: tuple[str, ...]) -> str:
        """Where the boot loader boots an entry once (GRUB's next_entry with BLS entries,
        systemd-boot's LoaderEntryOneShot), a copy of the default entry with the new command
        line, booted once: a boot that fails falls back to the unchanged default at the
        next reset. Returns the trial entry's path ("" where there is no one-time boot)."""
        from auditor.boot import configured_boot

        kind = self.chain.kind
        config = configured_boot(self.host)
        default = next((e for e in config.entries if e.is_default), None)
        if kind not in ("grubby", "kernel-install") or config.loader != "bls" or default is None:
            return ""
        add_words = [c.target for c, _ in arguments if c.kind is ChangeKind.KERNEL_ARG_ADD]
        remove_words = [c.target for c, _ in arguments if c.kind is ChangeKind.KERNEL_ARG_REMOVE]

        def has_it(args: str) -> bool:
            words = args.split()
            return all(w in words for w in add_words) and not any(w in words for w in remove_words)

        if has_it(default.args) or has_it(self._running_args()):
            return ""  # nothing new to try: the next boot has it, or this boot proved it
        stem = default.path.rsplit("/", 1)[-1][: -len(".conf")]
        trial = f"/boot/loader/entries/{stem}-hostaudit-trial.conf"
        entry_id = f"{stem}-hostaudit-trial"
        add, remove = " ".join(add_words), " ".join(remove_words)
        if kind == "grubby":
            once = Action(
                "run",
                command=f"grub2-reboot {_quote(entry_id)}",
                unless=f'grep -qxF {_quote("next_entry=" + entry_id)} "$R/boot/grub2/grubenv"',
            )
            how = f"grub2-reboot {entry_id} (GRUB boots it once; the default entry is unchanged)"
        else:
            once = Action("run", command=f"bootctl set-oneshot {_quote(entry_id + '.conf')}")
            how = f"bootctl set-oneshot {entry_id}.conf (systemd-boot boots it once)"
        fixes = tuple(dict.fromkeys(i for _, ids in arguments for i in ids))
        self.add(
            Step(
                "kernel command line",
                "boot the new command line once, from a copy of the default entry",
                fixes,
                (*why, f"default entry: {default.path}", how),
                (Action("trial-entry", trial, add, remove, default.path), once),
                (f"remove {trial}; the default entry was not changed",),
                reboot=True,
            )
        )
        self.plan.trial = (add, remove)
        return trial

    def _running_args(self) -> str:
        """The running kernel's command line ("" where it cannot be read)."""
        try:
            return " ".join(str(param) for param in running_cmdline(self.host))
        except (HostError, NotCollectedError):
            return ""

    def _regenerate_words(self) -> str:
        if self.chain.regenerate == "kernel-install":
            return "kernel-install add for every installed kernel"
        return self.chain.regenerate

    def _regenerate_command(self) -> str:
        if self.chain.regenerate != "kernel-install":
            return self.chain.regenerate
        kernels = installed_kernels(self.host)
        if not kernels:
            self.plan.questions.append(
                "Which kernels are installed? (none found under /lib/modules or in the boot "
                "entries): run kernel-install add RELEASE /lib/modules/RELEASE/vmlinuz for each"
            )
        return " && ".join(
            f"kernel-install add {_quote(release)} {_quote(f'/lib/modules/{release}/vmlinuz')}"
            for release in kernels
        )

    def _argument_actions(self, arg: str, adding: bool) -> tuple[list[Action], list[str]]:
        chain = self.chain
        verb, inverse = ("add", "remove") if adding else ("remove", "add")
        actions: list[Action] = []
        undo: list[str] = []
        if chain.kind == "grubby":
            option = "--args" if adding else "--remove-args"
            back = "--remove-args" if adding else "--args"
            test = f"entries_have {_quote(arg)}"
            actions.append(
                Action(
                    "run",
                    command=f"grubby --update-kernel=ALL {option}={_quote(arg)}",
                    unless=test if adding else f"! entries_any {_quote(arg)}",
                )
            )
            undo.append(f"grubby --update-kernel=ALL {back}={_quote(arg)}")
            # New kernels and a later grub2-mkconfig take their options from these files.
            if chain.cmdline_file:
                actions += self._grub_var(arg, adding)
            if self.host.exists("/etc/kernel/cmdline"):
                actions.append(Action(f"words-{verb}", "/etc/kernel/cmdline", arg))
        elif chain.kind == "kernelstub":
            option, back = ("-a", "-d") if adding else ("-d", "-a")
            actions.append(
                Action(
                    "run",
                    command=f"kernelstub {option} {_quote(arg)}",
                    unless=f"kernelstub_has {_quote(arg)}"
                    if adding
                    else f"! kernelstub_has {_quote(arg)}",
                )
            )
            undo.append(f"kernelstub {back} {_quote(arg)}")
        elif chain.cmdline_file == "/etc/kernel/cmdline":
            actions.append(Action(f"words-{verb}", "/etc/kernel/cmdline", arg))
        elif chain.grub_files:
            actions += self._grub_var(arg, adding)
        if actions and not undo:
            undo.append(f"{inverse} {arg} again: restore the backed-up files")
        return actions, undo

    def _grub_var(self, arg: str, adding: bool) -> list[Action]:
        """GRUB_CMDLINE_LINUX: added where the winning assignment is, removed everywhere
        (both variables, every file) so that no drop-in brings it back."""
        if adding:
            return [Action("var-add", self.chain.cmdline_file, arg, "GRUB_CMDLINE_LINUX")]
        return [
            Action("var-remove", path, arg, name)
            for path in self.chain.grub_files
            for name in ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")
            if sets_word(self.host, path, name, arg)
        ]

    def _declarative(self, arg: str, adding: bool) -> str:
        kind = self.chain.kind
        if kind == "nixos":
            where = "to" if adding else "from"
            return (
                f'In configuration.nix, {"add" if adding else "remove"} "{arg}" {where} '
                "boot.kernelParams, then nixos-rebuild boot: the host is configured, not scripted."
            )
        if kind == "rpm-ostree":
            option = "--append-if-missing" if adding else "--delete-if-present"
            return f"rpm-ostree kargs {option}={arg} (a new deployment: the rest is configuration)"
        if kind == "bootc":
            return (
                f'In the image, {"list" if adding else "drop"} "{arg}" in kargs of a '
                "/usr/lib/bootc/kargs.d/*.toml file, build it and bootc upgrade: the host is "
                "configured by its image, not scripted."
            )
        self.plan.questions.append(
            "Which boot loader does this host use? None of grubby's BLS entries, grub.cfg, "
            "kernelstub, /etc/kernel/cmdline or grub.conf was found."
        )
        return f"{'Add' if adding else 'Remove'} {arg} in the boot loader's kernel command line."

    # --- binding --------------------------------------------------------------------------
    def binding(self, changes: list[tuple[Change, list[str]]]) -> _Binding:
        from auditor.binding import read_binding_config

        result = _Binding()
        if not changes:
            return result
        if self.chain.declarative:
            result.steps.append(self._declarative_binding(changes))
            return result
        config = read_binding_config(self.host)
        shared = self._shared_ids(changes)
        existing_ids = config.vfio_ids()
        by_address = bool(shared) or bool(existing_ids)
        why = []
        if shared:
            why.append(
                "bound by address: the host keeps a device with the same vendor:device "
                f"({', '.join(sorted(shared))}), which vfio-pci.ids= would take too"
            )
        elif existing_ids:
            why.append(
                f"bound by address: {existing_ids[0][0]} already sets ids=, which a second "
                "options line would override"
            )
        if by_address:
            self._bind_by_address(changes, why, result)
        else:
            self._bind_by_id(changes, config, result)
        return result

    def _declarative_binding(self, changes: list[tuple[Change, list[str]]]) -> Step:
        ids = ",".join(sorted({change.value for change, _ in changes}))
        modules = " ".join(f'"{module}"' for module in VFIO_MODULES)
        if self.chain.kind == "nixos":
            how = (
                f"In configuration.nix: boot.initrd.kernelModules = [ {modules} ]; and "
                f'boot.extraModprobeConfig = "options vfio-pci ids={ids}"; then nixos-rebuild boot.'
            )
        else:
            how = (
                f"Add vfio-pci.ids={ids} to the kernel arguments the same way as above "
                "(vfio-pci then binds the devices wherever it loads), and put vfio-pci into the "
                "initramfs of the image (rpm-ostree initramfs --enable --arg=--add-drivers "
                "--arg=vfio-pci, or in the image build for bootc)."
            )
        fixes = tuple(dict.fromkeys(i for _, found in changes for i in found))
        return Step(
            "device binding",
            f"bind {ids} to vfio-pci at every boot",
            fixes,
            (f"{self.chain.label}: configured, not scripted",),
            manual=how,
            reboot=True,
        )

    def _shared_ids(self, changes: list[tuple[Change, list[str]]]) -> set[str]:
        """vendor:device ids of the devices to bind that another device here also has."""
        from auditor.pci import all_devices, read_device

        binding = {change.target for change, _ in changes}
        ids = {change.value for change, _ in changes}
        shared = set()
        for address in all_devices(self.host):
            if address in binding:
                continue
            device = read_device(self.host, address)
            if device is not None and device.vendor_device in ids:
                shared.add(device.vendor_device)
        return shared

    def _bind_by_address(
        self, changes: list[tuple[Change, list[str]]], why: list[str], result: _Binding
    ) -> None:
        if not any(self.host.exists(p) for p in ("/usr/sbin/driverctl", "/usr/bin/driverctl")):
            install = f"{package_manager(self.host)} install -y driverctl"
            result.steps.append(
                Step(
                    "device binding",
                    "install driverctl, which applies per-address overrides at boot",
                    tuple(dict.fromkeys(i for _, ids in changes for i in ids)),
                    ("driverctl is not installed here",),
                    (
                        Action(
                            "run",
                            command=install,
                            unless='[ -e "$R/usr/sbin/driverctl" ] || [ -e "$R/usr/bin/driverctl" ]',
                        ),
                    ),
                    ("the package may stay; it binds nothing without overrides",),
                )
            )
        for change, ids in changes:
            path = f"{DRIVERCTL_DIR}/pci-{change.target}"
            result.steps.append(
                Step(
                    "device binding",
                    f"bind {change.target} ({change.value}) to vfio-pci at every boot "
                    "(driverctl override)",
                    tuple(ids),
                    (*why, "written as driverctl(8) saves an override; applied at the next boot"),
                    (Action("line", path, "vfio-pci"),),
                    (f"driverctl unset-override {change.target} (or remove {path})",),
                    reboot=True,
                )
            )

    def _bind_by_id(
        self, changes: list[tuple[Change, list[str]]], config: BindingConfig, result: _Binding
    ) -> None:
        ids = ",".join(sorted({change.value for change, _ in changes}))
        fixes = tuple(dict.fromkeys(i for _, found in changes for i in found))
        why = ["bound by vendor:device: no device the host keeps has the same ids"]
        drivers = sorted({change.detail for change, _ in changes if change.detail})
        unknown = [change.target for change, _ in changes if not change.detail]
        if unknown and not self._initramfs_generator():
            self.plan.unsure.update(fixes)
            self.plan.questions.append(
                "Which tool builds this host's initramfs? None of dracut, initramfs-tools or "
                "mkinitcpio is configured here; vfio-pci must load before the host driver."
            )
        if unknown:
            self.plan.questions.append(
                f"Which driver claims {', '.join(unknown)} at boot? The device is not on its "
                "host driver now; `lspci -k -s ADDRESS` names it under 'Kernel modules'. Add "
                "`softdep DRIVER pre: vfio-pci` for it, or rely on the initramfs step."
            )
        if config.vfio_builtin:
            why.append(f"vfio-pci is built in ({config.vfio_builtin}): ids= go on the command line")
            change = Change(ChangeKind.KERNEL_ARG_ADD, f"vfio-pci.ids={ids}")
            result.arguments.append((change, list(fixes)))
            return
        actions = [Action("line", MODPROBE_VFIO, f"options vfio-pci ids={ids}")]
        actions += [
            Action("line", MODPROBE_VFIO, f"softdep {driver} pre: vfio-pci") for driver in drivers
        ]
        result.steps.append(
            Step(
                "device binding",
                f"bind {ids} to vfio-pci at every boot, before "
                f"{', '.join(drivers) or 'the host driver'}",
                fixes,
                tuple(why),
                tuple(actions),
                (f"remove the lines this step added to {MODPROBE_VFIO}",),
                reboot=True,
            )
        )
        result.steps.extend(self._initramfs(fixes))

    def _initramfs_generator(self) -> str:
        """dracut, initramfs-tools or mkinitcpio, by the configuration the host has ("" none)."""
        host = self.host
        if host.exists("/etc/dracut.conf.d") or host.exists("/etc/dracut.conf"):
            return "dracut"
        if host.exists("/etc/initramfs-tools"):
            return "initramfs-tools"
        if host.exists("/etc/mkinitcpio.conf"):
            return "mkinitcpio"
        return ""

    def _initramfs(self, fixes: tuple[str, ...]) -> list[Step]:
        """vfio-pci in the initramfs of every installed kernel, so it claims first."""
        kernels = installed_kernels(self.host)
        modules = " ".join(VFIO_MODULES)
        generator = self._initramfs_generator()
        if generator == "dracut":
            edit = Action("line", DRACUT_VFIO, f'force_drivers+=" {modules} "')
            rebuild = " && ".join(
                f"dracut -f {_quote(f'/boot/initramfs-{release}.img')} {_quote(release)}"
                for release in kernels
            )
        elif generator == "initramfs-tools":
            edit = Action("line", "/etc/initramfs-tools/modules", "vfio_pci")
            rebuild = "update-initramfs -u -k all"
        elif generator == "mkinitcpio":
            # MODULES load in order: vfio-pci's before any GPU driver listed there (Arch wiki,
            # PCI passthrough via OVMF), so they go first.
            edit = Action("var-first", "/etc/mkinitcpio.conf", "vfio_iommu_type1", "MODULES")
            rebuild = "mkinitcpio -P"
        else:  # softdep lines alone order the modules (_bind_by_id asks where they cannot)
            return []
        if not rebuild:
            self.plan.questions.append("Which kernels are installed? None was found.")
            return []
        extra = []
        if generator == "initramfs-tools":
            extra = [Action("line", "/etc/initramfs-tools/modules", m) for m in VFIO_MODULES[1:]]
        elif generator == "mkinitcpio":  # prepended last to first: vfio_pci ends up first
            extra = [Action("var-first", edit.path, m, "MODULES") for m in ("vfio", "vfio_pci")]
        return [
            Step(
                "initramfs",
                f"load vfio-pci in the initramfs ({generator}), before the host driver",
                fixes,
                (f"initramfs generator: {generator} (its configuration is here)",),
                (edit, *extra),
                (f"remove what this step added to {edit.path}, then rebuild again",),
                reboot=True,
            ),
            Step(
                "initramfs",
                f"rebuild the initramfs of every installed kernel ({', '.join(kernels)})",
                fixes,
                (f"installed kernels: {', '.join(kernels)}",),
                (Action("regenerate", command=rebuild, name="initramfs"),),
                ("rebuild again after restoring the backups",),
                reboot=True,
            ),
        ]

    # --- SELinux and module options -------------------------------------------------------
    def selinux(self, change: Change, ids: list[str]) -> None:
        value = change.value or "on"
        back = "off" if value == "on" else "on"
        self.add(
            Step(
                "SELinux and module options",
                f"set the SELinux boolean {change.target} {value}, persistently",
                tuple(ids),
                ("setsebool -P writes the policy store: kept across reboots",),
                (
                    Action(
                        "run",
                        command=f"setsebool -P {change.target} {value}",
                        unless=f"getsebool {change.target} | grep -q -- '--> {value}$'",
                    ),
                ),
                (f"setsebool -P {change.target} {back}",),
            )
        )

    def module_option(self, change: Change, ids: list[str]) -> None:
        module, _, parameter = change.target.partition(".")
        actions = []
        undo = []
        for path in change.where:
            if path.startswith("/sys/module/"):
                actions.append(Action("sysfs", path, change.value))
                undo.append(
                    f"the running value returns at the next boot unless the files say so ({path})"
                )
            elif path.startswith("/etc/"):
                actions.append(Action("token-remove", path, parameter, module))
                undo.append(f"restore {path} from its backup")
            else:  # a package's file: an /etc file of the same name overrides it (modprobe.d(5))
                copy = f"/etc/modprobe.d/{path.rsplit('/', 1)[-1]}"
                actions.append(
                    Action(
                        "run",
                        command=f'cp -p "$R"{_quote(path)} "$R"{_quote(copy)}',
                        unless=f'[ -e "$R"{_quote(copy)} ]',
                    )
                )
                actions.append(Action("token-remove", copy, parameter, module))
                undo.append(f"remove {copy}")
        self.add(
            Step(
                "SELinux and module options",
                f"turn {change.target} off (set to {change.value}) where it is set",
                tuple(ids),
                tuple(f"set in {path}" for path in change.where),
                tuple(actions),
                tuple(undo),
            )
        )

    # --- reboot and verification ----------------------------------------------------------
    def reboot_and_verify(self, reboot_for: list[str]) -> None:
        steps = self.plan.steps
        needs = [step for step in steps if step.reboot and step.phase != "make permanent"]
        fixes = tuple(dict.fromkeys([*(i for s in needs for i in s.fixes), *reboot_for]))
        if needs or reboot_for:
            firmware = [s for s in needs if s.phase == "by hand"]
            self.add(
                Step(
                    "reboot",
                    "reboot the host",
                    fixes,
                    tuple(f"needed by: {s.title}" for s in needs[:8]),
                    manual="Reboot"
                    + (" and enter the firmware setup on the way (see above)" if firmware else "")
                    + ". Nothing above takes effect before it.",
                )
            )
        fixed = tuple(dict.fromkeys(i for s in steps for i in s.fixes))
        by_hand = self.plan.by_hand
        after = f" ({', '.join(by_hand)} once the steps by hand are done)" if by_hand else ""
        self.add(
            Step(
                "verify",
                "audit again and compare with the report taken before the plan",
                fixed,
                manual=f"hostaudit audit --baseline {BASELINE}: the checks this plan fixes must "
                f"now pass{after}, and nothing may newly fail.",
            )
        )


def _quote(word: str) -> str:
    """A word for the shell, quoted only when it must be."""
    import shlex

    return shlex.quote(word)
