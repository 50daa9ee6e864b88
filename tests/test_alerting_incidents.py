"""The incident state machine, pure: what ends an incident, what re-opens it, and how it survives the ledger.

The wire-level behaviour (Slack edits and replies, restarts, failover) is in `test_alert_incidents.py`;
here each rule is checked on plain data with the planner's own clock.
"""

from __future__ import annotations

import json

import pytest

from bot.alert_service.incident_watch import WorkloadPods, pod_seen
from bot.alerting import (
    AlertPlanner,
    LedgerError,
    LedgerState,
    PlannerConfig,
    PostRecovery,
    PostRoot,
    PostThreadReply,
    UpdateRoot,
)
from bot.alerting.incidents import (
    EndReason,
    IncidentPhase,
    IncidentState,
    OwnerFate,
    OwnerState,
    PodSeen,
    evaluate,
    owner_fate,
    owner_to_read,
    revision_key,
)
from bot.alerting.ledger_state import pod_digest
from bot.alerting.outbox import action_from_record, action_to_record, entry_identity
from bot.alerting.planner import open_incidents
from bot.render.alert_blocks import alert_blocks, alert_fallback_text
from bot.render.alert_text import CrashAlert, RecoveryAlert, alert_text, state_phrase
from tests.test_alerting_planner import crash
from tests.test_alerting_pods import T0, backoff, deleting, deployment_pod, exited, job_pod, make_pod

CONFIG = PlannerConfig(group_window_seconds=1800, recovery_seconds=600)
UID = "uid-shop-api-7d9f8c6b5-x2x9z"
WORKLOAD = ("shop", "Deployment/api")


def running(since: float, *, uid: str = UID, revision: str | None = "7d9f8c6b5") -> PodSeen:
    return PodSeen(uid=uid, revision=revision, running_since={"app": T0 + since})


def waiting(*, uid: str = UID, revision: str | None = "7d9f8c6b5") -> PodSeen:
    return PodSeen(uid=uid, revision=revision, running_since={"app": None})


def opened(planner: AlertPlanner) -> PostRoot:
    [root] = planner.plan([crash(10)], now=T0 + 10).actions
    assert isinstance(root, PostRoot)
    planner.root_posted(root.group, "C0ALERTS:1700000000.000100")
    return root


def the_incident(planner: AlertPlanner) -> IncidentState:
    [incident] = planner.state.incidents.values()
    return incident


def test_a_root_opens_a_firing_incident_and_repeats_count_in_it() -> None:
    planner = AlertPlanner(CONFIG)
    opened(planner)
    plan = planner.plan([crash(100)], now=T0 + 100)

    incident = the_incident(planner)
    assert incident.phase is IncidentPhase.FIRING and incident.crashes == 2
    edit = next(action for action in plan.actions if isinstance(action, UpdateRoot))
    assert edit.incident is not None and edit.incident.phase is IncidentPhase.FIRING
    assert edit.incident.crashes == 2 and edit.incident.burned_seconds == 90


def test_running_for_recovery_seconds_recovers_once_with_an_edit_and_a_reply() -> None:
    planner = AlertPlanner(CONFIG)
    root = opened(planner)
    assert planner.observe({WORKLOAD: (running(20),)}, T0 + 500) == []  # ran 480 s: not yet

    actions = planner.observe({WORKLOAD: (running(20),)}, T0 + 620)

    assert [type(action).__name__ for action in actions] == ["UpdateRoot", "PostRecovery"]
    edit, reply = actions
    assert isinstance(edit, UpdateRoot) and isinstance(reply, PostRecovery)
    assert edit.group == root.group == reply.group
    assert reply.status.reason is EndReason.RAN_CLEAN and reply.status.since == T0 + 20
    assert reply.status.burned_seconds == 10  # first crash to the start of the clean run
    assert planner.observe({WORKLOAD: (running(20),)}, T0 + 700) == []  # never twice


