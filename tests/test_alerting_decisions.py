"""Snooze and owner decisions in the ledger (pure): the latest decision wins a merge, never the longest
snooze; a lift is a tombstone no older copy can undo; a duplicate writes nothing; old ledgers load."""

from __future__ import annotations

import json

from bot.alerting import LedgerLimits, LedgerState
from bot.alerting.decisions import decide_owner, decide_snooze, lift_snooze, visible_snoozes
from bot.alerting.ledger_state import Owner, Snooze
from bot.alerting.policy import snoozed

T0 = 1_700_000_000.0
HOUR = 3600.0
KEY = "shop/Deployment/api"


def with_snooze(decision: Snooze) -> LedgerState:
    state = LedgerState()
    state.snoozes[KEY] = decision
    return state


def test_a_ledger_written_before_decisions_loads_and_any_decision_since_wins() -> None:
    old = json.dumps(
        {
            "version": 1,
            "horizon": None,
            "alerted": {},
            "groups": {},
            "channels": {},
            "snoozes": {KEY: T0 + 24 * HOUR},
        }
    )

    state = LedgerState.from_json(old)

    assert state.snoozes[KEY] == Snooze(until=T0 + 24 * HOUR)
    assert snoozed(state.snoozes, KEY, T0)
    shortened = with_snooze(Snooze(T0 + HOUR, "U1", T0))
    assert state.merge(shortened).snoozes[KEY].until == T0 + HOUR
    assert LedgerState.from_json(state.to_json()) == state


def test_the_latest_decision_wins_a_merge_not_the_longest_snooze() -> None:
    long = with_snooze(Snooze(T0 + 24 * HOUR, "U1", T0))
    short = with_snooze(Snooze(T0 + 60 + HOUR, "U2", T0 + 60))

    assert long.merge(short).snoozes[KEY].until == T0 + 60 + HOUR
    assert short.merge(long).snoozes[KEY].until == T0 + 60 + HOUR, "commutative"
    merged = long.merge(short)
    assert merged.merge(merged) == merged, "idempotent"


def test_a_lift_is_a_tombstone_that_an_older_copy_cannot_resurrect() -> None:
    older = with_snooze(Snooze(T0 + 24 * HOUR, "U1", T0))
    lifted = LedgerState.from_json(older.to_json())
    assert lift_snooze(lifted, KEY, now=T0 + 300, by="U2", via="v").decision is not None

    for merged in (older.merge(lifted), lifted.merge(older)):
        assert merged.snoozes[KEY].lifted
        assert not snoozed(merged.snoozes, KEY, T0 + 301)
    restored = LedgerState.from_json(lifted.to_json())
    assert restored.snoozes[KEY] == Snooze(T0 + 300, "U2", T0 + 300, lifted=True, via="v")


def test_pruning_keeps_a_decision_as_long_as_an_older_copy_could_matter() -> None:
    limits = LedgerLimits()
    state = with_snooze(Snooze(T0 + HOUR, "U2", T0 + 60))  # shortened from 24 h at T0 + 60
    stale = with_snooze(Snooze(T0 + 24 * HOUR, "U1", T0))

    state.prune(T0 + 2 * HOUR, limits, 1.0, 1.0)  # the short snooze ended, its decision is kept
    assert not stale.merge(state).snoozes[KEY].active(T0 + 2 * HOUR)
    state.prune(T0 + 60 + limits.retention_seconds + 1, limits, 1.0, 1.0)
    assert KEY not in state.snoozes  # and by then the stale 24 h snooze has ended too
    assert not snoozed(stale.merge(state).snoozes, KEY, T0 + 60 + limits.retention_seconds + 1)


def test_a_duplicate_decision_writes_nothing_and_a_later_one_replaces_it() -> None:
    state = LedgerState()
    first = decide_snooze(state, KEY, Snooze(T0 + HOUR, "U1", T0, via="button-1"))
    assert not first.already and first.previous is None

    again = decide_snooze(state, KEY, Snooze(T0 + 5 + HOUR, "U2", T0 + 5, via="button-1"))
    assert again.already and state.snoozes[KEY].set_by == "U1"

    other_button = decide_snooze(state, KEY, Snooze(T0 + 10 + 24 * HOUR, "U2", T0 + 10, via="button-24"))
    assert not other_button.already and other_button.previous == first.decision
    assert state.snoozes[KEY].until == T0 + 10 + 24 * HOUR

    late = decide_snooze(state, KEY, Snooze(T0 + 3 + HOUR, "U3", T0 + 3, via="button-x"))
    assert late.already, "a click made before the decision in force does not replace it"


def test_lifting_what_is_not_snoozed_writes_nothing() -> None:
    state = with_snooze(Snooze(T0 + HOUR, "U1", T0))
    assert lift_snooze(state, KEY, now=T0 + 2 * HOUR, by="U2", via="u").decision is None
    assert lift_snooze(LedgerState(), KEY, now=T0, by="U2", via="u").decision is None
    assert not state.snoozes[KEY].lifted


def test_owners_latest_claim_wins_and_merges_like_snoozes() -> None:
    mine, theirs = LedgerState(), LedgerState()
    assert not decide_owner(mine, "C1:1.1", Owner("U1", T0, "ack")).already
    assert decide_owner(mine, "C1:1.1", Owner("U2", T0 + 10, "ack")).already, "a duplicate within a minute"
    assert decide_owner(mine, "C1:1.1", Owner("U1", T0 + 100, "ack")).already, "already the owner"
    assert not decide_owner(theirs, "C1:1.1", Owner("U2", T0 + 120, "ack")).already

    assert mine.merge(theirs).owners["C1:1.1"].user == "U2"
    assert theirs.merge(mine).owners["C1:1.1"].user == "U2"
    assert LedgerState.from_json(mine.merge(theirs).to_json()).owners == mine.merge(theirs).owners


def test_the_list_shows_snoozes_in_force_that_the_channel_may_see() -> None:
    snoozes = {
        KEY: Snooze(T0 + 2 * HOUR, "U1", T0),
        "shop/StatefulSet/db": Snooze(T0 + HOUR, "U1", T0),
        "shop/Deployment/old": Snooze(T0 - 1, "U1", T0 - HOUR),
        "shop/Deployment/lifted": Snooze(T0, "U1", T0, lifted=True),
        "kube-system/Deployment/coredns": Snooze(T0 + HOUR, "U1", T0),
    }

    shown = visible_snoozes(snoozes.items(), T0, lambda namespace: namespace == "shop")

    assert [key for key, _ in shown] == ["shop/StatefulSet/db", KEY]


def test_an_earlier_version_still_reads_plain_ends_and_a_lift_as_ended() -> None:
    """A replica not yet upgraded reads `snoozes` as numbers, as it always did (rolling upgrades)."""
    state = with_snooze(Snooze(T0 + 24 * HOUR, "U1", T0, via="v"))
    state.snoozes["shop/StatefulSet/db"] = Snooze(T0 + 300, "U2", T0 + 300, lifted=True)

    stored = json.loads(state.to_json())

    assert stored["snoozes"] == {KEY: T0 + 24 * HOUR, "shop/StatefulSet/db": T0 + 300}
    assert LedgerState.from_json(state.to_json()) == state
    stored["snoozes"][KEY] = T0 + 2 * HOUR  # the earlier version changed the end
    assert LedgerState.from_dict(stored).snoozes[KEY].until == T0 + 2 * HOUR
