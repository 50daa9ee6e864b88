"""How the planner's actions map onto a surface's capabilities (`bot.render.surface.event_for`)."""

from __future__ import annotations

import pytest

from bot.alerting.actions import (
    DigestRef,
    GroupKey,
    GroupRef,
    PostDigest,
    PostRecovery,
    PostRoot,
    PostThreadReply,
    UpdateDigest,
    UpdateRoot,
)
from bot.alerting.incidents import EndReason, IncidentPhase, IncidentStatus
from bot.alerting.policy import AlertKind
from bot.alerting.termination import Termination, Workload
from bot.render.surface import AlertEvent, Capabilities, Planned, event_for, short_key
from tests.test_alerting_planner import crash

SLACK = Capabilities(threads=True, edits=True, buttons=True)
WEBHOOK = Capabilities(threads=True, resolve=True)
TEAMS = Capabilities()
PAGERDUTY = Capabilities(resolve=True)

GROUP = GroupRef(GroupKey("teams:x", "shop", Workload("Deployment", "api"), "app", 1, AlertKind.CRASH), 100.0)
DIGEST = DigestRef("teams:x", 100.0)


def termination() -> Termination:
    return crash(0).termination


def status(phase: IncidentPhase) -> IncidentStatus:
    reason = EndReason.RAN_CLEAN if phase is IncidentPhase.RECOVERED else None
    return IncidentStatus(phase, 100.0, 90.0, 3, 100.0, reason)


def test_a_root_is_a_crash_everywhere() -> None:
    for capabilities in (WEBHOOK, TEAMS, PAGERDUTY):
        assert event_for(PostRoot(GROUP, termination()), capabilities) == Planned(AlertEvent.CRASH)


def test_repeats_are_events_where_messages_thread_and_follow_ups_where_they_cannot() -> None:
    reply = PostThreadReply(GROUP, termination())
    update = UpdateRoot(GROUP, 3, 1, 100.0, termination(), incident=status(IncidentPhase.FIRING))
    assert event_for(reply, WEBHOOK) == Planned(AlertEvent.REPEAT)
    assert event_for(update, WEBHOOK) is None  # each repeat went out already
    for capabilities in (TEAMS, PAGERDUTY):
        assert event_for(reply, capabilities) is None  # folded: the follow-up carries the count
        assert event_for(update, capabilities) == Planned(AlertEvent.REPEAT, follow_up=True)


def test_state_edits_that_are_not_news_send_nothing_where_nothing_can_be_edited() -> None:
    for phase in (IncidentPhase.QUIET, IncidentPhase.CONTINUED, IncidentPhase.RECOVERED):
        update = UpdateRoot(GROUP, 3, 1, 100.0, termination(), incident=status(phase))
        assert event_for(update, TEAMS) is None
    assert event_for(UpdateRoot(GROUP, 1, 1, 100.0, termination()), PAGERDUTY) is None  # no new crash


def test_recovery_and_digests() -> None:
    assert event_for(PostRecovery(GROUP, status(IncidentPhase.RECOVERED)), PAGERDUTY) == Planned(
        AlertEvent.RECOVERED
    )
    assert event_for(PostDigest(DIGEST, (), 12), TEAMS) == Planned(AlertEvent.DIGEST)
    assert event_for(UpdateDigest(DIGEST, (), 20, calm=False), TEAMS) is None
    assert event_for(UpdateDigest(DIGEST, (), 20, calm=True), PAGERDUTY) == Planned(
        AlertEvent.DIGEST, follow_up=True
    )


def test_keys_are_short_stable_and_reveal_nothing() -> None:
    key = short_key(GROUP.id)
    assert key == short_key(GROUP.id) and len(key) == 32 and "shop" not in key
    with pytest.raises(TypeError):
        event_for("not an action", TEAMS)  # type: ignore[arg-type]
