"""A fake PagerDuty Events API v2 (`POST /v2/enqueue`) on a local aiohttp server.

The bot reaches it the way it reaches PagerDuty: `PAGERDUTY_EVENTS_URL` = `fake.events_url`. It validates
events as the real service does and answers with the real shapes:

- `202 {"status": "success", "message": "Event processed", "dedup_key": ...}`;
- `400 {"status": "invalid event", "message": "Event object is invalid", "errors": [...]}` for a body that
  is not a JSON object, a routing key that is not 32 alphanumeric characters, or one no integration has
  ("Invalid routing key"), an unknown `event_action`, a trigger without `payload.summary`, `source` or a
  valid `severity`, a summary over 1024 characters, a `dedup_key` over 255, an acknowledge/resolve
  without `dedup_key`, links without `href`, `custom_details` that is not an object;
- `413` for a body over the documented 512 KB;
- `429 {"status": "throttle event", ...}` (with or without `Retry-After`) and `5xx` when told to.

It keeps PagerDuty's alert model, so tests assert what the on-call engineer sees: alerts by
(routing key, `dedup_key`); a trigger opens one, or is appended to the open one's log; acknowledge and
resolve apply to the open one (and are dropped when there is none); a trigger after a resolve opens a
new alert with the same key.

Faults, queued (`fake.fail(RateLimited(retry_after=1), times=2)`): `RateLimited`, `ServerError`,
`Disconnect(processed=True)` (the event is processed, then the connection drops before the answer: the
"timeout after accepted" that makes a retry send it twice), and `fake.down = True` (every connection is
dropped unanswered, as during an outage).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

JsonDict = dict[str, Any]

ROUTING_KEY = "R0UT1NGKEYDEFAULT000000000000001"
"""A valid-looking integration key the fake knows (32 alphanumeric characters, as PagerDuty's)."""
ROUTING_KEY_2 = "R0UT1NGKEYCHECKOUT00000000000002"
MAX_BODY = 512 * 1024
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")
_ALPHANUMERIC = re.compile(r"^[A-Za-z0-9]*$")


# --- faults -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """Something that goes wrong with one request."""


@dataclass(frozen=True)
class RateLimited(Fault):
    """429 (PagerDuty sends no `Retry-After`; a proxy in front may)."""

    retry_after: float | None = None


@dataclass(frozen=True)
class ServerError(Fault):
    status: int = 500


@dataclass(frozen=True)
class Disconnect(Fault):
    """Drop the connection without an answer; with `processed` the event was processed first."""

    processed: bool = False


# --- records ----------------------------------------------------------------------------------------------


@dataclass
class Alert:
    """One PagerDuty alert: opened by a trigger, its log the events applied to it."""

    routing_key: str
    dedup_key: str
    status: str  # triggered | acknowledged | resolved
    log: list[JsonDict] = field(default_factory=list)

    @property
    def first(self) -> JsonDict:
        """The trigger that opened it (its summary is the alert's title)."""
        return self.log[0]

    @property
    def triggers(self) -> list[JsonDict]:
        return [event for event in self.log if event["event_action"] == "trigger"]


@dataclass(frozen=True)
class Request:
    """One request as the fake answered it (`status` 0: dropped unanswered)."""

    body: bytes
    status: int
    answer: JsonDict | None
    at: float


class FakePagerDuty:
    """Use `async with FakePagerDuty() as pagerduty:`; `pagerduty.events_url` is `PAGERDUTY_EVENTS_URL`."""

    def __init__(self, routing_keys: tuple[str, ...] = (ROUTING_KEY, ROUTING_KEY_2)) -> None:
        self.routing_keys = set(routing_keys)
        self.requests: list[Request] = []
        self.alerts: list[Alert] = []
        self.down = False
        self._faults: deque[Fault] = deque()
        self._changed = asyncio.Event()
        app = web.Application(client_max_size=4 * MAX_BODY)
        app.router.add_post("/v2/enqueue", self._enqueue)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> FakePagerDuty:
        await self._server.start_server()
        return self

    async def close(self) -> None:
        await self._server.close()

    async def __aenter__(self) -> FakePagerDuty:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}/v2/enqueue"

    # configuration and inspection

    def fail(self, fault: Fault, times: int = 1) -> None:
        self._faults.extend([fault] * times)

    def alerts_for(self, dedup_key: str) -> list[Alert]:
        return [alert for alert in self.alerts if alert.dedup_key == dedup_key]

    @property
    def accepted(self) -> list[Request]:
        return [request for request in self.requests if request.status == 202]

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        """Wait until `predicate()` holds (re-checked after every request)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    # the endpoint

    async def _enqueue(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self.down:
            return self._drop(request, body)
        fault = self._faults.popleft() if self._faults else None
        if isinstance(fault, Disconnect):
            if fault.processed:
                self._process(body)
            return self._drop(request, body)
        if isinstance(fault, RateLimited):
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            answer = {
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly.  Please retry later.",
            }
            return self._answer(body, 429, answer, headers)
        if isinstance(fault, ServerError):
            return self._answer(body, fault.status, {"status": "error", "message": "Internal error"})
        status, answer = self._process(body)
        return self._answer(body, status, answer)

    def _drop(self, request: web.Request, body: bytes) -> web.StreamResponse:
        self.requests.append(Request(body, 0, None, time.monotonic()))
        self._changed.set()
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    def _answer(
        self, body: bytes, status: int, answer: JsonDict, headers: dict[str, str] | None = None
    ) -> web.Response:
        self.requests.append(Request(body, status, answer, time.monotonic()))
        self._changed.set()
        return web.json_response(answer, status=status, headers=headers)

    def _process(self, body: bytes) -> tuple[int, JsonDict]:
        if len(body) > MAX_BODY:
            return 413, {"status": "invalid event", "message": "Request Entity Too Large"}
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _invalid(["Malformed JSON: the body is not valid JSON"])
        if not isinstance(event, dict):
            return _invalid(["Event object is not a JSON object"])
        errors = validate_event(event)
        if errors:
            return _invalid(errors)
        if event["routing_key"] not in self.routing_keys:
            return _invalid(["Invalid routing key"])
        key = event.get("dedup_key") or f"generated-{len(self.alerts) + 1:08d}"
        self._apply(event, key)
        return 202, {"status": "success", "message": "Event processed", "dedup_key": key}

    def _apply(self, event: JsonDict, key: str) -> None:
        """PagerDuty's model: events apply to the open alert of (routing key, dedup key)."""
        routing_key, action = event["routing_key"], event["event_action"]
        open_alert = next(
            (
                alert
                for alert in reversed(self.alerts)
                if alert.routing_key == routing_key and alert.dedup_key == key and alert.status != "resolved"
            ),
            None,
        )
        if open_alert is None:
            if action == "trigger":
                self.alerts.append(Alert(routing_key, key, "triggered", [event]))
            return  # acknowledge / resolve with no open alert: dropped
        open_alert.log.append(event)
        if action == "resolve":
            open_alert.status = "resolved"
        elif action == "acknowledge":
            open_alert.status = "acknowledged"


