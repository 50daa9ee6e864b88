"""Every setting the bot reads, from the environment (and `.env`).

One class, so the README's configuration reference can be checked against it by a test, and so no
adapter reads `os.environ` on its own. Tokens are `SecretStr`: printing or logging the settings never
shows them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Read `90`, `90s`, `30m`, `1h` or `1d` as seconds: operators write durations the way kubectl does."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (examples: 90, 90s, 30m, 1h)")
    number, unit = match.groups()
    return float(number) * _UNIT_SECONDS[(unit or "s").lower()]


def split_list(value: object) -> list[str]:
    """Accept `a,b c` (comma or space separated) as well as a real list from `.env` or JSON."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(item).strip() for item in value if str(item).strip()]
    return [item for item in re.split(r"[,\s]+", str(value)) if item]


CommaList = Annotated[list[str], NoDecode]

CLUSTER_NAME_MAX_CHARS = 80
"""A cluster name is a label on every message, not prose: long enough for `prod-eu-west-1 (payments)`."""


def check_slash_command(value: str) -> str:
    """The command as Slack sends it in a request's `command` field: `/` then one lower-case word.

    Slack lower-cases and rejects anything else when the command is created, so a different value here
    could never match a request, and the bot would silently answer nothing: refuse it at startup.
    """
    command = value.strip()
    if not command.startswith("/") or len(command) < 2:
        raise ValueError(
            f"SLASH_COMMAND must start with '/' and name a command, e.g. /exitcode (got {value!r})"
        )
    if any(character.isspace() for character in command):
        raise ValueError(
            f"SLASH_COMMAND must be one word without spaces, e.g. /exitcode-prod (got {value!r})"
        )
    if command != command.lower():
        raise ValueError(
            f"SLASH_COMMAND must be lower-case, as Slack sends it: use {command.lower()!r} (got {value!r})"
        )
    return command


def clean_cluster_name(value: object) -> object:
    """One line of text, or None when blank (an empty `CLUSTER_NAME=` in a manifest means unset)."""
    if not isinstance(value, str):
        return value
    name = " ".join(value.split())
    return name or None


