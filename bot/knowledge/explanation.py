"""What the bot says about one `/exitcode` query, as plain data.

Every surface (Block Kit, console text, CLI JSON, the /runbooks HTML page) renders these objects;
none of them re-derives a fact. Text fields hold the knowledge base's own words, unescaped: escaping
is the renderer's job, per surface.

Runbook commands may contain placeholders (`{namespace}`, `{pod}`, `{container}`, `{node}`,
`{owner_kind}`, `{owner}`, `{code}`); `RunbookStep.filled` substitutes the values a diagnosis knows
and shows the others as `<namespace>`-style hints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from operator import attrgetter
from typing import Literal

PLACEHOLDER = re.compile(r"\{(namespace|pod|container|node|owner_kind|owner|code)\}")


@dataclass(frozen=True, slots=True)
class SignalInfo:
    """A Linux signal as the kernel defines it (x86_64/arm64 numbering)."""

    number: int
    name: str
    default_action: Literal["terminate", "core", "ignore", "stop", "continue"]
    description: str

    @property
    def kills_by_default(self) -> bool:
        return self.default_action in ("terminate", "core")

    def __reduce__(self) -> tuple[type[SignalInfo], tuple[object, ...]]:
        return SignalInfo, (self.number, self.name, self.default_action, self.description)


@dataclass(frozen=True, slots=True)
class RunbookStep:
    """One thing to do; `command` is a shell line the engineer can paste."""

    text: str
    command: str | None = None

    def __reduce__(self) -> tuple[type[RunbookStep], tuple[object, ...]]:
        """Pickled as a constructor call (see `Explanation.__reduce__`)."""
        return RunbookStep, (self.text, self.command)

    def filled(self, values: Mapping[str, str]) -> RunbookStep:
        """The same step with known placeholders substituted and unknown ones shown as `<name>`."""
        if self.command is None:
            return self
        head, rest = _template(self.command)
        if not rest:
            return self
        pieces = [head]
        for name, literal in rest:
            pieces.append(values.get(name) or f"<{name}>")
            pieces.append(literal)
        step = _NEW_STEP(RunbookStep)  # `RunbookStep(self.text, command)`, see `_NEW_STEP`
        _SET_TEXT(step, self.text)
        _SET_COMMAND(step, "".join(pieces))
        return step


# `RunbookStep(text, command)` for `filled`, storing through the slots' own descriptors: the frozen
# dataclass's `__init__` stores each field with `object.__setattr__` by name, and every diagnosis fills
# a few steps (the same object: equality, hash, `repr` and pickling are the dataclass's).
_NEW_STEP = object.__new__
_SET_TEXT = vars(RunbookStep)["text"].__set__
_SET_COMMAND = vars(RunbookStep)["command"].__set__


@lru_cache(maxsize=2048)
def _template(command: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A command split at its placeholders: the literal before the first, then each placeholder's name with
    the literal after it (computed once per command, since the same runbook commands are filled for every
    pod diagnosed; bounded, as some commands name a Job)."""
    parts = PLACEHOLDER.split(command)
    return parts[0], tuple(zip(parts[1::2], parts[2::2], strict=True))


@dataclass(frozen=True, slots=True)
class RuntimeHint:
    """What a particular runtime (Go, Node.js, JVM, …) means by this code."""

    runtime: str
    text: str

    def __reduce__(self) -> tuple[type[RuntimeHint], tuple[object, ...]]:
        return RuntimeHint, (self.runtime, self.text)


@dataclass(frozen=True, slots=True)
class Explanation:
    """The answer to an exit code or a Kubernetes reason."""

    query: str
    subject: Literal["exit_code", "reason"]
    title: str
    summary: str
    code: int | None = None
    normalized_code: int | None = None
    arithmetic: str | None = None
    signal: SignalInfo | None = None
    reason: str | None = None
    typical_codes: tuple[int, ...] = ()
    kubernetes: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    runbook_steps: tuple[RunbookStep, ...] = ()
    runtime_hints: tuple[RuntimeHint, ...] = ()
    runbook_url: str | None = None
    runbook_key: str = ""
    application_defined: bool = False
    share: bool = False
    # For reasons: which status field carries it (a waiting reason such as CrashLoopBackOff is not an exit).
    reason_kind: Literal["terminated", "waiting", "pod", "job"] | None = None

    def with_placeholders(self, values: Mapping[str, str]) -> Explanation:
        """A copy whose runbook commands name a real pod (used by diagnosis and alerts)."""
        steps = tuple(step.filled(values) for step in self.runbook_steps)
        return replace(self, runbook_steps=steps)

    def __reduce__(self) -> tuple[type[Explanation], tuple[object, ...]]:
        """Pickled as a constructor call with every field in order: the CLI's knowledge cache
        (`bot.application.knowledge_cache`) unpickles hundreds of these at each start, and the generated
        `__init__` is twice as fast as the per-object `__setstate__` that `slots=True` adds."""
        return Explanation, _field_values(self)

    def answering(self, query: str, code: int | None, arithmetic: str | None, share: bool) -> Explanation:
        """`replace(self, query=, code=, arithmetic=, share=)`: this explanation as the answer to one query.

        Every uncached `/exitcode` pays for this copy, and `replace()` (field list, keyword arguments,
        one `getattr` per field) was the largest part of answering; this takes all values in one C call
        and builds positionally. tests/test_knowledge_base.py checks it equals `replace()`.
        """
        values = list(_field_values(self))
        values[_QUERY], values[_CODE], values[_ARITHMETIC], values[_SHARE] = query, code, arithmetic, share
        return Explanation(*values)


_FIELD_NAMES = tuple(f.name for f in fields(Explanation))
_field_values = attrgetter(*_FIELD_NAMES)
_QUERY, _CODE, _ARITHMETIC, _SHARE = (_FIELD_NAMES.index(n) for n in ("query", "code", "arithmetic", "share"))


@dataclass(frozen=True, slots=True)
class Usage:
    """The reply to `help`, or to a query the bot could not read: what to type instead."""

    message: str
    examples: tuple[str, ...] = field(default=())
    is_help: bool = False
    query: str = ""


Reply = Explanation | Usage
