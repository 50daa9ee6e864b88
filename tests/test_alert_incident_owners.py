"""How an incident ended, said precisely, over the wire: fake Kubernetes API → alert service → fake Slack.

Once no pod of a crashing workload is left, the pod stream cannot tell "scaled to zero" from "deleted";
the owner can. Here the owners beyond the Deployment's ReplicaSet (`test_alert_incidents.py`): a
StatefulSet (scaled to zero, deleted, rolled out to another revision, or still wanting its pod back), a
DaemonSet (deleted, or on no node any more), a CronJob's run (its Job deleted or failed for good), a Job
that failed (`Ended`, not `Recovered`: nothing will retry), and a bare pod that completed. Each read is
a `get` the RBAC grants (tests/test_rbac_matches_code.py reads this module's requests as evidence), and
a restart of the bot between the end and its announcement still announces it exactly once.
"""

from __future__ import annotations

import asyncio

from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fakes.slack_api import JsonDict
from tests.test_alert_incidents import (
    NEVER,
    _count,
    crash_once,
    finished,
    job,
    last_root_edit,
    open_incidents,
    recoveries,
)
from tests.test_alert_service import (
    Harness,
    Pod,
    all_text,
    harness_fixture,  # noqa: F401 - the fixture
    now_offset,
    until,
)
from tests.test_alerting_pods import T0, job_pod, make_pod

REVISION = "db-5d8f7c9b6"
NEXT_REVISION = "db-6c9d8e7f5"


def ends(harness: Harness) -> list[JsonDict]:
    """Thread replies that end an incident: recovered, or ended (a Job that failed for good)."""
    return [
        post
        for post in harness.posts(thread=True)
        if "Recovered" in all_text(post) or "Ended" in all_text(post)
    ]


def stateful_pod(name: str = "db-0", *, revision: str = REVISION, uid: str | None = None) -> Pod:
    labels = {"app": "db", "controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": name}
    pod = make_pod(name, labels=labels, owner=("StatefulSet", "db"), uid=uid, created=now_offset(-600))
    return pod


def stateful_set(*, replicas: int, update_revision: str = REVISION) -> Pod:
    """A StatefulSet as the apiserver returns it."""
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "shop", "uid": "uid-sts-db", "generation": 1},
        "spec": {"replicas": replicas, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}},
        "status": {
            "observedGeneration": 1,
            "replicas": 0,
            "currentRevision": REVISION,
            "updateRevision": update_revision,
        },
    }


def daemon_pod(name: str = "agent-x7k2p") -> Pod:
    labels = {"app": "agent", "controller-revision-hash": "6c7b8d9f5"}
    return make_pod(name, labels=labels, owner=("DaemonSet", "agent"), created=now_offset(-600))


def daemon_set(*, desired: int, generation: int = 2) -> Pod:
    """A DaemonSet as the apiserver returns it; `desired` is how many nodes it should run a pod on."""
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "shop", "uid": "uid-ds-agent", "generation": generation},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"spec": {"nodeSelector": {}}}},
        "status": {
            "observedGeneration": generation,
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": desired,
            "numberReady": 0,
        },
    }


def cron_job_name() -> str:
    """The Job a CronJob named `backup` created for the run scheduled 10 min ago (`<cronjob>-<minute>`)."""
    return f"backup-{int((T0 + now_offset(-600)) // 60)}"


def cron_pod(restart_policy: str = "OnFailure") -> Pod:
    run = cron_job_name()
    labels = {"job-name": run, "batch.kubernetes.io/job-name": run, "app.kubernetes.io/component": "cronjob"}
    return make_pod(
        f"{run}-x7k2p",
        labels=labels,
        owner=("Job", run),
        containers=("main",),
        restart_policy=restart_policy,
        created=now_offset(-600),
    )


FAILED_BACKOFF = [
    {
        "type": "Failed",
        "status": "True",
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit",
    }
]


# --- StatefulSets ---------------------------------------------------------------------------------------


async def test_a_stateful_set_scaled_to_zero_ends_its_incident_and_says_so(harness: Harness) -> None:
    pod = harness.apply(stateful_pod())
    harness.kube.cluster.apply(stateful_set(replicas=1))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, pod)

    harness.kube.cluster.apply(stateful_set(replicas=0))  # kubectl scale statefulset/db --replicas=0
    harness.kube.cluster.delete("Pod", "shop", "db-0")

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    await asyncio.sleep(0.5)  # anything planned twice would be sent by now (ticks run every 0.1 s)
    assert len(recoveries(harness)) == 1
    assert "its StatefulSet was scaled to zero" in all_text(recoveries(harness)[0])
    assert "its StatefulSet was scaled to zero" in last_root_edit(harness)
    assert "deleted" not in all_text(recoveries(harness)[0])
    assert _count(bot.metrics.incident_duration.labels(reason="scaled_to_zero")) == 1
    assert harness.kube.requests.count("get", "statefulsets") > 0


