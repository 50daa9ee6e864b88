"""The incident lifecycle over the wire: fake Kubernetes API → alert service → fake Slack Web API.

Every alert root is an incident that ends: the root is edited in place (state, since when, how many crashes,
how long it burned) and one reply in its thread says it recovered and why — the container ran
RECOVERY_SECONDS without a crash, a rollout replaced its revision, its pod was deleted, its workload was
scaled to zero or deleted (its ReplicaSet or Job, read through the reader, says which), or its Job
completed. Restarts and failovers of the bot neither lose a recovery nor announce it twice. A crash
after the recovery re-opens the incident within GROUP_WINDOW, else starts a new one.

RECOVERY_SECONDS is short here (1 s): the crash helper writes crashes a few minutes in the past, so a
container restarted after its crash has run long enough as soon as the bot sees it running. A bot that
must not recover (yet) gets an hour.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bot.access import NamespaceAccess
from bot.alerting import LedgerState
from bot.application.diagnose import DiagnoseService
from bot.application.replies import SlackDiagnoseReplies
from bot.kube.reader import KubeClusterReader
from bot.render.answer_text import thread_link
from tests.conftest import HttpBot, MakeHttpBot
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fakes.slack_api import JsonDict, ServerError
from tests.test_alert_service import (
    CHANNEL,
    Bot,
    Harness,
    Pod,
    all_text,
    harness_fixture,  # noqa: F401 - the fixture
    now_offset,
    until,
    web_pod,
)
from tests.test_alerting_pods import backoff, deployment_pod, exited, job_pod, make_pod, restarted, ts

NEVER = 3600.0
"""RECOVERY_SECONDS of a bot that must not see a recovery during the test."""


def recoveries(harness: Harness) -> list[JsonDict]:
    return [post for post in harness.posts(thread=True) if "Recovered" in all_text(post)]


def root_ts(harness: Harness) -> str:
    [root] = harness.posts(thread=False)
    return str(root["ts"]) if "ts" in root else str(harness.posts(thread=True)[0]["thread_ts"])


def last_root_edit(harness: Harness) -> str:
    updates = harness.updates()
    assert updates, "the root was never edited"
    return all_text(updates[-1])


def open_incidents(state: LedgerState) -> int:
    return sum(1 for incident in state.incidents.values() if incident.open)


async def crash_once(harness: Harness, bot: Bot, pod: Pod) -> Pod:
    pod = harness.crash(pod, 1)
    await until("the root", lambda: len(harness.posts(thread=False)) == 1 and bot.settled())
    return pod


async def test_a_container_that_runs_clean_recovers_its_incident_once(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(recovery_seconds=1))

    harness.crash(pod, 1)

    await until("the recovery reply", lambda: len(recoveries(harness)) == 1 and bot.settled())
    await asyncio.sleep(0.5)  # anything planned twice would be sent by now (ticks run every 0.1 s)
    assert len(recoveries(harness)) == 1
    [root] = harness.posts(thread=False)
    [reply] = recoveries(harness)
    assert reply["thread_ts"] == harness.updates()[-1]["ts"]
    assert "it has run 1 s without a crash" in all_text(reply)
    edited = last_root_edit(harness)
    assert "Recovered" in edited and "1 crash" in edited and "burned" in edited
    assert "crashed: exit 1" in edited  # the edit keeps the crash the root was posted for
    assert root["channel"] == CHANNEL
    assert bot.gauge("exitcode_bot_incidents_open") == 0
    duration = bot.metrics.incident_duration.labels(reason="ran_clean")
    assert duration._sum.get() >= 0 and _count(duration) == 1
    assert open_incidents(harness.ledger()) == 0


async def test_a_crash_loop_stays_firing_and_its_root_says_so(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))

    pod = await crash_once(harness, bot, pod)
    assert "Firing since" in all_text(harness.posts(thread=False)[0])  # the state line from the start
    harness.crash(pod, 1)

    await until("the repeat", lambda: len(harness.posts(thread=True)) == 1 and bot.settled())
    edited = last_root_edit(harness)
    assert "Firing since" in edited and "2 crashes" in edited
    assert recoveries(harness) == []
    assert bot.gauge("exitcode_bot_incidents_open") == 1


async def test_a_restart_before_the_recovery_neither_loses_nor_repeats_it(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    first = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, first, pod)
    await first.shutdown()

    second = await harness.leading(await harness.start(recovery_seconds=1))
    await until("the recovery", lambda: len(recoveries(harness)) == 1 and second.settled())
    await until("the ledger to hold it", lambda: open_incidents(harness.ledger()) == 0)
    await second.shutdown()

    third = await harness.leading(await harness.start(recovery_seconds=1))
    await until(
        "the third bot to tick", lambda: third.settled() and third.gauge("exitcode_bot_incidents_open") == 0
    )
    await asyncio.sleep(0.5)
    assert len(recoveries(harness)) == 1
    assert len(harness.posts(thread=False)) == 1


async def test_a_recovery_planned_by_a_killed_bot_is_posted_once_by_the_next(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    first = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, first, pod)
    await first.shutdown()

    harness.slack.fail("chat.postMessage", ServerError(503), times=1000)
    second = await harness.leading(await harness.start(recovery_seconds=1))
    await until(
        "the recovery to wait in the ledger's outbox",
        lambda: any(record.get("type") == "recovery" for record in harness.ledger().outbox.values()),
    )
    await second.kill()  # kill -9 while Slack refuses the reply

    harness.slack._faults.clear()
    third = await harness.leading(await harness.start(recovery_seconds=1))
    await until("the recovery", lambda: len(recoveries(harness)) == 1 and third.settled())
    await asyncio.sleep(0.5)
    assert len(recoveries(harness)) == 1
    assert "Recovered" in last_root_edit(harness)


async def test_the_standby_that_takes_over_announces_the_recovery_once(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    a = await harness.start("bot-a", recovery_seconds=NEVER)
    await until("a leader", lambda: a.service.leading)
    b = await harness.start("bot-b", recovery_seconds=1)
    await harness.leading(a)
    await crash_once(harness, a, pod)
    await until("the ledger to hold the root", lambda: not harness.ledger().outbox)

    await a.kill()  # no Lease release: b takes over when it expires
    await until("the recovery", lambda: len(recoveries(harness)) == 1 and b.settled(), timeout=20)
    await asyncio.sleep(0.5)
    assert len(recoveries(harness)) == 1
    assert b.gauge("exitcode_bot_leader") == 1


async def test_a_pod_that_starts_running_with_no_new_record_still_counts_for_its_incident(
    harness: Harness,
) -> None:
    """The watcher skips, undecoded, an event whose container records did not change (a readiness flip,
    a container that starts for the first time), except for a pod whose workload has an incident: there
    the running state decides the recovery. Here a second pod of the crashing Deployment is created
    while the incident burns; it holds the recovery back until it runs, and its start changes no
    record (without it, the incident would burn forever)."""
    crashing = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(recovery_seconds=1))
    harness.clock += 3
    crashing = harness.apply(exited(crashing, "app", 1, harness.clock))
    crashing = harness.apply(backoff(crashing, "app"))
    await until("the root", lambda: len(harness.posts(thread=False)) == 1 and bot.settled())

    starting = web_pod("api-7d9f8c6b5-b2b2b", uid="uid-starting")
    [status] = starting["status"]["containerStatuses"]
    status.update(ready=False, started=False, state={"waiting": {"reason": "ContainerCreating"}})
    starting = harness.apply(starting)  # seen before the crashing pod runs again: it cannot recover yet
    harness.apply(restarted(crashing, "app", harness.clock + 1))
    [status] = starting["status"]["containerStatuses"]
    status.update(ready=True, started=True, state={"running": {"startedAt": ts(harness.clock)}})
    harness.apply(starting)

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())


async def test_a_rollout_recovers_the_incident_with_the_new_revision(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, pod)

    harness.apply(deployment_pod("api-5f6b7c8d9-q8w7e", template_hash="5f6b7c8d9", uid="uid-new"))
    harness.kube.cluster.delete("Pod", "shop", pod["metadata"]["name"])

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    [reply] = recoveries(harness)
    assert "replaced by revision 5f6b7c8d9" in all_text(reply)
    assert "replaced by revision 5f6b7c8d9" in last_root_edit(harness)


async def test_a_deleted_pod_ends_its_incident(harness: Harness) -> None:
    bare = harness.apply(make_pod("one-off", uid="uid-one-off"))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, bare)

    harness.kube.cluster.delete("Pod", "shop", "one-off")

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    assert "the pod was deleted" in all_text(recoveries(harness)[0])


def replica_set(name: str = "api-7d9f8c6b5", *, replicas: int, namespace: str = "shop") -> Pod:
    """The ReplicaSet a Deployment's pods name as their owner, as the apiserver returns it."""
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-rs-{name}"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "api"}}},
        "status": {"replicas": 0},
    }


