"""Prometheus metrics of the bot, on a registry of its own.

A private `CollectorRegistry` (not the library's global one) so several bots can live in one process
(tests, benchmarks) without "duplicated timeseries" errors, and so `/metrics` shows exactly what the bot
defines plus the process collectors. Later features add their counters here, next to these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextvars import Context, ContextVar, copy_context
from typing import Generic, Literal, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric

CommandKind = Literal[
    "explain", "share", "help", "usage", "pod", "ns", "not_configured", "incidents", "clusters", "snoozes"
]
"""What a `/exitcode` invocation turned out to be, as counted by `exitcode_bot_commands_total`."""

ErrorSite = Literal["command", "share_button", "diagnose", "response_url", "slack_api", "web"]
"""Where an unexpected failure was caught (each one also produced a friendly reply and a log line)."""


class BotMetrics:
    """The counters the adapters update; `exposition()` renders them for `/metrics`."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process_collectors: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        if process_collectors:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self.commands = Counter(
            "exitcode_bot_commands",
            "Slash commands and buttons answered, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.slack_web_api_up = Gauge(
            "exitcode_bot_slack_web_api_up",
            "1 while Slack's Web API answers auth.test with our token, 0 while it is unreachable or "
            "rejects the token (alert on this: /readyz stays 200 through an outage).",
            registry=self.registry,
        )
        self.errors = Counter(
            "exitcode_bot_errors",
            "Unexpected failures caught and answered with an apology, by where they happened.",
            ["site"],
            registry=self.registry,
        )
        self._answered: dict[str, Counter] = {}
        """Each kind's child counter, looked up once: `labels()` takes a lock and builds a tuple, and
        every slash command is counted."""

    def command_answered(self, kind: CommandKind) -> None:
        counter = self._answered.get(kind)
        if counter is None:
            counter = self._answered[kind] = self.commands.labels(kind=kind)
        counter.inc()

    def error(self, site: ErrorSite) -> None:
        self.errors.labels(site=site).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class DiagnoseMetrics:
    """`/exitcode pod` and `/exitcode ns` (and an alert's re-diagnosis): how each ended, and how long it took.

    Outcomes are `diagnosis`, `triage`, or why there was none (`invalid`, `denied`, `not_found`,
    `forbidden`, `timeout`, `unreachable`, `not_configured`, `cluster_error`), so an operator can tell a
    missing RBAC verb or a slow apiserver from users mistyping pod names.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Histogram  # imported here: this class is appended to the module

        self.outcomes = Counter(
            "exitcode_bot_diagnoses",
            "Pod diagnoses and namespace triages answered, by kind (pod, ns) and outcome.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "exitcode_bot_diagnose_seconds",
            "Time from the request to the answer being ready (cluster reads included), by kind.",
            ["kind"],
            buckets=(0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=registry,
        )

    def observe(self, kind: str, outcome: str, seconds: float) -> None:
        self.outcomes.labels(kind=kind, outcome=outcome).inc()
        self.seconds.labels(kind=kind).observe(seconds)


# --- crash alerts (the watcher, the planner, the Slack poster) --------------------------------------

M = TypeVar("M", bound=MetricWrapperBase)

_WATCHER_CLUSTER: ContextVar[str] = ContextVar("exitcode_bot_watcher_cluster", default="")
"""The cluster whose watcher task is running, for the adapters every cluster shares (the Slack sink
paces one channel for all of them, the other surfaces hold one connection pool): they count through
the registry's own `AlertMetrics`, which reads it. Empty outside any watcher."""


def cluster_label(name: str | None) -> str:
    """The `cluster` label of a cluster's alert metrics: its name as alerts and `/exitcode clusters` print
    it; empty for a one-cluster bot without CLUSTER_NAME (the alerts name no cluster either), which
    Prometheus treats as no label at all, so that bot's queries read as before."""
    return name or ""


def watcher_context(cluster: str | None) -> Context:
    """A copy of the current context in which the shared adapters count for `cluster`: the task of that
    cluster's watcher runs in it, and every task it starts (senders, Lease renewals) inherits it."""
    context = copy_context()
    context.run(_WATCHER_CLUSTER.set, cluster_label(cluster))
    return context


