"""The ledger: survives a restart byte for byte, stays small, forgets safely, and merges concurrent writes."""

from __future__ import annotations

import json

import pytest

from bot.alerting import (
    AlertPlanner,
    LedgerError,
    LedgerLimits,
    LedgerState,
    PlannerConfig,
    PostRoot,
    Workload,
)
from bot.alerting.incidents import IncidentPhase, IncidentState, revision_key
from bot.alerting.ledger_state import (
    ChannelState,
    DigestState,
    GroupState,
    Owner,
    Snooze,
    key_digest,
    pod_digest,
)
from bot.alerting.outbox import Outbox
from tests.test_alert_backlog import NOW, crash_backlog
from tests.test_alerting_planner import crash, storm
from tests.test_alerting_pods import T0


def busy_planner() -> AlertPlanner:
    """A planner with alerted keys, an open group with a root ts, a running digest and a snooze."""
    planner = AlertPlanner(PlannerConfig(storm_threshold=3))
    [root] = planner.plan([crash(10)], now=T0 + 10).actions
    assert isinstance(root, PostRoot)
    planner.root_posted(root.group, "100.1")
    for index in range(6):
        planner.plan([crash(20 + index, workload="web", pod=f"p{index}")], now=T0 + 20 + index)
    planner.snooze("shop", Workload("Deployment", "api"), until=T0 + 7200)
    return planner


def test_round_trip_is_exact_and_deterministic() -> None:
    state = busy_planner().state
    text = state.to_json()

    restored = LedgerState.from_json(text)

    assert restored.to_json() == text
    assert restored == state
    assert busy_planner().state.to_json() == text
    assert json.loads(text)["version"] == 1


def test_keys_are_forgotten_after_the_retention_and_the_horizon_makes_them_stale() -> None:
    state = LedgerState()
    limits = LedgerLimits(retention_seconds=3600)
    state.record(key_digest("a"), T0, limits)
    state.record(key_digest("b"), T0 + 3000, limits)

    state.advance(T0 + 3700, limits)

    assert not state.knows(key_digest("a"))
    assert state.knows(key_digest("b"))
    assert state.is_stale(T0)
    assert not state.is_stale(T0 + 3000)


def test_the_cap_drops_the_oldest_and_moves_the_horizon_past_them() -> None:
    state = LedgerState()
    limits = LedgerLimits(max_alerted=100)
    for index in range(101):
        state.record(key_digest(str(index)), T0 + index, limits)

    assert len(state.alerted) == 90
    assert not state.knows(key_digest("0"))
    assert state.knows(key_digest("100"))
    assert state.is_stale(T0 + 10)  # a forgotten key can no longer come back as new
    assert not state.is_stale(T0 + 11)


def test_a_full_ledger_stays_well_under_a_configmap_megabyte() -> None:
    limits = LedgerLimits()
    state = LedgerState()
    for index in range(limits.max_alerted):
        state.record(key_digest(f"uid-{index}/container/2026-01-01T00:00:00Z"), T0 + index, limits)
    long_name = "x" * 63
    for index in range(limits.max_groups):
        gid = json.dumps(
            ["#a-long-channel-name", long_name, f"Deployment/{long_name}{index}", long_name, 137, "crash"]
        )
        pods = [pod_digest(f"{index}-{pod}") for pod in range(limits.max_pods_per_group)]
        state.groups[gid] = GroupState(T0, T0, 10**6, "1700000000.000100", pods, 10**6)
        revision = revision_key("r" * 63)  # a label value of the maximum length, as the planner keeps it
        state.set_incident(gid, IncidentState(T0 + 0.123, T0, T0, 10**6, IncidentPhase.FIRING, T0, revision))
    rows = {
        json.dumps([long_name, f"Deployment/{long_name}{row}", 137, "crash"]): [10.0**6, T0]
        for row in range(limits.max_digest_rows)
    }
    for index in range(20):
        state.channels[f"#channel-{index}"] = ChannelState(
            recent=[T0 + i for i in range(11)],
            digest=DigestState(T0, T0, "1700000000.000100", True, dict(rows)),
        )
    for index in range(limits.max_snoozes):
        state.snoozes[f"{long_name}/Deployment/{long_name}{index}"] = Snooze(
            T0 + 86_400.5, "U" * 31, T0 + 0.123456, via="f" * 16
        )
    for index in range(limits.max_owners):
        state.owners[f"C{'0' * 30}:1700000000.{index:06d}"] = Owner("U" * 31, T0 + 0.123456, "f" * 16)

    size = len(state.to_json().encode())

    assert size < 640 * 1024, size


