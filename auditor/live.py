"""The live-host adapter: the only place psutil and pyudev are used.

Both are imported when first needed, never at start-up, and the tool keeps working
where libudev is missing (containers): callers fall back to plain files.
"""

from __future__ import annotations

import os


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


def qemu_guests() -> list[tuple[int, list[str]]] | None:
    """(pid, argv) of every process whose command line runs QEMU, None without psutil.
    Command lines of other users' processes are readable in /proc (mode 0444)."""
    try:
        import psutil
    except ImportError:
        return None
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        argv = process.info.get("cmdline") or []
        if argv and "qemu" in os.path.basename(argv[0]):
            found.append((int(process.info["pid"]), list(argv)))
    return found
