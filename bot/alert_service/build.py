"""Building the alert service from the settings: the one place that maps environment settings to rules,
planner config, the watch, the Lease and the ledger ConfigMap, and that knows console mode runs with an
in-memory ledger and no Lease (a laptop must not take over the cluster's leader Lease or write its
ConfigMap)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client import ApiClient

from bot.alerting import AlertRules, PlannerConfig, SelectorError
from bot.alerting.routing import namespace_map_for_cluster
from bot.diagnosis.ports import ClusterReader
from bot.knowledge import KnowledgeBase
from bot.kube.lease import LeaseElector
from bot.kube.ledger import ConfigMapLedger
from bot.kube.namespaces import NamespaceAnnotations
from bot.kube.reader import KubeClusterReader
from bot.kube.watch import PodStream, WatchHooks, WatchSettings
from bot.metrics import AlertMetrics
from bot.settings import Settings

from .context import AlertRouting, TermContext
from .ledger_sync import LedgerStore, MemoryLedger
from .service import AlertService
from .sinks import AlertSink
from .surfaces import SurfaceSet
from .tuning import AlertTuning

__all__ = ["AlertConfigError", "build_alert_service", "default_identity", "run_alerting", "sibling_client"]


class AlertConfigError(ValueError):
    """A setting the alerting cannot work with; the message names it."""


def default_identity() -> str:
    """This process as a Lease candidate: `<hostname>_<pid>`.

    In Kubernetes the hostname is the pod name and the bot is PID 1, so a container restarted in the
    same pod is the same candidate and takes its own unexpired Lease back at once; two processes on one
    machine (development, the tests) are still two candidates, never two leaders by one name.
    """
    return f"{socket.gethostname() or 'exitcode-bot'}_{os.getpid()}"


def build_alert_service(
    settings: Settings,
    knowledge: KnowledgeBase,
    api_client: ApiClient,
    *,
    sink: AlertSink | None,
    metrics: AlertMetrics | None = None,
    surfaces: SurfaceSet | None = None,
    reader: ClusterReader | None = None,
    namespace_channels: Mapping[str, str] | None = None,
    leader_election: bool = True,
    persistent_ledger: bool = True,
    identity: str | None = None,
    tuning: AlertTuning | None = None,
    stream_api_client: ApiClient | None = None,
    clock: Callable[[], float] = time.time,
    state_api_client: ApiClient | None = None,
    lease_name: str | None = None,
    ledger_name: str | None = None,
    cluster_name: str | None = None,
) -> AlertService:
    """The alert service for these settings. Console mode: `leader_election=False,
    persistent_ledger=False` (no Lease, no ConfigMap writes from a laptop).

    With CLUSTERS (issue 13) there is one service per cluster: `api_client` reads and watches that
    cluster, while its Lease (`lease_name`) and ledger (`ledger_name`) live in the home cluster
    (`state_api_client`), and `cluster_name` names it on every alert and in the `cluster` label of
    its metrics (`metrics.for_cluster`). Defaults: LEASE_NAME, LEDGER_CONFIGMAP, CLUSTER_NAME and the
    same client, i.e. the one-cluster bot.

    `sink` is the chat sink (Slack or the console; None in an alerts-only deployment); `surfaces` the
    other alert surfaces and their routing (issue 12).

    Raises `AlertConfigError` for a malformed WATCH_LABEL_SELECTOR.
    """
    tuning = tuning or AlertTuning()
    try:
        rules = AlertRules.build(
            ignore_exit_codes=settings.ignore_exit_codes,
            ignore_namespaces=settings.ignore_namespaces,
            label_selector=settings.watch_label_selector,
            alert_on_rule_restarts=settings.alert_on_rule_restarts,
        )
    except SelectorError as error:
        raise AlertConfigError(f"WATCH_LABEL_SELECTOR is not a valid label selector: {error}") from None
    config = PlannerConfig(
        group_window_seconds=settings.group_window,
        storm_threshold=settings.storm_threshold,
        digest_update_seconds=tuning.digest_update_seconds,
        recovery_seconds=settings.recovery_seconds,
    )
    named = cluster_name if cluster_name is not None else settings.cluster_name
    if metrics is not None:  # this cluster's series: every count below is about `named`
        metrics = metrics.for_cluster(named)
    watch_client = stream_api_client or sibling_client(api_client)
    watch_settings = tuning.watch or WatchSettings(request_timeout_seconds=settings.kube_timeout_seconds)
    hooks = WatchHooks(
        on_event=metrics.watch_event if metrics is not None else WatchHooks().on_event,
        on_restart=metrics.watch_restart if metrics is not None else WatchHooks().on_restart,
    )

    def streams() -> PodStream:
        return PodStream(
            watch_client,
            namespaces=settings.watch_namespaces,
            label_selector=settings.watch_label_selector,
            hooks=hooks,
            settings=watch_settings,
        )

    def namespaces() -> NamespaceAnnotations:
        return NamespaceAnnotations(
            api_client,
            namespaces=settings.watch_namespaces,
            timeout_seconds=settings.kube_timeout_seconds,
            watch_settings=watch_settings,
        )

    state_client = state_api_client if state_api_client is not None else api_client
    ledger: LedgerStore = MemoryLedger()
    if persistent_ledger:
        ledger = ConfigMapLedger(
            state_client,
            settings.pod_namespace,
            ledger_name or settings.ledger_configmap,
            settings.kube_timeout_seconds,
            planner_config=config,
            on_write=metrics.ledger_write if metrics is not None else _ignore,
        )
    elector: LeaseElector | None = None
    if leader_election:
        elector = LeaseElector(
            state_client,
            settings.pod_namespace,
            lease_name or settings.lease_name,
            identity or default_identity(),
            lease_duration=settings.lease_duration_seconds,
            renew_interval=tuning.lease_renew_seconds,
            retry_interval=tuning.lease_retry_seconds,
            timeout_seconds=settings.kube_timeout_seconds,
            on_started_leading=(lambda: metrics.leader.set(1)) if metrics is not None else _nothing,
            on_stopped_leading=(lambda: metrics.leader.set(0)) if metrics is not None else _nothing,
        )
    context = TermContext(
        knowledge=knowledge,
        sink=sink,
        ledger=ledger,
        streams=streams,
        routing=AlertRouting(
            rules,
            _routes_of(namespace_channels, named),
            settings.alert_channel or None,
            surfaces.routing(chat=sink is not None, cluster=named) if surfaces is not None else None,
        ),
        planner_config=config,
        tuning=tuning,
        clock=clock,
        metrics=metrics,
        elector=elector,
        namespaces=namespaces,
        reader=reader if reader is not None else KubeClusterReader(api_client, settings.kube_timeout_seconds),
        log_lines=settings.log_lines,
        cluster_name=named,
        surfaces=surfaces.surfaces if surfaces is not None else {},
    )
    return AlertService(context)


async def run_alerting(
    settings: Settings,
    knowledge: KnowledgeBase,
    api_client: ApiClient,
    *,
    sink: AlertSink | None,
    stop: asyncio.Event,
    **options: Any,
) -> None:
    """Build the service (`build_alert_service` options) and run it until `stop` is set."""
    service = build_alert_service(settings, knowledge, api_client, sink=sink, **options)
    await service.run(stop)


def sibling_client(api_client: ApiClient) -> ApiClient:
    """A second client with the same configuration: the watch holds its connections for minutes and must
    not take the pool's slots from the ledger, the Lease and the diagnosis reads."""
    client = ApiClient(configuration=api_client.configuration)
    client.user_agent = api_client.user_agent
    return client


def _routes_of(namespace_channels: Mapping[str, str] | None, cluster: str | None) -> dict[str, str]:
    """The routing map of one cluster's watcher: `CLUSTER_GLOB/NAMESPACE_GLOB` keys resolved for its
    cluster (an unnamed cluster matches none of them), the one rule of `bot.alerting.routing`."""
    if cluster is None:
        return dict(namespace_channels or {})
    return namespace_map_for_cluster(namespace_channels, cluster)


def _nothing() -> None:
    return None


def _ignore(_: str) -> None:
    return None