async def test_a_stateful_set_scaled_to_zero_while_the_bot_restarts_is_announced_once(
    harness: Harness,
) -> None:
    pod = harness.apply(stateful_pod())
    harness.kube.cluster.apply(stateful_set(replicas=1))
    first = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, first, pod)
    await first.shutdown()

    harness.kube.cluster.apply(stateful_set(replicas=0))
    harness.kube.cluster.delete("Pod", "shop", "db-0")
    second = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await until("the recovery", lambda: len(recoveries(harness)) == 1 and second.settled())
    await until("the ledger to hold it", lambda: open_incidents(harness.ledger()) == 0)
    await second.shutdown()

    third = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await until(
        "the third bot to tick", lambda: third.settled() and third.gauge("exitcode_bot_incidents_open") == 0
    )
    await asyncio.sleep(0.5)
    assert len(recoveries(harness)) == 1
    assert "its StatefulSet was scaled to zero" in all_text(recoveries(harness)[0])
    assert len(harness.posts(thread=False)) == 1


async def test_a_deleted_stateful_set_ends_its_incident_and_says_so(harness: Harness) -> None:
    pod = harness.apply(stateful_pod())
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, pod)

    harness.kube.cluster.delete("Pod", "shop", "db-0")  # its StatefulSet is gone: 404

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    assert "its StatefulSet was deleted" in all_text(recoveries(harness)[0])


async def test_a_stateful_set_pod_recreated_at_the_same_revision_keeps_the_incident_open(
    harness: Harness,
) -> None:
    pod = harness.apply(stateful_pod())
    harness.kube.cluster.apply(stateful_set(replicas=1))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, pod)

    harness.kube.cluster.delete("Pod", "shop", "db-0")  # kubectl delete pod db-0: it comes back
    reads = harness.kube.requests.count("get", "statefulsets")
    await until(
        "the bot to read the owner", lambda: harness.kube.requests.count("get", "statefulsets") > reads
    )
    again = harness.apply(stateful_pod(uid="uid-db-0-again"))
    harness.crash(again, 1)

    await until("the repeat", lambda: len(harness.posts(thread=True)) == 1 and bot.settled())
    assert recoveries(harness) == []
    assert "Firing since" in last_root_edit(harness) and "2 crashes" in last_root_edit(harness)


async def test_a_stateful_set_rolled_out_while_its_pod_was_gone_ends_by_the_new_revision(
    harness: Harness,
) -> None:
    pod = harness.apply(stateful_pod())
    harness.kube.cluster.apply(stateful_set(replicas=1))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, pod)

    harness.kube.cluster.apply(stateful_set(replicas=1, update_revision=NEXT_REVISION))  # a fixed image
    harness.kube.cluster.delete("Pod", "shop", "db-0")  # the controller replaces it at the new revision

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    assert f"replaced by revision {NEXT_REVISION}" in all_text(recoveries(harness)[0])
    assert _count(bot.metrics.incident_duration.labels(reason="rollout")) == 1


async def test_a_stateful_set_pod_replaced_by_another_revision_recovers_by_the_rollout(
    harness: Harness,
) -> None:
    pod = harness.apply(stateful_pod())
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, pod)

    harness.kube.cluster.delete("Pod", "shop", "db-0")
    harness.apply(stateful_pod(revision=NEXT_REVISION, uid="uid-db-0-next"))

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    assert f"replaced by revision {NEXT_REVISION}" in all_text(recoveries(harness)[0])


# --- DaemonSets ---------------------------------------------------------------------------------------


async def test_a_deleted_daemon_set_ends_its_incident_and_says_so(harness: Harness) -> None:
    pod = harness.apply(daemon_pod())
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, pod)

    harness.kube.cluster.delete("Pod", "shop", "agent-x7k2p")  # kubectl delete daemonset/agent

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    await asyncio.sleep(0.5)
    assert len(recoveries(harness)) == 1
    assert "its DaemonSet was deleted" in all_text(recoveries(harness)[0])
    assert "its DaemonSet was deleted" in last_root_edit(harness)
    assert harness.kube.requests.count("get", "daemonsets") > 0


async def test_a_daemon_set_that_runs_on_no_node_any_more_says_so(harness: Harness) -> None:
    pod = harness.apply(daemon_pod())
    harness.kube.cluster.apply(daemon_set(desired=1, generation=1))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    await crash_once(harness, bot, pod)

    harness.kube.cluster.apply(daemon_set(desired=0))  # its nodeSelector now matches no node
    harness.kube.cluster.delete("Pod", "shop", "agent-x7k2p")

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    assert "its DaemonSet no longer runs a pod on any node" in all_text(recoveries(harness)[0])
    assert _count(bot.metrics.incident_duration.labels(reason="unscheduled")) == 1


