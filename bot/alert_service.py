"""The crash watcher as a service: leader only, exactly once, paced, never losing an alert.

One replica leads (a `coordination.k8s.io` Lease); the others only serve slash commands and button
clicks. While it leads, this loop runs:

    ledger.load() ─► PodStream ─► detect_terminations (with a compact cache of each pod's last version)
      ─► assess (rules, namespace annotations, routing, snoozes) ─► planner.plan ─► outbox (in the ledger)
      ─► ledger.save (debounced) ─► one sender per channel: sink.post / sink.update ─► outbox.complete
    and every few seconds planner.tick (storm ends, digest edits) and a re-read of the ledger (snoozes
    set by another replica's button).

Exactly once: a planned message is written to the ledger before it is sent and removed after
(`bot.alerting.outbox`); a new leader resumes with what the old one planned and did not send, and the
ledger's `alerted` keys keep a relist, a restart or a failover from planning a crash twice. If the ledger
cannot be written for `unsaved_grace_seconds`, alerts are sent anyway: a possible duplicate after a
restart is better than a crash nobody hears about.

The sink is the Slack poster (`bot.slack.poster.SlackAlertSink`) or, in console mode, `ConsoleAlertSink`
(alerts printed to stdout, an in-memory ledger and no Lease: a laptop must not take over the cluster's
leader Lease or write its ConfigMap). Logs are `key=value` lines, so they stay greppable in text mode and
parseable in JSON mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from kubernetes.client import ApiClient

from bot.alerting import (
    Action,
    AlertPlanner,
    AlertRules,
    Disposition,
    LedgerState,
    Plan,
    PlannerConfig,
    PostDigest,
    PostRoot,
    PostThreadReply,
    SelectorError,
    Termination,
    UpdateDigest,
    UpdateRoot,
    Workload,
    assess,
    compact_previous,
    detect_terminations,
)
from bot.alerting.actions import GroupRef
from bot.alerting.outbox import Outbox, OutboxEntry
from bot.alerting.policy import AlertKind, snooze_key
from bot.alerting.termination import RecordSource
from bot.console import ConsoleOutput
from bot.diagnosis.engine import diagnose
from bot.diagnosis.evidence import EVENTS, NODE_EVENTS, PartialError, PodEvidence, log_source
from bot.diagnosis.model import Diagnosis
from bot.diagnosis.ports import ClusterError, ClusterReader, CurrentLogReader, JsonDict
from bot.knowledge import KnowledgeBase
from bot.knowledge.explanation import Explanation
from bot.kube.lease import LeaseElector
from bot.kube.ledger import ConfigMapLedger, WriteOutcome
from bot.kube.namespaces import NamespaceAnnotations
from bot.kube.reader import KubeClusterReader
from bot.kube.watch import PodEvent, PodStream, Synced, WatchHooks, WatchSettings
from bot.metrics import AlertMetrics
from bot.render.alert_text import AlertView, CrashAlert, DigestAlert, RepeatAlert, alert_text, count_phrase
from bot.render.alert_text import headline as alert_headline
from bot.settings import Settings

__all__ = [
    "AlertConfigError",
    "AlertRouting",
    "AlertService",
    "AlertSink",
    "AlertTuning",
    "ConsoleAlertSink",
    "LedgerSnoozes",
    "LedgerStore",
    "MemoryLedger",
    "build_alert_service",
    "run_alerting",
]

log = logging.getLogger(__name__)

_SNAPSHOTS = 512
"""Pods kept (as the watch saw them at the crash) for the diagnosis of alerts not yet sent."""
_ROOT_VIEWS = 512
"""Rendered roots kept for in-place count updates (after a restart they are rebuilt)."""
_MAX_ENTRY_FAILURES = 3
"""Unexpected errors (a bug, not Slack) after which an entry is sent without its diagnosis, then dropped."""


class AlertConfigError(ValueError):
    """A setting the alerting cannot work with; the message names it."""


# --- ports --------------------------------------------------------------------------------------------


class AlertSink(Protocol):
    """Where alerts go: Slack (`SlackAlertSink`) or the console. Both methods may block until they
    succeed; the service cancels them when it stops leading."""

    needs_channel: bool

    async def post(self, channel: str | None, view: AlertView, *, thread: str | None = None) -> str:
        """Send `view` (in the thread of message `thread`); returns a reference to the new message."""
        ...

    async def update(self, ref: str, view: AlertView) -> bool:
        """Show `view` in message `ref` instead; False if that message cannot be edited any more."""
        ...


class LedgerStore(Protocol):
    """Where the planner's memory lives between processes (`ConfigMapLedger`, or `MemoryLedger`)."""

    async def load(self) -> LedgerState: ...

    async def save(self, state: LedgerState) -> LedgerState: ...


