"""PagerDuty as an alert surface: Events API v2 events, one alert per incident, resolved on recovery.

PagerDuty has no threads, no edits and no buttons, but it can close what it opened (`resolve`), so the
planner's actions reach it as triggers (a crash, a count update, a storm digest) and resolves (a
recovery, the storm's calm digest), rendered by `bot.render.alert_pagerduty`. Every event of an
incident carries the incident's `dedup_key`, which is what makes delivery idempotent here: a trigger
retried after PagerDuty processed it but the answer was lost lands on the same open alert (one more log
entry), never a second page.

Sending goes through the shared `HttpDelivery` loop, paced per routing key at PagerDuty's documented
limit (about 120 events a minute per integration key, so one every 0.5 s), `429`/`5xx`/network errors
retried with backoff for as long as the term lasts. `400` means PagerDuty will never take this event:
`Rejected`, with PagerDuty's own explanation (`errors`) logged.

A routing key is a secret (anyone holding it can page the team): it is only ever in the request body;
log lines and exceptions name the target (`default`, `checkout`), and PagerDuty's answers are scrubbed
of any key before they are logged or raised.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import orjson

from bot.metrics import AlertMetrics
from bot.render.alert_pagerduty import (
    SeverityRules,
    acknowledge_event,
    event_bytes,
    pagerduty_event,
)
from bot.render.surface import Capabilities, Delivery
from bot.surfaces.http_delivery import DeliveryTiming, HttpDelivery, Rejected

__all__ = ["EVENTS_URL", "PAGERDUTY_TIMING", "PagerDutySurface"]

log = logging.getLogger(__name__)

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
PAGERDUTY_TIMING = DeliveryTiming(
    min_interval_seconds=0.5, backoff_base_seconds=2.0, backoff_cap_seconds=120.0
)
"""120 events a minute per integration key (PagerDuty's Events API limit); PagerDuty asks for retries
"after some time", so the backoff starts at 2 s and grows to 2 min."""


class PagerDutySurface:
    """The `AlertSurface` for PagerDuty (see the module docstring); targets map to routing keys."""

    name = "pagerduty"
    capabilities = Capabilities(threads=False, edits=False, buttons=False, resolve=True)

    def __init__(
        self,
        routing_keys: Mapping[str, str],
        *,
        events_url: str = EVENTS_URL,
        events_urls: Mapping[str, str] | None = None,
        severity: SeverityRules | None = None,
        delivery: HttpDelivery | None = None,
        metrics: AlertMetrics | None = None,
        public_url: str | None = None,
    ) -> None:
        self._routing_keys = dict(routing_keys)
        self._events_url = events_url
        self._events_urls = dict(events_urls or {})
        """Per target, when one service is reached another way (the EU region, its own proxy)."""
        self._severity = severity or SeverityRules()
        self._metrics = metrics
        self._public_url = public_url
        self._delivery = delivery or HttpDelivery(self.name, PAGERDUTY_TIMING, on_error=self._count_error)
        first_target: dict[str, str] = {}
        self._pace_as = {
            target: first_target.setdefault(key, target) for target, key in sorted(self._routing_keys.items())
        }
        """Targets sharing a routing key share its rate limit, so they are paced as one."""

    def targets(self) -> frozenset[str]:
        return frozenset(self._routing_keys)

    async def deliver(self, target: str, delivery: Delivery) -> None:
        """Send `delivery` as its trigger or resolve; returns once PagerDuty accepted it (`202`)."""
        event = pagerduty_event(delivery, severity=self._severity, public_url=self._public_url)
        await self._send(target, event, str(delivery.event))

    async def acknowledge(self, target: str, incident_key: str) -> None:
        """ "I'm on it": acknowledge the incident's alert, so PagerDuty stops escalating it."""
        await self._send(target, acknowledge_event(incident_key), "acknowledge")

    async def close(self) -> None:
        await self._delivery.close()

    async def _send(self, target: str, event: Mapping[str, Any], label: str) -> None:
        routing_key = self._routing_keys.get(target)
        if routing_key is None:
            raise LookupError(f"no PagerDuty routing key for target {target!r}")
        body = event_bytes(event, routing_key)
        try:
            url = self._events_urls.get(target, self._events_url)
            await self._delivery.post(self._pace_as[target], url, body, _no_headers)
        except Rejected as rejected:
            detail = self._scrubbed(_pagerduty_error(rejected.detail))
            log.error(
                "event=alert_rejected surface=pagerduty target=%s action=%s status=%d error=%s",
                target,
                event.get("event_action"),
                rejected.status,
                detail,
            )
            raise Rejected(self.name, target, rejected.status, detail) from None
        if self._metrics is not None:
            self._metrics.surface_messages.labels(surface=self.name, event=label).inc()

    def _count_error(self, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.surface_error(self.name, kind)

    def _scrubbed(self, text: str) -> str:
        """PagerDuty never echoes a key, but a proxy in front of it might: never let one through."""
        for key in self._routing_keys.values():
            if key:
                text = text.replace(key, "<routing key>")
        return text


def _no_headers() -> Mapping[str, str]:
    return {}


def _pagerduty_error(detail: str) -> str:
    """`Event object is invalid: 'payload.summary' is missing or blank` from PagerDuty's JSON answer
    (the excerpt may be cut short: then the raw text is the best explanation there is)."""
    try:
        answer = orjson.loads(detail)
    except orjson.JSONDecodeError:
        _, found, rest = detail.partition('"errors":[')
        quoted: list[str] = _QUOTED.findall(rest) if found else []
        return f"Event object is invalid: {'; '.join(quoted)}" if quoted else detail
    if not isinstance(answer, dict):
        return detail
    message = str(answer.get("message") or answer.get("status") or "")
    errors = answer.get("errors")
    if isinstance(errors, list) and errors:
        return f"{message}: {'; '.join(str(error) for error in errors)}"
    return message or detail
