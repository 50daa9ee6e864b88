"""Crash alerting, pure core: detection, policy, and the never-spam / never-lose planner.

No I/O here: the watcher, the ledger ConfigMap, the Lease and the Slack poster are adapters built on
this API. Per pod watch event an adapter does:

    terminations = detect_terminations(previous_pod_or_None, pod)          # cheap; usually []
    if terminations:
        items = assess(terminations, pod, rules, now=now, namespace_annotations=...,
                       namespace_map=..., default_channel=..., snoozes=planner.state.snoozes)
        plan = planner.plan(items, now)       # actions to execute, outcomes for metrics
    ...
    planner.tick(now)                          # every few seconds: storm ends, digest edits
    ledger_value = planner.state.to_json()     # after each plan/callback; merge() on a write conflict

- `detect`: `detect_terminations`, `compact_previous` (`Termination`, `Workload` in `termination`);
  `seen_pods`: `SeenPods`, the watcher's cache of each pod's last records (`unchanged`, `update`);
- `policy`: `classify`, `route_channel`, `assess`, `AlertRules`, `Verdict`, `Suppression`, `AlertKind`;
- `selector`: `parse_selector` (label selectors, kubectl syntax);
- `planner`: `AlertPlanner`, `PlannerConfig`, `Plan`, `Outcome`, `Disposition`, `Accounting`;
- `actions`: `PostRoot`, `PostThreadReply`, `UpdateRoot`, `PostDigest`, `UpdateDigest`, `PostRecovery` and
  how to run them;
- `incidents`: the incident lifecycle (firing, quiet, recovered) the planner's `observe` drives;
- `ledger_state`: `LedgerState` (JSON round trip, `merge`), `LedgerLimits`, `LedgerError`.
"""

from __future__ import annotations

from bot.alerting.actions import (
    Action,
    DigestRef,
    DigestRow,
    GroupKey,
    GroupRef,
    PostDigest,
    PostRecovery,
    PostRoot,
    PostThreadReply,
    UpdateDigest,
    UpdateRoot,
)
from bot.alerting.detect import compact_previous, detect_terminations
from bot.alerting.ledger_state import LedgerError, LedgerLimits, LedgerState
from bot.alerting.planner import Accounting, AlertPlanner, Disposition, Outcome, Plan, PlannerConfig
from bot.alerting.policy import (
    CHANNEL_ANNOTATION,
    IGNORE_ANNOTATION,
    AlertKind,
    AlertRules,
    RoutedTermination,
    Suppression,
    Verdict,
    assess,
    classify,
    route_channel,
    snooze_key,
)
from bot.alerting.seen_pods import SeenPods
from bot.alerting.selector import LabelSelector, SelectorError, parse_selector
from bot.alerting.termination import ContainerKind, RecordSource, Termination, Workload

__all__ = [
    "CHANNEL_ANNOTATION",
    "IGNORE_ANNOTATION",
    "Accounting",
    "Action",
    "AlertKind",
    "AlertPlanner",
    "AlertRules",
    "ContainerKind",
    "DigestRef",
    "DigestRow",
    "Disposition",
    "GroupKey",
    "GroupRef",
    "LabelSelector",
    "LedgerError",
    "LedgerLimits",
    "LedgerState",
    "Outcome",
    "Plan",
    "PlannerConfig",
    "PostDigest",
    "PostRecovery",
    "PostRoot",
    "PostThreadReply",
    "RecordSource",
    "RoutedTermination",
    "SeenPods",
    "SelectorError",
    "Suppression",
    "Termination",
    "UpdateDigest",
    "UpdateRoot",
    "Verdict",
    "Workload",
    "assess",
    "classify",
    "compact_previous",
    "detect_terminations",
    "parse_selector",
    "route_channel",
    "snooze_key",
]
