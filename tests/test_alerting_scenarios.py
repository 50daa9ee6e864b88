"""Whole stories through detect → policy → planner, the way the watcher drives them.

Each test plays the pod updates a real cluster sends for one situation (a rollout, a drain, a crash
loop, a bot restart) and checks what would reach Slack.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.alerting import (
    Action,
    AlertKind,
    AlertPlanner,
    AlertRules,
    Disposition,
    LedgerState,
    Outcome,
    PostRoot,
    PostThreadReply,
    Suppression,
    Termination,
    UpdateRoot,
    assess,
    compact_previous,
    detect_terminations,
)
from bot.render.alert_blocks import alert_blocks, alert_fallback_text
from bot.render.alert_text import CrashAlert, RepeatAlert, alert_text
from tests.test_alerting_pods import (
    T0,
    Pod,
    backoff,
    churn,
    crash_cycle,
    deleting,
    deployment_pod,
    exited,
    job_pod,
    restart_all,
    restarted,
    with_condition,
    with_pod_reason,
    with_restart_rules,
    with_stop_signal,
)


@dataclass
class MiniWatcher:
    """The adapter's loop in miniature: previous pod per uid, classify, plan, collect actions."""

    planner: AlertPlanner = field(default_factory=AlertPlanner)
    rules: AlertRules = field(default_factory=AlertRules)
    channel: str = "#alerts"
    previous: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def see(self, pod: Pod, now: float, *, relist: bool = False) -> None:
        uid = pod["metadata"]["uid"]
        previous = None if relist else self.previous.get(uid)
        terminations = detect_terminations(previous, pod)
        items = assess(
            terminations,
            pod,
            self.rules,
            now=now,
            default_channel=self.channel,
            snoozes=self.planner.state.snoozes,
        )
        plan = self.planner.plan(items, now)
        for action in plan.actions:
            if isinstance(action, PostRoot):
                self.planner.root_posted(action.group, f"{now:.6f}")
        self.actions.extend(plan.actions)
        self.outcomes.extend(plan.outcomes)
        self.previous[uid] = compact_previous(pod)

    def play(self, events: list[Pod], start: float = 0.0, step: float = 1.0) -> None:
        for index, pod in enumerate(events):
            self.see(pod, T0 + start + index * step)

    def posted(self) -> Counter[str]:
        return Counter(type(action).__name__ for action in self.actions)

    def crash_messages(self) -> list[Action]:
        return [
            action
            for action in self.actions
            if isinstance(action, PostRoot | PostThreadReply) and action.group.key.kind is AlertKind.CRASH
        ]

    def suppressed(self) -> Counter[Suppression]:
        return self.planner.accounting.suppressed


def test_rolling_update_kills_are_never_crash_alerts() -> None:
    watcher = MiniWatcher()
    old_pods = [deployment_pod(f"api-old-{index}", template_hash="aaaa1111") for index in range(3)]
    for pod in old_pods:
        watcher.see(pod, T0)
    for index, pod in enumerate(old_pods):
        at = 100 + index * 40
        marked = deleting(pod, at)
        watcher.see(marked, T0 + at)
        # one app handles SIGTERM (143), one exits cleanly, one ignores it and is SIGKILLed after the grace
        code = (143, 0, 137)[index]
        watcher.see(exited(marked, "app", code, at + (31 if code == 137 else 2)), T0 + at + 31)

    assert watcher.crash_messages() == []
    assert watcher.actions == []
    assert watcher.suppressed() == Counter({Suppression.DELETING: 3})


def test_scale_down_and_kubectl_delete_are_never_crash_alerts() -> None:
    watcher = MiniWatcher()
    pod = deployment_pod()
    watcher.play([pod, churn(pod, 5), deleting(pod, 10), exited(deleting(pod, 10), "app", 143, 12)])
    assert watcher.actions == []
    assert watcher.suppressed() == Counter({Suppression.DELETING: 1})


