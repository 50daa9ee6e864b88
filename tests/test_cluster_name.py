"""CLUSTER_NAME: with one bot per cluster posting into shared channels, every message says which cluster.

Alerts are posted by the running alert service (fake Kubernetes API → fake Slack Web API) and `/exitcode
pod|ns` answers come through the real Bolt app from signed requests, so these are the messages an
on-call engineer would read. The name is operator text, but it is escaped like everything else; with
the setting unset the messages are exactly as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.alerting import AlertKind, DigestRow, Workload, detect_terminations
from bot.application.cluster import connect_cluster
from bot.knowledge import KnowledgeBase
from bot.render.alert_blocks import alert_blocks, alert_fallback_text
from bot.render.alert_text import AlertView, CrashAlert, DigestAlert, RepeatAlert, alert_text
from bot.settings import Settings
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fakes.slack_api import FakeSlackApi, JsonDict, validate_blocks
from tests.fixtures.scenarios import load_scenario
from tests.test_alert_service import Harness, all_text, harness_fixture, until, web_pod  # noqa: F401
from tests.test_alerting_pods import T0, deployment_pod, exited, with_condition, with_pod_reason
from tests.test_slash_command_setting import command_bot

CLUSTER = "prod-eu"
CLUSTER_LINE = f"Cluster: *{CLUSTER}*"
HOSTILE = "<!channel> eu & <@U0BOSS>"
OOM = load_scenario("oom_killed_container_limit")


def blocks_of(message: JsonDict) -> list[JsonDict]:
    blocks = message.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def context_texts(blocks: list[JsonDict]) -> list[str]:
    return [
        element["text"] for block in blocks if block["type"] == "context" for element in block["elements"]
    ]


def crash_view(kb: KnowledgeBase, *, cluster: str | None = None) -> CrashAlert:
    termination = detect_terminations(None, exited(deployment_pod(), "app", 137, 60, reason="OOMKilled"))[0]
    return CrashAlert(termination, AlertKind.CRASH, meaning=kb.explain_code(137), cluster=cluster)


def every_view(kb: KnowledgeBase, cluster: str | None) -> list[AlertView]:
    """A root, a thread reply, an eviction root and a storm digest, all from `cluster`."""
    root = crash_view(kb, cluster=cluster)
    pod = with_condition(deployment_pod(), "DisruptionTarget", "TerminationByKubelet", 50)
    pod = with_pod_reason(pod, "Evicted", "The node was low on resource: memory.")
    evicted = detect_terminations(None, exited(pod, "app", 137, 60))[0]
    rows = (DigestRow("shop", Workload("Deployment", "api"), 137, AlertKind.CRASH, 12, T0),)
    return [
        root,
        RepeatAlert(root.termination, AlertKind.CRASH, root.meaning, cluster=cluster),
        CrashAlert(evicted, AlertKind.EVICTION, meaning=kb.explain_reason("Evicted"), cluster=cluster),
        DigestAlert("#alerts", rows, 12, T0, code_names={137: "SIGKILL"}, cluster=cluster),
    ]


# --- settings -------------------------------------------------------------------------------------------


def test_the_cluster_name_is_unset_by_default_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(_env_file=None).cluster_name is None
    monkeypatch.setenv("CLUSTER_NAME", f"  {CLUSTER} ")
    assert Settings(_env_file=None).cluster_name == CLUSTER


def test_a_blank_cluster_name_means_unset_and_a_multi_line_one_becomes_one_line() -> None:
    assert Settings(_env_file=None, cluster_name="   ").cluster_name is None
    assert Settings(_env_file=None, cluster_name="prod\n eu").cluster_name == "prod eu"


def test_a_cluster_name_too_long_to_be_a_label_is_refused() -> None:
    with pytest.raises(ValidationError, match="cluster_name"):
        Settings(_env_file=None, cluster_name="x" * 81)


# --- rendering ------------------------------------------------------------------------------------------


def test_every_kind_of_alert_names_its_cluster_under_the_header_and_in_the_notification(
    knowledge_base: KnowledgeBase,
) -> None:
    for view in every_view(knowledge_base, CLUSTER):
        blocks = alert_blocks(view)
        assert validate_blocks(blocks) == [], type(view).__name__
        assert any(CLUSTER_LINE in text for text in context_texts(blocks)), type(view).__name__
        assert alert_fallback_text(view).startswith(f"[{CLUSTER}] "), type(view).__name__
        assert CLUSTER in alert_text(view), type(view).__name__


def test_the_cluster_line_sits_right_under_the_header(knowledge_base: KnowledgeBase) -> None:
    blocks = alert_blocks(crash_view(knowledge_base, cluster=CLUSTER))

    assert blocks[0]["type"] == "header"
    assert blocks[1]["type"] == "context" and CLUSTER_LINE in blocks[1]["elements"][0]["text"]


def test_without_a_cluster_name_alerts_are_unchanged(knowledge_base: KnowledgeBase) -> None:
    for unnamed, named in zip(
        every_view(knowledge_base, None), every_view(knowledge_base, CLUSTER), strict=True
    ):
        blocks = alert_blocks(unnamed)
        assert "Cluster:" not in json.dumps(blocks)
        assert not alert_fallback_text(unnamed).startswith("[")
        assert "Cluster" not in alert_text(unnamed)
        assert len(alert_blocks(named)) == len(blocks) + 1, "the name adds exactly one line"


def test_a_hostile_cluster_name_pings_nobody(knowledge_base: KnowledgeBase) -> None:
    for view in every_view(knowledge_base, HOSTILE):
        shown = json.dumps(alert_blocks(view)) + alert_fallback_text(view)
        assert "<!channel>" not in shown and "<@U0BOSS>" not in shown
        assert "&lt;!channel&gt; eu &amp; &lt;@U0BOSS&gt;" in shown


# --- the alerts the service posts -----------------------------------------------------------------------


async def test_posted_alerts_and_their_thread_replies_name_the_cluster(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(cluster_name=CLUSTER))

    pod = harness.crash(pod, 1)
    await until("the root", lambda: len(harness.posts()) == 1 and bot.settled())
    harness.crash(pod, 1)
    await until("the repeat", lambda: len(harness.posts(thread=True)) == 1 and bot.settled())
    await until("the root's count update", lambda: bool(harness.updates()))

    root, reply = harness.posts(thread=False)[0], harness.posts(thread=True)[0]
    for message in (root, reply, harness.updates()[-1]):
        assert str(message["text"]).startswith(f"[{CLUSTER}] ")
        assert any(CLUSTER_LINE in text for text in context_texts(blocks_of(message)))


async def test_a_storm_digest_names_the_cluster(harness: Harness) -> None:
    pods = [
        harness.apply(web_pod(f"svc{index}-7d9f8c6b5-x2x9z", deployment=f"svc{index}", uid=f"uid-{index}"))
        for index in range(5)
    ]
    bot = await harness.leading(await harness.start(cluster_name=CLUSTER, storm_threshold=2))

    for pod in pods:
        harness.crash(pod, 137)

    def digest() -> JsonDict | None:
        messages = next(iter(harness.slack.messages.values()), [])
        return next((message for message in messages if "storm" in message["text"]), None)

    await until("the digest", lambda: digest() is not None and bot.settled())
    message = digest()
    assert message is not None
    assert str(message["text"]).startswith(f"[{CLUSTER}] Crash storm")
    assert CLUSTER_LINE in all_text(message)


# --- /exitcode pod|ns answers ---------------------------------------------------------------------------


async def test_pod_and_ns_answers_name_the_cluster(
    fake_kube: FakeKubeApi, slack_api: FakeSlackApi, knowledge_base: KnowledgeBase, tmp_path: Path
) -> None:
    fake_kube.cluster.load_scenario(OOM.raw)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    cluster = connect_cluster(5.0, environ={"KUBECONFIG": str(kubeconfig)})
    try:
        async with command_bot(
            slack_api, knowledge_base, cluster=cluster, cluster_name=CLUSTER, slash_command="/exitcode-eu"
        ) as bot:
            _, diagnosis = await bot.ask("/exitcode-eu", f"pod {OOM.namespace}/{OOM.pod_name}")
            _, triage = await bot.ask("/exitcode-eu", f"ns {OOM.namespace}")
            _, missing = await bot.ask("/exitcode-eu", f"pod {OOM.namespace}/{OOM.pod_name[:-2]}zz")
    finally:
        cluster.close()

    for post in (diagnosis, triage, missing):
        blocks: list[dict[str, Any]] = post.body["blocks"]
        assert validate_blocks(blocks) == []
        assert str(post.body["text"]).startswith(f"[{CLUSTER}] ")
        assert any(CLUSTER_LINE in text for text in context_texts(blocks))
    header = diagnosis.body["blocks"][0]
    assert header["type"] == "header" and OOM.pod_name in header["text"]["text"]
    assert CLUSTER_LINE in diagnosis.body["blocks"][1]["elements"][0]["text"]
    suggestion = json.dumps(missing.body["blocks"])
    assert f"/exitcode-eu pod {OOM.namespace}/{OOM.pod_name}" in suggestion, "suggests this bot's command"
