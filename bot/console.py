"""Console mode: the same bot without Slack, on stdin/stdout.

`make run` with no Slack tokens lands here, so anyone can try the bot (or script it:
`printf '137\\n143\\n' | exitcode-bot`) before creating a Slack app; `pod NS/NAME` and `ns NS` read
the cluster of the current kubeconfig, as in Slack. Lines are read in a daemon thread
and handed to the event loop, so the loop stays free for other work (the crash watcher prints its
alerts here through `ConsoleOutput.print_alert`) and a signal never waits for a blocked `readline`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.command import DEFAULT_SLASH_COMMAND, strip_slash_command

LineHandler = Callable[[str], Awaitable[str]]
"""Answers one command (already stripped of the slash command) with the text to print."""

_QUIT_WORDS = frozenset({"quit", "exit", ":q"})

BANNER = """\
exitcode-bot · console mode: no SLACK_BOT_TOKEN is set, so answers print here.
Type what you would type after {command}: 137, 143 share, sigsegv, OOMKilled, -1, help,
pod NAMESPACE/POD, ns NAMESPACE (these two read the cluster of your kubeconfig).
One command per line; Ctrl-D (or "quit") leaves.

To connect to Slack instead, set SLACK_BOT_TOKEN (xoxb-…) and either SLACK_APP_TOKEN (xapp-…, Socket
Mode, no public URL needed) or SLACK_SIGNING_SECRET (HTTP mode on PORT). See README.md, "Slack setup".
For crash alerts without Slack, set TEAMS_WEBHOOK_URL, PAGERDUTY_ROUTING_KEY or WEBHOOK_URL (alerts-only).
"""


class ConsoleOutput:
    """Where console mode writes: replies to commands, and alerts from the watcher."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout
        _tolerate_encoding_errors(self._stream)

    def print_reply(self, text: str) -> None:
        self._write(text.rstrip("\n") + "\n\n")

    def print_alert(self, text: str) -> None:
        """The alert sink for console mode: one alert, framed so it stands out between replies."""
        rule = "─" * 60
        self._write(f"{rule}\n{text.rstrip()}\n{rule}\n")

    def print_banner(self, text: str) -> None:
        self._write(text.rstrip("\n") + "\n\n")

    def prompt(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()


async def run_console(
    handle: LineHandler,
    *,
    stdin: TextIO | None = None,
    output: ConsoleOutput | None = None,
    banner: str = BANNER,
    slash_command: str = DEFAULT_SLASH_COMMAND,
) -> int:
    """Answer lines from stdin until end of input; returns the process exit code (0).

    A line may start with `slash_command` (this installation's SLASH_COMMAND), as typed in Slack."""
    source = stdin if stdin is not None else sys.stdin
    out = output if output is not None else ConsoleOutput()
    _tolerate_encoding_errors(source)
    interactive = source.isatty()
    out.print_banner(banner.replace("{command}", slash_command))
    lines = _read_lines_in_background(source)
    while True:
        if interactive:
            out.prompt("exitcode> ")
        line = await lines.get()
        if line is None:
            return 0
        text = strip_slash_command(line, slash_command)
        if text is None:
            out.print_reply(
                f"Only {slash_command} is available here; try: {slash_command} 137 "
                f"(you typed {line.strip()[:80]!r})."
            )
            continue
        if text.casefold() in _QUIT_WORDS:
            return 0
        if not text and not line.strip():
            continue
        out.print_reply(await handle(text))


def _read_lines_in_background(source: TextIO) -> asyncio.Queue[str | None]:
    """A queue fed by a daemon thread; None marks end of input (or an unreadable stdin)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def reader() -> None:
        try:
            for line in source:
                loop.call_soon_threadsafe(queue.put_nowait, line)
        except (OSError, ValueError):  # stdin closed under us: treat as end of input
            pass
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
                loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=reader, name="console-stdin", daemon=True).start()
    return queue


def _tolerate_encoding_errors(stream: TextIO) -> None:
    """Undecodable input or unprintable output becomes `?`/U+FFFD instead of a crash."""
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="replace")
