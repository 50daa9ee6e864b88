"""Prometheus metrics of the bot, on a registry of its own.

A private `CollectorRegistry` (not the library's global one) so several bots can live in one process
(tests, benchmarks) without "duplicated timeseries" errors, and so `/metrics` shows exactly what the bot
defines plus the process collectors. Later features add their counters here, next to these.
"""

from __future__ import annotations

from typing import Literal

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


class AlertMetrics:
    """What the crash watcher saw and did, on the bot's registry: `AlertMetrics(bot_metrics.registry)`.

    Every termination is counted once in `terminations`, then once more under what became of it: posted
    in some message (`alerts`), suppressed for a reason, or deduplicated (already alerted, or older than
    the ledger remembers). So "nothing dropped" can be checked on a dashboard, not just in the tests.
    """

    def __init__(self, registry: CollectorRegistry) -> None:

        self.terminations = Counter(
            "exitcode_bot_terminations",
            "Container terminations detected, by namespace, exit code and reason.",
            ["namespace", "exit_code", "reason"],
            registry=registry,
        )
        self.alerts = Counter(
            "exitcode_bot_alerts",
            "Terminations reported in Slack (or console) messages, by how: root, reply, root_count, digest.",
            ["disposition"],
            registry=registry,
        )
        self.suppressed = Counter(
            "exitcode_bot_alerts_suppressed",
            "Terminations not alerted, by why (deleting, disruption_target, snoozed, ignored_namespace, …).",
            ["reason"],
            registry=registry,
        )
        self.deduplicated = Counter(
            "exitcode_bot_terminations_deduplicated",
            "Terminations seen again (relist, restart, failover) or too old for the ledger, by which.",
            ["why"],
            registry=registry,
        )
        self.messages = Counter(
            "exitcode_bot_alert_messages",
            "Alert messages sent, by kind: root, reply, root_update, digest, digest_update.",
            ["kind"],
            registry=registry,
        )
        self.surface_messages = Counter(
            "exitcode_bot_surface_messages",
            "Alert messages other surfaces accepted (Teams, PagerDuty, webhook), by surface and event: "
            "crash, repeat, digest, recovered.",
            ["surface", "event"],
            registry=registry,
        )
        self.surface_errors = Counter(
            "exitcode_bot_surface_errors",
            "Failed deliveries to other surfaces (each retried unless rejected), by surface and kind: "
            "ratelimited, server_error, timeout, connection, http_<status>, too_large.",
            ["surface", "kind"],
            registry=registry,
        )
        self.slack_errors = Counter(
            "exitcode_bot_slack_errors",
            "Failed Slack calls while sending alerts (each retried), by kind: ratelimited, server_error, "
            "timeout, connection, or Slack's error code.",
            ["kind"],
            registry=registry,
        )
        self.watch_restarts = Counter(
            "exitcode_bot_watch_restarts",
            "Pod watch restarts, by reason: closed, dropped, expired (410 Gone), unreachable, forbidden, "
            "error.",
            ["reason"],
            registry=registry,
        )
        self.watch_events = Counter(
            "exitcode_bot_watch_events", "Pod watch events received, by type.", ["type"], registry=registry
        )
        self._watch_events_by_type: dict[str, Counter] = {}
        """Each type's child counter, looked up once: `labels()` costs about as much as the watcher's
        whole work on an event that changes nothing, and every watch event is counted."""
        self.ledger_writes = Counter(
            "exitcode_bot_ledger_writes",
            "Writes of the alert ledger ConfigMap, by outcome: created, updated, conflict, failed, overflow "
            "(queued alerts had to be summarised to fit the budget; an ERROR is logged).",
            ["outcome"],
            registry=registry,
        )
        self.leader = Gauge(
            "exitcode_bot_leader",
            "1 while this replica holds the leader Lease (watches and posts), else 0.",
            registry=registry,
        )
        self.outbox = Gauge(
            "exitcode_bot_alert_outbox",
            "Alert messages planned and not yet sent (waiting for pacing, retries or the ledger).",
            registry=registry,
        )

        from prometheus_client import Histogram  # as above: appended by the incident lifecycle

        self.incidents_open = Gauge(
            "exitcode_bot_incidents_open",
            "Alert incidents firing or quiet (not recovered yet), as the leader's ledger holds them.",
            registry=registry,
        )
        self.incident_duration = Histogram(
            "exitcode_bot_incident_duration_seconds",
            "How long incidents burned, first crash to recovery, observed when the leader sees them recover.",
            ["reason"],
            buckets=(60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600, 72 * 3600),
            registry=registry,
        )

    def slack_error(self, kind: str) -> None:
        self.slack_errors.labels(kind=kind).inc()

    def surface_error(self, surface: str, kind: str) -> None:
        self.surface_errors.labels(surface=surface, kind=kind).inc()

    def watch_restart(self, reason: str) -> None:
        self.watch_restarts.labels(reason=reason).inc()

    def watch_event(self, kind: str) -> None:
        counter = self._watch_events_by_type.get(kind)
        if counter is None:
            counter = self._watch_events_by_type[kind] = self.watch_events.labels(type=kind)
        counter.inc()

    def ledger_write(self, outcome: str) -> None:
        self.ledger_writes.labels(outcome=outcome).inc()
