"""Audit profiles: TOML files, validated by profiles/profile.schema.json, resolved through
`extends`, then applied to the checks and their outcomes (severity, waivers, what blocks).

A bad profile is a ProfileError naming the file, the key path (as TOML spells it, e.g.
`checks."kvm.unsafe-interrupts".severity`), what was found and what was expected.
"""

from __future__ import annotations

import json
import os

from auditor.errors import ProfileError
from auditor.model import Check, DeviceResult, Evidence, Outcome, Severity, Status, said_of
from auditor.record import field, record, replace

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    import datetime
    from collections.abc import Sequence
    from typing import Any, Protocol

    from auditor.schema import SchemaError, Validator

    class LoadedCheck(Protocol):
        """What a profile needs of a loaded check (auditor.registry.LoadedCheck): its
        header. Named here, not imported, so that the profile does not depend on the
        registry that runs checks in a context that holds a profile."""

        @property
        def check(self) -> Check: ...


DEFAULT = "default"
SCHEMA_FILE = "profile.schema.json"
MAX_PROFILE_BYTES = 1 << 20
EXPIRY_WARNING_DAYS = 14
POLICY_KEYS = ("enabled", "severity", "warn_fails")  # the rest of a check's table are params


@record
class CheckPolicy:
    """What a profile says about one check."""

    enabled: bool = True
    severity: Severity | None = None  # None: the check's own
    warn_fails: bool = False
    params: dict[str, Any] = field(default_factory=dict)


@record
class Waiver:
    """An accepted failure of a check (optionally of one device) until `expires` (UTC)."""

    check: str
    device: str  # normalised address, or "" for the whole check
    justification: str
    owner: str
    expires: datetime.date

    def describe(self) -> str:
        target = f"{self.check} on {self.device}" if self.device else self.check
        return f"waiver for {target} ({self.owner}, {self.justification})"


@record
class Profile:
    """A fully resolved profile."""

    name: str
    sources: tuple[str, ...] = ()  # the files it was resolved from, most specific first
    description: str = ""
    fail_on: Severity = Severity.INFO
    devices: tuple[str, ...] = ()
    checks: dict[str, CheckPolicy] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    # Check id patterns (fnmatch) whose checks must be judged: a skip or an error of one of
    # them is an error that counts.
    require: tuple[str, ...] = ()

    def requires(self, check_id: str) -> bool:
        """Whether this profile requires the check to be judged."""
        if not self.require:
            return False
        from fnmatch import fnmatchcase

        return any(fnmatchcase(check_id, pattern) for pattern in self.require)

    def policy(self, check_id: str) -> CheckPolicy:
        return self.checks.get(check_id, CheckPolicy())

    def header(self, check: Check) -> Check:
        """The check header with the profile's severity."""
        severity = self.policy(check.id).severity
        return replace(check, severity=severity) if severity is not None else check

    def blocking(self, check: Check, status: Status) -> bool:
        """Whether a result counts against this profile: a failure or an error (or a warning
        the profile makes fail) of a check at or above fail_on."""
        if check.severity < self.fail_on:
            return False
        return status in (Status.FAIL, Status.ERROR) or (
            status is Status.WARN and self.policy(check.id).warn_fails
        )


# profiles/default.toml as a constant (tests/test_profiles.py keeps the two equal): an
# audit with the default profile reads no TOML and imports no tomllib or
# importlib.resources (~15 ms of a live audit's start-up).
DEFAULT_PROFILE = Profile(
    name=DEFAULT,
    sources=("builtin:default",),
    description="Every check, every failure counts; warnings only warn.",
    fail_on=Severity.INFO,
)


def builtin_names() -> list[str]:
    """The built-in profiles shipped in profiles/."""
    from importlib.resources import files

    return sorted(
        entry.name[:-5]
        for entry in files("auditor.profiles").iterdir()
        if entry.name.endswith(".toml")
    )


