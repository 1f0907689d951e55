"""Conformance over the whole registry, discovery rules, and the runner's isolation."""

from __future__ import annotations

import fnmatch
import sys
import types

import pytest

from auditor import registry
from auditor.context import Context
from auditor.errors import CheckLoadError
from auditor.host import Host
from auditor.model import Check, Outcome, Severity, Status
from auditor.registry import LoadedCheck, is_check_id, load_checks
from auditor.runner import run_one
from tests.conftest import CHECK_IDS, HOSTS, PUBLIC_CHECK_IDS

CHECKS = load_checks(include_third_party=False)


def test_the_public_check_ids_exist():
    ids = {item.check.id for item in CHECKS}
    assert not set(PUBLIC_CHECK_IDS) - ids, "a public check id was removed or renamed"
    assert len(ids) == len(CHECK_IDS)


@pytest.mark.parametrize("item", CHECKS, ids=lambda item: item.check.id)
def test_header(item: LoadedCheck):
    check = item.check
    assert is_check_id(check.id)
    module = item.run.__module__.rsplit(".", 1)[-1]
    assert module == check.id.replace(".", "_").replace("-", "_"), "the module name follows the id"
    assert check.title and isinstance(check.severity, Severity)
    assert check.remediation and all(step.strip() for step in check.remediation)
    assert check.reads and all(path.startswith("/") for path in check.reads)
    assert check.references
    assert check.description, "the module docstring explains the check"


def _covered(path: str, patterns: tuple[str, ...]) -> bool:
    return any(
        path == p or fnmatch.fnmatchcase(path, p) or path.startswith(p.rstrip("/") + "/")
        for p in patterns
    )


@pytest.mark.parametrize("item", CHECKS, ids=lambda item: item.check.id)
def test_reads_only_what_it_declares(item: LoadedCheck):
    """On every fixture host, with and without target devices, each path read is declared."""
    for root in sorted(HOSTS.iterdir()):
        # No devices, a PCI Express GPU, and a conventional PCI USB controller (other branches).
        for devices in ((), ("0000:01:00.0",), ("0000:00:14.0",)):
            with Host(str(root)) as host:
                ctx = Context(host=host, requested_devices=devices)
                host.start_trace()
                item.run(ctx)
                read = host.stop_trace()
            undeclared = sorted(p for p in read if not _covered(p, item.check.reads))
            assert not undeclared, f"{item.check.id} on {root.name} read undeclared {undeclared}"


def _loaded(check_id: str, run, requires: tuple[str, ...] = ()) -> LoadedCheck:
    header = Check(check_id, "t", Severity.LOW, ("/x",), ("fix",), requires=requires)
    return LoadedCheck(header, run)


def test_a_crashing_check_becomes_an_error(tmp_path):
    def crash(ctx):
        raise KeyError("boom")

    outcome = run_one(_loaded("test.crash", crash), Context(Host(str(tmp_path))))
    assert outcome.status is Status.ERROR
    assert outcome.message == "test.crash crashed: KeyError: 'boom'"


def test_a_failed_requirement_blocks(tmp_path):
    ctx = Context(Host(str(tmp_path)))
    ctx.results["test.base"] = Outcome(Status.FAIL, "no table")
    outcome = run_one(
        _loaded("test.child", lambda ctx: Outcome(Status.PASS, "ran"), ("test.base",)), ctx
    )
    assert (outcome.status, outcome.message) == (Status.SKIP, "blocked by test.base")
    ctx.results["test.base"] = Outcome(Status.ERROR, "needs root")
    assert (
        run_one(
            _loaded("test.child", lambda ctx: Outcome(Status.PASS, "ran"), ("test.base",)), ctx
        ).status
        is Status.PASS
    )


def test_requirements_run_first():
    order = [item.check.id for item in CHECKS]
    for item in CHECKS:
        for required in item.check.requires:
            assert order.index(required) < order.index(item.check.id)


def test_skip_and_error_need_a_reason():
    with pytest.raises(ValueError):
        Outcome(Status.SKIP, " ")


def _plugin(name: str, check_id: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.CHECK = Check(check_id, "Plug-in", Severity.LOW, ("/etc/x",), ("fix it",))
    module.run = lambda ctx: Outcome(Status.PASS, "ok")
    return module


def test_third_party_checks_load_and_duplicates_are_errors(monkeypatch):
    monkeypatch.setattr(
        registry, "_third_party", lambda: [("entry point extra", _plugin("extra", "site.extra"))]
    )
    assert "site.extra" in {item.check.id for item in load_checks()}
    monkeypatch.setattr(
        registry,
        "_third_party",
        lambda: [("entry point dup", _plugin("dup", "cpu.virtualization"))],
    )
    with pytest.raises(CheckLoadError, match=r"duplicate check id 'cpu\.virtualization'"):
        load_checks()


def test_a_module_without_header_is_a_named_load_error(monkeypatch):
    monkeypatch.setattr(
        registry, "_third_party", lambda: [("entry point bad", types.ModuleType("bad"))]
    )
    with pytest.raises(CheckLoadError, match="entry point bad: a check module needs CHECK"):
        load_checks()


def test_entry_points_are_scanned_only_when_declared(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert registry._third_party_possible() is False
    dist = tmp_path / "extra-1.0.dist-info"
    dist.mkdir()
    (dist / "entry_points.txt").write_text("[hostaudit.checks]\nextra = extra_checks.mine\n")
    assert registry._third_party_possible() is True


def test_every_built_in_check_says_what_evidence_it_accepts_and_when_it_passes():
    """explain and the README's tables come from each check's `accepts` and `passes`
    (make generate writes the tables; tests/test_generated.py keeps them current)."""
    checks = [item.check for item in load_checks(include_third_party=False)]
    assert all(check.accepts for check in checks), [c.id for c in checks if not c.accepts]
    assert all(check.passes for check in checks), [c.id for c in checks if not c.passes]
