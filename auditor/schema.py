"""JSON Schema (draft-07) validation for the keywords hostaudit's own schemas use.

The schemas we publish (reports, profiles, snapshot manifests) are the contract; this is
how the tool checks documents against them at run time. jsonschema costs ~100 ms to
import (version 4 pulls in attrs, referencing and rpds) and ~1.5 ms per report, and a
fleet report reads thousands of reports. Our schemas use few keywords, listed in
KEYWORDS; this module implements exactly those and refuses a schema that uses any other,
so that a schema change cannot be half-checked in silence. tests/test_schema.py holds it
to jsonschema's verdicts on valid and hostile documents.

Recursion follows the schema, never the document: a document nested 100,000 deep costs
no more than the schema is deep.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

KEYWORDS = frozenset(
    {
        # annotations
        "$schema",
        "$id",
        "title",
        "description",
        "definitions",
        # assertions
        "$ref",
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "propertyNames",
        "items",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
    }
)

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


class SchemaError:
    """One way a document breaks the schema, shaped like jsonschema's ValidationError in
    what our callers use: where (absolute_path), which keyword, and a message."""

    __slots__ = ("absolute_path", "instance", "message", "schema", "validator", "validator_value")

    def __init__(
        self, path: list[Any], keyword: str, schema: dict[str, Any], instance: Any, message: str
    ) -> None:
        self.absolute_path = path
        self.validator = keyword
        self.validator_value: Any = schema.get(keyword)
        self.schema = schema
        self.instance = instance
        self.message = message


class Validator:
    """Validates documents against one schema; build once, use for many documents."""

    def __init__(self, schema: dict[str, Any]) -> None:
        _check_keywords(schema, [])
        self.root = schema
        self._patterns: dict[str, Any] = {}

    def errors(self, instance: Any) -> list[SchemaError]:
        """Every violation, in document order."""
        return sorted(
            self._errors(instance, self.root, []), key=lambda e: _sort_key(e.absolute_path)
        )

    def is_valid(self, instance: Any) -> bool:
        return next(iter(self._errors(instance, self.root, [])), None) is None

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            reference = schema["$ref"]
            if not reference.startswith("#/"):
                raise ValueError(f"schema: only local references are supported: {reference}")
            target: Any = self.root
            for part in reference[2:].split("/"):
                target = target[part]
            schema = target
        return schema

    def _errors(self, value: Any, schema: dict[str, Any], path: list[Any]) -> Iterator[SchemaError]:
        schema = self._resolve(schema)
        expected = schema.get("type")
        if expected is not None and not _has_type(value, expected):
            yield SchemaError(
                path, "type", schema, value, f"{_short(value)} is not of type {_names(expected)}"
            )
            return
        if "enum" in schema and not any(_equal(value, option) for option in schema["enum"]):
            yield SchemaError(
                path, "enum", schema, value, f"{_short(value)} is not one of {schema['enum']!r}"
            )
        if "const" in schema and not _equal(value, schema["const"]):
            yield SchemaError(path, "const", schema, value, f"{schema['const']!r} was expected")
        if isinstance(value, str):
            yield from self._string(value, schema, path)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                yield SchemaError(
                    path,
                    "minimum",
                    schema,
                    value,
                    f"{value!r} is less than the minimum of {schema['minimum']}",
                )
            if "maximum" in schema and value > schema["maximum"]:
                yield SchemaError(
                    path,
                    "maximum",
                    schema,
                    value,
                    f"{value!r} is greater than the maximum of {schema['maximum']}",
                )
        elif isinstance(value, list):
            yield from self._array(value, schema, path)
        elif isinstance(value, dict):
            yield from self._object(value, schema, path)

    def _string(self, value: str, schema: dict[str, Any], path: list[Any]) -> Iterator[SchemaError]:
        if "minLength" in schema and len(value) < schema["minLength"]:
            yield SchemaError(path, "minLength", schema, value, f"{_short(value)} is too short")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield SchemaError(path, "maxLength", schema, value, f"{_short(value)} is too long")
        if "pattern" in schema and not self._pattern(schema["pattern"]).search(value):
            yield SchemaError(
                path,
                "pattern",
                schema,
                value,
                f"{_short(value)} does not match {schema['pattern']!r}",
            )

    def _array(
        self, value: list[Any], schema: dict[str, Any], path: list[Any]
    ) -> Iterator[SchemaError]:
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield SchemaError(path, "minItems", schema, value, f"{_short(value)} is too short")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield SchemaError(path, "maxItems", schema, value, f"{_short(value)} is too long")
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value):
                yield from self._errors(item, items, [*path, index])

    def _object(
        self, value: dict[str, Any], schema: dict[str, Any], path: list[Any]
    ) -> Iterator[SchemaError]:
        for name in schema.get("required", ()):
            if name not in value:
                yield SchemaError(
                    path, "required", schema, value, f"{name!r} is a required property"
                )
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        names = schema.get("propertyNames")
        unexpected = []
        for key, item in value.items():
            if names is not None:
                for error in self._errors(key, names, [*path, key]):
                    yield SchemaError(
                        error.absolute_path, "propertyNames", error.schema, key, error.message
                    )
            if key in properties:
                yield from self._errors(item, properties[key], [*path, key])
            elif extra is False:
                unexpected.append(key)
            elif isinstance(extra, dict):
                yield from self._errors(item, extra, [*path, key])
        if unexpected:
            listed = ", ".join(repr(key) for key in unexpected)
            verb = "was" if len(unexpected) == 1 else "were"
            yield SchemaError(
                path,
                "additionalProperties",
                schema,
                value,
                f"Additional properties are not allowed ({listed} {verb} unexpected)",
            )

    def _pattern(self, pattern: str) -> Any:
        compiled = self._patterns.get(pattern)
        if compiled is None:
            import re

            compiled = self._patterns[pattern] = re.compile(pattern)
        return compiled


def _check_keywords(schema: Any, where: list[str]) -> None:
    """Refuse a schema that uses a keyword this module does not implement."""
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key not in KEYWORDS:
            raise ValueError(
                f"schema keyword {key!r} at {'/'.join(where) or '(top)'} is not supported"
            )
        if key in ("properties", "definitions"):
            for name, child in value.items():
                _check_keywords(child, [*where, key, name])
        elif key in ("items", "additionalProperties", "propertyNames"):
            _check_keywords(value, [*where, key])


def _has_type(value: Any, expected: str | list[str]) -> bool:
    if isinstance(expected, list):
        return any(_has_type(value, one) for one in expected)
    if expected == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    return isinstance(value, _TYPES[expected])


def _equal(value: Any, option: Any) -> bool:
    """JSON equality: true is not 1."""
    if isinstance(value, bool) or isinstance(option, bool):
        return type(value) is type(option) and value == option
    return bool(value == option)


def _names(expected: str | list[str]) -> str:
    return repr(expected) if isinstance(expected, str) else ", ".join(map(repr, expected))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _sort_key(path: list[Any]) -> list[tuple[int, str]]:
    return [(0, f"{part:012d}") if isinstance(part, int) else (1, str(part)) for part in path]
