"""The alert surfaces of this process (issue 12), built from the settings and CONFIG_FILE's `surfaces`.

One registration line per surface (`SURFACES`): its name, the keys a CONFIG_FILE target needs (each
naming an environment variable, never the secret), the plain settings that make its `default` target,
and how to build the adapter from the resolved targets. A surface is on when it has at least one
target. Everything an operator can get wrong is a `StartupError` naming the setting or the file's field:
a variable named in the file but not set, a webhook without its secret, a route to a target that does
not exist.

    surfaces:
      teams:
        payments: {url_env: TEAMS_PAYMENTS_URL}
      pagerduty:
        checkout: {routing_key_env: PAGERDUTY_CHECKOUT_KEY}
      webhook:
        audit: {url_env: AUDIT_WEBHOOK_URL, secret_env: AUDIT_WEBHOOK_SECRET}
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.access import BotConfig
from bot.alerting.destinations import NONE_TARGET, SLACK, parse_route
from bot.application.startup import StartupError
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.alert_service.surfaces import AlertSurface, SurfaceSet
    from bot.metrics import AlertMetrics

__all__ = ["SURFACES", "SurfaceSpec", "build_surfaces", "surface_secrets", "surface_targets"]

log = logging.getLogger(__name__)

DEFAULT_TARGET = "default"
Targets = Mapping[str, Mapping[str, str]]
"""target → {key: value} (`url`, `routing_key`, `secret`): resolved secrets, never logged."""


@dataclass(frozen=True, slots=True)
class SurfaceSpec:
    """How one surface is configured and built."""

    name: str
    keys: tuple[str, ...]
    """What a target needs; in CONFIG_FILE each is written `<key>_env: VARIABLE_NAME`."""
    optional: tuple[str, ...]
    """What a target may also name (PagerDuty's `events_url_env`: a service in another region)."""
    default: Callable[[Settings], dict[str, str] | None]
    """The `default` target from the plain settings (None: not configured)."""
    build: Callable[[Targets, Settings, BotConfig, AlertMetrics | None], AlertSurface]


def _secret(value: object) -> str | None:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter is not None else None


def _teams_default(settings: Settings) -> dict[str, str] | None:
    url = _secret(settings.teams_webhook_url)
    return {"url": url} if url else None


def _pagerduty_default(settings: Settings) -> dict[str, str] | None:
    key = _secret(settings.pagerduty_routing_key)
    return {"routing_key": key} if key else None


def _webhook_default(settings: Settings) -> dict[str, str] | None:
    url = _secret(settings.webhook_url)
    if not url:
        return None
    secret = _secret(settings.webhook_secret)
    if not secret:
        raise StartupError(
            "WEBHOOK_URL is set but WEBHOOK_SECRET is not: every webhook request is signed "
            "(X-Exitcode-Signature); set WEBHOOK_SECRET to a long random value shared with the receiver"
        )
    return {"url": url, "secret": secret}


def _build_teams(
    targets: Targets, settings: Settings, config: BotConfig, metrics: AlertMetrics | None
) -> AlertSurface:
    from bot.surfaces.teams import TeamsSurface

    return TeamsSurface({name: values["url"] for name, values in targets.items()}, metrics=metrics)


def _build_pagerduty(
    targets: Targets, settings: Settings, config: BotConfig, metrics: AlertMetrics | None
) -> AlertSurface:
    from bot.surfaces.pagerduty import PagerDutySurface

    return PagerDutySurface(
        {name: values["routing_key"] for name, values in targets.items()},
        events_url=settings.pagerduty_events_url,
        events_urls={
            name: values["events_url"] for name, values in targets.items() if "events_url" in values
        },
        severity=config.pagerduty_severity,
        metrics=metrics,
        public_url=settings.public_url,
    )


def _build_webhook(
    targets: Targets, settings: Settings, config: BotConfig, metrics: AlertMetrics | None
) -> AlertSurface:
    from bot.surfaces.webhook import WebhookRoute, WebhookSurface

    routes = {name: WebhookRoute(values["url"], values["secret"]) for name, values in targets.items()}
    return WebhookSurface(routes, metrics=metrics)


SURFACES: tuple[SurfaceSpec, ...] = (
    SurfaceSpec("teams", ("url",), (), _teams_default, _build_teams),
    SurfaceSpec("pagerduty", ("routing_key",), ("events_url",), _pagerduty_default, _build_pagerduty),
    SurfaceSpec("webhook", ("url", "secret"), (), _webhook_default, _build_webhook),
)
"""Every surface besides Slack: a new one is one line here (plus its adapter and renderer)."""


def _targets(
    spec: SurfaceSpec, settings: Settings, config: BotConfig, environ: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """The surface's targets: `default` from its settings, the others from CONFIG_FILE."""
    found: dict[str, dict[str, str]] = {}
    default = spec.default(settings)
    if default is not None:
        found[DEFAULT_TARGET] = default
    for target, keys in config.surfaces.get(spec.name, {}).items():
        where = f"CONFIG_FILE surfaces.{spec.name}.{target}"
        if target in (DEFAULT_TARGET, NONE_TARGET):
            raise StartupError(f"{where}: '{target}' is reserved; give the target another name")
        wanted = {f"{key}_env" for key in spec.keys}
        allowed = wanted | {f"{key}_env" for key in spec.optional}
        if not wanted <= set(keys) <= allowed:
            extra = f" (and may name {', '.join(sorted(allowed - wanted))})" if allowed - wanted else ""
            raise StartupError(
                f"{where}: needs {', '.join(sorted(wanted))}{extra}; "
                f"got {', '.join(sorted(keys)) or 'nothing'}"
            )
        values: dict[str, str] = {}
        for key in (*spec.keys, *(key for key in spec.optional if f"{key}_env" in keys)):
            variable = keys[f"{key}_env"]
            value = environ.get(variable, "").strip()
            if not value:
                raise StartupError(f"{where}.{key}_env names {variable}, which is not set in the environment")
            values[key] = value
        found[target] = values
    return found


def _check_routes(config: BotConfig, surfaces: Mapping[str, frozenset[str]]) -> None:
    """A `namespace_routes` entry naming a target that does not exist is a typo: refuse to start. A
    surface that is off here is skipped with a warning (one file may serve several deployments)."""
    for glob, route in config.namespace_routes.items():
        for destination in parse_route(route):
            if destination.surface == SLACK or destination.target == NONE_TARGET:
                continue
            known = surfaces.get(destination.surface)
            if known is None:
                log.warning(
                    "CONFIG_FILE namespace_routes %r names %s, which is not configured here; ignored",
                    glob,
                    destination.surface,
                )
            elif destination.target not in known:
                raise StartupError(
                    f"CONFIG_FILE namespace_routes {glob!r}: {destination.surface} has no target "
                    f"'{destination.target}' (configured: {', '.join(sorted(known))})"
                )
    unknown = set(config.surfaces) - {spec.name for spec in SURFACES}
    if unknown:
        raise StartupError(
            f"CONFIG_FILE surfaces: unknown surface {', '.join(sorted(unknown))} "
            f"(known: {', '.join(spec.name for spec in SURFACES)})"
        )


def surface_targets(
    settings: Settings, config: BotConfig, environ: Mapping[str, str] | None = None
) -> dict[str, dict[str, dict[str, str]]]:
    """Every surface's resolved targets (surface → target → {key: secret}), validated: raises
    `StartupError` for what an operator must fix. Run once at startup, before any mode starts."""
    environ = os.environ if environ is None else environ
    found = {spec.name: _targets(spec, settings, config, environ) for spec in SURFACES}
    found = {name: targets for name, targets in found.items() if targets}
    _check_routes(config, {name: frozenset(targets) for name, targets in found.items()})
    return found


def surface_secrets(targets: Mapping[str, Mapping[str, Mapping[str, str]]]) -> list[str]:
    """Every URL, routing key and secret of `surface_targets`, for the log redactor."""
    return [
        value for by_target in targets.values() for values in by_target.values() for value in values.values()
    ]


def build_surfaces(
    settings: Settings,
    config: BotConfig,
    *,
    metrics: AlertMetrics | None = None,
    environ: Mapping[str, str] | None = None,
) -> SurfaceSet | None:
    """The surfaces whose settings are present (None: none is). Raises `StartupError`."""
    from bot.alert_service.surfaces import SurfaceSet

    targets = surface_targets(settings, config, environ)
    if not targets:
        return None
    specs = {spec.name: spec for spec in SURFACES}
    built = {name: specs[name].build(found, settings, config, metrics) for name, found in targets.items()}
    log.info(
        "alert surfaces on: %s",
        ", ".join(f"{name} ({', '.join(sorted(targets[name]))})" for name in sorted(built)),
    )
    return SurfaceSet(built, dict(config.namespace_routes))
