"""Detection: each container death is reported once per watch history, with what the API says about it."""

from __future__ import annotations

import copy

from bot.alerting import ContainerKind, RecordSource, Workload, compact_previous, detect_terminations
from bot.alerting.termination import Termination
from tests.test_alerting_pods import (
    T0,
    Pod,
    backoff,
    churn,
    container_status,
    crash_cycle,
    deployment_pod,
    exited,
    job_pod,
    make_pod,
    restarted,
    ts,
)


def run_stream(events: list[Pod], *, compact: bool = False) -> list[Termination]:
    """Feed a watch stream through the detector the way the watcher does (previous = last seen)."""
    found: list[Termination] = []
    previous: Pod | None = None
    for pod in events:
        found.extend(detect_terminations(previous, pod))
        previous = compact_previous(pod) if compact else pod
    return found


def test_first_crash_is_reported_with_the_facts_an_alert_needs() -> None:
    pod = deployment_pod()
    crashed = exited(pod, "app", 137, 60, reason="OOMKilled", message="killed <!channel>")

    [termination] = detect_terminations(pod, crashed)

    assert termination.key == f"uid-shop-api-7d9f8c6b5-x2x9z/app/{ts(60)}"
    assert (termination.namespace, termination.pod, termination.container) == (
        "shop",
        "api-7d9f8c6b5-x2x9z",
        "app",
    )
    assert termination.exit_code == 137
    assert termination.signal == 9
    assert termination.signal_is_inferred
    assert termination.reason == "OOMKilled"
    assert termination.message == "killed <!channel>"
    assert termination.node == "node-1"
    assert termination.workload == Workload("Deployment", "api")
    assert termination.container_kind is ContainerKind.MAIN
    assert termination.source is RecordSource.STATE
    assert termination.finished_epoch == T0 + 60
    assert termination.started_at == ts(0)


def test_backoff_and_restart_of_the_same_exit_report_nothing_more() -> None:
    events = crash_cycle(deployment_pod(), "app", 1, 60)

    found = run_stream([deployment_pod(), *events])

    assert [item.key for item in found] == [f"uid-shop-api-7d9f8c6b5-x2x9z/app/{ts(60)}"]


def test_restart_count_rising_while_last_state_is_unchanged_is_not_a_new_crash() -> None:
    """Step 3 of a crash loop: the counter rises when the next instance starts, not when one dies."""
    in_backoff = backoff(exited(deployment_pod(), "app", 2, 60), "app")
    back_up = restarted(in_backoff, "app", 70)
    assert container_status(back_up, "app")["lastState"] == container_status(in_backoff, "app")["lastState"]

    assert detect_terminations(in_backoff, back_up) == []


def test_restart_count_rising_without_any_record_still_reports_a_crash() -> None:
    """The kubelet lost the record (container garbage-collected): the restart itself is the evidence."""
    running = deployment_pod()
    lost = copy.deepcopy(running)
    container_status(lost, "app")["restartCount"] = 1
    container_status(lost, "app")["state"] = {"running": {"startedAt": ts(90)}}

    [termination] = detect_terminations(running, lost)

    assert termination.source is RecordSource.RESTART_COUNT
    assert termination.exit_code is None
    assert termination.key == "uid-shop-api-7d9f8c6b5-x2x9z/app/restart-1"
    assert detect_terminations(lost, churn(lost, 95)) == []


def test_a_running_container_that_restarted_behind_our_back_is_reported_once() -> None:
    """Previous event: running with an old lastState. Now: counter +1, same lastState, running again."""
    settled = crash_cycle(deployment_pod(), "app", 1, 60)[-1]
    jumped = copy.deepcopy(settled)
    container_status(jumped, "app")["restartCount"] += 1

    found = detect_terminations(settled, jumped)

    assert [item.source for item in found] == [RecordSource.RESTART_COUNT]


def test_a_long_crash_loop_yields_one_termination_per_exit() -> None:
    pod = deployment_pod()
    events: list[Pod] = [pod]
    for turn in range(6):
        cycle = crash_cycle(events[-1], "app", 1, 100 + turn * 60)
        events.extend([cycle[0], churn(cycle[0], 101 + turn * 60), *cycle[1:]])

    found = run_stream(events)

    assert [item.finished_at for item in found] == [ts(100 + turn * 60) for turn in range(6)]
    assert [item.restart_count for item in found] == list(range(6))


def test_replaying_an_event_or_pure_churn_reports_nothing() -> None:
    crashed = exited(deployment_pod(), "app", 1, 60)

    assert detect_terminations(crashed, crashed) == []
    assert detect_terminations(crashed, churn(crashed, 61)) == []
    assert detect_terminations(deployment_pod(), churn(deployment_pod(), 5)) == []


