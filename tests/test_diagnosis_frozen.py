"""`quick_init` builds the same objects as the dataclass's own `__init__` (only faster, see bench/)."""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field

import pytest

from bot.diagnosis.frozen import positional, quick_init
from bot.diagnosis.model import OwnerRef


@dataclass(frozen=True, slots=True)
class Plain:
    name: str
    count: int = 1
    tags: tuple[str, ...] = ()
    extra: dict[str, int] = field(default_factory=dict)


@quick_init
@dataclass(frozen=True, slots=True)
class Quick:
    name: str
    count: int = 1
    tags: tuple[str, ...] = ()
    extra: dict[str, int] = field(default_factory=dict)


def fields_of(value: Plain | Quick) -> dict[str, object]:
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("a",), {}),
        (("a", 2), {}),
        ((), {"name": "a", "tags": ("x",), "extra": {"k": 1}}),
        (("a", 3, ("y", "z")), {"extra": {}}),
    ],
)
def test_same_fields_as_the_dataclass_init(args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    plain, quick = Plain(*args, **kwargs), Quick(*args, **kwargs)  # type: ignore[arg-type]
    assert fields_of(quick) == fields_of(plain)
    assert repr(quick).removeprefix("Quick") == repr(plain).removeprefix("Plain")


def test_each_object_gets_its_own_default_factory_value() -> None:
    first, second = Quick("a"), Quick("b")
    assert first.extra == {} and first.extra is not second.extra


def test_same_argument_errors_as_the_dataclass_init() -> None:
    with pytest.raises(TypeError):
        Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Quick("a", unknown=1)  # type: ignore[call-arg]


def test_still_frozen_hashable_replaceable_and_picklable() -> None:
    ref = OwnerRef("Job", "nightly")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.name = "other"  # type: ignore[misc]
    assert hash(ref) == hash(OwnerRef("Job", "nightly")) and ref == OwnerRef("Job", "nightly")
    assert dataclasses.replace(ref, name="other") == OwnerRef("Job", "other")
    assert pickle.loads(pickle.dumps(ref)) == ref


def test_refuses_classes_it_cannot_speed_up_safely() -> None:
    @dataclass(slots=True)
    class Mutable:
        name: str

    @dataclass(frozen=True, slots=True)
    class Checked:
        name: str

        def __post_init__(self) -> None:
            pass

    for cls in (Mutable, Checked):
        with pytest.raises(TypeError):
            quick_init(cls)


def test_positional_accepts_the_fields_in_their_order_and_a_prefix_of_them() -> None:
    assert positional(Quick, "name", "count", "tags", "extra") is Quick
    assert positional(Quick, "name", "count") is Quick


@pytest.mark.parametrize(
    "names", [("count", "name"), ("name", "tags"), ("name", "count", "tags", "extra", "more")]
)
def test_positional_refuses_a_call_site_whose_order_is_not_the_fields(names: tuple[str, ...]) -> None:
    """A field inserted or moved must fail at import, not shift the values a positional call passes."""
    with pytest.raises(TypeError, match="by position"):
        positional(Quick, *names)
