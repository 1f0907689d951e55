"""JSON Schema validation of foreign documents (saved reports, profiles, snapshot
manifests) against the schemas we publish, by fastjsonschema.

Why fastjsonschema and not jsonschema (measured by benchmarks/bench_reports.py's
--validators on the ~60 KB report of a host assigning 32 functions, Python 3.11):
jsonschema 4.26 takes 8.9 ms a report, so 10,000 reports would spend 89 s validating
alone, four times the fleet target of 20 s; fastjsonschema 2.16 compiles the schema to
Python once (14 ms) and then takes 0.28 ms a report. jsonschema stays the oracle:
tests/test_schema.py holds this module to jsonschema's verdicts on every fixture
document and thousands of mutated ones.

fastjsonschema stops at the first violation, which is all our callers report. Its
generated code descends where the schema does, never deeper: a document nested 100,000
deep costs no more than the schema is deep.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any, Callable

# The report's schema version. Semantic versioning: a minor version only adds optional keys
# (see report.schema.json). The fleet document's is FLEET_SCHEMA_VERSION.
SCHEMA_VERSION = "1.4.0"
FLEET_SCHEMA_VERSION = "1.0.0"
# Shipped as package data beside the renderers (reports/ installs as auditor.reports).
SCHEMA_FILE = "report.schema.json"
FLEET_SCHEMA_FILE = "fleet.schema.json"


def schema_text() -> str:
    """The published JSON Schema (draft-07) of one host's report."""
    return _shipped(SCHEMA_FILE)


def fleet_schema_text() -> str:
    """The published JSON Schema of the fleet document (and of one NDJSON line)."""
    return _shipped(FLEET_SCHEMA_FILE)


def _shipped(name: str) -> str:
    from importlib.resources import files

    return files("auditor.reports").joinpath(name).read_text(encoding="utf-8")


# Compiled validators by schema text: compiling costs milliseconds, a fleet loads thousands
# of documents against the same schema.
_COMPILED: dict[str, Callable[[Any], Any]] = {}


class SchemaError:
    """One way a document breaks the schema, shaped like jsonschema's ValidationError in
    what our callers use: where (absolute_path), which keyword, and a message."""

    __slots__ = ("absolute_path", "instance", "message", "schema", "validator", "validator_value")

    def __init__(
        self, path: list[Any], keyword: str, schema: dict[str, Any], instance: Any, message: str
    ) -> None:
        self.absolute_path = path
        self.validator = keyword
        self.validator_value: Any = schema.get(keyword) if isinstance(schema, dict) else None
        self.schema = schema
        self.instance = instance
        self.message = message


class Validator:
    """Validates documents against one schema; build once, use for many documents."""

    def __init__(self, schema: dict[str, Any]) -> None:
        text = json.dumps(schema, sort_keys=True)
        if text not in _COMPILED:
            import fastjsonschema

            # use_default=False: fastjsonschema would otherwise write the schema's defaults
            # into the document it checks.
            _COMPILED[text] = fastjsonschema.compile(schema, use_default=False)
        self._validate = _COMPILED[text]

    def errors(self, instance: Any) -> list[SchemaError]:
        """The first violation, as a list (empty: valid)."""
        from fastjsonschema import JsonSchemaValueException

        try:
            self._validate(instance)
        except JsonSchemaValueException as exc:
            path = locate(instance, exc.name or "data", exc.value)
            rule, definition = exc.rule or "", exc.definition or {}
            message = _message(rule, definition, exc.value) or exc.message
            return [SchemaError(path, rule, definition, exc.value, message)]
        return []

    def is_valid(self, instance: Any) -> bool:
        return not self.errors(instance)


def _message(rule: str, schema: dict[str, Any], value: Any) -> str | None:
    """jsonschema's wording for the keywords our schemas use, so that messages do not
    depend on which library checked; None: fastjsonschema's own."""
    expected: Any = schema.get(rule)
    if rule == "type":
        names = repr(expected) if isinstance(expected, str) else ", ".join(map(repr, expected))
        return f"{_short(value)} is not of type {names}"
    if rule == "enum":
        return f"{_short(value)} is not one of {expected!r}"
    if rule == "const":
        return f"{expected!r} was expected"
    if rule == "required" and isinstance(value, dict):
        missing = [key for key in expected if key not in value]
        return f"{missing[0]!r} is a required property" if missing else None
    if rule == "additionalProperties" and isinstance(value, dict):
        known = schema.get("properties", {})
        extra = sorted(_short(key) for key in value if key not in known)
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        verb = "was" if len(extra) == 1 else "were"
        return f"Additional properties are not allowed ({shown} {verb} unexpected)"
    if rule == "pattern":
        return f"{_short(value)} does not match {expected!r}"
    if rule == "minLength":
        return f"{_short(value)} should be non-empty" if expected == 1 else None
    if rule in ("minimum", "maximum"):
        side = "less than the minimum" if rule == "minimum" else "greater than the maximum"
        return f"{value!r} is {side} of {expected}"
    return None


def _short(value: Any) -> str:
    """repr, bounded: a container shown a few levels and items deep (reprlib), never the
    whole of a hostile document."""
    import reprlib

    text = reprlib.repr(value) if isinstance(value, (dict, list)) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def locate(document: Any, name: str, value: Any) -> list[Any]:
    """The path to the failing value from fastjsonschema's `name` ("data.checks.kvm.x[0]").
    Keys may themselves hold dots and brackets (check ids do), so the name is matched
    against the document's own keys, longest first, and the path that ends at `value`
    wins. fastjsonschema 2.16 leaves some keys as their placeholder ("{data__checks_key}",
    under additionalProperties with a schema): that part matches any key. At most
    LOCATE_STEPS steps, then the name split at its dots."""
    rest = name[len("data") :] if name.startswith("data") else name
    found = _walk(document, rest, value, [LOCATE_STEPS])
    return found if found is not None else [part for part in rest.split(".") if part]


LOCATE_STEPS = 10_000


def _walk(node: Any, rest: str, value: Any, budget: list[int]) -> list[Any] | None:
    budget[0] -= 1
    if budget[0] < 0:
        return None
    if not rest:
        return [] if node is value else None
    if rest.startswith("[") and isinstance(node, list):
        end = rest.find("]")
        inside = rest[1:end] if end > 0 else ""
        if inside.isdigit():
            indexes = [int(inside)] if int(inside) < len(node) else []
        else:
            indexes = list(range(len(node))) if inside.startswith("{") else []
        for index in indexes:
            tail = _walk(node[index], rest[end + 1 :], value, budget)
            if tail is not None:
                return [index, *tail]
        return None
    if not (rest.startswith(".") and isinstance(node, dict)):
        return None
    if rest.startswith(".{") and "}" in rest:
        after = rest[rest.index("}") + 1 :]
        tries = [(key, after) for key in node]
    else:
        keys = [key for key in node if isinstance(key, str) and rest.startswith(key, 1)]
        tries = [(key, rest[1 + len(key) :]) for key in sorted(keys, key=len, reverse=True)]
    for key, after in tries:
        if after and after[0] not in ".[":
            continue
        tail = _walk(node[key], after, value, budget)
        if tail is not None:
            return [key, *tail]
    return None
