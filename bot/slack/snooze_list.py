"""`/exitcode snoozes`: the alert snoozes in force that the asking channel may see, answered privately.

A snooze silences a workload for everyone, on every replica, so on-call needs to see them all in one
place: who set each and until when. What a channel may see is decided by the same policy as every other
interaction (`NamespaceAccess.denial`: `ALLOWED_NAMESPACES` and the channel map of `CONFIG_FILE`): a
snooze in a namespace the channel may not query is left out, not even counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bot.access import NamespaceAccess, SlackChannel
from bot.alerting.decisions import visible_snoozes
from bot.alerting.ledger_state import Snooze
from bot.diagnosis.ports import ClusterError
from bot.render.mrkdwn import escape
from bot.render.snooze_list import snooze_list_blocks, snooze_list_text
from bot.slack.responder import Responder

__all__ = ["SnoozeListing", "SnoozeSource"]

log = logging.getLogger(__name__)


class SnoozeSource(Protocol):
    """Every snooze decision as stored (`bot.alert_service.LedgerSnoozes`)."""

    async def snoozes(self) -> Mapping[str, Snooze]: ...


@dataclass
class SnoozeListing:
    """The `SnoozesHandler` of `bot.slack.app.build_app`."""

    source: SnoozeSource
    access: NamespaceAccess = field(default_factory=NamespaceAccess)
    clock: Callable[[], float] = time.time

    async def __call__(self, channel_id: str, channel_name: str | None, responder: Responder) -> None:
        try:
            stored = await self.source.snoozes()
        except ClusterError as error:
            await responder.send(f"Could not read the snoozes: {escape(error.user_message)}")
            return
        channel = SlackChannel(channel_id, channel_name)
        shown = visible_snoozes(
            stored.items(), self.clock(), lambda namespace: self.access.denial(namespace, channel) is None
        )
        await responder.send(snooze_list_text(shown), snooze_list_blocks(shown))