def test_a_container_still_in_back_off_is_quiet_not_recovered() -> None:
    planner = AlertPlanner(CONFIG)
    opened(planner)
    assert planner.observe({WORKLOAD: (waiting(),)}, T0 + 800) == []  # 790 s < GROUP_WINDOW / 2

    [edit] = planner.observe({WORKLOAD: (waiting(),)}, T0 + 920)

    assert isinstance(edit, UpdateRoot) and edit.incident is not None
    assert edit.incident.phase is IncidentPhase.QUIET and edit.incident.since == T0 + 10
    planner.plan([crash(950)], now=T0 + 950)
    assert the_incident(planner).phase is IncidentPhase.FIRING  # a crash brings it back


def test_a_rollout_recovers_with_the_new_revision() -> None:
    planner = AlertPlanner(CONFIG)
    opened(planner)
    planner.observe({WORKLOAD: (waiting(),)}, T0 + 20)

    actions = planner.observe({WORKLOAD: (running(30, uid="uid-new", revision="5f6b7c8d9"),)}, T0 + 40)

    reply = actions[-1]
    assert isinstance(reply, PostRecovery)
    assert reply.status.reason is EndReason.ROLLOUT and reply.status.detail == "5f6b7c8d9"


def test_a_replacement_pod_of_the_same_revision_is_not_a_rollout() -> None:
    planner = AlertPlanner(CONFIG)
    opened(planner)
    assert planner.observe({WORKLOAD: (waiting(uid="uid-replacement"),)}, T0 + 40) == []


@pytest.mark.parametrize(
    ("workload", "reason"), [("Deployment/api", EndReason.GONE), ("Pod/one-off", EndReason.POD_DELETED)]
)
def test_no_live_pod_left_ends_the_incident(workload: str, reason: EndReason) -> None:
    planner = AlertPlanner(CONFIG)
    kind, name = workload.split("/")
    planner.plan([crash(10, workload=name)], now=T0 + 10)
    incident = the_incident(planner)
    if kind == "Pod":  # the planner's test crash is a Deployment's: judge the rule itself
        assert evaluate(
            incident,
            workload_kind="Pod",
            container="app",
            pods=(),
            crashed_pods=(),
            now=T0 + 30,
            recovery_seconds=600,
            quiet_seconds=900,
        )
    else:
        planner.observe({}, T0 + 30)
    assert incident.phase is IncidentPhase.RECOVERED and incident.reason is reason


def test_a_namespace_no_complete_list_covered_is_not_judged() -> None:
    planner = AlertPlanner(CONFIG)
    opened(planner)
    assert planner.observe({}, T0 + 30, covers=lambda namespace: namespace != "shop") == []
    assert the_incident(planner).open


def test_a_crash_within_the_window_after_recovery_reopens_in_the_same_thread() -> None:
    planner = AlertPlanner(CONFIG)
    root = opened(planner)
    planner.observe({WORKLOAD: (running(500),)}, T0 + 1200)  # recovered: clean since T0 + 500

    plan = planner.plan([crash(1900)], now=T0 + 1900)  # past the root's window, within the recovery's

    reply = next(action for action in plan.actions if isinstance(action, PostThreadReply))
    assert reply.group == root.group and planner.root_ts(reply.group) == "C0ALERTS:1700000000.000100"
    incident = the_incident(planner)
    assert incident.phase is IncidentPhase.FIRING and incident.crashes == 2


def test_a_crash_long_after_recovery_starts_a_new_incident() -> None:
    planner = AlertPlanner(CONFIG)
    root = opened(planner)
    planner.observe({WORKLOAD: (running(20),)}, T0 + 620)

    plan = planner.plan([crash(4000)], now=T0 + 4000)

    [new_root] = plan.actions
    assert isinstance(new_root, PostRoot) and new_root.group != root.group
    assert the_incident(planner).crashes == 1


