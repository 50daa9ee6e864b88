"""The surface port: a place alerts go besides the chat sink (`AlertSink`: Slack or the console).

A surface declares its `capabilities` (`bot.render.surface`), and the alert service sends it one
`Delivery` at a time per destination, in order: `deliver` may block (pacing, `429`, retries with
backoff, an outage) until the surface took the message; the service cancels it when the term ends, and
the unsent entry stays in the ledger's outbox for whoever leads next. `deliver` raises only for what
retrying cannot fix (a payload the service rejects, a bug): the sender then retries the entry without its
diagnosis, then drops it with an ERROR, as it does for Slack.

Adding a surface (Mattermost, Google Chat): an adapter in `bot/surfaces/<name>.py` implementing this
protocol, its renderer in `bot/render/alert_<name>.py`, and one line in `bot.wiring.surfaces` that builds
it from its settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from bot.render.surface import Capabilities, Delivery

__all__ = ["AlertSurface", "SurfaceRegistry"]


class AlertSurface(Protocol):
    """One alert surface (Teams, PagerDuty, the webhook, …)."""

    name: str
    """The surface's name in destination addresses (`teams` in `teams:payments`)."""
    capabilities: Capabilities

    def targets(self) -> frozenset[str]:
        """The targets this surface has a URL or key for (`default` for the setting's own)."""
        ...

    async def deliver(self, target: str, delivery: Delivery) -> None:
        """Send `delivery` to `target`; returns once the surface accepted it (see the module docstring)."""
        ...


SurfaceRegistry = Mapping[str, AlertSurface]
"""The surfaces switched on, by name."""
