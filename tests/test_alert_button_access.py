"""Issue 14: every alert button passes the same access check as `/exitcode pod`, bound to its alert,
and a duplicate click answers "already done" instead of repeating the work.

Wire-level: a real alert is posted by the running alert service (fake Kubernetes API → fake Slack), and
the clicks are `block_actions` requests signed as Slack signs them, into the real Bolt app. For each
action: a forged payload (value *and* message naming another namespace), a tampered one (value changed,
message not), invalid names, a replayed request (stale signature) and a duplicate click.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bot.access import NamespaceAccess, SlackChannel
from tests.conftest import SIGNING_SECRET, HttpBot, MakeHttpBot
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fakes.slack_api import JsonDict
from tests.fakes.slack_signing import CHANNEL_NAME, block_actions_payload, interactive_body, signed_headers
from tests.test_alert_buttons import alert_and_app as buttons_alert_and_app
from tests.test_alert_buttons import button_value, thread_replies
from tests.test_alert_service import Bot, Harness, harness_fixture, until, web_pod  # noqa: F401

ACTIONS = [
    "exitcode_alert_rediagnose",
    "exitcode_alert_logs",
    "exitcode_alert_snooze_1h",
    "exitcode_alert_snooze_24h",
    "exitcode_alert_ack",
    "exitcode_alert_runbook_steps",
]
"""Every button on a fresh alert (Unsnooze, only on a snoozed one, is covered in tests/test_snoozes.py)."""


async def alert_and_app(
    harness: Harness, make_http_bot: MakeHttpBot, access: NamespaceAccess | None = None
) -> tuple[JsonDict, HttpBot, Bot]:
    bot = await harness.leading(await harness.start())
    message, http = await buttons_alert_and_app(
        harness, make_http_bot, bot, access=access, log="boot\npanic: nil map"
    )
    return message, http, bot


def click_payload(
    http: HttpBot, message: JsonDict, action_id: str, value: str, blocks: list[Any] | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = block_actions_payload(
        action_id,
        value,
        channel_id=message["channel"],
        message_ts=message["ts"],
        block_id="exitcode_alert_actions",
        response_url=http.api.response_url("actions"),
    )
    payload["message"].update(
        text=message["text"], blocks=blocks if blocks is not None else message["blocks"]
    )
    return payload


async def click(
    http: HttpBot, message: JsonDict, action_id: str, value: str | None = None, *, forge_message: bool = False
) -> None:
    """A signed click. `value` replaces the button's value; with `forge_message` the message's own
    buttons carry it too (a payload forged whole), else only the clicked value differs (tampered)."""
    real = button_value(message, action_id)
    value = real if value is None else value
    blocks = json.loads(
        json.dumps(message["blocks"]).replace(json.dumps(real)[1:-1], json.dumps(value)[1:-1])
    )
    payload = click_payload(http, message, action_id, value, blocks if forge_message else None)
    response = await http.click(payload)
    assert response.status == 200, await response.text()


def forged_value(message: JsonDict, **changes: str) -> str:
    record = json.loads(button_value(message, "exitcode_alert_rediagnose"))
    record.update(changes)
    return json.dumps(record, separators=(",", ":"))


async def private_answer(http: HttpBot, number: int) -> str:
    await until(f"private answer {number}", lambda: len(http.api.response_posts) >= number)
    post = http.api.response_posts[number - 1]
    assert post.response_type == "ephemeral"
    return str(post.body["text"])


def kube_calls_in(harness: Harness, namespace: str) -> list[Any]:
    return [entry for entry in harness.kube.requests.entries if entry.namespace == namespace]


@pytest.mark.parametrize("action_id", ACTIONS)
async def test_a_forged_button_naming_a_denied_namespace_is_refused_like_the_slash_command(
    harness: Harness, make_http_bot: MakeHttpBot, action_id: str
) -> None:
    access = NamespaceAccess(allowed_namespaces=("shop",))
    message, http, _ = await alert_and_app(harness, make_http_bot, access)
    value = forged_value(message, ns="kube-system", pod="coredns-5d78c9869d-abcde", w="Deployment/coredns")

    await click(http, message, action_id, value, forge_message=True)

    answer = await private_answer(http, 1)
    expected = access.denial("kube-system", SlackChannel(message["channel"], CHANNEL_NAME))
    assert expected is not None and answer == f":no_entry: {expected}"
    assert thread_replies(harness, message) == []
    assert kube_calls_in(harness, "kube-system") == [], "a denied namespace is never read"
    assert "kube-system/Deployment/coredns" not in harness.ledger().snoozes
    assert harness.ledger().owners == {}
    assert not harness.updates(), "the alert was not edited"


@pytest.mark.parametrize("action_id", ACTIONS)
async def test_the_channel_map_applies_to_buttons(
    harness: Harness, make_http_bot: MakeHttpBot, action_id: str
) -> None:
    """The alert's own namespace, clicked in a channel CONFIG_FILE does not let query it."""
    access = NamespaceAccess(("*",), {"#payments-oncall": ("payments-*",)})
    message, http, _ = await alert_and_app(harness, make_http_bot, access)

    await click(http, message, action_id)

    answer = await private_answer(http, 1)
    assert "cannot be queried from this channel" in answer and "channel_namespaces" in answer
    assert thread_replies(harness, message) == []
    assert "shop/Deployment/api" not in harness.ledger().snoozes