def load_profile(name_or_path: str, checks: Sequence[LoadedCheck]) -> Profile:
    """Load a built-in profile by name or a profile file by path, resolving `extends`."""
    if name_or_path == DEFAULT:
        return DEFAULT_PROFILE  # no TOML parser for the audit most hosts run
    headers = {item.check.id: item.check for item in checks}
    layers: list[tuple[str, dict[str, Any]]] = []
    seen: list[str] = []
    reference, base_folder = name_or_path, os.getcwd()
    while True:
        source, text = _read(reference, base_folder)
        if source in seen:
            chain = " -> ".join([*seen, source])
            raise ProfileError(source, "extends", f"a cycle: {chain}", "a chain that ends")
        seen.append(source)
        data = _parse(source, text)
        _check_semantics(source, data, headers)
        layers.append((source, data))
        parent = data.get("extends")
        if parent is None:
            break
        reference = parent
        base_folder = os.path.dirname(source) if not source.startswith("builtin:") else base_folder
    return _merge(_profile_name(name_or_path), layers)


def _profile_name(reference: str) -> str:
    if _is_path(reference):
        return os.path.splitext(os.path.basename(reference))[0]
    return reference


def _is_path(reference: str) -> bool:
    return "/" in reference or reference.endswith(".toml")


def _read(reference: str, base_folder: str) -> tuple[str, str]:
    """(source name, text) of a built-in name or a path relative to base_folder."""
    if not _is_path(reference):
        from importlib.resources import files

        if reference not in builtin_names():
            raise ProfileError(
                reference,
                "",
                "no such built-in profile",
                "one of " + ", ".join(builtin_names()) + ", or a path to a .toml file",
            )
        resource = files("auditor.profiles").joinpath(f"{reference}.toml")
        return f"builtin:{reference}", resource.read_text(encoding="utf-8")
    path = os.path.normpath(os.path.join(base_folder, reference))
    try:
        text = read_bounded(path, MAX_PROFILE_BYTES)
    except OSError as exc:
        raise ProfileError(path, "", exc.strerror or str(exc), "a readable TOML file") from None
    try:
        return path, text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(path, "", f"not UTF-8 text ({exc.reason})", "a TOML file") from None


def read_bounded(path: str, limit: int) -> bytes:
    """A regular file whole, or OSError: a FIFO, a device or more than `limit` bytes is
    refused, never read in part (a setting after a cut would be ignored in silence)."""
    import errno
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes")
    return data


def _parse(source: str, text: str) -> dict[str, Any]:
    """TOML to data, dates as ISO strings, validated against the schema."""
    import datetime

    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef,import-not-found,unused-ignore]

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(source, "", f"not valid TOML: {exc}", "TOML") from None
    except RecursionError:
        raise ProfileError(source, "", "values nested too deeply", "a profile") from None
    for waiver in data.get("waivers", ()) if isinstance(data.get("waivers"), list) else ():
        if isinstance(waiver, dict) and isinstance(waiver.get("expires"), datetime.date):
            waiver["expires"] = waiver["expires"].isoformat()  # `expires = 2027-03-31` unquoted
    if source.startswith("builtin:"):
        # Shipped profiles are validated by the test suite; compiling the schema would cost
        # every default audit tens of milliseconds.
        return data
    errors = _validator().errors(data)
    if errors:
        error = errors[0]
        found, expected = _explain(error)
        raise ProfileError(source, key_path(list(error.absolute_path)), found, expected)
    return data


def schema_errors(data: dict[str, Any]) -> list[str]:
    """Schema violations of decoded profile data, as messages (for tests and tools)."""
    return [error.message for error in _validator().errors(data)]


def _validator() -> Validator:
    from importlib.resources import files

    from auditor.schema import Validator

    return Validator(json.loads(files("auditor.profiles").joinpath(SCHEMA_FILE).read_text("utf-8")))


