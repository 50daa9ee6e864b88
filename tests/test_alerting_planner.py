"""The planner: one root per problem, repeats in its thread, storms as one digest, nothing twice or lost."""

from __future__ import annotations

from collections import Counter

from bot.alerting import (
    Action,
    AlertKind,
    AlertPlanner,
    ContainerKind,
    Disposition,
    LedgerState,
    PlannerConfig,
    PostDigest,
    PostRoot,
    PostThreadReply,
    RecordSource,
    RoutedTermination,
    Suppression,
    Termination,
    UpdateDigest,
    UpdateRoot,
    Verdict,
    Workload,
)
from bot.alerting.ledger_state import Snooze
from tests.test_alerting_pods import T0, ts

CRASH = Verdict.alert(AlertKind.CRASH)


def crash(
    at: float,
    *,
    namespace: str = "shop",
    workload: str = "api",
    container: str = "app",
    code: int = 1,
    pod: str = "api-7d9f8c6b5-x2x9z",
    kind: Verdict = CRASH,
    channel: str | None = "#alerts",
) -> RoutedTermination:
    """A termination that finished at `T0 + at` (the key is unique per pod, container and second)."""
    uid = f"uid-{namespace}-{pod}"
    termination = Termination(
        key=f"{uid}/{container}/{ts(at)}",
        namespace=namespace,
        pod=pod,
        uid=uid,
        container=container,
        container_kind=ContainerKind.MAIN,
        exit_code=code,
        signal=None,
        reason="Error",
        message=None,
        started_at=ts(at - 5),
        finished_at=ts(at),
        restart_count=0,
        node="node-1",
        workload=Workload("Deployment", workload),
        source=RecordSource.STATE,
    )
    return RoutedTermination(termination, kind, channel)


def kinds(actions: tuple[Action, ...] | list[Action]) -> list[str]:
    return [type(action).__name__ for action in actions]


def test_a_crash_posts_exactly_one_root() -> None:
    planner = AlertPlanner()
    plan = planner.plan([crash(10)], now=T0 + 11)

    assert kinds(plan.actions) == ["PostRoot"]
    [root] = plan.actions
    assert isinstance(root, PostRoot)
    assert root.group.key.workload == Workload("Deployment", "api")
    assert root.group.key.exit_code == 1
    assert root.channel == "#alerts"
    assert [outcome.disposition for outcome in plan.outcomes] == [Disposition.ROOT]


def test_repeats_go_to_the_thread_and_edit_the_root_once_per_plan() -> None:
    planner = AlertPlanner()
    [root] = planner.plan([crash(10)], now=T0 + 11).actions
    assert isinstance(root, PostRoot)
    planner.root_posted(root.group, "1700000000.000100")

    plan = planner.plan([crash(70), crash(130, pod="api-7d9f8c6b5-other")], now=T0 + 131)

    assert kinds(plan.actions) == ["PostThreadReply", "PostThreadReply", "UpdateRoot"]
    update = plan.actions[-1]
    assert isinstance(update, UpdateRoot)
    assert (update.count, update.pod_count, update.last_seen) == (3, 2, T0 + 130)
    assert update.group == root.group
    assert planner.root_ts(update.group) == "1700000000.000100"


def test_different_exit_codes_or_containers_are_different_problems() -> None:
    planner = AlertPlanner()
    plan = planner.plan([crash(10), crash(11, code=137), crash(12, container="worker")], now=T0 + 13)
    assert kinds(plan.actions) == ["PostRoot", "PostRoot", "PostRoot"]