def test_a_crash_loop_past_the_window_continues_in_a_new_root() -> None:
    planner = AlertPlanner(CONFIG)
    root = opened(planner)
    planner.plan([crash(1000)], now=T0 + 1000)

    plan = planner.plan([crash(1900)], now=T0 + 1900)

    continued, new_root = plan.actions
    assert isinstance(continued, UpdateRoot) and continued.group == root.group
    assert continued.incident is not None and continued.incident.phase is IncidentPhase.CONTINUED
    assert isinstance(new_root, PostRoot)
    incident = the_incident(planner)
    assert incident.crashes == 3 and incident.started == T0 + 10 and incident.open


def test_incidents_round_trip_the_ledger_and_an_old_ledger_still_loads() -> None:
    planner = AlertPlanner(CONFIG)
    opened(planner)
    planner.observe({WORKLOAD: (running(20),)}, T0 + 620)
    restored = LedgerState.from_json(planner.state.to_json())
    assert restored.to_json() == planner.state.to_json()
    assert the_incident(AlertPlanner(CONFIG, restored)).reason is EndReason.RAN_CLEAN

    old = json.loads(planner.state.to_json())
    del old["incidents"]
    assert LedgerState.from_dict(old).incidents == {}
    assert "incidents" not in LedgerState().to_dict()  # an empty ledger stays byte-identical

    old["incidents"] = {"x": {"at": "yesterday"}}
    with pytest.raises(LedgerError, match=r"ledger.incidents\['x'\]"):
        LedgerState.from_dict(old)


def test_a_merge_keeps_the_recovery_whichever_copy_it_meets() -> None:
    firing = AlertPlanner(CONFIG)
    opened(firing)
    recovered = AlertPlanner(CONFIG, LedgerState.from_json(firing.state.to_json()))
    recovered.observe({WORKLOAD: (running(20),)}, T0 + 620)

    for merged in (firing.state.merge(recovered.state), recovered.state.merge(firing.state)):
        [incident] = merged.incidents.values()
        assert incident.phase is IncidentPhase.RECOVERED


def test_the_recovery_reply_is_one_outbox_entry_however_often_it_is_planned() -> None:
    planner = AlertPlanner(CONFIG)
    opened(planner)
    state_before = planner.state.to_json()
    first = planner.observe({WORKLOAD: (running(20),)}, T0 + 620)
    again = AlertPlanner(CONFIG, LedgerState.from_json(state_before)).observe(
        {WORKLOAD: (running(20),)}, T0 + 630
    )
    assert [entry_identity(action) for action in first] == [entry_identity(action) for action in again]
    for action in first:
        assert action_from_record(json.loads(json.dumps(action_to_record(action)))) == action


def test_open_incidents_list_the_thread_of_each() -> None:
    planner = AlertPlanner(CONFIG)
    opened(planner)
    [listed] = open_incidents(planner.state)
    assert listed.namespace == "shop" and listed.workload == "Deployment/api" and listed.phase == "firing"
    assert listed.thread == "C0ALERTS:1700000000.000100"
    assert pod_digest(UID) in next(iter(planner.state.groups.values())).pods


def test_the_state_line_and_the_recovery_reply_are_escaped_on_slack() -> None:
    planner = AlertPlanner(CONFIG)
    root = opened(planner)
    evil = "<!channel>&x"
    planner.observe({WORKLOAD: (waiting(),)}, T0 + 20)  # the revision that crashed
    actions = planner.observe({WORKLOAD: (running(30, uid="uid-new", revision=evil),)}, T0 + 40)
    edit, reply = actions
    assert isinstance(edit, UpdateRoot) and isinstance(reply, PostRecovery) and edit.incident is not None
    key = reply.group.key
    recovery = RecoveryAlert(key.namespace, key.workload.ref, key.container, key.kind, reply.status)
    view = CrashAlert(root.termination, key.kind, incident=edit.incident)
    for blocks in (alert_blocks(recovery), alert_blocks(view)):
        text = json.dumps(blocks)
        assert "<!channel>" not in text and "&lt;!channel&gt;&amp;x" in text
        assert "<!date^" in text  # times in the reader's zone
    assert "<!channel>" not in alert_fallback_text(recovery)
    assert "replaced by revision <!channel>&x" in alert_text(recovery)  # terminal text is not mrkdwn
    assert state_phrase(edit.incident).startswith("Recovered")