def test_merge_is_a_union_that_keeps_both_writers_work() -> None:
    mine = AlertPlanner()
    theirs = AlertPlanner(state=LedgerState.from_json(mine.state.to_json()))
    [root] = mine.plan([crash(10)], now=T0 + 10).actions
    assert isinstance(root, PostRoot)
    theirs.plan([crash(10)], now=T0 + 10)
    theirs.root_posted(root.group, "1.1")
    mine.plan([crash(20)], now=T0 + 20)
    theirs.plan([crash(30, workload="web")], now=T0 + 30)
    theirs.snooze("shop", Workload("Deployment", "web"), T0 + 600)

    merged = mine.state.merge(theirs.state)

    assert set(merged.alerted) == set(mine.state.alerted) | set(theirs.state.alerted)
    group = merged.groups[root.group.key.id]
    assert (group.count, group.root_ts) == (2, "1.1")
    assert merged.snoozes == theirs.state.snoozes


def test_merge_is_commutative_and_idempotent() -> None:
    a = busy_planner()
    b = AlertPlanner(PlannerConfig(storm_threshold=3), state=LedgerState.from_json(a.state.to_json()))
    for item in storm(40, 5, start=30, spread=5):
        finished = item.termination.finished_epoch
        assert finished is not None
        b.plan([item], now=finished)
    a.plan([crash(40, workload="other")], now=T0 + 40)

    ab = a.state.merge(b.state).to_json()

    assert ab == b.state.merge(a.state).to_json()
    assert LedgerState.from_json(ab).merge(LedgerState.from_json(ab)).to_json() == ab


def test_merge_keeps_the_newer_group_episode() -> None:
    older = LedgerState(groups={"g": GroupState(T0, T0 + 5, 4, "old.ts")})
    newer = LedgerState(groups={"g": GroupState(T0 + 1800, T0 + 1800, 1, None)})
    assert older.merge(newer).groups["g"] == GroupState(T0 + 1800, T0 + 1800, 1, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be an object"),
        ('{"version": 99}', "version 99 is not supported"),
        ('{"version": 1, "alerted": {"k": "yesterday"}}', "ledger.alerted['k'] must be a number"),
        ('{"version": 1, "groups": {"g": {"opened": 1, "last": 1, "count": -1}}}', "count"),
        ('{"version": 1, "channels": {"c": {"recent": 5}}}', "recent must be a list"),
        (
            '{"version": 1, "channels": {"c": {"digest": {"started": 1, "flushed": 1, "rows": {"r": [1]}}}}}',
            "rows",
        ),
    ],
)
def test_a_corrupt_ledger_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(LedgerError, match=message.replace("[", r"\[").replace("]", r"\]")):
        LedgerState.from_json(text)


def test_an_empty_ledger_loads() -> None:
    assert LedgerState.from_json('{"version": 1}') == LedgerState()


def test_a_copy_is_equal_and_independent() -> None:
    planner, actions = crash_backlog(50)
    Outbox().add(planner.state, actions, NOW)
    original = planner.state
    original.deaths["c0ffee"] = [3.0, NOW]

    copied = original.copy()
    copied.alerted.clear()
    copied.outbox.clear()
    next(iter(copied.groups.values())).count += 5

    assert original.copy().to_json() == LedgerState.from_json(original.to_json()).to_json()
    assert original.alerted and original.outbox
    assert original.to_json() != copied.to_json()
