"""A fake Microsoft Teams Workflows webhook (Power Automate / Logic Apps request trigger) on aiohttp.

It behaves like the flow the template "Post to a channel when a webhook request is received" creates:

- the URL is a Logic Apps trigger URL, `/workflows/<id>/triggers/manual/paths/invoke?api-version=…&sp=…
  &sv=1.0&sig=…`; a missing `sig` is `401 DirectApiAuthorizationRequired`, a wrong one
  `401 DirectApiInvalidAuthorizationSignature`, an unknown workflow `404 WorkflowNotFound`, all in the
  Logic Apps error shape `{"error": {"code", "message"}}`;
- a body that is not JSON or not a `message` with Adaptive Card attachments fails the trigger's schema:
  `400 TriggerInputSchemaMismatch`;
- otherwise the trigger answers `202 Accepted` with an empty body *before* the flow posts the card. A card
  Teams cannot post (not a valid AdaptiveCard structure, a version Teams will not display, over the size
  limit) makes the flow run fail afterwards, as in reality: it is recorded in `failed_runs`, never in
  `cards`, and the caller never hears of it. That is why the renderer must fit the limit itself;
  `oversize_status=413` switches to an endpoint that refuses big bodies up front (a proxy, the legacy
  connector) to exercise the adapter's shrinking;
- faults: `throttle(times, retry_after)` (`429` as Logic Apps throttles a trigger), `fail(times, status)`
  (`5xx`), `drop_after_accept(times)` (the card is posted, then the connection is closed before the
  answer: the "timeout after accepted" case), `down` (every connection is reset until it is cleared).

`cards` holds what a user sees in the channel, with the workflow it went to.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

JsonDict = dict[str, Any]

SIZE_LIMIT = 24_000
"""Bytes of request body over which the post fails. Teams' limit is 28,672 bytes of its own measure of
the message, which is larger than the posted JSON (a 24,453-byte body measured 28,897), so this errs on
the strict side."""
CARD_VERSIONS = frozenset({"1.0", "1.1", "1.2", "1.3", "1.4"})
"""Versions a Workflow-posted card is displayed with (1.5 shows "this card couldn't be displayed")."""
ELEMENTS = frozenset(
    {"TextBlock", "RichTextBlock", "Container", "ColumnSet", "FactSet", "Image", "ActionSet"}
)
ACTIONS = frozenset({"Action.OpenUrl", "Action.ShowCard", "Action.ToggleVisibility"})
"""`Action.Submit`/`Action.Execute` need a bot to answer them; a Workflows webhook card has none."""
INLINE_STYLES = frozenset(
    {"size", "weight", "color", "fontType", "isSubtle", "italic", "strikethrough", "highlight", "underline"}
)


@dataclass
class Posted:
    workflow: str
    card: JsonDict
    size: int
    at: float = field(default_factory=time.monotonic)
    """When it was posted (the storm benchmark's clock)."""


@dataclass
class FailedRun:
    workflow: str
    reason: str
    size: int


@dataclass
class _Faults:
    throttled: int = 0
    retry_after: str = "1"
    failing: int = 0
    failing_status: int = 502
    dropping: int = 0


@dataclass
class FakeTeams:
    """The fake Workflows endpoint; `url(workflow)` is what the bot is configured with."""

    size_limit: int = SIZE_LIMIT
    oversize_status: int | None = None
    """None: like Workflows (202, then the flow run fails); 413: refuse the body up front."""
    down: bool = False
    cards: list[Posted] = field(default_factory=list)
    failed_runs: list[FailedRun] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    """Every answer given (0 for a dropped connection), in order."""
    _sigs: dict[str, str] = field(default_factory=dict)
    _names: dict[str, str] = field(default_factory=dict)
    _faults: _Faults = field(default_factory=_Faults)
    _server: TestServer | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    async def start(self) -> FakeTeams:
        app = web.Application(client_max_size=1024**2 * 4)
        app.router.add_post("/workflows/{workflow}/triggers/manual/paths/invoke", self._invoke)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server(access_log=None)  # an access log line would hold the sig
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    def workflow(self, name: str) -> str:
        """Create a workflow (its id and secret signature) and return its webhook URL."""
        workflow_id = secrets.token_hex(16)
        self._sigs[workflow_id] = secrets.token_urlsafe(32)
        self._names[workflow_id] = name
        return self.url(workflow_id)

    def url(self, workflow_id: str, sig: str | None = None) -> str:
        assert self._server is not None
        signature = self._sigs.get(workflow_id, "x") if sig is None else sig
        return (
            f"http://127.0.0.1:{self._server.port}/workflows/{workflow_id}/triggers/manual/paths/invoke"
            f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={signature}"
        )

    def cards_for(self, name: str) -> list[JsonDict]:
        return [posted.card for posted in self.cards if posted.workflow == name]

    # --- faults ---------------------------------------------------------------------------------------

    def throttle(self, times: int, retry_after: str = "1") -> None:
        self._faults.throttled, self._faults.retry_after = times, retry_after

    def fail(self, times: int, status: int = 502) -> None:
        self._faults.failing, self._faults.failing_status = times, status

    def drop_after_accept(self, times: int) -> None:
        self._faults.dropping = times

    # --- the trigger ----------------------------------------------------------------------------------

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            return self._drop(request)
        workflow_id = request.match_info["workflow"]
        faults = self._faults
        if faults.failing > 0:  # the front end fails before anything looks at the request
            faults.failing -= 1
            return self._error(faults.failing_status, "ServiceUnavailable", "Try again later.")
        if workflow_id not in self._sigs:
            return self._error(404, "WorkflowNotFound", "The workflow could not be found.")
        sig = request.query.get("sig")
        if sig is None:
            return self._error(401, "DirectApiAuthorizationRequired", "The request must be authenticated.")
        if not secrets.compare_digest(sig, self._sigs[workflow_id]):
            return self._error(
                401,
                "DirectApiInvalidAuthorizationSignature",
                "The provided authorization signature is invalid.",
            )
        if faults.throttled > 0:
            faults.throttled -= 1
            return self._error(
                429, "WorkflowRequestsThrottled", "Too many requests.", {"Retry-After": faults.retry_after}
            )
        raw = await request.read()
        if self.oversize_status is not None and len(raw) > self.size_limit:
            return self._error(self.oversize_status, "RequestEntityTooLarge", "The request is too large.")
        card = _attached_card(raw)
        if card is None:
            return self._error(
                400,
                "TriggerInputSchemaMismatch",
                "The input body for trigger 'manual' of type 'Request' did not match its schema definition.",
            )
        name = self._names[workflow_id]
        problem = "MessageSizeExceeded" if len(raw) > self.size_limit else validate_card(card)
        if problem:
            self.failed_runs.append(FailedRun(name, problem, len(raw)))
        else:
            self.cards.append(Posted(name, card, len(raw)))
        if faults.dropping > 0:
            faults.dropping -= 1
            return self._drop(request)
        self.statuses.append(202)
        return web.Response(status=202)

    def _drop(self, request: web.Request) -> web.StreamResponse:
        self.statuses.append(0)
        assert request.transport is not None
        request.transport.close()
        return web.Response(status=500)  # never reaches the client: the connection is gone

    def _error(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> web.Response:
        self.statuses.append(status)
        return web.json_response(
            {"error": {"code": code, "message": message}}, status=status, headers=headers
        )


def _attached_card(raw: bytes) -> JsonDict | None:
    """The card of a `message` with one Adaptive Card attachment, as the template reads it; else None."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("type") != "message":
        return None
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return None
    attachment = attachments[0]
    if not isinstance(attachment, dict):
        return None
    if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
        return None
    content = attachment.get("content")
    return content if isinstance(content, dict) else None


def validate_card(card: JsonDict) -> str | None:
    """Why Teams would not display `card` (None: it would): the structure of the elements used."""
    if card.get("type") != "AdaptiveCard":
        return "the content is not an AdaptiveCard"
    if card.get("version") not in CARD_VERSIONS:
        return f"version {card.get('version')!r} is not displayed"
    body = card.get("body")
    if not isinstance(body, list) or not body:
        return "the card has no body"
    for element in body:
        problem = _element_problem(element)
        if problem:
            return problem
    for action in card.get("actions", []):
        if not isinstance(action, dict) or action.get("type") not in ACTIONS:
            return f"action {action!r} cannot be used"
        if action["type"] == "Action.OpenUrl" and not str(action.get("url", "")).startswith(
            ("https://", "http://")
        ):
            return "Action.OpenUrl without an http(s) url"
    return None


def _element_problem(element: Any) -> str | None:
    if not isinstance(element, dict) or element.get("type") not in ELEMENTS:
        return f"unknown element {element!r:.80}"
    kind = element["type"]
    if kind == "TextBlock" and not isinstance(element.get("text"), str):
        return "a TextBlock without text"
    if kind == "RichTextBlock":
        inlines = element.get("inlines")
        if not isinstance(inlines, list) or not inlines:
            return "a RichTextBlock without inlines"
        for inline in inlines:
            if (
                not isinstance(inline, dict)
                or inline.get("type") != "TextRun"
                or not isinstance(inline.get("text"), str)
            ):
                return "a RichTextBlock inline that is not a TextRun"
            unknown = set(inline) - INLINE_STYLES - {"type", "text", "selectAction"}
            if unknown:
                return f"a TextRun with unknown properties {sorted(unknown)}"
    if kind == "Container":
        for item in element.get("items", []):
            problem = _element_problem(item)
            if problem:
                return problem
    return None


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    """Poll `predicate()` on the fake's state until it holds (the condition that matters, never a sleep)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
