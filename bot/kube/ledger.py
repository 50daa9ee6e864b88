"""The alert ledger in a ConfigMap: what was alerted survives restarts, failovers and relists.

Exactly-once alerting needs memory outside the process (see `bot.alerting.ledger_state`). A ConfigMap
in the bot's own namespace is the smallest thing that works on every cluster, needs only
`get/create/update` on one ConfigMap, and is readable with `kubectl get cm exitcode-bot-ledger -o yaml`.

Writes use optimistic concurrency: every update carries the `metadata.resourceVersion` last read or
written, so two writers (a new leader starting while the old one flushes its last write) cannot
silently overwrite each other. On `409 Conflict` the ledger re-reads, `merge`s (a union: commutative,
idempotent) and tries again, a bounded number of times. Each write is pruned first and, if still too
big, pruned harder until it fits `DATA_BUDGET_BYTES`, well under the 1 MiB the apiserver accepts.

A ConfigMap that is missing is an empty ledger (first start); one whose data is corrupt or from a
future version is an empty ledger too, with a warning, never a crash: the bot then behaves as on first
start, and the next save replaces the bad data.

Use (the alert service; all calls run in worker threads, never on the loop):

    ledger = ConfigMapLedger(api_client, settings.pod_namespace, settings.ledger_configmap,
                             settings.kube_timeout_seconds, planner_config=planner.config)
    planner = AlertPlanner(config, state=await ledger.load())     # ClusterError if unreachable
    ...
    written = await ledger.save(planner.state)                     # ClusterError if it cannot write
    planner.state = planner.state.merge(written)                   # pick up a concurrent writer's keys
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException

from bot.alerting import LedgerError, LedgerLimits, LedgerState, PlannerConfig
from bot.alerting.backlog import fold_backlog
from bot.diagnosis.ports import ClusterError
from bot.kube.errors import ApiCall, json_object, translate_error

__all__ = ["DATA_BUDGET_BYTES", "LEDGER_KEY", "ConfigMapLedger", "WriteOutcome"]

log = logging.getLogger(__name__)

LEDGER_KEY = "ledger.json"
DATA_BUDGET_BYTES = 768 * 1024
"""The largest ledger value written: room under the apiserver's 1 MiB for metadata and a margin."""

_LABELS = {"app.kubernetes.io/name": "exitcode-bot", "app.kubernetes.io/component": "alert-ledger"}
_SHRINK_STEPS = 12

WriteOutcome = Literal["created", "updated", "conflict", "failed", "overflow"]
"""What `on_write` (the ledger-writes metric) is told; "conflict" is a 409 that led to a re-read and merge;
"overflow" a write that had to summarise queued alerts to fit the budget (an ERROR is logged too)."""


def _ignore(_: WriteOutcome) -> None:
    return None


