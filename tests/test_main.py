"""`python -m bot` as a process: starts in the right mode, answers, stops cleanly on signals.

The bot runs as a real subprocess against the fake Slack endpoints in this test's event loop, so
startup, the PORT server, signal handling and exit codes are the ones a Kubernetes pod sees.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import SIGNING_SECRET, bot_env, free_port
from tests.fakes.slack_api import DEFAULT_APP_TOKEN, DEFAULT_BOT_TOKEN, FakeSlackApi
from tests.fakes.slack_signing import signed_headers, slash_command_body, slash_command_payload
from tests.fakes.socket_mode import FakeSocketModeServer

STOP_TIMEOUT = 10.0


class BotProcess:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    async def wait_ready(self, path: str = "/readyz", timeout: float = 20.0) -> None:
        async with aiohttp.ClientSession() as session, asyncio.timeout(timeout):
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(f"bot exited early with {self.process.returncode}")
                try:
                    async with session.get(self.url + path) as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)

    async def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(signum)
        _, stderr = await asyncio.wait_for(self.process.communicate(), timeout=STOP_TIMEOUT)
        assert self.process.returncode is not None
        return self.process.returncode, stderr.decode()


async def start_bot(tmp_path: Path, **env: str) -> BotProcess:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=bot_env(PORT=str(port), **env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    return BotProcess(process, port)


@pytest.fixture
async def api() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as fake:
        yield fake


async def test_http_mode_answers_signed_commands_and_stops_on_sigterm_with_0(
    tmp_path: Path, api: FakeSlackApi
) -> None:
    bot = await start_bot(
        tmp_path,
        SLACK_BOT_TOKEN=DEFAULT_BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api.base_url,
        LOG_LEVEL="DEBUG",
    )
    await bot.wait_ready()
    body = slash_command_body("137")
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            bot.url + "/slack/events", data=body, headers=signed_headers(SIGNING_SECRET, body)
        ) as reply,
    ):
        answer = json.loads(await reply.text())

    code, stderr = await bot.stop(signal.SIGTERM)

    assert "SIGKILL" in answer["text"]
    assert code == 0
    assert "Traceback" not in stderr
    assert "HTTP mode" in stderr
    assert api.calls_to("auth.test"), "the bot token was checked at startup"
    assert DEFAULT_BOT_TOKEN not in stderr and SIGNING_SECRET not in stderr, "secrets must never be logged"
    assert "xoxb-" not in stderr


async def test_socket_mode_process_acks_commands_serves_health_and_stops_on_sigint(tmp_path: Path) -> None:
    async with (
        FakeSocketModeServer() as socket_server,
        FakeSlackApi(socket_mode_url=socket_server.issue_url) as api,
    ):
        bot = await start_bot(
            tmp_path,
            SLACK_BOT_TOKEN=DEFAULT_BOT_TOKEN,
            SLACK_APP_TOKEN=DEFAULT_APP_TOKEN,
            SLACK_API_URL=api.base_url,
            PUBLIC_URL="https://bot.example.com",
        )
        await socket_server.wait_connected(timeout=20)
        await bot.wait_ready("/healthz")
        envelope_id = await socket_server.send_slash_command(slash_command_payload("143 share"))
        ack = await socket_server.wait_for_ack(envelope_id)
        async with aiohttp.ClientSession() as session, session.get(bot.url + "/runbooks/143") as page:
            page_status = page.status

        code, stderr = await bot.stop(signal.SIGINT)

    assert ack["payload"]["response_type"] == "in_channel"
    assert "SIGTERM" in ack["payload"]["text"]
    assert page_status == 200
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert DEFAULT_APP_TOKEN not in stderr


async def test_console_mode_stops_on_sigterm_with_0(tmp_path: Path) -> None:
    bot = await start_bot(tmp_path)
    assert bot.process.stdout is not None
    banner = await asyncio.wait_for(bot.process.stdout.readline(), timeout=20)

    code, stderr = await bot.stop(signal.SIGTERM)

    assert b"console mode" in banner
    assert code == 0
    assert "Traceback" not in stderr


async def run_to_exit(tmp_path: Path, **env: str) -> tuple[int, str]:
    bot = await start_bot(tmp_path, **env)
    _, stderr = await asyncio.wait_for(bot.process.communicate(), timeout=30)
    assert bot.process.returncode is not None
    return bot.process.returncode, stderr.decode()


async def test_http_mode_without_signing_secret_refuses_to_start(tmp_path: Path) -> None:
    code, stderr = await run_to_exit(tmp_path, SLACK_BOT_TOKEN=DEFAULT_BOT_TOKEN)

    assert code == 2
    assert stderr.count("\n") == 1 and "SLACK_SIGNING_SECRET is required" in stderr
    assert DEFAULT_BOT_TOKEN not in stderr


async def test_broken_knowledge_file_stops_startup_with_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "ours.yaml"
    broken.write_text("version: 1\nreasons:\n  - name: OOMKilled\n    summary: 12\n    kind: nonsense\n")

    code, stderr = await run_to_exit(tmp_path, KNOWLEDGE_FILE=str(broken))

    assert code == 2
    assert stderr.count("\n") == 1 and str(broken) in stderr and "OOMKilled" in stderr
    assert "Traceback" not in stderr


async def test_rejected_bot_token_stops_startup_naming_the_setting(tmp_path: Path) -> None:
    async with FakeSlackApi(bot_tokens=()) as api:
        code, stderr = await run_to_exit(
            tmp_path,
            SLACK_BOT_TOKEN="xoxb-revoked",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=api.base_url,
        )

    assert code == 2
    assert "Slack rejected SLACK_BOT_TOKEN (invalid_auth)" in stderr
    assert "xoxb-revoked" not in stderr and "Traceback" not in stderr


async def test_port_already_in_use_is_a_clear_startup_error(tmp_path: Path, api: FakeSlackApi) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=bot_env(
                PORT=str(port),
                SLACK_BOT_TOKEN=DEFAULT_BOT_TOKEN,
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=api.base_url,
            ),
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)

    assert process.returncode == 2
    assert f"cannot listen on PORT {port}" in stderr.decode()
