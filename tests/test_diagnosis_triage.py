"""`/exitcode ns` (triage of a namespace) and `/exitcode pod NS/PREFIX` (pods of a workload)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from bot.diagnosis.podjson import timestamp
from bot.diagnosis.triage import select_pods_by_prefix, triage_namespace, workload_ref
from bot.knowledge import KnowledgeBase
from tests.fixtures.scenarios import all_scenarios, load_scenario

SCENARIOS = all_scenarios()
NOW = max(scenario.captured_at for scenario in SCENARIOS)


def pods(*names: str) -> list[dict[str, Any]]:
    return [copy.deepcopy(load_scenario(name).pod) for name in names]


def test_rows_are_the_troubled_pods_newest_failure_first(knowledge_base: KnowledgeBase) -> None:
    rows = triage_namespace([s.pod for s in SCENARIOS], NOW, kb=knowledge_base)
    listed = {row.pod for row in rows}
    assert load_scenario("oom_killed_container_limit").pod_name in listed
    assert load_scenario("image_pull_backoff").pod_name in listed
    assert load_scenario("evicted_memory_pressure").pod_name in listed
    assert load_scenario("healthy_running").pod_name not in listed
    assert load_scenario("unschedulable_pending").pod_name not in listed
    times = [row.when for row in rows if row.when is not None]
    assert times == sorted(times, reverse=True)
    undated = [index for index, row in enumerate(rows) if row.when is None]
    assert undated == list(range(len(rows) - len(undated), len(rows))), "rows without an exit time come last"


def test_a_rollout_is_not_listed_as_a_crash() -> None:
    rows = triage_namespace(pods("sigterm_rollout_normal", "sigterm_drain_disruption_target"), NOW)
    assert rows == []


def test_a_row_says_what_the_exit_code_means(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("oom_killed_container_limit")
    [row] = triage_namespace([scenario.pod], scenario.captured_at, kb=knowledge_base)
    status = scenario.pod["status"]["containerStatuses"][0]
    record = status["lastState"]["terminated"]
    assert (row.pod, row.container) == (scenario.pod_name, status["name"])
    assert (row.exit_code, row.reason, row.state) == (
        record["exitCode"],
        record["reason"],
        "CrashLoopBackOff",
    )
    assert row.restarts == status["restartCount"]
    assert row.meaning is not None and "SIGKILL" in row.meaning
    assert row.when == timestamp(record["finishedAt"])
    assert row.age == scenario.captured_at - timestamp(record["finishedAt"])  # type: ignore[operator]
    assert row.workload == "Deployment/checkout-api"


def test_without_a_knowledge_base_the_meaning_is_left_out() -> None:
    [row] = triage_namespace(pods("go_panic_exit2"), NOW)
    assert row.exit_code == 2 and row.meaning is None


def test_a_container_that_cannot_start_is_listed_without_an_exit_code() -> None:
    [row] = triage_namespace(pods("create_container_config_error"), NOW)
    assert row.exit_code is None
    assert row.state == "CreateContainerConfigError"


def test_init_containers_and_sidecars_are_triaged_too() -> None:
    rows = {
        row.pod: row
        for row in triage_namespace(pods("init_container_failing", "native_sidecar_crashing"), NOW)
    }
    init = rows[load_scenario("init_container_failing").pod_name]
    sidecar = rows[load_scenario("native_sidecar_crashing").pod_name]
    assert (init.container, init.container_kind) == ("migrate", "init")
    assert (sidecar.container, sidecar.container_kind) == ("log-shipper", "sidecar")


def test_order_follows_the_exit_times_not_the_input_order() -> None:
    early, late = pods("app_error_exit1_python", "app_error_exit1_python")
    late["metadata"]["name"] = "accounts-api-late"
    finished = timestamp(early["status"]["containerStatuses"][0]["lastState"]["terminated"]["finishedAt"])
    assert finished is not None
    later = (finished + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    late["status"]["containerStatuses"][0]["lastState"]["terminated"]["finishedAt"] = later
    rows = triage_namespace([early, late], NOW)
    assert [row.pod for row in rows] == ["accounts-api-late", early["metadata"]["name"]]


def test_workload_names_come_from_the_pod_alone() -> None:
    assert workload_ref(load_scenario("exit0_statefulset_restarting").pod) == "StatefulSet/ledger-db-migrate"
    assert workload_ref(load_scenario("exit0_daemonset_restarting").pod) == "DaemonSet/node-tuner"
    assert workload_ref(load_scenario("job_backoff_limit_exceeded").pod) == "CronJob/nightly-invoices"
    assert workload_ref(load_scenario("job_deadline_exceeded").pod) == "Job/reindex-catalog"
    assert workload_ref({"metadata": {}}) is None


# ------------------------------------------------------------------------------- prefix selection


def _replica(name: str, finished: str | None) -> dict[str, Any]:
    pod = copy.deepcopy(load_scenario("app_error_exit1_python").pod)
    pod["metadata"]["name"] = name
    status = pod["status"]["containerStatuses"][0]
    if finished is None:
        status["lastState"] = {}
        status["state"] = {"running": {"startedAt": "2025-06-12T03:00:00Z"}}
    else:
        status["lastState"]["terminated"]["finishedAt"] = finished
    return pod


def test_a_deployment_name_selects_its_pods_most_recently_crashed_first() -> None:
    healthy = _replica("accounts-api-7d9f8-aaaaa", None)
    older = _replica("accounts-api-7d9f8-bbbbb", "2025-06-12T03:10:00Z")
    newer = _replica("accounts-api-7d9f8-ccccc", "2025-06-12T03:20:00Z")
    other = load_scenario("oom_killed_container_limit").pod
    chosen = select_pods_by_prefix([healthy, older, other, newer], "accounts-api")
    assert [p["metadata"]["name"] for p in chosen] == [
        "accounts-api-7d9f8-ccccc",
        "accounts-api-7d9f8-bbbbb",
        "accounts-api-7d9f8-aaaaa",
    ]


def test_a_workload_name_wins_over_a_mere_name_prefix() -> None:
    mine = load_scenario("oom_killed_container_limit").pod
    lookalike = copy.deepcopy(load_scenario("app_error_exit1_python").pod)
    lookalike["metadata"]["name"] = "checkout-api-canary-5d6f7-zzzzz"
    lookalike["metadata"]["ownerReferences"][0]["name"] = "checkout-api-canary-5d6f7"
    lookalike["metadata"]["labels"]["pod-template-hash"] = "5d6f7"
    assert select_pods_by_prefix([lookalike, mine], "checkout-api") == [mine]
    assert select_pods_by_prefix([lookalike, mine], "checkout-api-canary") == [lookalike]


def test_statefulset_cronjob_and_job_names_select_their_pods() -> None:
    sts = load_scenario("exit0_statefulset_restarting").pod
    cron = load_scenario("job_backoff_limit_exceeded").pod
    everything = [s.pod for s in SCENARIOS]
    assert select_pods_by_prefix(everything, "ledger-db-migrate") == [sts]
    assert select_pods_by_prefix(everything, "nightly-invoices") == [cron]
    assert select_pods_by_prefix(everything, "nightly-invoices-29158200") == [cron]


def test_a_pod_name_prefix_is_the_fallback_and_nothing_matches_nothing() -> None:
    everything = [s.pod for s in SCENARIOS]
    pod = load_scenario("go_panic_exit2").pod
    assert select_pods_by_prefix(everything, pod["metadata"]["name"][:-3]) == [pod]
    assert select_pods_by_prefix(everything, "no-such-workload") == []


def test_a_pod_stopping_for_a_rollout_is_not_picked_as_the_crashed_one() -> None:
    """A replica shutting down with 143 during a rollout finished *later* than any crash, but it did
    not crash: the replica that really crashed is diagnosed first."""
    crashed = _replica("accounts-api-7d9f8-bbbbb", "2025-06-12T03:10:00Z")
    stopping = _replica("accounts-api-7d9f8-ddddd", "2025-06-12T03:30:00Z")
    stopping["metadata"]["deletionTimestamp"] = "2025-06-12T03:29:30Z"
    record = stopping["status"]["containerStatuses"][0]["lastState"].pop("terminated")
    record.update(exitCode=143, reason="Error")
    stopping["status"]["containerStatuses"][0]["state"] = {"terminated": record}
    stopping["status"]["containerStatuses"][0]["lastState"] = {}
    chosen = select_pods_by_prefix([stopping, crashed], "accounts-api")
    assert [p["metadata"]["name"] for p in chosen] == ["accounts-api-7d9f8-bbbbb", "accounts-api-7d9f8-ddddd"]
