"""What a check's run receives: the host, the profile, the devices meant for guests, the
guest definitions, and earlier results."""

from __future__ import annotations

from auditor.host import Host
from auditor.model import Check, Evidence, Outcome
from auditor.record import field, record

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from auditor.errors import HostError
    from auditor.parsers.libvirt import Domain
    from auditor.profile import Profile

LIBVIRT_QEMU = "/etc/libvirt/qemu"
# What each device check says when no device is meant for guests.
NO_TARGETS = "no devices to assign: pass --device, or bind devices to vfio-pci"
# A guest definition is a few KiB; one over this is refused, not read in part.
MAX_DOMAIN_BYTES = 4 << 20


@record(frozen=False)
class Context:
    """Per-audit state shared by the checks."""

    host: Host
    # Normalised device selectors from --device: addresses or vendor:device.
    requested_devices: tuple[str, ...] = ()
    profile: Profile | None = None
    # Guest definitions given with --domain-xml, as (file name, text): read by the CLI,
    # since they live outside the audited root.
    domain_xml: tuple[tuple[str, str], ...] = ()
    results: dict[str, Outcome] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    _names: dict[str, str] | None = None
    _targets: tuple[tuple[str, ...], str] | None = None
    _guests: list[tuple[str, Domain | str]] | None = None

    def param(self, check: Check, name: str) -> Any:
        """A check parameter: the profile's value, else the check's declared default."""
        defaults = dict(check.params)
        if name not in defaults:
            raise KeyError(f"{check.id} declares no parameter {name!r}")
        if self.profile is not None:
            return self.profile.policy(check.id).params.get(name, defaults[name])
        return defaults[name]

    def targets(self) -> tuple[tuple[str, ...], str]:
        """The devices to be assigned, and how they were chosen (for messages and evidence)."""
        if self._targets is None:
            self._targets = self._find_targets()
        return self._targets

    def targets_evidence(self) -> Evidence:
        """The devices to be assigned and how they were chosen, as a device check's evidence."""
        targets, how = self.targets()
        return Evidence("targets", f"{', '.join(targets)} ({how})")

    def _find_targets(self) -> tuple[tuple[str, ...], str]:
        # PCI code loads only for audits that look at devices.
        from auditor.pci import ASSIGNMENT_DRIVERS, bound_to, resolve_selectors

        if self.requested_devices:
            selectors, how = self.requested_devices, "given with --device"
        elif self.profile is not None and self.profile.devices:
            from auditor.parsers.pci import parse_selector

            selectors = tuple(parse_selector(text) for text in self.profile.devices)
            how = f"named by profile {self.profile.name}"
        else:
            bound = bound_to(self.host, ASSIGNMENT_DRIVERS)
            assigned = [
                hostdev.address
                for _, domain in self.guests()
                if not isinstance(domain, str)
                for hostdev in domain.hostdevs
            ]
            how = "bound to " + " or ".join(ASSIGNMENT_DRIVERS)
            if assigned:
                how += " or assigned to libvirt guests"
            return tuple(sorted(set(bound) | set(assigned))), how
        addresses, unmatched = resolve_selectors(self.host, selectors)
        self.notices += [
            f"device identifier {s} ({how}) matches no device on this host" for s in unmatched
        ]
        return tuple(addresses), how

    def guests(self) -> list[tuple[str, Domain | str]]:
        """libvirt guest definitions: (file, parsed domain, or why it could not be parsed);
        those under the root's /etc/libvirt/qemu, then those given with --domain-xml."""
        if self._guests is None:
            from auditor.errors import HostError

            texts: list[tuple[str, str | HostError]] = []
            for path in self.host.glob(f"{LIBVIRT_QEMU}/*.xml"):
                try:
                    texts.append((path, self.host.read_text(path, limit=MAX_DOMAIN_BYTES)))
                except HostError as exc:
                    texts.append((path, exc))
            texts += self.domain_xml
            self._guests = [] if not texts else self._parse(texts)
        return self._guests

    @staticmethod
    def _parse(texts: list[tuple[str, str | HostError]]) -> list[tuple[str, Domain | str]]:
        from auditor.errors import HostError
        from auditor.parsers.libvirt import parse_domain  # the XML parser, only for guests

        guests: list[tuple[str, Domain | str]] = []
        for source, text in texts:
            if isinstance(text, HostError):
                guests.append((source, str(text)))
                continue
            try:
                guests.append((source, parse_domain(text)))
            except ValueError as exc:
                guests.append((source, f"not a usable domain definition: {exc}"))
        return guests

    def names(self) -> dict[str, str]:
        """Device database names, looked up once and only when a check reports devices."""
        if self._names is None:
            from auditor.pci import device_names

            self._names = device_names(self.host)
        return self._names