class ClusterFamily(Generic[M]):
    """One alert metric family as one cluster sees it: `labels(**others)` fills in `cluster` and returns
    the child, looked up once (`labels()` takes a lock and builds a tuple; crashes come in storms)."""

    __slots__ = ("_children", "_cluster", "family")

    def __init__(self, family: M, cluster: Callable[[], str]) -> None:
        self.family = family
        self._cluster = cluster
        self._children: dict[tuple[str, tuple[tuple[str, str], ...]], M] = {}

    def labels(self, **labels: str) -> M:
        cluster = self._cluster()
        key = (cluster, tuple(labels.items()))
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.family.labels(cluster=cluster, **labels)
        return child

    def collect(self) -> Iterable[Metric]:
        """The whole family, every cluster's series (what `/metrics` shows)."""
        return self.family.collect()


class ClusterGauge:
    """One cluster's series of a gauge: a replica may lead cluster A and stand by for B at once."""

    __slots__ = ("_children", "_cluster", "family")

    def __init__(self, family: Gauge, cluster: Callable[[], str]) -> None:
        self.family = family
        self._cluster = cluster
        self._children: dict[str, Gauge] = {}

    def child(self) -> Gauge:
        cluster = self._cluster()
        gauge = self._children.get(cluster)
        if gauge is None:
            gauge = self._children[cluster] = self.family.labels(cluster=cluster)
        return gauge

    def set(self, value: float) -> None:
        self.child().set(value)


class AlertMetrics:
    """What the crash watchers saw and did, on the bot's registry: `AlertMetrics(bot_metrics.registry)`.

    Every series carries the `cluster` it is about (`cluster_label`), so one bot watching five clusters
    shows five leader gauges and five sets of counts. `for_cluster(name)` is one cluster's view, which
    its alert service, watch, ledger and Lease are given: the same attributes and methods, the label
    filled in. The registry's own object (this constructor's) counts for the cluster whose watcher task
    is calling (`watcher_context`): it is what the adapters shared by every cluster are given.

    Every termination is counted once in `terminations`, then once more under what became of it: posted
    in some message (`alerts`), suppressed for a reason, or deduplicated (already alerted, or older than
    the ledger remembers). So "nothing dropped" can be checked on a dashboard, not just in the tests.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._families = _AlertFamilies(registry)
        self._views: dict[str, AlertMetrics] = {}
        self._bind(_WATCHER_CLUSTER.get, fixed=False)

    def for_cluster(self, name: str | None) -> AlertMetrics:
        """`name`'s view (one per name: its children are looked up once). Its gauges exist from now on,
        at 0, so a replica standing by for a cluster says so (`exitcode_bot_leader{cluster=...} 0`)."""
        label = cluster_label(name)
        view = self._views.get(label)
        if view is None:
            view = self._views[label] = AlertMetrics.__new__(AlertMetrics)
            view.registry = self.registry
            view._families = self._families
            view._views = self._views
            view._bind(lambda: label, fixed=True)
            for gauge in (view.leader, view.outbox, view.incidents_open):
                gauge.child()
        return view

    def _bind(self, cluster: Callable[[], str], *, fixed: bool) -> None:
        families = self._families
        self._fixed = fixed
        self.terminations = ClusterFamily(families.terminations, cluster)
        self.alerts = ClusterFamily(families.alerts, cluster)
        self.suppressed = ClusterFamily(families.suppressed, cluster)
        self.deduplicated = ClusterFamily(families.deduplicated, cluster)
        self.messages = ClusterFamily(families.messages, cluster)
        self.surface_messages = ClusterFamily(families.surface_messages, cluster)
        self.surface_errors = ClusterFamily(families.surface_errors, cluster)
        self.slack_errors = ClusterFamily(families.slack_errors, cluster)
        self.watch_restarts = ClusterFamily(families.watch_restarts, cluster)
        self.watch_events = ClusterFamily(families.watch_events, cluster)
        self._watch_events_by_type: dict[str, Counter] = {}
        """A fixed view's child per type, looked up once: `labels()` costs about as much as the
        watcher's whole work on an event that changes nothing, and every watch event is counted."""
        self.ledger_writes = ClusterFamily(families.ledger_writes, cluster)
        self.leader = ClusterGauge(families.leader, cluster)
        self.outbox = ClusterGauge(families.outbox, cluster)
        self.incidents_open = ClusterGauge(families.incidents_open, cluster)
        self.incident_duration = ClusterFamily(families.incident_duration, cluster)

    def slack_error(self, kind: str) -> None:
        self.slack_errors.labels(kind=kind).inc()

    def surface_error(self, surface: str, kind: str) -> None:
        self.surface_errors.labels(surface=surface, kind=kind).inc()

    def watch_restart(self, reason: str) -> None:
        self.watch_restarts.labels(reason=reason).inc()

    def watch_event(self, kind: str) -> None:
        counter = self._watch_events_by_type.get(kind)
        if counter is None:
            counter = self.watch_events.labels(type=kind)
            if self._fixed:
                self._watch_events_by_type[kind] = counter
        counter.inc()

    def ledger_write(self, outcome: str) -> None:
        self.ledger_writes.labels(outcome=outcome).inc()


