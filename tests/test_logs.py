"""Logging: text or JSON lines, and no token or secret ever reaches the output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.logs import REDACTED, LogFormat, configure_logging

BOT_TOKEN = "xoxb-1234-5678-AbCdEfGhIjKl"
APP_TOKEN = "xapp-1-A0FAKE-999-abcdef0123"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture(autouse=True)
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def configured(log_format: LogFormat) -> io.StringIO:
    stream = io.StringIO()
    configure_logging("DEBUG", log_format, secrets=[BOT_TOKEN, SIGNING_SECRET], stream=stream)
    return stream


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_in_messages_arguments_and_tracebacks_are_redacted(log_format: LogFormat) -> None:
    stream = configured(log_format)
    log = logging.getLogger("some.library")

    log.info("connecting with %s and secret %s", BOT_TOKEN, SIGNING_SECRET)
    log.debug(f"headers: {{'Authorization': 'Bearer {APP_TOKEN}'}}")
    try:
        raise RuntimeError(f"auth failed for token={BOT_TOKEN}")
    except RuntimeError:
        log.exception("request failed")

    output = stream.getvalue()
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output
    assert APP_TOKEN not in output, "a token-shaped string is redacted even when not configured"
    assert output.count(REDACTED) >= 4


def test_json_format_is_one_object_per_line_with_level_logger_and_message() -> None:
    stream = configured("json")

    logging.getLogger("bot.test").warning("crash alert for %s", "payments/api-0")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("bot.test").exception("failed")

    lines = stream.getvalue().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["logger"] == "bot.test"
    assert first["message"] == "crash alert for payments/api-0"
    assert "ValueError: boom" in second["exception"]


def test_level_filters_and_noisy_library_loggers_stay_quiet_at_info() -> None:
    stream = io.StringIO()
    configure_logging("warning", "text", stream=stream)

    logging.getLogger("bot.x").info("not shown")
    logging.getLogger("bot.x").warning("shown")

    assert "shown" in stream.getvalue() and "not shown" not in stream.getvalue()
    configure_logging("INFO", "text", stream=stream)
    assert logging.getLogger("aiohttp.access").getEffectiveLevel() == logging.WARNING