def test_after_the_group_window_a_new_root_opens_and_old_replies_keep_their_thread() -> None:
    planner = AlertPlanner(PlannerConfig(group_window_seconds=1800))
    [first_root] = planner.plan([crash(10)], now=T0 + 10).actions
    assert isinstance(first_root, PostRoot)
    reply_plan = planner.plan([crash(600)], now=T0 + 600)
    planner.root_posted(first_root.group, "111.1")

    later = planner.plan([crash(1900)], now=T0 + 1900)

    # The incident still burns: the old root's last edit says it continues in the new one.
    assert kinds(later.actions) == ["UpdateRoot", "PostRoot"]
    continued, second_root = later.actions
    assert isinstance(continued, UpdateRoot) and continued.group == first_root.group
    assert continued.incident is not None and continued.incident.phase == "continued"
    assert isinstance(second_root, PostRoot)
    assert second_root.group != first_root.group
    queued_reply = reply_plan.actions[0]
    assert isinstance(queued_reply, PostThreadReply)
    assert planner.root_ts(queued_reply.group) == "111.1"
    assert planner.root_ts(second_root.group) is None


def test_the_same_termination_is_never_planned_twice_even_after_a_restart() -> None:
    planner = AlertPlanner()
    first = planner.plan([crash(10), crash(10)], now=T0 + 11)
    assert [outcome.disposition for outcome in first.outcomes] == [Disposition.ROOT, Disposition.DUPLICATE]

    restored = AlertPlanner(state=LedgerState.from_json(planner.state.to_json()))
    again = restored.plan([crash(10)], now=T0 + 500)

    assert again.actions == ()
    assert [outcome.disposition for outcome in again.outcomes] == [Disposition.DUPLICATE]


def test_terminations_older_than_the_ledger_remembers_are_stale_not_alerted() -> None:
    planner = AlertPlanner()
    plan = planner.plan([crash(10)], now=T0 + 2 * 86_400)
    assert plan.actions == ()
    assert [outcome.disposition for outcome in plan.outcomes] == [Disposition.STALE]


def test_suppressed_terminations_are_counted_once_by_reason() -> None:
    planner = AlertPlanner()
    deleting = Verdict.suppressed(Suppression.DELETING)
    plan = planner.plan(
        [crash(10, kind=deleting), crash(10, kind=deleting), crash(11, kind=deleting)], now=T0 + 12
    )

    assert plan.actions == ()
    assert planner.accounting.suppressed == Counter({Suppression.DELETING: 2})
    assert planner.accounting.dispositions[Disposition.DUPLICATE] == 1
    assert planner.accounting.balanced()


def test_evictions_group_per_workload_and_count_each_pod_once() -> None:
    eviction = Verdict.alert(AlertKind.EVICTION)
    planner = AlertPlanner()
    plan = planner.plan(
        [
            crash(10, kind=eviction, container="app", code=137),
            crash(10, kind=eviction, container="proxy", code=143),
            crash(12, kind=eviction, pod="api-7d9f8c6b5-b", code=137),
        ],
        now=T0 + 13,
    )

    assert kinds(plan.actions) == ["PostRoot", "PostThreadReply", "UpdateRoot"]
    assert [outcome.disposition for outcome in plan.outcomes] == [
        Disposition.ROOT,
        Disposition.ROOT_COUNT,
        Disposition.REPLY,
    ]
    update = plan.actions[-1]
    assert isinstance(update, UpdateRoot)
    assert (update.count, update.pod_count) == (3, 2)
    assert update.group.key.kind is AlertKind.EVICTION


def storm(count: int, namespaces: int, *, start: float, spread: float) -> list[RoutedTermination]:
    return [
        crash(
            start + spread * index / count,
            namespace=f"ns-{index % namespaces:02d}",
            workload=f"svc-{index % 7}",
            code=(1, 137, 139)[index % 3],
            pod=f"pod-{index}",
            channel="#alerts" if index % namespaces < 40 else "#platform",
        )
        for index in range(count)
    ]


