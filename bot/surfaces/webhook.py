"""The signed webhook: alert events as versioned JSON to a receiver the operator runs (adapter).

Each event (`bot.render.alert_event`, schema `docs/webhook-event.v1.schema.json`) is POSTed with:

- `X-Exitcode-Timestamp`: Unix seconds of this attempt, and `X-Exitcode-Signature`:
  `v1=<hex HMAC-SHA256 of "v1:{timestamp}:{raw body}" keyed with the route's secret>`. Both are made
  fresh for every attempt (`HttpDelivery` calls the header factory per request), so a receiver may
  refuse old timestamps (replays) without refusing a retry of an alert that waited out an outage;
- `Idempotency-Key` (also the body's `idempotency_key`): the same on every attempt, restart and
  leader, so a receiver that saw it processes nothing twice; `X-Exitcode-Event`; `User-Agent`.

Answers: `2xx` is accepted; `409` is accepted too (a receiver that already has this idempotency key
says so; the alert is there); `408`/`425`/`429`/`5xx`/timeouts/resets are retried with backoff for as
long as the term lasts (`HttpDelivery`); any other `4xx` is `Rejected`: logged with the receiver's own
short answer, and raised so the alert service can retry without the diagnosis, then drop it loudly.

The URL and the secret are secrets: never logged, never in a repr, never in an error message. A route
without a secret is refused when the surface is built (an unsigned webhook is what the issue set out to
end), with an error that names the route.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot import __version__
from bot.metrics import AlertMetrics
from bot.render.alert_event import event_body
from bot.render.surface import Capabilities, Delivery
from bot.surfaces.http_delivery import DeliveryTiming, HttpDelivery, Rejected

__all__ = ["SIGNATURE_VERSION", "WebhookRoute", "WebhookSurface", "sign"]

log = logging.getLogger(__name__)

SURFACE = "webhook"
SIGNATURE_VERSION = "v1"
USER_AGENT = f"exitcode-bot/{__version__}"
ALREADY_HAVE_IT = 409
"""A receiver's answer for an idempotency key it already holds: the alert arrived, accepted."""


@dataclass(frozen=True, slots=True)
class WebhookRoute:
    """Where one webhook target's events go and the secret they are signed with.

    Both are secrets (a URL may carry a token), so neither is in the repr."""

    url: str = field(repr=False)
    secret: str = field(repr=False)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Exitcode-Signature` value: `v1=` + hex HMAC-SHA256 of `v1:{timestamp}:{body}`."""
    message = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def _checked(name: str, route: WebhookRoute) -> WebhookRoute:
    """Refuse what cannot work, naming the route only (never its URL or secret)."""
    if not route.secret.strip():
        raise ValueError(f"webhook route {name!r} has no secret: every webhook event is signed")
    parts = urlsplit(route.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"webhook route {name!r} needs an http:// or https:// URL with a host")
    return route


class WebhookSurface:
    """The `AlertSurface` for signed webhooks: one route (URL + secret) per target.

    `delivery=None` builds the production `HttpDelivery`, whose errors `metrics` counts; a `delivery`
    passed in (tests, the wiring) reports its errors to its own hook."""

    name = SURFACE
    capabilities = Capabilities(threads=True, edits=False, buttons=False, resolve=True)
    """Threads: every event names its `incident_key`, so a receiver threads; resolve: `recovered`."""

    def __init__(
        self,
        routes: Mapping[str, WebhookRoute],
        *,
        delivery: HttpDelivery | None = None,
        metrics: AlertMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._routes = {name: _checked(name, route) for name, route in routes.items()}
        self._metrics = metrics
        self._clock = clock
        self._delivery = delivery or HttpDelivery(SURFACE, DeliveryTiming(), on_error=self._count_error)

    def targets(self) -> frozenset[str]:
        return frozenset(self._routes)

    async def deliver(self, target: str, delivery: Delivery) -> None:
        """POST the event until the receiver takes it (see the module docstring)."""
        route = self._routes.get(target)
        if route is None:
            raise LookupError(f"no webhook route named {target!r}")
        body = event_body(delivery, sent_at=self._clock())

        def headers() -> dict[str, str]:
            timestamp = str(int(self._clock()))
            return {
                "X-Exitcode-Timestamp": timestamp,
                "X-Exitcode-Signature": sign(route.secret, timestamp, body),
                "X-Exitcode-Event": delivery.event.value,
                "Idempotency-Key": delivery.key,
                "User-Agent": USER_AGENT,
            }

        try:
            await self._delivery.post(target, route.url, body, headers)
        except Rejected as refused:
            if refused.status != ALREADY_HAVE_IT:
                log.error(
                    "event=alert_rejected surface=%s target=%s event_type=%s status=%d answer=%r",
                    SURFACE,
                    target,
                    delivery.event.value,
                    refused.status,
                    refused.detail,
                )
                raise
            log.info(
                "event=alert_already_delivered surface=%s target=%s event_type=%s status=409",
                SURFACE,
                target,
                delivery.event.value,
            )
        if self._metrics is not None:
            self._metrics.surface_messages.labels(surface=SURFACE, event=delivery.event.value).inc()

    async def close(self) -> None:
        await self._delivery.close()

    def _count_error(self, kind: str) -> None:
        """`HttpDelivery`'s error hook: a 409 is not an error here (the receiver has the alert)."""
        if self._metrics is not None and kind != f"http_{ALREADY_HAVE_IT}":
            self._metrics.surface_error(SURFACE, kind)
