"""Kubernetes label selectors (`app=api,tier!=cache,env in (prod,staging),!canary`), matched locally.

The alert policy filters pods by a selector the operator writes in the same syntax as `kubectl -l`,
so it follows apimachinery's `labels.Parse`: comma-separated requirements, all of which must hold;
`!=` and `notin` also match pods that lack the label; `>`/`<` compare integer label values. A typo is
reported with the offending requirement and examples, at startup, instead of silently matching nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["LabelSelector", "Requirement", "SelectorError", "parse_selector"]

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_VALUE = re.compile(rf"^({_NAME})?$")
_SET = re.compile(r"^(?P<key>[^\s!=<>(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_BINARY = re.compile(r"^(?P<key>[^\s!=<>(),]+)\s*(?P<op>==|=|!=|>|<)\s*(?P<value>[^\s!=<>(),]*)$")
_EXISTS = re.compile(r"^(?P<neg>!?)\s*(?P<key>[^\s!=<>(),]+)$")
_EXAMPLES = "examples: app=api, tier!=cache, env in (prod,staging), !canary"


class SelectorError(ValueError):
    """A selector that cannot be parsed; the message names the requirement and shows the syntax."""


class Operator(StrEnum):
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    GREATER_THAN = ">"
    LESS_THAN = "<"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One comma-separated part of a selector."""

    key: str
    operator: Operator
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case Operator.EQUALS | Operator.IN:
                return present and value in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                return not present or value not in self.values
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present
            case Operator.GREATER_THAN | Operator.LESS_THAN:
                return self._compare(value)

    def _compare(self, value: str | None) -> bool:
        if value is None:
            return False
        try:
            actual = int(value)
        except ValueError:
            return False
        bound = int(next(iter(self.values)))
        return actual > bound if self.operator is Operator.GREATER_THAN else actual < bound


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed selector; the empty selector matches every pod, as in Kubernetes."""

    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        present = labels or {}
        return all(requirement.matches(present) for requirement in self.requirements)


def parse_selector(text: str) -> LabelSelector:
    """Parse `text`; raises `SelectorError` with a message fit to show the operator."""
    requirements = tuple(_parse_requirement(part, text) for part in _split_top_level(text))
    return LabelSelector(text=text, requirements=requirements)


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses; empty text means no requirement."""
    parts: list[str] = []
    depth = 0
    start = 0
    for position, char in enumerate(text):
        if char == "(":
            depth += 1
            if depth > 1:
                raise SelectorError(f"label selector {text!r}: nested parentheses; {_EXAMPLES}")
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise SelectorError(f"label selector {text!r}: ')' without '('; {_EXAMPLES}")
        elif char == "," and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    if depth:
        raise SelectorError(f"label selector {text!r}: '(' is never closed; {_EXAMPLES}")
    parts.append(text[start:])
    stripped = [part.strip() for part in parts]
    if stripped == [""]:
        return []
    if "" in stripped:
        raise SelectorError(f"label selector {text!r}: empty requirement between commas; {_EXAMPLES}")
    return stripped


def _parse_requirement(part: str, text: str) -> Requirement:
    if match := _SET.match(part):
        values = frozenset(value.strip() for value in match.group("values").split(","))
        op = Operator.IN if match.group("op") == "in" else Operator.NOT_IN
        return Requirement(_key(match.group("key"), part, text), op, _values(values, part, text))
    if match := _BINARY.match(part):
        key = _key(match.group("key"), part, text)
        value = match.group("value")
        op_text = match.group("op")
        if op_text in (">", "<"):
            if not re.fullmatch(r"-?\d+", value):
                raise SelectorError(
                    f"label selector {text!r}: {part!r} compares with {value!r}, not an integer"
                )
            op = Operator.GREATER_THAN if op_text == ">" else Operator.LESS_THAN
            return Requirement(key, op, frozenset({value}))
        op = Operator.NOT_EQUALS if op_text == "!=" else Operator.EQUALS
        return Requirement(key, op, _values(frozenset({value}), part, text))
    if match := _EXISTS.match(part):
        op = Operator.DOES_NOT_EXIST if match.group("neg") else Operator.EXISTS
        return Requirement(_key(match.group("key"), part, text), op)
    raise SelectorError(f"label selector {text!r}: cannot read {part!r}; {_EXAMPLES}")


def _key(key: str, part: str, text: str) -> str:
    if not _KEY.match(key) or len(key.rpartition("/")[2]) > 63:
        raise SelectorError(
            f"label selector {text!r}: {key!r} in {part!r} is not a label key "
            "(a name of up to 63 letters, digits, '-', '_', '.', with an optional DNS prefix and '/')"
        )
    return key


def _values(values: frozenset[str], part: str, text: str) -> frozenset[str]:
    for value in values:
        if not _VALUE.match(value):
            raise SelectorError(
                f"label selector {text!r}: {value!r} in {part!r} is not a label value "
                "(up to 63 letters, digits, '-', '_', '.', starting and ending alphanumeric)"
            )
    return values
