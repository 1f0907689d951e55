"""Generate hostaudit(1) from the argparse parser, with a hand-written DESCRIPTION and EXAMPLES.

    python3 packaging/manpage.py > hostaudit.1

Run at package build time where hostaudit is importable (the standard library only): every
subcommand, option, choice and the exit codes come from auditor.arguments.build_parser(ALL),
so the page cannot drift from what the parser accepts. The date is SOURCE_DATE_EPOCH's
(reproducible builds), left out when it is not set. Checked with `groff -man -ww -z`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

DESCRIPTION = r"""
.B hostaudit
checks whether a Linux host is ready for PCI device assignment (KVM/VFIO passthrough) and
says, with evidence, what is wrong and how to fix it on this host: the firmware's ACPI
DMAR/IVRS/IORT table, the IOMMU on the running and the configured kernel command line,
interrupt remapping, the unsafe-interrupt overrides, the SELinux boolean
.BR virt_use_sysfs ,
IOMMU group isolation, driver binding and reset of the devices to be assigned, and the
limits of libvirt guests.
.PP
It only reads files (sysfs, procfs, the boot configuration, the kernel log) and never
writes to the host it audits. Besides the running host it audits a root folder (a mounted
image), a snapshot archive made by
.BR "hostaudit snapshot" ,
or a sosreport. Reports are text, JSON (with a published schema), one self-contained HTML
file, JUnit XML, Prometheus text or a Nagios plugin line; a profile (TOML) sets severities,
devices and waivers.
.PP
Run it as root for a complete audit: the ACPI tables, the kernel log under
.I dmesg_restrict
and the guest definitions are readable by root only. A check that cannot read what it
needs ends in
.B error
(exit code 3), never in a guessed pass.
"""

ENVIRONMENT = r"""
.TP
.B NO_COLOR
When set to a non-empty value, text output is not coloured unless
.B \-\-color always
is given.
.TP
.B COLUMNS
The width that text output and help are wrapped to when it is not a terminal's.
"""

FILES = r"""
.TP
.I /proc/cmdline\fR, \fP/sys/firmware/acpi/tables\fR, \fP/sys/kernel/iommu_groups\fR, \fP/sys/bus/pci/devices
What the kernel says now (under
.B \-\-root
DIR, the same paths below DIR).
.TP
.I /etc/default/grub\fR, \fP/boot/loader/entries\fR, \fP/boot/grub2/grubenv\fR, \fP/etc/kernel/cmdline
What the next boot will use.
.TP
.I /etc/libvirt/qemu/*.xml
Guest definitions whose host devices are checked.
.TP
.I hostaudit.service\fR, \fPhostaudit.timer
In the systemd unit folder
.RI ( /lib/systemd/system
on Debian 12,
.I /usr/lib/systemd/system
elsewhere): a daily read-only audit, installed, not enabled:
.BR "systemctl enable \-\-now hostaudit.timer" .
It writes
.I /var/lib/hostaudit/report.json
and
.IR /var/lib/hostaudit/hostaudit.prom .
"""

EXAMPLES = r"""
.TP
.B hostaudit audit
Audit this host with the default profile.
.TP
.B hostaudit audit \-\-device 01:00.0 \-\-html report.html
Audit for the GPU at 01:00.0; also write an HTML report.
.TP
.B hostaudit audit \-\-profile production
Audit under the built-in production profile
.RB ( "hostaudit profiles"
lists them; a TOML file of your own may extend one).
.TP
.B hostaudit audit \-\-format nagios
A monitoring plugin: one line, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
.TP
.B hostaudit snapshot \-o hv01.tar.gz
Collect what the checks read, to audit elsewhere with
.BR "hostaudit audit \-\-snapshot hv01.tar.gz" .
.TP
.B hostaudit report \-\-html fleet.html hv*.json
One fleet report from the JSON reports of many hosts.
.TP
.B hostaudit explain iommu.group\-isolation
What a check reads, why, and how to fix what it finds.
"""

SEE_ALSO = r"""
.BR virt\-host\-validate (1),
.BR lspci (8),
.BR systemd.timer (5)
"""


def roff(text: str) -> str:
    """Plain text as roff: backslashes and hyphens escaped, no line taken for a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        "\\&" + line if line.startswith((".", "'")) else line for line in text.splitlines()
    )


def _first_lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _option(action: argparse.Action) -> str:
    """`\\-\\-profile \\fINAME|PATH\\fR`, or the positional's name in italics."""
    if not action.option_strings:
        return f"\\fI{roff(str(action.metavar or action.dest))}\\fR"
    value = ""
    if action.nargs != 0:
        if action.choices:
            value = " {" + ",".join(roff(str(choice)) for choice in action.choices) + "}"
        else:
            value = f" \\fI{roff(str(action.metavar or action.dest.upper()))}\\fR"
    return ", ".join(f"\\fB{roff(option)}\\fR{value}" for option in action.option_strings)


def _arguments(parser: argparse.ArgumentParser, lines: list[str], commands: bool = True) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if not commands:
                continue
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                words = [f"\\fI{roff(str(a.metavar))}\\fR" for a in sub._positionals._group_actions]
                lines += [".TP", " ".join([f"\\fB{roff(name)}\\fR", *words]), roff(helps[name])]
            continue
        if isinstance(action, argparse._HelpAction):
            continue
        lines += [".TP", _option(action), roff(action.help or "")]


def _exit_status(epilog: str) -> list[str]:
    """The parser's exit-code epilog: `  N  meaning` lines as tagged paragraphs."""
    lines: list[str] = []
    for line in epilog.splitlines():
        parts = line.split(None, 1)
        if line.startswith("  ") and parts and parts[0].isdigit():
            lines += [".TP", f".B {parts[0]}", roff(parts[1])]
        elif line.startswith("  "):
            lines.append(roff(line.strip()))
        elif line.strip():
            lines += [".PP", roff(line.strip())]
    return lines


def manpage() -> str:
    from auditor import __version__
    from auditor.arguments import ALL, EPILOG, build_parser

    os.environ["COLUMNS"] = "80"  # argparse wraps usage lines to it: the same page everywhere
    parser, commands = build_parser(ALL)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    date = time.strftime("%Y-%m-%d", time.gmtime(int(epoch))) if epoch else ""
    lines = [
        ".\\\" Generated by packaging/manpage.py from hostaudit's argparse parser: do not edit.",
        f'.TH HOSTAUDIT 1 "{date}" "hostaudit {__version__}" "User Commands"',
        ".SH NAME",
        "hostaudit \\- " + roff(_first_lower((parser.description or "").rstrip("."))),
        ".SH SYNOPSIS",
        ".B hostaudit",
        "[\\fB\\-\\-version\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
        ".SH DESCRIPTION",
        DESCRIPTION.strip(),
        ".SH COMMANDS",
    ]
    for name, sub in commands.items():
        usage = sub.format_usage().replace("usage: ", "", 1).rstrip()
        lines += [f".SS {roff(name)}", roff(sub.description or ""), ".PP", ".nf"]
        lines += [roff(usage), ".fi"]
        _arguments(sub, lines)
    lines += [".SH OPTIONS"]
    _arguments(parser, lines, commands=False)
    lines += [
        ".TP",
        "\\fB\\-h\\fR, \\fB\\-\\-help\\fR",
        "Print help (also after a command) and exit.",
    ]
    lines += [".SH EXIT STATUS", *_exit_status(EPILOG)]
    lines += [".SH ENVIRONMENT", ENVIRONMENT.strip()]
    lines += [".SH FILES", FILES.strip()]
    lines += [".SH EXAMPLES", EXAMPLES.strip()]
    lines += [".SH SEE ALSO", SEE_ALSO.strip()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(manpage())
