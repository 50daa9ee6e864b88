"""Prometheus metrics of the bot, on a registry of its own.

A private `CollectorRegistry` (not the library's global one) so several bots can live in one process
(tests, benchmarks) without "duplicated timeseries" errors, and so `/metrics` shows exactly what the bot
defines plus the process collectors. Later features add their counters here, next to these.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

CommandKind = Literal["explain", "share", "help", "usage", "pod", "ns", "not_configured"]
"""What a `/exitcode` invocation turned out to be, as counted by `exitcode_bot_commands_total`."""

ErrorSite = Literal["command", "share_button", "diagnose", "response_url", "slack_api", "web"]
"""Where an unexpected failure was caught (each one also produced a friendly reply and a log line)."""


class BotMetrics:
    """The counters the adapters update; `exposition()` renders them for `/metrics`."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process_collectors: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        if process_collectors:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self.commands = Counter(
            "exitcode_bot_commands",
            "Slash commands and buttons answered, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.errors = Counter(
            "exitcode_bot_errors",
            "Unexpected failures caught and answered with an apology, by where they happened.",
            ["site"],
            registry=self.registry,
        )

    def command_answered(self, kind: CommandKind) -> None:
        self.commands.labels(kind=kind).inc()

    def error(self, site: ErrorSite) -> None:
        self.errors.labels(site=site).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
