"""Answering a surface's request: parse it once (`bot.command`), ask the use case, render for the surface.

- `SlackDiagnoseReplies`: the Slack adapter's `DiagnoseHandler` (`pod`/`ns` after the acknowledgement),
  answering through the command's `response_url`.
- `ConsoleReplies`: one console line in, the text to print out (explanations and `pod`/`ns`).

Both are given the installation's command name (SLASH_COMMAND) and CLUSTER_NAME as values and pass them
to the renderers, so every usage line, suggestion and footer names the command this bot answers to.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.access import SlackChannel
from bot.application.diagnose import DiagnoseService
from bot.command import NO_ARGUMENT, DiagnoseCommand, parse_command
from bot.diagnosis.answers import Refusal
from bot.knowledge.base import KnowledgeBase
from bot.render.answer_blocks import answer_message
from bot.render.answer_text import answer_text
from bot.render.commands import apology, usage_sentence, without_code_marks
from bot.render.text import printable, reply_text

if TYPE_CHECKING:
    from bot.slack import DiagnoseRequest, Responder

log = logging.getLogger(__name__)


class SlackDiagnoseReplies:
    """`pod`/`ns` in Slack: a diagnosis is posted in the channel when the user asked to `share`; a refusal
    is always private (a typo need not be broadcast). The channel's ID and `#name` decide access."""

    def __init__(self, service: DiagnoseService, *, slash_command: str, cluster_name: str | None) -> None:
        self.service = service
        self.slash_command = slash_command
        self.cluster_name = cluster_name

    async def __call__(self, request: DiagnoseRequest, responder: Responder) -> None:
        channel = SlackChannel(request.channel_id, request.channel_name)
        answer = await self.service.answer(request.kind, request.argument, channel=channel)
        shared = request.share and not isinstance(answer, Refusal)
        text, blocks = answer_message(
            answer,
            slash_command=self.slash_command,
            shared_by=request.user_id if shared else None,
            cluster_name=self.cluster_name,
        )
        await responder.send(text, blocks, in_channel=shared)


class ConsoleReplies:
    """Console mode's answers: explanations from the knowledge base, `pod`/`ns` from the use case (or,
    without one, the knowledge base's sentence about where those are answered)."""

    def __init__(
        self,
        knowledge: KnowledgeBase,
        service: DiagnoseService | None,
        *,
        slash_command: str,
        cluster_name: str | None,
    ) -> None:
        self.knowledge = knowledge
        self.service = service
        self.slash_command = slash_command
        self.cluster_name = cluster_name

    async def __call__(self, line: str) -> str:
        """The text to print for one line (already stripped of the slash command); never raises."""
        command = parse_command(line)
        if isinstance(command, DiagnoseCommand) and self.service is not None:
            try:
                return await self._diagnose(self.service, command)
            except Exception:  # a bug must cost one answer, not the console session
                log.exception("console: %r failed", line[:200])
                return without_code_marks(apology(self.slash_command)) + "\n"
        return reply_text(self.knowledge.answer(line))

    async def _diagnose(self, service: DiagnoseService, command: DiagnoseCommand) -> str:
        if not command.argument and command.kind not in NO_ARGUMENT:
            return without_code_marks(usage_sentence(command.kind, self.slash_command)) + "\n"
        text = answer_text(await service.answer(command.kind, command.argument), program=self.slash_command)
        return f"Cluster: {printable(self.cluster_name)}\n{text}" if self.cluster_name else text
