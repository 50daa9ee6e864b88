"""The Slack app manifest matches what the code registers, with no scope the bot does not use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.slack.app import SLASH_COMMAND

MANIFEST = Path(__file__).resolve().parents[1] / "config" / "slack-app-manifest.yaml"


def load() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load(MANIFEST.read_text())
    return manifest


def test_manifest_defaults_to_socket_mode_with_interactivity_for_the_share_button() -> None:
    settings = load()["settings"]

    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True


def test_manifest_declares_the_command_the_app_handles_with_a_usage_hint() -> None:
    (command,) = load()["features"]["slash_commands"]

    assert command["command"] == SLASH_COMMAND
    assert "137" in command["usage_hint"] and "help" in command["usage_hint"]
    assert command["should_escape"] is False, "the bot escapes text itself; Slack must send it raw"


def test_manifest_requests_only_the_scopes_the_bot_uses() -> None:
    scopes = load()["oauth_config"]["scopes"]

    # *:history: the alert sink's already-posted check (`bot.slack.posted_lookup`), nothing else.
    assert sorted(scopes["bot"]) == ["channels:history", "chat:write", "commands", "groups:history"]
    assert "user" not in scopes
