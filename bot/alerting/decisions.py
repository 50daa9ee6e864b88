"""People's decisions about alerts, applied to the ledger exactly once: snooze, shorten, extend, lift, and
"I'm on it" (who owns an incident).

A decision is a pure function of the click that made it: when (`set_at`, the click's own time), until
when, by whom, and `via`, a digest of *which button on which alert* it came from. So the same click
handled twice (by two replicas, or retried) gives the same decision, and the ledger's merge, which keeps
the decision made last (`LedgerState.merge`), stores it once. A second click of the same button on the
same alert within `window` seconds finds the first one's decision in the ledger and is answered "already
done" (`Decided.already`) without writing anything: that is the duplicate check across replicas, beside
the per-replica click memory of the Slack adapter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.alerting.ledger_state import LedgerState, Owner, Snooze

__all__ = [
    "DUPLICATE_WINDOW_SECONDS",
    "Decided",
    "OwnerDecided",
    "click_digest",
    "decide_owner",
    "decide_snooze",
    "incident_key",
    "lift_snooze",
    "visible_snoozes",
]

DUPLICATE_WINDOW_SECONDS = 60.0
"""Within this many seconds, a second decision from the same button on the same alert is a duplicate."""


def click_digest(*parts: str) -> str:
    """The `via` of a decision: which button, on which alert message (not who or when)."""
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).hexdigest()


def incident_key(channel_id: str, root_ts: str) -> str:
    """The ledger's name for an incident: its alert's root message, written as the planner keeps the
    root's reference (`<channel id>:<ts>`), so the alert service finds the owner when it edits the root."""
    return f"{channel_id}:{root_ts}"


@dataclass(frozen=True, slots=True)
class Decided:
    """The snooze decision in force after a request, and whether the request was a duplicate."""

    decision: Snooze | None
    already: bool = False
    """The same button on the same alert decided this moments ago: nothing was written."""
    previous: Snooze | None = None
    """The decision in force before (to say "shortened", "extended" or "lifted")."""


@dataclass(frozen=True, slots=True)
class OwnerDecided:
    """The owner after an "I'm on it" request; `already` as for `Decided`."""

    owner: Owner
    already: bool = False
    previous: Owner | None = None


def _duplicate(stored_via: str | None, stored_at: float, via: str | None, at: float, window: float) -> bool:
    return via is not None and stored_via == via and abs(stored_at - at) < window


def decide_snooze(
    state: LedgerState, key: str, decision: Snooze, window: float = DUPLICATE_WINDOW_SECONDS
) -> Decided:
    """Store `decision` for the workload `key` (a snooze, or a lift: see `lift_snooze`), unless it
    duplicates the stored one. The latest decision replaces any earlier one, longer or shorter."""
    stored = state.snoozes.get(key)
    if stored is not None and _duplicate(stored.via, stored.set_at, decision.via, decision.set_at, window):
        return Decided(stored, already=True, previous=stored)
    if stored is not None and stored.newer_than(decision):
        # Someone decided after this click was made (clocks, or a slow request): theirs stands.
        return Decided(stored, already=True, previous=stored)
    state.snoozes[key] = decision
    return Decided(decision, previous=stored)


def lift_snooze(
    state: LedgerState,
    key: str,
    *,
    now: float,
    by: str | None,
    via: str | None,
    window: float = DUPLICATE_WINDOW_SECONDS,
) -> Decided:
    """Lift the workload's snooze: a tombstone decision, so no older copy of the ledger brings it back.
    Nothing is written when no snooze is in force (`Decided.decision` is then None, or the earlier lift
    when this is a duplicate)."""
    stored = state.snoozes.get(key)
    if stored is None or not stored.active(now):
        duplicate = stored is not None and _duplicate(stored.via, stored.set_at, via, now, window)
        return Decided(stored if duplicate else None, already=duplicate, previous=stored)
    return decide_snooze(state, key, Snooze(until=now, set_by=by, set_at=now, lifted=True, via=via), window)


def decide_owner(
    state: LedgerState, key: str, owner: Owner, window: float = DUPLICATE_WINDOW_SECONDS
) -> OwnerDecided:
    """Record who owns the incident `key`; the latest claim wins, a duplicate writes nothing."""
    stored = state.owners.get(key)
    if stored is not None and (
        _duplicate(stored.via, stored.set_at, owner.via, owner.set_at, window) or stored.newer_than(owner)
    ):
        return OwnerDecided(stored, already=True, previous=stored)
    if stored is not None and stored.user == owner.user:
        return OwnerDecided(stored, already=True, previous=stored)
    state.owners[key] = owner
    return OwnerDecided(owner, previous=stored)


def visible_snoozes(
    snoozes: Iterable[tuple[str, Snooze]], now: float, may_see: Callable[[str], bool]
) -> list[tuple[str, Snooze]]:
    """The snoozes in force whose namespace `may_see` allows, soonest end first (the `snoozes` list)."""
    shown = [
        (key, snooze) for key, snooze in snoozes if snooze.active(now) and may_see(key.partition("/")[0])
    ]
    return sorted(shown, key=lambda item: (item[1].until, item[0]))