class MemoryLedger:
    """A ledger that lives as long as the process: console mode, and tests of the service logic."""

    def __init__(self, state: LedgerState | None = None) -> None:
        self._json = (state or LedgerState()).to_json()

    async def load(self) -> LedgerState:
        return LedgerState.from_json(self._json)

    async def save(self, state: LedgerState) -> LedgerState:
        self._json = LedgerState.from_json(self._json).merge(state).to_json()
        return LedgerState.from_json(self._json)


class ConsoleAlertSink:
    """Console mode: every alert printed as text between the replies (`ConsoleOutput.print_alert`)."""

    needs_channel = False

    def __init__(self, output: ConsoleOutput) -> None:
        self._output = output
        self._count = 0

    async def post(self, channel: str | None, view: AlertView, *, thread: str | None = None) -> str:
        self._output.print_alert(alert_text(view))
        self._count += 1
        return f"console:{self._count}"

    async def update(self, ref: str, view: AlertView) -> bool:
        if isinstance(view, CrashAlert):
            counted = count_phrase(view)
            if counted is not None:  # a one-line update, not the whole alert again
                self._output.print_alert(f"{alert_headline(view)} — {counted}")
            return True
        self._output.print_alert(alert_text(view))
        return True


# --- tuning -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertTuning:
    """Timings of the service; production defaults, tests shorten them."""

    tick_seconds: float = 2.0
    """How often storms are checked for calm and throttled digest edits flushed."""
    save_debounce_seconds: float = 0.2
    """Ledger writes are batched over this long (a crash storm is one write, not a thousand)."""
    refresh_seconds: float = 5.0
    """How often the leader re-reads the ledger for snoozes set through another replica."""
    unsaved_grace_seconds: float = 10.0
    """How long an alert waits for a ledger write that keeps failing before it is sent anyway."""
    evidence_timeout_seconds: float = 3.0
    """Time allowed to read events and the log tail for an alert's diagnosis (it is sent without)."""
    first_start_lookback_seconds: float = 3600.0
    """With a brand-new ledger, crashes older than this are not alerted (they are not news)."""
    digest_update_seconds: float = 10.0
    """A storm digest is edited at most this often (Slack's edit limits, and readability)."""
    retry_cap_seconds: float = 30.0
    """Longest wait between attempts to read or write the ledger while the cluster is unreachable."""
    final_save_seconds: float = 5.0
    lease_renew_seconds: float | None = None
    """Lease renew interval (default: a third of LEASE_DURATION_SECONDS)."""
    lease_retry_seconds: float | None = None
    watch: WatchSettings | None = None


# --- composing the views ------------------------------------------------------------------------------


