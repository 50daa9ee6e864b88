"""The engine's finer behaviour: back-off timing, which container's story is told, and robustness
against pods the API can really return (half-written statuses, missing fields, odd types).
"""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.diagnosis.backoff import back_off, kubelet_delay, parse_go_duration
from bot.diagnosis.engine import diagnose
from bot.diagnosis.evidence import PodEvidence
from bot.diagnosis.facts import last_error_line
from bot.diagnosis.jobs import match_pod_failure_policy
from bot.knowledge import KnowledgeBase
from tests.fixtures.scenarios import all_scenarios, load_scenario

NOW = datetime(2025, 6, 12, 3, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------------- back-off


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("40s", 40), ("1m20s", 80), ("2m40s", 160), ("5m0s", 300), ("1h0m0s", 3600), ("1.5s", 1.5)],
)
def test_go_durations_as_the_kubelet_prints_them(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "m5", "5m0", "five minutes", "5m 0s"])
def test_malformed_durations_are_not_guessed(text: str) -> None:
    assert parse_go_duration(text) is None


def test_the_kubelet_message_states_the_back_off() -> None:
    message = "back-off 2m40s restarting failed container=api pod=api-7d9f_shop(8c1e1c43-5c1e-4a52)"
    assert kubelet_delay(message) == timedelta(seconds=160)
    assert kubelet_delay("container is waiting") is None
    assert kubelet_delay(None) is None


def test_a_back_off_the_kubelet_did_not_state_is_not_guessed() -> None:
    """KEP-5593 makes the cap configurable (and KEP-4603 the curve): no 10 s → 5 min estimate."""
    state = back_off("container is waiting", NOW - timedelta(minutes=10), NOW)
    assert not state.from_kubelet
    assert state.delay is None and state.next_restart_at is None


def test_a_configured_back_off_cap_is_read_from_the_kubelet_message() -> None:
    """A kubelet with crashLoopBackOff.maxContainerRestartPeriod = 1m caps the wait at 1m, not 5m."""
    finished = NOW - timedelta(seconds=20)
    state = back_off("back-off 1m0s restarting failed container=api pod=x_y(z)", finished, NOW)
    assert state.delay == timedelta(minutes=1)
    assert state.next_restart_in == timedelta(seconds=40)


def test_next_restart_is_due_a_back_off_after_the_last_exit() -> None:
    finished = NOW - timedelta(seconds=100)
    state = back_off("back-off 5m0s restarting failed container=api pod=x_y(z)", finished, NOW)
    assert state.from_kubelet
    assert state.next_restart_at == finished + timedelta(minutes=5)
    assert state.next_restart_in == timedelta(seconds=200)


def test_an_overdue_restart_is_any_moment_now() -> None:
    state = back_off(
        "back-off 40s restarting failed container=api pod=x_y(z)", NOW - timedelta(minutes=10), NOW
    )
    assert state.from_kubelet
    assert state.delay == timedelta(seconds=40)
    assert state.next_restart_in == timedelta(0)