def test_drain_eviction_api_and_scheduler_preemption_are_never_crash_alerts() -> None:
    watcher = MiniWatcher()
    for reason, name in (("EvictionByEvictionAPI", "drained"), ("PreemptionByScheduler", "preempted")):
        pod = deployment_pod(f"api-{name}")
        disrupted = deleting(with_condition(pod, "DisruptionTarget", reason, 50), 50)
        watcher.play([pod, disrupted, exited(disrupted, "app", 137, 82)])
    assert watcher.actions == []
    assert watcher.suppressed() == Counter({Suppression.DISRUPTION_TARGET: 2})


def test_node_shutdown_and_kubelet_preemption_are_never_crash_alerts() -> None:
    watcher = MiniWatcher()
    for reason, name in (("Terminated", "shutdown"), ("Preempting", "preempting")):
        pod = deployment_pod(f"api-{name}")
        stopped = with_pod_reason(pod, reason, "node going away")
        watcher.play([pod, stopped, exited(stopped, "app", 143, 20)])
    assert watcher.actions == []
    assert watcher.suppressed() == Counter({Suppression.NODE_SHUTDOWN: 1, Suppression.PREEMPTED: 1})


def test_a_kubelet_eviction_is_one_eviction_alert_and_no_crash_alert() -> None:
    watcher = MiniWatcher()
    pod = deployment_pod(containers=("app", "proxy"))
    evicted = with_pod_reason(
        with_condition(pod, "DisruptionTarget", "TerminationByKubelet", 50),
        "Evicted",
        "The node was low on resource: memory.",
    )
    both_dead = exited(exited(evicted, "app", 137, 52), "proxy", 143, 52)
    watcher.play([pod, evicted, both_dead])

    assert watcher.crash_messages() == []
    roots = [action for action in watcher.actions if isinstance(action, PostRoot)]
    assert [root.group.key.kind for root in roots] == [AlertKind.EVICTION]
    assert [outcome.disposition for outcome in watcher.outcomes] == [Disposition.ROOT, Disposition.ROOT_COUNT]


def crash_loop(turns: int, code: int = 1) -> list[Pod]:
    events = [deployment_pod()]
    for turn in range(turns):
        events.extend(crash_cycle(events[-1], "app", code, 100 + turn * 120))
        events.append(churn(events[-1], 150 + turn * 120))
    return events


def test_a_crash_loop_is_one_root_then_thread_replies_and_root_updates() -> None:
    watcher = MiniWatcher()
    for index, pod in enumerate(crash_loop(5)):
        watcher.see(pod, T0 + 100 + index * 30)

    assert watcher.posted() == Counter({"PostRoot": 1, "PostThreadReply": 4, "UpdateRoot": 4})
    last_update = [action for action in watcher.actions if isinstance(action, UpdateRoot)][-1]
    assert last_update.count == 5
    assert last_update.latest.restart_count == 4


def test_the_same_events_replayed_or_relisted_never_alert_twice() -> None:
    watcher = MiniWatcher()
    events = crash_loop(3)
    watcher.play(events, start=100, step=30)
    before = list(watcher.actions)

    watcher.play(events, start=1000, step=1)  # watch reconnect replaying from an old resourceVersion
    for pod in events:
        watcher.see(pod, T0 + 2000, relist=True)  # 410 Gone: relist, no previous

    assert watcher.actions == before
    assert sum(1 for outcome in watcher.outcomes if outcome.disposition is not Disposition.DUPLICATE) == 3


def test_a_restarted_bot_resumes_from_the_ledger_without_duplicates_and_in_the_same_thread() -> None:
    first = MiniWatcher()
    events = crash_loop(4)
    first.play(events[:7], start=100, step=30)  # killed mid crash-loop, after two crashes
    assert first.posted()["PostRoot"] == 1
    stored = first.planner.state.to_json()

    second = MiniWatcher(planner=AlertPlanner(state=LedgerState.from_json(stored)))
    second.see(events[6], T0 + 400, relist=True)  # the new leader lists pods: nothing new
    assert second.actions == []
    for index, pod in enumerate(events[7:]):
        second.see(pod, T0 + 420 + index * 30)

    assert second.posted() == Counter({"PostThreadReply": 2, "UpdateRoot": 2})
    replies = [action for action in second.actions if isinstance(action, PostThreadReply)]
    assert all(second.planner.root_ts(reply.group) is not None for reply in replies)


