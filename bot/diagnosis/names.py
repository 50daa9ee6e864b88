"""Names typed by a user, checked before any API call, and close matches when a pod is not found.

Kubernetes names are DNS-1123: a namespace is a label (lower-case letters, digits and `-`, at most 63),
a pod name a subdomain (labels joined by `.`, at most 253). Anything else cannot exist, so asking the
API about it only wastes a call and risks odd paths; the user gets a sentence saying what is wrong.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.diagnosis.ports import InvalidName

MAX_NAMESPACE = 63
MAX_POD_NAME = 253
_LABEL = "[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL = re.compile(_LABEL)
DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_SHOWN = 80
USAGE = "Use `/exitcode pod NAMESPACE/POD` (or `/exitcode pod POD` for the default namespace)."


class InvalidTarget(InvalidName):
    """An `InvalidName` that also keeps its `problem` without the usage hint, so each surface can add
    the command its user types (`/exitcode-prod pod …`, `exitcode-bot pod …`) instead of editing text."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem} {USAGE}")
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Target:
    """A validated `namespace/name` the user asked about."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def _shown(name: str) -> str:
    """The user's input as quoted in a reply: one line, and not a page long."""
    line = " ".join(name.split())
    return f"“{line[:_SHOWN]}…”" if len(line) > _SHOWN else f"“{line}”"


def _problem(name: str, max_length: int, allow_dots: bool) -> str | None:
    """What is wrong with a name, in words; None when it is valid."""
    if len(name) > max_length:
        return f"it is {len(name)} characters long (at most {max_length})"
    if name != name.lower():
        return "names are lower case" + (
            f" (did you mean “{name.lower()}”?)" if _valid(name.lower(), allow_dots) else ""
        )
    bad = sorted(
        {
            ch
            for ch in name
            if not (ch.isascii() and (ch.isalnum() or ch == "-" or (allow_dots and ch == ".")))
        }
    )
    if bad:
        allowed = "letters, digits, '-' and '.'" if allow_dots else "letters, digits and '-'"
        return f"it contains {', '.join(repr(ch) for ch in bad[:5])}; only {allowed} are allowed"
    return "it must start and end with a letter or digit" + (
        ", and so must each part between dots" if allow_dots else ""
    )


def _valid(name: str, allow_dots: bool) -> bool:
    pattern = DNS1123_SUBDOMAIN if allow_dots else DNS1123_LABEL
    limit = MAX_POD_NAME if allow_dots else MAX_NAMESPACE
    return len(name) <= limit and pattern.fullmatch(name) is not None


def validate_namespace(name: str) -> str:
    """The namespace, or `InvalidName` saying why it cannot be one."""
    if not name:
        raise InvalidTarget("The namespace is missing.")
    if not _valid(name, allow_dots=False):
        problem = _problem(name, MAX_NAMESPACE, allow_dots=False)
        raise InvalidTarget(f"{_shown(name)} is not a valid namespace name: {problem}.")
    return name


def validate_pod_name(name: str) -> str:
    """The pod name, or `InvalidName` saying why it cannot be one."""
    if not name:
        raise InvalidTarget("The pod name is missing.")
    if not _valid(name, allow_dots=True):
        problem = _problem(name, MAX_POD_NAME, allow_dots=True)
        raise InvalidTarget(f"{_shown(name)} is not a valid pod name: {problem}.")
    return name


def parse_target(text: str, default_namespace: str) -> Target:
    """`NAMESPACE/POD` or `POD` (in `default_namespace`), validated; raises `InvalidName`."""
    cleaned = text.strip()
    if not cleaned:
        raise InvalidTarget("Which pod?")
    if any(ch.isspace() for ch in cleaned):
        raise InvalidTarget(f"{_shown(cleaned)} has spaces in it; a pod is one word.")
    parts = cleaned.split("/")
    if len(parts) > 2:
        raise InvalidTarget(f"{_shown(cleaned)} has more than one '/'.")
    namespace, name = (parts[0], parts[1]) if len(parts) == 2 else (default_namespace, parts[0])
    return Target(validate_namespace(namespace), validate_pod_name(name))


def suggest_close_names(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Names the user may have meant: pods starting with what they typed (a Deployment's name, a pod
    name without its random suffix) first, then the closest spellings."""
    pool = sorted(set(candidates))
    starting = [candidate for candidate in pool if candidate.startswith(name) and candidate != name]
    close = difflib.get_close_matches(name, pool, n=limit, cutoff=0.6)
    suggestions = list(dict.fromkeys([*starting, *close]))
    return suggestions[:limit]