# --- Jobs, CronJobs, bare pods --------------------------------------------------------------------------


async def test_a_cron_jobs_run_whose_job_was_deleted_says_so(harness: Harness) -> None:
    run = cron_job_name()
    harness.kube.cluster.apply(job(run))
    pod = harness.apply(cron_pod())
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    harness.crash(pod, 1, container="main")
    await until("the root", lambda: len(harness.posts(thread=False)) == 1 and bot.settled())
    assert "CronJob/backup" in all_text(harness.posts(thread=False)[0])

    harness.kube.cluster.delete("Job", "shop", run)  # the CronJob's history limit
    harness.kube.cluster.delete("Pod", "shop", pod["metadata"]["name"])

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    assert "the Job of the CronJob's run that crashed was deleted" in all_text(recoveries(harness)[0])
    assert harness.kube.requests.count("get", "jobs") > 0
    assert harness.kube.requests.count("get", "cronjobs") == 0  # the Job says it all


async def test_a_cron_jobs_run_that_failed_for_good_ends_and_says_why(harness: Harness) -> None:
    run = cron_job_name()
    harness.kube.cluster.apply(job(run, conditions=FAILED_BACKOFF))
    pod = harness.apply(cron_pod(restart_policy="Never"))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    harness.clock += 3
    harness.apply(finished(pod, "main", 1, harness.clock, phase="Failed"))  # the last retry

    await until("the end", lambda: len(ends(harness)) == 1 and bot.settled())
    words = all_text(ends(harness)[0])
    assert "Ended" in words and "Recovered" not in words
    assert "the Job failed: BackoffLimitExceeded (backoffLimit reached) — no more retries" in words


async def test_a_job_that_failed_for_good_ends_its_incident_without_calling_it_recovered(
    harness: Harness,
) -> None:
    harness.kube.cluster.apply(job(conditions=FAILED_BACKOFF))
    pod = harness.apply(job_pod("migrate-x7k2p", namespace="shop"))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    harness.clock += 3
    harness.apply(finished(pod, "main", 1, harness.clock, phase="Failed"))

    await until("the end", lambda: len(ends(harness)) == 1 and bot.settled())
    await asyncio.sleep(0.5)
    assert len(ends(harness)) == 1 and recoveries(harness) == []
    reply = all_text(ends(harness)[0])
    assert "Ended: " in reply
    assert "the Job failed: BackoffLimitExceeded (backoffLimit reached) — no more retries" in reply
    edited = last_root_edit(harness)
    assert "Ended" in edited and "the Job failed: BackoffLimitExceeded" in edited
    assert _count(bot.metrics.incident_duration.labels(reason="job_failed")) == 1
    assert open_incidents(harness.ledger()) == 0


async def test_a_bare_pod_that_completed_after_its_crash_says_it_completed(harness: Harness) -> None:
    bare = harness.apply(make_pod("one-off", uid="uid-one-off", restart_policy="OnFailure"))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    bare = await crash_once(harness, bot, bare)

    harness.apply(finished(bare, "app", 0, harness.clock + 60, phase="Succeeded"))

    await until("the recovery", lambda: len(recoveries(harness)) == 1 and bot.settled())
    reply = all_text(recoveries(harness)[0])
    assert "the pod completed" in reply and "deleted" not in reply
    assert _count(bot.metrics.incident_duration.labels(reason="pod_completed")) == 1


async def test_a_bare_pod_that_failed_for_good_ends_as_failed_not_deleted(harness: Harness) -> None:
    """A bare pod with `restartPolicy: Never` that exits 1 is `Failed` and stays so: nothing deleted it,
    nothing will run it again."""
    bare = harness.apply(make_pod("one-shot", uid="uid-one-shot", restart_policy="Never"))
    bot = await harness.leading(await harness.start(recovery_seconds=NEVER))
    harness.clock += 3
    harness.apply(finished(bare, "app", 1, harness.clock, phase="Failed"))

    await until("the end", lambda: len(ends(harness)) == 1 and bot.settled())
    await asyncio.sleep(0.5)
    assert len(ends(harness)) == 1 and recoveries(harness) == []
    reply = all_text(ends(harness)[0])
    assert "Ended: " in reply and "the pod failed and will not be restarted (restartPolicy Never)" in reply
    assert "deleted" not in reply
    assert harness.kube.cluster.get("Pod", "shop", "one-shot")  # nobody deleted it
    assert _count(bot.metrics.incident_duration.labels(reason="pod_failed")) == 1
