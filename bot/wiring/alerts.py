"""The crash watcher of this process: one `AlertRunner` (or one per cluster with CLUSTERS), built from
the settings and started and stopped by the mode that runs.

It owns the watch's own connection pool and the bounded stop (`ALERT_SHUTDOWN_SECONDS`), so both modes
shut it down the same way: last ledger write, Lease release, else cancelled like a killed process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from bot.access import BotConfig
from bot.application.startup import StartupError
from bot.knowledge import KnowledgeBase
from bot.settings import Settings

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from bot.alert_service import AlertService, AlertSink
    from bot.alert_service.surfaces import SurfaceSet
    from bot.alert_service.tuning import AlertTuning
    from bot.application.cluster import ClusterConnection
    from bot.application.clusters import ClusterRegistry
    from bot.metrics import AlertMetrics

log = logging.getLogger(__name__)

ALERT_SHUTDOWN_SECONDS = 5.0
"""How long the crash watcher may take to stop (its last ledger write, then the Lease release; normally
well under a second). After that it is cancelled like a killed process: the standby then takes over
when the Lease expires instead of at once."""


class AlertRunner:
    """The crash watcher of this process: `start()` once the bot is up, `stop()` at shutdown (bounded).

    It owns the watch's `ApiClient`: a watch holds its connection for minutes, so it gets a connection
    pool of its own and cannot starve the slash commands' reads, the Lease renewals or the ledger writes.
    """

    def __init__(
        self, service: AlertService, watch_client: ApiClient, surfaces: SurfaceSet | None = None
    ) -> None:
        self.service = service
        self._watch_client = watch_client
        self._surfaces = surfaces
        """Closed after the service stopped (None: someone else owns them, or there are none)."""
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the service in the background (it waits for the Lease first, unless in console mode)."""
        if self._task is None and not self._stop.is_set():
            from bot.metrics import watcher_context

            # The Slack sink and the other surfaces serve every cluster: what they count while this
            # task (or one it starts) calls them is this cluster's.
            self._task = asyncio.create_task(
                self.service.run(self._stop),
                name="crash-alerts",
                context=watcher_context(self.service.context.cluster_name),
            )
            self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stop.is_set():
            return
        error = task.exception()
        log.error("the crash watcher stopped unexpectedly; slash commands still work", exc_info=error)

    async def stop(self, grace_seconds: float = ALERT_SHUTDOWN_SECONDS) -> None:
        """Stop watching, store the ledger, release the Lease: within `grace_seconds`, else cancel it
        (as a crash: no release)."""
        self._stop.set()
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), grace_seconds)
            except TimeoutError:
                log.warning("the crash watcher did not stop within %g s; cancelled", grace_seconds)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            except Exception:  # a failure while stopping must not stop the rest of the shutdown
                log.exception("the crash watcher failed while stopping")
        self.close_client()
        if self._surfaces is not None:
            await self._surfaces.close()

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The running service (None before `start()`)."""
        return self._task

    def close_client(self) -> None:
        self._watch_client.close()  # type: ignore[no-untyped-call]


class ClusterAlertRunners:
    """CLUSTERS: one `AlertRunner` per cluster, started and stopped together but otherwise independent.

    Each campaigns for its own Lease, so a replica may lead some clusters and stand by for others, and
    a cluster that is down (its watch backing off) never holds up another's alerts. They stop
    concurrently, so shutdown takes one ALERT_SHUTDOWN_SECONDS, not one per cluster."""

    def __init__(
        self, runners: dict[str, AlertRunner], home: str, surfaces: SurfaceSet | None = None
    ) -> None:
        self.runners = runners
        self.home = home
        self._surfaces = surfaces
        """Shared by every cluster's watcher: closed once, after all of them stopped."""

    @property
    def service(self) -> AlertService:
        """The home cluster's service (the alert buttons' snooze store until buttons name a cluster)."""
        return (
            self.runners[self.home].service
            if self.home in self.runners
            else next(iter(self.runners.values())).service
        )

    def start(self) -> None:
        for runner in self.runners.values():
            runner.start()

    async def stop(self, grace_seconds: float = ALERT_SHUTDOWN_SECONDS) -> None:
        await asyncio.gather(*(runner.stop(grace_seconds) for runner in self.runners.values()))
        if self._surfaces is not None:
            await self._surfaces.close()