class AlertComposer:
    """Turns planner actions into alert views, reading the evidence each root needs for its diagnosis."""

    def __init__(
        self,
        knowledge: KnowledgeBase,
        reader: ClusterReader | None,
        *,
        log_lines: int,
        evidence_timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.knowledge = knowledge
        self.reader = reader
        self.log_lines = log_lines
        self.evidence_timeout = evidence_timeout
        self.clock = clock
        self._pods: OrderedDict[str, JsonDict] = OrderedDict()
        self._roots: OrderedDict[str, CrashAlert] = OrderedDict()

    def remember_pod(self, termination: Termination, pod: JsonDict) -> None:
        """The pod as the watch saw it at the crash: the diagnosis' evidence, even if it is gone later."""
        _remember(self._pods, termination.key, pod, _SNAPSHOTS)

    def remember_root(self, group: GroupRef, view: CrashAlert) -> None:
        _remember(self._roots, group.id, view, _ROOT_VIEWS)

    def meaning(self, termination: Termination, kind: AlertKind) -> Explanation | None:
        if kind is AlertKind.EVICTION:
            return self.knowledge.explain_reason("Evicted")
        if termination.exit_code is not None:
            return self.knowledge.explain_code(termination.exit_code)
        if termination.reason:
            return self.knowledge.explain_reason(termination.reason)
        return None

    async def root(
        self, termination: Termination, kind: AlertKind, *, diagnose_pod: bool = True
    ) -> CrashAlert:
        diagnosis = await self._diagnosis(termination) if diagnose_pod else None
        return CrashAlert(
            termination=termination,
            kind=kind,
            meaning=self.meaning(termination, kind),
            diagnosis=diagnosis,
            first_seen=termination.finished_epoch,
            last_seen=termination.finished_epoch,
            log_lines=self.log_lines,
        )

    async def root_update(self, action: UpdateRoot, *, diagnose_pod: bool = True) -> CrashAlert:
        view = self._roots.get(action.group.id)
        if view is None:
            view = await self.root(action.latest, action.group.key.kind, diagnose_pod=diagnose_pod)
            view = replace(view, first_seen=action.group.opened_at)
            self.remember_root(action.group, view)
        return replace(view, count=action.count, pod_count=action.pod_count, last_seen=action.last_seen)

    def reply(self, action: PostThreadReply) -> RepeatAlert:
        kind = action.group.key.kind
        return RepeatAlert(action.termination, kind, self.meaning(action.termination, kind))

    def digest(self, action: PostDigest | UpdateDigest) -> DigestAlert:
        names: dict[int, str] = {}
        for row in action.rows:
            if row.exit_code is not None and row.exit_code not in names:
                explanation = self.knowledge.explain_code(row.exit_code)
                signal = explanation.signal
                names[row.exit_code] = (
                    signal.name if signal is not None else explanation.title.rpartition("→")[2].strip()
                )
        return DigestAlert(
            channel=action.digest.channel,
            rows=action.rows,
            total=action.total,
            started_at=action.digest.started_at,
            calm=isinstance(action, UpdateDigest) and action.calm,
            code_names=names,
        )

    # --- evidence -----------------------------------------------------------------------------------------

    async def _diagnosis(self, termination: Termination) -> Diagnosis | None:
        """The diagnosis of the pod as the watch saw it, with its events and log tail when readable."""
        pod = self._pods.get(termination.key)
        errors: list[PartialError] = []
        events: list[JsonDict] = []
        logs: dict[str, str] = {}
        reader = self.reader
        try:
            async with asyncio.timeout(self.evidence_timeout):
                if pod is None and reader is not None:
                    pod = await _live_pod(reader, termination)
                if pod is not None and reader is not None:
                    events, logs = await self._reads(reader, termination, errors)
        except TimeoutError:
            errors.append(PartialError(EVENTS, "the cluster did not answer in time for the alert"))
        if pod is None:
            return None
        evidence = PodEvidence(pod=pod, events=tuple(events), log_tails=logs, partial_errors=tuple(errors))
        try:
            return diagnose(evidence, self.knowledge, datetime.fromtimestamp(self.clock(), tz=UTC))
        except Exception:  # a diagnosis bug must not cost the alert
            log.exception(
                "event=diagnosis_failed namespace=%s pod=%s", termination.namespace, termination.pod
            )
            return None

    async def _log_tail(self, reader: ClusterReader, termination: Termination) -> str | None:
        """The crashed instance's last lines: while it has not been restarted (the record is in `state`)
        that is the current log, afterwards the previous one."""
        namespace, pod, container = termination.namespace, termination.pod, termination.container
        if termination.source is RecordSource.STATE and isinstance(reader, CurrentLogReader):
            current = await reader.read_current_log(namespace, pod, container, tail_lines=self.log_lines)
            if current:
                return current
        return await reader.read_previous_log(namespace, pod, container, tail_lines=self.log_lines)

    async def _reads(
        self, reader: ClusterReader, termination: Termination, errors: list[PartialError]
    ) -> tuple[list[JsonDict], dict[str, str]]:
        namespace, pod, container = termination.namespace, termination.pod, termination.container
        reads: dict[str, Awaitable[Any]] = {
            EVENTS: _attempt(EVENTS, reader.list_events(namespace, involved_name=pod), errors)
        }
        sigkill = termination.exit_code == 137 or termination.reason == "OOMKilled"
        if termination.node and (sigkill or termination.pod_reason == "Evicted"):
            # A node OOM or memory pressure is only visible in the node's events (SystemOOM, OOMKilling).
            node_read = reader.list_events("default", involved_name=termination.node)
            reads[NODE_EVENTS] = _attempt(NODE_EVENTS, node_read, errors)
        if self.log_lines > 0:
            reads["log"] = _attempt(log_source(container), self._log_tail(reader, termination), errors)
        results = dict(zip(reads, await asyncio.gather(*reads.values()), strict=True))
        own, on_node, tail = results.get(EVENTS), results.get(NODE_EVENTS), results.get("log")
        events = [event for event in own or [] if _about(event, termination.uid)]
        events += [
            event for event in on_node or [] if (event.get("involvedObject") or {}).get("kind") == "Node"
        ]
        return events, ({container: tail} if tail else {})


async def _attempt(source: str, call: Awaitable[Any], errors: list[PartialError]) -> Any:
    try:
        return await call
    except ClusterError as error:
        errors.append(PartialError(source, error.user_message))
    except Exception as error:  # an adapter failure costs this evidence only
        errors.append(
            PartialError(source, f"unexpected error from the cluster reader ({type(error).__name__})")
        )
    return None


async def _live_pod(reader: ClusterReader, termination: Termination) -> JsonDict | None:
    """The pod read now (an alert replayed after a restart); None if it is gone or was replaced."""
    try:
        pod = await reader.get_pod(termination.namespace, termination.pod)
    except ClusterError:
        return None
    uid = (pod.get("metadata") or {}).get("uid")
    return pod if uid in (None, termination.uid) else None


def _about(event: JsonDict, uid: str) -> bool:
    involved = event.get("involvedObject") or {}
    return involved.get("kind") in (None, "Pod") and involved.get("uid") in (None, uid)


def _remember(memory: OrderedDict[str, Any], key: str, value: Any, limit: int) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > limit:
        memory.popitem(last=False)


# --- the service ----------------------------------------------------------------------------------------


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
    ) -> None:
        self.knowledge = knowledge
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
        self._term: _Term | None = None
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
                if self.elector is not None and not await _first_of(stop, self.elector.wait_until_leader()):
                    break
                self.terms += 1
                term = _Term(self)
                self._term = term
                try:
                    await term.run(stop)
                except Exception:
                    log.exception("event=alerting_failed; restarting the watcher in a few seconds")
                    await _first_of(stop, asyncio.sleep(min(5.0, self.tuning.retry_cap_seconds)))
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


