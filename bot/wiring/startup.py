"""`run_bot`: from settings to exit code. Checks what an operator must fix (transport, CONFIG_FILE,
CLUSTERS), opens the cluster(s) once, runs console or Slack mode, and closes the clusters after.

Errors an operator must fix print one line and exit 2; anything unexpected is logged and exits 1.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING

from bot.access import BotConfig, ConfigFileError, load_bot_config
from bot.application.startup import EXIT_FAILURE, EXIT_USAGE, StartupError, load_knowledge_base
from bot.logs import configure_logging
from bot.settings import Settings
from bot.wiring.alerts_only import run_alerts_only
from bot.wiring.console import run_console_mode
from bot.wiring.slack_mode import run_slack_mode
from bot.wiring.surfaces import surface_secrets, surface_targets

if TYPE_CHECKING:
    from bot.application.cluster import ClusterConnection
    from bot.application.clusters import ClusterRegistry

log = logging.getLogger(__name__)


def run_bot(settings: Settings) -> int:
    """Run until stopped; returns the process exit code. Errors an operator must fix print one line."""
    configure_logging(settings.log_level, settings.log_format, secrets=secret_values(settings))
    try:
        check_transport(settings)
        knowledge = load_knowledge_base(settings)
        config = load_config_file(settings)
        targets = surface_targets(settings, config)
        if targets:  # the surfaces' URLs and keys are redacted from every log line too
            secrets = secret_values(settings) + surface_secrets(targets)
            configure_logging(settings.log_level, settings.log_format, secrets=secrets)
        clusters = open_clusters(settings)
        cluster = clusters.home_connection if clusters is not None else open_cluster(settings)
        try:
            mode = (
                run_slack_mode if settings.slack_enabled else run_alerts_only if targets else run_console_mode
            )
            return asyncio.run(mode(settings, knowledge, cluster=cluster, config=config, clusters=clusters))
        finally:
            if clusters is not None:
                clusters.close()
            cluster.close()
    except StartupError as error:
        sys.stderr.write(f"exitcode-bot: {error}\n")
        return EXIT_USAGE
    except Exception:
        log.exception("exitcode-bot stopped after an unexpected error")
        return EXIT_FAILURE


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret, so the log formatter can redact it wherever it appears."""
    secrets = (
        settings.slack_bot_token,
        settings.slack_app_token,
        settings.slack_signing_secret,
        settings.teams_webhook_url,
        settings.pagerduty_routing_key,
        settings.webhook_url,
        settings.webhook_secret,
    )
    return [secret.get_secret_value() for secret in secrets if secret is not None]


def check_transport(settings: Settings) -> None:
    """HTTP mode cannot verify Slack's requests without the signing secret: refuse to start."""
    if settings.slack_enabled and not settings.socket_mode and settings.slack_signing_secret is None:
        raise StartupError(
            "SLACK_SIGNING_SECRET is required in HTTP mode (SLACK_BOT_TOKEN set, no SLACK_APP_TOKEN): "
            "copy it from the Slack app's Basic Information page, or set SLACK_APP_TOKEN to use Socket Mode"
        )


def load_config_file(settings: Settings) -> BotConfig:
    """`CONFIG_FILE` (channel access, alert routing); a broken file is a `StartupError` naming it."""
    try:
        return load_bot_config(settings.config_file)
    except ConfigFileError as error:
        raise StartupError(str(error)) from None


def open_cluster(settings: Settings) -> ClusterConnection:
    """The Kubernetes client, built once; without a cluster the bot runs on and says so when asked."""
    from bot.application.cluster import connect_cluster

    cluster = connect_cluster(settings.kube_timeout_seconds)
    if cluster.api_client is not None:
        log.info("reading the Kubernetes cluster at %s", cluster.api_client.configuration.host)
    else:
        alerts = ", and no crash alerts are watched" if settings.watch_enabled else ""
        log.warning(
            "no Kubernetes cluster: %s pod and ns will say so%s. %s",
            settings.slash_command,
            alerts,
            cluster.problem,
        )
    return cluster


def open_clusters(settings: Settings) -> ClusterRegistry | None:
    """With CLUSTERS, every selected cluster's client, built once (issue 13); None without CLUSTERS.
    A CLUSTERS entry the kubeconfig lacks is a `StartupError`; a cluster that cannot be reached is not."""
    from bot.application.clusters import ClusterSelectionError, connect_clusters

    if not settings.clusters:
        return None
    try:
        clusters = connect_clusters(
            settings.clusters,
            cluster_name=settings.cluster_name,
            timeout_seconds=settings.kube_timeout_seconds,
        )
    except ClusterSelectionError as error:
        raise StartupError(str(error)) from None
    for connection in clusters:
        if connection.api_client is not None:
            log.info("cluster %s: %s", connection.name, connection.api_client.configuration.host)
        else:
            log.warning("cluster %s cannot be used: %s", connection.name, connection.problem)
    log.info("home cluster (Leases and ledgers): %s", clusters.home)
    return clusters
