"""The alert's buttons, clicked through the real Bolt app with requests signed as Slack signs them.

The alert is posted by the running alert service (fake Kubernetes API → fake Slack); the click goes to
the bot's `/slack/events` endpoint with the button's real `value`, exactly as Slack would send it. What a
user sees: a snooze shows on the alert and silences that workload (also when another replica handled
the click), Re-diagnose, Previous logs and Runbook steps answer in the alert's thread, and a forged or
stale button gets a private explanation instead of an error.
"""

from __future__ import annotations

import json
from typing import Any

from bot.access import NamespaceAccess
from bot.alerting import Disposition
from bot.application.diagnose import DiagnoseService
from bot.kube.reader import KubeClusterReader
from bot.render.alert_blocks import SNOOZE_BLOCK_ID
from bot.slack.alert_actions import AlertActions, register_alert_actions
from tests.conftest import HttpBot, MakeHttpBot
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.fakes.slack_api import JsonDict
from tests.fakes.slack_signing import block_actions_payload
from tests.test_alert_service import Bot, Harness, harness_fixture, until, web_pod  # noqa: F401


async def alert_and_app(
    harness: Harness,
    make_http_bot: MakeHttpBot,
    bot: Bot,
    *,
    clicked_on: Bot | None = None,
    slash_command: str = "/exitcode",
    access: NamespaceAccess | None = None,
    log: str = "boot\npanic: nil map <!here>",
) -> tuple[JsonDict, HttpBot]:
    """Crash a pod, wait for `bot`'s alert, and start the Bolt app of replica `clicked_on` (default:
    `bot`) with the alert buttons registered."""
    pod = harness.apply(web_pod())
    harness.kube.cluster.set_log("shop", pod["metadata"]["name"], "app", log)
    harness.crash(pod, 2)
    await until("the alert", lambda: len(harness.posts()) == 1 and bot.settled())
    http = await replica_app(
        harness, make_http_bot, clicked_on or bot, slash_command=slash_command, access=access
    )
    channel = next(iter(harness.slack.messages))
    return harness.slack.messages[channel][0] | {"channel": channel}, http


async def replica_app(
    harness: Harness,
    make_http_bot: MakeHttpBot,
    replica: Bot,
    *,
    slash_command: str = "/exitcode",
    access: NamespaceAccess | None = None,
) -> HttpBot:
    """The Bolt app of one replica, as production registers its buttons: they read the cluster and
    write through that replica's alert service."""
    http = await make_http_bot()
    reader = KubeClusterReader(replica.client, 5.0)
    register_alert_actions(
        http.bot.app,
        AlertActions(
            knowledge=harness.knowledge,
            tasks=http.bot.tasks,
            diagnose_pod=DiagnoseService(harness.knowledge, reader).diagnose_pod,
            logs=reader,
            snoozes=replica.service.snoozes,
            owners=replica.service.snoozes,
            access=access if access is not None else NamespaceAccess(),
            slash_command=slash_command,
        ),
    )
    return http


def button_value(message: JsonDict, action_id: str) -> str:
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button")


async def click(http: HttpBot, message: JsonDict, action_id: str, value: str | None = None) -> None:
    payload: dict[str, Any] = block_actions_payload(
        action_id,
        value if value is not None else button_value(message, action_id),
        channel_id=message["channel"],
        message_ts=message["ts"],
        block_id="exitcode_alert_actions",
        response_url=http.api.response_url("actions"),
    )
    payload["message"].update(text=message["text"], blocks=message["blocks"])
    response = await http.click(payload)
    assert response.status == 200, await response.text()


def thread_replies(harness: Harness, message: JsonDict) -> list[JsonDict]:
    return harness.slack.thread(message["channel"], message["ts"])


