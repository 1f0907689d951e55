"""The CPU must offer hardware virtualization (Intel VT-x / AMD-V) and KVM must be usable (/dev/kvm).

The kernel clears the `vmx` flag when VT-x is disabled in firmware, so a missing flag is
explained with the kernel log where it says so. A /dev/kvm without vmx/svm is a
software or paravirtual KVM (such as kvm_pvm inside a cloud VM), which cannot assign
physical devices.
"""

from __future__ import annotations

from auditor.context import Context
from auditor.errors import HostError, NotCollectedError
from auditor.facts import CPUINFO, LOG_READS, kernel_log, kernel_release
from auditor.fixes import cpu_vendor, firmware_virtualization
from auditor.host import Host
from auditor.model import Check, Evidence, Outcome, Severity, Status, outcome
from auditor.parsers.kernel_log import firmware_disabled_virtualization
from auditor.parsers.procfs import cpu_flags, release_version

KVM_DEVICE = "/dev/kvm"
HARDWARE_MODULES = {"vmx": "kvm_intel", "svm": "kvm_amd"}
# Since Linux 5.6 the kernel clears the vmx flag when firmware leaves VT-x off
# (arch/x86/kernel/cpu/feat_ctl.c init_ia32_feat_ctl()): there the flag alone proves it on.
FLAG_CLEARED_SINCE = (5, 6)

CHECK = Check(
    id="cpu.virtualization",
    title="Hardware virtualization (VT-x/AMD-V) and KVM are available",
    severity=Severity.CRITICAL,
    passes=(
        "the CPU offers VT-x/AMD-V and `/dev/kvm` exists (a `/dev/kvm` without vmx/svm, such "
        "as `kvm_pvm` in a cloud VM, warns)"
    ),
    reads=(
        CPUINFO,
        KVM_DEVICE,
        "/sys/module/kvm",
        "/sys/module/kvm_intel",
        "/sys/module/kvm_amd",
        "/sys/module/kvm_pvm",
        *LOG_READS,
    ),
    remediation=(
        "Enable Intel Virtualization Technology (VT-x) or AMD SVM in the firmware setup.",
        "Load the KVM module: modprobe kvm_intel (Intel) or modprobe kvm_amd (AMD).",
    ),
    references=(
        "arch/x86/kernel/cpu/feat_ctl.c",
        "arch/x86/kvm/vmx/vmx.c, arch/x86/kvm/svm/svm.c, arch/x86/kvm/x86.c",
        "virt-host-validate(1)",
    ),
    accepts=(
        "the vmx/svm and hypervisor flags of /proc/cpuinfo",
        "/dev/kvm and the kvm modules under /sys/module",
        ("the kernel log's records of firmware keeping VT-x/AMD-V off, in every wording since 3.x"),
        (
            "without /dev/kvm (a sosreport): the CPU flags on Linux 5.6+ (which clears them when "
            "firmware keeps VT-x off), or a loaded kvm_intel/kvm_amd"
        ),
    ),
)

FIRMWARE_FIX = (
    "Enable Intel Virtualization Technology (VT-x) or AMD SVM in the firmware setup, then "
    "power-cycle the host.",
)


