"""The alert metrics say which cluster they are about: every series carries `cluster`.

One bot watching several clusters shares one registry; its leader gauge used to be overwritten by
whichever cluster's watcher wrote last, and its counts added every cluster up. The scenarios run the
production `build_cluster_alert_runners` against the fake API servers of `test_alert_clusters`
(`prod-eu` home, `prod-us`, `gone` down) and read the registry as `/metrics` shows it.
"""

from __future__ import annotations

from collections import defaultdict

from prometheus_client import CollectorRegistry

from bot.access import BotConfig
from bot.application.clusters import connect_clusters
from bot.metrics import AlertMetrics, watcher_context
from bot.wiring import build_cluster_alert_runners
from bot.wiring.surfaces import build_surfaces
from tests.fakes import webhook_receiver
from tests.fakes.slack_api import ServerError
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.test_alert_clusters import Clusters, clusters_fixture, leading, watching
from tests.test_alert_service import FAST, until

__all__ = ["clusters_fixture"]  # the fixture `clusters`, shared with test_alert_clusters

CLUSTERS = ("prod-eu", "prod-us", "gone")


def leader(registry: CollectorRegistry, cluster: str) -> float | None:
    return registry.get_sample_value("exitcode_bot_leader", {"cluster": cluster})


def by_cluster(registry: CollectorRegistry, family: str) -> dict[str, float]:
    """A counter family summed per cluster (every other label added up), as a dashboard's
    `sum by (cluster)` shows it; clusters with no count are absent."""
    totals: dict[str, float] = defaultdict(float)
    for metric in registry.collect():
        if metric.name != family:
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.value:
                totals[sample.labels["cluster"]] += sample.value
    return dict(totals)


async def test_each_replica_says_which_clusters_it_leads_at_the_same_time(clusters: Clusters) -> None:
    a_registry, b_registry = CollectorRegistry(), CollectorRegistry()
    a = clusters.start("bot-a", metrics=AlertMetrics(a_registry))
    await until("bot-a leads every cluster", lambda: all(leading(a, name) for name in CLUSTERS))
    b = clusters.start("bot-b", metrics=AlertMetrics(b_registry))
    await until("bot-a watches", lambda: watching(a, "prod-eu") and watching(a, "prod-us"))
    await until("bot-b stands by for every cluster", lambda: leader(b_registry, "gone") == 0)
    assert {name: leader(b_registry, name) for name in CLUSTERS} == dict.fromkeys(CLUSTERS, 0.0)

    task = a.runners["prod-us"].task
    assert task is not None
    task.cancel()  # bot-a's prod-us watcher dies; bot-b takes prod-us over when its Lease expires
    await until("bot-b takes prod-us over", lambda: watching(b, "prod-us"), timeout=15)

    assert {name: leader(a_registry, name) for name in CLUSTERS} == {"prod-eu": 1, "prod-us": 0, "gone": 1}
    assert {name: leader(b_registry, name) for name in CLUSTERS} == {"prod-eu": 0, "prod-us": 1, "gone": 0}
    # "no replica leads cluster X" is `sum by (cluster) (exitcode_bot_leader) == 0` over the replicas:
    for name in CLUSTERS:
        assert (leader(a_registry, name) or 0) + (leader(b_registry, name) or 0) == 1, name
    assert a_registry.get_sample_value("exitcode_bot_leader") is None  # no series without a cluster


async def test_a_crash_counts_only_for_its_cluster_and_so_do_slack_errors(clusters: Clusters) -> None:
    registry = CollectorRegistry()
    replica = clusters.start("bot-a", metrics=AlertMetrics(registry))
    await until(
        "both clusters watched", lambda: watching(replica, "prod-eu") and watching(replica, "prod-us")
    )

    clusters.crash("prod-us", "api-us-1", 137)
    await until(
        "prod-us's alert sent",
        lambda: by_cluster(registry, "exitcode_bot_alert_messages") == {"prod-us": 1},
        timeout=10,
    )
    assert by_cluster(registry, "exitcode_bot_terminations") == {"prod-us": 1}
    assert by_cluster(registry, "exitcode_bot_alerts") == {"prod-us": 1}
    assert registry.get_sample_value(
        "exitcode_bot_alerts_total", {"cluster": "prod-us", "disposition": "root"}
    )
    assert (
        registry.get_sample_value("exitcode_bot_alerts_total", {"cluster": "prod-eu", "disposition": "root"})
        is None
    )
    assert by_cluster(registry, "exitcode_bot_watch_events").keys() == {"prod-us"}  # prod-eu: no pod yet

    # The Slack sink is one for every cluster (it paces each channel for all of them); a failed post
    # still counts for the cluster whose alert it was.
    clusters.slack.fail("chat.postMessage", ServerError(500), times=1)
    clusters.crash("prod-eu", "api-eu-1", 1)
    await until(
        "prod-eu's alert sent after the retry",
        lambda: by_cluster(registry, "exitcode_bot_alert_messages") == {"prod-us": 1, "prod-eu": 1},
        timeout=10,
    )
    assert by_cluster(registry, "exitcode_bot_slack_errors") == {"prod-eu": 1}
    assert by_cluster(registry, "exitcode_bot_alerts") == {"prod-us": 1, "prod-eu": 1}
    assert by_cluster(registry, "exitcode_bot_terminations") == {"prod-us": 1, "prod-eu": 1}
    assert by_cluster(registry, "exitcode_bot_watch_events").keys() == {"prod-eu", "prod-us"}  # gone: none
    await until(
        "each cluster's ledger written",
        lambda: by_cluster(registry, "exitcode_bot_ledger_writes").keys() >= {"prod-eu", "prod-us"},
    )


