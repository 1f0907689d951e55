"""auditor.record: the dataclass behaviour hostaudit relies on, without dataclasses."""

from __future__ import annotations

import pytest

from auditor.record import FrozenError, field, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@record
class Checked:
    value: int
    doubled: int | None = None

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError("negative")
        object.__setattr__(self, "doubled", self.value * 2)


@record(frozen=False)
class Bag:
    items: list[int] = field(default_factory=list)
    name: str = "bag"


def test_init_defaults_and_fresh_factories():
    a, b = Point(1), Point(2, 3)
    assert (a.x, a.y, b.y) == (1, 0, 3)
    a.tags.append("t")
    assert b.tags == [] and Point(1).tags == []
    assert Point(x=1, y=2, tags=["z"]).tags == ["z"]
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]


def test_equality_hash_and_repr():
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1)
    assert Point(1) != (1, 0, [])
    assert len({Checked(1), Checked(1), Checked(2)}) == 2
    assert repr(Point(1, 2)) == "Point(x=1, y=2, tags=[])"


def test_frozen_records_refuse_changes():
    point = Point(1)
    with pytest.raises(FrozenError):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del point.y  # type: ignore[misc]


def test_post_init_runs_and_may_set_fields():
    assert Checked(4).doubled == 8
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)


def test_replace_makes_a_changed_copy():
    point = Point(1, 2, ["a"])
    moved = replace(point, y=5)
    assert (moved.x, moved.y, moved.tags) == (1, 5, ["a"]) and point.y == 2
    assert replace(Checked(3), value=5).doubled == 10


def test_mutable_records_change_and_are_not_hashable():
    bag = Bag()
    bag.name = "other"
    bag.items.append(1)
    assert bag == Bag([1], "other")
    with pytest.raises(TypeError):
        hash(bag)
