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

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.alerting.destinations import SLACK, SurfaceRouting
from bot.alerting.routing import namespace_map_for_cluster
from bot.render.surface import Capabilities, Delivery

__all__ = ["AlertSurface", "SurfaceRegistry", "SurfaceSet"]


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

    async def close(self) -> None:
        """Close its connections (at shutdown, after the alert service stopped)."""
        ...


SurfaceRegistry = Mapping[str, AlertSurface]
"""The surfaces switched on, by name."""


@dataclass(frozen=True, slots=True)
class SurfaceSet:
    """The surfaces of this process and how alerts are routed to them (`bot.wiring.surfaces` builds it).

    `namespace_routes` is CONFIG_FILE's glob → route (keys may be `CLUSTER_GLOB/NAMESPACE_GLOB`)."""

    surfaces: Mapping[str, AlertSurface]
    namespace_routes: Mapping[str, str]

    def routing(self, *, chat: bool, cluster: str | None) -> SurfaceRouting:
        """The routing one watcher uses: `chat` = this process has a chat sink (Slack or the console);
        `cluster` resolves `CLUSTER_GLOB/NAMESPACE_GLOB` keys as `namespace_channels` are."""
        names = set(self.surfaces)
        if chat:
            names.add(SLACK)
        routes = (
            dict(self.namespace_routes)
            if cluster is None
            else namespace_map_for_cluster(self.namespace_routes, cluster)
        )
        defaults = {
            name: "default" for name, surface in self.surfaces.items() if "default" in surface.targets()
        }
        targets = {name: surface.targets() for name, surface in self.surfaces.items()}
        return SurfaceRouting(frozenset(names), defaults, routes, targets)

    async def close(self) -> None:
        """Close every surface's connections; one failing to close does not keep the others open."""
        for surface in self.surfaces.values():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await surface.close()
