"""The service object: leads (or waits to) until stopped, one `LeadershipTerm` per period of leadership,
and answers the Snooze button on every replica (`LedgerSnoozes`). It holds only what outlives a term: the
ports (sink, ledger, stream factory, elector), the routing and the tuning."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.alerting import AlertPlanner, AlertRules, PlannerConfig, Workload
from bot.alerting.policy import snooze_key
from bot.diagnosis.ports import ClusterReader
from bot.knowledge import KnowledgeBase
from bot.kube.lease import LeaseElector
from bot.kube.ledger import WriteOutcome
from bot.kube.namespaces import NamespaceAnnotations
from bot.kube.watch import PodStream
from bot.metrics import AlertMetrics

from .ledger_sync import LedgerStore
from .sinks import AlertSink
from .term import LeadershipTerm, first_of
from .tuning import AlertTuning

__all__ = ["AlertRouting", "AlertService", "LedgerSnoozes", "StreamFactory"]

log = logging.getLogger(__package__)  # one logger for the whole service, as operators know it

StreamFactory = Callable[[], PodStream]


@dataclass(frozen=True, slots=True)
class AlertRouting:
    """Which terminations alert (the operator's rules) and where they go (namespace map, default)."""

    rules: AlertRules
    namespace_map: Mapping[str, str]
    default_channel: str | None


class AlertService:
    """Runs the watcher while this replica leads; `snoozes` is what the Snooze button writes to."""

    def __init__(
        self,
        *,
        knowledge: KnowledgeBase,
        sink: AlertSink,
        ledger: LedgerStore,
        streams: StreamFactory,
        routing: AlertRouting,
        planner_config: PlannerConfig,
        metrics: AlertMetrics | None = None,
        elector: LeaseElector | None = None,
        namespaces: Callable[[], NamespaceAnnotations] | None = None,
        reader: ClusterReader | None = None,
        log_lines: int = 20,
        tuning: AlertTuning | None = None,
        clock: Callable[[], float] = time.time,
        cluster_name: str | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.cluster_name = cluster_name
        """CLUSTER_NAME: shown on every alert this service posts (None: alerts name no cluster)."""
        self.sink = sink
        self.ledger = ledger
        self.metrics = metrics
        self.elector = elector
        self.tuning = tuning or AlertTuning()
        self.clock = clock
        self._streams = streams
        self._routing = routing
        self._planner_config = planner_config
        self._namespaces = namespaces
        self._reader = reader
        self._log_lines = log_lines
        self._term: LeadershipTerm | None = None
        self._conflicted = False
        self.terms = 0
        """How many times this replica started leading (for tests and logs)."""

    @property
    def leading(self) -> bool:
        return self.elector.is_leader if self.elector is not None else True

    @property
    def planner(self) -> AlertPlanner | None:
        """The planner while leading (None on a standby)."""
        return self._term.planner if self._term is not None else None

    @property
    def snoozes(self) -> LedgerSnoozes:
        return LedgerSnoozes(self)

    def ledger_written(self, outcome: WriteOutcome) -> None:
        """`ConfigMapLedger`'s `on_write`: metrics, and whether a save had to merge a concurrent write."""
        if outcome == "conflict":
            self._conflicted = True
        if self.metrics is not None:
            self.metrics.ledger_write(outcome)

    async def run(self, stop: asyncio.Event) -> None:
        """Lead (or wait to) until `stop` is set; then release the Lease. Cancelling it is a crash:
        nothing is released or saved, as when the process is killed."""
        graceful = True
        if self.elector is not None:
            await self.elector.start()
        try:
            while not stop.is_set():
                if self.elector is not None and not await first_of(stop, self.elector.wait_until_leader()):
                    break
                self.terms += 1
                term = LeadershipTerm(self)
                self._term = term
                try:
                    await term.run(stop)
                except Exception:
                    log.exception("event=alerting_failed; restarting the watcher in a few seconds")
                    await first_of(stop, asyncio.sleep(min(5.0, self.tuning.retry_cap_seconds)))
                finally:
                    self._term = None
        except asyncio.CancelledError:
            graceful = False
            raise
        finally:
            if self.elector is not None:
                await self.elector.stop(release=graceful)
            if self.metrics is not None:
                self.metrics.leader.set(0)


class LedgerSnoozes:
    """The Snooze button's store (`bot.slack.alert_actions.SnoozeStore`): the live planner when this
    replica leads, else the ledger ConfigMap itself, which the leader re-reads every few seconds (a click
    reaches whichever replica Slack or the Service picked)."""

    def __init__(self, service: AlertService) -> None:
        self._service = service

    async def snooze(self, namespace: str, workload: Workload, until: float) -> None:
        term = self._service._term
        if term is not None and term.planner is not None:
            term.planner.snooze(namespace, workload, until)
            await term.save_now()
            return
        ledger = self._service.ledger
        state = await ledger.load()
        state.snoozes[snooze_key(namespace, workload)] = until
        await ledger.save(state)
