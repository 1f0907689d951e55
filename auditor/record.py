"""Small records: what @dataclass gives hostaudit, without importing dataclasses.

`import dataclasses` pulls in inspect, ast and dis: 12-15 ms on the development machine,
more than the bare interpreter takes to start, and each frozen dataclass costs ~0.5 ms
more to build. hostaudit defines two dozen of them, and a live audit is a cron job on
thousands of hosts. `record` builds the same methods from the class annotations with one
small exec per class: __init__ (defaults, `field(default_factory=...)`, __post_init__),
__eq__, __hash__ and __repr__, and, unless frozen=False, no assignment after __init__.
mypy treats it as a dataclass (PEP 681, dataclass_transform); `replace` is
dataclasses.replace. tests/test_record.py holds it to the behaviour used here.
"""

from __future__ import annotations

from operator import attrgetter

TYPE_CHECKING = False  # typing costs 2 ms at start-up; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    T = TypeVar("T")
else:

    def dataclass_transform(**_: object) -> Callable[[T], T]:
        return lambda function: function


class FrozenError(AttributeError):
    """An attempt to change a frozen record (as dataclasses.FrozenInstanceError)."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


_MISSING = object()


def field(*, default_factory: Callable[[], T]) -> T:
    """A default made fresh for every instance (a list, a dict)."""
    return _Factory(default_factory)  # type: ignore[return-value]


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: Any = None, *, frozen: bool = True) -> Any:
    """Class decorator: @record or @record(frozen=False)."""
    if cls is None:
        return lambda inner: _build(inner, frozen)
    return _build(cls, frozen)


def _build(cls: Any, frozen: bool) -> Any:
    # The class's own annotations (never a base's); with `from __future__ import
    # annotations` they are strings on every Python from 3.9 on, and inspect, which
    # get_annotations() needs, is what this module exists to avoid importing.
    names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063
    defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
    for name, default in defaults.items():
        if isinstance(default, _Factory):
            delattr(cls, name)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        # Compiled when the class is first instantiated: a run pays only for the records
        # it makes (about half of them in a live audit).
        cls.__init__ = _compile_init(cls, names, defaults)
        cls.__init__(self, *args, **kwargs)

    cls.__init__ = __init__
    # Equality and hashing compare the fields as one tuple, taken in C by attrgetter.
    values = attrgetter(*names) if len(names) != 1 else (lambda obj: (getattr(obj, names[0]),))

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return values(self) == values(other)

    cls.__eq__ = __eq__
    cls.__repr__ = _repr
    cls.__record_fields__ = names
    if frozen:
        cls.__hash__ = lambda self: hash(values(self))
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_delattr
    else:
        cls.__hash__ = None  # mutable and compared by value: not hashable, as dataclasses
    return cls


def _compile_init(cls: Any, names: tuple[str, ...], defaults: dict[str, object]) -> Any:
    """__init__ for these fields, as dataclasses writes it: one assignment per field."""
    namespace: dict[str, object] = {"_MISSING": _MISSING}
    params, body = [], ["  _d = self.__dict__"]
    for name in names:
        default = defaults.get(name, _MISSING)
        if isinstance(default, _Factory):
            namespace[f"_make_{name}"] = default.make
            params.append(f"{name}=_MISSING")
            body.append(f"  _d[{name!r}] = _make_{name}() if {name} is _MISSING else {name}")
            continue
        if default is _MISSING:
            params.append(name)
        else:
            namespace[f"_default_{name}"] = default
            params.append(f"{name}=_default_{name}")
        body.append(f"  _d[{name!r}] = {name}")
    if hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # the source is built from the class's own field names
    return namespace["__init__"]


def _repr(self: Any) -> str:
    fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_fields__)
    return f"{type(self).__name__}({fields})"


def replace(obj: T, **changes: Any) -> T:
    """A copy of a record with some fields changed (dataclasses.replace)."""
    values = {name: getattr(obj, name) for name in obj.__record_fields__}  # type: ignore[attr-defined]
    values.update(changes)
    return type(obj)(**values)
