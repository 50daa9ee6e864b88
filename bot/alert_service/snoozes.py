"""The Snooze button's store, on every replica: the live planner when this replica leads (so the watcher
honours it at once, and the ledger write happens before the button says "snoozed"), else the ledger
ConfigMap itself, which the leader re-reads every few seconds (a click reaches whichever replica Slack or
the Service picked)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.alerting import Workload
from bot.alerting.policy import snooze_key

from .ledger_sync import LedgerStore

__all__ = ["LedgerSnoozes", "LiveSnooze"]

LiveSnooze = Callable[[str, Workload, float], Awaitable[bool]]
"""Snooze in the leading term and save it; False when this replica does not lead right now."""


class LedgerSnoozes:
    """`bot.slack.alert_actions.SnoozeStore` over the live planner or the stored ledger."""

    def __init__(self, live: LiveSnooze, ledger: LedgerStore) -> None:
        self._live = live
        self._ledger = ledger

    async def snooze(self, namespace: str, workload: Workload, until: float) -> None:
        if await self._live(namespace, workload, until):
            return
        state = await self._ledger.load()
        state.snoozes[snooze_key(namespace, workload)] = until
        await self._ledger.save(state)
