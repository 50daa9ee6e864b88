"""Where an alert goes, as one string: a *destination address*.

A Slack channel is written as it always was (`#alerts`, `C0123ABCD`): Slack channel names and ids never
contain a colon. Every other surface is `SURFACE:TARGET` (`teams:payments`, `pagerduty:checkout`,
`webhook:default`), where TARGET names one of that surface's configured routes (its URL or routing key
comes from the environment, never from here). `slack:#alerts` is accepted and means `#alerts`. Keeping
Slack's addresses unprefixed keeps every ledger written before other surfaces existed valid as it is.

The address is the planner's channel: a crash routed to three destinations is planned three times
(grouping, storms and incidents per destination), so each surface gets its own outbox entries, its own
sender and its own exactly-once bookkeeping, and one surface being down delays no other.

Routing (`destinations_for`): for each surface other than Slack, the pod's `exitcode-bot/route`
annotation names its targets, else the namespace's annotation, else the first `namespace_routes` glob of
CONFIG_FILE that names that surface, else the surface's default target (present when its setting is).
`SURFACE:none` at any level means "nothing for this surface here" (no pages from `dev-*`). Slack's own
routing (`exitcode-bot/channel`, `namespace_channels`, ALERT_CHANNEL) is unchanged; a `slack:` entry in
a route annotation overrides it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

__all__ = [
    "NONE_TARGET",
    "ROUTE_ANNOTATION",
    "SLACK",
    "Destination",
    "RouteError",
    "SurfaceRouting",
    "destinations_for",
    "is_chat_channel",
    "parse_destination",
    "parse_route",
]

SLACK = "slack"
ROUTE_ANNOTATION = "exitcode-bot/route"
NONE_TARGET = "none"
"""`pagerduty:none`: this namespace (or pod) gets nothing on that surface."""

_SURFACE = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
_TARGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_SLACK_CHANNEL = re.compile(r"^#?[a-z0-9][a-z0-9._-]{0,79}$|^[CGD][A-Z0-9]{6,}$")


class RouteError(ValueError):
    """A destination or route that does not parse; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Destination:
    """One surface and one of its targets (for Slack: the channel)."""

    surface: str
    target: str

    @property
    def address(self) -> str:
        """The planner's channel string (Slack's unprefixed, as ledgers have always stored it)."""
        return self.target if self.surface == SLACK else f"{self.surface}:{self.target}"


@dataclass(frozen=True, slots=True)
class SurfaceRouting:
    """The operator's routing for every surface: which are on (`slack` = the chat sink, when there is
    one), each one's default target, and CONFIG_FILE's `namespace_routes` (glob → route, file order)."""

    surfaces: frozenset[str]
    defaults: Mapping[str, str]
    namespace_routes: Mapping[str, str]
    targets: Mapping[str, frozenset[str]] | None = None
    """Each surface's configured targets: a route naming another one (an annotation's typo) is skipped
    for that surface, and the next level of routing applies. None: not checked."""


def parse_destination(address: str) -> Destination:
    """`teams:payments` → Destination("teams", "payments"); `#alerts` → Destination("slack", "#alerts").

    Raises `RouteError` for an address no surface could mean (spaces, mentions, an empty target)."""
    text = address.strip()
    surface, separator, target = text.partition(":")
    if not separator:
        surface, target = SLACK, text
    surface = surface.strip().lower()
    target = target.strip()
    if not _SURFACE.match(surface):
        raise RouteError(f"{address!r}: the surface must be a lower-case name such as teams or pagerduty")
    if surface == SLACK:
        if not _SLACK_CHANNEL.match(target):
            raise RouteError(f"{address!r}: not a Slack channel name (#name) or id")
    elif not _TARGET.match(target):
        raise RouteError(f"{address!r}: the target must be a name (letters, digits, . _ -)")
    return Destination(surface, target)


def is_chat_channel(channel: str | None) -> bool:
    """True for the chat sink's own channel (a Slack channel, or None: the console), which is written
    without a surface prefix; False for every other surface's `SURFACE:TARGET`."""
    return channel is None or ":" not in channel


@lru_cache(maxsize=512)
def parse_route(text: str) -> tuple[Destination, ...]:
    """A comma-separated list of destinations (`"teams:payments, pagerduty:checkout"`), in order,
    without repeats. Raises `RouteError` naming the first bad entry. Remembered: the same few routes
    (CONFIG_FILE's, the annotations') are read again for every crash."""
    seen: dict[Destination, None] = {}
    for part in text.split(","):
        if part.strip():
            seen.setdefault(parse_destination(part), None)
    return tuple(seen)


def _safe_route(text: object) -> tuple[Destination, ...] | None:
    """An annotation's route, or None when it is absent or malformed (a pod author's typo must not
    stop alerts: the next level of routing applies)."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return parse_route(text)
    except RouteError:
        return None


def _for_surface(
    route: Iterable[Destination], surface: str, known: Collection[str] | None
) -> list[Destination] | None:
    """The route's destinations on `surface` (None: it names none that exist there)."""
    picked = [
        destination
        for destination in route
        if destination.surface == surface
        and (
            known is None
            or surface == SLACK
            or destination.target in known
            or destination.target == NONE_TARGET
        )
    ]
    return picked or None


def destinations_for(
    namespace: str,
    *,
    slack_channel: str | None,
    pod_annotations: Mapping[str, str] | None,
    namespace_annotations: Mapping[str, str] | None,
    namespace_routes: Mapping[str, str] | None,
    defaults: Mapping[str, str],
    surfaces: Collection[str],
    targets: Mapping[str, frozenset[str]] | None = None,
) -> tuple[str | None, ...]:
    """Every destination of one pod's alerts, in a stable order (see the module docstring).

    `surfaces` are the surfaces switched on; `slack` among them stands for this process's chat sink
    (Slack, or the console, whose channel may be None: it prints everything). `slack_channel` is what
    Slack's own routing chose. `defaults` maps a surface to its default target. `namespace_routes` is
    CONFIG_FILE's glob → route, already validated, in the file's order. A surface that is not on is
    ignored wherever a route names it, and so is a target `targets` does not list for its surface.
    """
    pod_route = _safe_route((pod_annotations or {}).get(ROUTE_ANNOTATION))
    namespace_route = _safe_route((namespace_annotations or {}).get(ROUTE_ANNOTATION))
    config_routes = [
        parse_route(route) for glob, route in (namespace_routes or {}).items() if fnmatchcase(namespace, glob)
    ]
    routes = [route for route in (pod_route, namespace_route, *config_routes) if route is not None]
    addresses: list[str | None] = []
    ordered = ([SLACK] if SLACK in surfaces else []) + sorted(set(surfaces) - {SLACK})
    for surface in ordered:
        chosen = next(
            (
                picked
                for route in routes
                if (picked := _for_surface(route, surface, (targets or {}).get(surface) if targets else None))
                is not None
            ),
            None,
        )
        if chosen is None:
            if surface == SLACK:
                addresses.append(slack_channel)
                continue
            default = defaults.get(surface)
            chosen = [Destination(surface, default)] if default else []
        addresses.extend(d.address for d in chosen if d.target != NONE_TARGET)
    return tuple(dict.fromkeys(addresses))
