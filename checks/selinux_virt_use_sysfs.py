"""With SELinux enforcing, the virt_use_sysfs boolean must be on for libvirt to manage PCI devices.

The RHEL 6 procedure runs `setsebool -P virt_use_sysfs 1`. Current policies no longer
define the boolean (sysfs access is always allowed): absent means not applicable.
"""

from __future__ import annotations

from auditor.context import Context
from auditor.errors import FileMissingError, HostError
from auditor.model import Change, ChangeKind, Check, Evidence, Outcome, Severity, Status, outcome
from auditor.parsers.selinux import parse_boolean, parse_booleans_local, parse_config

SELINUXFS = ("/sys/fs/selinux", "/selinux")  # /selinux on RHEL 6
BOOLEAN = "virt_use_sysfs"
SELINUX_CONFIG = "/etc/selinux/config"
# Where `setsebool -P` records booleans: libsemanage store (RHEL 7+), then RHEL 6's.
BOOLEANS_LOCAL = (
    "/var/lib/selinux/{policy}/active/booleans.local",
    "/etc/selinux/{policy}/modules/active/booleans.local",
)
FIX = f"setsebool -P {BOOLEAN} 1"
TURN_ON = (Change(ChangeKind.SELINUX_BOOLEAN, BOOLEAN, "on"),)

CHECK = Check(
    id="selinux.virt-use-sysfs",
    title="SELinux allows libvirt to manage PCI devices (virt_use_sysfs)",
    severity=Severity.MEDIUM,
    passes=(
        "with SELinux enabled and a policy that defines it, `virt_use_sysfs` is on now and "
        "persistently"
    ),
    reads=(
        "/sys",
        *(f"{fs}/enforce" for fs in SELINUXFS),
        *(f"{fs}/booleans/{BOOLEAN}" for fs in SELINUXFS),
        SELINUX_CONFIG,
        "/var/lib/selinux/*/active/booleans.local",
        "/etc/selinux/*/modules/active/booleans.local",
    ),
    remediation=(FIX,),
    references=(
        "RHEL 6 Virtualization Host Configuration Guide, PCI device assignment",
        "setsebool(8)",
    ),
    accepts=(
        (
            "selinuxfs (/sys/fs/selinux or RHEL 6's /selinux): enforce and booleans/virt_use_sysfs,"
            " or a sosreport's sestatus -b"
        ),
        "booleans.local and /etc/selinux/config for the value after a reboot",
    ),
)


def run(ctx: Context) -> Outcome:
    host = ctx.host
    selinuxfs = next((fs for fs in SELINUXFS if host.exists(f"{fs}/enforce")), None)
    if selinuxfs is None:
        if not host.is_dir("/sys"):  # a bare capture: the absence of selinuxfs says nothing
            return outcome(
                Status.SKIP, "cannot tell: this root holds no /sys, where selinuxfs would be"
            )
        return outcome(
            Status.SKIP, "SELinux is disabled (no selinuxfs mounted at /sys/fs/selinux or /selinux)"
        )
    evidence: list[Evidence] = []
    try:
        enforce = host.read_text(f"{selinuxfs}/enforce", limit=64).strip()
    except HostError as exc:
        return outcome(Status.ERROR, f"cannot read the SELinux mode: {exc}")
    enforcing = enforce == "1"
    evidence.append(
        Evidence(
            f"{selinuxfs}/enforce", f"{enforce} ({'enforcing' if enforcing else 'permissive'})"
        )
    )
    path = f"{selinuxfs}/booleans/{BOOLEAN}"
    try:
        current, pending = parse_boolean(host.read_text(path, limit=64))
    except HostError as exc:
        if isinstance(exc, FileMissingError):
            return outcome(
                Status.SKIP,
                f"the loaded policy does not define {BOOLEAN} (current policies allow sysfs access): not applicable",
                evidence,
            )
        return outcome(Status.ERROR, f"cannot read {path}: {exc}", evidence)
    except ValueError as exc:
        return outcome(Status.ERROR, f"{path} is malformed: {exc}", evidence)
    evidence.append(Evidence(path, f"current {int(current)}, pending {int(pending)}"))

    persistent = _persistent(ctx, evidence)
    if not current:
        status = Status.FAIL if enforcing else Status.WARN
        mode = (
            "SELinux is enforcing"
            if enforcing
            else "SELinux is permissive, so nothing is blocked yet"
        )
        return outcome(status, f"{BOOLEAN} is off ({mode})", evidence, (FIX,), changes=TURN_ON)
    if not pending:
        return outcome(
            Status.WARN,
            f"{BOOLEAN} is on but a pending change turns it off",
            evidence,
            (FIX,),
            changes=TURN_ON,
        )
    if persistent is False:
        return outcome(
            Status.WARN,
            f"{BOOLEAN} is on now but not persistently: it is off after reboot",
            evidence,
            (FIX,),
            changes=TURN_ON,
        )
    return outcome(Status.PASS, f"{BOOLEAN} is on", evidence)


def _persistent(ctx: Context, evidence: list[Evidence]) -> bool | None:
    """The value `setsebool -P` stored, None when none was stored (the policy default applies)."""
    host = ctx.host
    try:
        policy = parse_config(host.read_text(SELINUX_CONFIG)).get("SELINUXTYPE", "targeted")
    except HostError:
        policy = "targeted"
    for pattern in BOOLEANS_LOCAL:
        path = pattern.format(policy=policy)
        try:
            text = host.read_text(path)
        except HostError:
            continue
        value = parse_booleans_local(text).get(BOOLEAN)
        if value is not None:
            evidence.append(Evidence(path, f"{BOOLEAN}={int(value)}"))
            return value
    return None