class _AlertFamilies:
    """The alert metric families, registered once per registry; `cluster` is every one's first label."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Histogram  # as above: appended to the module

        self.terminations = Counter(
            "exitcode_bot_terminations",
            "Container terminations detected, by cluster, namespace, exit code and reason.",
            ["cluster", "namespace", "exit_code", "reason"],
            registry=registry,
        )
        self.alerts = Counter(
            "exitcode_bot_alerts",
            "Terminations reported in Slack (or console) messages, by cluster and how: root, reply, "
            "root_count, digest.",
            ["cluster", "disposition"],
            registry=registry,
        )
        self.suppressed = Counter(
            "exitcode_bot_alerts_suppressed",
            "Terminations not alerted, by cluster and why (deleting, disruption_target, snoozed, "
            "ignored_namespace, …).",
            ["cluster", "reason"],
            registry=registry,
        )
        self.deduplicated = Counter(
            "exitcode_bot_terminations_deduplicated",
            "Terminations seen again (relist, restart, failover) or too old for the ledger, by cluster and "
            "which.",
            ["cluster", "why"],
            registry=registry,
        )
        self.messages = Counter(
            "exitcode_bot_alert_messages",
            "Alert messages sent, by cluster and kind: root, reply, root_update, digest, digest_update.",
            ["cluster", "kind"],
            registry=registry,
        )
        self.surface_messages = Counter(
            "exitcode_bot_surface_messages",
            "Alert messages other surfaces accepted (Teams, PagerDuty, webhook), by cluster, surface and "
            "event: crash, repeat, digest, recovered.",
            ["cluster", "surface", "event"],
            registry=registry,
        )
        self.surface_errors = Counter(
            "exitcode_bot_surface_errors",
            "Failed deliveries to other surfaces (each retried unless rejected), by cluster, surface and "
            "kind: ratelimited, server_error, timeout, connection, http_<status>, too_large.",
            ["cluster", "surface", "kind"],
            registry=registry,
        )
        self.slack_errors = Counter(
            "exitcode_bot_slack_errors",
            "Failed Slack calls while sending alerts (each retried), by cluster and kind: ratelimited, "
            "server_error, timeout, connection, or Slack's error code.",
            ["cluster", "kind"],
            registry=registry,
        )
        self.watch_restarts = Counter(
            "exitcode_bot_watch_restarts",
            "Pod watch restarts, by cluster and reason: closed, dropped, expired (410 Gone), unreachable, "
            "forbidden, error.",
            ["cluster", "reason"],
            registry=registry,
        )
        self.watch_events = Counter(
            "exitcode_bot_watch_events",
            "Pod watch events received, by cluster and type.",
            ["cluster", "type"],
            registry=registry,
        )
        self.ledger_writes = Counter(
            "exitcode_bot_ledger_writes",
            "Writes of the alert ledger ConfigMap, by cluster and outcome: created, updated, conflict, "
            "failed, overflow (queued alerts had to be summarised to fit the budget; an ERROR is logged).",
            ["cluster", "outcome"],
            registry=registry,
        )
        self.leader = Gauge(
            "exitcode_bot_leader",
            "1 while this replica holds the cluster's leader Lease (watches and posts), else 0.",
            ["cluster"],
            registry=registry,
        )
        self.outbox = Gauge(
            "exitcode_bot_alert_outbox",
            "Alert messages planned and not yet sent (waiting for pacing, retries or the ledger), by "
            "cluster.",
            ["cluster"],
            registry=registry,
        )
        self.incidents_open = Gauge(
            "exitcode_bot_incidents_open",
            "Alert incidents firing or quiet (not recovered yet), as the cluster's leader's ledger holds "
            "them.",
            ["cluster"],
            registry=registry,
        )
        self.incident_duration = Histogram(
            "exitcode_bot_incident_duration_seconds",
            "How long incidents burned, first crash to recovery, observed when the leader sees them "
            "recover, by cluster and reason.",
            ["cluster", "reason"],
            buckets=(60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 72 * 3600),
            registry=registry,
        )
