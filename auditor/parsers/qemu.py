"""A QEMU command line: the guest's name and the host PCI devices it was given.

QEMU takes `-name guest=NAME,...` (or a bare `-name NAME`) and assigned devices as
`-device vfio-pci,host=0000:01:00.0,...` or `sysfsdev=/sys/bus/pci/devices/ADDRESS`; libvirt 7
and later write -device as JSON (`{"driver":"vfio-pci","host":"0000:01:00.0",...}`), see
qemu/docs/system/invocation and libvirt qemuBuildPCIHostdevDevProps().
"""

from __future__ import annotations

from auditor.parsers.pci import normalise_address
from auditor.record import record


@record
class QemuGuest:
    """One QEMU process: its guest name and the host addresses it holds."""

    pid: int
    name: str
    devices: tuple[str, ...]


def parse_qemu(pid: int, argv: list[str]) -> QemuGuest | None:
    """The guest of a QEMU command line, None when it is not one or assigns nothing."""
    name = ""
    devices: list[str] = []
    for option, value in zip(argv, argv[1:]):
        if option == "-name":
            first = value.split(",", 1)[0]
            name = first[6:] if first.startswith("guest=") else first
        elif option == "-device":
            address = _vfio_address(value)
            if address:
                devices.append(address)
    if not devices:
        return None
    return QemuGuest(pid, name or f"pid {pid}", tuple(devices))


def _vfio_address(spec: str) -> str | None:
    """The host address of a -device vfio-pci specification, None for other devices."""
    if spec.startswith("{"):
        import json

        try:
            props = json.loads(spec)
        except (ValueError, RecursionError):  # `{"a":[[[[...` nested past the parser's depth
            return None
        if not isinstance(props, dict) or props.get("driver") != "vfio-pci":
            return None
        host = props.get("host") or props.get("sysfsdev") or ""
    else:
        driver, _, rest = spec.partition(",")
        if driver != "vfio-pci":
            return None
        options = dict(item.partition("=")[::2] for item in rest.split(","))
        host = options.get("host") or options.get("sysfsdev") or ""
    if not isinstance(host, str):
        return None
    try:
        return normalise_address(host.rstrip("/").rsplit("/", 1)[-1])
    except ValueError:
        return None
