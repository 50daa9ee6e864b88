"""The workload an alert names and groups by, read from the pod alone."""

from __future__ import annotations

import pytest

from bot.alerting import Workload
from bot.alerting.workload import resolve_workload, workload_revision
from tests.test_alerting_pods import deployment_pod, job_pod, make_pod


def test_replica_set_of_a_deployment_is_named_after_the_deployment() -> None:
    assert resolve_workload(deployment_pod(deployment="checkout", template_hash="5f6b7c8d9")) == Workload(
        "Deployment", "checkout"
    )


def test_replica_set_without_a_matching_hash_stays_a_replica_set() -> None:
    pod = make_pod("legacy-abcde", owner=("ReplicaSet", "legacy"), labels={"app": "legacy"})
    assert resolve_workload(pod) == Workload("ReplicaSet", "legacy")


def test_argo_rollout_replica_sets_are_named_after_the_rollout() -> None:
    pod = make_pod(
        "web-6c8d9-abcde",
        owner=("ReplicaSet", "web-6c8d9"),
        labels={"rollouts-pod-template-hash": "6c8d9"},
    )
    assert resolve_workload(pod) == Workload("Rollout", "web")


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet", "Workflow"])
def test_other_controllers_are_named_as_they_are(kind: str) -> None:
    assert resolve_workload(make_pod("x-0", owner=(kind, "x"))) == Workload(kind, "x")


def test_bare_and_static_pods_are_named_after_the_pod() -> None:
    assert resolve_workload(make_pod("debug")) == Workload("Pod", "debug")
    assert resolve_workload(make_pod("etcd-node-1", owner=("Node", "node-1"))) == Workload(
        "Pod", "etcd-node-1"
    )


def test_job_pods_are_named_after_the_job() -> None:
    assert resolve_workload(job_pod(job="migrate")) == Workload("Job", "migrate")


def cron_pod(job: str, created: float, labels: dict[str, str]) -> dict[str, object]:
    return make_pod(f"{job}-abcde", owner=("Job", job), labels={"job-name": job, **labels}, created=created)


def test_cronjob_is_claimed_when_the_suffix_is_the_schedule_and_a_label_says_cron() -> None:
    # 29_453_760 minutes after the epoch is 2026-01-01T00:00Z, the pods' creation time (T0).
    pod = cron_pod("backup-29453760", 12.0, {"app.kubernetes.io/component": "cronjob"})
    assert resolve_workload(pod) == Workload("CronJob", "backup")


def test_a_cron_named_job_without_a_cron_label_stays_a_job() -> None:
    pod = cron_pod("backup-29453760", 12.0, {"app": "backup"})
    assert resolve_workload(pod) == Workload("Job", "backup-29453760")


def test_a_date_suffixed_job_is_not_mistaken_for_a_cronjob() -> None:
    pod = cron_pod("migrate-20260101", 12.0, {"team": "cron-owners"})
    assert resolve_workload(pod) == Workload("Job", "migrate-20260101")


def test_the_revision_an_incident_tracks_is_the_template_hash_or_the_cron_run() -> None:
    assert workload_revision(deployment_pod()) == "7d9f8c6b5"
    cron = cron_pod("backup-29453760", 12.0, {"app.kubernetes.io/component": "cronjob"})
    assert workload_revision(cron) == "29453760"  # with the CronJob's name, it names the Job to read
    assert workload_revision(cron_pod("migrate-20260101", 12.0, {"team": "cron-owners"})) is None
    assert workload_revision(job_pod()) is None and workload_revision(make_pod("one-off")) is None


def test_workload_references_round_trip_and_reject_garbage() -> None:
    assert Workload.parse("Deployment/api") == Workload("Deployment", "api")
    assert Workload("CronJob", "backup").ref == "CronJob/backup"
    for bad in ("api", "/api", "Deployment/", "a/b/c"):
        with pytest.raises(ValueError, match="Kind/name"):
            Workload.parse(bad)
