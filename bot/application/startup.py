"""What every entry point needs before it can answer anything: settings and the knowledge base, and the
exit codes and the one kind of error an operator fixes in the configuration.

Kept apart from `bot.cli` and `bot.wiring` so both can use it without importing each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.knowledge import KnowledgeBase
    from bot.settings import Settings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
"""Bad input or configuration: a usage reply, an invalid setting, a broken knowledge file."""


class StartupError(Exception):
    """A problem an operator fixes in the configuration; printed as one line, exit code 2."""


def load_settings() -> Settings:
    """Settings from the environment and `.env`; a bad value raises `StartupError` naming the variable.

    Values are never echoed: a mistyped token must not end up in a terminal scrollback or a log.
    pydantic is imported here, not at module level: `exitcode-bot explain` never needs it.
    """
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from bot.settings import Settings

    try:
        return Settings()
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = "_".join(str(part) for part in item["loc"][:1]).upper() or "settings"
            problems.append(f"{name}: {item['msg']}")
        raise StartupError("invalid setting " + "; ".join(problems)) from None
    except (SettingsError, ValueError) as error:
        raise StartupError(f"invalid settings: {error}") from None


def load_knowledge_base(settings: Settings) -> KnowledgeBase:
    """The knowledge base with the operator's file; a broken file is a `StartupError` naming it."""
    from bot.knowledge import KnowledgeError, RunbookLinks, load_knowledge

    try:
        return load_knowledge(
            settings.knowledge_file, RunbookLinks(settings.runbook_url_template, settings.public_url)
        )
    except KnowledgeError as error:
        raise StartupError(str(error)) from None