def _halved(limits: LedgerLimits) -> LedgerLimits:
    return dataclasses.replace(
        limits,
        max_alerted=limits.max_alerted // 2,
        max_groups=limits.max_groups // 2,
        max_pods_per_group=max(1, limits.max_pods_per_group // 2),
        max_digest_rows=max(1, limits.max_digest_rows // 2),
        max_channels=limits.max_channels // 2,
        max_snoozes=limits.max_snoozes // 2,
        max_outbox_done=limits.max_outbox_done // 2,
        max_deaths=limits.max_deaths // 2,
    )


def _outbox_bytes(state: LedgerState) -> int:
    return len(json.dumps(state.outbox, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


class _Conflict(Exception):
    """409: someone else wrote (or created) the ConfigMap since we last read it."""


class ConfigMapLedger:
    """Load and save a `LedgerState` in one key of one ConfigMap (see the module docstring)."""

    def __init__(
        self,
        api_client: ApiClient,
        namespace: str,
        name: str,
        timeout_seconds: float,
        *,
        planner_config: PlannerConfig | None = None,
        max_attempts: int = 5,
        budget_bytes: int = DATA_BUDGET_BYTES,
        clock: Callable[[], float] = time.time,
        on_write: Callable[[WriteOutcome], None] = _ignore,
    ) -> None:
        self._core = CoreV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self._timeout = timeout_seconds
        self._config = planner_config or PlannerConfig()
        self._max_attempts = max(1, max_attempts)
        self._budget = budget_bytes
        self._clock = clock
        self._on_write = on_write
        self._resource_version: str | None = None
        self._lock = asyncio.Lock()
        self.merged_writes = 0
        """Saves that met a concurrent writer (409) and stored the merge of both copies."""

    @property
    def resource_version(self) -> str | None:
        """The ConfigMap's resourceVersion as last read or written (None: it did not exist)."""
        return self._resource_version

    async def load(self) -> LedgerState:
        """The stored ledger; empty if the ConfigMap is missing or its data unreadable (with a warning).

        Raises `ClusterError` (with a sentence for the log) when the cluster cannot be read at all.
        """
        async with self._lock:
            return await self._read()

    async def save(self, state: LedgerState) -> LedgerState:
        """Store `state` (pruned, bounded), merging with a concurrent writer's; returns what was stored.

        `state` itself is not modified. Raises `ClusterError` when the write fails or keeps conflicting.
        """
        async with self._lock:
            ours = state.copy()
            for _ in range(self._max_attempts):
                ours, text = self._bounded(ours)
                try:
                    await self._write(text)
                except _Conflict:
                    self._on_write("conflict")
                    self.merged_writes += 1
                    theirs = await self._read()
                    ours = ours.merge(theirs, self._config.limits)
                    continue
                except ClusterError:
                    self._on_write("failed")
                    raise
                return ours
            self._on_write("failed")
            raise ClusterError(
                f"The alert ledger ConfigMap {self.namespace}/{self.name} kept changing under the bot "
                f"({self._max_attempts} conflicting writes in a row); is another exitcode-bot without "
                "leader election writing it?"
            )

    # --- bounds ---------------------------------------------------------------------------------------

    def _bounded(self, state: LedgerState) -> tuple[LedgerState, str]:
        """`state` pruned and serialised, made to fit the budget without ever dropping a planned alert.

        In order: the usual pruning; then every memory cap halved (alerted keys, oldest first, advancing
        the horizon: they only prevent duplicates); then, if the outbox itself is what is too big, its
        queued roots and replies are folded into one digest per channel (`bot.alerting.backlog`), loudly.
        What is written is never empty: the outbox and the horizon are kept whatever the budget.
        """
        config = self._config
        limits = config.limits
        now = self._clock()
        state.prune(now, limits, config.group_window_seconds, config.storm_window_seconds)
        text = state.to_json()
        if len(text.encode("utf-8")) > self._budget and _outbox_bytes(state) > self._budget // 2:
            # The queued alerts are what is big: summarise them before forgetting any alerted key.
            folded = fold_backlog(state, now, max_rows=max(1, limits.max_digest_rows))
            log.warning(
                "event=ledger_outbox_folded the alert ledger was over %d KiB: %d queued alerts were "
                "summarised into %d digest(s), every crash still counted",
                self._budget // 1024,
                folded.crashes,
                len(folded.digests),
            )
            text = state.to_json()
        steps = 0
        while len(text.encode("utf-8")) > self._budget and steps < _SHRINK_STEPS:
            limits = _halved(limits)
            # `merge` enforces `max_alerted` (oldest first, advancing the horizon); `prune` the rest.
            state = state.merge(LedgerState(), limits)
            state.prune(now, limits, config.group_window_seconds, config.storm_window_seconds)
            text = state.to_json()
            steps += 1
        if steps:
            log.warning(
                "the alert ledger was over %d KiB and was pruned harder (kept %d alerted keys, %d groups, "
                "%d planned alerts); lower LedgerLimits if this repeats",
                self._budget // 1024,
                len(state.alerted),
                len(state.groups),
                len(state.outbox),
            )
        if len(text.encode("utf-8")) <= self._budget:
            return state, text
        folded = fold_backlog(state, now, max_rows=max(1, limits.max_digest_rows))
        kept = LedgerState(
            horizon=state.horizon, outbox=state.outbox, outbox_done=state.outbox_done, snoozes=state.snoozes
        )
        text = kept.to_json()
        self._on_write("overflow")
        log.error(
            "event=ledger_overflow the alert ledger does not fit %d KiB even pruned: %d queued alerts were "
            "summarised into %d digest(s) and only the horizon, snoozes and outbox kept (%d bytes); every "
            "crash is still counted. Check SLACK connectivity and STORM_THRESHOLD",
            self._budget // 1024,
            folded.crashes,
            len(folded.digests),
            len(text.encode("utf-8")),
        )
        return kept, text

    # --- API calls --------------------------------------------------------------------------------------

    async def _read(self) -> LedgerState:
        call = ApiCall("get", "configmaps", self.namespace, self.name, kind="ConfigMap")
        try:
            raw = await self._run(call, self._core.read_namespaced_config_map, self.name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                self._resource_version = None
                return LedgerState()
            raise translate_error(error, call, self._timeout) from error
        body = json_object(raw, call)
        self._resource_version = str((body.get("metadata") or {}).get("resourceVersion") or "") or None
        text = (body.get("data") or {}).get(LEDGER_KEY)
        if text is None:
            return LedgerState()
        try:
            return LedgerState.from_json(str(text))
        except LedgerError as error:
            log.warning(
                "the alert ledger in ConfigMap %s/%s cannot be read (%s); starting with an empty ledger, "
                "so terminations still visible in the cluster may be alerted once more",
                self.namespace,
                self.name,
                error,
            )
            return LedgerState()

    async def _write(self, text: str) -> None:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace, "labels": dict(_LABELS)}
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {LEDGER_KEY: text}}
        if self._resource_version is None:
            call = ApiCall("create", "configmaps", self.namespace, self.name, kind="ConfigMap")
            request: tuple[Callable[..., Any], tuple[Any, ...]] = (
                self._core.create_namespaced_config_map,
                (self.namespace, body),
            )
            outcome: WriteOutcome = "created"
        else:
            metadata["resourceVersion"] = self._resource_version
            call = ApiCall("update", "configmaps", self.namespace, self.name, kind="ConfigMap")
            request = (self._core.replace_namespaced_config_map, (self.name, self.namespace, body))
            outcome = "updated"
        try:
            raw = await self._run(call, request[0], *request[1])
        except ApiException as error:
            if error.status == 409:
                raise _Conflict from error
            if error.status == 404 and self._resource_version is not None:
                self._resource_version = None  # deleted by someone: create it again on the retry
                raise _Conflict from error
            raise translate_error(error, call, self._timeout) from error
        try:
            stored = json.loads(raw)
            self._resource_version = str(stored["metadata"]["resourceVersion"])
        except (ValueError, KeyError, TypeError):
            self._resource_version = None  # unknown: the next write conflicts, re-reads and merges
        self._on_write(outcome)

    async def _run(self, call: ApiCall, client_call: Callable[..., Any], *args: Any) -> bytes:
        """The raw body of one call, in a worker thread; `ApiException` is left for the caller to map."""

        def blocking() -> bytes:
            response = client_call(*args, _preload_content=False, _request_timeout=self._timeout)
            try:
                return bytes(response.data)
            finally:
                response.release_conn()

        try:
            # `asyncio.timeout`, not `wait_for`: Python 3.11's `wait_for` swallows a cancellation that
            # arrives as the call completes, and a leader stepping down must be able to stop this.
            async with asyncio.timeout(self._timeout):
                return await asyncio.to_thread(blocking)
        except ApiException:
            raise
        except Exception as error:
            raise translate_error(error, call, self._timeout) from error
