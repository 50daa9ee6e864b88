"""The crash watcher as a service: leader only, exactly once, paced, never losing an alert.

One replica leads (a `coordination.k8s.io` Lease); the others only serve slash commands and button
clicks. While it leads, this loop runs:

    ledger.load() ─► PodStream ─► SeenPods: an event whose glance shows the cached container records
      is done; any other is decoded and goes to detect_terminations (a compact cache of each pod)
      ─► assess (rules, namespace annotations, routing, snoozes) ─► planner.plan ─► outbox (in the ledger)
      ─► ledger.save (debounced) ─► one sender per channel: sink.post / sink.update ─► outbox.complete
    and every few seconds planner.tick (storm ends, digest edits) and a re-read of the ledger (snoozes
    set by another replica's button).

Exactly once: a planned message is written to the ledger before it is sent and removed after
(`bot.alerting.outbox`); a new leader resumes with what the old one planned and did not send, and the
ledger's `alerted` keys keep a relist, a restart or a failover from planning a crash twice. If the ledger
cannot be written for `unsaved_grace_seconds`, alerts are sent anyway (a late alert beats none), and
what was sent but not stored is kept and merged when the process leads again. Every message carries its
outbox id as a marker, so a post Slack answered too late, or one a killed leader may have made, is looked
for before it is posted again (`bot.slack.posted_lookup`).

The sink is the Slack poster (`bot.slack.poster.SlackAlertSink`) or, in console mode, `ConsoleAlertSink`
(alerts printed to stdout, an in-memory ledger and no Lease: a laptop must not take over the cluster's
leader Lease or write its ConfigMap). Logs are `key=value` lines, so they stay greppable in text mode and
parseable in JSON mode.

The parts, each readable on its own:

- `build`: settings → service (`build_alert_service`, `run_alerting`, `AlertConfigError`).
- `context`: `TermContext`, the collaborators every term gets explicitly (never the service itself).
- `service`: `AlertService` (leads until stopped, one term per leadership; keeps what a term could not
  store for the next); `snoozes`: `LedgerSnoozes`, the Snooze button's store.
- `term`: one leadership term: watch → detect → assess → plan → enqueue, and the periodic tick.
- `outcomes`: the log line and metrics of every termination judged.
- `composer`: planner actions → alert views, with each root's evidence and diagnosis.
- `sending`: one sender per channel, draining the outbox into the sink.
- `ledger_sync`: the ledger port, the in-memory ledger, debounced saves and re-reads.
- `sinks`: the sink port and the console sink; `tuning`: the service's timings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .build import AlertConfigError, build_alert_service, default_identity, run_alerting
from .composer import AlertComposer
from .context import AlertRouting, StreamFactory, TermContext
from .ledger_sync import LedgerStore, MemoryLedger
from .service import AlertService
from .sinks import AlertSink, ConsoleAlertSink
from .snoozes import LedgerSnoozes
from .tuning import AlertTuning

if TYPE_CHECKING:
    from bot.slack.poster import SlackAlertSink

__all__ = [
    "AlertComposer",
    "AlertConfigError",
    "AlertRouting",
    "AlertService",
    "AlertSink",
    "AlertTuning",
    "ConsoleAlertSink",
    "LedgerSnoozes",
    "LedgerStore",
    "MemoryLedger",
    "SlackAlertSink",
    "StreamFactory",
    "TermContext",
    "build_alert_service",
    "default_identity",
    "run_alerting",
]


def __getattr__(name: str) -> Any:
    """`SlackAlertSink` on first use only: console mode must start without importing the Slack stack."""
    if name == "SlackAlertSink":
        from bot.slack.poster import SlackAlertSink

        return SlackAlertSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