# --- what the alert service feeds the machine ------------------------------------------------------------


def test_the_pod_index_keeps_only_live_pods_of_workloads_with_an_open_incident() -> None:
    pods = WorkloadPods()
    pods.watch([WORKLOAD])
    api = deployment_pod()
    other = deployment_pod("web-5f6b7c8d9-a1b2c", deployment="web", uid="uid-web")
    pods.note(api, deleted=False)
    pods.note(other, deleted=False)  # not watched: never indexed

    [seen] = pods.live()[WORKLOAD]
    assert seen.uid == UID and seen.revision == "7d9f8c6b5" and seen.ran("app") == T0
    assert list(pods.live()) == [WORKLOAD]

    pods.note(deleting(api, 100), deleted=False)  # terminating: no longer live
    assert pods.live() == {}
    pods.note(api, deleted=False)
    pods.forget_missing(present=set(), covers=lambda namespace: namespace == "shop")  # a relist without it
    assert pods.live() == {}
    pods.note(api, deleted=False)
    pods.note(api, deleted=True)
    assert pods.live() == {}


def test_a_waiting_container_has_not_run_and_an_eviction_needs_every_container() -> None:
    pod = deployment_pod(containers=("app", "side"))
    seen = pod_seen(backoff(exited(pod, "app", 1, 50), "app"))
    assert seen is not None
    assert seen.ran("app") is None and seen.ran("side") == T0 and seen.ran("") is None


# --- what the owner says once no pod is left -------------------------------------------------------------


ACTIVE = OwnerFate(OwnerState.ACTIVE)
DELETED = OwnerFate(OwnerState.DELETED)
SCALED = OwnerFate(OwnerState.SCALED_TO_ZERO)
COMPLETED = OwnerFate(OwnerState.COMPLETED)


def _failed(reason: str) -> dict[str, object]:
    return {"status": {"conditions": [{"type": "Failed", "status": "True", "reason": reason}]}}


