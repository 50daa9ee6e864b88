"""The service object: leads (or waits to) until stopped, one `LeadershipTerm` per period of leadership,
and answers the Snooze button on every replica (`snoozes`). It holds only what outlives a term: the
term's collaborators (`TermContext`) and what a term sent but could not store.

Why it keeps that state: during an API-server outage the leader cannot write the ledger, yet it posts
(after `unsaved_grace_seconds`, a late alert beats none), then loses the Lease because it cannot renew it
either. The stored ledger then lacks what it posted. Leading again from the stored ledger alone would post
the same crashes again. So the last term's state is kept (`carried`), written to the ledger as soon as the
cluster takes writes again (as a merge, safe whoever leads meanwhile), and merged into the next term of
this process: an outage of any length re-posts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import TypeVar

from bot.alerting import AlertPlanner, LedgerState
from bot.alerting.planner import open_incidents
from bot.diagnosis.answers import OpenIncident
from bot.diagnosis.ports import ClusterError

from .acknowledge import Acknowledging, PagerAcknowledge
from .context import TermContext
from .snoozes import LedgerSnoozes
from .term import LeadershipTerm, first_of

__all__ = ["AlertService"]

T = TypeVar("T")

log = logging.getLogger(__package__)  # one logger for the whole service, as operators know it


class AlertService:
    """Runs the watcher while this replica leads; `snoozes` is what the Snooze button writes to."""

    def __init__(self, context: TermContext) -> None:
        self.context = context
        self.metrics = context.metrics
        self.clock = context.clock
        self._term: LeadershipTerm | None = None
        self._carried: LedgerState | None = None
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self.terms = 0
        """How many times this replica started leading (for tests and logs)."""

    @property
    def leading(self) -> bool:
        return self.context.leading

    @property
    def planner(self) -> AlertPlanner | None:
        """The planner while leading (None on a standby)."""
        return self._term.planner if self._term is not None else None

    @property
    def watching(self) -> bool:
        """Leading, and the pod watch has delivered its first complete list: every pod change from now
        on is seen (what a test or a readiness check should wait for, not "a watch was started")."""
        term = self._term
        return term is not None and term.lists_synced > 0

    @property
    def snoozes(self) -> LedgerSnoozes:
        """The buttons' store; "I'm on it" also acknowledges the incident on every surface that can
        (PagerDuty: `acknowledge.PagerAcknowledge`)."""
        hooks = tuple(
            PagerAcknowledge(self._current_state, surface)
            for surface in self.context.surfaces.values()
            if isinstance(surface, Acknowledging)
        )
        return LedgerSnoozes(self.change_if_leading, self.context.ledger, hooks)

    async def _current_state(self) -> LedgerState:
        planner = self.planner
        return planner.state if planner is not None else await self.context.ledger.load()

    async def open_incidents(self) -> list[OpenIncident]:
        """The open incidents for `/exitcode ns` and `/exitcode incidents`, on every replica: the live
        planner's when this replica leads, else the stored ledger's (as the standby reads snoozes).
        Raises `ClusterError` when the ledger cannot be read."""
        planner = self.planner
        state = planner.state if planner is not None else await self.context.ledger.load()
        return open_incidents(state)

    async def change_if_leading(self, change: Callable[[LedgerState], T]) -> tuple[bool, T | None]:
        """Apply a decision (`bot.alerting.decisions`) to the live planner's state and store it now;
        (False, None) when this replica does not lead. Reads (a listing) are stored too, harmlessly."""
        term = self._term
        if term is None or term.planner is None:
            return False, None
        result = change(term.planner.state)
        await term.save_now()
        return True, result

    async def run(self, stop: asyncio.Event) -> None:
        """Lead (or wait to) until `stop` is set; then release the Lease. Cancelling it is a crash:
        nothing is released or saved, as when the process is killed."""
        elector = self.context.elector
        graceful = True
        if elector is not None:
            await elector.start()
        try:
            while not stop.is_set():
                if elector is not None and not await self._await_leadership(stop):
                    break
                self.terms += 1
                term = LeadershipTerm(self.context, inherited=self._carried)
                self._term = term
                try:
                    await term.run(stop)
                except Exception:
                    log.exception("event=alerting_failed; restarting the watcher in a few seconds")
                    await first_of(stop, asyncio.sleep(min(5.0, self.context.tuning.retry_cap_seconds)))
                finally:
                    self._carried = term.final_state()
                    self._term = None
        except asyncio.CancelledError:
            graceful = False
            raise
        finally:
            if elector is not None:
                await elector.stop(release=graceful)
            if self.metrics is not None:
                self.metrics.leader.set(0)

    async def _await_leadership(self, stop: asyncio.Event) -> bool:
        """Wait to lead (False: stopped first), storing meanwhile what the last term could not."""
        elector = self.context.elector
        assert elector is not None
        flush = asyncio.create_task(self._flush_carried(), name="alert-ledger-flush")
        try:
            return await first_of(stop, elector.wait_until_leader())
        finally:
            flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flush

    async def _flush_carried(self) -> None:
        """Write the carried state until the cluster takes it; `save` merges with whatever the current
        leader stored, so this never undoes its work. The next term of this process merges it anyway."""
        attempt = 0
        while self._carried is not None:
            try:
                await self.context.ledger.save(self._carried)
            except ClusterError as error:
                attempt += 1
                cap = self.context.tuning.retry_cap_seconds
                delay = self._rng.uniform(0, min(cap, 0.5 * 2 ** min(attempt, 16)))
                log.debug(
                    "event=carried_ledger_save_failed retry_in=%.1f error=%r", delay, error.user_message
                )
                await asyncio.sleep(delay)
                continue
            log.info("event=carried_ledger_saved (what the last term could not store is stored now)")
            self._carried = None
