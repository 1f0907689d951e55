"""Finding and loading checks: built-ins by walking auditor.checks, others by entry point."""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType

from auditor.errors import CheckLoadError
from auditor.model import Check
from auditor.record import record, replace

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable

    from auditor.context import Context
    from auditor.model import Outcome

    # What a check module's run() is: the model knows results, not how checks are run.
    RunFunction = Callable[[Context], Outcome]

ENTRY_POINT_GROUP = "hostaudit.checks"


def is_check_id(text: str) -> bool:
    """`group.name` (^[a-z][a-z0-9]*(\\.[a-z0-9][a-z0-9-]*)+$), checked without re."""
    group, *names = text.split(".")
    allowed = "abcdefghijklmnopqrstuvwxyz0123456789"
    return (
        bool(names)
        and group[:1].isalpha()
        and all(ch in allowed for ch in group)
        and all(name[:1] in allowed and all(ch in allowed + "-" for ch in name) for name in names)
        and all(names)
    )


@record
class LoadedCheck:
    """A check header with the function that runs it."""

    check: Check
    run: RunFunction


def _from_module(module: ModuleType, origin: str) -> LoadedCheck:
    header = getattr(module, "CHECK", None)
    run = getattr(module, "run", None)
    if not isinstance(header, Check) or not callable(run):
        raise CheckLoadError(f"{origin}: a check module needs CHECK = Check(...) and run(ctx)")
    if not is_check_id(header.id):
        raise CheckLoadError(f"{origin}: check id {header.id!r} is not like 'group.name'")
    description = (module.__doc__ or "").strip()
    return LoadedCheck(replace(header, description=description), run)


def builtin_modules() -> list[str]:
    """Names of the built-in check modules, sorted."""
    # Imported by name: checks/ is mapped onto auditor.checks at install time.
    checks = importlib.import_module("auditor.checks")
    try:
        # What pkgutil.iter_modules() would find in a plain package folder, without importing
        # pkgutil, which pulls in typing (2-4 ms of every start-up).
        names = {
            entry[:-3]
            for folder in checks.__path__
            for entry in os.listdir(folder)
            if entry.endswith(".py") and not entry.startswith("_")
        }
    except NotADirectoryError:  # a zip (hostaudit.pyz): pkgutil reads its index
        import pkgutil

        names = {
            module.name
            for module in pkgutil.iter_modules(checks.__path__)
            if not module.name.startswith("_")
        }
    return sorted(f"{checks.__name__}.{name}" for name in names)


def _third_party_possible() -> bool:
    """Whether any installed distribution declares our entry-point group.

    Scanning entry points through importlib.metadata costs tens of milliseconds; reading the
    few entry_points.txt files on sys.path and looking for the group name costs about one.
    """
    marker = f"[{ENTRY_POINT_GROUP}]"
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(
                    os.path.join(folder or ".", name, "entry_points.txt"), encoding="utf-8"
                ) as f:
                    if marker in f.read():
                        return True
            except OSError:
                continue
    return False


def _third_party() -> list[tuple[str, ModuleType | object]]:
    if not _third_party_possible():
        return []
    from importlib.metadata import entry_points

    if sys.version_info >= (3, 10):
        group = list(entry_points(group=ENTRY_POINT_GROUP))
    else:  # Python 3.9: a dict of group -> entry points
        group = list(entry_points().get(ENTRY_POINT_GROUP, []))
    loaded: list[tuple[str, ModuleType | object]] = []
    for entry in sorted(group, key=lambda e: e.name):
        try:
            loaded.append((f"entry point {entry.name} ({entry.value})", entry.load()))
        except Exception as exc:  # a broken plug-in must be named, whatever it raised
            raise CheckLoadError(f"entry point {entry.name} ({entry.value}): {exc}") from exc
    return loaded


def load_checks(include_third_party: bool = True) -> list[LoadedCheck]:
    """Every check, built-ins first then plug-ins, in a stable order; duplicate ids are errors."""
    loaded: list[LoadedCheck] = []
    for name in builtin_modules():
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise CheckLoadError(f"{name}: {type(exc).__name__}: {exc}") from exc
        loaded.append(_from_module(module, name))
    if include_third_party:
        for origin, obj in _third_party():
            if not isinstance(obj, ModuleType):
                raise CheckLoadError(f"{origin}: must point to a module")
            loaded.append(_from_module(obj, origin))
    seen: dict[str, str] = {}
    for item in loaded:
        if item.check.id in seen:
            raise CheckLoadError(f"duplicate check id {item.check.id!r}")
        seen[item.check.id] = item.check.id
    known = set(seen)
    for item in loaded:
        for required in item.check.requires:
            if required not in known:
                raise CheckLoadError(f"{item.check.id} requires unknown check {required!r}")
    return _dependency_order(loaded)


def _dependency_order(loaded: list[LoadedCheck]) -> list[LoadedCheck]:
    """Sort by id, then move each check after the checks it requires (stable)."""
    by_id = {item.check.id: item for item in sorted(loaded, key=lambda i: i.check.id)}
    ordered: list[LoadedCheck] = []
    placed: set[str] = set()

    def place(check_id: str, path: tuple[str, ...]) -> None:
        if check_id in placed:
            return
        if check_id in path:
            raise CheckLoadError("circular requirement: " + " -> ".join((*path, check_id)))
        for required in by_id[check_id].check.requires:
            place(required, (*path, check_id))
        placed.add(check_id)
        ordered.append(by_id[check_id])

    for check_id in by_id:
        place(check_id, ())
    return ordered