async def _first_of(stop: asyncio.Event, work: Awaitable[Any]) -> bool:
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


class _Term:
    """One period of leadership: from loading the ledger to stopping (or losing the Lease)."""

    def __init__(self, service: AlertService) -> None:
        self.service = service
        self.tuning = service.tuning
        self.metrics = service.metrics
        self.planner: AlertPlanner | None = None
        self.outbox = Outbox()
        self.composer = AlertComposer(
            service.knowledge,
            service._reader,
            log_lines=service._log_lines,
            evidence_timeout=service.tuning.evidence_timeout_seconds,
            clock=service.clock,
        )
        self._cache: dict[str, dict[str, Any]] = {}
        self._save_requested = asyncio.Event()
        self._saved = asyncio.Event()
        self._workers: dict[str | None, asyncio.Task[None]] = {}
        self._failures: dict[str, int] = {}
        self._warned_channels: set[str] = set()
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._namespaces: NamespaceAnnotations | None = None

    @property
    def _planner(self) -> AlertPlanner:
        assert self.planner is not None
        return self.planner

    # --- lifecycle ------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        service = self.service
        state = await self._load(stop)
        if state is None:
            return
        now = service.clock()
        if state.horizon is None and not state.alerted:
            state.horizon = now - self.tuning.first_start_lookback_seconds
        self.planner = AlertPlanner(service._planner_config, state)
        self.outbox.adopt(state)
        log.info(
            "event=leading alerted_keys=%d groups=%d outbox=%d snoozes=%d",
            len(state.alerted),
            len(state.groups),
            len(state.outbox),
            len(state.snoozes),
        )
        stream = service._streams()
        if service._namespaces is not None:
            self._namespaces = service._namespaces()
            await self._namespaces.start()
        loops = [
            asyncio.create_task(self._watch(stream), name="alert-watch"),
            asyncio.create_task(self._save_loop(), name="alert-ledger-save"),
            asyncio.create_task(self._tick_loop(), name="alert-tick"),
            asyncio.create_task(self._refresh_loop(), name="alert-ledger-refresh"),
        ]
        self._wake()
        ends: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        if service.elector is not None:
            ends.append(asyncio.ensure_future(service.elector.wait_until_not_leader()))
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
        workers = list(self._workers.values())
        for task in [*workers, *loops]:
            task.cancel()
        await asyncio.gather(*workers, *loops, return_exceptions=True)
        await stream.aclose()
        if self._namespaces is not None:
            await self._namespaces.aclose()
        if not graceful or self.planner is None:
            return
        try:
            await asyncio.wait_for(
                self.service.ledger.save(self.planner.state), self.tuning.final_save_seconds
            )
        except (ClusterError, TimeoutError) as error:
            log.warning("event=final_ledger_save_failed error=%r", error)
        log.info("event=stopped_leading outbox=%d", len(self.planner.state.outbox))

    async def _load(self, stop: asyncio.Event) -> LedgerState | None:
        """The ledger, retried with backoff while the cluster cannot be read (None: stopped meanwhile)."""
        attempt = 0
        while not stop.is_set() and self.service.leading:
            try:
                return await self.service.ledger.load()
            except ClusterError as error:
                delay = self._backoff(attempt)
                log.warning("event=ledger_load_failed retry_in=%.1f error=%r", delay, error.user_message)
                attempt += 1
                await _first_of(stop, asyncio.sleep(delay))
        return None

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.tuning.retry_cap_seconds, 0.5 * 2 ** min(attempt, 16))
        return self._rng.uniform(ceiling / 2, ceiling)

    # --- watching -----------------------------------------------------------------------------------------

    async def _watch(self, stream: PodStream) -> None:
        async for item in stream:
            if isinstance(item, Synced):
                self._forget_vanished(item)
                continue
            await self._on_pod(item)

    def _forget_vanished(self, synced: Synced) -> None:
        vanished = [
            uid
            for uid, cached in self._cache.items()
            if synced.covers(cached.get("namespace")) and uid not in synced.uids
        ]
        for uid in vanished:
            del self._cache[uid]

    async def _on_pod(self, event: PodEvent) -> None:
        pod = event.pod
        metadata = pod.get("metadata") or {}
        uid = str(metadata.get("uid") or "")
        cached = self._cache.get(uid)
        try:
            terminations = detect_terminations(cached, pod)
        except (AttributeError, TypeError, ValueError) as error:
            log.warning("event=unreadable_pod name=%s error=%r", metadata.get("name"), error)
            return
        if event.type == "DELETED":
            self._cache.pop(uid, None)
        elif uid:
            compact = compact_previous(pod)
            compact["namespace"] = metadata.get("namespace")
            self._cache[uid] = compact
        if terminations:
            await self._plan_terminations(terminations, pod)

    async def _plan_terminations(self, terminations: list[Termination], pod: JsonDict) -> None:
        service = self.service
        routing = service._routing
        namespace = terminations[0].namespace
        annotations = await self._namespaces.lookup(namespace) if self._namespaces is not None else None
        now = service.clock()
        items = assess(
            terminations,
            pod,
            routing.rules,
            now=now,
            namespace_annotations=annotations,
            namespace_map=routing.namespace_map,
            default_channel=routing.default_channel,
            snoozes=self._planner.state.snoozes,
        )
        plan = self._planner.plan(items, now)
        self._account(plan)
        for action in plan.actions:
            if isinstance(action, PostRoot):
                self.composer.remember_pod(action.termination, pod)
        self._enqueue(plan.actions, now)

    def _account(self, plan: Plan) -> None:
        for outcome in plan.outcomes:
            termination = outcome.termination
            disposition = outcome.disposition
            fields = (
                termination.namespace,
                termination.pod,
                termination.container,
                termination.exit_code,
                termination.reason,
                outcome.verdict.label,
                disposition.value,
                outcome.channel,
            )
            level = (
                logging.INFO
                if outcome.verdict.alerts and disposition is not Disposition.DUPLICATE
                else logging.DEBUG
            )
            log.log(
                level,
                "event=termination namespace=%s pod=%s container=%s exit_code=%s reason=%s verdict=%s "
                "disposition=%s channel=%s",
                *fields,
            )
            metrics = self.metrics
            if metrics is None:
                continue
            if disposition in (Disposition.DUPLICATE, Disposition.STALE):
                metrics.deduplicated.labels(why=disposition.value).inc()
                continue
            code = "unknown" if termination.exit_code is None else str(termination.exit_code)
            metrics.terminations.labels(
                namespace=termination.namespace, exit_code=code, reason=termination.reason or "none"
            ).inc()
            if disposition is Disposition.SUPPRESSED:
                metrics.suppressed.labels(reason=str(outcome.verdict.suppression)).inc()
            else:
                metrics.alerts.labels(disposition=disposition.value).inc()

    def _enqueue(self, actions: Sequence[Action], now: float) -> None:
        if not actions:
            return
        result = self.outbox.add(self._planner.state, actions, now)
        if result.folded:
            log.warning(
                "event=outbox_full folded_replies=%d (their crashes are counted in their roots)",
                result.folded,
            )
        self._gauge()
        self._save_requested.set()
        self._wake()

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.outbox.set(len(self._planner.state.outbox))

    # --- periodic work ----------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tuning.tick_seconds)
            now = self.service.clock()
            self._enqueue(self._planner.tick(now), now)
            for entry_id in self.outbox.unreadable(self._planner.state):
                log.error(
                    "event=outbox_record_unreadable id=%s (written by another version?); dropped", entry_id
                )
                self.outbox.complete(self._planner.state, entry_id, now)

    async def _refresh_loop(self) -> None:
        """Pick up what other replicas wrote (snoozes from a button handled there)."""
        while True:
            await asyncio.sleep(self.tuning.refresh_seconds)
            try:
                theirs = await self.service.ledger.load()
            except ClusterError as error:
                log.debug("event=ledger_refresh_failed error=%r", error.user_message)
                continue
            self._merge(theirs)

    def _merge(self, theirs: LedgerState) -> None:
        planner = self._planner
        planner.state = planner.state.merge(theirs, planner.config.limits)
        self.outbox.mark_saved(theirs.outbox.keys())
        self._wake()

    async def _save_loop(self) -> None:
        failures = 0
        while True:
            await self._save_requested.wait()
            await asyncio.sleep(self.tuning.save_debounce_seconds)
            self._save_requested.clear()
            if await self._save():
                failures = 0
                continue
            failures += 1
            self._save_requested.set()
            await asyncio.sleep(self._backoff(failures))

    async def _save(self) -> bool:
        service = self.service
        service._conflicted = False
        try:
            written = await service.ledger.save(self._planner.state)
        except ClusterError as error:
            log.warning("event=ledger_save_failed error=%r", error.user_message)
            return False
        if service._conflicted:
            self._merge(written)
        self.outbox.mark_saved(written.outbox.keys())
        signal, self._saved = self._saved, asyncio.Event()
        signal.set()
        return True

    async def save_now(self) -> None:
        """Store the planner's state now (a snooze must be durable before the button says so)."""
        if not await self._save():
            raise ClusterError("The alert ledger could not be written; the snooze is not saved yet.")

    # --- sending --------------------------------------------------------------------------------------------

    def _wake(self) -> None:
        """Start a sender for each channel with queued entries (one per channel: order is kept)."""
        if self.planner is None:
            return
        for channel in self.outbox.channels(self.planner.state):
            worker = self._workers.get(channel)
            if worker is None or worker.done():
                self._workers[channel] = asyncio.create_task(self._send_channel(channel), name="alert-send")

    async def _send_channel(self, channel: str | None) -> None:
        while True:
            entry = self.outbox.next_for(self._planner.state, channel)
            if entry is None:
                return
            now = self.service.clock()
            if not self.outbox.postable(entry, now, self.tuning.unsaved_grace_seconds):
                wait = self.tuning.unsaved_grace_seconds - (now - entry.planned_at)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._saved.wait(), max(0.01, wait))
                continue
            if not self.service.leading:
                return
            self.outbox.in_flight.add(entry.id)
            try:
                await self._send(entry)
            except Exception:
                self.outbox.in_flight.discard(entry.id)
                if self._failed(entry):
                    continue
                await asyncio.sleep(self._backoff(self._failures.get(entry.id, 1)))
                continue
            finally:
                self.outbox.in_flight.discard(entry.id)
            self.outbox.complete(self._planner.state, entry.id, self.service.clock())
            self._failures.pop(entry.id, None)
            self._gauge()
            if isinstance(entry.action, PostRoot | PostDigest):
                # Store the new message's reference at once: the window in which a killed leader's
                # successor would post this message again is one ledger write, not a debounce more.
                await self._save()
            else:
                self._save_requested.set()

    def _failed(self, entry: OutboxEntry) -> bool:
        """Log an unexpected failure; True when the entry was given up (a bug that keeps repeating)."""
        count = self._failures.get(entry.id, 0) + 1
        self._failures[entry.id] = count
        log.exception("event=alert_send_failed id=%s attempt=%d", entry.id, count)
        if count <= _MAX_ENTRY_FAILURES:
            return False
        log.error("event=alert_dropped id=%s action=%r (a bug: please report it)", entry.id, entry.action)
        self.outbox.complete(self._planner.state, entry.id, self.service.clock())
        self._failures.pop(entry.id, None)
        return True

    async def _send(self, entry: OutboxEntry) -> None:
        """Execute one action (see `bot.alerting.actions` for the contract of each)."""
        action = entry.action
        sink = self.service.sink
        planner = self._planner
        channel = action.channel
        # After a bug in the diagnosis path, try once more without it: the alert matters more.
        full = self._failures.get(entry.id, 0) < 2
        if channel is None and sink.needs_channel:
            self._no_channel(action)
            return
        if isinstance(action, PostRoot):
            view = await self.composer.root(action.termination, action.group.key.kind, diagnose_pod=full)
            view = self._with_snooze(view)
            ref = await sink.post(channel, view)
            planner.root_posted(action.group, ref)
            self.composer.remember_root(action.group, view)
        elif isinstance(action, PostThreadReply):
            await sink.post(channel, self.composer.reply(action), thread=planner.root_ts(action.group))
        elif isinstance(action, UpdateRoot):
            root = planner.root_ts(action.group)
            if root is None:
                return  # the root was never confirmed; the replies carry the crashes
            view = self._with_snooze(await self.composer.root_update(action, diagnose_pod=full))
            if not await sink.update(root, view):
                log.info("event=root_not_editable group=%s", action.group.key.id)
        elif isinstance(action, PostDigest):
            planner.digest_posted(action.digest, await sink.post(channel, self.composer.digest(action)))
        else:
            digest = self.composer.digest(action)
            known = planner.digest_ts(action.digest)
            if known is None or not await sink.update(known, digest):
                planner.digest_posted(action.digest, await sink.post(channel, digest))
        if self.metrics is not None:
            self.metrics.messages.labels(kind=_message_kind(action)).inc()

    def _with_snooze(self, view: CrashAlert) -> CrashAlert:
        termination = view.termination
        until = self._planner.snoozed_until(termination.namespace, termination.workload, self.service.clock())
        return replace(view, snoozed_until=until)

    def _no_channel(self, action: Action) -> None:
        where = (
            "(storm digest)" if isinstance(action, PostDigest | UpdateDigest) else action.group.key.namespace
        )
        if where not in self._warned_channels:
            self._warned_channels.add(where)
            log.warning(
                "event=alert_without_channel namespace=%s: set ALERT_CHANNEL, a namespace_channels entry in "
                "the config file, or the exitcode-bot/channel annotation",
                where,
            )
        if self.metrics is not None:
            self.metrics.slack_error("no_channel")


