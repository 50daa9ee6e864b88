"""A fake Slack Web API (and `response_url` endpoint) on a local aiohttp server.

The bot reaches it the way it reaches Slack: `slack_sdk.AsyncWebClient(base_url=fake.base_url)`
(`SLACK_API_URL`), and `response_url`s the tests hand out that point here. Every call is recorded
with its method, token, arguments and time, and answered with the body Slack would send: `ok`, `ts`,
`channel`, `message`…, or Slack's error shapes (`invalid_auth`, `channel_not_found`, `invalid_blocks`,
`ratelimited` with `Retry-After`).

What it can simulate, for the alerting tests as much as for the slash command ones:
- faults per method, queued: `RateLimited`, `ServerError`, `ApiError`, `Delay`
  (`fake.fail("chat.postMessage", RateLimited(retry_after=1), times=2)`);
- Slack's per-channel posting limit (`fake.set_rate_limit("chat.postMessage", calls=1, per_seconds=1)`);
- message state per channel: threads (`thread_ts`), `chat.update`, `chat.delete`, with
  `message_not_found` for unknown timestamps;
- message `metadata` (`event_type` + `event_payload`, validated as Slack does) stored on the message, and
  `conversations.history` over it: channel *ids* only (a `#name` is `channel_not_found`), top-level
  messages newest first, `oldest`/`latest` exclusive unless `inclusive`, `limit` and cursor pages,
  `metadata` only with `include_all_metadata`; `conversations.replies` likewise for one thread (the
  parent first, then its replies, oldest first);
- a dropped connection (`Disconnect`), before or after the call was carried out;
- a slow answer to a call Slack has already carried out (`LateAnswer`): the message is in the channel
  while the client is still waiting, exactly what makes a blind retry post it twice;
- Block Kit validation as Slack enforces it (`invalid_blocks`, `msg_too_long`), so a renderer that breaks
  a limit fails here instead of in production;
- `response_url` posts (at most 5 per URL, as Slack allows; expirable), recorded separately.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes.slack_signing import BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, USER_NAME

JsonDict = dict[str, Any]

DEFAULT_BOT_TOKEN = "xoxb-1111-2222-FakeBotToken"
DEFAULT_APP_TOKEN = "xapp-1-A0FAKEAPP-3333-FakeAppToken"
RESPONSE_URL_MAX_USES = 5  # Slack: "up to 5 times within 30 minutes"

# Block Kit limits Slack enforces (https://api.slack.com/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_TEXT = 75
MAX_CONTEXT_ELEMENTS = 10
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_ACTIONS_ELEMENTS = 25
MAX_BLOCK_ID = 255
MAX_MESSAGE_TEXT = 40000
HISTORY_DEFAULT_LIMIT = 100
HISTORY_MAX_LIMIT = 999


# --- faults ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """Something that goes wrong with one call."""


@dataclass(frozen=True)
class RateLimited(Fault):
    """HTTP 429 with `Retry-After`, body `{"ok": false, "error": "ratelimited"}`."""

    retry_after: int = 1


@dataclass(frozen=True)
class ServerError(Fault):
    """An HTTP 5xx with a non-JSON body, as Slack's edge returns during incidents."""

    status: int = 500
    body: str = "Internal Server Error"


@dataclass(frozen=True)
class ApiError(Fault):
    """HTTP 200 with `{"ok": false, "error": <error>}` (e.g. `not_in_channel`, `channel_not_found`)."""

    error: str
    extra: JsonDict = field(default_factory=dict)


@dataclass(frozen=True)
class Delay(Fault):
    """Answer after `seconds` (to exercise client timeouts); then apply `then`, or answer normally."""

    seconds: float
    then: Fault | None = None


@dataclass(frozen=True)
class Disconnect(Fault):
    """Drop the connection without answering (a reset between Slack's edge and the bot); with
    `carried_out` the call was carried out first (the message is posted), as after a reset on the way back."""

    carried_out: bool = False


@dataclass(frozen=True)
class LateAnswer(Fault):
    """Carry the call out at once (the message is posted), but answer only after `seconds`."""

    seconds: float


# --- records --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiCall:
    """One Web API call as the fake received and answered it."""

    method: str
    token: str | None
    args: JsonDict
    content_type: str
    at: float
    status: int
    response: JsonDict | None

    @property
    def channel(self) -> str | None:
        value = self.args.get("channel")
        return str(value) if value is not None else None

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))


