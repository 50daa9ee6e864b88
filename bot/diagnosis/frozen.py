"""`quick_init`: a faster `__init__` for the frozen, slotted dataclasses a diagnosis builds by the dozen.

A frozen dataclass's generated `__init__` stores each field with `object.__setattr__(self, name, value)`,
which looks the slot up by name on every store; a diagnosis sets about 90 such fields per pod, enough to
show in the diagnosis benchmark (`bench/diagnosis_core.py`). The `__init__` made here stores each field
through its slot's own descriptor instead, fetched once per class: the same fields, defaults, order and
keyword names, so objects are indistinguishable (equality, hash, `repr`, pickling, `dataclasses.replace`
and `FrozenInstanceError` on assignment are all the dataclass's own, untouched).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

_T = TypeVar("_T")


def quick_init(cls: type[_T]) -> type[_T]:
    """Replace the dataclass `cls`'s `__init__` (frozen, `slots=True`, no `__post_init__`, no `InitVar`)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in vars(cls) or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__qualname__} is not a frozen, slotted dataclass without __post_init__")
    namespace: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    parameters: list[str] = []
    body: list[str] = []
    for index, field in enumerate(dataclasses.fields(cls)):  # type: ignore[arg-type]
        if not field.init or field.kw_only is True:
            raise TypeError(f"{cls.__qualname__}.{field.name} is init=False or keyword-only")
        namespace[f"_set{index}"] = getattr(cls, field.name).__set__
        if field.default is not dataclasses.MISSING:
            namespace[f"_default{index}"] = field.default
            parameters.append(f"{field.name}=_default{index}")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory{index}"] = field.default_factory
            parameters.append(f"{field.name}=_MISSING")
            body.append(f"    if {field.name} is _MISSING: {field.name} = _factory{index}()")
        else:
            parameters.append(field.name)
        body.append(f"    _set{index}(self, {field.name})")
    source = f"def __init__(self, {', '.join(parameters)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, namespace)  # noqa: S102 - generated from field names only, as dataclasses itself does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


def positional(cls: type[_T], *names: str) -> type[_T]:
    """`cls`, after checking that its first fields are `names`, in this order (else `TypeError`, at import).

    The diagnosis builds its widest objects (`ContainerReport`, `PodFacts`, `Diagnosis`, …) with
    positional arguments, each line commented with its field: 20 keyword arguments cost about 1 µs more
    per call, once per container or pod. This check is what makes that safe: reordering or inserting a
    field fails loudly where the call is written instead of silently shifting values."""
    actual = tuple(field.name for field in dataclasses.fields(cls))  # type: ignore[arg-type]
    if actual[: len(names)] != names:
        raise TypeError(f"{cls.__qualname__} fields are {actual}, but a call site passes {names} by position")
    return cls
