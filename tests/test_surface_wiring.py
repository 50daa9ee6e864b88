"""Which alert surfaces a process has (issue 12): the plain settings, CONFIG_FILE's `surfaces` targets
(named by environment variable, never the secret), the routes, and every mistake an operator can make
refused at startup with the field named and no secret in the message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.access import BotConfig, ConfigFileError, load_bot_config
from bot.application.startup import StartupError
from bot.settings import Settings
from bot.wiring.surfaces import SURFACES, build_surfaces, surface_secrets, surface_targets

TEAMS_URL = (
    "https://prod-12.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3tsig"
)
PAYMENTS_URL = (
    "https://prod-12.westeurope.logic.azure.com/workflows/def/triggers/manual/paths/invoke?sig=paysig"
)
KEY = "R0UT1NGKEYDEFAULT000000000000001"


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def config(tmp_path: Path, text: str) -> BotConfig:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_bot_config(path)


def test_no_surface_setting_means_no_surfaces() -> None:
    assert surface_targets(settings(), BotConfig(), {}) == {}
    assert build_surfaces(settings(), BotConfig(), environ={}) is None


def test_plain_settings_make_each_surfaces_default_target() -> None:
    found = surface_targets(
        settings(
            teams_webhook_url=TEAMS_URL,
            pagerduty_routing_key=KEY,
            webhook_url="https://h.example/x",
            webhook_secret="whsec-123456",
        ),
        BotConfig(),
        {},
    )
    assert found == {
        "teams": {"default": {"url": TEAMS_URL}},
        "pagerduty": {"default": {"routing_key": KEY}},
        "webhook": {"default": {"url": "https://h.example/x", "secret": "whsec-123456"}},
    }
    assert set(surface_secrets(found)) == {TEAMS_URL, KEY, "https://h.example/x", "whsec-123456"}


def test_config_file_targets_name_variables_and_the_surfaces_are_built(tmp_path: Path) -> None:
    made = config(
        tmp_path,
        "surfaces:\n  teams:\n    payments: {url_env: TEAMS_PAYMENTS_URL}\n"
        'namespace_routes:\n  "payments-*": "teams:payments, pagerduty:none"\n',
    )
    surfaces = build_surfaces(settings(), made, environ={"TEAMS_PAYMENTS_URL": PAYMENTS_URL})
    assert surfaces is not None
    assert set(surfaces.surfaces) == {"teams"}
    assert surfaces.surfaces["teams"].targets() == frozenset({"payments"})
    routing = surfaces.routing(chat=True, cluster=None)
    assert routing.surfaces == frozenset({"slack", "teams"}) and routing.defaults == {}
    assert routing.namespace_routes == {"payments-*": "teams:payments, pagerduty:none"}


@pytest.mark.parametrize(
    ("values", "text", "environ", "problem"),
    [
        ({"webhook_url": "https://h.example/x"}, "", {}, "WEBHOOK_SECRET"),
        (
            {},
            "surfaces:\n  teams:\n    payments: {url_env: TEAMS_PAYMENTS_URL}\n",
            {},
            "TEAMS_PAYMENTS_URL, which is not set",
        ),
        (
            {},
            "surfaces:\n  teams:\n    default: {url_env: X_URL}\n",
            {"X_URL": PAYMENTS_URL},
            "'default' is reserved",
        ),
        (
            {},
            "surfaces:\n  teams:\n    pay: {routing_key_env: X}\n",
            {"X": "y"},
            "needs url_env; got routing_key_env",
        ),
        ({}, "surfaces:\n  mattermost:\n    ops: {url_env: X}\n", {"X": "y"}, "unknown surface mattermost"),
        (
            {"teams_webhook_url": TEAMS_URL},
            'namespace_routes:\n  "shop": "teams:typo"\n',
            {},
            "teams has no target 'typo'",
        ),
    ],
)
def test_what_an_operator_got_wrong_stops_startup_without_revealing_a_secret(
    tmp_path: Path, values: dict[str, Any], text: str, environ: dict[str, str], problem: str
) -> None:
    with pytest.raises(StartupError) as refused:
        surface_targets(settings(**values), config(tmp_path, text or "{}\n"), environ)
    message = str(refused.value)
    assert problem in message
    assert "s3cr3tsig" not in message and "paysig" not in message and "h.example" not in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('namespace_routes:\n  "shop": "teams:<!channel>"\n', "target must be a name"),
        ('namespace_routes:\n  "shop": ""\n', "at least one destination"),
        (
            "surfaces:\n  teams:\n    pay: {url_env: https://x.example/hook}\n",
            "not an environment variable name",
        ),
        ('namespace_routes:\n  "Shop": "teams:pay"\n', "lower case"),
    ],
)
def test_config_file_routes_and_targets_are_validated(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigFileError) as broken:
        config(tmp_path, text)
    assert problem in str(broken.value)
    assert "x.example" not in str(broken.value)  # a URL pasted where a variable name goes is not echoed


def test_a_route_to_a_surface_that_is_off_here_is_only_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    made = config(tmp_path, 'namespace_routes:\n  "shop": "pagerduty:checkout"\n')
    assert surface_targets(settings(teams_webhook_url=TEAMS_URL), made, {}) == {
        "teams": {"default": {"url": TEAMS_URL}}
    }
    assert "not configured here" in caplog.text


def test_a_pagerduty_target_may_name_its_own_events_endpoint(tmp_path: Path) -> None:
    made = config(
        tmp_path,
        "surfaces:\n  pagerduty:\n    eu: {routing_key_env: PD_EU_KEY, events_url_env: PD_EU_URL}\n",
    )
    found = surface_targets(
        settings(), made, {"PD_EU_KEY": KEY, "PD_EU_URL": "https://events.eu.pagerduty.com/v2/enqueue"}
    )
    assert found == {
        "pagerduty": {"eu": {"routing_key": KEY, "events_url": "https://events.eu.pagerduty.com/v2/enqueue"}}
    }


def test_the_charts_schema_knows_what_each_surface_target_names() -> None:
    """`accessConfig.surfaces` in the chart is checked at install time against the same keys the bot
    checks at startup (`SURFACES`): a new surface or key is added in both, or this fails."""
    schema = json.loads((Path(__file__).parents[1] / "charts/exitcode-bot/values.schema.json").read_text())
    by_surface = schema["properties"]["accessConfig"]["properties"]["surfaces"]["properties"]
    assert set(by_surface) == {spec.name for spec in SURFACES}
    for spec in SURFACES:
        target = by_surface[spec.name]["additionalProperties"]
        assert set(target["required"]) == {f"{key}_env" for key in spec.keys}
        assert set(target["properties"]) == {f"{key}_env" for key in (*spec.keys, *spec.optional)}
