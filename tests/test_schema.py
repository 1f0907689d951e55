"""auditor.schema (fastjsonschema at run time) held to jsonschema, the reference
implementation, as the oracle: same verdict on every fixture document and on thousands of
mutations of them, and where both refuse, our place is one of the places jsonschema names."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import jsonschema
import pytest

from auditor.registry import load_checks
from auditor.reports import json as json_report
from auditor.schema import Validator
from auditor.sources import collect
from auditor.sources.snapshot import MANIFEST_SCHEMA, reads
from tests.conftest import audit_report

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
HOSTS = ROOT / "tests" / "fixtures" / "hosts"
MUTATIONS = 3000
# Values of every JSON type, and the edges our schemas draw (empty text, negative, bool vs
# integer, a float where an integer is expected).
REPLACEMENTS = [None, True, False, 0, 1, -1, 1.5, "", "x", "pass", [], [1], {}, {"x": 1}]


def _reports() -> list[dict]:
    return [
        json.loads(json_report.render(audit_report(host)))
        for host in sorted(HOSTS.iterdir())
        if host.is_dir()
    ]


def _profiles() -> list[dict]:
    return [tomllib.loads(path.read_text()) for path in sorted((ROOT / "profiles").glob("*.toml"))]


def _manifests() -> list[dict]:
    patterns = reads(load_checks(include_third_party=False))
    found = []
    for name in ("intel-ready", "sriov-vf", "amd-ready"):
        collector = collect.snapshot(str(HOSTS / name), patterns)
        found.append(json.loads(json.dumps(collect.manifest(collector, patterns))))
    return found


def _schemas() -> dict[str, tuple[dict, list[dict]]]:
    return {
        "report": (json.loads(json_report.schema_text()), _reports()),
        "profile": (
            json.loads((ROOT / "profiles" / "profile.schema.json").read_text()),
            _profiles(),
        ),
        "manifest": (MANIFEST_SCHEMA, _manifests()),
    }


@pytest.fixture(scope="module")
def schemas():
    return _schemas()


def _nodes(document, path=()):
    """Every (path, value) in a document."""
    yield path, document
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _nodes(value, (*path, index))


def _mutate(document, chance: random.Random):
    """One random change: a value replaced, a key removed or added, an item dropped."""
    mutated = copy.deepcopy(document)
    nodes = list(_nodes(mutated))
    path, value = nodes[chance.randrange(len(nodes))]
    parent = mutated
    for part in path[:-1]:
        parent = parent[part]
    kind = chance.randrange(4)
    if kind == 0 and path:
        parent[path[-1]] = copy.deepcopy(chance.choice(REPLACEMENTS))
    elif kind == 1 and isinstance(value, dict) and value:
        del value[chance.choice(sorted(value))]
    elif kind == 2 and isinstance(value, dict):
        value[chance.choice(["x", "extra", "status", "id"])] = chance.choice(REPLACEMENTS)
    elif kind == 3 and isinstance(value, list) and value:
        del value[chance.randrange(len(value))]
    elif path:
        parent[path[-1]] = copy.deepcopy(chance.choice(REPLACEMENTS))
    else:
        return chance.choice(REPLACEMENTS)
    return mutated


@pytest.mark.parametrize("name", ["report", "profile", "manifest"])
def test_same_verdicts_as_jsonschema_on_fixtures_and_mutations(schemas, name):
    schema, documents = schemas[name]
    assert documents
    ours, oracle = Validator(schema), jsonschema.Draft7Validator(schema)
    chance = random.Random(f"hostaudit-{name}")
    refused = 0
    for index in range(len(documents) + MUTATIONS):
        document = (
            documents[index]
            if index < len(documents)
            else _mutate(chance.choice(documents), chance)
        )
        expected = sorted(oracle.iter_errors(document), key=lambda e: list(map(str, e.path)))
        found = ours.errors(document)
        assert bool(found) == bool(expected), (name, index, expected[:1], document)
        if found:
            refused += 1
            places = {tuple(error.absolute_path) for error in expected}
            assert tuple(found[0].absolute_path) in places, (found[0].absolute_path, places)
            if found[0].validator in {"type", "enum", "required", "pattern", "const"}:
                same = [e for e in expected if e.validator == found[0].validator]
                assert found[0].message in {e.message for e in same} or not same
    # The mutations reach the refusals, not only harmless corners.
    assert refused > MUTATIONS // 4, refused


def test_every_fixture_document_is_valid(schemas):
    for name, (schema, documents) in schemas.items():
        validator = Validator(schema)
        for document in documents:
            assert validator.errors(document) == [], name


def test_a_deep_document_costs_what_the_schema_is_deep(schemas):
    schema, documents = schemas["report"]
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    document = copy.deepcopy(documents[0])
    document["notices"] = deep
    assert Validator(schema).errors(document)


def test_the_validator_never_writes_defaults_into_the_document():
    schema = {"type": "object", "properties": {"a": {"type": "integer", "default": 1}}}
    document: dict = {}
    assert Validator(schema).errors(document) == []
    assert document == {}


def test_a_key_with_dots_and_brackets_is_located_by_the_document():
    schema = {
        "type": "object",
        "properties": {
            "checks": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"severity": {"enum": ["high"]}},
                },
            }
        },
    }
    document = {"checks": {"kvm": {}, "kvm.x[0]": {"severity": "urgent"}}}
    (error,) = Validator(schema).errors(document)
    assert error.absolute_path == ["checks", "kvm.x[0]", "severity"]
    assert error.message == "'urgent' is not one of ['high']"