def test_a_storm_of_1000_crashes_becomes_digests_with_every_crash_accounted_for() -> None:
    planner = AlertPlanner()
    actions: list[Action] = []
    items = storm(1000, 50, start=100, spread=10)
    for item in items:  # the watcher hands them in one by one as events arrive
        finished = item.termination.finished_epoch
        assert finished is not None
        actions.extend(planner.plan([item], now=finished).actions)
    actions.extend(planner.tick(T0 + 200))

    per_kind = Counter(kinds(actions))
    assert per_kind["PostRoot"] + per_kind["PostThreadReply"] <= 2 * 10
    assert per_kind["PostDigest"] == 2
    assert planner.accounting.received == 1000
    assert planner.accounting.balanced()
    messages = planner.accounting.dispositions
    in_messages = messages[Disposition.ROOT] + messages[Disposition.REPLY] + messages[Disposition.ROOT_COUNT]
    assert in_messages + messages[Disposition.DIGEST] == 1000
    final = {
        action.digest.channel: action
        for action in actions
        if isinstance(action, UpdateDigest) and action.calm
    }
    assert set(final) == {"#alerts", "#platform"}
    assert sum(update.total for update in final.values()) == messages[Disposition.DIGEST]
    for update in final.values():
        assert sum(row.count for row in update.rows) == update.total
    assert not planner.storming("#alerts")


def test_digest_edits_are_throttled_and_flushed_by_tick() -> None:
    config = PlannerConfig(storm_threshold=3, digest_update_seconds=10, digest_quiet_seconds=60)
    planner = AlertPlanner(config)
    actions: list[Action] = []
    for second in range(8):
        actions.extend(planner.plan([crash(100 + second, pod=f"p{second}")], now=T0 + 100 + second).actions)

    assert kinds(actions).count("PostDigest") == 1
    assert kinds(actions).count("UpdateDigest") == 0
    # The storm began with the 4th crash (T0+103); its digest may be edited again 10 s later.
    assert planner.tick(T0 + 112) == []
    [flush] = planner.tick(T0 + 113)
    assert isinstance(flush, UpdateDigest)
    assert (flush.calm, flush.total) == (False, 5)
    assert planner.tick(T0 + 111) == []


def test_a_digest_shows_its_final_count_soon_after_the_burst_ends() -> None:
    planner = AlertPlanner(PlannerConfig(storm_threshold=3, digest_update_seconds=10))
    for second in range(8):  # crashes every second until T0+107, then nothing
        planner.plan([crash(100 + second, pod=f"p{second}")], now=T0 + 100 + second)

    assert planner.tick(T0 + 108) == []  # still busy a second ago: the throttle holds
    [flush] = planner.tick(T0 + 109)  # quiet for 2 s: the final count now, not at T0+113
    assert isinstance(flush, UpdateDigest) and (flush.calm, flush.total) == (False, 5)
    assert planner.tick(T0 + 110) == []  # nothing new, nothing edited


def test_a_storm_ends_only_after_the_rate_stays_low_then_alerts_resume() -> None:
    planner = AlertPlanner(PlannerConfig(storm_threshold=4, storm_window_seconds=60))
    for second in range(6):
        planner.plan([crash(100 + second, pod=f"p{second}")], now=T0 + 100 + second)
    assert planner.storming("#alerts")

    pending = planner.tick(T0 + 150)  # the burst is still inside the trailing minute
    assert [update.calm for update in pending if isinstance(update, UpdateDigest)] == [False]
    assert planner.storming("#alerts")
    ending = planner.tick(T0 + 164)
    assert len(ending) == 1 and isinstance(ending[0], UpdateDigest) and ending[0].calm
    assert not planner.storming("#alerts")

    resumed = planner.plan([crash(170, workload="web")], now=T0 + 170)
    assert kinds(resumed.actions) == ["PostRoot"]


def test_a_new_alert_in_a_calmed_channel_closes_the_digest_first() -> None:
    planner = AlertPlanner(PlannerConfig(storm_threshold=2, storm_window_seconds=60))
    for second in range(3):
        planner.plan([crash(100 + second, pod=f"p{second}")], now=T0 + 100 + second)
    plan = planner.plan([crash(300, workload="web")], now=T0 + 300)
    assert kinds(plan.actions) == ["UpdateDigest", "PostRoot"]


