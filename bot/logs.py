"""Logging setup: `LOG_LEVEL`, `LOG_FORMAT` (json or text), and no token ever reaches the output.

Redaction happens in the formatter, on the final text of every record (message, arguments, exception
and stack text), so a token cannot leak through a library's debug line, an f-string or a traceback.
Two layers: the exact secret values the bot was configured with, and anything shaped like a Slack
token (`xoxb-…`, `xapp-…`), in case a token arrives from somewhere the settings do not know about.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal, TextIO

REDACTED = "[redacted]"

# Slack token shapes: bot/user/app-level/config/refresh tokens and legacy workspace tokens.
_SLACK_TOKEN_SHAPE = re.compile(r"\b(?:xox[abpsroe]|xapp|xoxe\.xox[bp])-[A-Za-z0-9-]+")
# Secrets shorter than this are not substituted: redacting "a" everywhere would destroy every line.
_MIN_SECRET_LENGTH = 6

LogFormat = Literal["json", "text"]


class Redactor:
    """Replaces known secret values and Slack-token-shaped strings with `[redacted]`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        known = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._known = re.compile("|".join(re.escape(s) for s in known)) if known else None

    def __call__(self, text: str) -> str:
        if self._known is not None:
            text = self._known.sub(REDACTED, text)
        return _SLACK_TOKEN_SHAPE.sub(REDACTED, text)


class RedactingTextFormatter(logging.Formatter):
    """Human-readable lines for a terminal or `kubectl logs`."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(fmt="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class RedactingJsonFormatter(logging.Formatter):
    """One JSON object per line, for log pipelines (Loki, Elasticsearch, Cloud Logging)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self._redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = self._redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = self._redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(
    level: str = "INFO",
    log_format: LogFormat = "text",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Route every logger through one redacting handler on stderr; returns that handler.

    Replaces handlers installed earlier (a second call reconfigures instead of duplicating lines).
    Library loggers that are chatty at INFO (aiohttp access lines for every health probe) are kept at
    WARNING, urllib3's per-retry warnings at ERROR, unless the operator asks for DEBUG.
    """
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter: logging.Formatter = (
        RedactingJsonFormatter(redactor) if log_format == "json" else RedactingTextFormatter(redactor)
    )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet = logging.DEBUG if level.upper() == "DEBUG" else logging.WARNING
    for name in ("aiohttp.access", "slack_bolt", "slack_sdk"):
        logging.getLogger(name).setLevel(quiet)
    # urllib3 warns on every reconnect attempt while the API server is down; the watcher already logs
    # the outage once and counts restarts in a metric.
    logging.getLogger("urllib3.connectionpool").setLevel(
        logging.DEBUG if quiet == logging.DEBUG else logging.ERROR
    )
    return handler