def test_crash_looping_container_reports_its_back_off(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("oom_killed_container_limit")
    diagnosis = diagnose(scenario.evidence(), knowledge_base, scenario.captured_at)
    report = diagnosis.containers[0]
    assert report.back_off is not None
    assert report.back_off.from_kubelet and report.back_off.delay == timedelta(minutes=5)
    finished = report.last_termination.finished_at if report.last_termination else None
    assert finished is not None
    assert report.back_off.next_restart_at == finished + timedelta(minutes=5)
    assert any(line.startswith("CrashLoopBackOff:") for line in diagnosis.verdict.evidence)


# ------------------------------------------------------------------------- which story is told


def test_an_init_container_failure_is_told_even_when_another_container_failed_later(
    knowledge_base: KnowledgeBase,
) -> None:
    scenario = load_scenario("init_container_failing")
    pod = copy.deepcopy(scenario.pod)
    later = "2025-06-12T03:40:00Z"
    pod["status"]["containerStatuses"][0]["lastState"] = {
        "terminated": {"exitCode": 1, "reason": "Error", "startedAt": later, "finishedAt": later}
    }
    diagnosis = diagnose(PodEvidence(pod=pod, events=scenario.events), knowledge_base, scenario.captured_at)
    assert diagnosis.verdict.cause == "init_container_failed"
    assert diagnosis.verdict.container == "migrate"


def test_the_most_recent_crash_is_told_among_regular_containers(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("app_error_exit1_python")
    pod = copy.deepcopy(scenario.pod)
    crashed = copy.deepcopy(pod["status"]["containerStatuses"][0])
    crashed["name"] = "sidecar-proxy"
    crashed["lastState"]["terminated"].update(exitCode=139, finishedAt="2025-06-12T03:29:59Z")
    pod["spec"]["containers"].append({"name": "sidecar-proxy", "image": "envoyproxy/envoy:v1.30.1"})
    pod["status"]["containerStatuses"].append(crashed)
    diagnosis = diagnose(PodEvidence(pod=pod), knowledge_base, scenario.captured_at)
    assert diagnosis.verdict.container == "sidecar-proxy"
    assert diagnosis.verdict.cause == "segfault"


def test_a_completed_job_pod_is_not_a_failure(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("job_backoff_limit_exceeded")
    pod = copy.deepcopy(scenario.pod)
    record = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    record.update(exitCode=0, reason="Completed")
    pod["status"]["phase"] = "Succeeded"
    diagnosis = diagnose(PodEvidence(pod=pod), knowledge_base, scenario.captured_at)
    assert diagnosis.verdict.cause == "completed"
    assert not diagnosis.verdict.is_failure


def test_a_failing_job_pod_is_offered_a_pod_failure_policy(knowledge_base: KnowledgeBase) -> None:
    """The Job has not given up yet (no owner object read): the exit code still suggests onExitCodes."""
    scenario = load_scenario("job_backoff_limit_exceeded")
    evidence = PodEvidence(pod=scenario.pod, log_tails=scenario.current_logs)
    verdict = diagnose(evidence, knowledge_base, scenario.captured_at).verdict
    assert verdict.cause == "app_error"
    assert any("onExitCodes" in step.text for step in verdict.next_steps)


def test_the_verdict_container_log_tail_comes_first(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("native_sidecar_crashing")
    logs = {"api": "GET /cart 200\n", **scenario.logs}
    evidence = PodEvidence(pod=scenario.pod, events=scenario.events, log_tails=logs)
    diagnosis = diagnose(evidence, knowledge_base, scenario.captured_at)
    assert [tail.container for tail in diagnosis.log_tails] == ["log-shipper", "api"]


def test_events_are_deduplicated_by_reason_newest_first(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("image_pull_backoff")
    diagnosis = diagnose(scenario.evidence(), knowledge_base, scenario.captured_at)
    seen = [event.last_seen for event in diagnosis.events]
    assert all(a is not None and b is not None and a >= b for a, b in itertools.pairwise(seen))
    back_offs = [event for event in diagnosis.events if event.reason == "BackOff"]
    assert len(back_offs) == 1
    assert all(event.reason != "Pulling" for event in diagnosis.events), "routine Normal events are noise"


@pytest.mark.parametrize(
    ("log", "line"),
    [
        (
            "[ERROR] Exception in worker\nTraceback (most recent call last):\n"
            "psycopg.OperationalError: connection refused\n[ERROR] Worker failed to boot.",
            "psycopg.OperationalError: connection refused",
        ),
        ("starting\nlistening on :8080\nshutting down", "shutting down"),
        ("ok\ncould not open /data/db.sqlite\nbye", "could not open /data/db.sqlite"),
        ("", None),
    ],
)
def test_the_log_line_that_says_why(log: str, line: str | None) -> None:
    assert last_error_line(log) == line


# ----------------------------------------------------------------------------------- robustness

_JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 400), st.text(max_size=8), st.lists(st.integers(), max_size=2)
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


_SCENARIOS = all_scenarios()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_damaged_pod_still_gets_a_diagnosis(data: st.DataObject, knowledge_base: KnowledgeBase) -> None:
    """Fields missing, null or of the wrong type anywhere in the pod, events or owners: never a crash."""
    scenario = data.draw(st.sampled_from(_SCENARIOS))
    documents = copy.deepcopy([scenario.pod, list(scenario.events), list(scenario.owners)])
    paths = _paths(documents)
    for path in data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=6)):
        parent: Any = documents
        try:
            for step in path[:-1]:
                parent = parent[step]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = data.draw(_JUNK)
        except (KeyError, IndexError, TypeError):
            continue
    pod: dict[str, Any] = documents[0] if isinstance(documents[0], dict) else {}
    events, owners = documents[1], documents[2]
    evidence = PodEvidence(
        pod=pod,
        events=tuple(e for e in events if isinstance(e, dict)) if isinstance(events, list) else (),
        owners=tuple(o for o in owners if isinstance(o, dict)) if isinstance(owners, list) else (),
        log_tails=scenario.logs,
    )
    diagnosis = diagnose(evidence, knowledge_base, scenario.captured_at)
    assert diagnosis.verdict.headline


def test_an_empty_pod_gets_an_answer(knowledge_base: KnowledgeBase) -> None:
    diagnosis = diagnose(PodEvidence(pod={}), knowledge_base, NOW)
    assert diagnosis.verdict.headline
    assert diagnosis.containers == ()


def _deleted_at(pod: dict[str, Any], requested: datetime, grace: int = 30) -> dict[str, Any]:
    deleted = copy.deepcopy(pod)
    deleted["metadata"]["deletionGracePeriodSeconds"] = grace
    deleted["metadata"]["deletionTimestamp"] = (requested + timedelta(seconds=grace)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    return deleted


def test_a_crash_before_the_pod_was_deleted_is_still_a_crash(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("app_error_exit1_python")
    record = scenario.pod["status"]["containerStatuses"][0]["lastState"]["terminated"]
    finished = datetime.fromisoformat(record["finishedAt"])
    after = _deleted_at(scenario.pod, finished + timedelta(minutes=1))
    verdict = diagnose(
        PodEvidence(pod=after, log_tails=scenario.logs), knowledge_base, scenario.captured_at
    ).verdict
    assert (verdict.cause, verdict.is_failure) == ("app_error", True)
    before = _deleted_at(scenario.pod, finished - timedelta(seconds=5))
    verdict = diagnose(
        PodEvidence(pod=before, log_tails=scenario.logs), knowledge_base, scenario.captured_at
    ).verdict
    assert (verdict.cause, verdict.is_failure) == ("normal_shutdown", False)


def test_one_exit_0_restart_is_not_called_a_loop(knowledge_base: KnowledgeBase) -> None:
    scenario = load_scenario("exit0_deployment_restarting")
    pod = copy.deepcopy(scenario.pod)
    status = pod["status"]["containerStatuses"][0]
    status["restartCount"] = 1
    status["state"] = {"running": {"startedAt": status["lastState"]["terminated"]["finishedAt"]}}
    verdict = diagnose(
        PodEvidence(pod=pod, owners=scenario.owners), knowledge_base, scenario.captured_at
    ).verdict
    assert verdict.cause == "completed_under_controller"
    assert verdict.confidence == "medium"
    assert "forever" not in verdict.headline


@pytest.mark.parametrize("separator", ["\n", "\r", "\r\n", "\x0b", "\u2028"])
def test_log_lines_are_read_the_same_whatever_ends_them(
    knowledge_base: KnowledgeBase, separator: str
) -> None:
    """The whole-text prefilter of the log rules must not miss a line that only `splitlines` sees as
    a line (a runtime writing `\\r` or a Unicode separator): `^MemoryError` still starts a line there."""
    scenario = load_scenario("app_error_exit1_python")
    container = scenario.pod["status"]["containerStatuses"][0]["name"]
    log = separator.join(
        ["Traceback (most recent call last):", '  File "/app/main.py", line 3', "MemoryError"]
    )
    evidence = PodEvidence(
        pod=scenario.pod, events=scenario.events, owners=scenario.owners, log_tails={container: log}
    )
    verdict = diagnose(evidence, knowledge_base, scenario.captured_at).verdict
    assert verdict.cause == "runtime_heap_oom", verdict.headline
    assert "Python" in verdict.headline


def test_a_pod_level_limit_without_a_container_limit_is_a_pod_oom_not_a_node_oom(
    knowledge_base: KnowledgeBase,
) -> None:
    """Issue 9's report: OOMKilled under `spec.resources` alone was called a node OOM."""
    scenario = load_scenario("oom_pod_level_limit")
    verdict = diagnose(scenario.evidence(), knowledge_base, scenario.captured_at).verdict
    assert verdict.cause == "pod_oom"
    assert "node ran out of memory" not in verdict.headline
    assert any("spec.resources.limits.memory" in step.text for step in verdict.next_steps)


def test_the_resized_limit_is_the_one_in_force(knowledge_base: KnowledgeBase) -> None:
    """Issue 9's report: a container resized from 64Mi to 192Mi was said to hit 64Mi."""
    scenario = load_scenario("oom_resized_in_place")
    diagnosis = diagnose(scenario.evidence(), knowledge_base, scenario.captured_at)
    assert "192Mi" in diagnosis.verdict.headline and "64Mi)" not in diagnosis.verdict.headline
    report = diagnosis.containers[0]
    assert (report.memory_limit, report.memory_limit_source, report.spec_memory_limit) == (
        "192Mi",
        "status",
        "64Mi",
    )


def test_qos_is_the_status_s_and_else_computed_from_pod_level_resources(
    knowledge_base: KnowledgeBase,
) -> None:
    scenario = load_scenario("oom_pod_level_limit")
    assert diagnose(scenario.evidence(), knowledge_base, scenario.captured_at).qos_class == "Burstable"
    pod = copy.deepcopy(scenario.pod)
    del pod["status"]["qosClass"]
    pod["spec"]["resources"]["requests"] = dict(pod["spec"]["resources"]["limits"])
    evidence = PodEvidence(pod=pod, events=scenario.events, owners=scenario.owners)
    assert diagnose(evidence, knowledge_base, scenario.captured_at).qos_class == "Guaranteed"
    pod["status"]["qosClass"] = "Burstable"
    evidence = PodEvidence(pod=pod, events=scenario.events, owners=scenario.owners)
    assert diagnose(evidence, knowledge_base, scenario.captured_at).qos_class == "Burstable"


def test_pod_failure_policy_rules_are_tried_in_order_on_conditions_and_exit_codes() -> None:
    scenario = load_scenario("job_pod_failure_policy_failjob")
    rules = scenario.owners[0]["spec"]["podFailurePolicy"]["rules"]
    match = match_pod_failure_policy(rules, scenario.pod)
    assert match is not None and (match.index, match.action) == (1, "FailJob")
    assert match.matched == "exit code 42 of container invoices (In [42])"

    disrupted = copy.deepcopy(scenario.pod)
    disrupted["status"]["conditions"].append(
        {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}
    )
    first = match_pod_failure_policy(rules, disrupted)
    assert first is not None and (first.index, first.action) == (0, "Ignore")
    assert "not counted against the back-off limit" in first.outcome

    other_code = copy.deepcopy(scenario.pod)
    other_code["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] = 1
    assert match_pod_failure_policy(rules, other_code) is None