def _invalid(errors: list[str]) -> tuple[int, JsonDict]:
    return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}


def validate_event(event: JsonDict) -> list[str]:
    """What the Events API v2 rejects in an alert event (empty: valid)."""
    errors: list[str] = []
    routing_key = event.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key:
        errors.append("'routing_key' is missing or blank")
    else:
        if len(routing_key) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        if not _ALPHANUMERIC.match(routing_key):
            errors.append("'routing_key' cannot contain non-alphanumeric characters.")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is missing or blank" if not action else "'event_action' is invalid")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > MAX_DEDUP_KEY):
        errors.append(f"'dedup_key' is too long (maximum is {MAX_DEDUP_KEY} characters) or not a string")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        errors.extend(_payload_errors(event.get("payload")))
        errors.extend(_context_errors(event))
    return errors


def _payload_errors(payload: object) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or blank"]
    errors = []
    for name in ("summary", "source"):
        value = payload.get(name)
        if not isinstance(value, str) or not value.strip():
            errors.append(f"'payload.{name}' is missing or blank")
    summary = payload.get("summary")
    if isinstance(summary, str) and len(summary) > MAX_SUMMARY:
        errors.append(f"'payload.summary' is too long (maximum is {MAX_SUMMARY} characters)")
    if payload.get("severity") not in SEVERITIES:
        errors.append(f"'payload.severity' is invalid (must be one of: {', '.join(SEVERITIES)})")
    timestamp = payload.get("timestamp")
    if timestamp is not None and not _iso8601(timestamp):
        errors.append("'payload.timestamp' is invalid (must be an ISO 8601 timestamp)")
    for name in ("component", "group", "class"):
        if name in payload and not isinstance(payload[name], str):
            errors.append(f"'payload.{name}' must be a string")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        errors.append("'payload.custom_details' must be an object")
    return errors


def _context_errors(event: JsonDict) -> list[str]:
    errors = []
    links = event.get("links", [])
    if not isinstance(links, list) or any(
        not isinstance(link, dict) or not isinstance(link.get("href"), str) or not link["href"]
        for link in links
    ):
        errors.append("'links' must be a list of objects with an 'href'")
    images = event.get("images", [])
    if not isinstance(images, list) or any(
        not isinstance(image, dict) or not str(image.get("src", "")).startswith("https://")
        for image in images
    ):
        errors.append("'images' must be a list of objects with an https 'src'")
    return errors


def _iso8601(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True
