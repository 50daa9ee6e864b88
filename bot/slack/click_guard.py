"""What every alert-button click passes before any work: bound to its alert, and not a duplicate.

A button's `value` comes back from the client as untrusted input (issue 14). Two checks live here; the
third, the namespace access policy, is `NamespaceAccess.refusal` in `bot.access`, the same one the slash
commands use:

- **Bound to its alert.** Every alert button carries the same value, the `AlertTarget` of the crash it
  was posted for. Slack sends the message the button is on with each click, as it stores it, inside the
  signed request; a click whose value is not the value of that very button on that very message (a
  forged or tampered payload, a button from some other message) is refused before anything is read.
- **Idempotent.** A second identical click (same button, same alert) within `DUPLICATE_WINDOW_SECONDS`
  answers "already done" (or "already in progress") instead of doing the work again, whoever clicked:
  two quick Re-diagnose clicks post one diagnosis. A click whose work failed is forgotten, so trying
  again works at once. The memory is per replica: with several replicas behind a Service, a duplicate
  that reaches another replica within the window still repeats (the remaining window, documented).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DUPLICATE_WINDOW_SECONDS = 60.0
_MAX_REMEMBERED = 10_000  # clicks in one window; beyond that the oldest are forgotten first


def cluster_of(value: str) -> str | None:
    """The cluster a button value names (CLUSTERS, issue 13), read before the click is routed to that
    cluster's handlers; None when it names none (an older alert, or one bot per cluster). The value is
    still untrusted: the cluster is then checked against the channel's clusters, and the whole value
    against the message (`bound_to_message`), like every other field."""
    try:
        record = json.loads(value)
    except (TypeError, ValueError):
        return None
    cluster = record.get("k") if isinstance(record, dict) else None
    return cluster if isinstance(cluster, str) and cluster else None


def bound_to_message(action_id: str, value: str, message: dict[str, Any] | None) -> bool:
    """True when the message the click came from has a button `action_id` carrying exactly `value`."""
    if not message:
        return False
    blocks = message.get("blocks")
    if not isinstance(blocks, list):
        return False
    for block in blocks:
        elements = block.get("elements") if isinstance(block, dict) else None
        for element in elements if isinstance(elements, list) else []:
            if (
                isinstance(element, dict)
                and element.get("action_id") == action_id
                and element.get("value") == value
            ):
                return True
    return False


ClickKey = tuple[str, str, str, str]
"""(action_id, channel, message ts, value): what makes two clicks "the same"."""


@dataclass(slots=True)
class EarlierClick:
    """The click that already did (or is doing) the work."""

    at: float
    user_id: str | None
    finished: bool = False


class RecentClicks:
    """Clicks of the last `window` seconds, so a duplicate is answered instead of repeated."""

    def __init__(
        self, window: float = DUPLICATE_WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window = window
        self._clock = clock
        self._clicks: dict[ClickKey, EarlierClick] = {}

    def claim(self, key: ClickKey, user_id: str | None) -> EarlierClick | None:
        """None when this click is the first in the window (it is remembered now); else the earlier one."""
        now = self._clock()
        self._forget_older_than(now - self._window)
        earlier = self._clicks.get(key)
        if earlier is not None:
            return earlier
        self._clicks[key] = EarlierClick(at=now, user_id=user_id)
        if len(self._clicks) > _MAX_REMEMBERED:
            del self._clicks[next(iter(self._clicks))]
        return None

    def finished(self, key: ClickKey) -> None:
        if key in self._clicks:
            self._clicks[key].finished = True

    def forget(self, key: ClickKey) -> None:
        """The work failed: the next identical click tries again."""
        self._clicks.pop(key, None)

    def seconds_ago(self, earlier: EarlierClick) -> int:
        return max(0, round(self._clock() - earlier.at))

    def _forget_older_than(self, cutoff: float) -> None:
        # Insertion order is time order, so the old ones are at the front.
        while self._clicks:
            key, first = next(iter(self._clicks.items()))
            if first.at >= cutoff:
                return
            del self._clicks[key]