@pytest.mark.parametrize("action_id", ACTIONS)
async def test_a_tampered_value_that_does_not_match_its_alert_is_refused(
    harness: Harness, make_http_bot: MakeHttpBot, action_id: str
) -> None:
    message, http, _ = await alert_and_app(harness, make_http_bot)  # ALLOWED_NAMESPACES=*: all allowed
    value = forged_value(message, ns="kube-system", pod="coredns-5d78c9869d-abcde", w="Deployment/coredns")

    await click(http, message, action_id, value)  # the message's own buttons still say shop/api

    answer = await private_answer(http, 1)
    assert "does not match the alert" in answer
    assert thread_replies(harness, message) == []
    assert kube_calls_in(harness, "kube-system") == []
    assert "kube-system/Deployment/coredns" not in harness.ledger().snoozes


@pytest.mark.parametrize("action_id", ACTIONS)
@pytest.mark.parametrize(
    "changes",
    [
        {"ns": "Kube_System"},
        {"pod": "../../secrets"},
        {"c": "app;rm -rf"},
        {"w": "Deployment/a b"},
        {"n": "n<!here>"},
    ],
    ids=["namespace", "pod", "container", "workload", "node"],
)
async def test_invalid_names_in_a_button_are_refused_before_any_call(
    harness: Harness, make_http_bot: MakeHttpBot, action_id: str, changes: dict[str, str]
) -> None:
    message, http, _ = await alert_and_app(harness, make_http_bot)
    before = len(harness.kube.requests.entries)

    await click(http, message, action_id, forged_value(message, **changes), forge_message=True)

    answer = await private_answer(http, 1)
    assert "nothing was done" in answer or "not a valid" in answer or "lower case" in answer, answer
    assert thread_replies(harness, message) == []
    bot_calls = [e for e in harness.kube.requests.entries[before:] if e.user_agent.startswith("exitcode-bot")]
    assert [e for e in bot_calls if e.resource in ("pods", "events")] == []


@pytest.mark.parametrize("action_id", ACTIONS)
async def test_a_replayed_click_is_rejected_by_its_signature(
    harness: Harness, make_http_bot: MakeHttpBot, action_id: str
) -> None:
    message, http, _ = await alert_and_app(harness, make_http_bot)
    body = interactive_body(click_payload(http, message, action_id, button_value(message, action_id)))
    recorded = signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 6 * 60)

    response = await http.client.post("/slack/events", data=body, headers=recorded)

    assert response.status == 401
    assert not http.api.response_posts and thread_replies(harness, message) == []


@pytest.mark.parametrize("action_id", ACTIONS)
async def test_a_duplicate_click_answers_already_done_instead_of_repeating(
    harness: Harness, make_http_bot: MakeHttpBot, action_id: str
) -> None:
    message, http, _ = await alert_and_app(harness, make_http_bot)
    snooze = "snooze" in action_id or action_id == "exitcode_alert_ack"  # answered on the alert itself

    await click(http, message, action_id)
    if snooze:
        await until("the snooze", lambda: len(harness.updates()) == 1)
    else:
        await until("the answer", lambda: len(thread_replies(harness, message)) == 1)
    await click(http, message, action_id)

    answer = await private_answer(http, 1)
    assert answer.startswith("Already done:") and "s ago" in answer
    assert len(thread_replies(harness, message)) == (0 if snooze else 1)
    assert len(harness.updates()) == (1 if snooze else 0)


async def test_two_quick_rediagnose_clicks_post_one_diagnosis(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    message, http, _ = await alert_and_app(harness, make_http_bot)

    await click(http, message, "exitcode_alert_rediagnose")
    await click(http, message, "exitcode_alert_rediagnose")

    answer = await private_answer(http, 1)
    assert answer.startswith(("Already in progress:", "Already done:"))
    await until("the diagnosis", lambda: len(thread_replies(harness, message)) == 1)
    await http.bot.tasks.drain(5.0)
    assert len(thread_replies(harness, message)) == 1


async def test_a_click_whose_work_failed_can_be_retried_at_once(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    message, http, _ = await alert_and_app(harness, make_http_bot)
    pod = json.loads(button_value(message, "exitcode_alert_rediagnose"))["pod"]
    saved = harness.kube.cluster.get("Pod", "shop", pod)
    assert saved is not None
    harness.kube.cluster.delete("Pod", "shop", pod)

    await click(http, message, "exitcode_alert_rediagnose")
    first = await private_answer(http, 1)
    assert "Could not re-diagnose" in first

    harness.kube.cluster.apply(saved)
    await click(http, message, "exitcode_alert_rediagnose")
    await until("the diagnosis", lambda: len(thread_replies(harness, message)) == 1)
