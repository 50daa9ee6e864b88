"""Where alerts go. The service only knows the `AlertSink` port. The Slack poster lives with the other Slack
code (`bot.slack.poster.SlackAlertSink`; the package re-exports it lazily, so console mode never imports
Slack); the console sink is here because console mode is nothing more than printing between the replies."""

from __future__ import annotations

from typing import Protocol

from bot.alerting.actions import PostMarker
from bot.console import ConsoleOutput
from bot.render.alert_text import AlertView, CrashAlert, alert_text, count_phrase
from bot.render.alert_text import headline as alert_headline

__all__ = ["AlertSink", "ConsoleAlertSink"]


class AlertSink(Protocol):
    """Where alerts go: Slack (`SlackAlertSink`) or the console. Both methods may block until they
    succeed; the service cancels them when it stops leading."""

    needs_channel: bool

    async def post(
        self,
        channel: str | None,
        view: AlertView,
        *,
        thread: str | None = None,
        marker: PostMarker | None = None,
    ) -> str:
        """Send `view` (in the thread of message `thread`); returns a reference to the new message.

        `marker` identifies the planned message across retries and leaders: a sink that can look for
        it (Slack) never posts a top-level message twice for one marker.
        """
        ...

    async def update(self, ref: str, view: AlertView) -> bool:
        """Show `view` in message `ref` instead; False if that message cannot be edited any more."""
        ...


class ConsoleAlertSink:
    """Console mode: every alert printed as text between the replies (`ConsoleOutput.print_alert`)."""

    needs_channel = False

    def __init__(self, output: ConsoleOutput) -> None:
        self._output = output
        self._count = 0

    async def post(
        self,
        channel: str | None,
        view: AlertView,
        *,
        thread: str | None = None,
        marker: PostMarker | None = None,
    ) -> str:
        self._output.print_alert(alert_text(view))
        self._count += 1
        return f"console:{self._count}"

    async def update(self, ref: str, view: AlertView) -> bool:
        if isinstance(view, CrashAlert):
            counted = count_phrase(view)
            if counted is not None:  # a one-line update, not the whole alert again
                self._output.print_alert(f"{alert_headline(view)} — {counted}")
            return True
        self._output.print_alert(alert_text(view))
        return True