def test_a_crash_that_happened_while_the_bot_was_down_is_alerted_once() -> None:
    first = MiniWatcher()
    events = crash_loop(3)
    first.play(events[:4], start=100, step=30)
    stored = first.planner.state.to_json()

    second = MiniWatcher(planner=AlertPlanner(state=LedgerState.from_json(stored)))
    second.see(events[-1], T0 + 900, relist=True)  # two more crashes happened; only the last is visible

    assert second.posted() == Counter({"PostThreadReply": 1, "UpdateRoot": 1})


def test_a_failed_job_pod_is_one_alert_and_a_successful_one_is_none() -> None:
    watcher = MiniWatcher()
    failed = job_pod("migrate-aaaaa")
    succeeded = job_pod("migrate-bbbbb")
    watcher.play([failed, exited(failed, "main", 1, 30), succeeded, exited(succeeded, "main", 0, 40)])

    assert watcher.posted() == Counter({"PostRoot": 1})
    assert watcher.suppressed() == Counter({Suppression.EXIT_ZERO: 1})


def test_an_exit_zero_loop_in_a_deployment_is_reported_as_completed_too_often() -> None:
    watcher = MiniWatcher()
    watcher.play(crash_loop(4, code=0), start=100, step=30)

    roots = [action for action in watcher.actions if isinstance(action, PostRoot)]
    assert [root.group.key.kind for root in roots] == [AlertKind.COMPLETED_TOO_OFTEN]
    assert watcher.posted()["PostThreadReply"] == 1
    assert watcher.suppressed() == Counter({Suppression.EXIT_ZERO: 2})


def test_a_crash_just_before_a_delete_is_still_reported() -> None:
    watcher = MiniWatcher()
    pod = deployment_pod()
    crashed = backoff(exited(pod, "app", 139, 60), "app")
    removed = deleting(restarted(crashed, "app", 70), 600)
    watcher.play([pod, removed], start=700)

    assert [type(action).__name__ for action in watcher.actions] == ["PostRoot"]


# --- termination semantics of Kubernetes 1.33–1.35 (issue 9) ---------------------------------------------


def _roots(watcher: MiniWatcher) -> list[Termination]:
    return [action.termination for action in watcher.actions if isinstance(action, PostRoot)]


def test_a_restart_the_rule_asked_for_alerts_labelled_by_default() -> None:
    watcher = MiniWatcher()
    pod = with_restart_rules(job_pod(), "main", codes=(42,))
    watcher.play([pod, *crash_cycle(pod, "main", 42, 60)])
    roots = _roots(watcher)
    assert len(roots) == 1
    assert roots[0].restart_rule == "restartPolicyRules[0]: Restart on exit code In [42]"
    assert roots[0].rule_names_code


def test_alert_on_rule_restarts_off_silences_exactly_the_listed_codes() -> None:
    rules = AlertRules.build(alert_on_rule_restarts=False)
    listed = MiniWatcher(rules=rules)
    pod = with_restart_rules(job_pod(), "main", codes=(42,))
    listed.play([pod, *crash_cycle(pod, "main", 42, 60)])
    assert listed.actions == []
    assert listed.suppressed() == Counter({Suppression.RULE_RESTART: 1})

    other_code = MiniWatcher(rules=rules)
    other_code.play([pod, *crash_cycle(pod, "main", 1, 60)])
    assert len(_roots(other_code)) == 1, "exit 1 is not listed: the kubelet did not restart on request"