class Settings(BaseSettings):
    """The bot's configuration. Field names are the environment variable names, lower-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Slack transport
    slack_bot_token: SecretStr | None = Field(default=None, description="Bot token (xoxb-…).")
    slack_app_token: SecretStr | None = Field(
        default=None, description="App-level token (xapp-…); when set, the bot uses Socket Mode."
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Signing secret; required for HTTP mode (no SLACK_APP_TOKEN)."
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", description="Slack Web API base URL (tests, proxies)."
    )
    slash_command: str = Field(
        default="/exitcode",
        description="The slash command this bot answers (one app per cluster: e.g. /exitcode-prod-eu).",
    )

    # Web server
    port: int = Field(default=3000, ge=1, le=65535, description="Port of the one HTTP server.")
    public_url: str | None = Field(
        default=None, description="Public base URL of this bot; enables links to its /runbooks pages."
    )

    # Knowledge
    knowledge_file: Path | None = Field(
        default=None, description="Operator YAML that extends or overrides bot/knowledge/data/exitcodes.yaml."
    )
    runbook_url_template: str | None = Field(
        default=None, description="Runbook link per code, e.g. https://wiki.example.com/exit/{code}."
    )
    config_file: Path | None = Field(
        default=None,
        description="YAML with per-channel namespace access and per-namespace alert routing.",
    )

    # Cluster access
    cluster_name: str | None = Field(
        default=None,
        max_length=CLUSTER_NAME_MAX_CHARS,
        description="Name shown on every alert and diagnosis, for workspaces with several clusters.",
    )
    pod_namespace: str = Field(default="default", description="The bot's own namespace (Lease, ledger).")
    default_namespace: str = Field(
        default="default", description="Namespace for `/exitcode pod NAME` without a namespace."
    )
    allowed_namespaces: CommaList = Field(
        default_factory=lambda: ["*"], description="Globs of namespaces that may be queried."
    )
    log_lines: int = Field(default=20, ge=0, le=500, description="Previous-log lines shown; 0 = off.")
    kube_timeout_seconds: float = Field(default=10.0, gt=0, description="Timeout of each cluster call.")

    # Alerting
    alert_channel: str | None = Field(default=None, description="Default channel for crash alerts.")
    watch_enabled: bool = Field(default=True, description="Run the crash watcher (needs a cluster).")
    watch_namespaces: CommaList = Field(
        default_factory=list, description="Namespaces to watch; empty = all namespaces."
    )
    watch_label_selector: str | None = Field(
        default=None, description="Only pods matching this label selector are watched."
    )
    ignore_exit_codes: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Exit codes never alerted."
    )
    ignore_namespaces: CommaList = Field(default_factory=list, description="Namespace globs never alerted.")
    group_window: float = Field(
        default=1800.0, description="Repeats within this window thread under one root (30m)."
    )
    storm_threshold: int = Field(
        default=10, ge=1, description="Alerts per minute per channel above which a digest is posted."
    )
    lease_name: str = Field(default="exitcode-bot-leader", description="Leader-election Lease name.")
    lease_duration_seconds: float = Field(default=15.0, gt=0, description="Leader Lease duration.")
    ledger_configmap: str = Field(
        default="exitcode-bot-ledger", description="ConfigMap that records what was alerted."
    )

    # Operations
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO")
    log_format: Literal["json", "text"] = Field(default="text", description="Structured JSON or text logs.")

    # Termination semantics (issue 9)
    alert_on_rule_restarts: bool = Field(
        default=True,
        description="Alert on restarts a container restart rule asked for on that exit code (KEP-5307, In).",
    )

    @field_validator("allowed_namespaces", "watch_namespaces", "ignore_namespaces", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> list[str]:
        return split_list(value)

    @field_validator("ignore_exit_codes", mode="before")
    @classmethod
    def _split_codes(cls, value: object) -> list[int]:
        return [int(item) for item in split_list(value)]

    @field_validator("group_window", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("slash_command")
    @classmethod
    def _slash_command(cls, value: str) -> str:
        return check_slash_command(value)

    @field_validator("cluster_name", mode="before")
    @classmethod
    def _cluster_name(cls, value: object) -> object:
        return clean_cluster_name(value)

    # Web server (appended: the listen address; issue 8 finding 8)
    host: str = Field(
        default="0.0.0.0",
        min_length=1,
        description="Address the HTTP server listens on (0.0.0.0 = every IPv4 interface, :: = IPv6).",
    )

    # Incident lifecycle (appended: issue 9, "give every incident an end")
    recovery_seconds: float = Field(
        default=600.0,
        gt=0,
        description="An incident recovers once its container has run this long without a new crash (10m).",
    )

    @field_validator("recovery_seconds", mode="before")
    @classmethod
    def _recovery_duration(cls, value: object) -> float:
        return parse_duration(value)

    # Many clusters (issue 13; appended)
    clusters: CommaList = Field(
        default_factory=list,
        description="Kubeconfig contexts to serve (comma-separated), or * for all; empty = one cluster.",
    )

    @field_validator("clusters", mode="before")
    @classmethod
    def _split_clusters(cls, value: object) -> list[str]:
        return split_list(value)

    # Alert surfaces besides Slack (issue 12; appended). Each is on when its setting is present; more
    # targets per surface are named in CONFIG_FILE's `surfaces` (by environment variable, never the secret).
    teams_webhook_url: SecretStr | None = Field(
        default=None,
        description="Microsoft Teams Workflows webhook URL (a secret: it is signed); turns Teams on.",
    )
    pagerduty_routing_key: SecretStr | None = Field(
        default=None, description="PagerDuty Events API v2 integration (routing) key; turns PagerDuty on."
    )
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue",
        description="PagerDuty Events API v2 endpoint (tests, proxies, EU service region).",
    )
    webhook_url: SecretStr | None = Field(
        default=None, description="Generic webhook receiver URL; turns the signed webhook on."
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 key of the webhook's X-Exitcode-Signature (required with WEBHOOK_URL).",
    )

    @field_validator(
        "teams_webhook_url", "pagerduty_routing_key", "webhook_url", "webhook_secret", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        """An empty variable (a chart value left blank) means the surface is off, not a URL of ""."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def slack_enabled(self) -> bool:
        """With no bot token the same bot runs in console mode."""
        return self.slack_bot_token is not None

    @property
    def surfaces_enabled(self) -> bool:
        """A surface besides Slack is configured: without Slack tokens the bot then runs alerts-only."""
        return any(
            value is not None
            for value in (self.teams_webhook_url, self.pagerduty_routing_key, self.webhook_url)
        )

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None