@dataclass(frozen=True)
class ResponseUrlPost:
    """One POST to a `response_url` the fake handed out."""

    url: str
    body: JsonDict
    at: float
    status: int

    @property
    def response_type(self) -> str | None:
        value = self.body.get("response_type")
        return str(value) if value is not None else None


# --- Block Kit validation -------------------------------------------------------------------------


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return ""


def validate_blocks(blocks: Any) -> list[str]:
    """Problems Slack would reject a message for (`invalid_blocks`); empty when the blocks are valid."""
    if blocks is None:
        return []
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except json.JSONDecodeError:
            return ["blocks is not valid JSON"]
    if not isinstance(blocks, list):
        return ["blocks must be an array"]
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks (max {MAX_BLOCKS})")
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"block {index} has no type")
            continue
        problems.extend(f"block {index}: {p}" for p in _validate_block(block))
    return problems


def _validate_block(block: JsonDict) -> list[str]:
    problems: list[str] = []
    kind = block["type"]
    if len(str(block.get("block_id", ""))) > MAX_BLOCK_ID:
        problems.append("block_id too long")
    if kind == "section":
        text = _text_of(block.get("text"))
        fields = block.get("fields") or []
        if not text and not fields:
            problems.append("section without text or fields")
        if len(text) > MAX_SECTION_TEXT:
            problems.append(f"section text {len(text)} chars (max {MAX_SECTION_TEXT})")
        if len(fields) > MAX_SECTION_FIELDS:
            problems.append(f"{len(fields)} section fields (max {MAX_SECTION_FIELDS})")
        problems.extend(
            f"field {i} {len(_text_of(f))} chars"
            for i, f in enumerate(fields)
            if len(_text_of(f)) > MAX_FIELD_TEXT
        )
        if isinstance(block.get("accessory"), dict):
            problems.extend(_validate_element(block["accessory"]))
    elif kind == "header":
        title = block.get("text")
        if not isinstance(title, dict) or title.get("type") != "plain_text":
            problems.append("header text must be plain_text")
        elif len(_text_of(title)) > MAX_HEADER_TEXT:
            problems.append(f"header {len(_text_of(title))} chars (max {MAX_HEADER_TEXT})")
        elif not _text_of(title):
            problems.append("empty header")
    elif kind == "context":
        elements = block.get("elements") or []
        if not elements or len(elements) > MAX_CONTEXT_ELEMENTS:
            problems.append(f"{len(elements)} context elements (1..{MAX_CONTEXT_ELEMENTS})")
        problems.extend(
            f"context element {len(_text_of(e))} chars"
            for e in elements
            if len(_text_of(e)) > MAX_SECTION_TEXT
        )
    elif kind == "actions":
        elements = block.get("elements") or []
        if not elements or len(elements) > MAX_ACTIONS_ELEMENTS:
            problems.append(f"{len(elements)} action elements (1..{MAX_ACTIONS_ELEMENTS})")
        for element in elements:
            problems.extend(_validate_element(element))
    elif kind == "rich_text":
        if not isinstance(block.get("elements"), list):
            problems.append("rich_text without elements")
    elif kind not in ("divider", "image", "input", "file", "video", "markdown"):
        problems.append(f"unknown block type {kind!r}")
    return problems


def _validate_element(element: Any) -> list[str]:
    if not isinstance(element, dict):
        return ["element is not an object"]
    problems: list[str] = []
    if element.get("type") == "button":
        if len(_text_of(element.get("text"))) > MAX_BUTTON_TEXT:
            problems.append(f"button text too long (max {MAX_BUTTON_TEXT})")
        if len(str(element.get("value", ""))) > MAX_BUTTON_VALUE:
            problems.append(f"button value {len(str(element.get('value')))} chars (max {MAX_BUTTON_VALUE})")
        if len(str(element.get("url", ""))) > 3000:
            problems.append("button url too long")
        if len(str(element.get("action_id", ""))) > 255:
            problems.append("action_id too long")
    return problems


def _validate_message(args: JsonDict, *, require_content: bool = True) -> str | None:
    """Slack's error code for a message body, or None when it would be accepted."""
    text = args.get("text")
    blocks = args.get("blocks")
    if require_content and not text and not blocks and not args.get("attachments"):
        return "no_text"
    if text is not None and len(str(text)) > MAX_MESSAGE_TEXT:
        return "msg_too_long"
    if validate_blocks(blocks):
        return "invalid_blocks"
    return None


