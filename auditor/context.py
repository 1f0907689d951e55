"""What a check's run receives: the host, the devices meant for guests, earlier results."""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.host import Host
from auditor.model import Outcome


@dataclass
class Context:
    """Per-audit state shared by the checks."""

    host: Host
    requested_devices: tuple[str, ...] = ()  # normalised addresses from --device
    results: dict[str, Outcome] = field(default_factory=dict)
    _names: dict[str, str] | None = None

    def targets(self) -> tuple[tuple[str, ...], str]:
        """The devices to be assigned, and how they were chosen (for messages and evidence)."""
        if self.requested_devices:
            return self.requested_devices, "given with --device"
        from auditor.pci import ASSIGNMENT_DRIVERS, bound_to  # only audits with devices need it

        bound = tuple(bound_to(self.host, ASSIGNMENT_DRIVERS))
        return bound, "bound to " + " or ".join(ASSIGNMENT_DRIVERS)

    def names(self) -> dict[str, str]:
        """Device database names, looked up once and only when a check reports devices."""
        if self._names is None:
            from auditor.pci import device_names

            self._names = device_names(self.host)
        return self._names
