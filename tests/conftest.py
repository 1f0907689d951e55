"""Shared test helpers: fixture roots, a small-host builder, and an in-process audit."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, Union

import pytest

from auditor.context import Context
from auditor.host import Host
from auditor.model import Outcome, Report, Result
from auditor.profile import Profile
from auditor.registry import load_checks
from auditor.runner import host_info, run_audit

FIXTURES = Path(__file__).parent / "fixtures"
HOSTS = FIXTURES / "hosts"
ACPI = FIXTURES / "acpi"


def fixture_generator():
    """tests/fixtures/make_hosts.py, loaded as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_hosts", FIXTURES / "make_hosts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# An unpacked sdist has neither the fixture hosts nor the sosreport: an sdist cannot hold
# their ~700 symbolic links (MANIFEST.in). Their generator rebuilds them (0.3 s); in a
# checkout test_fixtures.py keeps the committed trees equal to it.
if not (HOSTS / "intel-ready" / "SOURCE.md").is_file() or not (FIXTURES / "sosreports").is_dir():
    _generator = fixture_generator()
    _generator.build()
    _generator.build_sosreport()

# The public check ids as of this snapshot: a contract (reports, profiles and waivers name
# them). tests/test_registry.py fails when one of them is removed or renamed; a new check
# needs no line here.
PUBLIC_CHECK_IDS = (
    "cpu.virtualization",
    "iommu.firmware-table",
    "iommu.kernel-cmdline",
    "iommu.cmdline-persistent",
    "iommu.interrupt-remapping",
    "kvm.unsafe-interrupts",
    "selinux.virt-use-sysfs",
    "iommu.group-isolation",
    "pci.device-support",
    "guest.assigned-devices",
    "pci.driver-binding",
    "pci.device-reset",
)
# Every check the registry loads, in report order: what the tests iterate over.
CHECK_IDS = tuple(item.check.id for item in load_checks())

Spec = dict[str, Union[str, bytes, "Link"]]


class Link(str):
    """A symlink target in a make_host() spec."""


def build_root(base: Path, spec: Spec) -> Path:
    """Write {host path: content or Link(target)} under base and return base."""
    for path, content in spec.items():
        target = base / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Link):
            os.symlink(str(content), target)
        elif isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return base


@pytest.fixture(autouse=True, scope="session")
def _outside_the_checkout(tmp_path_factory: pytest.TempPathFactory):
    """Run the suite from an empty folder, so it tests hostaudit as installed.

    `python -m auditor` puts the working folder first on sys.path: started in the checkout it
    would import the source tree, where auditor/checks does not exist (checks/ becomes
    auditor.checks only when installed). pytest itself imports test modules with
    --import-mode=importlib (pyproject.toml), which leaves sys.path alone.
    """
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(here)


@pytest.fixture
def make_host(tmp_path: Path) -> Iterator[Callable[[Spec], Host]]:
    """Build a small host root from a spec and return a Host on it; every Host made is
    closed after the test (each holds folder descriptors: under `ulimit -n 1024` the suite
    would otherwise run out)."""

    roots = iter(range(1000))
    made: list[Host] = []

    def make(spec: Spec) -> Host:
        host = Host(str(build_root(tmp_path / f"root{next(roots)}", spec)))
        made.append(host)
        return host

    yield make
    for host in made:
        host.close()


@pytest.fixture
def world_dir():
    """A folder any user can read: pytest's tmp_path sits under a 0700 folder."""
    folder = tempfile.mkdtemp(prefix="hostaudit-")
    os.chmod(folder, 0o755)
    yield Path(folder)
    shutil.rmtree(folder)


def open_to_all(base: Path) -> None:
    """Make a tree readable by every user (for tests that run a step as nobody)."""
    for dirpath, _, filenames in os.walk(base):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)


def audit(
    root: str | Path, devices: tuple[str, ...] = (), profile: str | None = None
) -> dict[str, Result]:
    """Run every built-in check on a root (under a built-in profile); results by check id."""
    report = audit_report(root, devices, profile)
    return {result.check.id: result for result in report.results}


def audit_report(
    root: str | Path, devices: tuple[str, ...] = (), profile: str | None = None
) -> Report:
    checks = load_checks(include_third_party=False)
    host = Host(str(root))
    try:
        ctx = Context(host=host, requested_devices=devices, profile=built_in(profile, checks))
        return run_audit(checks, ctx, host_info(ctx))
    finally:
        host.close()


def built_in(name: str | None, checks: list | None = None) -> Profile | None:
    """A built-in profile by name (None: no profile, which is the default's behaviour)."""
    if name is None:
        return None
    from auditor.profile import load_profile

    return load_profile(name, checks or load_checks(include_third_party=False))


def evidence_text(result: Result | Outcome) -> str:
    """All evidence of a result (or of a bare outcome) as one string, for assertions."""
    outcome = result.outcome if isinstance(result, Result) else result
    return "\n".join(f"{e.source}: {e.value}" for e in outcome.evidence)
