"""Console mode: `python -m bot` without Slack tokens answers stdin lines as text."""

from __future__ import annotations

import io
import itertools
import subprocess
from pathlib import Path

from bot.command import strip_slash_command
from bot.console import ConsoleOutput, run_console
from tests.conftest import BOT_COMMAND, bot_env


def test_console_mode_prints_a_banner_and_answers_each_line(tmp_path: Path) -> None:
    lines = "137\n/exitcode sigterm\n\n/EXITCODE OOMKilled share\nfoo\n/deploy prod\n-1\n"

    done = subprocess.run(
        BOT_COMMAND, input=lines, capture_output=True, text=True, cwd=tmp_path, env=bot_env(), timeout=30
    )

    assert done.returncode == 0, done.stderr
    out = done.stdout
    banner = out.split("\n\n")[0] + out.split("\n\n")[1]
    assert "console mode" in banner
    for setting in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        assert setting in banner
    answers = out[len(banner) :]
    lines_out = answers.splitlines()
    headings = [line for line, under in itertools.pairwise(lines_out) if under and set(under) == {"="}]
    assert [h.split()[0] for h in headings] == ["137", "143", "OOMKilled", "255"]
    assert "SIGKILL" in headings[0] and "SIGTERM" in headings[1]
    assert "I can't read “foo”" in answers
    assert "Only /exitcode is available here" in answers
    assert "Traceback" not in done.stderr


def test_console_mode_stops_at_quit_and_at_end_of_input(tmp_path: Path) -> None:
    done = subprocess.run(
        BOT_COMMAND,
        input="quit\n137\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=bot_env(),
        timeout=30,
    )
    empty = subprocess.run(
        BOT_COMMAND, input="", capture_output=True, text=True, cwd=tmp_path, env=bot_env(), timeout=30
    )

    assert done.returncode == 0 and "SIGKILL" not in done.stdout
    assert empty.returncode == 0 and "console mode" in empty.stdout


def test_undecodable_input_is_answered_not_a_crash(tmp_path: Path) -> None:
    done = subprocess.run(
        BOT_COMMAND, input=b"\xff\xfe137\n143\n", capture_output=True, cwd=tmp_path, env=bot_env(), timeout=30
    )

    assert done.returncode == 0
    assert b"SIGTERM" in done.stdout
    assert b"Traceback" not in done.stderr


async def test_alerts_print_framed_between_replies() -> None:
    stream = io.StringIO()
    output = ConsoleOutput(stream)

    async def answer(text: str) -> str:
        output.print_alert(f"ALERT while answering {text}")
        return f"answer to {text}"

    code = await run_console(answer, stdin=io.StringIO("137\n"), output=output, banner="banner")

    assert code == 0
    printed = stream.getvalue()
    assert (
        printed.index("banner") < printed.index("ALERT while answering 137") < printed.index("answer to 137")
    )
    alert_block = printed.split("ALERT while answering 137")
    assert alert_block[0].rstrip().endswith("─" * 60) and alert_block[1].lstrip().startswith("─" * 60)


def test_command_prefix_is_optional_and_other_commands_are_refused() -> None:
    assert strip_slash_command("  /exitcode   137 share ", "/exitcode") == "137 share"
    assert strip_slash_command("137", "/exitcode") == "137"
    assert strip_slash_command("/ExitCode", "/exitcode") == ""
    assert strip_slash_command("/deploy 137", "/exitcode") is None


def test_the_configured_command_is_the_prefix_and_the_default_one_is_another_command() -> None:
    assert strip_slash_command("/exitcode-prod pod shop/api", "/exitcode-prod") == "pod shop/api"
    assert strip_slash_command("/exitcode 137", "/exitcode-prod") is None


async def test_console_mode_speaks_the_configured_command() -> None:
    """With SLASH_COMMAND=/exitcode-prod, lines typed as in Slack use that name; `/exitcode` is another
    app's command, and the banner says which one to type."""
    stream = io.StringIO()
    seen: list[str] = []

    async def answer(text: str) -> str:
        seen.append(text)
        return f"answer to {text}"

    lines = "/exitcode-prod 137\n/exitcode 143\npod shop/api\n"
    code = await run_console(
        answer, stdin=io.StringIO(lines), output=ConsoleOutput(stream), slash_command="/exitcode-prod"
    )

    assert code == 0
    printed = stream.getvalue()
    assert "Type what you would type after /exitcode-prod:" in printed
    assert seen == ["137", "pod shop/api"]
    assert "Only /exitcode-prod is available here; try: /exitcode-prod 137" in printed
