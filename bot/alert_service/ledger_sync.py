"""The ledger between processes, and keeping one leadership term's copy of it in step.

The planner's state (alerted keys, groups, snoozes, the outbox) must survive a restart or a failover, but
a crash storm must not become a thousand ConfigMap writes: saves are debounced, retried with backoff while
the cluster cannot be written, merged when another writer got there first, and the leader re-reads the
ledger every few seconds for snoozes a standby replica wrote for a button click it handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from bot.alerting import AlertPlanner, LedgerState
from bot.alerting.backlog import folded_ids
from bot.alerting.outbox import Outbox
from bot.diagnosis.ports import ClusterError

from .tuning import AlertTuning

__all__ = ["LedgerStore", "LedgerSync", "MemoryLedger"]

log = logging.getLogger(__package__)  # one logger for the whole service, as operators know it


class LedgerStore(Protocol):
    """Where the planner's memory lives between processes (`ConfigMapLedger`, or `MemoryLedger`)."""

    @property
    def merged_writes(self) -> int:
        """How many saves so far had to merge another writer's copy (it rises: the saved state holds
        entries the caller's state does not)."""
        ...

    async def load(self) -> LedgerState: ...

    async def save(self, state: LedgerState) -> LedgerState: ...


class MemoryLedger:
    """A ledger that lives as long as the process: console mode, and tests of the service logic."""

    def __init__(self, state: LedgerState | None = None) -> None:
        self._json = (state or LedgerState()).to_json()
        self.merged_writes = 0

    async def load(self) -> LedgerState:
        return LedgerState.from_json(self._json)

    async def save(self, state: LedgerState) -> LedgerState:
        stored = LedgerState.from_json(self._json)
        merged = stored.merge(state)
        if merged.to_json() != state.to_json():
            self.merged_writes += 1
        self._json = merged.to_json()
        return LedgerState.from_json(self._json)


class LedgerSync:
    """One term's saves and re-reads of the ledger. `saved` is replaced after each successful write, so a
    sender waiting for its entry to be durable wakes on the next one."""

    def __init__(
        self,
        ledger: LedgerStore,
        planner: AlertPlanner,
        outbox: Outbox,
        tuning: AlertTuning,
        *,
        backoff: Callable[[int], float],
        wake: Callable[[], None],
    ) -> None:
        self.ledger = ledger
        self.planner = planner
        self.outbox = outbox
        self.tuning = tuning
        self.saved = asyncio.Event()
        self._backoff = backoff
        self._wake = wake
        self._save_requested = asyncio.Event()
        self._urgent = False

    def request_save(self, *, urgent: bool = False) -> None:
        """Ask for a write: debounced (a burst of changes becomes one), or `urgent`: as soon as the write
        in progress, if any, is done. Either way one write carries every change made before it starts,
        so fifty channels' senders each asking after a post cost a few writes, not fifty (a group
        commit: no sender waits for it, and no write re-serialises the ledger per message)."""
        self._urgent = self._urgent or urgent
        self._save_requested.set()

    async def save_loop(self) -> None:
        failures = 0
        while True:
            await self._save_requested.wait()
            if not self._urgent:
                await asyncio.sleep(self.tuning.save_debounce_seconds)
            self._save_requested.clear()
            self._urgent = False
            saved = await self.save()
            _raise_if_cancelled()
            if saved:
                failures = 0
                continue
            failures += 1
            self._save_requested.set()
            await asyncio.sleep(self._backoff(failures))

    async def refresh_loop(self) -> None:
        """Pick up what other replicas wrote (snoozes from a button handled there)."""
        while True:
            await asyncio.sleep(self.tuning.refresh_seconds)
            try:
                theirs = await self.ledger.load()
            except ClusterError as error:
                log.debug("event=ledger_refresh_failed error=%r", error.user_message)
                continue
            finally:
                _raise_if_cancelled()
            self._merge(theirs)

    def _merge(self, theirs: LedgerState) -> None:
        planner = self.planner
        planner.state = planner.state.merge(theirs, planner.config.limits)
        self.outbox.mark_saved(theirs.outbox.keys())
        self._wake()

    async def save(self) -> bool:
        """Write the planner's state now; False (logged) when the cluster refused."""
        merges = self.ledger.merged_writes
        try:
            written = await self.ledger.save(self.planner.state)
        except ClusterError as error:
            log.warning("event=ledger_save_failed error=%r", error.user_message)
            return False
        if self.ledger.merged_writes != merges or _new_folds(self.planner.state, written):
            # A concurrent writer's entries, or queued alerts the ledger had to summarise to fit its
            # budget: the live state takes the stored one in, so what is sent is what is stored.
            self._merge(written)
        self.outbox.mark_saved(written.outbox.keys())
        signal, self.saved = self.saved, asyncio.Event()
        signal.set()
        return True


def _raise_if_cancelled() -> None:
    """Honour a cancellation the awaited call swallowed. Python 3.11's `asyncio.wait_for` (around the
    ledger's worker-thread calls) loses a `cancel()` that arrives as the call completes (gh-86296); a loop
    that then awaits again would keep a stopping term waiting forever. The request is still counted."""
    task = asyncio.current_task()
    if task is not None and task.cancelling() > 0:
        raise asyncio.CancelledError


def _new_folds(live: LedgerState, written: LedgerState) -> bool:
    """The stored ledger holds a backlog summary the live state does not (`bot.alerting.backlog`)."""
    return any(
        folded_ids(record) and key not in live.outbox and key not in live.outbox_done
        for key, record in written.outbox.items()
    )