def test_a_not_in_rule_is_a_catch_all_retry_and_still_alerts_with_the_setting_off() -> None:
    watcher = MiniWatcher(rules=AlertRules.build(alert_on_rule_restarts=False))
    pod = with_restart_rules(job_pod(), "main", codes=(0,), operator="NotIn")
    watcher.play([pod, *crash_cycle(pod, "main", 3, 60)])
    roots = _roots(watcher)
    assert len(roots) == 1 and roots[0].restart_rule is not None and not roots[0].rule_names_code


def _trainer_pod() -> Pod:
    pod = deployment_pod(
        "trainer-5f6c7d8e9-abcde", deployment="trainer", containers=("trainer", "loader", "sync")
    )
    return with_restart_rules(
        pod, "trainer", codes=(88,), action="RestartAllContainers", restart_policy="Always"
    )


def test_restart_all_containers_is_one_alert_for_the_container_that_triggered_it() -> None:
    watcher = MiniWatcher()
    pod = _trainer_pod()
    watcher.play([pod, *restart_all(pod, "trainer", 88, 60)])
    roots = _roots(watcher)
    assert [root.container for root in roots] == ["trainer"]
    assert "RestartAllContainers" in (roots[0].restart_rule or "")
    assert watcher.suppressed() == Counter({Suppression.RESTARTED_WITH_POD: 2})


def test_restart_all_seen_only_as_rising_restart_counts_is_still_one_alert() -> None:
    watcher = MiniWatcher()
    pod = _trainer_pod()
    events = restart_all(pod, "trainer", 88, 60, keep_records=False)
    # the watcher misses the intermediate updates: it sees the trigger's exit, then everything restarted
    watcher.play([pod, events[0], events[3], events[4]])
    assert [root.container for root in _roots(watcher)] == ["trainer"]
    assert watcher.suppressed() == Counter({Suppression.RESTARTED_WITH_POD: 2})


def test_a_later_crash_of_another_container_after_a_restart_all_is_its_own_alert() -> None:
    watcher = MiniWatcher()
    pod = _trainer_pod()
    events = restart_all(pod, "trainer", 88, 60)
    later = crash_cycle(events[-1], "loader", 1, 600)
    watcher.play([pod, *events, *later])
    assert [root.container for root in _roots(watcher)] == ["trainer", "loader"]


def test_the_stop_a_custom_stop_signal_asked_for_is_not_a_crash_and_a_137_after_it_is_an_overrun() -> None:
    watcher = MiniWatcher()
    for name, code in (("api-usr1-a", 138), ("api-usr1-b", 137)):
        pod = with_stop_signal(deployment_pod(name), "app", "SIGUSR1")
        marked = deleting(pod, 100)
        watcher.play([pod, marked, exited(marked, "app", code, 102 if code == 138 else 131)])
    assert watcher.actions == []
    assert watcher.suppressed() == Counter({Suppression.REQUESTED_STOP: 1, Suppression.DELETING: 1})


def test_exit_128_plus_the_stop_signal_without_a_deletion_is_a_crash() -> None:
    watcher = MiniWatcher()
    pod = with_stop_signal(deployment_pod(), "app", "SIGUSR1")
    watcher.play([pod, *crash_cycle(pod, "app", 138, 60)])
    assert len(_roots(watcher)) == 1


def test_the_alert_says_the_restart_was_requested_by_the_spec_on_every_surface() -> None:
    """What the channel sees: the header, the fallback text, the facts and a repeat in the thread."""
    watcher = MiniWatcher()
    pod = with_restart_rules(job_pod(), "main", codes=(42,))
    watcher.play([pod, *crash_cycle(pod, "main", 42, 60)])
    [root] = _roots(watcher)
    alert = CrashAlert(termination=root, kind=AlertKind.CRASH)
    assert "restart requested by its spec" in alert_text(alert)
    assert "restartPolicyRules[0]: Restart on exit code In [42]" in alert_text(alert)
    assert "restart requested by its spec" in alert_fallback_text(alert)
    shown = json.dumps(alert_blocks(alert))
    assert "restart requested by its spec" in shown and "In [42]" in shown
    assert "restart requested by its spec" in alert_text(RepeatAlert(termination=root, kind=AlertKind.CRASH))
