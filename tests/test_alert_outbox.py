"""The outbox: planned Slack actions that survive the process, in order, once.

Actions come from the real planner fed with terminations detected on kubelet-shaped pods; the ledger
round trip is the JSON the ConfigMap stores. What matters to users: a planned alert is never lost (it is
in the stored ledger before it is sent), never sent twice (a sent entry cannot come back through a
merge with an older copy), sent in order per channel, and a flood of repeats cannot grow the ledger
without bound while every crash stays counted in its root.
"""

from __future__ import annotations

import json
from dataclasses import replace

from bot.alerting import (
    AlertPlanner,
    AlertRules,
    LedgerState,
    PlannerConfig,
    PostRoot,
    PostThreadReply,
    UpdateRoot,
    assess,
    detect_terminations,
)
from bot.alerting.actions import Action
from bot.alerting.outbox import Outbox, action_from_record, action_to_record
from tests.test_alerting_pods import T0, backoff, deployment_pod, exited, restarted

NOW = T0 + 3600


def crash_loop(
    planner: AlertPlanner, turns: int, *, channel: str = "#alerts", name: str = "api-1"
) -> list[Action]:
    """`turns` crashes of one pod (one every 30 s), planned; returns every action in order."""
    pod = deployment_pod(f"api-7d9f8c6b5-{name}", uid=f"uid-{name}")
    previous = None
    actions: list[Action] = []
    for turn in range(turns):
        at = 60.0 + 30 * turn
        pod = restarted(backoff(exited(pod, "app", 1, at), "app"), "app", at + 5)
        found = detect_terminations(previous, pod)
        previous = pod
        items = assess(found, pod, AlertRules(), now=NOW + at, default_channel=channel)
        actions.extend(planner.plan(items, NOW + at).actions)
    return actions


def test_records_round_trip_through_the_ledger_json() -> None:
    planner = AlertPlanner()
    actions = crash_loop(planner, 3)
    assert {type(action) for action in actions} == {PostRoot, PostThreadReply, UpdateRoot}
    for action in actions:
        assert action_from_record(action_to_record(action)) == action

    outbox = Outbox()
    outbox.add(planner.state, actions, NOW)
    restored = LedgerState.from_json(planner.state.to_json())
    assert [entry.action for entry in Outbox().pending(restored)] == [
        entry.action for entry in outbox.pending(planner.state)
    ]


def test_the_newer_kubernetes_fields_survive_the_ledger() -> None:
    """An alert posted from the outbox after a restart still says what the spec asked for: the restart
    rule, the restart-all trigger, the custom stop signal and the restarts nobody watched."""
    planner = AlertPlanner()
    root = next(action for action in crash_loop(planner, 1) if isinstance(action, PostRoot))
    labelled = replace(
        root,
        termination=replace(
            root.termination,
            restart_rule="restartPolicyRules[0]: Restart on exit code In [42]",
            rule_names_code=True,
            restarted_with="app",
            stop_signal="SIGUSR1",
            unwatched_restarts=3,
        ),
    )
    assert action_from_record(json.loads(json.dumps(action_to_record(labelled)))) == labelled
    plain = action_to_record(root)["termination"]
    assert not {"restart_rule", "rule_names_code", "restarted_with", "stop_signal", "unwatched"} & set(plain)


def test_a_newer_root_count_supersedes_a_queued_one_but_not_one_being_sent() -> None:
    planner = AlertPlanner()
    outbox = Outbox()
    first = crash_loop(planner, 2)  # root, reply, count 2
    outbox.add(planner.state, first, NOW)
    update = next(entry for entry in outbox.pending(planner.state) if isinstance(entry.action, UpdateRoot))
    outbox.in_flight.add(update.id)
    pod_two = crash_loop(planner, 1, name="api-2")  # same group: reply + count 3
    result = outbox.add(planner.state, pod_two, NOW + 1)
    assert result.superseded == 0  # count 2 is being sent: it stays

    outbox.in_flight.clear()
    result = outbox.add(planner.state, crash_loop(planner, 1, name="api-3"), NOW + 2)
    assert result.superseded == 2  # counts 2 and 3 were queued: only count 4 remains
    counts = [
        entry.action.count for entry in outbox.pending(planner.state) if isinstance(entry.action, UpdateRoot)
    ]
    assert counts == [4]


