"""The Helm chart, rendered by Helm's own engine: lint, render, schema, Kubernetes schemas, RBAC, docs.

`helm-python-sdk` embeds Helm v4's Go library (no helm binary): `helm.lint` is `helm lint`, and
`Chart.render` is the template step of `helm install` (values coalesced with values.yaml, validated
against values.schema.json, templates executed), so a wrong value fails here exactly as it fails an
install. Every values file in `charts/exitcode-bot/ci/` (the chart-testing convention) is linted and
rendered, and every rendered object is validated against the Kubernetes API schemas.

The chart's RBAC must equal what the code uses. tests/test_rbac_matches_code.py proves that the kustomize
manifests grant exactly the calls the bot makes (recorded by the fake API server); here the chart's grants,
computed by the same machinery (tests/deploy_rbac.py), must equal the kustomize ones in both modes, so the
chart and the code agree too, without running the cluster-facing suite a second time.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

import bot
from bot.settings import Settings
from tests.deploy_rbac import (
    BASE_DIR,
    CLUSTER_WIDE,
    REPO_ROOT,
    SINGLE_NAMESPACE_DIR,
    Grant,
    Manifest,
    granted_permissions,
    is_allowed,
    iter_pod_specs,
    only,
    render_kustomization,
    resource_name_limits,
)

CHART_DIR = REPO_ROOT / "charts" / "exitcode-bot"
CI_VALUES = sorted((CHART_DIR / "ci").glob("*.yaml"))
RELEASE = "exitcode-bot"
NAMESPACE = "exitcode-bot"  # the kustomize base's namespace, so grants compare scope for scope
KUBERNETES_VERSIONS = ("1.27", kubernetes_validate.latest_version())
# Custom resources: not in the Kubernetes schemas; checked structurally below.
CUSTOM_KINDS = frozenset({"ServiceMonitor"})
# The overlay's namespace (k8s/overlays/single-namespace/namespace-transformer.yaml).
OVERLAY_NAMESPACE = "my-team"
OWN_NAMESPACE_RESOURCES = frozenset({("", "configmaps"), ("coordination.k8s.io", "leases")})
EXISTING_SECRET = {"slack": {"existingSecret": "exitcode-bot-slack"}}
# Settings the chart sets from something other than `settings.*`, and where.
SETTINGS_NOT_UNDER_SETTINGS = {
    "slack_bot_token": "slack.botToken / slack.existingSecret",
    "slack_app_token": "slack.appToken / slack.existingSecret",
    "slack_signing_secret": "slack.signingSecret / slack.existingSecret",
    "teams_webhook_url": "alertSurfaces.teamsWebhookUrl / alertSurfaces.existingSecret",
    "pagerduty_routing_key": "alertSurfaces.pagerdutyRoutingKey / alertSurfaces.existingSecret",
    "webhook_url": "alertSurfaces.webhookUrl / alertSurfaces.existingSecret",
    "webhook_secret": "alertSurfaces.webhookSecret / alertSurfaces.existingSecret",
    "pod_namespace": "the release namespace (downward API)",
    "config_file": "accessConfig",
    "knowledge_file": "extraExitCodes",
}
# Where the chart's default deliberately differs from the bot's own, as in the kustomize Deployment.
CHART_DEFAULTS = {"log_format": "json", "alert_channel": "#k8s-alerts"}
README = REPO_ROOT / "README.md"
TABLE_START, TABLE_END = "<!-- helm-values:start -->", "<!-- helm-values:end -->"


# --------------------------------------------------------------------------------------------------
# Rendering with Helm's engine


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def load_values(path: Path) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return values


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge value layers, later ones winning (what `-f a.yaml -f b.yaml` does)."""
    result: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result


def render(
    chart: helm.Chart, values: dict[str, Any], namespace: str = NAMESPACE
) -> tuple[list[Manifest], str]:
    """The objects `helm install RELEASE -n NAMESPACE` would create, and its NOTES."""
    output = chart.render(values, name=RELEASE, namespace=namespace, is_install=True)
    manifests: list[Manifest] = []
    notes = ""
    for template, text in sorted(output.items()):
        if template.endswith("NOTES.txt"):
            notes = text
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests, notes


def deployment(manifests: list[Manifest]) -> Manifest:
    return only(manifests, "Deployment")


def bot_container(manifests: list[Manifest]) -> Manifest:
    (container,) = deployment(manifests)["spec"]["template"]["spec"]["containers"]
    result: Manifest = container
    return result


def env_of(manifests: list[Manifest]) -> dict[str, Manifest]:
    items = bot_container(manifests)["env"]
    names = [item["name"] for item in items]
    assert len(names) == len(set(names)), f"env vars set twice: {names}"
    return {item["name"]: item for item in items}


