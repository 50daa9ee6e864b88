"""Policy: real crashes alert; rollouts, deletes, drains, preemption and node shutdowns never do."""

from __future__ import annotations

import itertools

import pytest

from bot.alerting import (
    AlertKind,
    AlertRules,
    SelectorError,
    Suppression,
    Verdict,
    Workload,
    assess,
    classify,
    detect_terminations,
    route_channel,
    snooze_key,
)
from bot.alerting.termination import Termination
from tests.test_alerting_pods import (
    T0,
    Pod,
    backoff,
    crash_cycle,
    deleting,
    deployment_pod,
    exited,
    job_pod,
    make_pod,
    with_condition,
    with_pod_reason,
)

RULES = AlertRules()
NOW = T0 + 3600


def only(previous: Pod | None, pod: Pod) -> Termination:
    [termination] = detect_terminations(previous, pod)
    return termination


def verdict(previous: Pod | None, pod: Pod, rules: AlertRules = RULES, **kwargs: object) -> Verdict:
    return classify(only(previous, pod), pod, rules, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_a_non_zero_exit_is_a_crash() -> None:
    pod = deployment_pod()
    assert verdict(pod, exited(pod, "app", 1, 60)) == Verdict.alert(AlertKind.CRASH)


@pytest.mark.parametrize("code", [143, 137])
def test_rollout_and_scale_down_kills_are_deletions_not_crashes(code: int) -> None:
    pod = deleting(deployment_pod(), 100)
    killed = exited(pod, "app", code, 110 if code == 143 else 131)
    assert verdict(pod, killed) == Verdict.suppressed(Suppression.DELETING)


def test_a_crash_recorded_before_the_delete_was_requested_is_still_a_crash() -> None:
    failed = exited(job_pod(), "main", 1, 30)
    cleaned_up = deleting(failed, 4000)
    # The bot was away when the Job failed and first sees the pod while it is being cleaned up.
    assert verdict(None, cleaned_up) == Verdict.alert(AlertKind.CRASH)


def test_a_restarted_crash_on_a_pod_being_deleted_is_still_a_crash() -> None:
    cycled = crash_cycle(deployment_pod(), "app", 1, 60)[-1]
    assert verdict(None, deleting(cycled, 100)) == Verdict.alert(AlertKind.CRASH)


def test_kubelet_eviction_is_its_own_alert_kind() -> None:
    pod = with_pod_reason(
        with_condition(deployment_pod(), "DisruptionTarget", "TerminationByKubelet", 50),
        "Evicted",
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi.",
    )
    evicted = exited(pod, "app", 137, 52)
    termination = only(pod, evicted)
    assert classify(termination, evicted, RULES, now=NOW) == Verdict.alert(AlertKind.EVICTION)
    assert termination.pod_reason == "Evicted"
    assert termination.pod_message is not None and "low on resource: memory" in termination.pod_message


@pytest.mark.parametrize(
    "reason", ["EvictionByEvictionAPI", "PreemptionByScheduler", "DeletionByTaintManager", "DeletionByPodGC"]
)
def test_disruption_targets_are_not_crashes(reason: str) -> None:
    pod = deleting(with_condition(deployment_pod(), "DisruptionTarget", reason, 100), 100)
    assert verdict(pod, exited(pod, "app", 143, 105)) == Verdict.suppressed(Suppression.DISRUPTION_TARGET)


def test_kubelet_preemption_is_not_a_crash() -> None:
    pod = with_pod_reason(deployment_pod(), "Preempting", "Preempted in order to admit critical pod")
    assert verdict(pod, exited(pod, "app", 137, 5)) == Verdict.suppressed(Suppression.PREEMPTED)


@pytest.mark.parametrize("reason", ["Terminated", "Shutdown", "NodeShutdown"])
def test_node_shutdown_is_not_a_crash(reason: str) -> None:
    pod = with_pod_reason(
        deployment_pod(), reason, "Pod was terminated in response to imminent node shutdown."
    )
    assert verdict(pod, exited(pod, "app", 143, 5)) == Verdict.suppressed(Suppression.NODE_SHUTDOWN)


def test_exit_zero_of_a_job_is_a_normal_completion() -> None:
    pod = job_pod()
    assert verdict(pod, exited(pod, "main", 0, 30)) == Verdict.suppressed(Suppression.EXIT_ZERO)


def test_exit_zero_that_a_deployment_keeps_restarting_completes_too_often() -> None:
    events = [deployment_pod()]
    for turn in range(3):
        events.extend(crash_cycle(events[-1], "app", 0, 100 + turn * 60))
    verdicts = []
    for previous, pod in itertools.pairwise(events):
        verdicts += [classify(item, pod, RULES, now=NOW) for item in detect_terminations(previous, pod)]
    assert verdicts == [
        Verdict.suppressed(Suppression.EXIT_ZERO),
        Verdict.suppressed(Suppression.EXIT_ZERO),
        Verdict.alert(AlertKind.COMPLETED_TOO_OFTEN),
    ]


def test_exit_zero_after_an_oom_kill_in_the_container_is_a_crash() -> None:
    pod = job_pod()
    assert verdict(pod, exited(pod, "main", 0, 30, reason="OOMKilled")) == Verdict.alert(AlertKind.CRASH)


def test_init_container_success_is_never_an_alert() -> None:
    pod = make_pod("web-0", init_containers=("migrate",), owner=("StatefulSet", "web"))
    [termination] = detect_terminations(None, pod)
    assert classify(termination, pod, RULES, now=NOW) == Verdict.suppressed(Suppression.EXIT_ZERO)


def test_init_container_failure_is_a_crash() -> None:
    pod = make_pod("web-0", init_containers=("migrate",), owner=("StatefulSet", "web"))
    assert verdict(pod, exited(pod, "migrate", 1, 20)) == Verdict.alert(AlertKind.CRASH)


def test_sidecar_stopped_when_the_job_finished_is_not_a_crash() -> None:
    pod = job_pod(sidecars=("proxy",))
    done = exited(pod, "main", 0, 30)
    done["status"]["phase"] = "Succeeded"
    stopped = exited(done, "proxy", 143, 31)
    assert verdict(done, stopped) == Verdict.suppressed(Suppression.SIDECAR_SHUTDOWN)


def test_sidecar_crash_while_the_main_container_runs_is_a_crash() -> None:
    pod = job_pod(sidecars=("proxy",))
    crashed = backoff(exited(pod, "proxy", 139, 20), "proxy")
    assert verdict(pod, crashed) == Verdict.alert(AlertKind.CRASH)


def test_operator_filters_suppress_with_their_own_reason() -> None:
    pod = deployment_pod(namespace="team-a-dev")
    crashed = exited(pod, "app", 3, 60)
    termination = only(pod, crashed)

    def judge(rules: AlertRules = RULES, pod: Pod = crashed, **kwargs: object) -> Verdict:
        return classify(termination, pod, rules, now=NOW, **kwargs)  # type: ignore[arg-type]

    assert judge(AlertRules.build(ignore_namespaces=["*-dev"])) == Verdict.suppressed(
        Suppression.IGNORED_NAMESPACE
    )
    assert judge(AlertRules.build(ignore_exit_codes=[3])) == Verdict.suppressed(Suppression.IGNORED_EXIT_CODE)
    assert judge(AlertRules.build(label_selector="app=web")) == Verdict.suppressed(Suppression.LABEL_SELECTOR)
    assert judge(AlertRules.build(label_selector="app=api")) == Verdict.alert(AlertKind.CRASH)
    annotated = make_pod("x", annotations={"exitcode-bot/ignore": "True"})
    assert judge(pod=annotated) == Verdict.suppressed(Suppression.ANNOTATION)
    assert judge(namespace_annotations={"exitcode-bot/ignore": "true"}) == Verdict.suppressed(
        Suppression.ANNOTATION
    )
    assert judge(namespace_annotations={"exitcode-bot/ignore": "false"}) == Verdict.alert(AlertKind.CRASH)


def test_ignored_exit_codes_do_not_mute_evictions() -> None:
    pod = with_pod_reason(deployment_pod(), "Evicted", "The node was low on resource: ephemeral-storage.")
    rules = AlertRules.build(ignore_exit_codes=[137])
    assert verdict(pod, exited(pod, "app", 137, 5), rules) == Verdict.alert(AlertKind.EVICTION)


def test_a_snoozed_workload_is_suppressed_until_the_snooze_ends() -> None:
    pod = deployment_pod()
    crashed = exited(pod, "app", 1, 60)
    termination = only(pod, crashed)
    snoozes = {snooze_key("shop", Workload("Deployment", "api")): NOW + 60}

    assert classify(termination, crashed, RULES, now=NOW, snoozes=snoozes) == Verdict.suppressed(
        Suppression.SNOOZED
    )
    assert classify(termination, crashed, RULES, now=NOW + 61, snoozes=snoozes) == Verdict.alert(
        AlertKind.CRASH
    )


def test_a_malformed_selector_is_refused_at_startup() -> None:
    with pytest.raises(SelectorError, match="cannot read '=oops'"):
        AlertRules.build(label_selector="app=api,=oops")


def test_routing_precedence_pod_then_namespace_then_map_then_default() -> None:
    pod = deployment_pod(namespace="payments-prod")
    annotated = make_pod("x", namespace="payments-prod", annotations={"exitcode-bot/channel": "#pod-team"})
    namespace_map = {"payments-*": "#payments", "payments-prod": "#payments-prod", "*": "#everything"}

    assert (
        route_channel(annotated, {"exitcode-bot/channel": "#ns-team"}, namespace_map, "#alerts")
        == "#pod-team"
    )
    assert route_channel(pod, {"exitcode-bot/channel": "#ns-team"}, namespace_map, "#alerts") == "#ns-team"
    # First matching glob in the file's order wins: "payments-*" comes before the exact name.
    assert route_channel(pod, None, namespace_map, "#alerts") == "#payments"
    assert route_channel(deployment_pod(namespace="payments-dev"), None, namespace_map, None) == "#payments"
    assert route_channel(deployment_pod(namespace="ops"), None, {"payments-*": "#p"}, "#alerts") == "#alerts"
    assert route_channel(deployment_pod(namespace="ops"), None, None, None) is None


def test_a_malformed_channel_annotation_cannot_inject_a_mention() -> None:
    pod = make_pod("x", annotations={"exitcode-bot/channel": "<!channel> hi"})
    assert route_channel(pod, None, None, "#alerts") == "#alerts"


def test_assess_routes_and_classifies_every_termination_of_a_pod() -> None:
    pod = deployment_pod(containers=("app", "worker"))
    both = exited(exited(pod, "app", 1, 60), "worker", 0, 61)
    items = assess(detect_terminations(pod, both), both, RULES, now=NOW, default_channel="#alerts")
    assert [(item.termination.container, item.verdict.label, item.channel) for item in items] == [
        ("app", "crash", "#alerts"),
        ("worker", "suppressed:exit_zero", "#alerts"),
    ]


ROUTING_CASES = [
    # (namespace_channels in file order, namespace, channel): the first matching glob wins.
    ({"payments-*": "#payments", "payments-prod": "#payments-prod"}, "payments-prod", "#payments"),
    ({"payments-prod": "#payments-prod", "payments-*": "#payments"}, "payments-prod", "#payments-prod"),
    ({"payments-prod": "#payments-prod", "payments-*": "#payments"}, "payments-dev", "#payments"),
    ({"*": "#everything", "shop": "#shop"}, "shop", "#everything"),
    ({"team-?": "#teams", "team-[ab]": "#ab"}, "team-a", "#teams"),
    ({"payments-*": "#payments"}, "shop", None),
]


@pytest.mark.parametrize(("namespace_channels", "namespace", "channel"), ROUTING_CASES)
def test_alert_routing_and_the_config_file_agree_first_matching_glob_wins(
    namespace_channels: dict[str, str], namespace: str, channel: str | None
) -> None:
    """Issue 8 finding 9: one rule, one implementation, the same answer on both paths."""
    from bot.access import BotConfig

    pod = deployment_pod(namespace=namespace)
    config = BotConfig.model_validate({"namespace_channels": namespace_channels})

    assert route_channel(pod, None, namespace_channels, None) == channel
    assert config.alert_channel_for(namespace) == channel
    assert route_channel(pod, None, namespace_channels, "#default") == (channel or "#default")