def key_path(parts: list[Any]) -> str:
    """A key path as TOML writes it: checks."kvm.unsafe-interrupts".severity, waivers[0]."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            bare = part and all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in part)
            key = part if bare else json.dumps(part)
            text += f".{key}" if text else key
    return text


def _explain(error: SchemaError) -> tuple[str, str]:
    """(what was found, what was expected) for a schema error."""
    keyword, value = error.validator, error.validator_value
    if keyword == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"unknown key {extra[0]!r}" if extra else error.message, "one of " + ", ".join(
            allowed
        )
    if keyword == "required":
        return error.message, "the keys " + ", ".join(value)
    found = f"{error.instance!r}"
    if keyword == "enum":
        return found, "one of " + ", ".join(map(str, value))
    if keyword == "type":
        return found, f"a {value}" if isinstance(value, str) else "one of " + ", ".join(value)
    if keyword == "pattern":
        return found, error.schema.get("description", f"text matching {value}")
    if keyword == "minLength":
        return found, "non-empty text"
    return found, error.message


def _check_semantics(source: str, data: dict[str, Any], headers: dict[str, Check]) -> None:
    """What the schema cannot know: check ids, their parameters, dates, device identifiers."""
    import datetime

    valid = "one of " + ", ".join(sorted(headers))
    for check_id, table in data.get("checks", {}).items():
        if check_id not in headers:
            raise ProfileError(source, key_path(["checks", check_id]), "an unknown check", valid)
        params = dict(headers[check_id].params)
        for name, value in table.items():
            if name in POLICY_KEYS:
                continue
            where = key_path(["checks", check_id, name])
            if name not in params:
                known = ", ".join([*POLICY_KEYS, *params])
                raise ProfileError(source, where, f"an unknown setting {name!r}", "one of " + known)
            default = params[name]
            if type(value) is not type(default):
                raise ProfileError(
                    source, where, repr(value), f"a {type(default).__name__} like {default!r}"
                )
    for index, waiver in enumerate(data.get("waivers", ())):
        if waiver["check"] not in headers:
            where = key_path(["waivers", index, "check"])
            raise ProfileError(source, where, repr(waiver["check"]), valid)
        try:
            datetime.date.fromisoformat(waiver["expires"])
        except ValueError:
            where = key_path(["waivers", index, "expires"])
            raise ProfileError(
                source, where, repr(waiver["expires"]), "a date YYYY-MM-DD"
            ) from None
        if "device" in waiver:
            _parse_or_raise(source, ["waivers", index, "device"], waiver["device"], False)
    for index, text in enumerate(data.get("devices", ())):
        _parse_or_raise(source, ["devices", index], text, True)
    from fnmatch import fnmatchcase

    for index, pattern in enumerate(data.get("require", ())):
        if not any(fnmatchcase(check_id, pattern) for check_id in headers):
            where = key_path(["require", index])
            raise ProfileError(
                source, where, f"{pattern!r}, which names no check", valid + " (or a glob)"
            )


def _parse_or_raise(source: str, path: list[Any], text: str, classes: bool) -> None:
    from auditor.parsers.pci import ADDRESS_FORMS, SELECTOR_FORMS, normalise_address, parse_selector

    try:
        parse_selector(text) if classes else normalise_address(text)
    except ValueError:
        expected = SELECTOR_FORMS if classes else ADDRESS_FORMS
        raise ProfileError(source, key_path(path), repr(text), expected) from None


def _merge(name: str, layers: list[tuple[str, dict[str, Any]]]) -> Profile:
    """Most general first: each layer's keys override, check tables merge key by key,
    waivers add up."""
    import datetime

    from auditor.parsers.pci import normalise_address

    fail_on, description = Severity.INFO, ""
    devices: tuple[str, ...] = ()
    tables: dict[str, dict[str, Any]] = {}
    waivers: list[Waiver] = []
    require: list[str] = []  # adds up: a profile that extends another requires as much
    for _source, data in reversed(layers):
        require += [pattern for pattern in data.get("require", ()) if pattern not in require]
        if "fail_on" in data:
            fail_on = Severity[data["fail_on"].upper()]
        description = data.get("description", description)
        if "devices" in data:
            devices = tuple(data["devices"])
        for check_id, table in data.get("checks", {}).items():
            tables.setdefault(check_id, {}).update(table)
        for item in data.get("waivers", ()):
            waivers.append(
                Waiver(
                    check=item["check"],
                    device=normalise_address(item["device"]) if "device" in item else "",
                    justification=item["justification"],
                    owner=item["owner"],
                    expires=datetime.date.fromisoformat(item["expires"]),
                )
            )
    checks = {
        check_id: CheckPolicy(
            enabled=table.get("enabled", True),
            severity=Severity[table["severity"].upper()] if "severity" in table else None,
            warn_fails=table.get("warn_fails", False),
            params={k: v for k, v in table.items() if k not in POLICY_KEYS},
        )
        for check_id, table in tables.items()
    }
    return Profile(
        name=name,
        sources=tuple(source for source, _ in layers),
        description=description,
        fail_on=fail_on,
        devices=devices,
        checks=checks,
        waivers=tuple(waivers),
        require=tuple(require),
    )


# --- applying waivers ------------------------------------------------------------------------


def today_utc() -> datetime.date:
    """Waiver dates are calendar days in UTC, whatever the host's time zone."""
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).date()