def run(ctx: Context) -> Outcome:
    host = ctx.host
    try:
        vendor, flags = cpu_flags(host.read_text(CPUINFO))
    except HostError as exc:
        return outcome(Status.ERROR, f"cannot read {CPUINFO}: {exc}")
    hardware = sorted(flag for flag in HARDWARE_MODULES if flag in flags)
    kvm_unknown = ""
    try:
        kvm: bool | None = host.exists(KVM_DEVICE)
    except NotCollectedError as exc:  # a sosreport holds no device nodes
        kvm, kvm_unknown = None, exc.reason
    modules = [
        name
        for name in ("kvm", "kvm_intel", "kvm_amd", "kvm_pvm")
        if host.exists(f"/sys/module/{name}")
    ]
    evidence = [
        Evidence(
            CPUINFO,
            f"vendor {vendor or 'unknown'}, flags: {' '.join(hardware) or 'no vmx/svm'}"
            + (", hypervisor" if "hypervisor" in flags else ""),
        ),
        Evidence(
            KVM_DEVICE, {True: "present", False: "absent", None: f"not known: {kvm_unknown}"}[kvm]
        ),
        Evidence("/sys/module", ", ".join(modules) or "no kvm modules loaded"),
    ]
    if hardware and kvm:
        return outcome(
            Status.PASS, f"{'/'.join(hardware)} present and {KVM_DEVICE} available", evidence
        )
    firmware_off: list[str] = []
    try:
        log = kernel_log(host)
        firmware_off = firmware_disabled_virtualization(log.messages)
        evidence += [Evidence(log.source, line) for line in firmware_off[:3]]
        evidence.append(log.about())
    except HostError:
        pass
    if firmware_off and not kvm:
        # Before Linux 5.6 the flag stays although firmware keeps VT-x off: the log decides.
        return outcome(
            Status.FAIL,
            f"hardware virtualization is disabled in the firmware setup (kernel log: {firmware_off[0]})",
            evidence,
            FIRMWARE_FIX,
            changes=(firmware_virtualization(cpu_vendor(vendor)),),
        )
    if hardware and kvm is None:
        return _without_dev_kvm(host, hardware, modules, evidence, kvm_unknown)
    if hardware:
        module = HARDWARE_MODULES[hardware[0]]
        return outcome(
            Status.FAIL,
            f"{hardware[0]} present but {KVM_DEVICE} is missing: KVM is not loaded",
            evidence,
            (
                f"modprobe {module}",
                f"Make it persistent: echo {module} > /etc/modules-load.d/kvm.conf",
            ),
        )
    if kvm:
        via = next((m for m in modules if m not in ("kvm", "kvm_intel", "kvm_amd")), "a module")
        return outcome(
            Status.WARN,
            f"{KVM_DEVICE} exists (via {via}) but the CPU reports no VT-x/AMD-V: software/paravirtual KVM, "
            "which cannot assign physical PCI devices",
            evidence,
            (
                "Audit a physical host, or a VM with nested hardware virtualization and a virtual IOMMU.",
            ),
        )
    if "hypervisor" in flags:
        return outcome(
            Status.FAIL,
            "this is a virtual machine without nested hardware virtualization",
            evidence,
            (
                "Enable nested virtualization for this VM on its hypervisor, or audit a physical host.",
            ),
        )
    return outcome(Status.FAIL, "the CPU reports no hardware virtualization (vmx/svm)", evidence)


def _without_dev_kvm(
    host: Host, hardware: list[str], modules: list[str], evidence: list[Evidence], why: str
) -> Outcome:
    """A capture without device nodes (a sosreport): the CPU flags decide, where the kernel
    clears them for firmware that keeps VT-x off (5.6+), or a loaded KVM module shows that
    it initialised (kvm_intel and kvm_amd refuse to load when firmware keeps it off)."""
    flag = "/".join(hardware)
    module = HARDWARE_MODULES[hardware[0]]
    release = kernel_release(host)
    if module in modules:
        return outcome(
            Status.PASS,
            f"{flag} present and {module} loaded ({KVM_DEVICE} not known: {why})",
            evidence,
        )
    if (release_version(release) or (0, 0)) >= FLAG_CLEARED_SINCE:
        return outcome(
            Status.PASS,
            f"{flag} present: the running kernel {release} clears it when firmware keeps it off "
            f"({KVM_DEVICE} not known: {why})",
            evidence,
        )
    return outcome(
        Status.SKIP,
        f"cannot tell: {flag} present, but kernel {release or '(release unknown)'} shows it even when "
        f"firmware keeps it off, and {module} is not loaded ({KVM_DEVICE}: {why})",
        evidence,
    )
