"""The CLUSTERS half of `SlackBot` (issue 13): per-cluster diagnose services and `clusters`, one watcher
per cluster, and alert buttons routed to their alert's cluster.

A mixin of `SlackBot`, moved here unchanged so each module stays one sitting's read; it reads and sets
the `SlackBot` attributes declared below, which `SlackBot.__init__` creates.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.access import BotConfig, NamespaceAccess
from bot.knowledge import KnowledgeBase
from bot.settings import Settings
from bot.wiring.alerts import AlertRunner, ClusterAlertRunners, build_cluster_alert_runners

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.application.cluster_commands import ClusterDiagnose
    from bot.application.clusters import ClusterRegistry
    from bot.application.diagnose import DiagnoseService
    from bot.metrics import BotMetrics
    from bot.slack import BackgroundTasks, ClustersHandler, DiagnoseHandler
    from bot.slack.app import SnoozesHandler

log = logging.getLogger(__name__)


class ClusterWiring:
    """`SlackBot`'s methods for CLUSTERS; the attributes are `SlackBot`'s own."""

    metrics: BotMetrics
    tasks: BackgroundTasks
    app: AsyncApp
    client: AsyncWebClient
    diagnose_service: DiagnoseService | None
    cluster_services: dict[str, DiagnoseService]
    cluster_diagnose: ClusterDiagnose
    alerts: AlertRunner | ClusterAlertRunners | None
    snooze_listing: SnoozesHandler | None

    def _build_cluster_commands(
        self, settings: Settings, knowledge: KnowledgeBase, clusters: ClusterRegistry, config: BotConfig
    ) -> tuple[DiagnoseHandler, ClustersHandler]:
        """CLUSTERS: one diagnose use case per cluster behind `ClusterDiagnose`, and `clusters`."""
        from bot.access import ClusterAccess
        from bot.application.cluster_commands import ClusterDiagnose, ClusterOverview, SlackClusterReplies
        from bot.application.clusters import lease_name_for
        from bot.application.diagnose import DiagnoseService
        from bot.metrics import DiagnoseMetrics

        answers = DiagnoseMetrics(self.metrics.registry)  # one set of series for every cluster's answers
        access = NamespaceAccess.from_config(settings.allowed_namespaces, config)
        self.cluster_services = {
            connection.name or clusters.home: DiagnoseService(
                knowledge,
                connection.reader,
                access=access,
                default_namespace=settings.default_namespace,
                log_lines=settings.log_lines,
                unavailable=connection.problem,
                metrics=answers,
            )
            for connection in clusters
        }
        self.diagnose_service = self.cluster_services[clusters.home]
        self.cluster_diagnose = ClusterDiagnose(
            clusters, self.cluster_services, ClusterAccess(config.channel_clusters)
        )
        leases = (
            {name: lease_name_for(settings.lease_name, name) for name in clusters.names}
            if settings.watch_enabled
            else None
        )
        overview = ClusterOverview(
            clusters,
            lease_names=leases,
            lease_namespace=settings.pod_namespace,
            timeout_seconds=settings.kube_timeout_seconds,
            slash_command=settings.slash_command,
        )
        return SlackClusterReplies(self.cluster_diagnose, slash_command=settings.slash_command), overview

    def _build_cluster_alerts(
        self, settings: Settings, knowledge: KnowledgeBase, clusters: ClusterRegistry, config: BotConfig
    ) -> ClusterAlertRunners | None:
        """CLUSTERS: one watcher per cluster, each behind its own Lease in the home cluster."""
        from bot.metrics import AlertMetrics
        from bot.slack.poster import SlackAlertSink

        if not settings.watch_enabled:
            log.info("crash alerts are off (WATCH_ENABLED=false)")
            return None
        home = clusters.home_connection.api_client
        if home is None:
            log.warning(
                "no crash alerts: the home cluster %s (Leases and ledgers) cannot be used: %s",
                clusters.home,
                clusters.home_connection.problem,
            )
            return None
        from bot.wiring.surfaces import build_surfaces

        metrics = AlertMetrics(self.metrics.registry)
        sink = SlackAlertSink(self.client, on_error=metrics.slack_error)
        runners = build_cluster_alert_runners(
            settings,
            knowledge,
            clusters,
            config,
            sink=sink,
            metrics=metrics,
            surfaces=build_surfaces(settings, config, metrics=metrics),
        )
        return runners

    def _register_cluster_alert_buttons(
        self, knowledge: KnowledgeBase, clusters: ClusterRegistry, config: BotConfig, settings: Settings
    ) -> None:
        """CLUSTERS: the alert buttons, each click routed to the handlers of its alert's cluster (its
        reader, its snooze store), after the channel's cluster check."""
        from bot.access import ClusterAccess
        from bot.application.cluster_snoozes import ClusterSnoozeListing
        from bot.slack.alert_actions import AlertActions
        from bot.slack.click_guard import RecentClicks
        from bot.slack.cluster_actions import ClusterAlertActions, register_cluster_alert_actions

        recent = RecentClicks()
        access = NamespaceAccess.from_config(settings.allowed_namespaces, config)
        runners = self.alerts.runners if isinstance(self.alerts, ClusterAlertRunners) else {}
        if self.alerts is not None:  # `/exitcode snoozes` lists every cluster's the channel may ask
            self.snooze_listing = ClusterSnoozeListing(
                {
                    name: runners[name].service.snoozes
                    if name in runners
                    else f"this replica does not watch it ({clusters.connections[name].problem})"
                    for name in clusters.names
                },
                access=access,
                clusters=ClusterAccess(config.channel_clusters),
            )
        by_cluster: dict[str, AlertActions] = {}
        for connection in clusters:
            name = connection.name or clusters.home
            service = self.cluster_services.get(name)
            runner = runners.get(name)
            by_cluster[name] = AlertActions(
                knowledge=knowledge,
                tasks=self.tasks,
                diagnose_pod=service.diagnose_pod if service is not None else None,
                logs=connection.reader,
                snoozes=runner.service.snoozes if runner is not None else None,
                owners=runner.service.snoozes if runner is not None else None,
                access=access,
                recent=recent,
                slash_command=settings.slash_command,
            )
        register_cluster_alert_actions(
            self.app,
            ClusterAlertActions(
                by_cluster, home=clusters.home, access=ClusterAccess(config.channel_clusters)
            ),
        )
