"""A webhook receiver as an operator would write one, on a local aiohttp server.

It does what the README tells receivers to do, independently of the bot's code (its own HMAC, its own
reading of the schema file), so a bot that signs or shapes events wrongly fails here:

- verifies `X-Exitcode-Signature` over the **raw** body before parsing anything: `401` for a missing
  or wrong signature, and for a timestamp more than `tolerance` seconds from its clock (a replay);
- validates the body against `docs/webhook-event.v1.schema.json` (Draft 2020-12): `422` if invalid;
- de-duplicates by `Idempotency-Key`: the first delivery of a key goes to the "application"
  (`events`), a later one is recorded in `duplicates` and answered `200` (or `409` with
  `conflict_on_duplicate=True`);
- faults, queued per request (`fail(fault, times=n)`): `RateLimited` (429 with `Retry-After`),
  `ServerError`, `Refuse` (a 4xx with a short body), `AcceptThenDrop` (the application gets the event,
  then the connection is dropped before the answer: the bot must retry and the receiver de-duplicate),
  and `Down` (the connection is reset without anything processed).

Every request is in `attempts` with its headers, whatever it was answered, so tests can assert both
"the application saw each alert once" and "it took n attempts".
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from jsonschema import Draft202012Validator

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "webhook-event.v1.schema.json"
PATH = "/hooks/exitcode"
REPLAY_TOLERANCE_SECONDS = 300


def schema_validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


# --- faults ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """Something that goes wrong with one request."""


@dataclass(frozen=True)
class RateLimited(Fault):
    retry_after: str | None = "1"


@dataclass(frozen=True)
class ServerError(Fault):
    status: int = 503
    body: str = "upstream unavailable"


@dataclass(frozen=True)
class Refuse(Fault):
    """A permanent refusal (`400`, `403`, `413`…) with the receiver's short explanation."""

    status: int = 400
    body: str = "bad request"


@dataclass(frozen=True)
class AcceptThenDrop(Fault):
    """The application takes the event, then the connection drops before the answer."""


@dataclass(frozen=True)
class Down(Fault):
    """The connection is reset before anything is processed."""


# --- records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One request as it arrived, and what it was answered (0: no answer, the connection dropped)."""

    headers: Mapping[str, str]
    body: bytes
    status: int
    why: str
    at: float = field(default_factory=time.monotonic)
    """When it arrived (the storm benchmark's clock)."""

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


class WebhookReceiver:
    """See the module docstring. `clock` is the receiver's idea of now (tests move it for replays)."""

    def __init__(
        self,
        secret: str,
        *,
        conflict_on_duplicate: bool = False,
        clock: Callable[[], float] = time.time,
        tolerance: float = REPLAY_TOLERANCE_SECONDS,
    ) -> None:
        self.secret = secret
        self.conflict_on_duplicate = conflict_on_duplicate
        self.clock = clock
        self.tolerance = tolerance
        self.attempts: list[Attempt] = []
        self.events: list[dict[str, Any]] = []
        """What the application received: each idempotency key once, in arrival order."""
        self.duplicates: list[str] = []
        """Idempotency keys that arrived again after the application had them."""
        self._faults: deque[Fault] = deque()
        self._validator = schema_validator()
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_post(PATH, self._handle)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> WebhookReceiver:
        # No access log: it is the receiver's log, and it would show the URL's token in the bot's tests.
        await self._server.start_server(access_log=None)
        return self

    async def close(self) -> None:
        await self._server.close()

    @property
    def url(self) -> str:
        return str(self._server.make_url(PATH))

    def fail(self, fault: Fault, times: int = 1) -> None:
        self._faults.extend([fault] * times)

    @property
    def keys(self) -> list[str]:
        return [str(event["idempotency_key"]) for event in self.events]

    def attempts_for(self, key: str) -> list[Attempt]:
        return [attempt for attempt in self.attempts if attempt.idempotency_key == key]

    async def wait_for(self, predicate: Callable[[WebhookReceiver], bool], timeout: float = 10.0) -> None:
        """Wait until `predicate(self)` holds (checked after every request)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    # --- the receiver ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = request.headers
        fault = self._faults.popleft() if self._faults else None
        if isinstance(fault, Down):
            return await self._drop(request, headers, body, "down")
        refusal = self.verify(headers, body)
        if refusal is not None:
            return await self._answer(headers, body, 401, refusal)
        try:
            event = json.loads(body)
        except ValueError:
            return await self._answer(headers, body, 400, "body is not JSON")
        problems = sorted(self._validator.iter_errors(event), key=lambda error: list(error.path))
        if problems:
            first = problems[0]
            where = "/".join(str(part) for part in first.path)
            return await self._answer(headers, body, 422, f"schema: {where}: {first.message}"[:300])
        if isinstance(fault, RateLimited):
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return await self._answer(headers, body, 429, "slow down", extra)
        if isinstance(fault, ServerError):
            return await self._answer(headers, body, fault.status, fault.body)
        if isinstance(fault, Refuse):
            return await self._answer(headers, body, fault.status, fault.body)
        key = headers.get("Idempotency-Key", "")
        if key != event["idempotency_key"]:
            return await self._answer(headers, body, 400, "Idempotency-Key differs from the body's")
        duplicate = key in self.keys
        if duplicate:
            self.duplicates.append(key)
        else:
            self.events.append(event)
        if isinstance(fault, AcceptThenDrop):
            return await self._drop(request, headers, body, "accepted, then dropped")
        if duplicate and self.conflict_on_duplicate:
            return await self._answer(headers, body, 409, "already have this idempotency key")
        return await self._answer(headers, body, 200, "duplicate" if duplicate else "ok")

    def verify(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """Why the request is not from the bot (None: it is), as the README's snippet checks it."""
        timestamp = headers.get("X-Exitcode-Timestamp", "")
        signature = headers.get("X-Exitcode-Signature", "")
        if not timestamp.isdigit() or not signature.startswith("v1="):
            return "missing signature"
        if abs(self.clock() - int(timestamp)) > self.tolerance:
            return "stale timestamp (replay?)"
        message = b"v1:" + timestamp.encode() + b":" + body
        expected = hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature[3:]):
            return "bad signature"
        return None

    async def _answer(
        self,
        headers: Mapping[str, str],
        body: bytes,
        status: int,
        why: str,
        extra: dict[str, str] | None = None,
    ) -> web.Response:
        await self._record(Attempt(headers, body, status, why))
        return web.Response(status=status, text=why, headers=extra)

    async def _drop(
        self, request: web.Request, headers: Mapping[str, str], body: bytes, why: str
    ) -> web.Response:
        await self._record(Attempt(headers, body, 0, why))
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    async def _record(self, attempt: Attempt) -> None:
        async with self._changed:
            self.attempts.append(attempt)
            self._changed.notify_all()
