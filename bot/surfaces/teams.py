"""Microsoft Teams: alerts as Adaptive Cards through a Workflows (Power Automate) webhook.

Office 365 connectors (the old `…webhook.office.com` URLs) are retired; a channel now takes posts from
the Workflows template "Post to a channel when a webhook request is received", whose URL carries its
own credential (`sig=`). So the URL is a secret: it is never logged, never put in an exception, and a
refused or malformed one is reported by its target name only.

What the surface can do (`capabilities`): nothing beyond posting. No threads, no edits (a count update
is a short follow-up card), no buttons (an `Action.Submit` cannot come back to the bot through a
Workflow), no resolve. `bot.render.surface.event_for` maps the planner's actions accordingly.

Delivery:
- `HttpDelivery` paces each target, waits out `429` (Workflows throttling) and retries `5xx`, timeouts
  and resets for as long as the term lasts; the Workflow answers `202 Accepted` with an empty body.
- The renderer fits every card under the size limit (a Workflow says `202` first and fails a too-large
  card afterwards, unseen). If a `413` comes back anyway (a proxy or gateway in front of the Workflow),
  the card is rendered again with half the budget and sent again, down to the minimal card: shrunk,
  never dropped.
- Exactly once, as far as the wire allows: a Workflow has no idempotency key and nothing to read back,
  so an attempt whose answer is lost (the request was taken, then the connection dropped) is retried and
  the card may show twice. Each card carries a short `delivery <id>` line so a reader can tell such a
  repeat from a new crash.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.render.alert_card import MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES, alert_message, delivery_label
from bot.render.surface import Capabilities, Delivery
from bot.surfaces.http_delivery import HttpDelivery, Rejected

if TYPE_CHECKING:
    from bot.metrics import AlertMetrics

__all__ = ["RETIRED_CONNECTOR_HOSTS", "TeamsSurface"]

log = logging.getLogger(__name__)

RETIRED_CONNECTOR_HOSTS = ("webhook.office.com", "outlook.office.com", "outlook.office365.com")
"""Hosts of Office 365 connector URLs, which Microsoft retired: posts there no longer reach a channel."""


def _no_headers() -> Mapping[str, str]:
    return {}


class TeamsSurface:
    """Alert surface for Microsoft Teams channels (one Workflows webhook URL per target)."""

    name = "teams"
    capabilities = Capabilities()

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        delivery: HttpDelivery | None = None,
        metrics: AlertMetrics | None = None,
    ) -> None:
        for target, url in urls.items():
            _check_url(target, url)
        self._urls = dict(urls)
        self._metrics = metrics
        self._delivery = delivery or HttpDelivery(self.name, on_error=self._count_error)

    def targets(self) -> frozenset[str]:
        return frozenset(self._urls)

    async def deliver(self, target: str, delivery: Delivery) -> None:
        """Post the card for `delivery` to `target`'s channel; returns once the Workflow accepted it.

        Raises `LookupError` for an unknown target and `Rejected` for a permanent refusal (a revoked
        `sig`, a deleted Workflow); blocks through throttling and outages."""
        url = self._urls.get(target)
        if url is None:
            raise LookupError(f"no Teams webhook is configured for target {target!r}")
        budget = MAX_MESSAGE_BYTES
        while True:
            body = alert_message(delivery, budget=budget)
            try:
                await self._delivery.post(target, url, body, _no_headers)
            except Rejected as rejected:
                if rejected.status != 413 or budget <= MIN_MESSAGE_BYTES:
                    raise
                budget = self._smaller(target, budget, len(body))
                continue
            log.info(
                "event=alert_delivered surface=%s target=%s alert_event=%s %s bytes=%d",
                self.name,
                target,
                delivery.event.value,
                delivery_label(delivery).replace(" ", "="),
                len(body),
            )
            if self._metrics is not None:
                self._metrics.surface_messages.labels(surface=self.name, event=delivery.event.value).inc()
            return

    def _smaller(self, target: str, budget: int, sent: int) -> int:
        """The next budget after Teams refused a card as too large (the error is counted and logged)."""
        self._count_error("too_large")
        smaller = max(MIN_MESSAGE_BYTES, min(budget, sent) // 2)
        log.warning(
            "event=alert_card_too_large surface=%s target=%s sent_bytes=%d retry_budget=%d",
            self.name,
            target,
            sent,
            smaller,
        )
        return smaller

    def _count_error(self, kind: str) -> None:
        if self._metrics is not None:
            self._metrics.surface_error(self.name, kind)

    async def close(self) -> None:
        await self._delivery.close()


def _check_url(target: str, url: str) -> None:
    """Refuse a URL that can never work, naming the target only (the URL is a secret)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"Teams target {target!r}: the webhook URL is not an http(s) URL")
    host = parts.hostname.lower()
    if any(host == retired or host.endswith("." + retired) for retired in RETIRED_CONNECTOR_HOSTS):
        raise ValueError(
            f"Teams target {target!r}: the URL is an Office 365 connector webhook, which Microsoft retired; "
            "create a Workflows webhook (template 'Post to a channel when a webhook request is received') "
            "and use its URL"
        )
