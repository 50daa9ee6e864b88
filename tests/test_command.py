"""The command grammar (`bot.command`): one parser for Slack, console mode and the CLI."""

from __future__ import annotations

import pytest

from bot.command import (
    DiagnoseCommand,
    ExplainCommand,
    SnoozesCommand,
    command_line,
    parse_command,
    strip_slash_command,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("137", ExplainCommand("137")),
        ("143 share", ExplainCommand("143 share")),
        ("help", ExplainCommand("help")),
        ("", ExplainCommand("")),
        ("  sigkill  ", ExplainCommand("  sigkill  ")),
        ("podcast", ExplainCommand("podcast")),
        ("pod shop/api", DiagnoseCommand("pod", "shop/api")),
        ("POD shop/api SHARE", DiagnoseCommand("pod", "shop/api", share=True)),
        ("pod", DiagnoseCommand("pod", "")),
        ("pod share", DiagnoseCommand("pod", "", share=True)),
        ("ns shop", DiagnoseCommand("ns", "shop")),
        ("namespace shop share", DiagnoseCommand("ns", "shop", share=True)),
        ("ns  a   b ", DiagnoseCommand("ns", "a b")),
        ("snoozes", SnoozesCommand()),
        (" SNOOZES ", SnoozesCommand()),
        ("snoozes share", ExplainCommand("snoozes share")),
    ],
)
def test_parse_command(text: str, expected: object) -> None:
    assert parse_command(text) == expected


def test_every_string_parses() -> None:
    for text in ("\x00", "pod\n", "/exitcode 1", "ns " + "x" * 10_000, "\u2212 1"):
        assert isinstance(parse_command(text), ExplainCommand | DiagnoseCommand | SnoozesCommand)


def test_the_surface_names_the_command() -> None:
    assert command_line("/exitcode-prod", "pod", "shop/api") == "/exitcode-prod pod shop/api"
    assert command_line("exitcode-bot", "ns", "shop") == "exitcode-bot ns shop"
    assert strip_slash_command("/EXITCODE-PROD 137", "/exitcode-prod") == "137"