@pytest.fixture(scope="module", params=CI_VALUES, ids=lambda path: path.stem)
def ci_values(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load_values(request.param)


# --------------------------------------------------------------------------------------------------
# Lint, render, Kubernetes schemas


def test_there_are_several_ci_values_files() -> None:
    assert len(CI_VALUES) >= 3


def test_the_chart_lints_clean(ci_values: dict[str, Any]) -> None:
    report = helm.lint(CHART_DIR, ci_values, strict=True, namespace=NAMESPACE)
    problems = [message for message in report["messages"] if message["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_is_valid_kubernetes(
    chart: helm.Chart, ci_values: dict[str, Any], version: str
) -> None:
    manifests, _ = render(chart, ci_values)
    assert manifests
    for manifest in manifests:
        if manifest["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(manifest, version, strict=True)


def test_every_namespaced_object_names_the_release_namespace(
    chart: helm.Chart, ci_values: dict[str, Any]
) -> None:
    """Helm does not add namespaces to rendered objects; `kubectl apply` of the output must not guess."""
    manifests, _ = render(chart, ci_values)
    for manifest in manifests:
        if manifest["kind"] not in {"ClusterRole", "ClusterRoleBinding"}:
            assert manifest["metadata"].get("namespace"), f"{manifest['kind']} has no namespace"


def test_the_service_monitor_scrapes_the_metrics_port(chart: helm.Chart) -> None:
    manifests, _ = render(chart, load_values(CHART_DIR / "ci" / "http-mode-values.yaml"))
    monitor = only(manifests, "ServiceMonitor")
    service = only(manifests, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    ((endpoint),) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


# --------------------------------------------------------------------------------------------------
# values.schema.json: a wrong value fails the install


def test_every_ci_values_file_passes_the_schema(chart: helm.Chart, ci_values: dict[str, Any]) -> None:
    chart.validate_schema(ci_values)


@pytest.mark.parametrize(
    ("wrong", "named"),
    [
        ({"replicaCount": "two"}, "/replicaCount"),
        ({"replicaCount": 0}, "/replicaCount"),
        ({"setings": {"logLevel": "INFO"}}, "setings"),
        ({"settings": {"logLevel": "VERBOSE"}}, "/settings/logLevel"),
        ({"settings": {"logFormat": "xml"}}, "/settings/logFormat"),
        ({"settings": {"logLines": 501}}, "/settings/logLines"),
        ({"settings": {"slashCommand": "exitcode"}}, "/settings/slashCommand"),
        ({"settings": {"groupWindow": "soon"}}, "/settings/groupWindow"),
        ({"settings": {"ignoreExitCodes": ["137"]}}, "/settings/ignoreExitCodes"),
        ({"settings": {"alertchannel": "#typo"}}, "alertchannel"),
        ({"rbac": {"scope": "namespace"}}, "/rbac/scope"),
        ({"slack": {"existingSecret": "", "botToken": "xapp-not-a-bot-token"}}, "/slack/botToken"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"service": {"port": 70000}}, "/service/port"),
        ({"alertSurfaces": {"teamsWebhookUrl": "teams.example.com/x"}}, "/alertSurfaces/teamsWebhookUrl"),
        ({"alertSurfaces": {"webhookURL": "https://hooks.example.com"}}, "webhookURL"),
        ({"alertSurfaces": {"pagerdutyRoutingKey": "R0 00"}}, "/alertSurfaces/pagerdutyRoutingKey"),
        ({"settings": {"pagerdutyEventsUrl": "events.pagerduty.com"}}, "/settings/pagerdutyEventsUrl"),
        # CONFIG_FILE names the variable holding a URL or key, never the secret itself.
        (
            {"accessConfig": {"surfaces": {"teams": {"payments": {"url_env": "https://x.example/wf"}}}}},
            "/accessConfig/surfaces/teams/payments/url_env",
        ),
        (
            {"accessConfig": {"surfaces": {"webhook": {"audit": {"url_env": "AUDIT_URL"}}}}},
            "/accessConfig/surfaces/webhook/audit",
        ),
        (
            {"accessConfig": {"pagerduty_severity": [{"severity": "high"}]}},
            "/accessConfig/pagerduty_severity",
        ),
    ],
)
def test_a_wrong_value_fails_at_install_time(chart: helm.Chart, wrong: dict[str, Any], named: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=re.escape(named)):
        chart.render(merged(EXISTING_SECRET, wrong), name=RELEASE, namespace=NAMESPACE, is_install=True)


def test_no_slack_credentials_fails_with_a_sentence_saying_what_to_set(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmError, match=r"also set slack\.appToken .* or slack\.signingSecret"):
        render(chart, {"slack": {"botToken": "xoxb-1"}})


# --------------------------------------------------------------------------------------------------
# Every setting is a value


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def chart_default_values() -> dict[str, Any]:
    return load_values(CHART_DIR / "values.yaml")


def test_every_setting_is_a_chart_value() -> None:
    under_settings = {_snake(key) for key in chart_default_values()["settings"]}
    expected = set(Settings.model_fields) - set(SETTINGS_NOT_UNDER_SETTINGS)
    assert under_settings == expected, (
        "bot/settings.py and the chart's `settings:` differ (add the setting to values.yaml with a "
        f"`# --` description and to values.schema.json): missing {sorted(expected - under_settings)}, "
        f"unknown {sorted(under_settings - expected)}"
    )


def test_chart_defaults_are_the_bots_defaults_except_the_documented_ones() -> None:
    differing: dict[str, Any] = {}
    for key, value in chart_default_values()["settings"].items():
        field = Settings.model_fields[_snake(key)]
        default = field.get_default(call_default_factory=True)
        if value != default:
            differing[_snake(key)] = value
    assert differing == CHART_DEFAULTS


def test_every_setting_reaches_the_bot_as_it_parses_it(
    chart: helm.Chart, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Set every setting in values, render, and load the rendered environment into the real Settings."""
    chosen = {
        "publicUrl": "https://bot.example.com",
        "runbookUrlTemplate": "https://wiki.example.com/exit/{code}",
        "clusterName": "prod-eu",
        "watchLabelSelector": "team=payments",
        "watchNamespaces": ["payments", "search"],
        "ignoreExitCodes": [143, 130],
        "groupWindow": "30m",
        "logLevel": "DEBUG",
    }
    values = merged(
        EXISTING_SECRET, {"settings": chosen, "accessConfig": {"namespace_channels": {"a": "#a"}}}
    )
    values["extraExitCodes"] = {"codes": [{"code": 3, "title": "three"}]}
    manifests, _ = render(chart, values)
    env = env_of(manifests)
    from_secrets = {name for name, where in SETTINGS_NOT_UNDER_SETTINGS.items() if "existingSecret" in where}
    for name in set(Settings.model_fields) - from_secrets:
        assert name.upper() in env, f"{name.upper()} is not set by the chart"
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "exitcode-bot-slack"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"

    monkeypatch.chdir(tmp_path)  # no .env
    for name in [key for key in os.environ if key.upper() in env]:
        monkeypatch.delenv(name)
    for name, item in env.items():
        if "value" in item:
            monkeypatch.setenv(name, item["value"])
    settings = Settings()
    assert settings.public_url == "https://bot.example.com"
    assert settings.cluster_name == "prod-eu"
    assert settings.watch_namespaces == ["payments", "search"]
    assert settings.ignore_exit_codes == [143, 130]
    assert settings.group_window == 1800
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "json"
    assert str(settings.config_file) == "/etc/exitcode-bot/config.yaml"
    assert str(settings.knowledge_file) == "/etc/exitcode-bot/extra-exitcodes.yaml"


def test_the_operator_files_are_mounted_where_the_settings_point(chart: helm.Chart) -> None:
    manifests, _ = render(chart, load_values(CHART_DIR / "ci" / "namespaced-values.yaml"))
    configmap = only(manifests, "ConfigMap")
    env = env_of(manifests)
    container = bot_container(manifests)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "config"]
    for setting in ("CONFIG_FILE", "KNOWLEDGE_FILE"):
        path = Path(env[setting]["value"])
        assert str(path.parent) == mount["mountPath"]
        assert yaml.safe_load(configmap["data"][path.name])
    extra = yaml.safe_load(configmap["data"]["extra-exitcodes.yaml"])
    assert extra["version"] == 1 and extra["codes"][0]["code"] == 3


def test_changed_operator_files_roll_the_pods(chart: helm.Chart) -> None:
    base = load_values(CHART_DIR / "ci" / "namespaced-values.yaml")
    changed = merged(base, {"accessConfig": {"namespace_channels": {"team-b": "#elsewhere"}}})
    before = deployment(render(chart, base)[0])["spec"]["template"]["metadata"]["annotations"]
    after = deployment(render(chart, changed)[0])["spec"]["template"]["metadata"]["annotations"]
    assert before["checksum/config"] != after["checksum/config"]


# --------------------------------------------------------------------------------------------------
# Slack credentials


def test_an_existing_secret_is_referenced_and_nothing_is_created(chart: helm.Chart) -> None:
    manifests, _ = render(chart, {"slack": {"existingSecret": "team-slack"}})
    assert [m for m in manifests if m["kind"] == "Secret"] == []
    assert env_of(manifests)["SLACK_BOT_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "team-slack"


def test_tokens_from_values_go_into_a_secret_never_into_the_pod_spec(chart: helm.Chart) -> None:
    token, app_token = "xoxb-1-secret-bot", "xapp-1-secret-app"
    manifests, notes = render(chart, {"slack": {"botToken": token, "appToken": app_token}})
    secret = only(manifests, "Secret")
    assert secret["stringData"] == {"SLACK_BOT_TOKEN": token, "SLACK_APP_TOKEN": app_token}
    env = env_of(manifests)
    assert env["SLACK_BOT_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == secret["metadata"]["name"]
    everything_but_the_secret = json.dumps([m for m in manifests if m["kind"] != "Secret"]) + notes
    assert token not in everything_but_the_secret and app_token not in everything_but_the_secret


# --------------------------------------------------------------------------------------------------
# Alert surfaces (issue 12): Teams, PagerDuty, the signed webhook; alerts-only without Slack

ALERTS_ONLY_VALUES = CHART_DIR / "ci" / "alerts-only-values.yaml"
ALERTS_ONLY_EXISTING_SECRET_VALUES = CHART_DIR / "ci" / "alerts-only-existing-secret-values.yaml"
SLACK_VARIABLES = frozenset({"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"})
TEAMS_URL = "https://prod-00.westeurope.logic.azure.com/workflows/0000/triggers/manual/paths/invoke?sig=s3cr"
ROUTING_KEY = "R0123456789abcdef0123456789abcde"


def secrets_of(manifests: list[Manifest]) -> dict[str, dict[str, str]]:
    """Secret name → its keys and values, for every Secret the chart creates."""
    return {m["metadata"]["name"]: m["stringData"] for m in manifests if m["kind"] == "Secret"}


def pod_environment(manifests: list[Manifest]) -> dict[str, str]:
    """The variables the bot process sees when every Secret it reads is the chart's: literal `env`
    values, and each `envFrom` Secret's keys (an `env` entry of the same name wins, as in Kubernetes)."""
    secrets = secrets_of(manifests)
    environ: dict[str, str] = {}
    for source in bot_container(manifests).get("envFrom", []):
        environ.update(secrets[source["secretRef"]["name"]])
    environ.update({name: item["value"] for name, item in env_of(manifests).items() if "value" in item})
    return environ


def test_alerts_only_from_values_has_no_slack_and_reads_the_surfaces_secret(chart: helm.Chart) -> None:
    manifests, notes = render(chart, load_values(ALERTS_ONLY_VALUES))
    container = bot_container(manifests)
    assert not SLACK_VARIABLES & set(env_of(manifests)), "no Slack Secret is referenced"
    assert container["envFrom"] == [{"secretRef": {"name": "exitcode-bot-surfaces"}}]
    values = load_values(ALERTS_ONLY_VALUES)["alertSurfaces"]
    assert secrets_of(manifests) == {
        "exitcode-bot-surfaces": {
            "TEAMS_WEBHOOK_URL": values["teamsWebhookUrl"],
            "PAGERDUTY_ROUTING_KEY": values["pagerdutyRoutingKey"],
        }
    }
    assert env_of(manifests)["PAGERDUTY_EVENTS_URL"]["value"] == "https://events.pagerduty.com/v2/enqueue"
    assert "Mode: alerts-only (no Slack app)" in notes and '"exitcode-bot-surfaces"' in notes
    assert "/invite" not in notes, "no Slack steps for an install without Slack"


def test_surface_urls_and_keys_from_values_stay_in_their_secret(chart: helm.Chart) -> None:
    secret = "whsec-0123456789abcdef"
    surfaces = {
        "teamsWebhookUrl": TEAMS_URL,
        "pagerdutyRoutingKey": ROUTING_KEY,
        "webhookUrl": "https://hooks.example.com/exitcode?token=t0k3n",
        "webhookSecret": secret,
    }
    manifests, notes = render(chart, {"alertSurfaces": surfaces})
    assert secrets_of(manifests)["exitcode-bot-surfaces"] == {
        "TEAMS_WEBHOOK_URL": TEAMS_URL,
        "PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "WEBHOOK_URL": surfaces["webhookUrl"],
        "WEBHOOK_SECRET": secret,
    }
    everything_but_the_secret = json.dumps([m for m in manifests if m["kind"] != "Secret"]) + notes
    for value in surfaces.values():
        assert value not in everything_but_the_secret


def test_alerts_only_values_reach_the_bot_as_it_parses_them(
    chart: helm.Chart, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The pod's environment (env + the surfaces Secret) loaded into the real Settings and resolved by the
    bot's own startup code: no Slack, so alerts-only mode; each surface's `default` target and the
    CONFIG_FILE target, whose variable comes from extraEnv here."""
    from bot.access import BotConfig
    from bot.wiring.surfaces import surface_targets

    config = {"surfaces": {"teams": {"payments": {"url_env": "TEAMS_PAYMENTS_URL"}}}}
    values = {
        "alertSurfaces": {"teamsWebhookUrl": TEAMS_URL, "pagerdutyRoutingKey": ROUTING_KEY},
        "settings": {"pagerdutyEventsUrl": "https://events.eu.pagerduty.com/v2/enqueue"},
        "accessConfig": config,
        "extraEnv": [{"name": "TEAMS_PAYMENTS_URL", "value": "https://teams.example.com/payments"}],
    }
    manifests, _ = render(chart, values)
    environ = pod_environment(manifests)
    monkeypatch.chdir(tmp_path)  # no .env
    for name in [key for key in os.environ if key.upper() in environ or key.upper() in SLACK_VARIABLES]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert not settings.slack_enabled and settings.surfaces_enabled
    assert settings.pagerduty_events_url == "https://events.eu.pagerduty.com/v2/enqueue"
    configmap = only(manifests, "ConfigMap")
    bot_config = BotConfig.model_validate(yaml.safe_load(configmap["data"]["config.yaml"]))
    targets = surface_targets(settings, bot_config, environ)
    assert targets == {
        "teams": {"default": {"url": TEAMS_URL}, "payments": {"url": "https://teams.example.com/payments"}},
        "pagerduty": {"default": {"routing_key": ROUTING_KEY}},
    }


def test_alerts_only_from_an_existing_secret_creates_no_secret(chart: helm.Chart) -> None:
    manifests, notes = render(chart, load_values(ALERTS_ONLY_EXISTING_SECRET_VALUES))
    assert secrets_of(manifests) == {}
    assert bot_container(manifests)["envFrom"] == [{"secretRef": {"name": "exitcode-bot-surfaces"}}]
    assert not SLACK_VARIABLES & set(env_of(manifests))
    config = yaml.safe_load(only(manifests, "ConfigMap")["data"]["config.yaml"])
    assert config["surfaces"] == {"teams": {"payments": {"url_env": "TEAMS_PAYMENTS_URL"}}}
    assert config["namespace_routes"] == {"payments-*": "teams:payments"}
    assert "Mode: alerts-only" in notes


def test_slack_and_surfaces_together_read_both_secrets(chart: helm.Chart) -> None:
    values = {
        "slack": {"botToken": "xoxb-1-bot", "appToken": "xapp-1-app"},
        "alertSurfaces": {"pagerdutyRoutingKey": ROUTING_KEY},
    }
    manifests, notes = render(chart, values)
    env = env_of(manifests)
    for name in SLACK_VARIABLES:
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "exitcode-bot-slack"
    assert bot_container(manifests)["envFrom"] == [{"secretRef": {"name": "exitcode-bot-surfaces"}}]
    assert secrets_of(manifests) == {
        "exitcode-bot-slack": {"SLACK_BOT_TOKEN": "xoxb-1-bot", "SLACK_APP_TOKEN": "xapp-1-app"},
        "exitcode-bot-surfaces": {"PAGERDUTY_ROUTING_KEY": ROUTING_KEY},
    }
    assert "Mode: Slack" in notes and '"exitcode-bot-surfaces"' in notes and "/invite" in notes
    both_existing = {**EXISTING_SECRET, "alertSurfaces": {"existingSecret": "team-surfaces"}}
    manifests, _ = render(chart, both_existing)
    assert secrets_of(manifests) == {}
    assert bot_container(manifests)["envFrom"] == [{"secretRef": {"name": "team-surfaces"}}]
    assert env_of(manifests)["SLACK_BOT_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "exitcode-bot-slack"


def test_slack_alone_reads_no_surfaces_secret(chart: helm.Chart) -> None:
    manifests, notes = render(chart, EXISTING_SECRET)
    assert "envFrom" not in bot_container(manifests)
    assert "Mode: Slack (" in notes and "surfaces" not in notes


def test_an_upgrade_reusing_values_from_before_alert_surfaces_still_renders(chart: helm.Chart) -> None:
    """`helm upgrade --reuse-values` (what NOTES.txt suggests) keeps the old release's values as the
    chart's defaults, so a release from before `alertSurfaces` has no such map: null removes it here."""
    manifests, notes = render(chart, {**EXISTING_SECRET, "alertSurfaces": None})
    assert "envFrom" not in bot_container(manifests) and "Mode: Slack" in notes
    with pytest.raises(helm.HelmError, match="nowhere to send alerts"):
        render(chart, {"alertSurfaces": None})


def test_changed_surface_values_roll_the_pods(chart: helm.Chart) -> None:
    before = render(chart, {"alertSurfaces": {"teamsWebhookUrl": TEAMS_URL}})[0]
    after = render(chart, {"alertSurfaces": {"teamsWebhookUrl": TEAMS_URL + "x"}})[0]
    annotations = [deployment(m)["spec"]["template"]["metadata"]["annotations"] for m in (before, after)]
    assert annotations[0]["checksum/secret"] != annotations[1]["checksum/secret"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param(
            {},
            r"nowhere to send alerts\. For Slack, set slack\.existingSecret .* For alerts-only .*"
            r"set alertSurfaces\.existingSecret .* or alertSurfaces\.teamsWebhookUrl",
            id="nothing configured",
        ),
        pytest.param(
            {"alertSurfaces": {"webhookSecret": "only-the-secret"}},
            r"nowhere to send alerts",
            id="a webhook secret is no surface",
        ),
        pytest.param(
            {"alertSurfaces": {"webhookUrl": "https://hooks.example.com/x"}},
            r"alertSurfaces\.webhookUrl is set but alertSurfaces\.webhookSecret is not",
            id="webhook without its secret",
        ),
        pytest.param(
            {**EXISTING_SECRET, "alertSurfaces": {"webhookUrl": "https://hooks.example.com/x"}},
            r"alertSurfaces\.webhookUrl is set but alertSurfaces\.webhookSecret is not",
            id="webhook without its secret beside Slack",
        ),
        pytest.param(
            {"alertSurfaces": {"existingSecret": "s", "teamsWebhookUrl": TEAMS_URL}},
            r"alertSurfaces\.existingSecret and alertSurfaces\.teamsWebhookUrl.* exclude each other",
            id="existing secret and values",
        ),
        pytest.param(
            {"alertSurfaces": {"teamsWebhookUrl": TEAMS_URL}, "slack": {"appToken": "xapp-1"}},
            r"slack\.appToken or slack\.signingSecret without slack\.botToken",
            id="app token without bot token",
        ),
        pytest.param(
            {"alertSurfaces": {"teamsWebhookUrl": TEAMS_URL}, "settings": {"watchEnabled": False}},
            r"alerts-only .* settings\.watchEnabled=false has nothing to do",
            id="alerts-only without the watcher",
        ),
        pytest.param(
            {
                "alertSurfaces": {"teamsWebhookUrl": TEAMS_URL},
                "accessConfig": {"surfaces": {"teams": {"payments": {"url_env": "TEAMS_PAYMENTS_URL"}}}},
            },
            r"accessConfig\.surfaces\.teams\.payments\.url_env names TEAMS_PAYMENTS_URL, which nothing sets",
            id="a CONFIG_FILE variable nothing sets",
        ),
    ],
)
def test_what_the_bot_would_refuse_fails_the_install_with_a_sentence(
    chart: helm.Chart, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(chart, values)


def test_config_file_surface_keys_are_accepted(chart: helm.Chart) -> None:
    """`accessConfig` is CONFIG_FILE: the surface keys (issue 12) and `channel_clusters` (issue 13) pass
    the schema and reach the file as written."""
    config = {
        "channel_namespaces": {"#payments": ["payments-*"]},
        "channel_clusters": {"#payments": {"default": "prod-eu", "allowed": ["prod-*"]}},
        "namespace_routes": {"payments-*": "teams:payments, pagerduty:checkout", "dev-*": "pagerduty:none"},
        "surfaces": {
            "teams": {"payments": {"url_env": "TEAMS_PAYMENTS_URL"}},
            "pagerduty": {"checkout": {"routing_key_env": "PAGERDUTY_CHECKOUT_KEY"}},
            "webhook": {"audit": {"url_env": "AUDIT_WEBHOOK_URL", "secret_env": "AUDIT_WEBHOOK_SECRET"}},
        },
        "pagerduty_severity": [{"namespace": "prod-*", "reason": "OOMKilled", "severity": "critical"}],
    }
    values = {"alertSurfaces": {"existingSecret": "exitcode-bot-surfaces"}, "accessConfig": config}
    chart.validate_schema(values)
    manifests, _ = render(chart, values)
    assert yaml.safe_load(only(manifests, "ConfigMap")["data"]["config.yaml"]) == config


def test_alerts_only_keeps_the_probes_and_the_egress_open(chart: helm.Chart) -> None:
    """Alerts-only serves /healthz and /readyz on the same port (bot/wiring/alerts_only.py), and the
    NetworkPolicy restricts inbound traffic only: the surfaces' HTTPS endpoints stay reachable."""
    manifests, _ = render(chart, load_values(ALERTS_ONLY_VALUES))
    container = bot_container(manifests)
    for probe, path in (
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}
    policy = only(manifests, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"] and "egress" not in policy["spec"]


def test_alerts_only_exposes_the_runbooks_and_no_slack_endpoint(chart: helm.Chart) -> None:
    manifests, _ = render(chart, load_values(ALERTS_ONLY_EXISTING_SECRET_VALUES))
    (rule,) = only(manifests, "Ingress")["spec"]["rules"]
    assert [path["path"] for path in rule["http"]["paths"]] == ["/runbooks"]


def test_alerts_only_matches_the_kustomize_overlay_where_it_matters(chart: helm.Chart) -> None:
    """The chart's alerts-only pod and k8s/overlays/alerts-only: no Slack variables, the surfaces' Secret
    read whole, and the same probes, resources and security context."""
    manifests, _ = render(chart, {"alertSurfaces": {"existingSecret": "exitcode-bot-surfaces"}})
    ours = bot_container(manifests)
    overlay = render_kustomization(REPO_ROOT / "k8s" / "overlays" / "alerts-only")
    theirs = only(overlay, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    for field in (
        "envFrom",
        "startupProbe",
        "livenessProbe",
        "readinessProbe",
        "resources",
        "securityContext",
    ):
        assert ours[field] == theirs[field], field
    assert not SLACK_VARIABLES & {item["name"] for item in theirs["env"]}
    assert _permissions(manifests) == _permissions(overlay)


# --------------------------------------------------------------------------------------------------
# The pod: hardened, probed, sized, spread, disruption budget


def test_the_pod_is_hardened(chart: helm.Chart, ci_values: dict[str, Any]) -> None:
    """Pod Security `restricted`, a read-only root filesystem and only /tmp writable."""
    manifests, _ = render(chart, ci_values)
    ((_, spec),) = list(iter_pod_specs(manifests))
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "hostNetwork" not in spec and "hostPID" not in spec
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] == 10001
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        writable = [m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")]
        assert writable == ["/tmp"]


def test_the_pod_matches_the_kustomize_deployment_where_it_matters(chart: helm.Chart) -> None:
    """Same user, probes, resources and grace period as k8s/base (one tested configuration, two tools)."""
    manifests, _ = render(chart, EXISTING_SECRET)
    ours = bot_container(manifests)
    theirs = only(render_kustomization(BASE_DIR), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    for field in ("startupProbe", "livenessProbe", "readinessProbe", "resources", "securityContext"):
        assert ours[field] == theirs[field], field
    assert ours["image"] == f"exitcode-bot:{bot.__version__}"
    assert "cpu" not in ours["resources"]["limits"], "no CPU limit: throttling delays the watch"


def test_replicas_spread_and_a_disruption_budget_keep_a_standby(chart: helm.Chart) -> None:
    manifests, _ = render(chart, load_values(CHART_DIR / "ci" / "http-mode-values.yaml"))
    workload = deployment(manifests)
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]
    assert workload["spec"]["replicas"] == 3
    assert workload["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    budget = only(manifests, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (spread,) = workload["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"


def test_one_replica_gets_no_disruption_budget_that_would_block_drains(chart: helm.Chart) -> None:
    manifests, _ = render(chart, load_values(CHART_DIR / "ci" / "single-replica-values.yaml"))
    assert [m for m in manifests if m["kind"] == "PodDisruptionBudget"] == []
    assert bot_container(manifests)["image"].endswith("@sha256:" + "0123456789abcdef" * 4)


# --------------------------------------------------------------------------------------------------
# HTTP mode: Ingress and NetworkPolicy


def test_the_ingress_exposes_slack_events_and_runbooks_only(chart: helm.Chart) -> None:
    manifests, notes = render(chart, load_values(CHART_DIR / "ci" / "http-mode-values.yaml"))
    ingress = only(manifests, "Ingress")
    service = only(manifests, "Service")
    (rule,) = ingress["spec"]["rules"]
    paths = {path["path"] for path in rule["http"]["paths"]}
    assert paths == {"/slack/events", "/runbooks"}, "never /metrics"
    for path in rule["http"]["paths"]:
        assert path["backend"]["service"]["name"] == service["metadata"]["name"]
    assert "https://exitcode-bot.example.com/slack/events" in notes


def test_the_network_policy_admits_the_bot_port_from_the_listed_peers(chart: helm.Chart) -> None:
    manifests, _ = render(chart, load_values(CHART_DIR / "ci" / "http-mode-values.yaml"))
    policy = only(manifests, "NetworkPolicy")
    pod_labels = deployment(manifests)["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }


# --------------------------------------------------------------------------------------------------
# RBAC: the chart grants what the kustomize manifests grant, which is what the code calls


def _permissions(manifests: list[Manifest]) -> tuple[set[Grant], dict[Grant, frozenset[str]]]:
    return granted_permissions(manifests), resource_name_limits(manifests)


def test_cluster_scope_rbac_equals_the_kustomize_base(chart: helm.Chart) -> None:
    chart_grants, chart_limits = _permissions(render(chart, EXISTING_SECRET)[0])
    base_grants, base_limits = _permissions(render_kustomization(BASE_DIR))
    assert chart_grants == base_grants
    assert chart_limits == base_limits


def test_namespace_scope_rbac_equals_the_single_namespace_overlay(chart: helm.Chart) -> None:
    values = merged(EXISTING_SECRET, {"rbac": {"scope": "namespaces"}})
    manifests, _ = render(chart, values, namespace=OVERLAY_NAMESPACE)
    overlay = render_kustomization(SINGLE_NAMESPACE_DIR)
    assert _permissions(manifests) == _permissions(overlay)
    assert not [m for m in manifests if m["kind"] in {"ClusterRole", "ClusterRoleBinding"}]
    assert env_of(manifests)["WATCH_NAMESPACES"]["value"] == OVERLAY_NAMESPACE


def test_listed_namespaces_each_get_the_overlays_read_role(chart: helm.Chart) -> None:
    listed = ["team-a", "team-b"]
    values = merged(EXISTING_SECRET, {"rbac": {"scope": "namespaces", "namespaces": listed}})
    manifests, _ = render(chart, values)
    overlay_grants = granted_permissions(render_kustomization(SINGLE_NAMESPACE_DIR))
    reads = {g for g in overlay_grants if (g.api_group, g.resource) not in OWN_NAMESPACE_RESOURCES}
    state = overlay_grants - reads
    node_events = {g for g in reads if g.scope == "default"}  # the overlay's node-events Role
    assert node_events == {Grant(api_group="", resource="events", verb="list", scope="default")}
    expected = {g._replace(scope=namespace) for g in reads - node_events for namespace in listed}
    expected |= {g._replace(scope=NAMESPACE) for g in state} | node_events
    grants, limits = _permissions(manifests)
    assert grants == expected
    assert env_of(manifests)["WATCH_NAMESPACES"]["value"] == "team-a,team-b"
    assert is_allowed(grants, limits, api_group="", resource="pods", verb="watch", namespace="team-a")
    assert not is_allowed(grants, limits, api_group="", resource="pods", verb="watch", namespace=None)
    assert not is_allowed(grants, limits, api_group="", resource="pods", verb="get", namespace="team-c")
    assert not any(grant.resource == "secrets" for grant in grants)
    assert is_allowed(grants, limits, api_group="", resource="events", verb="list", namespace="default")


def test_renamed_lease_and_ledger_are_what_the_role_names(chart: helm.Chart) -> None:
    values = merged(EXISTING_SECRET, {"settings": {"leaseName": "bot-a-leader", "ledgerConfigmap": "bot-a"}})
    manifests, _ = render(chart, values)
    _, limits = _permissions(manifests)
    env = env_of(manifests)
    for verb in ("get", "update"):
        assert limits[Grant("", "configmaps", verb, NAMESPACE)] == {env["LEDGER_CONFIGMAP"]["value"]}
        assert limits[Grant("coordination.k8s.io", "leases", verb, NAMESPACE)] == {env["LEASE_NAME"]["value"]}
    assert CLUSTER_WIDE not in {g.scope for g in _permissions(manifests)[0] if g.resource == "leases"}


def test_rbac_can_be_left_to_the_operator(chart: helm.Chart) -> None:
    manifests, _ = render(chart, merged(EXISTING_SECRET, {"rbac": {"create": False}}))
    assert not [
        m for m in manifests if m["kind"] in {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    ]


# --------------------------------------------------------------------------------------------------
# What the operator reads: NOTES.txt and the README's values table


def test_the_notes_say_what_to_do_next(chart: helm.Chart) -> None:
    _, notes = render(chart, merged(EXISTING_SECRET, {"settings": {"slashCommand": "/exitcode-prod"}}))
    assert "kubectl -n exitcode-bot rollout status deployment/exitcode-bot" in notes
    assert "/invite @exitcode-bot" in notes
    assert "`/exitcode-prod 137`" in notes
    assert "helm uninstall exitcode-bot -n exitcode-bot" in notes


def documented_values(text: str) -> list[tuple[str, Any, str]]:
    """(dotted key, default, description) for every value a `# --` comment describes, in file order.

    A described map is one row (its children are its default); every other leaf must be described, so
    a value nobody documented fails here."""
    data = yaml.safe_load(text)
    rows: list[tuple[str, Any, str]] = []
    undocumented: list[str] = []
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped[1:].strip())
            continue
        match = re.match(r"(\s*)([A-Za-z][A-Za-z0-9_]*):(.*)$", line)
        if not match:
            continue
        indent, key = len(match[1]), match[2]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = [name for _, name in stack] + [key]
        stack.append((indent, key))
        dotted = ".".join(path)
        if any(dotted.startswith(row[0] + ".") for row in rows):
            pending = None
            continue
        value: Any = data
        for name in path:
            value = value[name]
        if pending is not None:
            rows.append((dotted, value, " ".join(pending)))
            pending = None
        elif not isinstance(value, dict) or not value:
            undocumented.append(dotted)
    assert not undocumented, f"values without a `# --` description: {undocumented}"
    return rows


def values_table() -> str:
    lines = ["| Value | Default | Meaning |", "|---|---|---|"]
    for key, value, description in documented_values((CHART_DIR / "values.yaml").read_text(encoding="utf-8")):
        default = json.dumps(value, ensure_ascii=False)
        meaning = description.replace("|", "\\|")
        lines.append(f"| `{key}` | `{default}` | {meaning} |")
    return "\n".join(lines)


def test_the_readme_lists_every_value_with_its_default() -> None:
    text = README.read_text(encoding="utf-8")
    assert TABLE_START in text and TABLE_END in text, f"README needs {TABLE_START} … {TABLE_END}"
    documented = text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()
    assert documented == values_table(), (
        "README's Helm values table is out of date; replace it with:\n" + values_table()
    )


def test_each_clusters_lease_and_ledger_are_what_the_role_names(chart: helm.Chart) -> None:
    """CLUSTERS (issue 13): the Role names exactly the Leases and ledgers the bot's code derives, for the
    bot's own cluster and every listed context, including names the code must clean up."""
    from bot.application.clusters import lease_name_for, ledger_name_for

    listed = ["prod-us", "gke_acme_europe-west1_Payments", "kubernetes-admin@kind"]
    settings = {"clusters": listed, "clusterName": "home-eu"}
    manifests, _ = render(
        chart, merged(EXISTING_SECRET, {"settings": settings, "kubeconfigSecret": "kubeconfigs"})
    )
    _, limits = _permissions(manifests)
    names = ["home-eu", *listed]
    for verb in ("get", "update"):
        assert limits[Grant("", "configmaps", verb, NAMESPACE)] == {
            ledger_name_for("exitcode-bot-ledger", name) for name in names
        }
        assert limits[Grant("coordination.k8s.io", "leases", verb, NAMESPACE)] == {
            lease_name_for("exitcode-bot-leader", name) for name in names
        }
    env = env_of(manifests)
    assert env["CLUSTERS"]["value"] == ",".join(listed)
    assert env["KUBECONFIG"]["value"] == "/etc/exitcode-bot-kubeconfig/config"
    mounts = {mount["name"]: mount for mount in bot_container(manifests)["volumeMounts"]}
    assert mounts["kubeconfig"]["readOnly"] is True
    volumes = {
        volume["name"]: volume for volume in deployment(manifests)["spec"]["template"]["spec"]["volumes"]
    }
    assert volumes["kubeconfig"]["secret"]["secretName"] == "kubeconfigs"


def test_all_clusters_cannot_be_granted_by_name_so_the_chart_asks_for_the_list(chart: helm.Chart) -> None:
    with pytest.raises(Exception, match="settings/clusters/0"):  # the schema (the template says so too)
        render(chart, merged(EXISTING_SECRET, {"settings": {"clusters": ["*"]}}))


if __name__ == "__main__":  # `python -m tests.test_helm_chart` prints the README table
    print(values_table())
