"""`HttpDelivery`, the delivery loop every HTTP surface shares, against a scripted local server.

Waits are recorded by an injected sleep (never waited, never timed): pacing, `Retry-After`, its cap and
the backoff's growth are asserted as the waits the loop asked for. One-at-a-time per target is asserted
on the server's side, by how many requests of a target were in flight at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.surfaces.http_delivery import Answer, DeliveryTiming, HttpDelivery, Rejected

TOKEN = "sig-9f8e7d6c5b4a"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    """Reset the connection instead of answering (after the request was read)."""
    hold: bool = False
    """Answer only once `ScriptedServer.release` is set (a slow service; or never, for timeouts)."""


class ScriptedServer:
    """Answers `POST /<target>` with the next scripted `Reply` of that target (default: `200 ok`)."""

    def __init__(self) -> None:
        self.script: dict[str, deque[Reply]] = defaultdict(deque)
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.in_flight: dict[str, int] = defaultdict(int)
        self.most_in_flight: dict[str, int] = defaultdict(int)
        self.release = asyncio.Event()
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/{target}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> ScriptedServer:
        await self._server.start_server(access_log=None)
        return self

    async def close(self) -> None:
        await self._server.close()

    def url(self, target: str) -> str:
        return f"{self._server.make_url('/' + target)}?token={TOKEN}"

    def then(self, target: str, *replies: Reply) -> None:
        self.script[target].extend(replies)

    def arrived(self, target: str) -> int:
        return sum(1 for seen, _ in self.seen if seen == target)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(predicate)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        target = request.match_info["target"]
        await request.read()
        reply = self.script[target].popleft() if self.script[target] else Reply()
        self.in_flight[target] += 1
        self.most_in_flight[target] = max(self.most_in_flight[target], self.in_flight[target])
        async with self._changed:
            self.seen.append((target, dict(request.headers)))
            self._changed.notify_all()
        try:
            if reply.hold:
                await self.release.wait()
            if reply.drop:
                assert request.transport is not None
                request.transport.abort()
            return web.Response(status=reply.status, text=reply.body, headers=reply.headers)
        finally:
            self.in_flight[target] -= 1


class Waits(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    fake = await ScriptedServer().start()
    yield fake
    fake.release.set()
    await fake.close()


def delivery(waits: Waits, errors: list[str] | None = None, **timing: float) -> HttpDelivery:
    settings = {"min_interval_seconds": 0.0, "backoff_base_seconds": 1.0, "backoff_cap_seconds": 8.0} | timing
    hook = errors.append if errors is not None else (lambda _: None)
    return HttpDelivery("test", DeliveryTiming(**settings), on_error=hook, sleep=waits, rng=random.Random(7))


def no_headers() -> dict[str, str]:
    return {}


async def test_one_request_at_a_time_per_target_while_targets_go_in_parallel(server: ScriptedServer) -> None:
    loop = delivery(Waits())
    server.then("a", Reply(hold=True))
    try:
        first = asyncio.create_task(loop.post("a", server.url("a"), b"{}", no_headers))
        second = asyncio.create_task(loop.post("a", server.url("a"), b"{}", no_headers))
        await server.wait_for(lambda: server.arrived("a") == 1)
        await loop.post("b", server.url("b"), b"{}", no_headers)  # not held up by a's slow answer
        assert server.arrived("a") == 1 and not second.done(), "a's second request waits for the first"
        server.release.set()
        await asyncio.gather(first, second)
    finally:
        await loop.close()
    assert server.arrived("a") == 2 and server.most_in_flight["a"] == 1


async def test_the_next_request_to_a_target_waits_the_interval_after_the_answer(
    server: ScriptedServer,
) -> None:
    waits = Waits()
    loop = delivery(waits, min_interval_seconds=30.0)
    try:
        await loop.post("a", server.url("a"), b"{}", no_headers)
        await loop.post("b", server.url("b"), b"{}", no_headers)
        assert waits == [], "a target's first request does not wait, nor does another target's"
        await loop.post("a", server.url("a"), b"{}", no_headers)
    finally:
        await loop.close()
    assert len(waits) == 1 and 0 < waits[0] <= 30.0


async def test_a_refused_request_still_paces_the_next_one(server: ScriptedServer) -> None:
    waits = Waits()
    loop = delivery(waits, min_interval_seconds=30.0)
    server.then("a", Reply(400, "no"))
    try:
        with pytest.raises(Rejected):
            await loop.post("a", server.url("a"), b"{}", no_headers)
        await loop.post("a", server.url("a"), b"{}", no_headers)
    finally:
        await loop.close()
    assert len(waits) == 1 and 0 < waits[0] <= 30.0, "a refusal is an arrival the service counted"


async def test_retry_after_is_waited_then_the_request_is_sent_again(server: ScriptedServer) -> None:
    waits, errors = Waits(), list[str]()
    loop = delivery(waits, errors)
    server.then("a", Reply(429, "slow down", {"Retry-After": "7"}))
    try:
        answer = await loop.post("a", server.url("a"), b"{}", no_headers)
    finally:
        await loop.close()
    assert answer == Answer(200, b"ok") and server.arrived("a") == 2
    assert len(waits) == 1 and 7.0 <= waits[0] <= 7.25 and errors == ["ratelimited"]


async def test_a_huge_retry_after_is_capped(server: ScriptedServer) -> None:
    waits = Waits()
    loop = delivery(waits, max_retry_after_seconds=600.0)
    server.then("a", Reply(429, headers={"Retry-After": "86400"}), Reply(429, headers={"Retry-After": "inf"}))
    try:
        await loop.post("a", server.url("a"), b"{}", no_headers)
    finally:
        await loop.close()
    assert len(waits) == 2 and all(600.0 <= wait <= 600.25 for wait in waits)


@pytest.mark.parametrize("value", [None, "Wed, 21 Oct 2026 07:28:00 GMT", "soon", "nan"])
async def test_a_missing_or_unreadable_retry_after_backs_off(
    server: ScriptedServer, value: str | None
) -> None:
    waits = Waits()
    loop = delivery(waits)
    server.then("a", Reply(429, headers={"Retry-After": value} if value is not None else {}))
    try:
        await loop.post("a", server.url("a"), b"{}", no_headers)
    finally:
        await loop.close()
    assert len(waits) == 1 and 0.5 <= waits[0] <= 1.0  # the first backoff step


async def test_backoff_doubles_up_to_its_cap(server: ScriptedServer) -> None:
    waits, errors = Waits(), list[str]()
    loop = delivery(waits, errors, backoff_base_seconds=1.0, backoff_cap_seconds=8.0)
    server.then("a", *[Reply(503, "down")] * 7)
    try:
        await loop.post("a", server.url("a"), b"{}", no_headers)
    finally:
        await loop.close()
    ceilings = [1, 2, 4, 8, 8, 8, 8]
    assert len(waits) == len(ceilings) and errors == ["server_error"] * 7
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling


@pytest.mark.parametrize("status", [408, 425, 500, 502, 503, 504])
async def test_transient_statuses_are_retried(server: ScriptedServer, status: int) -> None:
    loop = delivery(Waits())
    server.then("a", Reply(status, "later"))
    try:
        answer = await loop.post("a", server.url("a"), b"{}", no_headers)
    finally:
        await loop.close()
    assert answer.status == 200 and server.arrived("a") == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422, 301])
async def test_other_answers_are_refusals_carrying_the_services_words(
    server: ScriptedServer, status: int
) -> None:
    errors: list[str] = []
    loop = delivery(Waits(), errors)
    words = "field 'text' is required\n" + "x" * 1000
    server.then("a", Reply(status, words, {"Location": server.url("elsewhere")} if status == 301 else {}))
    try:
        with pytest.raises(Rejected) as refused:
            await loop.post("a", server.url("a"), b"{}", no_headers)
    finally:
        await loop.close()
    assert refused.value.status == status and server.arrived("a") == 1
    assert refused.value.detail == ("field 'text' is required " + "x" * 1000)[:200]
    assert errors == [f"http_{status}"] and server.arrived("elsewhere") == 0


async def test_a_dropped_answer_and_a_timeout_are_retried(server: ScriptedServer) -> None:
    errors: list[str] = []
    loop = delivery(Waits(), errors, timeout_seconds=0.5)
    server.then("a", Reply(drop=True), Reply(hold=True))  # reset, then accepted but never answered
    try:
        answer = await loop.post("a", server.url("a"), b"{}", no_headers)
    finally:
        await loop.close()
    assert answer.status == 200 and server.arrived("a") == 3
    assert errors == ["connection", "timeout"]


async def test_headers_are_made_fresh_for_every_attempt(server: ScriptedServer) -> None:
    loop = delivery(Waits())
    made = iter(range(100))
    server.then("a", Reply(503), Reply(503))
    try:
        await loop.post("a", server.url("a"), b"{}", lambda: {"X-Attempt": str(next(made))})
    finally:
        await loop.close()
    assert [headers["X-Attempt"] for _, headers in server.seen] == ["0", "1", "2"]
    assert all(headers["Content-Type"] == "application/json" for _, headers in server.seen)


async def test_nothing_it_logs_names_the_url(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    loop = delivery(Waits(), timeout_seconds=0.5)
    server.then("a", Reply(503), Reply(drop=True), Reply(hold=True), Reply(429), Reply(403, "no"))
    with caplog.at_level(logging.DEBUG):
        try:
            with pytest.raises(Rejected) as refused:
                await loop.post("a", server.url("a"), b"{}", lambda: {"Authorization": f"Bearer {TOKEN}"})
        finally:
            await loop.close()
    assert "event=alert_delivery_retry surface=test target=a" in caplog.text
    assert TOKEN not in caplog.text + str(refused.value)


async def test_a_closed_delivery_opens_a_new_session_when_used_again(server: ScriptedServer) -> None:
    loop = delivery(Waits())
    await loop.post("a", server.url("a"), b"{}", no_headers)
    await loop.close()
    try:
        assert (await loop.post("a", server.url("a"), b"{}", no_headers)).status == 200
    finally:
        await loop.close()