def build_cluster_alert_runners(
    settings: Settings,
    knowledge: KnowledgeBase,
    clusters: ClusterRegistry,
    config: BotConfig,
    *,
    sink: AlertSink | None,
    metrics: AlertMetrics | None = None,
    identity: str | None = None,
    tuning: AlertTuning | None = None,
    surfaces: SurfaceSet | None = None,
) -> ClusterAlertRunners | None:
    """One watcher per cluster that has a client: `<LEASE_NAME>-<cluster>` and
    `<LEDGER_CONFIGMAP>-<cluster>` in POD_NAMESPACE of the home cluster, alerts named by the cluster.
    None when the home cluster (where the Leases live) has no client. Raises `StartupError` for a
    WATCH_LABEL_SELECTOR that does not parse."""
    from bot.alert_service.build import (
        AlertConfigError,
        build_alert_service,
        default_identity,
        sibling_client,
    )
    from bot.application.clusters import lease_name_for, ledger_name_for

    home = clusters.home_connection.api_client
    if home is None:
        return None
    identity = identity or default_identity()
    runners: dict[str, AlertRunner] = {}
    for connection in clusters:
        name = connection.name or clusters.home
        if connection.api_client is None:
            log.warning("cluster %s is not watched: %s", name, connection.problem)
            continue
        watch_client = sibling_client(connection.api_client)
        try:
            service = build_alert_service(
                settings,
                knowledge,
                connection.api_client,
                sink=sink,
                metrics=metrics,
                surfaces=surfaces,
                reader=connection.reader,
                namespace_channels=config.namespace_channels,
                identity=identity,
                tuning=tuning,
                stream_api_client=watch_client,
                state_api_client=home,
                lease_name=lease_name_for(settings.lease_name, name),
                ledger_name=ledger_name_for(settings.ledger_configmap, name),
                cluster_name=name,
            )
        except AlertConfigError as error:
            watch_client.close()  # type: ignore[no-untyped-call]
            for runner in runners.values():
                runner.close_client()
            raise StartupError(str(error)) from None
        runners[name] = AlertRunner(service, watch_client)
    log.info(
        "crash alerts on for %d clusters: each is watched by the replica holding Lease %s/%s-<cluster>; "
        "this one is %s",
        len(runners),
        settings.pod_namespace,
        settings.lease_name,
        identity,
    )
    return ClusterAlertRunners(runners, clusters.home, surfaces) if runners else None


def watcher_wanted(settings: Settings, cluster: ClusterConnection | None) -> bool:
    """The watcher runs with a configured cluster and WATCH_ENABLED (without a cluster `open_cluster`
    has said so already)."""
    if cluster is None or cluster.api_client is None:
        return False
    if not settings.watch_enabled:
        log.info("crash alerts are off (WATCH_ENABLED=false)")
        return False
    return True


def build_alert_runner(
    settings: Settings,
    knowledge: KnowledgeBase,
    cluster: ClusterConnection | None,
    config: BotConfig,
    *,
    sink: AlertSink | None,
    metrics: AlertMetrics | None = None,
    console: bool = False,
    surfaces: SurfaceSet | None = None,
) -> AlertRunner | None:
    """The watcher for these settings, or None when it does not run (see `watcher_wanted`).

    `console=True`: no leader election and an in-memory ledger. Raises `StartupError` for a
    WATCH_LABEL_SELECTOR that does not parse.
    """
    from bot.alert_service.build import (
        AlertConfigError,
        build_alert_service,
        default_identity,
        sibling_client,
    )

    if not watcher_wanted(settings, cluster):
        return None
    assert cluster is not None and cluster.api_client is not None
    identity = default_identity()
    watch_client = sibling_client(cluster.api_client)
    try:
        service = build_alert_service(
            settings,
            knowledge,
            cluster.api_client,
            sink=sink,
            metrics=metrics,
            surfaces=surfaces,
            reader=cluster.reader,
            namespace_channels=config.namespace_channels,
            leader_election=not console,
            persistent_ledger=not console,
            identity=identity,
            stream_api_client=watch_client,
        )
    except AlertConfigError as error:
        watch_client.close()  # type: ignore[no-untyped-call]
        raise StartupError(str(error)) from None
    if not console:
        log.info(
            "crash alerts on: the replica holding Lease %s/%s watches and posts; this one is %s",
            settings.pod_namespace,
            settings.lease_name,
            identity,
        )
    return AlertRunner(service, watch_client, surfaces)