# --- the fake -------------------------------------------------------------------------------------

CustomHandler = Callable[[str | None, JsonDict], JsonDict]
"""A test's own answer for a method: `(token, args) -> response body` (status 200)."""


@dataclass
class _Window:
    calls: int
    per_seconds: float
    retry_after: int
    key: str
    history: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))


class FakeSlackApi:
    """The fake server. Use `async with FakeSlackApi() as slack:`; `slack.base_url` is `SLACK_API_URL`."""

    def __init__(
        self,
        *,
        bot_tokens: Iterable[str] = (DEFAULT_BOT_TOKEN,),
        app_tokens: Iterable[str] = (DEFAULT_APP_TOKEN,),
        socket_mode_url: Callable[[], str] | None = None,
    ) -> None:
        self.bot_tokens = set(bot_tokens)
        self.app_tokens = set(app_tokens)
        self.socket_mode_url = socket_mode_url
        self.calls: list[ApiCall] = []
        self.response_posts: list[ResponseUrlPost] = []
        self.messages: dict[str, list[JsonDict]] = defaultdict(list)
        self.custom: dict[str, CustomHandler] = {}
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._windows: dict[str, _Window] = {}
        self._hook_uses: dict[str, int] = defaultdict(int)
        self._expired_hooks: set[str] = set()
        self._ts = itertools.count(1)
        self._changed = asyncio.Event()
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/hooks/{kind}/{hook_id}", self._hook)
        self._server = TestServer(app, host="127.0.0.1")

    # lifecycle

    async def start(self) -> FakeSlackApi:
        await self._server.start_server()
        return self

    async def close(self) -> None:
        await self._server.close()

    async def __aenter__(self) -> FakeSlackApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def base_url(self) -> str:
        """What `SLACK_API_URL` should be set to (slack_sdk requires the trailing slash)."""
        return f"{self.root_url}/api/"

    # configuration

    def response_url(self, kind: str = "commands") -> str:
        """A fresh `response_url` that posts back here (`kind` is `commands` or `actions`)."""
        return f"{self.root_url}/hooks/{kind}/{uuid.uuid4().hex}"

    def expire_response_url(self, url: str) -> None:
        """Make a `response_url` answer `404 expired_url`, as Slack does after 30 minutes."""
        self._expired_hooks.add(url.rsplit("/", 1)[-1])

    def fail(self, method: str, fault: Fault, times: int = 1) -> None:
        """Queue `fault` for the next `times` calls of `method` (`"response_url"` for hook posts)."""
        self._faults[method].extend([fault] * times)

    def pending_faults(self, method: str) -> int:
        """Faults queued for `method` and not used yet."""
        return len(self._faults.get(method, ()))

    def set_rate_limit(
        self, method: str, *, calls: int, per_seconds: float, retry_after: int = 1, key: str = "channel"
    ) -> None:
        """Answer 429 once more than `calls` calls with the same `key` argument arrive within the window."""
        self._windows[method] = _Window(calls, per_seconds, retry_after, key)

    # inspection

    def calls_to(self, method: str, **args: Any) -> list[ApiCall]:
        """Recorded calls of `method` whose arguments include every given `name=value`."""
        return [
            c for c in self.calls if c.method == method and all(c.args.get(k) == v for k, v in args.items())
        ]

    def thread(self, channel: str, thread_ts: str) -> list[JsonDict]:
        """The replies posted under one root message, in order."""
        return [m for m in self.messages[channel] if m.get("thread_ts") == thread_ts]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until `predicate()` holds after some recorded activity; `TimeoutError` otherwise."""
        async with asyncio.timeout(timeout):
            while not predicate():
                event = self._changed
                await event.wait()

    async def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[ApiCall]:
        await self.wait_until(lambda: len(self.calls_to(method)) >= count, timeout)
        return self.calls_to(method)

    async def wait_for_response_posts(self, count: int = 1, timeout: float = 5.0) -> list[ResponseUrlPost]:
        await self.wait_until(lambda: len(self.response_posts) >= count, timeout)
        return list(self.response_posts)

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # HTTP handlers

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, token = await _read_args(request)
        queue = self._faults.get(method)
        if queue and isinstance(queue[0], Disconnect):
            fault = queue.popleft()
            if fault.carried_out:  # type: ignore[attr-defined]
                await self._answer(method, token, args, faults=False)  # carried out, then no answer
            self.calls.append(ApiCall(method, token, args, request.content_type, time.monotonic(), 0, None))
            self._notify()
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        status, body, headers = await self._answer(method, token, args)
        self.calls.append(
            ApiCall(
                method=method,
                token=token,
                args=args,
                content_type=request.content_type,
                at=time.monotonic(),
                status=status,
                response=body if isinstance(body, dict) else None,
            )
        )
        self._notify()
        if isinstance(body, dict):
            return web.json_response(body, status=status, headers=headers)
        return web.Response(text=body, status=status, headers=headers, content_type="text/plain")

    async def _answer(
        self, method: str, token: str | None, args: JsonDict, *, faults: bool = True
    ) -> tuple[int, JsonDict | str, dict[str, str]]:
        late = self._late_answer(method) if faults else None
        if late is not None:
            answer = await self._answer(method, token, args, faults=False)
            await asyncio.sleep(late)
            return answer
        fault = await self._next_fault(method) if faults else None
        if fault is not None:
            return fault
        if method == "apps.connections.open":
            if token is None:
                return _error("not_authed")
            if token not in self.app_tokens:
                return _error("not_allowed_token_type" if token in self.bot_tokens else "invalid_auth")
            if self.socket_mode_url is None:
                return _error("socket_mode_not_enabled")
            return 200, {"ok": True, "url": self.socket_mode_url()}, {}
        if token is None:
            return _error("not_authed")
        if token not in self.bot_tokens:
            return _error("not_allowed_token_type" if token in self.app_tokens else "invalid_auth")
        window = self._windows.get(method)
        if window is not None and self._over_limit(window, args):
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(window.retry_after)}
        if method in self.custom:
            return 200, self.custom[method](token, args), {}
        handler = _METHODS.get(method)
        if handler is None:
            return _error("unknown_method", req_method=method)
        return handler(self, args)

    def _late_answer(self, method: str) -> float | None:
        queue = self._faults.get(method)
        if queue and isinstance(queue[0], LateAnswer):
            return queue.popleft().seconds  # type: ignore[attr-defined,no-any-return]
        return None

    async def _next_fault(self, method: str) -> tuple[int, JsonDict | str, dict[str, str]] | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault: Fault | None = queue.popleft()
        while isinstance(fault, Delay):
            await asyncio.sleep(fault.seconds)
            fault = fault.then
        if isinstance(fault, RateLimited):
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
        if isinstance(fault, ServerError):
            return fault.status, fault.body, {}
        if isinstance(fault, ApiError):
            return 200, {"ok": False, "error": fault.error, **fault.extra}, {}
        return None

    def _over_limit(self, window: _Window, args: JsonDict) -> bool:
        now = time.monotonic()
        history = window.history[str(args.get(window.key, ""))]
        while history and now - history[0] >= window.per_seconds:
            history.popleft()
        if len(history) >= window.calls:
            return True
        history.append(now)
        return False

    async def _hook(self, request: web.Request) -> web.Response:
        hook_id = request.match_info["hook_id"]
        try:
            body = json.loads(await request.text())
        except json.JSONDecodeError:
            body = {"_invalid_json": await request.text()}
        status, text = await self._hook_answer(hook_id, body)
        self.response_posts.append(ResponseUrlPost(str(request.url), body, time.monotonic(), status))
        self._notify()
        return web.Response(text=text, status=status, content_type="text/html")

    async def _hook_answer(self, hook_id: str, body: JsonDict) -> tuple[int, str]:
        fault = await self._next_fault("response_url")
        if fault is not None:
            status, answer, _ = fault
            return status, answer if isinstance(answer, str) else str(answer.get("error"))
        if hook_id in self._expired_hooks:
            return 404, "expired_url"
        self._hook_uses[hook_id] += 1
        if self._hook_uses[hook_id] > RESPONSE_URL_MAX_USES:
            return 404, "used_url"
        if not isinstance(body, dict) or "_invalid_json" in body:
            return 400, "invalid_payload"
        problem = _validate_message(body, require_content=not body.get("delete_original"))
        if problem is not None:
            return 400, problem
        return 200, "ok"

    # Web API methods

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _channel_id(self, channel: str) -> str:
        if channel.startswith("#"):
            return "C" + uuid.uuid5(uuid.NAMESPACE_DNS, channel).hex[:10].upper()
        return channel

    def _post_message(self, args: JsonDict) -> tuple[int, JsonDict | str, dict[str, str]]:
        channel = args.get("channel")
        if not channel:
            return _error("channel_not_found")
        problem = _validate_message(args)
        if problem is not None:
            return _error(problem)
        channel_id = self._channel_id(str(channel))
        ts = self._next_ts()
        message: JsonDict = {
            "type": "message",
            "subtype": "bot_message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": ts,
            "text": args.get("text", ""),
            "blocks": _as_json(args.get("blocks")) or [],
            "team": TEAM_ID,
        }
        if "metadata" in args:
            metadata = _as_json(args["metadata"])
            if not _valid_metadata(metadata):
                return _error("invalid_metadata_format")
            message["metadata"] = metadata
        if args.get("thread_ts"):
            thread_ts = str(args["thread_ts"])
            if not any(m["ts"] == thread_ts for m in self.messages[channel_id]):
                return _error("thread_not_found")
            message["thread_ts"] = thread_ts
        self.messages[channel_id].append(message)
        return 200, {"ok": True, "channel": channel_id, "ts": ts, "message": message}, {}

    def _update(self, args: JsonDict) -> tuple[int, JsonDict | str, dict[str, str]]:
        channel_id = self._channel_id(str(args.get("channel", "")))
        ts = str(args.get("ts", ""))
        target = next((m for m in self.messages.get(channel_id, []) if m["ts"] == ts), None)
        if target is None:
            return _error("message_not_found" if channel_id in self.messages else "channel_not_found")
        problem = _validate_message(args)
        if problem is not None:
            return _error(problem)
        target["text"] = args.get("text", target["text"])
        if "blocks" in args:
            target["blocks"] = _as_json(args["blocks"]) or []
        target["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return (
            200,
            {"ok": True, "channel": channel_id, "ts": ts, "text": target["text"], "message": target},
            {},
        )

    def _delete(self, args: JsonDict) -> tuple[int, JsonDict | str, dict[str, str]]:
        channel_id = self._channel_id(str(args.get("channel", "")))
        ts = str(args.get("ts", ""))
        messages = self.messages.get(channel_id, [])
        if not any(m["ts"] == ts for m in messages):
            return _error("message_not_found")
        self.messages[channel_id] = [m for m in messages if m["ts"] != ts]
        return 200, {"ok": True, "channel": channel_id, "ts": ts}, {}

    def _history(self, args: JsonDict) -> tuple[int, JsonDict | str, dict[str, str]]:
        """`conversations.history`: a channel's top-level messages, newest first, one page at a time."""
        channel = str(args.get("channel") or "")
        if not channel:
            return _error("invalid_arguments")
        if channel.startswith("#") or channel not in self.messages:
            return _error("channel_not_found")  # names are not accepted here, only ids
        try:
            oldest = float(args.get("oldest") or 0)
            latest = float(args["latest"]) if args.get("latest") else float("inf")
            limit = int(args.get("limit") or HISTORY_DEFAULT_LIMIT)
            offset = int(args.get("cursor") or 0)
        except ValueError:
            return _error("invalid_arguments")
        limit = max(1, min(limit, HISTORY_MAX_LIMIT))
        inclusive = _flag(args.get("inclusive"))
        with_metadata = _flag(args.get("include_all_metadata"))

        def within(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        top_level = [
            message
            for message in self.messages[channel]
            if message.get("thread_ts") in (None, message["ts"]) and within(float(message["ts"]))
        ]
        top_level.sort(key=lambda message: float(message["ts"]), reverse=True)
        page = top_level[offset : offset + limit]
        more = offset + limit < len(top_level)
        shown = [
            message if with_metadata else {k: v for k, v in message.items() if k != "metadata"}
            for message in page
        ]
        return (
            200,
            {
                "ok": True,
                "messages": shown,
                "has_more": more,
                "pin_count": 0,
                "channel_actions_ts": None,
                "channel_actions_count": 0,
                "response_metadata": {"next_cursor": str(offset + limit) if more else ""},
            },
            {},
        )

    def _replies(self, args: JsonDict) -> tuple[int, JsonDict | str, dict[str, str]]:
        """`conversations.replies`: a thread (its parent first, then the replies, oldest first)."""
        channel = str(args.get("channel") or "")
        thread_ts = str(args.get("ts") or "")
        if not channel or not thread_ts:
            return _error("invalid_arguments")
        if channel.startswith("#") or channel not in self.messages:
            return _error("channel_not_found")
        parent = next((m for m in self.messages[channel] if m["ts"] == thread_ts), None)
        if parent is None:
            return _error("thread_not_found")
        try:
            oldest = float(args.get("oldest") or 0)
            latest = float(args["latest"]) if args.get("latest") else float("inf")
            limit = max(1, min(int(args.get("limit") or HISTORY_DEFAULT_LIMIT), HISTORY_MAX_LIMIT))
            offset = int(args.get("cursor") or 0)
        except ValueError:
            return _error("invalid_arguments")
        inclusive = _flag(args.get("inclusive"))
        with_metadata = _flag(args.get("include_all_metadata"))
        replies = [m for m in self.messages[channel] if m.get("thread_ts") == thread_ts]
        replies.sort(key=lambda message: float(message["ts"]))
        thread = [parent] + [
            m
            for m in replies
            if (oldest <= float(m["ts"]) <= latest if inclusive else oldest < float(m["ts"]) < latest)
        ]
        page = thread[offset : offset + limit]
        more = offset + limit < len(thread)
        shown = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in page]
        return (
            200,
            {
                "ok": True,
                "messages": shown,
                "has_more": more,
                "response_metadata": {"next_cursor": str(offset + limit) if more else ""},
            },
            {},
        )

    def _post_ephemeral(self, args: JsonDict) -> tuple[int, JsonDict | str, dict[str, str]]:
        if not args.get("channel"):
            return _error("channel_not_found")
        if not args.get("user"):
            return _error("user_not_found")
        problem = _validate_message(args)
        if problem is not None:
            return _error(problem)
        return 200, {"ok": True, "message_ts": self._next_ts()}, {}

    def _auth_test(self, args: JsonDict) -> tuple[int, JsonDict | str, dict[str, str]]:
        return (
            200,
            {
                "ok": True,
                "url": f"https://{TEAM_DOMAIN}.slack.com/",
                "team": "Fake Workspace",
                "user": USER_NAME.replace("oncall", "exitcode-bot"),
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            },
            {},
        )


