"""The live-host adapter: the only place psutil and pyudev are used.

Both are imported when first needed, never at start-up, and the tool keeps working
where libudev is missing (containers): callers fall back to plain files.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator


def boot_time() -> float | None:
    """Boot time of this machine from psutil (which reads /proc/stat btime)."""
    try:
        import psutil
    except ImportError:
        return None
    return float(psutil.boot_time())


def hostname() -> str:
    """This machine's host name (what gethostname() returns on Linux, without importing socket)."""
    return os.uname().nodename


def udev_names() -> dict[str, str] | None:
    """`vendor model` names of every PCI device from the udev database, None if unavailable.

    pyudev loads libudev with ctypes; a missing library raises ImportError or OSError.
    """
    try:
        import pyudev

        context = pyudev.Context()
        devices = list(context.list_devices(subsystem="pci"))
    except (ImportError, OSError):
        return None
    names: dict[str, str] = {}
    for device in devices:
        properties = device.properties
        vendor = properties.get("ID_VENDOR_FROM_DATABASE", "")
        model = properties.get("ID_MODEL_FROM_DATABASE", "")
        name = " ".join(part for part in (vendor, model) if part)
        if name:
            names[device.sys_name] = name
    return names


def qemu_guests() -> list[tuple[int, list[str]]]:
    """(pid, argv) of every process whose command line runs QEMU.
    Command lines of other users' processes are readable in /proc (mode 0444); each is kept
    only while it is looked at, whatever the number and size of the others."""
    try:
        import psutil
    except ImportError:  # hostaudit.pyz: the /proc files psutil itself reads
        commands: Iterator[tuple[int, list[str]]] = _proc_command_lines()
    else:
        commands = (
            (int(process.info["pid"]), list(process.info.get("cmdline") or []))
            for process in psutil.process_iter(["pid", "cmdline"])
        )
    return [(pid, argv) for pid, argv in commands if argv and "qemu" in os.path.basename(argv[0])]


# A QEMU command line with many devices runs to tens of kilobytes; the kernel caps argv at
# ARG_MAX (2 MiB on x86_64 by default).
MAX_CMDLINE_BYTES = 2 * 1024 * 1024


def _proc_command_lines() -> Iterator[tuple[int, list[str]]]:
    """(pid, argv) of each process, from /proc/PID/cmdline (NUL-separated arguments)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                raw = handle.read(MAX_CMDLINE_BYTES)
        except OSError:
            continue  # the process ended, or is a kernel thread of another namespace
        argv = raw.rstrip(b"\0").split(b"\0") if raw else []
        yield int(name), [arg.decode("utf-8", "surrogateescape") for arg in argv]