def test_digest_callbacks_let_updates_find_the_message() -> None:
    planner = AlertPlanner(PlannerConfig(storm_threshold=1))
    planner.plan([crash(100, pod="a")], now=T0 + 100)
    [post] = [
        a for a in planner.plan([crash(101, pod="b")], now=T0 + 101).actions if isinstance(a, PostDigest)
    ]
    planner.digest_posted(post.digest, "222.2")
    [closing] = planner.tick(T0 + 400)
    assert isinstance(closing, UpdateDigest)
    assert closing.digest == post.digest
    assert planner.digest_ts(closing.digest) == "222.2"


def test_digest_rows_beyond_the_cap_are_summed_in_an_overflow_row() -> None:
    from bot.alerting import LedgerLimits

    planner = AlertPlanner(PlannerConfig(storm_threshold=1, limits=LedgerLimits(max_digest_rows=3)))
    for index in range(10):
        planner.plan([crash(100 + index, workload=f"w{index}", pod=f"p{index}")], now=T0 + 100 + index)
    [final] = planner.tick(T0 + 1000)
    assert isinstance(final, UpdateDigest)
    assert final.total == 9
    assert [row.is_overflow for row in final.rows] == [False, False, False, True]
    assert final.rows[-1].count == 6


def test_snooze_is_stored_in_the_ledger_for_the_policy() -> None:
    planner = AlertPlanner()
    key = planner.snooze("shop", Workload("Deployment", "api"), until=T0 + 3600, set_by="U1", set_at=T0)
    assert planner.state.snoozes == {key: Snooze(until=T0 + 3600, set_by="U1", set_at=T0)}
    assert planner.snoozed_until("shop", Workload("Deployment", "api"), T0) == T0 + 3600
    assert planner.snoozed_until("shop", Workload("Deployment", "api"), T0 + 3601) is None
    restored = LedgerState.from_json(planner.state.to_json())
    assert restored.snoozes == planner.state.snoozes
    assert planner.unsnooze("shop", Workload("Deployment", "api"), now=T0 + 60, by="U2")
    assert planner.snoozed_until("shop", Workload("Deployment", "api"), T0 + 61) is None
    assert planner.state.snoozes[key].lifted, "a lift is kept as a tombstone, so no merge brings it back"
    assert not planner.unsnooze("shop", Workload("Deployment", "api"), now=T0 + 62)


def test_a_crash_routed_to_several_surfaces_is_planned_once_per_destination_and_counted_once() -> None:
    planner = AlertPlanner()
    first = crash(0)
    fanned = RoutedTermination(
        first.termination, first.verdict, "#alerts", ("#alerts", "pagerduty:default", "teams:ops")
    )
    plan = planner.plan([fanned], T0 + 1)
    assert kinds(plan.actions) == ["PostRoot", "PostRoot", "PostRoot"]
    assert [action.channel for action in plan.actions] == ["#alerts", "pagerduty:default", "teams:ops"]
    assert planner.accounting.received == 1 and planner.accounting.balanced()
    # The same crash again (a relist) is a duplicate for every destination at once.
    assert planner.plan([fanned], T0 + 2).actions == ()
    # A repeat threads (and counts) in each destination's own group.
    second = crash(5)
    repeat = RoutedTermination(second.termination, second.verdict, "#alerts", fanned.destinations)
    plan = planner.plan([repeat], T0 + 6)
    assert kinds(plan.actions).count("PostThreadReply") == 3
    assert kinds(plan.actions).count("UpdateRoot") == 3


def test_a_destination_in_a_storm_does_not_turn_the_others_into_digests() -> None:
    planner = AlertPlanner(PlannerConfig(storm_threshold=3))
    for index in range(6):  # a storm in #alerts only: each crash also goes to its own PagerDuty service
        item = crash(index, workload=f"w{index}", pod=f"w{index}-abc-xyz")
        routed = RoutedTermination(
            item.termination, item.verdict, "#alerts", ("#alerts", f"pagerduty:s{index}")
        )
        plan = planner.plan([routed], T0 + index)
        assert any(
            a.channel == f"pagerduty:s{index}" and type(a).__name__ == "PostRoot" for a in plan.actions
        )
    assert planner.storming("#alerts")
    assert not planner.storming("pagerduty:s5")