def _message_kind(action: Action) -> str:
    return {
        PostRoot: "root",
        PostThreadReply: "reply",
        UpdateRoot: "root_update",
        PostDigest: "digest",
        UpdateDigest: "digest_update",
    }[type(action)]


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


# --- building it from the settings --------------------------------------------------------------------


def default_identity() -> str:
    """The Lease holder's name: the pod's hostname, which Kubernetes sets to the pod name."""
    return socket.gethostname() or "exitcode-bot"


def build_alert_service(
    settings: Settings,
    knowledge: KnowledgeBase,
    api_client: ApiClient,
    *,
    sink: AlertSink,
    metrics: AlertMetrics | None = None,
    reader: ClusterReader | None = None,
    namespace_channels: Mapping[str, str] | None = None,
    leader_election: bool = True,
    persistent_ledger: bool = True,
    identity: str | None = None,
    tuning: AlertTuning | None = None,
    stream_api_client: ApiClient | None = None,
    clock: Callable[[], float] = time.time,
) -> AlertService:
    """The alert service for these settings. Console mode: `leader_election=False,
    persistent_ledger=False` (no Lease, no ConfigMap writes from a laptop).

    Raises `AlertConfigError` for a malformed WATCH_LABEL_SELECTOR.
    """
    tuning = tuning or AlertTuning()
    try:
        rules = AlertRules.build(
            ignore_exit_codes=settings.ignore_exit_codes,
            ignore_namespaces=settings.ignore_namespaces,
            label_selector=settings.watch_label_selector,
        )
    except SelectorError as error:
        raise AlertConfigError(f"WATCH_LABEL_SELECTOR is not a valid label selector: {error}") from None
    config = PlannerConfig(
        group_window_seconds=settings.group_window,
        storm_threshold=settings.storm_threshold,
        digest_update_seconds=tuning.digest_update_seconds,
    )
    watch_client = stream_api_client or _sibling_client(api_client)
    watch_settings = tuning.watch or WatchSettings(request_timeout_seconds=settings.kube_timeout_seconds)
    hooks = WatchHooks(
        on_event=metrics.watch_event if metrics is not None else WatchHooks().on_event,
        on_restart=metrics.watch_restart if metrics is not None else WatchHooks().on_restart,
    )

    def streams() -> PodStream:
        return PodStream(
            watch_client,
            namespaces=settings.watch_namespaces,
            label_selector=settings.watch_label_selector,
            hooks=hooks,
            settings=watch_settings,
        )

    def namespaces() -> NamespaceAnnotations:
        return NamespaceAnnotations(
            api_client,
            namespaces=settings.watch_namespaces,
            timeout_seconds=settings.kube_timeout_seconds,
            watch_settings=watch_settings,
        )

    service_ref: list[AlertService] = []
    ledger: LedgerStore = MemoryLedger()
    if persistent_ledger:
        ledger = ConfigMapLedger(
            api_client,
            settings.pod_namespace,
            settings.ledger_configmap,
            settings.kube_timeout_seconds,
            planner_config=config,
            on_write=lambda outcome: service_ref[0].ledger_written(outcome),
        )
    elector: LeaseElector | None = None
    if leader_election:
        elector = LeaseElector(
            api_client,
            settings.pod_namespace,
            settings.lease_name,
            identity or default_identity(),
            lease_duration=settings.lease_duration_seconds,
            renew_interval=tuning.lease_renew_seconds,
            retry_interval=tuning.lease_retry_seconds,
            timeout_seconds=settings.kube_timeout_seconds,
            on_started_leading=(lambda: metrics.leader.set(1)) if metrics is not None else _nothing,
            on_stopped_leading=(lambda: metrics.leader.set(0)) if metrics is not None else _nothing,
        )
    service = AlertService(
        knowledge=knowledge,
        sink=sink,
        ledger=ledger,
        streams=streams,
        routing=AlertRouting(rules, dict(namespace_channels or {}), settings.alert_channel or None),
        planner_config=config,
        metrics=metrics,
        elector=elector,
        namespaces=namespaces,
        reader=reader if reader is not None else KubeClusterReader(api_client, settings.kube_timeout_seconds),
        log_lines=settings.log_lines,
        tuning=tuning,
        clock=clock,
    )
    service_ref.append(service)
    return service


async def run_alerting(
    settings: Settings,
    knowledge: KnowledgeBase,
    api_client: ApiClient,
    *,
    sink: AlertSink,
    stop: asyncio.Event,
    **options: Any,
) -> None:
    """Build the service (`build_alert_service` options) and run it until `stop` is set."""
    service = build_alert_service(settings, knowledge, api_client, sink=sink, **options)
    await service.run(stop)


def _sibling_client(api_client: ApiClient) -> ApiClient:
    """A second client with the same configuration: the watch holds its connections for minutes and must
    not take the pool's slots from the ledger, the Lease and the diagnosis reads."""
    client = ApiClient(configuration=api_client.configuration)
    client.user_agent = api_client.user_agent
    return client


def _nothing() -> None:
    return None