async def test_snooze_shows_on_the_alert_and_silences_the_workload(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    bot = await harness.leading(await harness.start())
    message, http = await alert_and_app(harness, make_http_bot, bot)

    await click(http, message, "exitcode_alert_snooze_1h")

    await until("the alert to show the snooze", lambda: bool(harness.updates()))
    edited = harness.updates()[-1]
    blocks = edited["blocks"] if isinstance(edited["blocks"], list) else json.loads(edited["blocks"])
    note = next(block for block in blocks if block.get("block_id") == SNOOZE_BLOCK_ID)
    assert "Snoozed" in json.dumps(note) and "shop/Deployment/api" in json.dumps(note)
    assert "shop/Deployment/api" in harness.ledger().snoozes

    pod = harness.kube.cluster.get("Pod", "shop", message_pod(message))
    assert pod is not None
    harness.crash(pod, 2)
    await until("the snoozed crash", lambda: bot.received(Disposition.SUPPRESSED) == 1)
    assert len(harness.posts()) == 1  # no reply, no new root
    assert str(next(iter(bot.service.planner.accounting.suppressed))) == "snoozed"  # type: ignore[union-attr]


async def test_a_snooze_clicked_on_a_standby_is_honoured_by_the_leader(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    leader = await harness.leading(await harness.start("bot-a"))
    standby = await harness.start("bot-b")
    message, http = await alert_and_app(harness, make_http_bot, leader, clicked_on=standby)
    assert standby.service.planner is None

    await click(http, message, "exitcode_alert_snooze_24h")
    await until("the snooze in the ledger", lambda: "shop/Deployment/api" in harness.ledger().snoozes)
    planner = leader.service.planner
    assert planner is not None
    await until("the leader to read it", lambda: "shop/Deployment/api" in planner.state.snoozes)

    pod = harness.kube.cluster.get("Pod", "shop", message_pod(message))
    assert pod is not None
    harness.crash(pod, 2)
    await until("the snoozed crash", lambda: leader.received(Disposition.SUPPRESSED) == 1)
    assert len(harness.posts()) == 1


async def test_rediagnose_previous_logs_and_runbook_answer_in_the_thread(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    bot = await harness.leading(await harness.start())
    message, http = await alert_and_app(harness, make_http_bot, bot)

    await click(http, message, "exitcode_alert_rediagnose")
    await until("the diagnosis", lambda: len(thread_replies(harness, message)) == 1)
    diagnosis = thread_replies(harness, message)[0]
    assert "Live diagnosis" in json.dumps(diagnosis["blocks"]) and "api-7d9f8c6b5-x2x9z" in diagnosis["text"]

    await click(http, message, "exitcode_alert_logs")
    await until("the logs", lambda: len(thread_replies(harness, message)) == 2)
    logs = json.dumps(thread_replies(harness, message)[1]["blocks"])
    assert "panic: nil map &lt;!here&gt;" in logs and "<!here>" not in logs

    await click(http, message, "exitcode_alert_runbook_steps")
    await until("the runbook", lambda: len(thread_replies(harness, message)) == 3)
    runbook = json.dumps(thread_replies(harness, message)[2]["blocks"])
    assert "kubectl" in runbook and "api-7d9f8c6b5-x2x9z" in runbook  # commands name this pod


async def test_the_runbook_reply_names_the_configured_command(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    bot = await harness.leading(await harness.start())
    message, http = await alert_and_app(harness, make_http_bot, bot, slash_command="/exitcode-prod")

    await click(http, message, "exitcode_alert_runbook_steps")
    await until("the runbook", lambda: len(thread_replies(harness, message)) == 1)
    runbook = json.dumps(thread_replies(harness, message)[0]["blocks"])
    assert "/exitcode-prod" in runbook and "/exitcode " not in runbook


async def test_a_forged_button_or_a_vanished_pod_gets_a_private_explanation(
    harness: Harness, make_http_bot: MakeHttpBot
) -> None:
    bot = await harness.leading(await harness.start())
    message, http = await alert_and_app(harness, make_http_bot, bot)

    await click(http, message, "exitcode_alert_rediagnose", value='{"ns": "<!channel>"}')
    await until("the first answer", lambda: len(http.api.response_posts) == 1)
    assert "could not be read" in http.api.response_posts[0].body["text"]

    harness.kube.cluster.delete("Pod", "shop", message_pod(message))
    await click(http, message, "exitcode_alert_rediagnose")
    await until("the second answer", lambda: len(http.api.response_posts) == 2)
    answer = http.api.response_posts[1].body
    assert answer["response_type"] == "ephemeral" and "Could not re-diagnose" in answer["text"]
    assert thread_replies(harness, message) == []


def message_pod(message: JsonDict) -> str:
    return str(json.loads(button_value(message, "exitcode_alert_rediagnose"))["pod"])