def test_a_sent_entry_never_comes_back_through_a_merge() -> None:
    planner = AlertPlanner()
    outbox = Outbox()
    outbox.add(planner.state, crash_loop(planner, 1), NOW)
    older_copy = LedgerState.from_json(planner.state.to_json())
    (root,) = outbox.pending(planner.state)

    outbox.complete(planner.state, root.id, NOW + 1)
    merged = planner.state.merge(older_copy)
    assert merged.outbox == {} and root.id in merged.outbox_done
    assert older_copy.merge(planner.state).to_json() == merged.to_json()  # commutative
    assert outbox.add(merged, [root.action], NOW + 2).added == ()  # planned again: not queued again


def test_entries_go_in_planning_order_one_at_a_time_per_channel() -> None:
    planner = AlertPlanner(PlannerConfig(storm_threshold=50))
    outbox = Outbox()
    outbox.add(planner.state, crash_loop(planner, 2, channel="#a", name="a"), NOW)
    outbox.add(planner.state, crash_loop(planner, 1, channel="#b", name="b"), NOW + 1)

    assert outbox.channels(planner.state) == {"#a", "#b"}
    first = outbox.next_for(planner.state, "#a")
    assert first is not None and isinstance(first.action, PostRoot)
    outbox.in_flight.add(first.id)
    assert outbox.next_for(planner.state, "#a") is None  # the reply waits for its root
    assert outbox.next_for(planner.state, "#b") is not None
    outbox.complete(planner.state, first.id, NOW + 2)
    second = outbox.next_for(planner.state, "#a")
    assert second is not None and isinstance(second.action, PostThreadReply)


def test_an_entry_is_sent_only_once_stored_unless_the_ledger_stays_unwritable() -> None:
    planner = AlertPlanner()
    outbox = Outbox()
    (entry,) = outbox.add(planner.state, crash_loop(planner, 1), NOW).added
    assert not outbox.postable(entry, NOW + 1, unsaved_grace=10)
    assert outbox.postable(entry, NOW + 10, unsaved_grace=10)  # better a possible repeat than silence
    outbox.mark_saved([entry.id])
    assert outbox.postable(entry, NOW + 1, unsaved_grace=10)
    fresh = Outbox()
    fresh.adopt(LedgerState.from_json(planner.state.to_json()))  # what a new leader loads is stored
    assert fresh.postable(entry, NOW, unsaved_grace=10)


def test_a_full_outbox_folds_old_replies_into_their_root_count() -> None:
    planner = AlertPlanner(PlannerConfig(storm_threshold=1000))
    outbox = Outbox(max_entries=6)
    result = outbox.add(planner.state, crash_loop(planner, 10), NOW)

    pending = outbox.pending(planner.state)
    assert len(pending) == 6 and result.folded > 0
    assert isinstance(pending[0].action, PostRoot)
    (update,) = [entry.action for entry in pending if isinstance(entry.action, UpdateRoot)]
    assert update.count == 10  # every crash is still counted in the root


def test_an_unreadable_record_is_reported_not_retried_forever() -> None:
    state = LedgerState(outbox={"x1": {"type": "from-the-future", "at": NOW, "n": 0}})
    outbox = Outbox()
    assert outbox.pending(state) == [] and outbox.unreadable(state) == ["x1"]
    outbox.complete(state, "x1", NOW)
    assert state.outbox == {} and "x1" in state.outbox_done


def test_a_ledger_without_outbox_is_stored_exactly_as_before() -> None:
    assert "outbox" not in LedgerState().to_json()
    state = LedgerState.from_json('{"version": 1}')
    assert state.outbox == {} and state.outbox_done == {}