async def test_a_surface_every_cluster_shares_counts_each_delivery_for_its_cluster(
    clusters: Clusters,
) -> None:
    """Alerts-only: one signed webhook for both clusters; what it accepts and what fails, per cluster."""
    secret = "whsec-metrics-clusters-test-only"
    receiver = await WebhookReceiver(secret).start()
    registry = CollectorRegistry()
    metrics = AlertMetrics(registry)
    settings = clusters.harness.settings(
        clusters=["*"], slack_bot_token=None, webhook_url=receiver.url, webhook_secret=secret
    )
    surfaces = build_surfaces(settings, BotConfig(), metrics=metrics)
    connected = connect_clusters(
        ["*"], cluster_name=None, timeout_seconds=3.0, environ={"KUBECONFIG": str(clusters.kubeconfig)}
    )
    clusters.registries.append(connected)
    replica = build_cluster_alert_runners(
        settings,
        clusters.knowledge,
        connected,
        BotConfig(),
        sink=None,
        metrics=metrics,
        identity="bot-a",
        tuning=FAST,
        surfaces=surfaces,
    )
    assert replica is not None
    replica.start()
    clusters.replicas.append(replica)
    try:
        await until(
            "both clusters watched", lambda: watching(replica, "prod-eu") and watching(replica, "prod-us")
        )
        receiver.fail(webhook_receiver.ServerError(503))  # the first delivery fails once, then goes through
        clusters.crash("prod-us", "api-us-1", 137)
        await receiver.wait_for(lambda seen: len(seen.events) == 1)
        await until(
            "prod-us's delivery counted",
            lambda: by_cluster(registry, "exitcode_bot_surface_messages") == {"prod-us": 1},
        )
        assert by_cluster(registry, "exitcode_bot_surface_errors") == {"prod-us": 1}

        clusters.crash("prod-eu", "api-eu-1", 1)
        await receiver.wait_for(lambda seen: len(seen.events) == 2)
        await until(
            "prod-eu's delivery counted",
            lambda: by_cluster(registry, "exitcode_bot_surface_messages") == {"prod-us": 1, "prod-eu": 1},
        )
        assert by_cluster(registry, "exitcode_bot_surface_errors") == {"prod-us": 1}
        assert by_cluster(registry, "exitcode_bot_alerts") == {"prod-us": 1, "prod-eu": 1}
    finally:
        await receiver.close()


def test_each_cluster_gets_one_view_whose_gauges_are_its_own() -> None:
    registry = CollectorRegistry()
    metrics = AlertMetrics(registry)
    eu, us = metrics.for_cluster("prod-eu"), metrics.for_cluster("prod-us")
    assert metrics.for_cluster("prod-eu") is eu and eu.for_cluster("prod-us") is us
    # A cluster's gauges exist from its view on: a standby says it does not lead.
    assert leader(registry, "prod-eu") == 0 and leader(registry, "prod-us") == 0

    eu.leader.set(1)
    us.outbox.set(3)
    assert leader(registry, "prod-eu") == 1 and leader(registry, "prod-us") == 0
    assert registry.get_sample_value("exitcode_bot_alert_outbox", {"cluster": "prod-us"}) == 3
    assert registry.get_sample_value("exitcode_bot_alert_outbox", {"cluster": "prod-eu"}) == 0

    for _ in range(2):
        eu.watch_event("MODIFIED")
    us.watch_event("MODIFIED")
    assert by_cluster(registry, "exitcode_bot_watch_events") == {"prod-eu": 2, "prod-us": 1}

    # What the shared adapters count (through the registry's own object) is the running watcher's.
    watcher_context("prod-us").run(metrics.slack_error, "ratelimited")
    watcher_context("prod-eu").run(metrics.surface_error, "teams", "timeout")
    assert by_cluster(registry, "exitcode_bot_slack_errors") == {"prod-us": 1}
    assert by_cluster(registry, "exitcode_bot_surface_errors") == {"prod-eu": 1}


def test_a_one_cluster_bot_without_a_name_has_an_empty_cluster_label() -> None:
    registry = CollectorRegistry()
    metrics = AlertMetrics(registry)
    metrics.for_cluster(None).leader.set(1)
    metrics.slack_error("timeout")  # outside any watcher: the same empty label
    assert registry.get_sample_value("exitcode_bot_leader", {"cluster": ""}) == 1
    assert (
        registry.get_sample_value("exitcode_bot_slack_errors_total", {"cluster": "", "kind": "timeout"}) == 1
    )
