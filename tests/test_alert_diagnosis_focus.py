"""An alert's diagnosis is the diagnosis of the container that crashed, always (issue 8, finding 5).

The torture run found 18 of 1,037 roots whose header said `side crashed: exit 139` while the diagnosis
block (and its `kubectl logs -c app --previous`) was the `app` container's: the diagnosis engine explains
the pod by the container that failed *most recently*, and a pod whose two containers both crashed showed
the other one. These tests put such a pod through the composer and through the whole service.
"""

from __future__ import annotations

import asyncio
import time

from bot.alert_service import AlertComposer
from bot.alerting import AlertKind, detect_terminations
from bot.knowledge import KnowledgeBase
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.test_alert_service import Harness, all_text, harness_fixture, header_text, until, web_pod  # noqa: F401
from tests.test_alerting_pods import backoff, deployment_pod, exited


def two_crashes(side_at: float, app_at: float) -> dict[str, object]:
    """`side` exited 139 at `side_at`, `app` exited 1 at `app_at` (later): both in back-off."""
    pod = deployment_pod(containers=("app", "side"))
    pod = backoff(exited(pod, "side", 139, side_at), "side")
    return backoff(exited(pod, "app", 1, app_at, message="app: config missing"), "app")


async def test_the_composer_diagnoses_the_crashed_container_not_the_latest_one(
    knowledge_base: KnowledgeBase,
) -> None:
    pod = two_crashes(60, 90)
    side = next(t for t in detect_terminations(None, pod) if t.container == "side")
    composer = AlertComposer(knowledge_base, None, log_lines=5, evidence_timeout=1.0, clock=time.time)
    composer.remember_pod(side, pod)

    view = await composer.root(side, AlertKind.CRASH)

    assert view.diagnosis is not None
    assert view.diagnosis.verdict.container == "side"
    assert {report.name for report in view.diagnosis.containers} == {"app", "side"}  # the whole pod still


async def test_a_multi_container_pod_alert_carries_the_crashed_containers_diagnosis(harness: Harness) -> None:
    pod = harness.apply(web_pod(containers=("app", "side")))
    for container, text in (("app", "app: config missing"), ("side", "side: segfault in proxy")):
        harness.kube.cluster.set_log("shop", pod["metadata"]["name"], container, text)
    bot = await harness.leading(await harness.start())
    harness.clock += 3
    side_at, app_at = harness.clock, harness.clock + 1
    both = exited(exited(pod, "side", 139, side_at), "app", 1, app_at, message="app: config missing")
    harness.apply(both)  # one watch event shows both deaths, app's a second later than side's

    await until("two alerts", lambda: len(harness.posts()) == 2 and bot.settled())
    await asyncio.sleep(0.1)
    side_alert = next(post for post in harness.posts() if "side crashed" in header_text(post))
    text = all_text(side_alert)
    assert "side: segfault in proxy" in text  # the crashed container's log tail
    assert "app: config missing" not in text  # nothing of the other container's death
    assert "`app`" not in text
