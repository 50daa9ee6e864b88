"""The store behind the Snooze, Unsnooze and "I'm on it" buttons and `/exitcode snoozes`, on every replica.

A decision goes into the live planner when this replica leads (so the watcher honours it at once, and
the ledger write happens before the button says "done"), else into the ledger ConfigMap itself, which
the leader re-reads every few seconds (a click reaches whichever replica Slack or the Service picked).
Either way the change is one of `bot.alerting.decisions`' pure functions, applied to the state: a
duplicate is found and answered from the stored ledger, and nothing is written for it.

The incident owner is kept in the ledger; `OwnerHook`s are told after the write (so a failed page never
loses the owner): with PagerDuty on, `acknowledge.PagerAcknowledge` acknowledges the incident's
PagerDuty alert (issue 12).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar, cast

from bot.alerting import LedgerState, Workload
from bot.alerting.decisions import (
    Decided,
    OwnerDecided,
    decide_owner,
    decide_snooze,
    incident_key,
    lift_snooze,
)
from bot.alerting.ledger_state import Owner, Snooze
from bot.alerting.policy import snooze_key

from .ledger_sync import LedgerStore

__all__ = ["LedgerSnoozes", "LiveChange", "OwnerHook"]

T = TypeVar("T")

LiveChange = Callable[[Callable[[LedgerState], Any]], Awaitable[tuple[bool, Any]]]
"""Apply a change to the leading term's state and save it: (True, its result), or (False, None) when
this replica does not lead right now."""


class OwnerHook(Protocol):
    """Told after an owner is stored: the seam for acknowledging the incident on a paging service."""

    async def owner_set(self, incident: str, owner: Owner) -> None: ...


class LedgerSnoozes:
    """`bot.slack.alert_actions.SnoozeStore` and `OwnerStore` over the live planner or the stored ledger."""

    def __init__(
        self,
        live: LiveChange,
        ledger: LedgerStore,
        owner_hooks: tuple[OwnerHook, ...] = (),
    ) -> None:
        self._live = live
        self._ledger = ledger
        self._owner_hooks = owner_hooks

    async def _apply(self, change: Callable[[LedgerState], T], changed: Callable[[T], bool]) -> T:
        leading, result = await self._live(change)
        if leading:
            return cast(T, result)
        state = await self._ledger.load()
        outcome = change(state)
        if changed(outcome):
            await self._ledger.save(state)
        return outcome

    async def snooze(
        self,
        namespace: str,
        workload: Workload,
        until: float,
        *,
        by: str | None = None,
        at: float = 0.0,
        via: str | None = None,
    ) -> Decided:
        """Snooze until `until`, replacing any earlier decision (shorter or longer)."""
        decision = Snooze(until=until, set_by=by, set_at=at, via=via)
        key = snooze_key(namespace, workload)
        return await self._apply(lambda state: decide_snooze(state, key, decision), _wrote)

    async def lift(
        self, namespace: str, workload: Workload, *, now: float, by: str | None, via: str | None
    ) -> Decided:
        """Lift the snooze in force (a tombstone decision); `decision` None: there was none."""
        key = snooze_key(namespace, workload)
        return await self._apply(lambda state: lift_snooze(state, key, now=now, by=by, via=via), _wrote)

    async def claim(self, channel: str, root_ts: str, *, user: str, at: float, via: str) -> OwnerDecided:
        """Record `user` as the owner of the incident whose alert is `channel`/`root_ts`."""
        key = incident_key(channel, root_ts)
        owner = Owner(user=user, set_at=at, via=via)
        decided = await self._apply(
            lambda state: decide_owner(state, key, owner), lambda done: not done.already
        )
        if not decided.already:
            for hook in self._owner_hooks:
                await hook.owner_set(key, decided.owner)
        return decided

    async def snoozes(self) -> Mapping[str, Snooze]:
        """Every snooze decision as stored (the listing filters what the channel may see). The stored
        ledger is current: every decision is written before its button answers."""
        return dict((await self._ledger.load()).snoozes)


def _wrote(decided: Decided) -> bool:
    return not decided.already and decided.decision is not None
