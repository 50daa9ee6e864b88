"""Planner actions → alert views. The planner (`bot.alerting`) decides *what* to say and stays pure; this
is the I/O half: it reads each root's evidence (events, node events, the log tail) within a deadline,
diagnoses the pod as the watch saw it at the crash, and remembers rendered roots so a count update edits
the message instead of re-reading the cluster."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bot.alerting import PostDigest, PostThreadReply, Termination, UpdateDigest, UpdateRoot
from bot.alerting.actions import GroupRef, PostRecovery
from bot.alerting.policy import AlertKind
from bot.alerting.termination import RecordSource
from bot.diagnosis.engine import diagnose
from bot.diagnosis.evidence import EVENTS, NODE_EVENTS, PartialError, PodEvidence, log_source
from bot.diagnosis.model import Diagnosis
from bot.diagnosis.ports import ClusterError, ClusterReader, CurrentLogReader, JsonDict
from bot.knowledge import KnowledgeBase
from bot.knowledge.explanation import Explanation
from bot.render.alert_text import CrashAlert, DigestAlert, RecoveryAlert, RepeatAlert

__all__ = ["AlertComposer"]

log = logging.getLogger(__package__)  # one logger for the whole service, as operators know it

_SNAPSHOTS = 512
"""Pods kept (as the watch saw them at the crash) for the diagnosis of alerts not yet sent."""
_ROOT_VIEWS = 512
"""Rendered roots kept for in-place count updates (after a restart they are rebuilt)."""
_DIAGNOSES = 256
"""Diagnoses kept per crash: a crash routed to several surfaces (issue 12) is diagnosed, and its
evidence read from the API server, once; every surface's sender awaits the same reading."""


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
        cluster_name: str | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.cluster_name = cluster_name
        """CLUSTER_NAME, put on every view so each alert says which cluster it comes from."""
        self.reader = reader
        self.log_lines = log_lines
        self.evidence_timeout = evidence_timeout
        self.clock = clock
        self._pods: OrderedDict[str, JsonDict] = OrderedDict()
        self._roots: OrderedDict[str, CrashAlert] = OrderedDict()
        self._diagnoses: OrderedDict[str, asyncio.Task[Diagnosis | None]] = OrderedDict()

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
        diagnosis = await self._shared_diagnosis(termination) if diagnose_pod else None
        return CrashAlert(
            termination=termination,
            kind=kind,
            meaning=self.meaning(termination, kind),
            diagnosis=diagnosis,
            first_seen=termination.finished_epoch,
            last_seen=termination.finished_epoch,
            log_lines=self.log_lines,
            cluster=self.cluster_name,
        )

    async def root_update(self, action: UpdateRoot, *, diagnose_pod: bool = True) -> CrashAlert:
        view = self._roots.get(action.group.id)
        if view is None:
            first = action.first or action.latest  # the root's own crash when the ledger knows it
            view = await self.root(first, action.group.key.kind, diagnose_pod=diagnose_pod)
            view = replace(view, first_seen=action.group.opened_at)
            self.remember_root(action.group, view)
        return replace(
            view,
            count=action.count,
            pod_count=action.pod_count,
            last_seen=action.last_seen,
            incident=action.incident if action.incident is not None else view.incident,
        )

    def recovery(self, action: PostRecovery) -> RecoveryAlert:
        key = action.group.key
        return RecoveryAlert(
            key.namespace, key.workload.ref, key.container, key.kind, action.status, cluster=self.cluster_name
        )

    def reply(self, action: PostThreadReply) -> RepeatAlert:
        kind = action.group.key.kind
        meaning = self.meaning(action.termination, kind)
        return RepeatAlert(action.termination, kind, meaning, cluster=self.cluster_name)

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
            cluster=self.cluster_name,
        )

    # --- evidence -----------------------------------------------------------------------------------------

    async def _shared_diagnosis(self, termination: Termination) -> Diagnosis | None:
        """One diagnosis per crash, however many senders ask (see `_DIAGNOSES`). The reading runs as its
        own task, shielded: a sender cancelled meanwhile (its term ended) does not cancel it for the
        others. A reading that failed is not kept, so a retry reads again."""
        task = self._diagnoses.get(termination.key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.ensure_future(self._diagnosis(termination))
            _remember(self._diagnoses, termination.key, task, _DIAGNOSES)
        return await asyncio.shield(task)

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
            return self._focused(evidence, termination.container)
        except Exception:  # a diagnosis bug must not cost the alert
            log.exception(
                "event=diagnosis_failed namespace=%s pod=%s", termination.namespace, termination.pod
            )
            return None

    def _focused(self, evidence: PodEvidence, container: str) -> Diagnosis:
        """The pod's diagnosis with the verdict about `container`, the one whose crash this alert reports.

        The engine explains a pod by the container that failed most recently, which in a pod whose
        containers both crashed may be the *other* one: the alert would say `side crashed` and diagnose
        `app`. Then the verdict (and the log tails it orders) comes from the same pod with the other
        containers' terminations set aside, while the containers, events and everything else stay the
        whole pod's, as the engine saw it.
        """
        now = datetime.fromtimestamp(self.clock(), tz=UTC)
        full = diagnose(evidence, self.knowledge, now)
        if full.verdict.container in (None, container):
            return full
        focused = diagnose(replace(evidence, pod=_only_crashed(evidence.pod, container)), self.knowledge, now)
        if focused.verdict.container != container:
            return full  # a pod-level verdict (eviction, deadline…) that names no container of ours
        return replace(full, verdict=focused.verdict, log_tails=focused.log_tails)

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


def _only_crashed(pod: JsonDict, container: str) -> JsonDict:
    """A copy of `pod` whose other containers show no failure: regular containers and native sidecars
    running and never restarted, init containers completed. Only what the verdict reads is changed."""
    spec = pod.get("spec") or {}
    sidecars = {
        item.get("name")
        for item in spec.get("initContainers") or ()
        if isinstance(item, dict) and item.get("restartPolicy") == "Always"
    }
    status = dict(pod.get("status") or {})
    for field, init in (("containerStatuses", False), ("initContainerStatuses", True)):
        statuses = status.get(field)
        if not isinstance(statuses, list):
            continue
        status[field] = [
            item
            if not isinstance(item, dict) or item.get("name") == container
            else _settled(item, completed=init and item.get("name") not in sidecars)
            for item in statuses
        ]
    return {**pod, "status": status}


def _settled(item: JsonDict, *, completed: bool) -> JsonDict:
    state: JsonDict = {"terminated": {"exitCode": 0, "reason": "Completed"}} if completed else {"running": {}}
    return {**item, "state": state, "lastState": {}, "restartCount": 0}


def _about(event: JsonDict, uid: str) -> bool:
    involved = event.get("involvedObject") or {}
    return involved.get("kind") in (None, "Pod") and involved.get("uid") in (None, uid)


def _remember(memory: OrderedDict[str, Any], key: str, value: Any, limit: int) -> None:
    memory[key] = value
    memory.move_to_end(key)
    while len(memory) > limit:
        memory.popitem(last=False)
