"""Every termination the planner judged is logged (INFO when it alerts, DEBUG when it does not) and
counted in the metrics, so an operator can tell "no crash" from "a crash we decided not to post", and see
how much deduplication and suppression spared the channel."""

from __future__ import annotations

import logging

from bot.alerting import Disposition, Plan
from bot.metrics import AlertMetrics

__all__ = ["account_outcomes"]

log = logging.getLogger(__package__)  # one logger for the whole service, as operators know it


def account_outcomes(plan: Plan, metrics: AlertMetrics | None) -> None:
    """Log and count every termination the planner saw, alerted or not."""
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