def apply_waivers(
    profile: Profile, check: Check, outcome: Outcome, today: datetime.date
) -> tuple[Outcome, list[str]]:
    """The outcome with the check's active waivers applied, and notices about its waivers:
    expired, expiring soon, or unused (nothing to waive: the finding is gone, so the waiver
    can go too, as InSpec and ansible-lint report unused skips). Failures and warnings are
    waivable; an error (the check could not tell) is not."""
    notices: list[str] = []
    for waiver in profile.waivers:
        if waiver.check != check.id:
            continue
        days_left = (waiver.expires - today).days
        if days_left < 0:
            notices.append(
                f"{waiver.describe()} expired on {waiver.expires} (UTC): it no longer applies"
            )
            outcome = replace(
                outcome,
                evidence=(
                    *outcome.evidence,
                    Evidence(
                        "profile waiver",
                        f"expired on {waiver.expires} (UTC): {waiver.justification}",
                    ),
                ),
            )
            continue
        if days_left <= EXPIRY_WARNING_DAYS:
            notices.append(
                f"{waiver.describe()} expires on {waiver.expires} (UTC), in {days_left} days"
            )
        waived = _waive(outcome, waiver)
        if waived == outcome:
            found = outcome.status.value
            notices.append(f"unused {waiver.describe()}: nothing to waive ({check.id}: {found})")
        outcome = waived
    return outcome, notices


def unused_waivers(profile: Profile, ran: set[str]) -> list[str]:
    """Notices for the waivers of checks that did not run (disabled or not selected)."""
    return [
        f"unused {waiver.describe()}: nothing to waive ({waiver.check} did not run)"
        for waiver in profile.waivers
        if waiver.check not in ran
    ]


WAIVABLE = frozenset({Status.FAIL, Status.WARN})


def _waive(outcome: Outcome, waiver: Waiver) -> Outcome:
    note = f"waived until {waiver.expires} (UTC) by {waiver.owner}: {waiver.justification}"
    if waiver.device:
        devices = tuple(
            DeviceResult(d.address, Status.WAIVED, f"{note}; finding: {d.message}")
            if d.address == waiver.device and d.status in WAIVABLE
            else d
            for d in outcome.devices
        )
        if devices == outcome.devices:
            return outcome
        still = [d for d in devices if d.status in WAIVABLE]
        if still:  # other devices still fail: the check does too, for them
            return replace(outcome, devices=devices, message=said_of(still))
        return replace(
            outcome,
            status=Status.WAIVED,
            message=f"{note}; finding: {outcome.message}",
            devices=devices,
        )
    if outcome.status not in WAIVABLE:
        return outcome
    devices = tuple(
        DeviceResult(d.address, Status.WAIVED, f"{note}; finding: {d.message}")
        if d.status in WAIVABLE
        else d
        for d in outcome.devices
    )
    return replace(
        outcome,
        status=Status.WAIVED,
        message=f"{note}; finding: {outcome.message}",
        devices=devices,
    )


def to_toml(profile: Profile, checks: Sequence[LoadedCheck]) -> str:
    """The resolved profile as TOML: every check with its effective settings and parameters."""

    def value(item: Any) -> str:
        return json.dumps(
            item, ensure_ascii=False
        )  # JSON strings, booleans, numbers, arrays are TOML

    lines = [
        f"# Profile {profile.name}, resolved from: {', '.join(profile.sources)}",
        f"description = {value(profile.description)}",
        f"fail_on = {value(profile.fail_on.label)}",
        f"devices = {value(list(profile.devices))}",
        f"require = {value(list(profile.require))}",
    ]
    for item in checks:
        check = profile.header(item.check)
        policy = profile.policy(check.id)
        lines += [
            "",
            f"[checks.{json.dumps(check.id)}]",
            f"enabled = {value(policy.enabled)}",
            f"severity = {value(check.severity.label)}",
            f"warn_fails = {value(policy.warn_fails)}",
        ]
        lines += [
            f"{name} = {value(policy.params.get(name, default))}" for name, default in check.params
        ]
    for waiver in profile.waivers:
        lines += ["", "[[waivers]]", f"check = {value(waiver.check)}"]
        if waiver.device:
            lines.append(f"device = {value(waiver.device)}")
        lines += [
            f"justification = {value(waiver.justification)}",
            f"owner = {value(waiver.owner)}",
            f"expires = {value(waiver.expires.isoformat())}",
        ]
    return "\n".join(lines) + "\n"