_METHODS: dict[str, Callable[[FakeSlackApi, JsonDict], tuple[int, JsonDict | str, dict[str, str]]]] = {
    "auth.test": FakeSlackApi._auth_test,
    "chat.postMessage": FakeSlackApi._post_message,
    "chat.update": FakeSlackApi._update,
    "chat.delete": FakeSlackApi._delete,
    "chat.postEphemeral": FakeSlackApi._post_ephemeral,
    "conversations.history": FakeSlackApi._history,
    "conversations.replies": FakeSlackApi._replies,
}


def _flag(value: Any) -> bool:
    """Slack's boolean arguments: `true`/`1` (query strings and forms) or a JSON boolean."""
    return value is True or str(value).lower() in ("1", "true")


def _valid_metadata(metadata: Any) -> bool:
    """Slack's rule for message metadata: an `event_type` name and an `event_payload` object."""
    if not isinstance(metadata, dict):
        return False
    event_type = metadata.get("event_type")
    payload = metadata.get("event_payload")
    return (
        isinstance(event_type, str)
        and bool(event_type)
        and all(c.isalnum() or c in "_." for c in event_type)
        and isinstance(payload, dict)
    )


def _error(error: str, **extra: Any) -> tuple[int, JsonDict | str, dict[str, str]]:
    return 200, {"ok": False, "error": error, **extra}, {}


def _as_json(value: Any) -> Any:
    """Form-encoded calls carry `blocks` as a JSON string; JSON calls carry the array itself."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


async def _read_args(request: web.Request) -> tuple[JsonDict, str | None]:
    """Arguments from the query string, a form body or a JSON body; the token from header or field."""
    args: JsonDict = dict(request.query)
    raw = await request.text()
    if request.content_type == "application/json" and raw:
        try:
            decoded = json.loads(raw)
        except json.JSONDecodeError:
            decoded = {}
        if isinstance(decoded, dict):
            args.update(decoded)
    elif raw:
        args.update(dict(parse_qsl(raw, keep_blank_values=True)))
    token: str | None = None
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        token = auth[7:].strip() or None
    if token is None and args.get("token"):
        token = str(args.pop("token"))
    return args, token
