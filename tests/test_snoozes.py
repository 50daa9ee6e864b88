"""Snoozes and owners as decisions (issue 14): set, shorten, extend and lift a snooze, and "I'm on it", on
any replica; the latest decision wins, never the longest snooze, and each decision is made once.

Wire-level: the alert is posted by the running alert service (fake Kubernetes API → fake Slack), and the
clicks are `block_actions` requests signed as Slack signs them, into the real Bolt app of the replica
the click reached. What a user sees: the alert edited in place, private answers, alerts silenced or not.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from bot.access import NamespaceAccess
from bot.alerting import Disposition, Workload
from bot.alerting.ledger_state import Snooze
from bot.knowledge import KnowledgeBase
from bot.render.alert_blocks import (
    OWNER_BLOCK_ID,
    SNOOZE_BLOCK_ID,
    UNSNOOZE_BLOCK_ID,
    AlertTarget,
    alert_blocks,
)
from bot.render.snooze_list import snooze_list_text
from bot.slack.alert_actions import AlertActions, register_alert_actions
from bot.slack.snooze_list import SnoozeListing
from tests.conftest import SIGNING_SECRET, HttpBot, MakeHttpBot
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fakes.slack_api import JsonDict, validate_blocks
from tests.fakes.slack_signing import (
    CHANNEL_NAME,
    USER_ID,
    block_actions_payload,
    interactive_body,
    signed_headers,
)
from tests.test_alert_button_access import click, click_payload, forged_value, private_answer
from tests.test_alert_buttons import button_value, message_pod, replica_app, thread_replies
from tests.test_alert_render import crash as render_crash
from tests.test_alert_render import crash_alert as render_alert
from tests.test_alert_service import Bot, Harness, harness_fixture, until, web_pod  # noqa: F401

KEY = "shop/Deployment/api"
HOUR = 3600.0


async def crash_alert(harness: Harness, leader: Bot) -> JsonDict:
    pod = harness.apply(web_pod())
    harness.crash(pod, 2)
    await until("the alert", lambda: len(harness.posts()) == 1 and leader.settled())
    return current(harness)


def current(harness: Harness) -> JsonDict:
    """The alert as Slack stores it now (after any edit in place), with its channel."""
    channel = next(iter(harness.slack.messages))
    return harness.slack.messages[channel][0] | {"channel": channel}


def payload(
    http: HttpBot, message: JsonDict, action_id: str, *, user: str = USER_ID, at: float | None = None
) -> dict[str, Any]:
    """A click as Slack sends it: the button's own value, the message as stored, the click's time."""
    click: dict[str, Any] = block_actions_payload(
        action_id,
        button_value(message, action_id),
        channel_id=message["channel"],
        message_ts=message["ts"],
        block_id="exitcode_alert_actions",
        response_url=http.api.response_url("actions"),
        user_id=user,
    )
    click["actions"][0]["action_ts"] = f"{time.time() if at is None else at:.6f}"
    click["message"].update(text=message["text"], blocks=message["blocks"])
    return click


async def send(http: HttpBot, click: dict[str, Any]) -> None:
    response = await http.click(click)
    assert response.status == 200, await response.text()


def stored(harness: Harness) -> Any:
    return harness.ledger().snoozes.get(KEY)


def block(message: JsonDict, block_id: str) -> str | None:
    found = [item for item in message["blocks"] if item.get("block_id") == block_id]
    return json.dumps(found[0]) if found else None


def answers(http: HttpBot) -> list[str]:
    return [str(post.body["text"]) for post in http.api.response_posts]


async def two_replicas(harness: Harness, make_http_bot: MakeHttpBot) -> tuple[Bot, HttpBot, HttpBot]:
    leader = await harness.leading(await harness.start("bot-a"))
    standby = await harness.start("bot-b")
    on_leader = await replica_app(harness, make_http_bot, leader)
    on_standby = await replica_app(harness, make_http_bot, standby)
    assert standby.service.planner is None
    return leader, on_leader, on_standby


async def test_shortening_a_snooze_on_a_standby_is_not_undone_by_the_leader(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    """The issue's bug: 24 h snoozed through the leader, shortened to 1 h through a standby. The leader
    used to keep the later end and write the 24 h snooze back."""
    leader, on_leader, on_standby = await two_replicas(harness, make_http_bot)
    message = await crash_alert(harness, leader)
    await send(on_leader, payload(on_leader, message, "exitcode_alert_snooze_24h"))
    await until(
        "the 24 h snooze",
        lambda: stored(harness) is not None and block(current(harness), SNOOZE_BLOCK_ID) is not None,
    )

    await send(on_standby, payload(on_standby, current(harness), "exitcode_alert_snooze_1h"))

    await until("the 1 h snooze stored", lambda: stored(harness).until < time.time() + 2 * HOUR)
    planner = leader.service.planner
    assert planner is not None
    await until("the leader to take it", lambda: planner.state.snoozes[KEY].until < time.time() + 2 * HOUR)
    pod = harness.kube.cluster.get("Pod", "shop", message_pod(message))
    assert pod is not None
    harness.crash(pod, 2)
    await until("the snoozed crash", lambda: leader.received(Disposition.SUPPRESSED) == 1)
    await until("the leader's save", lambda: leader.settled())
    decision = stored(harness)
    assert decision.until < time.time() + 2 * HOUR, "the leader wrote the longer snooze back"
    assert decision.set_by == USER_ID
    note = block(current(harness), SNOOZE_BLOCK_ID)
    assert note is not None and f"<@{USER_ID}>" in note and f"<!date^{int(decision.until)}^" in note
    assert len(harness.posts()) == 1


async def test_lifting_a_snooze_on_a_standby_resumes_alerts_on_the_leader(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    leader, on_leader, on_standby = await two_replicas(harness, make_http_bot)
    message = await crash_alert(harness, leader)
    assert block(message, UNSNOOZE_BLOCK_ID) is None, "Unsnooze shows only on a snoozed alert"
    await send(on_leader, payload(on_leader, message, "exitcode_alert_snooze_24h"))
    await until("the Unsnooze button", lambda: block(current(harness), UNSNOOZE_BLOCK_ID) is not None)

    await send(on_standby, payload(on_standby, current(harness), "exitcode_alert_unsnooze", user="U0LIFTER1"))

    await until(
        "the lift on the alert", lambda: "Snooze lifted" in (block(current(harness), SNOOZE_BLOCK_ID) or "")
    )
    assert block(current(harness), UNSNOOZE_BLOCK_ID) is None
    assert "<@U0LIFTER1>" in (block(current(harness), SNOOZE_BLOCK_ID) or "")
    assert stored(harness).lifted, "a lift is stored as a tombstone, so a merge cannot bring the snooze back"
    planner = leader.service.planner
    assert planner is not None
    await until("the leader to take it", lambda: planner.state.snoozes[KEY].lifted)
    pod = harness.kube.cluster.get("Pod", "shop", message_pod(message))
    assert pod is not None
    harness.crash(pod, 2)
    await until("the crash alerted again", lambda: len(harness.posts(thread=True)) == 1)
    assert leader.received(Disposition.SUPPRESSED) == 0
    assert stored(harness).lifted


async def test_extending_a_snooze_and_lifting_it_where_it_was_set(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    leader = await harness.leading(await harness.start())
    http = await replica_app(harness, make_http_bot, leader)
    message = await crash_alert(harness, leader)

    await send(http, payload(http, message, "exitcode_alert_snooze_1h"))
    await until(
        "1 h", lambda: stored(harness) is not None and block(current(harness), UNSNOOZE_BLOCK_ID) is not None
    )
    await send(http, payload(http, current(harness), "exitcode_alert_snooze_24h"))
    await until("24 h", lambda: stored(harness).until > time.time() + 23 * HOUR)
    await until(
        "the 24 h note",
        lambda: f"<!date^{int(stored(harness).until)}^" in (block(current(harness), SNOOZE_BLOCK_ID) or ""),
    )
    await send(http, payload(http, current(harness), "exitcode_alert_unsnooze"))
    await until("lifted", lambda: stored(harness).lifted)
    assert answers(http) == [], "every step answered on the alert itself"


async def test_the_same_click_reaching_both_replicas_is_one_decision(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    """Exactly once across replicas: one click (same time, same button, same alert) handled by both."""
    leader, on_leader, on_standby = await two_replicas(harness, make_http_bot)
    message = await crash_alert(harness, leader)
    click = payload(on_leader, message, "exitcode_alert_snooze_1h")

    await send(on_standby, click)
    await until("the snooze", lambda: stored(harness) is not None and len(harness.updates()) >= 1)
    decision = stored(harness)
    planner = leader.service.planner
    assert planner is not None
    await until("the leader to read it", lambda: KEY in planner.state.snoozes)
    await send(on_leader, click)

    await until("the answer", lambda: len(answers(on_leader)) == 1)
    assert answers(on_leader)[0].startswith("Already done:") and f"<@{USER_ID}>" in answers(on_leader)[0]
    assert stored(harness) == decision
    assert len([u for u in harness.updates() if "Snoozed" in json.dumps(u["blocks"])]) == 1


async def test_a_second_click_of_the_same_button_on_another_replica_writes_nothing(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    leader, on_leader, on_standby = await two_replicas(harness, make_http_bot)
    message = await crash_alert(harness, leader)
    await send(on_leader, payload(on_leader, message, "exitcode_alert_snooze_24h"))
    await until("the snooze", lambda: stored(harness) is not None)
    decision = stored(harness)

    await send(
        on_standby,
        payload(on_standby, message, "exitcode_alert_snooze_24h", user="U0SECOND1", at=time.time() + 5),
    )

    await until("the answer", lambda: len(answers(on_standby)) == 1)
    assert answers(on_standby)[0].startswith("Already done:")
    assert stored(harness) == decision


async def test_im_on_it_shows_the_owner_on_the_alert_and_keeps_it_in_the_ledger(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    leader, on_leader, on_standby = await two_replicas(harness, make_http_bot)
    message = await crash_alert(harness, leader)
    incident = f"{message['channel']}:{message['ts']}"

    await send(on_standby, payload(on_standby, message, "exitcode_alert_ack"))

    await until("the owner on the alert", lambda: block(current(harness), OWNER_BLOCK_ID) is not None)
    assert f"<@{USER_ID}> is on it" in (block(current(harness), OWNER_BLOCK_ID) or "")
    assert harness.ledger().owners[incident].user == USER_ID
    planner = leader.service.planner
    assert planner is not None
    await until("the leader to know the owner", lambda: incident in planner.state.owners)

    pod = harness.kube.cluster.get("Pod", "shop", message_pod(message))
    assert pod is not None
    harness.crash(pod, 2)
    await until("the repeat", lambda: len(harness.posts(thread=True)) == 1 and leader.settled())
    await until("the root's count edit", lambda: len(harness.updates()) >= 2)
    assert f"<@{USER_ID}> is on it" in (block(current(harness), OWNER_BLOCK_ID) or ""), (
        "the root edit keeps the owner"
    )

    await send(on_leader, payload(on_leader, current(harness), "exitcode_alert_ack", at=time.time() + 1))
    await until("the answer", lambda: len(answers(on_leader)) == 1)
    assert answers(on_leader)[0].startswith("You are already on it")


async def test_a_later_owner_takes_over(harness: Harness, make_http_bot: MakeHttpBot) -> None:
    leader, on_leader, on_standby = await two_replicas(harness, make_http_bot)
    message = await crash_alert(harness, leader)
    incident = f"{message['channel']}:{message['ts']}"
    await send(on_leader, payload(on_leader, message, "exitcode_alert_ack", at=time.time() - 120))
    await until("the first owner", lambda: incident in harness.ledger().owners)

    await send(on_standby, payload(on_standby, current(harness), "exitcode_alert_ack", user="U0SECOND1"))

    await until("the new owner", lambda: harness.ledger().owners[incident].user == "U0SECOND1")
    await until(
        "on the alert", lambda: "<@U0SECOND1> is on it" in (block(current(harness), OWNER_BLOCK_ID) or "")
    )
    assert f"<@{USER_ID}>" not in (block(current(harness), OWNER_BLOCK_ID) or "")


# --- /exitcode snoozes -------------------------------------------------------------------------------------


async def test_the_snoozes_command_lists_what_the_channel_may_see_with_who_and_until_when(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    leader = await harness.leading(await harness.start())
    http = await replica_app(harness, make_http_bot, leader)
    message = await crash_alert(harness, leader)
    await send(http, payload(http, message, "exitcode_alert_snooze_1h"))
    await until("the snooze", lambda: stored(harness) is not None)
    store = leader.service.snoozes
    await store.snooze(
        "payments", Workload("Deployment", "ledger"), time.time() + HOUR, by="U0OTHER01", at=time.time()
    )
    await store.snooze("shop", Workload("StatefulSet", "db"), time.time() + 9 * HOUR, by=None, at=time.time())
    await store.lift("shop", Workload("StatefulSet", "db"), now=time.time(), by="U0OTHER01", via=None)
    access = NamespaceAccess(("*",), {f"#{CHANNEL_NAME}": ("shop",)})
    http.bot.snooze_listing = SnoozeListing(store, access)

    acknowledgement = await http.command_json("snoozes")

    assert "snoozes" in acknowledgement["text"]
    await until("the list", lambda: len(http.api.response_posts) == 1)
    post = http.api.response_posts[0]
    assert post.response_type == "ephemeral"
    listing = json.dumps(post.body["blocks"])
    until_ = int(stored(harness).until)
    assert "shop/Deployment/api" in listing and f"<@{USER_ID}>" in listing and f"<!date^{until_}^" in listing
    assert "payments" not in listing and "U0OTHER01" not in listing, "a denied namespace is not even hinted"
    assert "StatefulSet/db" not in listing, "a lifted snooze is not listed"
    assert "1 snooze in force" in listing


async def test_the_snoozes_command_without_a_watcher_says_so(make_http_bot: MakeHttpBot) -> None:
    http = await make_http_bot()

    await http.command_json("snoozes")

    await until("the answer", lambda: len(http.api.response_posts) == 1)
    assert "does not watch a cluster" in str(http.api.response_posts[0].body["text"])


# --- the new buttons pass the same gate as every other ----------------------------------------------------


async def snoozed_alert(
    harness: Harness, make_http_bot: MakeHttpBot
) -> tuple[AlertActions, HttpBot, JsonDict]:
    """An alert snoozed through its button, so it carries the Unsnooze button; then `actions.access` may
    be narrowed by the test."""
    leader = await harness.leading(await harness.start())
    http = await make_http_bot()
    actions = AlertActions(
        knowledge=harness.knowledge,
        tasks=http.bot.tasks,
        snoozes=leader.service.snoozes,
        owners=leader.service.snoozes,
    )
    register_alert_actions(http.bot.app, actions)
    message = await crash_alert(harness, leader)
    await send(http, payload(http, message, "exitcode_alert_snooze_1h"))
    await until("the Unsnooze button", lambda: block(current(harness), UNSNOOZE_BLOCK_ID) is not None)
    return actions, http, current(harness)


def lifted(harness: Harness) -> bool:
    return bool(stored(harness).lifted)


async def test_a_forged_unsnooze_naming_a_denied_namespace_is_refused(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    actions, http, message = await snoozed_alert(harness, make_http_bot)
    actions.access = NamespaceAccess(allowed_namespaces=("shop",))
    value = forged_value(message, ns="kube-system", pod="coredns-5d78c9869d-abcde", w="Deployment/coredns")

    await click(http, message, "exitcode_alert_unsnooze", value, forge_message=True)

    answer = await private_answer(http, 1)
    assert answer.startswith(":no_entry:") and "kube-system" in answer
    assert not lifted(harness) and "kube-system/Deployment/coredns" not in harness.ledger().snoozes


async def test_the_channel_map_applies_to_unsnooze_and_im_on_it(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    actions, http, message = await snoozed_alert(harness, make_http_bot)
    actions.access = NamespaceAccess(("*",), {"#payments-oncall": ("payments-*",)})

    await click(http, message, "exitcode_alert_unsnooze")
    await click(http, message, "exitcode_alert_ack")

    for number in (1, 2):
        assert "cannot be queried from this channel" in await private_answer(http, number)
    assert not lifted(harness) and harness.ledger().owners == {}


@pytest.mark.parametrize("action_id", ["exitcode_alert_unsnooze", "exitcode_alert_ack"])
async def test_a_tampered_value_on_the_new_buttons_is_refused(
    harness: Harness, make_http_bot: MakeHttpBot, action_id: str
) -> None:
    _, http, message = await snoozed_alert(harness, make_http_bot)
    edits = len(harness.updates())
    value = forged_value(message, ns="kube-system", pod="coredns-5d78c9869d-abcde", w="Deployment/coredns")

    await click(http, message, action_id, value)  # the message's own buttons still say shop/api

    assert "does not match the alert" in await private_answer(http, 1)
    assert not lifted(harness) and harness.ledger().owners == {}
    assert len(harness.updates()) == edits


@pytest.mark.parametrize("action_id", ["exitcode_alert_unsnooze", "exitcode_alert_ack"])
async def test_invalid_names_on_the_new_buttons_are_refused(
    harness: Harness, make_http_bot: MakeHttpBot, action_id: str
) -> None:
    _, http, message = await snoozed_alert(harness, make_http_bot)

    await click(http, message, action_id, forged_value(message, w="Deployment/a b"), forge_message=True)

    assert "not a valid Kubernetes name" in await private_answer(http, 1)
    assert not lifted(harness) and harness.ledger().owners == {}


@pytest.mark.parametrize("action_id", ["exitcode_alert_unsnooze", "exitcode_alert_ack"])
async def test_a_replayed_click_on_the_new_buttons_is_rejected_by_its_signature(
    harness: Harness, make_http_bot: MakeHttpBot, action_id: str
) -> None:
    _, http, message = await snoozed_alert(harness, make_http_bot)
    body = interactive_body(click_payload(http, message, action_id, button_value(message, action_id)))
    recorded = signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 6 * 60)

    response = await http.client.post("/slack/events", data=body, headers=recorded)

    assert response.status == 401
    assert not http.api.response_posts and not lifted(harness) and harness.ledger().owners == {}


@pytest.mark.parametrize("action_id", ["exitcode_alert_unsnooze", "exitcode_alert_ack"])
async def test_a_duplicate_click_on_the_new_buttons_answers_already_done(
    harness: Harness, make_http_bot: MakeHttpBot, action_id: str
) -> None:
    _, http, message = await snoozed_alert(harness, make_http_bot)
    edits = len(harness.updates())

    await click(http, message, action_id)
    await until("the edit", lambda: len(harness.updates()) == edits + 1)
    await click(http, message, action_id)

    answer = await private_answer(http, 1)
    assert answer.startswith("Already done:") and "the alert shows it" in answer
    assert len(harness.updates()) == edits + 1
    assert thread_replies(harness, message) == []


# --- faults ---------------------------------------------------------------------------------------------


async def test_a_lift_that_could_not_be_stored_says_so_changes_nothing_and_can_be_retried(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    leader, on_leader, on_standby = await two_replicas(harness, make_http_bot)
    message = await crash_alert(harness, leader)
    await send(on_leader, payload(on_leader, message, "exitcode_alert_snooze_24h"))
    await until("the Unsnooze button", lambda: block(current(harness), UNSNOOZE_BLOCK_ID) is not None)
    edits = len(harness.updates())
    harness.kube.faults.fail("update", "configmaps", 503)  # the API server takes no writes

    await send(on_standby, payload(on_standby, current(harness), "exitcode_alert_unsnooze"))

    await until("the answer", lambda: len(answers(on_standby)) == 1)
    assert answers(on_standby)[0].startswith("Could not lift the snooze of")
    assert len(harness.updates()) == edits and block(current(harness), UNSNOOZE_BLOCK_ID) is not None
    assert not stored(harness).lifted

    harness.kube.faults.clear()
    await send(on_standby, payload(on_standby, current(harness), "exitcode_alert_unsnooze"))
    await until(
        "the lift", lambda: stored(harness).lifted and block(current(harness), UNSNOOZE_BLOCK_ID) is None
    )


async def test_a_shortening_that_meets_a_concurrent_leader_write_still_wins(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    """The standby's write conflicts (409: the leader wrote since it read): it re-reads and merges, and
    the decision made last stands."""
    leader, on_leader, on_standby = await two_replicas(harness, make_http_bot)
    message = await crash_alert(harness, leader)
    await send(on_leader, payload(on_leader, message, "exitcode_alert_snooze_24h"))
    await until("the 24 h snooze", lambda: stored(harness) is not None)
    harness.kube.faults.fail("update", "configmaps", 409, times=2)

    await send(on_standby, payload(on_standby, current(harness), "exitcode_alert_snooze_1h"))

    await until("the 1 h snooze stored", lambda: stored(harness).until < time.time() + 2 * HOUR)
    planner = leader.service.planner
    assert planner is not None
    await until("the leader to take it", lambda: planner.state.snoozes[KEY].until < time.time() + 2 * HOUR)
    await until("the alert", lambda: "Snoozed" in (block(current(harness), SNOOZE_BLOCK_ID) or ""))


# --- rendering ---------------------------------------------------------------------------------------------


def test_a_snoozed_owned_root_shows_who_until_when_and_the_unsnooze_button(
    knowledge_base: KnowledgeBase,
) -> None:
    """What the alert service renders when it edits a root that has an owner and a snooze in force."""
    termination = render_crash(137)
    view = render_alert(
        knowledge_base,
        termination,
        snoozed_until=1_700_003_600.0,
        snoozed_by="U0ONCALL",
        owner="U0OWNER1",
        owner_since=1_700_000_000.0,
    )

    blocks = alert_blocks(view)

    assert validate_blocks(blocks) == []
    note = next(b for b in blocks if b.get("block_id") == SNOOZE_BLOCK_ID)
    assert "<@U0ONCALL>" in json.dumps(note) and "<!date^1700003600^" in json.dumps(note)
    owner = next(b for b in blocks if b.get("block_id") == OWNER_BLOCK_ID)
    assert "<@U0OWNER1> is on it since <!date^1700000000^" in json.dumps(owner)
    lift = next(b for b in blocks if b.get("block_id") == UNSNOOZE_BLOCK_ID)
    assert lift["elements"][0]["value"] == AlertTarget.of(termination).to_value()
    ids = [b.get("block_id") for b in blocks]
    assert ids.index(UNSNOOZE_BLOCK_ID) < ids.index("exitcode_alert_actions")


async def test_unsnooze_after_the_snooze_ended_says_so_and_tidies_the_alert(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    actions, http, message = await snoozed_alert(harness, make_http_bot)
    store = actions.snoozes
    assert store is not None
    await store.snooze("shop", Workload("Deployment", "api"), time.time() - 1, by="U0OTHER01", at=time.time())

    await click(http, message, "exitcode_alert_unsnooze")

    assert "is not snoozed" in await private_answer(http, 1)
    await until("the stale note gone", lambda: block(current(harness), SNOOZE_BLOCK_ID) is None)
    assert block(current(harness), UNSNOOZE_BLOCK_ID) is None
    assert not stored(harness).lifted, "nothing to lift, nothing written"


async def test_the_same_im_on_it_click_reaching_both_replicas_is_one_decision(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    leader, on_leader, on_standby = await two_replicas(harness, make_http_bot)
    message = await crash_alert(harness, leader)
    incident = f"{message['channel']}:{message['ts']}"
    click = payload(on_leader, message, "exitcode_alert_ack")

    await send(on_standby, click)
    await until("the owner", lambda: incident in harness.ledger().owners and len(harness.updates()) == 1)
    owner = harness.ledger().owners[incident]
    planner = leader.service.planner
    assert planner is not None
    await until("the leader to read it", lambda: incident in planner.state.owners)
    await send(on_leader, click)

    await until("the answer", lambda: len(answers(on_leader)) == 1)
    assert answers(on_leader)[0].startswith("You are already on it")
    assert harness.ledger().owners[incident] == owner
    assert len(harness.updates()) == 1, "the alert was edited once"


def test_the_snoozes_fallback_text_is_cut_without_splitting_an_escape() -> None:
    """Keys come from the ledger: however long and however many `&`, the text stays within Slack's
    limit and never ends inside an entity (`&am`)."""
    snoozes = [(f"shop/Deployment/{'&' * 400}{index}", Snooze(time.time() + HOUR)) for index in range(10)]

    text = snooze_list_text(snoozes)

    assert len(text) <= 3000
    assert re.sub(r"&(amp|lt|gt);", "", text).count("&") == 0, text[-20:]