def test_first_sight_reports_every_visible_record_for_the_ledger_to_sort_out() -> None:
    cycle = crash_cycle(deployment_pod(), "app", 1, 60)
    exited_again = exited(cycle[-1], "app", 3, 120)

    found = detect_terminations(None, exited_again)

    assert [(item.source, item.exit_code) for item in found] == [
        (RecordSource.LAST_STATE, 1),
        (RecordSource.STATE, 3),
    ]


def test_the_same_exit_seen_in_state_then_last_state_keeps_its_key() -> None:
    crashed = exited(deployment_pod(), "app", 1, 60)
    waiting = backoff(crashed, "app")

    [in_state] = detect_terminations(None, crashed)
    [in_last_state] = detect_terminations(None, waiting)

    assert in_state.key == in_last_state.key
    assert in_last_state.source is RecordSource.LAST_STATE


def test_job_pod_that_fails_without_restart_is_reported_from_state() -> None:
    pod = job_pod()
    failed = exited(pod, "main", 2, 30)
    failed["status"]["phase"] = "Failed"

    [termination] = detect_terminations(pod, failed)

    assert termination.exit_code == 2
    assert termination.workload == Workload("Job", "migrate")
    assert termination.source is RecordSource.STATE


def test_on_failure_job_restarts_are_each_reported() -> None:
    pod = job_pod(restart_policy="OnFailure")
    events = [pod, *crash_cycle(pod, "main", 1, 30)]
    events += crash_cycle(events[-1], "main", 1, 60)

    assert [item.exit_code for item in run_stream(events)] == [1, 1]


def test_init_containers_and_native_sidecars_count() -> None:
    pod = make_pod("web-0", init_containers=("migrate",), sidecars=("proxy",), owner=("StatefulSet", "web"))
    init_failed = exited(pod, "migrate", 1, 20)
    sidecar_crashed = exited(pod, "proxy", 139, 30)

    [init] = detect_terminations(pod, init_failed)
    [sidecar] = detect_terminations(pod, sidecar_crashed)

    assert (init.container, init.container_kind) == ("migrate", ContainerKind.INIT)
    assert (sidecar.container, sidecar.container_kind, sidecar.signal) == ("proxy", ContainerKind.SIDECAR, 11)
    assert sidecar.workload == Workload("StatefulSet", "web")


def test_ephemeral_debug_containers_are_ignored() -> None:
    pod = deployment_pod()
    debugged = copy.deepcopy(pod)
    debugged["status"]["ephemeralContainerStatuses"] = [
        {
            "name": "debugger",
            "image": "busybox",
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "state": {"terminated": {"exitCode": 130, "finishedAt": ts(40), "reason": "Error"}},
        }
    ]

    assert detect_terminations(pod, debugged) == []


def test_kubelet_synthetic_record_without_finished_at_falls_back_to_the_restart_count() -> None:
    pod = deployment_pod()
    lost = copy.deepcopy(pod)
    status = container_status(lost, "app")
    status["restartCount"] = 1
    status["state"] = {"waiting": {"reason": "ContainerCreating"}}
    status["lastState"] = {
        "terminated": {
            "exitCode": 137,
            "reason": "ContainerStatusUnknown",
            "message": "The container could not be located when the pod was deleted.  "
            "The container used to be Running",
        }
    }

    [termination] = detect_terminations(pod, lost)

    assert termination.key == "uid-shop-api-7d9f8c6b5-x2x9z/app/restart-1"
    assert termination.reason == "ContainerStatusUnknown"
    assert detect_terminations(lost, churn(lost, 50)) == []


def test_a_compact_previous_gives_the_same_answers_as_the_full_pod() -> None:
    pod = deployment_pod(containers=("app", "worker"))
    events: list[Pod] = [pod]
    for turn in range(3):
        events.extend(crash_cycle(events[-1], "app", 1, 100 + turn * 60))
        events.append(churn(events[-1], 130 + turn * 60))
        events.extend(crash_cycle(events[-1], "worker", 139, 140 + turn * 60))

    assert run_stream(events, compact=True) == run_stream(events)
    assert len(run_stream(events)) == 6


def test_odd_or_partial_pods_do_not_raise() -> None:
    assert detect_terminations(None, {}) == []
    assert detect_terminations(None, {"status": {}}) == []
    odd = {
        "metadata": {"name": "x"},
        "status": {"containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": "nine"}}}]},
    }
    [termination] = detect_terminations(None, odd)
    assert termination.exit_code is None
    assert termination.workload == Workload("Pod", "x")
