"""The CPU must offer hardware virtualization (Intel VT-x / AMD-V) and KVM must be usable (/dev/kvm).

The kernel clears the `vmx` flag when VT-x is disabled in firmware, so a missing flag is
explained with the kernel log where it says so. A /dev/kvm without vmx/svm is a
software or paravirtual KVM (such as kvm_pvm inside a cloud VM), which cannot assign
physical devices.
"""

from __future__ import annotations

from auditor.context import Context
from auditor.errors import HostError
from auditor.facts import CPUINFO, KMSG, SAVED_DMESG, kernel_log
from auditor.model import Check, Evidence, Outcome, Severity, Status, outcome
from auditor.parsers.kernel_log import find
from auditor.parsers.procfs import cpu_flags

KVM_DEVICE = "/dev/kvm"
HARDWARE_MODULES = {"vmx": "kvm_intel", "svm": "kvm_amd"}
# Kernel messages when firmware keeps virtualization off: arch/x86/kernel/cpu/feat_ctl.c,
# arch/x86/kvm/svm/svm.c, arch/x86/kvm/vmx/vmx.c.
FIRMWARE_OFF_LINES = (
    "VMX (outside TXT) disabled by BIOS",
    "disabled by bios",
    "SVM disabled (by BIOS)",
)

CHECK = Check(
    id="cpu.virtualization",
    title="Hardware virtualization (VT-x/AMD-V) and KVM are available",
    severity=Severity.CRITICAL,
    reads=(
        CPUINFO,
        KVM_DEVICE,
        "/sys/module/kvm",
        "/sys/module/kvm_intel",
        "/sys/module/kvm_amd",
        "/sys/module/kvm_pvm",
        KMSG,
        SAVED_DMESG,
    ),
    remediation=(
        "Enable Intel Virtualization Technology (VT-x) or AMD SVM in the firmware setup.",
        "Load the KVM module: modprobe kvm_intel (Intel) or modprobe kvm_amd (AMD).",
    ),
    references=("arch/x86/kernel/cpu/feat_ctl.c", "virt-host-validate(1)"),
)


def run(ctx: Context) -> Outcome:
    host = ctx.host
    try:
        vendor, flags = cpu_flags(host.read_text(CPUINFO))
    except HostError as exc:
        return outcome(Status.ERROR, f"cannot read {CPUINFO}: {exc}")
    hardware = sorted(flag for flag in HARDWARE_MODULES if flag in flags)
    kvm = host.exists(KVM_DEVICE)
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
        Evidence(KVM_DEVICE, "present" if kvm else "absent"),
        Evidence("/sys/module", ", ".join(modules) or "no kvm modules loaded"),
    ]
    if hardware and kvm:
        return outcome(
            Status.PASS, f"{'/'.join(hardware)} present and {KVM_DEVICE} available", evidence
        )
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
    try:
        log = kernel_log(host)
        firmware_off = find(log.messages, *FIRMWARE_OFF_LINES)
        evidence += [Evidence(log.source, line) for line in firmware_off[:3]]
    except HostError:
        firmware_off = []
    if firmware_off:
        return outcome(
            Status.FAIL, "hardware virtualization is disabled in the firmware setup", evidence
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
