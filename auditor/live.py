"""The live-host adapter: the only place psutil and pyudev are used.

Both are imported when first needed, never at start-up, and the tool keeps working
where libudev is missing (containers): callers fall back to plain files.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator


class LiveFacts:
    """What only the running host can tell, beside its files: a reader of the live "/"
    hands one out (Reader.live_facts()), every other reader none. Checks and facts ask the
    host for it (`host.live`), never whether the host is live."""

    def boot_time(self) -> float | None:
        return boot_time()

    def hostname(self) -> str:
        return hostname()

    def udev_names(self) -> dict[str, str] | None:
        return udev_names()

    def qemu_guests(self) -> list[tuple[int, int, list[str]]]:
        return qemu_guests()


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


def is_qemu(executable: str | None) -> bool:
    """Whether a process's executable is a QEMU system emulator: upstream's
    qemu-system-ARCH, RHEL's /usr/libexec/qemu-kvm (a binary replaced by an upgrade shows as
    "... (deleted)"). argv[0] is the process's own word and proves nothing (`exec -a`)."""
    name = os.path.basename(executable or "")
    return name.startswith("qemu-system-") or name.split(" ", 1)[0] == "qemu-kvm"


def qemu_guests() -> list[tuple[int, int, list[str]]]:
    """(pid, effective uid, argv) of every process whose executable is QEMU. Command lines of
    other users' processes are readable in /proc (mode 0444), their executables only as root
    (a process whose executable cannot be read is not taken for QEMU); each command line is
    kept only while it is looked at, whatever the number and size of the others."""
    try:
        import psutil
    except ImportError:  # hostaudit.pyz: the /proc files psutil itself reads
        commands: Iterator[tuple[int, int, str | None, list[str]]] = _proc_processes()
    else:
        commands = (
            (
                int(info["pid"]),
                info["uids"].effective if info.get("uids") else -1,
                info.get("exe"),
                list(info.get("cmdline") or []),
            )
            for info in (
                process.info for process in psutil.process_iter(["pid", "uids", "exe", "cmdline"])
            )
        )
    return [(pid, uid, argv) for pid, uid, exe, argv in commands if argv and is_qemu(exe)]


# A QEMU command line with many devices runs to tens of kilobytes; the kernel caps argv at
# ARG_MAX (2 MiB on x86_64 by default).
MAX_CMDLINE_BYTES = 2 * 1024 * 1024


def _proc_processes() -> Iterator[tuple[int, int, str | None, list[str]]]:
    """(pid, owner uid, executable, argv) of each process, from /proc/PID (the folder's
    owner, the exe link, the NUL-separated cmdline)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            uid = os.stat(f"/proc/{name}").st_uid
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                raw = handle.read(MAX_CMDLINE_BYTES)
        except OSError:
            continue  # the process ended, or is a kernel thread of another namespace
        try:
            executable: str | None = os.readlink(f"/proc/{name}/exe")
        except OSError:
            executable = None  # another user's process, read without root
        argv = raw.rstrip(b"\0").split(b"\0") if raw else []
        yield int(name), uid, executable, [arg.decode("utf-8", "surrogateescape") for arg in argv]
