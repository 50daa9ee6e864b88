"""Destination addresses and per-surface routing (issue 12): where one pod's alerts go on every surface."""

from __future__ import annotations

from typing import Any

import pytest

from bot.alerting.destinations import (
    Destination,
    RouteError,
    destinations_for,
    parse_destination,
    parse_route,
)

ALL = frozenset({"slack", "teams", "pagerduty", "webhook"})
DEFAULTS = {"teams": "default", "pagerduty": "default", "webhook": "default"}


def route(namespace: str = "shop", **options: Any) -> tuple[str | None, ...]:
    values: dict[str, Any] = {
        "slack_channel": "#alerts",
        "pod_annotations": None,
        "namespace_annotations": None,
        "namespace_routes": None,
        "defaults": DEFAULTS,
        "surfaces": ALL,
        **options,
    }
    return destinations_for(namespace, **values)


def test_slack_channels_stay_unprefixed_and_other_surfaces_name_themselves() -> None:
    assert parse_destination("#alerts") == Destination("slack", "#alerts")
    assert parse_destination("slack:#alerts").address == "#alerts"
    assert parse_destination("C0123ABCD").address == "C0123ABCD"
    assert parse_destination(" Teams : payments ") == Destination("teams", "payments")
    assert parse_destination("pagerduty:checkout").address == "pagerduty:checkout"


@pytest.mark.parametrize(
    "bad", ["", "teams:", ":x", "teams:pay ments", "<!channel>", "slack:<!here>", "TEAMS!:x", "a b"]
)
def test_malformed_destinations_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(RouteError):
        parse_destination(bad)


def test_a_route_is_a_list_in_order_without_repeats() -> None:
    assert parse_route("teams:payments, pagerduty:checkout,teams:payments") == (
        Destination("teams", "payments"),
        Destination("pagerduty", "checkout"),
    )


def test_every_surface_gets_its_default_and_slack_its_own_routing() -> None:
    assert route() == ("#alerts", "pagerduty:default", "teams:default", "webhook:default")


def test_only_the_surfaces_switched_on_are_routed_to() -> None:
    routed = route(
        surfaces=frozenset({"pagerduty"}),
        pod_annotations={"exitcode-bot/route": "teams:payments, slack:#payments"},
    )
    assert routed == ("pagerduty:default",)  # alerts-only, PagerDuty only: Slack and Teams are off


def test_annotations_and_config_routes_override_per_surface_in_order() -> None:
    routes = {"prod-*": "pagerduty:checkout, teams:prod", "*": "teams:everyone"}
    assert route("prod-eu", namespace_routes=routes) == (
        "#alerts",
        "pagerduty:checkout",
        "teams:prod",
        "webhook:default",
    )
    # The namespace's annotation beats the file for the surfaces it names; the pod's beats both.
    namespace = {"exitcode-bot/route": "teams:payments"}
    pod = {"exitcode-bot/route": "slack:#payments-oncall, webhook:audit"}
    assert route(
        "prod-eu", namespace_routes=routes, namespace_annotations=namespace, pod_annotations=pod
    ) == ("#payments-oncall", "pagerduty:checkout", "teams:payments", "webhook:audit")


def test_none_switches_a_surface_off_for_a_namespace() -> None:
    routes = {"dev-*": "pagerduty:none"}
    assert route("dev-1", namespace_routes=routes) == ("#alerts", "teams:default", "webhook:default")
    assert route("dev-1", namespace_routes=routes, surfaces=frozenset({"pagerduty"})) == ()


def test_a_malformed_or_unknown_annotation_falls_through_to_the_next_level() -> None:
    targets = {"teams": frozenset({"default", "payments"})}
    bad = {"exitcode-bot/route": "teams:<!channel>"}
    unknown = {"exitcode-bot/route": "teams:typo"}
    assert "teams:default" in route(pod_annotations=bad, targets=targets)
    assert "teams:default" in route(pod_annotations=unknown, targets=targets)
    assert "teams:payments" in route(
        pod_annotations={"exitcode-bot/route": "teams:payments"}, targets=targets
    )


def test_a_surface_without_a_default_gets_only_what_is_routed_to_it() -> None:
    defaults = {"teams": "default"}
    assert route(defaults=defaults) == ("#alerts", "teams:default")
    assert route("prod", defaults=defaults, namespace_routes={"prod": "pagerduty:checkout"}) == (
        "#alerts",
        "pagerduty:checkout",
        "teams:default",
    )
