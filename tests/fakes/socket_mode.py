"""A fake Slack Socket Mode endpoint: a local websocket server speaking Slack's envelope protocol.

The flow is Slack's (https://api.slack.com/apis/socket-mode): the app calls `apps.connections.open`
with its `xapp-` token (answered by `FakeSlackApi`, whose `socket_mode_url` is `server.issue_url`),
opens the returned `ws://…/link/?ticket=…` URL, receives `hello`, then receives envelopes
(`{"envelope_id", "type", "payload", "accepts_response_payload"}`) and acknowledges each one by sending
`{"envelope_id": …, "payload": {…}}` back; for slash commands the payload is the answer itself.
Tickets are single use, as Slack's are. `disconnect()` sends Slack's `disconnect` message so the client
has to fetch a new URL and reconnect.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from tests.fakes.slack_signing import APP_ID

JsonDict = dict[str, Any]


class FakeSocketModeServer:
    """`async with FakeSocketModeServer() as ws:`, then `FakeSlackApi(socket_mode_url=ws.issue_url)`."""

    def __init__(self) -> None:
        self.connections: list[web.WebSocketResponse] = []
        self.acks: dict[str, JsonDict] = {}
        self.received: list[JsonDict] = []
        self.connect_count = 0
        self.rejected_tickets: list[str] = []
        self._tickets: set[str] = set()
        self._changed = asyncio.Event()
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> FakeSocketModeServer:
        await self._server.start_server()
        return self

    async def close(self) -> None:
        for ws in list(self.connections):
            await ws.close()
        await self._server.close()

    async def __aenter__(self) -> FakeSocketModeServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def issue_url(self) -> str:
        """A fresh single-use websocket URL, as `apps.connections.open` returns."""
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self._server.port}/link/?ticket={ticket}&app_id={APP_ID}"

    @property
    def open_connections(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self.connections if not ws.closed]

    # what the tests drive

    async def wait_connected(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until at least `count` connections were accepted and one is open."""
        await self._wait(lambda: self.connect_count >= count and bool(self.open_connections), timeout)

    async def send_envelope(self, kind: str, payload: JsonDict, *, accepts_response_payload: bool) -> str:
        """Deliver one envelope on the newest open connection; returns its `envelope_id`."""
        if not self.open_connections:
            raise RuntimeError("no Socket Mode client is connected")
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        await self.open_connections[-1].send_str(json.dumps(envelope))
        return envelope_id

    async def send_slash_command(self, payload: JsonDict) -> str:
        return await self.send_envelope("slash_commands", payload, accepts_response_payload=True)

    async def send_interactive(self, payload: JsonDict) -> str:
        return await self.send_envelope("interactive", payload, accepts_response_payload=False)

    async def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> JsonDict:
        """The client's acknowledgement message (`{"envelope_id", "payload"?}`) for one envelope."""
        await self._wait(lambda: envelope_id in self.acks, timeout)
        return self.acks[envelope_id]

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the clients to reconnect, as Slack does every few hours."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-applink"}}
        for ws in self.open_connections:
            await ws.send_str(json.dumps(message))

    async def drop_connections(self) -> None:
        """Close every connection abruptly (a network failure from the client's point of view)."""
        for ws in self.open_connections:
            await ws.close(code=1006)

    # internals

    async def _wait(self, predicate: Any, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            self.rejected_tickets.append(ticket)
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections.append(ws)
        self.connect_count += 1
        hello = {
            "type": "hello",
            "num_connections": len(self.open_connections),
            "debug_info": {"host": "fake-applink", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }
        await ws.send_str(json.dumps(hello))
        self._notify()
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            self.received.append(data)
            if isinstance(data, dict) and "envelope_id" in data:
                self.acks[str(data["envelope_id"])] = data
            self._notify()
        self._notify()
        return ws