@pytest.mark.parametrize(
    ("kind", "owner", "fate"),
    [
        ("ReplicaSet", {"spec": {"replicas": 0}}, SCALED),
        ("ReplicaSet", {"spec": {"replicas": 2}}, ACTIVE),
        ("ReplicaSet", {"spec": {}}, ACTIVE),  # unset means 1
        ("ReplicaSet", None, DELETED),
        ("ReplicaSet", {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}, DELETED),
        ("StatefulSet", {"spec": {"replicas": 0}, "status": {"updateRevision": "db-5d8f7c9b6"}}, SCALED),
        (
            "StatefulSet",
            {"spec": {"replicas": 3}, "status": {"updateRevision": "db-5d8f7c9b6"}},
            OwnerFate(OwnerState.ACTIVE, "db-5d8f7c9b6"),
        ),
        ("StatefulSet", None, DELETED),
        ("DaemonSet", None, DELETED),
        (
            "DaemonSet",
            {"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "desiredNumberScheduled": 0}},
            OwnerFate(OwnerState.UNSCHEDULED),
        ),
        # a status that has not caught up with the new spec says nothing yet
        (
            "DaemonSet",
            {"metadata": {"generation": 3}, "status": {"observedGeneration": 2, "desiredNumberScheduled": 0}},
            ACTIVE,
        ),
        ("DaemonSet", {"status": {"desiredNumberScheduled": 4}}, ACTIVE),
        ("Job", {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}, COMPLETED),
        (
            "Job",
            {"status": {"conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}},
            COMPLETED,
        ),
        ("Job", {"status": {"active": 1}}, ACTIVE),
        ("Job", _failed("BackoffLimitExceeded"), OwnerFate(OwnerState.FAILED, "BackoffLimitExceeded")),
        (
            "Job",
            {
                "status": {
                    "conditions": [{"type": "FailureTarget", "status": "True", "reason": "PodFailurePolicy"}]
                }
            },
            OwnerFate(OwnerState.FAILED, "PodFailurePolicy"),
        ),
        (
            "Job",
            {"status": {"conditions": [{"type": "Failed", "status": "True"}]}},
            OwnerFate(OwnerState.FAILED),
        ),
        ("Job", {"spec": {"suspend": True}}, None),
        ("Job", None, DELETED),
    ],
)
def test_the_owner_says_why_the_pods_are_gone(
    kind: str, owner: dict[str, object] | None, fate: OwnerFate | None
) -> None:
    assert owner_fate(kind, owner) == fate


def test_only_owners_the_rbac_reads_are_named() -> None:
    assert owner_to_read("Deployment", "api", "7d9f8c6b5") == ("ReplicaSet", "api-7d9f8c6b5")
    assert owner_to_read("Job", "migrate", None) == ("Job", "migrate")
    assert owner_to_read("StatefulSet", "db", "db-5d8f") == ("StatefulSet", "db")
    assert owner_to_read("DaemonSet", "agent", "6c7b") == ("DaemonSet", "agent")
    assert owner_to_read("CronJob", "backup", "28934560") == ("Job", "backup-28934560")
    assert owner_to_read("CronJob", "backup", None) is None
    assert owner_to_read("Deployment", "api", None) is None
    assert owner_to_read("Rollout", "api", "7d9f8c6b5") is None


def _judge(
    incident: IncidentState,
    kind: str,
    pods: tuple[PodSeen, ...],
    now: float,
    *,
    owner: OwnerFate | None = None,
    completed_at: float | None = None,
) -> bool:
    return evaluate(
        incident,
        workload_kind=kind,
        container="main",
        pods=pods,
        crashed_pods=(),
        now=now,
        recovery_seconds=600,
        quiet_seconds=600,
        owner=owner,
        completed_at=completed_at,
    )


def test_no_pod_left_while_the_owner_wants_pods_keeps_the_incident_open() -> None:
    incident = IncidentState(opened=T0, started=T0, last_crash=T0, crashes=1, revision="7d9f8c6b5")
    assert not _judge(incident, "Deployment", (), T0 + 5, owner=ACTIVE)
    assert incident.open
    assert _judge(incident, "Deployment", (), T0 + 6, owner=SCALED)
    assert incident.reason is EndReason.SCALED_TO_ZERO and incident.detail is None


def test_a_stateful_set_that_now_wants_another_revision_ended_the_incident_by_a_rollout() -> None:
    incident = IncidentState(opened=T0, started=T0, last_crash=T0, crashes=1, revision="db-5d8f7c9b6")
    assert not _judge(incident, "StatefulSet", (), T0 + 5, owner=OwnerFate(OwnerState.ACTIVE, "db-5d8f7c9b6"))
    assert _judge(incident, "StatefulSet", (), T0 + 6, owner=OwnerFate(OwnerState.ACTIVE, "db-6c9d8e7f5"))
    assert incident.reason is EndReason.ROLLOUT and incident.detail == "db-6c9d8e7f5"


def test_a_long_revision_kept_as_a_digest_is_compared_as_one() -> None:
    long = "a-stateful-set-with-a-long-name-5d8f7c9b6"
    incident = IncidentState(opened=T0, started=T0, last_crash=T0, crashes=1, revision=revision_key(long))
    assert not _judge(incident, "StatefulSet", (), T0 + 5, owner=OwnerFate(OwnerState.ACTIVE, long))


@pytest.mark.parametrize(
    ("kind", "fate", "reason", "words"),
    [
        ("StatefulSet", SCALED, EndReason.SCALED_TO_ZERO, "its StatefulSet was scaled to zero"),
        ("StatefulSet", DELETED, EndReason.DELETED, "its StatefulSet was deleted"),
        ("DaemonSet", DELETED, EndReason.DELETED, "its DaemonSet was deleted"),
        (
            "DaemonSet",
            OwnerFate(OwnerState.UNSCHEDULED),
            EndReason.UNSCHEDULED,
            "no longer runs a pod on any node",
        ),
        ("Job", DELETED, EndReason.DELETED, "its Job was deleted"),
        ("CronJob", DELETED, EndReason.DELETED, "the Job of the CronJob's run that crashed was deleted"),
        (
            "Job",
            OwnerFate(OwnerState.FAILED, "BackoffLimitExceeded"),
            EndReason.JOB_FAILED,
            "the Job failed: BackoffLimitExceeded (backoffLimit reached) — no more retries",
        ),
        (
            "CronJob",
            OwnerFate(OwnerState.FAILED, "DeadlineExceeded"),
            EndReason.JOB_FAILED,
            "the Job failed: DeadlineExceeded (activeDeadlineSeconds passed) — no more retries",
        ),
        ("Deployment", DELETED, EndReason.DELETED, "its workload was deleted"),
    ],
)
def test_each_owner_end_says_which(kind: str, fate: OwnerFate, reason: EndReason, words: str) -> None:
    incident = IncidentState(opened=T0, started=T0, last_crash=T0, crashes=1, revision="7d9f8c6b5")
    assert _judge(incident, kind, (), T0 + 5, owner=fate)
    assert incident.reason is reason
    status = incident.status()
    assert words in state_phrase(status)
    ended = "Ended" if reason is EndReason.JOB_FAILED else "Recovered"
    assert state_phrase(status).startswith(ended)


def test_a_bare_pod_that_completed_after_its_crash_says_so_not_deleted() -> None:
    incident = IncidentState(opened=T0, started=T0, last_crash=T0 + 10, crashes=1)
    assert _judge(incident, "Pod", (), T0 + 30, completed_at=T0 + 25)
    assert incident.reason is EndReason.POD_COMPLETED and incident.since == T0 + 25
    assert "the pod completed" in state_phrase(incident.status())


def test_a_bare_pod_that_failed_for_good_ends_as_failed() -> None:
    incident = IncidentState(opened=T0, started=T0, last_crash=T0 + 10, crashes=1)
    failed = (PodSeen("uid-1", None, failed_at=T0 + 10, failure="restartPolicy Never"),)
    assert _judge(incident, "Pod", failed, T0 + 12)
    assert incident.reason is EndReason.POD_FAILED and incident.since == T0 + 10
    phrase = state_phrase(incident.status())
    assert (
        phrase.startswith("Ended")
        and "the pod failed and will not be restarted (restartPolicy Never)" in phrase
    )


def test_a_failed_bare_pod_is_kept_by_the_index_a_failed_job_pod_is_not() -> None:
    index = WorkloadPods()
    bare = make_pod("one-shot", restart_policy="Never")
    job = job_pod(namespace="shop")
    index.watch([("shop", "Pod/one-shot"), ("shop", "Job/migrate")])
    for pod in (bare, job):
        done = exited(pod, "app" if pod is bare else "main", 1, 40)
        done["status"]["phase"] = "Failed"
        index.note(done, deleted=False)
    live = index.live()
    assert "Job/migrate" not in {ref for _, ref in live}
    [seen] = live[("shop", "Pod/one-shot")]
    assert seen.failed_at == T0 + 40 and seen.failure == "restartPolicy Never"


def test_a_later_cron_run_is_not_a_rollout_of_the_one_that_crashed() -> None:
    incident = IncidentState(opened=T0, started=T0, last_crash=T0, crashes=1, revision="28934560")
    later = (PodSeen("uid-later", "28934620", {"main": None}),)
    assert not _judge(incident, "CronJob", later, T0 + 5)
    assert incident.open


def test_a_success_before_the_last_crash_does_not_end_the_incident() -> None:
    incident = IncidentState(opened=T0, started=T0, last_crash=T0 + 10, crashes=2)
    pods = (PodSeen("uid-2", None, {"main": None}),)
    assert not _judge(incident, "Job", pods, T0 + 20, completed_at=T0 + 5)
    assert _judge(incident, "Job", pods, T0 + 30, completed_at=T0 + 25)
    assert incident.reason is EndReason.JOB_COMPLETED and incident.since == T0 + 25
