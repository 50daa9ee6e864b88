"""Requests exactly as Slack sends them to an app in HTTP mode: signed form bodies.

Slack signs `v0:{timestamp}:{raw body}` with HMAC-SHA256 under the app's signing secret and sends
`X-Slack-Signature: v0=<hex>` and `X-Slack-Request-Timestamp: <unix seconds>`
(https://api.slack.com/authentication/verifying-requests-from-slack). Slash commands arrive as
`application/x-www-form-urlencoded` fields; interactive payloads (button clicks) as one form field
`payload` holding JSON. The same payload dicts are what Socket Mode envelopes carry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

TEAM_ID = "T0FAKETEAM"
TEAM_DOMAIN = "fake-workspace"
APP_ID = "A0FAKEAPP"
USER_ID = "U0ONCALL"
USER_NAME = "oncall"
CHANNEL_ID = "C0INCIDENT"
CHANNEL_NAME = "incident-123"
BOT_USER_ID = "U0EXITBOT"
BOT_ID = "B0EXITBOT"
# Slack still sends the deprecated verification token in every payload; Bolt ignores it.
VERIFICATION_TOKEN = "FakeVerificationToken123"


def signature(secret: str, timestamp: str, body: str | bytes) -> str:
    """The `X-Slack-Signature` value Slack computes for this body."""
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + timestamp.encode() + b":" + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str,
    body: str | bytes,
    *,
    timestamp: int | None = None,
    content_type: str = FORM_CONTENT_TYPE,
) -> dict[str, str]:
    """Headers of a genuine Slack request; pass an old `timestamp` to build a replayed one."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature(secret, ts, body),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


def slash_command_payload(
    text: str,
    *,
    command: str = "/exitcode",
    response_url: str = "https://hooks.slack.com/commands/T0FAKETEAM/1/fake",
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    channel_name: str = CHANNEL_NAME,
    trigger_id: str = "13345224609.738474920.8088930838d88f008e0",
) -> dict[str, str]:
    """Every field Slack sends with a slash command (all strings, as form fields are)."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": USER_NAME,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def block_actions_payload(
    action_id: str,
    value: str,
    *,
    response_url: str = "https://hooks.slack.com/actions/T0FAKETEAM/2/fake",
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    message_ts: str = "1700000000.000100",
    block_id: str = "exitcode_actions",
    container_type: str = "message",
) -> dict[str, Any]:
    """A `block_actions` payload for a button click, as Slack posts it.

    `container_type="ephemeral"` describes a click on an ephemeral reply (such as the `/exitcode`
    answer): Slack then sends no `message` object, only the container.
    """
    action = {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "text": {"type": "plain_text", "text": "Share in channel", "emoji": True},
        "value": value,
        "action_ts": "1700000100.123456",
    }
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel_id,
        "is_ephemeral": container_type == "ephemeral",
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": USER_NAME, "name": USER_NAME, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": container,
        "trigger_id": "13345224609.738474920.8088930838d88f008e1",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": CHANNEL_NAME},
        "response_url": response_url,
        "actions": [action],
        "state": {"values": {}},
    }
    if container_type != "ephemeral":
        payload["message"] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": message_ts,
            "text": "exit code answer",
            "blocks": [],
        }
    return payload


def slash_command_body(text: str, **fields: str) -> str:
    """The form-encoded body of a slash command request."""
    return urlencode(slash_command_payload(text, **fields))


def interactive_body(payload: dict[str, Any]) -> str:
    """The form-encoded body of an interactivity request (`payload=<json>`)."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