def job(name: str = "migrate", *, conditions: list[JsonDict] | None = None, namespace: str = "shop") -> Pod:
    """A Job as the apiserver returns it (active unless `conditions` say it finished)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-job-{name}"},
        "spec": {"backoffLimit": 6, "template": {"spec": {"restartPolicy": "Never"}}},
        "status": {"conditions": conditions or []},
    }


async def test_a_workload_scaled_to_zero_ends_its_incident_and_says_so(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    harness.kube.cluster.apply(replica_set(replicas=1))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, pod)

    harness.kube.cluster.apply(replica_set(replicas=0))  # kubectl scale deployment/api --replicas=0
    harness.kube.cluster.delete("Pod", "shop", pod["metadata"]["name"])

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    assert "its workload was scaled to zero" in all_text(recoveries(harness)[0])
    assert "its workload was scaled to zero" in last_root_edit(harness)
    assert "deleted" not in all_text(recoveries(harness)[0])
    assert _count(bot.metrics.incident_duration.labels(reason="scaled_to_zero")) == 1


async def test_a_deleted_workload_ends_its_incident_and_says_so(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, pod)

    harness.kube.cluster.delete("Pod", "shop", pod["metadata"]["name"])  # its ReplicaSet is gone: 404

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    assert "its workload was deleted" in all_text(recoveries(harness)[0])
    assert "scaled" not in all_text(recoveries(harness)[0])


async def test_an_unreadable_owner_still_ends_the_incident_with_both_causes(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    harness.kube.cluster.apply(replica_set(replicas=0))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, pod)
    harness.kube.faults.fail("get", "replicasets", 503)  # the apiserver cannot answer for the owner

    harness.kube.cluster.delete("Pod", "shop", pod["metadata"]["name"])

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    assert "scaled to zero, or the workload deleted" in all_text(recoveries(harness)[0])


async def test_an_owner_read_that_hangs_is_cut_by_the_timeout_and_the_recovery_still_comes(
    harness: Harness,
) -> None:
    pod = harness.apply(web_pod())
    other = harness.apply(web_pod("api-7d9f8c6b5-other", namespace="payments", uid="uid-other"))
    harness.kube.cluster.apply(replica_set(replicas=0))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER, kube_timeout_seconds=1.0))
    await crash_once(harness, bot, pod)
    harness.kube.faults.delay(30.0, verb="get", resource="replicasets")  # the apiserver stops answering

    harness.kube.cluster.delete("Pod", "shop", pod["metadata"]["name"])
    await until("the bot to ask for the owner", lambda: harness.kube.requests.count("get", "replicasets") > 0)
    harness.crash(other, 1)  # alerting goes on meanwhile

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled(), timeout=15)
    assert "scaled to zero, or the workload deleted" in all_text(recoveries(harness)[0])
    await until("the other crash's root", lambda: len(harness.posts(thread=False)) == 2 and bot.settled())
    await asyncio.sleep(0.5)
    assert len(recoveries(harness)) == 1  # the other incident, whose pod runs, stays open
    assert "shop" in json.dumps(recoveries(harness)[0]) and open_incidents(harness.ledger()) == 1


async def test_pods_recreated_by_a_replica_set_that_still_wants_them_do_not_end_the_incident(
    harness: Harness,
) -> None:
    pod = harness.apply(web_pod())
    harness.kube.cluster.apply(replica_set(replicas=1))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, pod)

    harness.kube.cluster.delete("Pod", "shop", pod["metadata"]["name"])  # kubectl delete pod: it comes back
    reads = harness.kube.requests.count("get", "replicasets")
    await until(
        "the bot to read the owner", lambda: harness.kube.requests.count("get", "replicasets") > reads
    )
    replacement = harness.apply(web_pod("api-7d9f8c6b5-r4n2m", uid="uid-replacement"))
    harness.crash(replacement, 1)

    await until("the repeat", lambda: len(harness.posts(thread=True)) == 1 and bot.settled())
    assert recoveries(harness) == []
    assert "Firing since" in last_root_edit(harness) and "2 crashes" in last_root_edit(harness)


async def test_a_job_that_succeeds_after_a_crash_recovers_without_waiting_for_deletion(
    harness: Harness,
) -> None:
    harness.kube.cluster.apply(job())
    first = harness.apply(job_pod("migrate-x7k2p", namespace="shop"))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    harness.clock += 3
    harness.apply(finished(first, "main", 1, harness.clock, phase="Failed"))  # backoffLimit: retry
    await until("the root", lambda: len(harness.posts(thread=False)) == 1 and bot.settled())
    reads = harness.kube.requests.count("get", "jobs")
    await until("the bot to read the Job", lambda: harness.kube.requests.count("get", "jobs") > reads)
    assert recoveries(harness) == []  # between the failure and the retry the Job is still active

    retry = harness.apply(job_pod("migrate-b9v3c", namespace="shop"))
    harness.apply(finished(retry, "main", 0, harness.clock + 60, phase="Succeeded"))

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    await asyncio.sleep(0.5)
    assert len(recoveries(harness)) == 1
    assert "the Job completed" in all_text(recoveries(harness)[0])
    assert "the Job completed" in last_root_edit(harness)
    assert harness.kube.cluster.get("Pod", "shop", "migrate-b9v3c")  # nobody deleted it


async def test_a_completed_job_whose_pods_were_cleaned_up_recovered_because_it_completed(
    harness: Harness,
) -> None:
    harness.kube.cluster.apply(job())
    pod = harness.apply(job_pod("migrate-x7k2p", namespace="shop", restart_policy="OnFailure"))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    harness.crash(pod, 1, container="main")
    await until("the root", lambda: len(harness.posts(thread=False)) == 1 and bot.settled())

    harness.kube.cluster.apply(job(conditions=[{"type": "Complete", "status": "True"}]))
    harness.kube.cluster.delete("Pod", "shop", "migrate-x7k2p")  # ttlSecondsAfterFinished: 0

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    assert "the Job completed" in all_text(recoveries(harness)[0])


async def test_a_crash_after_the_recovery_reopens_the_incident_in_its_thread(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(recovery_seconds=1))
    pod = harness.crash(pod, 1)
    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    thread = recoveries(harness)[0]["thread_ts"]

    await harness_restart_container_later(harness, pod)

    await until("the reopening reply", lambda: len(harness.posts(thread=True)) >= 2 and bot.settled())
    assert len(harness.posts(thread=False)) == 1
    assert {post["thread_ts"] for post in harness.posts(thread=True)} == {thread}


async def test_a_crash_long_after_the_recovery_starts_a_new_incident(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    bot = await harness.leading(await harness.start(recovery_seconds=1, group_window=2))
    pod = harness.crash(pod, 1)
    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    recovered_at = time.time()
    await until("GROUP_WINDOW to pass after the recovery", lambda: time.time() > recovered_at + 2.5)

    await harness_restart_container_later(harness, pod)

    await until("a new root", lambda: len(harness.posts(thread=False)) == 2 and bot.settled())


async def harness_restart_container_later(harness: Harness, pod: Pod) -> Pod:
    """A crash newer than the recovery (the helper's clock is in the past: move it to now)."""
    harness.clock = now_offset(-3)
    return harness.crash(pod, 1)


def finished(pod: Pod, container: str, code: int, at: float, *, phase: str) -> Pod:
    """The pod's only container ended with `code` and the kubelet will not restart it: the pod is done."""
    done = exited(pod, container, code, at)
    done["status"]["phase"] = phase
    return done


def _count(histogram: Any) -> float:
    samples = [sample for metric in histogram.collect() for sample in metric.samples]
    return float(sum(sample.value for sample in samples if sample.name.endswith("_count")))


# --- listing open incidents --------------------------------------------------------------------------------


async def ask(http: HttpBot, text: str, channel_id: str, channel_name: str) -> JsonDict:
    """Send `/exitcode TEXT` from a channel; the answer posted to its response_url."""
    url = http.api.response_url()
    await http.command_json(text, response_url=url, channel_id=channel_id, channel_name=channel_name)
    await http.api.wait_until(lambda: any(post.url == url for post in http.api.response_posts))
    post = next(post for post in http.api.response_posts if post.url == url)
    assert post.status == 200, f"Slack would reject this message: {post.body}"
    body: JsonDict = post.body
    return body


async def test_a_standby_lists_open_incidents_with_links_to_their_threads_per_channel_access(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    shop = harness.apply(web_pod())
    payments = harness.apply(web_pod(namespace="payments", uid="uid-payments"))
    leader = await harness.start("bot-a", recovery_seconds=NEVER)
    await until("a leader", lambda: leader.service.leading)
    standby = await harness.start("bot-b", recovery_seconds=NEVER)
    await harness.leading(leader)
    harness.crash(shop, 1)
    harness.crash(payments, 137, reason="OOMKilled")
    await until("both roots", lambda: len(harness.posts(thread=False)) == 2 and leader.settled())
    await until("the ledger to hold both threads", lambda: _threads_stored(harness.ledger()) == 2)
    assert not standby.service.leading

    access = NamespaceAccess(channel_namespaces={"C0SHOP": ("shop",), "C0OPS": ("*",)})
    service = DiagnoseService(
        harness.knowledge,
        KubeClusterReader(standby.client, 5.0),
        access=access,
        incidents=standby.service.open_incidents,
    )
    http = await make_http_bot(
        diagnose=SlackDiagnoseReplies(service, slash_command="/exitcode", cluster_name=None)
    )

    everything = json.dumps(await ask(http, "incidents", "C0OPS", "ops"))
    shop_only = json.dumps(await ask(http, "incidents", "C0SHOP", "shop-oncall"))
    triage = json.dumps(await ask(http, "ns shop", "C0SHOP", "shop-oncall"))
    elsewhere = json.dumps(await ask(http, "incidents", "C0RANDOM", "random"))

    links = _thread_links(harness)
    assert "Deployment/api / app: exit 1, firing" in everything and "exit 137" in everything
    assert all(link in everything for link in links)
    assert "exit 1, firing" in shop_only and "exit 137" not in shop_only  # the channel may not see payments
    assert "Open incidents in shop" in triage and "exit 137" not in triage
    assert sum(link in shop_only for link in links) == 1
    assert "none" in elsewhere and "exit 1" not in elsewhere  # a channel the config does not list


def _threads_stored(state: LedgerState) -> int:
    return sum(1 for group in state.groups.values() if group.root_ts)


def _thread_links(harness: Harness) -> list[str]:
    state = harness.ledger()
    refs = [group.root_ts for group in state.groups.values() if group.root_ts]
    links = [thread_link(ref) for ref in refs]
    assert all(links), refs
    return [link for link in links if link]
