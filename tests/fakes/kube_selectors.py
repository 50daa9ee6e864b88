"""Label and field selectors with the apiserver's grammar, so selector bugs in the bot show up in tests.

Label selectors (`labels.Parse` in apimachinery): comma-separated requirements `key`, `!key`, `key=value`,
`key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key>1`, `key<1`. `!=` and `notin` also match
objects without the key, as in Kubernetes. Field selectors: `field=value`, `field==value`, `field!=value`
on the fields the resource supports, with `\\,`, `\\=` and `\\\\` escapes in values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.fakes.kube_resources import FieldGetter

JsonDict = dict[str, Any]

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_LABEL_VALUE = re.compile(rf"^({_NAME})?$")
_SET_REQUIREMENT = re.compile(r"^(?P<key>[^\s!=<>(),]+)\s+(?P<op>in|notin)\s*\((?P<values>[^()]*)\)$")
_BINARY_REQUIREMENT = re.compile(r"^(?P<key>[^\s!=<>(),]+)\s*(?P<op>==|=|!=|>|<)\s*(?P<value>[^\s!=<>(),]*)$")
_EXISTS_REQUIREMENT = re.compile(r"^(?P<neg>!?)\s*(?P<key>[^\s!=<>(),]+)$")


class SelectorError(ValueError):
    """A selector the apiserver would refuse with 400 Bad Request; the message is the apiserver's."""


LabelTest = Callable[[Mapping[str, str]], bool]


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A parsed label selector; `matches` takes an object's `metadata.labels`."""

    text: str
    tests: tuple[LabelTest, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        present = labels or {}
        return all(test(present) for test in self.tests)


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """A parsed field selector; `matches` takes the whole object."""

    text: str
    terms: tuple[tuple[FieldGetter, bool, str], ...]  # (getter, must_equal, value)

    def matches(self, obj: JsonDict) -> bool:
        return all((getter(obj) == value) == must_equal for getter, must_equal, value in self.terms)


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses: `a in (x,y),b` is two requirements."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _check_key(key: str) -> str:
    if not _LABEL_KEY.match(key) or len(key.split("/")[-1]) > 63:
        raise SelectorError(
            f'unable to parse requirement: Invalid value: "{key}": name part must consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric character"
        )
    return key


def _check_value(value: str) -> str:
    if not _LABEL_VALUE.match(value):
        raise SelectorError(
            f'unable to parse requirement: values[0]: Invalid value: "{value}": a valid label must be an '
            "empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end "
            "with an alphanumeric character"
        )
    return value


def _integer(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SelectorError(
            f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer: {value}"
        ) from None


def _compare(key: str, labels: Mapping[str, str], bound: int, greater: bool) -> bool:
    try:
        number = int(labels[key])
    except (KeyError, ValueError):
        return False
    return number > bound if greater else number < bound


def _requirement(text: str) -> LabelTest:
    if match := _SET_REQUIREMENT.match(text):
        key = _check_key(match["key"])
        values = frozenset(_check_value(v.strip()) for v in match["values"].split(","))
        if match["op"] == "in":
            return lambda labels: key in labels and labels[key] in values
        return lambda labels: key not in labels or labels[key] not in values
    if match := _BINARY_REQUIREMENT.match(text):
        key, op, value = _check_key(match["key"]), match["op"], match["value"]
        if op in ("=", "=="):
            _check_value(value)
            return lambda labels: labels.get(key) == value
        if op == "!=":
            _check_value(value)
            return lambda labels: labels.get(key) != value
        bound = _integer(value)
        greater = op == ">"
        return lambda labels: _compare(key, labels, bound, greater)
    if match := _EXISTS_REQUIREMENT.match(text):
        key = _check_key(match["key"])
        if match["neg"]:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise SelectorError(f"unable to parse requirement: found '{text}', expected: identifier")


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse `labelSelector`; empty or missing selects everything."""
    if not text or not text.strip():
        return LabelSelector(text or "", ())
    return LabelSelector(text, tuple(_requirement(part.strip()) for part in _split_top_level(text)))


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _field_term(term: str, fields: Mapping[str, FieldGetter]) -> tuple[FieldGetter, bool, str]:
    for operator, must_equal in (("!=", False), ("==", True), ("=", True)):
        index = term.find(operator)
        if index > 0:
            name, value = term[:index].strip(), term[index + len(operator) :]
            getter = fields.get(name)
            if getter is None:
                raise SelectorError(f"field label not supported: {name}")
            return getter, must_equal, _unescape(value)
    raise SelectorError(f"invalid selector: '{term}'; can't understand '{term}'")


def parse_field_selector(text: str | None, fields: Mapping[str, FieldGetter]) -> FieldSelector:
    """Parse `fieldSelector` against the field labels one resource supports."""
    if not text or not text.strip():
        return FieldSelector(text or "", ())
    return FieldSelector(
        text, tuple(_field_term(term, fields) for term in _split_unescaped(text, ",") if term)
    )
