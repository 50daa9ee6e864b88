"""The Bolt app: `/exitcode`, the "Share in channel" button, and the routing of cluster subcommands.

Explanations are computed in microseconds, so they go straight into the acknowledgement (one round
trip, no `response_url`, no token needed to answer). Slower work (posting a shared answer, diagnosing
a pod) is acknowledged first and answered through the `response_url` from a background task.

Every handler ends in a reply the user sees: an unexpected exception becomes an apology (and a log
line and a counter), never Slack's "dispatch_failed" and never silence.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.command import (
    DEFAULT_SLASH_COMMAND,
    NO_ARGUMENT,
    ClustersCommand,
    DiagnoseCommand,
    ExplainCommand,
    QueryKind,
    SnoozesCommand,
    parse_command,
)
from bot.knowledge.explanation import Explanation, Reply, Usage
from bot.metrics import BotMetrics, CommandKind
from bot.render.blocks import RUNBOOK_ACTION_ID, SHARE_ACTION_ID, reply_blocks, reply_fallback_text
from bot.render.commands import apology, cluster_not_configured, missing_argument_usage
from bot.render.diagnosis_blocks import RUNBOOK_ACTION_ID as DIAGNOSIS_RUNBOOK_ACTION_ID
from bot.render.explain_message import ExplainMessages
from bot.render.limits import Block, context, fit_blocks
from bot.render.mrkdwn import inline_code
from bot.slack.responder import Responder
from bot.slack.tasks import BackgroundTasks
from bot.slack.web_api import WebApiStatus

log = logging.getLogger(__name__)

SLASH_COMMAND = DEFAULT_SLASH_COMMAND
"""The default command name; an installation per cluster may register another (SLASH_COMMAND)."""

DiagnoseKind = QueryKind
APOLOGY = apology(SLASH_COMMAND)
"""The apology as the default installation says it (each app says it in its own command's name)."""
NOT_CONFIGURED = cluster_not_configured(SLASH_COMMAND)
_MAX_QUERY = 2000  # a share button's value can never be longer; anything longer is not ours
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


class Answers(Protocol):
    """The part of the knowledge base the Slack adapter needs."""

    def answer(self, text: str) -> Reply: ...


@dataclass(frozen=True, slots=True)
class DiagnoseRequest:
    """A `/exitcode pod …` or `/exitcode ns …` invocation, for the diagnosis handler.

    `argument` is the user's raw text after the subcommand (untrusted: validate, and escape it in
    replies). `channel_id` and `channel_name` (Slack sends both with every slash command) let the
    handler apply per-channel namespace permissions keyed by ID or `#name`.
    """

    kind: DiagnoseKind
    argument: str
    share: bool
    user_id: str
    channel_id: str
    team_id: str | None
    channel_name: str | None = None


DiagnoseHandler = Callable[[DiagnoseRequest, Responder], Awaitable[None]]
"""Diagnoses and answers through the `Responder` (ephemeral, or `in_channel=True` when `share`).
Called after the command was acknowledged, in a background task; exceptions become an apology."""

ClustersHandler = Callable[[bool, Responder], Awaitable[None]]
"""`/exitcode clusters [share]` with CLUSTERS (issue 13): lists the clusters through the `Responder`
(`in_channel` when shared). Called after the acknowledgement, in a background task."""


SnoozesHandler = Callable[[str, str | None, Responder], Awaitable[None]]
"""`/exitcode snoozes`: `(channel_id, channel_name, responder)`; answers privately through the
`Responder`, after the command was acknowledged, in a background task (the ledger is a cluster read)."""


class ExitcodeCommands:
    """The listeners, as methods so tests and benchmarks can see what the app is made of."""

    def __init__(
        self,
        knowledge: Answers,
        metrics: BotMetrics,
        tasks: BackgroundTasks,
        diagnose: DiagnoseHandler | None = None,
        slash_command: str = SLASH_COMMAND,
        clusters: ClustersHandler | None = None,
        snoozes: SnoozesHandler | None = None,
    ) -> None:
        self.knowledge = knowledge
        self.snoozes = snoozes
        self.metrics = metrics
        self.tasks = tasks
        self.diagnose = diagnose
        self.clusters = clusters
        self.slash_command = slash_command
        # The adapter's own sentences name the command the user actually typed.
        self.apology = apology(slash_command)
        self.not_configured = cluster_not_configured(slash_command)
        self._messages = ExplainMessages(slash_command)
        # The knowledge base is immutable, so the same text always renders the same answer; on-call
        # engineers ask the same few questions (137, 143, 1, OOMKilled), so those are rendered once.
        self._rendered_cached = functools.lru_cache(maxsize=_CACHED_ANSWERS)(self._rendered)

    async def on_command(self, ack: AsyncAck, command: dict[str, Any]) -> BoltResponse | None:
        """`/exitcode …` (or this installation's SLASH_COMMAND): answer in the acknowledgement, or
        acknowledge and answer later.

        An explanation is returned as the acknowledgement itself (a `BoltResponse`, which Bolt's
        listener contract allows with `process_before_response=True`), so its cached JSON is sent
        as is instead of being serialized again for every request.
        """
        acknowledged = False

        async def acknowledge(text: str, blocks: list[Block] | None = None, in_channel: bool = False) -> None:
            nonlocal acknowledged
            await ack(text=text, blocks=blocks, response_type="in_channel" if in_channel else "ephemeral")
            acknowledged = True

        text = str(command.get("text") or "")
        try:
            parsed = parse_command(text)
            if isinstance(parsed, DiagnoseCommand):
                await self._route_diagnose(parsed, command, acknowledge)
                return None
            if isinstance(parsed, ClustersCommand):
                await self._route_clusters(parsed, command, acknowledge)
                return None
            if isinstance(parsed, SnoozesCommand):
                await self._route_snoozes(command, acknowledge)
                return None
            return self._explain(parsed)
        except Exception:
            log.exception("%s failed for text %r", self.slash_command, text[:200])
            self.metrics.error("command")
            if not acknowledged:
                await ack(text=self.apology, response_type="ephemeral")
            else:
                await Responder(_str_or_none(command.get("response_url"))).send(self.apology)
            return None

    def _explain(self, parsed: ExplainCommand) -> BoltResponse:
        if len(parsed.query) <= _CACHED_QUERY_CHARS:
            answer = self._rendered_cached(parsed.query)
        else:
            answer = self._rendered(parsed.query)
        self.metrics.command_answered(answer.kind)
        return BoltResponse(status=200, body=answer.json, headers={"content-type": _JSON})

    def _rendered(self, query: str) -> _RenderedAnswer:
        """The acknowledgement for an explain query: a pure function of the text, hence cacheable.
        Rendered from each explanation's layout made once (`ExplainMessages`), not block by block."""
        reply = self.knowledge.answer(query)
        visible = isinstance(reply, Explanation) and reply.share
        return _RenderedAnswer(self._messages.json(reply), _kind_of(reply, shared=visible))

    async def _route_diagnose(
        self, parsed: DiagnoseCommand, command: dict[str, Any], acknowledge: _Acknowledge
    ) -> None:
        if self.diagnose is None:
            await acknowledge(self.not_configured)
            self.metrics.command_answered("not_configured")
            return
        if not parsed.argument and parsed.kind not in NO_ARGUMENT:
            await acknowledge(missing_argument_usage(parsed.kind, self.slash_command))
            self.metrics.command_answered("usage")
            return
        if parsed.kind == "incidents":
            await acknowledge("Looking up the open incidents…")
        else:
            target = "pod" if parsed.kind == "pod" else "namespace"
            await acknowledge(f"Looking at {target} {inline_code(parsed.argument[:200])}…")
        self.metrics.command_answered(parsed.kind)
        request = DiagnoseRequest(
            kind=parsed.kind,
            argument=parsed.argument,
            share=parsed.share,
            user_id=str(command.get("user_id") or ""),
            channel_id=str(command.get("channel_id") or ""),
            team_id=_str_or_none(command.get("team_id")),
            channel_name=_str_or_none(command.get("channel_name")),
        )
        responder = Responder(_str_or_none(command.get("response_url")))
        self.tasks.spawn(
            self._run_diagnose(self.diagnose, request, responder), name=f"diagnose-{parsed.kind}"
        )

    async def _route_clusters(
        self, parsed: ClustersCommand, command: dict[str, Any], acknowledge: _Acknowledge
    ) -> None:
        """`clusters`: the list (CLUSTERS), or the sentence that this bot serves one cluster."""
        if self.clusters is None:
            await acknowledge(
                "This bot serves one cluster (CLUSTERS is not set), so there is no list of clusters; "
                f"{self.slash_command} pod NAMESPACE/POD asks that one."
            )
            self.metrics.command_answered("usage")
            return
        await acknowledge("Asking every cluster…")
        self.metrics.command_answered("clusters")
        responder = Responder(_str_or_none(command.get("response_url")))
        self.tasks.spawn(self._run_clusters(self.clusters, parsed.share, responder), name="clusters")

    async def _run_clusters(self, handler: ClustersHandler, share: bool, responder: Responder) -> None:
        try:
            await handler(share, responder)
        except Exception:
            log.exception("%s clusters failed", self.slash_command)
            self.metrics.error("diagnose")
            await responder.send(self.apology)

    async def _route_snoozes(self, command: dict[str, Any], acknowledge: _Acknowledge) -> None:
        handler = self.snoozes
        if handler is None:
            await acknowledge("Snoozes belong to crash alerts, and this bot does not watch a cluster.")
            self.metrics.command_answered("not_configured")
            return
        await acknowledge("Looking up the snoozes this channel can see…")
        self.metrics.command_answered("snoozes")
        responder = Responder(_str_or_none(command.get("response_url")))
        channel_id = str(command.get("channel_id") or "")
        channel_name = _str_or_none(command.get("channel_name"))

        async def run() -> None:
            try:
                await handler(channel_id, channel_name, responder)
            except Exception:
                log.exception("%s snoozes failed", self.slash_command)
                self.metrics.error("command")
                await responder.send(self.apology)

        self.tasks.spawn(run(), name="snoozes")

    async def _run_diagnose(
        self, handler: DiagnoseHandler, request: DiagnoseRequest, responder: Responder
    ) -> None:
        try:
            await handler(request, responder)
        except Exception:
            log.exception("%s %s failed for %r", self.slash_command, request.kind, request.argument[:200])
            self.metrics.error("diagnose")
            await responder.send(self.apology)

    async def on_share(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """The "Share in channel" button: acknowledge, then post the same answer visibly."""
        await ack()
        self.tasks.spawn(self._share(body, client), name="share")

    async def on_runbook_link(self, ack: AsyncAck) -> None:
        """Slack sends an action even for a link button; it only needs acknowledging."""
        await ack()

    async def _share(self, body: dict[str, Any], client: AsyncWebClient) -> None:
        responder = Responder(_str_or_none(body.get("response_url")))
        try:
            actions = body.get("actions") or [{}]
            query = str(actions[0].get("value") or "")[:_MAX_QUERY]
            reply = self.knowledge.answer(query)
            if isinstance(reply, Usage):  # not a value we produced; say what to type instead, privately
                blocks = reply_blocks(reply, slash_command=self.slash_command)
                await responder.send(reply_fallback_text(reply), blocks, replace_original=False)
                return
            plain = reply_blocks(reply, share_button=False, slash_command=self.slash_command)
            blocks = _with_shared_by(plain, _user_id(body))
            text = reply_fallback_text(reply)
            posted = await responder.send(text, blocks, in_channel=True, replace_original=False)
            if not posted:
                posted = await self._post_to_channel(client, _channel_id(body), text, blocks)
            if posted:
                self.metrics.command_answered("share")
            else:
                self.metrics.error("response_url")
        except Exception:
            log.exception("sharing an answer failed")
            self.metrics.error("share_button")
            await responder.send(self.apology, replace_original=False)

    async def _post_to_channel(
        self, client: AsyncWebClient, channel: str | None, text: str, blocks: list[Block]
    ) -> bool:
        """Fallback when the `response_url` has expired (older than 30 minutes) or was used up."""
        if not channel:
            return False
        try:
            await client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        except SlackApiError as error:
            code = error.response.get("error") if error.response is not None else "unknown"
            hint = " (invite the bot to the channel)" if code == "not_in_channel" else ""
            log.warning("could not share in channel %s: %s%s", channel, code, hint)
            return False
        return True


_Acknowledge = Callable[..., Awaitable[None]]

_CACHED_ANSWERS = 1024
_CACHED_QUERY_CHARS = 100  # longer texts are rare and would make the cache costly in memory


_JSON = "application/json;charset=utf-8"


@dataclass(frozen=True, slots=True)
class _RenderedAnswer:
    """A rendered explain acknowledgement (the slash command response as JSON) and how to count it."""

    json: str
    kind: CommandKind


def _kind_of(reply: Reply, *, shared: bool) -> CommandKind:
    if isinstance(reply, Usage):
        return "help" if reply.is_help else "usage"
    return "share" if shared else "explain"


def _str_or_none(value: object) -> str | None:
    return str(value) if value else None


def _user_id(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    value = user.get("id") if isinstance(user, dict) else None
    return value if isinstance(value, str) and _SLACK_USER_ID.match(value) else None


def _channel_id(body: dict[str, Any]) -> str | None:
    channel = body.get("channel")
    if isinstance(channel, dict) and channel.get("id"):
        return str(channel["id"])
    container = body.get("container")
    if isinstance(container, dict) and container.get("channel_id"):
        return str(container["channel_id"])
    return None


def _with_shared_by(blocks: list[Block], user_id: str | None) -> list[Block]:
    """Say who shared the answer (a validated user id, so the mention cannot be forged)."""
    if user_id is None:
        return blocks
    return fit_blocks([context([f"Shared by <@{user_id}>"]), *blocks])


class _IgnoreTokenFromEnvironmentWarning(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that the client we pass
    takes precedence. That is exactly what we intend (the client carries the same token, plus retries),
    so the warning would only alarm operators at every start. Likewise the warning that `authorize`
    makes Bolt ignore the token: our `authorize` hands Bolt that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not message.startswith(
            ("As you gave `client` as well", "As `installation_store` or `authorize`")
        )


def build_app(
    *,
    client: AsyncWebClient,
    knowledge: Answers,
    signing_secret: str | None,
    metrics: BotMetrics | None = None,
    tasks: BackgroundTasks | None = None,
    diagnose: DiagnoseHandler | None = None,
    slash_command: str = SLASH_COMMAND,
    web_api: WebApiStatus | None = None,
    clusters: ClustersHandler | None = None,
    snoozes: SnoozesHandler | None = None,
) -> AsyncApp:
    """The Bolt app with `slash_command` (`/exitcode` unless SLASH_COMMAND says otherwise) and its
    buttons registered.

    `signing_secret` is required in HTTP mode, where `bot.slack.http.slack_events_handler` rejects
    unsigned or stale requests with 401 before they reach this app; in Socket Mode requests arrive over
    the authenticated websocket and it may be None. One installation
    per cluster may register its own command name (`/exitcode-prod-eu`), so several clusters' apps can
    share one workspace; Slack sends the name in each request and Bolt routes on it exactly.

    No request waits for Slack's Web API before its listener runs (`web_api.authorization()`): an
    explanation is answered in the acknowledgement even while the Web API is unreachable. `web_api` is
    the status `/readyz` reports; one is made here when not given.
    """
    bolt_logger = logging.getLogger("bot.slack.bolt")
    if not any(isinstance(f, _IgnoreTokenFromEnvironmentWarning) for f in bolt_logger.filters):
        bolt_logger.addFilter(_IgnoreTokenFromEnvironmentWarning())
    app = AsyncApp(
        name="exitcode-bot",
        client=client,
        signing_secret=signing_secret or "",
        # `bot.slack.http` verifies every request's signature over its raw bytes before Bolt sees it
        # (and is the only way HTTP requests reach this app); Bolt checking it again costs each request
        # a second HMAC for nothing. Socket Mode requests are never signed.
        request_verification_enabled=False,
        # Listeners finish before Bolt responds: an explanation is the response itself (no 10 ms ack
        # polling), and slow work is handed to `BackgroundTasks` after acknowledging.
        process_before_response=True,
        logger=bolt_logger,
        # Bolt accepts an `AsyncAuthorize` instance here too (its annotation names only callables).
        authorize=(web_api if web_api is not None else WebApiStatus(client)).authorization(),  # type: ignore[arg-type]
    )
    commands = ExitcodeCommands(
        knowledge,
        metrics if metrics is not None else BotMetrics(process_collectors=False),
        tasks if tasks is not None else BackgroundTasks(),
        diagnose,
        slash_command,
        clusters,
        snoozes,
    )
    app.command(slash_command)(commands.on_command)
    app.action(SHARE_ACTION_ID)(commands.on_share)
    app.action(RUNBOOK_ACTION_ID)(commands.on_runbook_link)
    app.action(DIAGNOSIS_RUNBOOK_ACTION_ID)(commands.on_runbook_link)

    @app.error
    async def on_unhandled_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled Slack request error: %r (request type %s)", error, body.get("type"))
        commands.metrics.error("command")

    return app


__all__ = [
    "APOLOGY",
    "NOT_CONFIGURED",
    "SLASH_COMMAND",
    "Answers",
    "ClustersHandler",
    "DiagnoseHandler",
    "DiagnoseRequest",
    "ExitcodeCommands",
    "SnoozesHandler",
    "build_app",
]
