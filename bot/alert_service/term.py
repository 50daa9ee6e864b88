"""One period of leadership, from loading the ledger to stopping or losing the Lease.

A term owns everything that must not outlive the leadership: the planner and its outbox, the watch, the
cache of each pod's last version (what `detect_terminations` compares against), the ledger sync and the
senders. When the term ends, sending stops at once (another replica may lead already) and, on a graceful
stop only, the planner's state is saved one last time; a cancelled term behaves like a killed process.

A term may start with the state an earlier term of this process could not save (`inherited`: an
API-server outage that cost the Lease): it is merged into the stored ledger before anything is planned,
so nothing that term sent is planned again (`AlertService` keeps it between terms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Sequence
from typing import Any

from bot.alerting import (
    Action,
    AlertPlanner,
    GroupKey,
    LedgerState,
    PostRecovery,
    PostRoot,
    SeenPods,
    Termination,
    assess,
)
from bot.alerting.incidents import OwnerFate, owner_fate
from bot.alerting.outbox import Outbox
from bot.alerting.unwatched import note_unwatched
from bot.diagnosis.ports import ClusterError, JsonDict
from bot.kube.namespaces import NamespaceAnnotations
from bot.kube.watch import PodEvent, PodStream, Synced

from .composer import AlertComposer
from .context import TermContext
from .incident_watch import WorkloadPods
from .ledger_sync import LedgerSync
from .outcomes import account_outcomes
from .sending import ChannelSenders, report_outbox_size

__all__ = ["LeadershipTerm", "cancel_all", "first_of"]

_OWNER_REREAD_SECONDS = 30.0
"""How long an owner read as still wanting pods is believed before it is read again (one GET per tick
per such incident would be needless load on the apiserver)."""

log = logging.getLogger(__package__)  # one logger for the whole service, as operators know it


class LeadershipTerm:
    """One period of leadership: from loading the ledger to stopping (or losing the Lease)."""

    def __init__(self, context: TermContext, inherited: LedgerState | None = None) -> None:
        self.context = context
        self.tuning = context.tuning
        self.metrics = context.metrics
        self.planner: AlertPlanner | None = None
        """Set once the ledger is loaded; the ledger sync and the senders exist from then on."""
        self.outbox = Outbox()
        self.composer = AlertComposer(
            context.knowledge,
            context.reader,
            log_lines=context.log_lines,
            evidence_timeout=context.tuning.evidence_timeout_seconds,
            clock=context.clock,
            cluster_name=context.cluster_name,
        )
        self._inherited = inherited
        self._sync: LedgerSync | None = None
        self._senders: ChannelSenders | None = None
        self._seen = SeenPods()
        """Each watched pod's container records as last seen (what detection compares with)."""
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._namespaces: NamespaceAnnotations | None = None
        self.lists_synced = 0
        """Complete pod lists delivered by the watch in this term (a first one means: watching)."""
        self._pods = WorkloadPods()
        """Live pods of the workloads with an open incident (what `planner.observe` reads)."""
        self._owners_read: dict[tuple[str, str, str], tuple[OwnerFate, float]] = {}
        """Owners last read as still wanting pods, and when (see `_read_owners`)."""
        self._listed: dict[str | None, Synced] = {}
        """The scopes a complete list has covered in this term: only there may "no pod" mean gone."""

    def final_state(self) -> LedgerState | None:
        """What this term knows when it ends (None if it never loaded the ledger): the next term of this
        process starts from it, whatever the ledger could store meanwhile."""
        if self.planner is not None:
            return self.planner.state
        return self._inherited

    @property
    def _planner(self) -> AlertPlanner:
        assert self.planner is not None
        return self.planner

    @property
    def _ledger(self) -> LedgerSync:
        assert self._sync is not None
        return self._sync

    # --- lifecycle ------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        context = self.context
        state = await self._load(stop)
        if state is None:
            return
        if self._inherited is not None:
            state = state.merge(self._inherited, context.planner_config.limits)
        now = context.clock()
        if state.horizon is None and not state.alerted:
            state.horizon = now - self.tuning.first_start_lookback_seconds
        planner = self.planner = AlertPlanner(context.planner_config, state)
        self._sync = LedgerSync(
            context.ledger, planner, self.outbox, self.tuning, backoff=self._backoff, wake=self._wake
        )
        self._senders = ChannelSenders(
            context,
            planner,
            self.outbox,
            self.composer,
            self._sync,
            backoff=self._backoff,
            leading_since=now,
        )
        self.outbox.adopt(state)
        self._watch_incidents()
        log.info(
            "event=leading alerted_keys=%d groups=%d outbox=%d snoozes=%d inherited=%s",
            len(state.alerted),
            len(state.groups),
            len(state.outbox),
            len(state.snoozes),
            self._inherited is not None,
        )
        stream = context.streams()
        if context.namespaces is not None:
            self._namespaces = context.namespaces()
            await self._namespaces.start()
        loops = [
            asyncio.create_task(self._watch(stream), name="alert-watch"),
            asyncio.create_task(self._sync.save_loop(), name="alert-ledger-save"),
            asyncio.create_task(self._tick_loop(), name="alert-tick"),
            asyncio.create_task(self._sync.refresh_loop(), name="alert-ledger-refresh"),
        ]
        if self._inherited is not None:
            self._sync.request_save()  # what the last term could not store, stored now
        self._wake()
        ends: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        if context.elector is not None:
            ends.append(asyncio.ensure_future(context.elector.wait_until_not_leader()))
        try:
            done, _ = await asyncio.wait([*loops, *ends], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task in loops and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in ends:
                task.cancel()
            await self._shutdown(stream, loops, graceful=not _cancelling())

    async def _shutdown(self, stream: PodStream, loops: list[asyncio.Task[None]], *, graceful: bool) -> None:
        """Stop sending at once (another replica may lead already), then store what we know."""
        workers = self._senders.tasks() if self._senders is not None else []
        await cancel_all([*workers, *loops])
        await stream.aclose()
        if self.metrics is not None:  # the next leader reports them; a standby's gauge must not double them
            self.metrics.incidents_open.set(0)
        if self._namespaces is not None:
            await self._namespaces.aclose()
        if not graceful or self.planner is None:
            return
        try:
            await asyncio.wait_for(
                self.context.ledger.save(self.planner.state), self.tuning.final_save_seconds
            )
        except (ClusterError, TimeoutError) as error:
            log.warning("event=final_ledger_save_failed error=%r", error)
        log.info("event=stopped_leading outbox=%d", len(self.planner.state.outbox))

    async def _load(self, stop: asyncio.Event) -> LedgerState | None:
        """The ledger, retried with backoff while the cluster cannot be read (None: stopped meanwhile)."""
        attempt = 0
        while not stop.is_set() and self.context.leading:
            try:
                return await self.context.ledger.load()
            except ClusterError as error:
                delay = self._backoff(attempt)
                log.warning("event=ledger_load_failed retry_in=%.1f error=%r", delay, error.user_message)
                attempt += 1
                await first_of(stop, asyncio.sleep(delay))
        return None

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.tuning.retry_cap_seconds, 0.5 * 2 ** min(attempt, 16))
        return self._rng.uniform(ceiling / 2, ceiling)

    async def save_now(self) -> None:
        """Store the planner's state now (a snooze must be durable before the button says so)."""
        if not await self._ledger.save():
            raise ClusterError("The alert ledger could not be written; the snooze is not saved yet.")

    def _wake(self) -> None:
        if self._senders is not None:
            self._senders.wake()

    # --- watching -----------------------------------------------------------------------------------------

    async def _watch(self, stream: PodStream) -> None:
        seen, pods = self._seen, self._pods
        async for batch in stream.batches():
            for item in batch:
                if isinstance(item, Synced):
                    seen.forget_missing(item.uids, item.covers)
                    pods.forget_missing(item.uids, item.covers)
                    self._listed[item.namespace] = item
                    self.lists_synced += 1
                    continue
                glance = item.glance
                if (
                    glance is not None
                    and item.type == "MODIFIED"
                    and seen.unchanged(glance.uid, glance.init_container_statuses, glance.container_statuses)
                    and not pods.tracks(glance.uid, glance.namespace)
                ):
                    continue  # nothing this term keeps or acts on changed: the rest is never decoded
                await self._on_pod(item)

    async def _on_pod(self, event: PodEvent) -> None:
        try:
            pod = event.pod
            terminations = self._seen.update(event.type, pod)
        except (AttributeError, TypeError, ValueError) as error:
            log.warning("event=unreadable_pod name=%s error=%r", _pod_name(event), error)
            return
        if terminations:
            await self._plan_terminations(terminations, pod)
            self._watch_incidents()
        self._pods.note(pod, deleted=event.type == "DELETED")

    async def _plan_terminations(self, terminations: list[Termination], pod: JsonDict) -> None:
        routing = self.context.routing
        namespace = terminations[0].namespace
        annotations = await self._namespaces.lookup(namespace) if self._namespaces is not None else None
        now = self.context.clock()
        terminations = note_unwatched(terminations, pod, self._planner.state, now)
        items = assess(
            terminations,
            pod,
            routing.rules,
            now=now,
            namespace_annotations=annotations,
            namespace_map=routing.namespace_map,
            default_channel=routing.default_channel,
            snoozes=self._planner.state.snoozes,
            surfaces=routing.surfaces,
        )
        plan = self._planner.plan(items, now)
        account_outcomes(plan, self.metrics)
        for action in plan.actions:
            if isinstance(action, PostRoot):
                self.composer.remember_pod(action.termination, pod)
        self._enqueue(plan.actions, now)

    def _enqueue(self, actions: Sequence[Action], now: float) -> None:
        if not actions:
            return
        result = self.outbox.add(self._planner.state, actions, now)
        if result.folded:
            log.warning(
                "event=outbox_full folded_replies=%d (their crashes are counted in their roots)",
                result.folded,
            )
        if result.summarised:
            log.warning(
                "event=outbox_summarised crashes=%d (queued alerts folded into one digest per channel; "
                "every crash is still counted)",
                result.summarised,
            )
        report_outbox_size(self.metrics, self._planner.state)
        self._ledger.request_save()
        self._wake()

    # --- periodic work ----------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tuning.tick_seconds)
            now = self.context.clock()
            self._enqueue(self._planner.tick(now), now)
            await self._observe_incidents(now)
            for entry_id in self.outbox.unreadable(self._planner.state):
                log.error(
                    "event=outbox_record_unreadable id=%s (written by another version?); dropped", entry_id
                )
                self.outbox.complete(self._planner.state, entry_id, now)

    # --- incidents ------------------------------------------------------------------------------------------

    def _watch_incidents(self) -> None:
        """Index the pods of every workload with an open incident (cheap: at most `max_incidents`)."""
        watched = []
        state = self._planner.state
        for gid in state.groups:
            incident = state.incident_of(gid)
            if incident is not None and incident.open:
                try:
                    key = GroupKey.from_id(gid)
                except ValueError:
                    continue
                watched.append((key.namespace, key.workload.ref))
        self._pods.watch(watched)

    async def _observe_incidents(self, now: float) -> None:
        """Quiet and recovered incidents, from what the watch shows; only in scopes listed in full."""
        planner = self._planner
        if self._listed:
            live = self._pods.live()
            listed = list(self._listed.values())

            def covers(namespace: str) -> bool:
                return any(scope.covers(namespace) for scope in listed)

            targets = planner.owners_to_read(live, covers)
            owners = await self._read_owners(targets)
            live = self._pods.live()  # the watch ran on while the owners were read
            actions: list[Action] = []
            # An incident that lost its last pod meanwhile waits for the next tick to read its owner.
            if set(planner.owners_to_read(live, covers)) <= set(targets):
                actions = planner.observe(
                    live, now, covers=covers, completed=self._pods.completed(), owners=owners
                )
            if actions:
                self._enqueue(actions, now)
                self._watch_incidents()
            for action in actions:
                if isinstance(action, PostRecovery):
                    status = action.status
                    log.info(
                        "event=incident_recovered group=%s reason=%s burned_seconds=%.0f crashes=%d",
                        action.group.key.id,
                        status.reason,
                        status.burned_seconds,
                        status.crashes,
                    )
                    if self.metrics is not None and status.reason is not None:
                        reason = status.reason.value
                        self.metrics.incident_duration.labels(reason=reason).observe(status.burned_seconds)
        if self.metrics is not None:
            self.metrics.incidents_open.set(planner.open_incidents())

    async def _read_owners(
        self, targets: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], OwnerFate]:
        """What the owners of incidents with no pod left say (scaled to zero, deleted, completed, still
        wanting pods), read concurrently through the reader (off the event loop, each call bounded by
        KUBE_TIMEOUT_SECONDS). An owner that cannot be read is left out: `observe` then ends the incident
        with the wording that names both causes, so a failing apiserver never holds a recovery back.
        An owner that still wants pods is read again at most every `_OWNER_REREAD_SECONDS`."""
        reader = self.context.reader
        if reader is None or not targets:
            return {}
        now = self.context.clock()
        fates: dict[tuple[str, str, str], OwnerFate] = {}
        due = []
        for target in targets:
            cached = self._owners_read.get(target)
            if cached is not None and now - cached[1] < _OWNER_REREAD_SECONDS:
                fates[target] = cached[0]
            else:
                due.append(target)
        results = await asyncio.gather(
            *(reader.get_owner(namespace, kind, name) for namespace, kind, name in due),
            return_exceptions=True,
        )
        for target, result in zip(due, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result  # a cancellation: the term is ending
                log.warning(
                    "event=incident_owner_unreadable owner=%s/%s error=%r", target[1], target[2], result
                )
                continue
            fate = owner_fate(target[1], result)
            if fate is not None:
                fates[target] = fate
                self._owners_read[target] = (fate, now)
        self._owners_read = {
            target: read for target, read in self._owners_read.items() if target in set(targets)
        }
        return fates


def _pod_name(event: PodEvent) -> object:
    """What names an unreadable pod event in the log: its name if it decodes at all, else its uid."""
    try:
        return (event.pod.get("metadata") or {}).get("name")
    except (AttributeError, TypeError, ValueError):
        return event.glance.uid if event.glance is not None else None


async def cancel_all(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait until each has ended, cancelling again those that have not: a task can
    miss one cancellation (Python 3.11's `wait_for` swallows one that arrives as its call completes), and
    a term that never ends would keep a stepped-down leader posting."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.debug("event=task_ended_with_error task=%s error=%r", task.get_name(), task.exception())


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def first_of(stop: asyncio.Event, work: Awaitable[Any]) -> bool:
    """Await `work` unless `stop` comes first; True when `work` finished."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return task.done() and not task.cancelled()
