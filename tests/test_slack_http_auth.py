"""Issue 8 finding 6: unauthenticated requests are refused before anything reads their body.

A body that is invalid UTF-8, or bad JSON in `payload=` or in an `application/json` body, used to be
parsed before the signature was checked: a 500 and a 21-line traceback each, so anyone on the network
could fill the log. Now the signature (Slack's v0 scheme over the raw bytes, timestamp within 5
minutes) is checked first; anything unverified is a 401 with at most one rate-limited log line, and a
verified body that still cannot be read is a 400, never a 500.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from tests.conftest import SIGNING_SECRET, HttpBot
from tests.fakes.slack_signing import (
    block_actions_payload,
    interactive_body,
    signature,
    signed_headers,
)

INVALID_UTF8 = b"payload=\xff\xfe\xfa%7B"
BAD_JSON_PAYLOAD = b"payload=%7Bnot-json"
BAD_JSON_BODY = b'{"type": "event_callback", '


def forged_headers(body: bytes, content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    """Signature headers that look right but were made with another secret."""
    return signed_headers("an attacker's guess", body, content_type=content_type)


UNVERIFIED_CASES = [
    pytest.param(INVALID_UTF8, forged_headers(INVALID_UTF8), id="invalid-utf8-forged"),
    pytest.param(BAD_JSON_PAYLOAD, forged_headers(BAD_JSON_PAYLOAD), id="bad-payload-json-forged"),
    pytest.param(
        BAD_JSON_BODY, forged_headers(BAD_JSON_BODY, "application/json"), id="bad-application-json-forged"
    ),
    pytest.param(
        INVALID_UTF8,
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=\u00e9\u00e9"},
        id="non-ascii-signature",
    ),
    pytest.param(
        BAD_JSON_PAYLOAD,
        {"X-Slack-Request-Timestamp": "1" * 400, "X-Slack-Signature": "v0=00"},
        id="huge-timestamp",
    ),
    pytest.param(BAD_JSON_PAYLOAD, {}, id="no-signature-headers"),
    pytest.param(
        INVALID_UTF8,
        signed_headers(SIGNING_SECRET, INVALID_UTF8, timestamp=int(time.time()) - 6 * 60),
        id="stale-but-correctly-signed",
    ),
]


@pytest.mark.parametrize(("body", "headers"), UNVERIFIED_CASES)
async def test_unverified_requests_are_401_whatever_the_body(
    http_bot: HttpBot, body: bytes, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    response = await http_bot.client.post("/slack/events", data=body, headers=headers)

    assert response.status == 401
    assert json.loads(await response.text()) == {"error": "invalid request signature"}
    assert not [record for record in caplog.records if record.exc_info], "no traceback for a stranger"
    assert not http_bot.api.response_posts


async def test_a_flood_of_unverified_requests_logs_at_most_one_line(
    http_bot: HttpBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies = [INVALID_UTF8, BAD_JSON_PAYLOAD, BAD_JSON_BODY]

    for number in range(300):
        body = bodies[number % 3]
        response = await http_bot.client.post("/slack/events", data=body, headers=forged_headers(body))
        assert response.status == 401

    lines = [record for record in caplog.records if not record.name.startswith("aiohttp.access")]
    assert len(lines) <= 1, [record.getMessage() for record in lines]
    assert "refused" in lines[0].getMessage() and "signature" in lines[0].getMessage()
    metrics = (await (await http_bot.client.get("/metrics")).text()).splitlines()
    assert 'exitcode_bot_slack_requests_refused_total{reason="signature"} 300.0' in metrics


async def test_a_signed_body_that_cannot_be_read_is_400_not_500(
    http_bot: HttpBot, caplog: pytest.LogCaptureFixture
) -> None:
    for body in (INVALID_UTF8, BAD_JSON_PAYLOAD):
        response = await http_bot.client.post(
            "/slack/events", data=body, headers=signed_headers(SIGNING_SECRET, body)
        )
        assert response.status == 400, await response.text()
    response = await http_bot.client.post(
        "/slack/events",
        data=BAD_JSON_BODY,
        headers=signed_headers(SIGNING_SECRET, BAD_JSON_BODY, content_type="application/json"),
    )
    assert response.status == 400
    assert not [record for record in caplog.records if record.exc_info]


async def test_the_signature_covers_the_raw_bytes_exactly(http_bot: HttpBot) -> None:
    """A genuine click still works; the same body with one byte changed does not."""
    body = interactive_body(block_actions_payload("exitcode_runbook", ""))
    headers = signed_headers(SIGNING_SECRET, body)
    assert (await http_bot.client.post("/slack/events", data=body, headers=headers)).status == 200

    tampered = body.replace("exitcode_runbook", "exitcode_runbooK")
    assert (await http_bot.client.post("/slack/events", data=tampered, headers=headers)).status == 401
    timestamp = headers["X-Slack-Request-Timestamp"]
    assert headers["X-Slack-Signature"] == signature(SIGNING_SECRET, timestamp, body)
