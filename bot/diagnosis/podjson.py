"""Tolerant readers for API JSON: a field that is missing, null or of the wrong type reads as absent.

The diagnosis must answer for any pod the API returns, including half-written statuses (a pod still
being scheduled, a kubelet from another version, a hand-edited fixture), so no reader here raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.diagnosis.ports import JsonDict

_EMPTY: JsonDict = {}

# containerd reports a container that never started (StartError) with startedAt at the Unix epoch.
_EPOCH_YEAR = 1970


def obj(value: object) -> JsonDict:
    """`value` if it is a JSON object, else an empty one (read-only: never mutate the result)."""
    return value if isinstance(value, dict) else _EMPTY


def objects(value: object) -> list[JsonDict]:
    """The JSON objects in a list (anything else in it, or a non-list, is skipped)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def text(value: object) -> str | None:
    """A non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def integer(value: object) -> int | None:
    """An integer (JSON numbers only; booleans are not numbers here)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def dig(data: Mapping[str, Any], *path: str) -> object:
    """`data[a][b][c]`, or None as soon as a step is missing or not an object."""
    current: object = data
    for key in path:
        if not isinstance(current, dict):
            return None
        current = current.get(key)
    return current


def timestamp(value: object) -> datetime | None:
    """An RFC 3339 API timestamp as an aware datetime; None when absent, garbled or the zero epoch."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.year <= _EPOCH_YEAR:
        return None
    return moment


def string_list(value: object) -> tuple[str, ...]:
    """The strings of a JSON list (a container's `command`, say)."""
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))
