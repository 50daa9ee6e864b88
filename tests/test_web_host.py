"""Issue 8 finding 8: `HOST` chooses the listen address (default `0.0.0.0`, as a pod needs).

Proved with a real process: bound to `127.0.0.2` (a loopback address like 127.0.0.1, but a different
one), the bot answers there and nowhere else; a bind on `0.0.0.0` would answer on both.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.settings import Settings
from tests.conftest import SIGNING_SECRET, bot_env, free_port
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi


def test_host_defaults_to_every_ipv4_interface_and_can_be_set() -> None:
    assert Settings(_env_file=None).host == "0.0.0.0"
    assert Settings(_env_file=None, host="127.0.0.1").host == "127.0.0.1"


async def test_the_server_listens_only_on_host(tmp_path: Path) -> None:
    port = free_port()
    async with FakeSlackApi() as api:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=bot_env(
                PORT=str(port),
                HOST="127.0.0.2",
                SLACK_BOT_TOKEN=DEFAULT_BOT_TOKEN,
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=api.base_url,
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with aiohttp.ClientSession() as session, asyncio.timeout(20):
                while True:  # poll the condition that matters: the probe answers at HOST
                    assert process.returncode is None, "the bot exited early"
                    try:
                        async with session.get(f"http://127.0.0.2:{port}/healthz") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
                with pytest.raises(aiohttp.ClientConnectionError):
                    async with session.get(f"http://127.0.0.1:{port}/healthz"):
                        pass
        finally:
            process.terminate()
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
    assert process.returncode == 0, stderr.decode()


async def test_an_address_that_cannot_be_bound_stops_the_bot_with_one_line(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env=bot_env(
            PORT=str(free_port()),
            HOST="192.0.2.1",  # TEST-NET-1: never an address of this machine
            SLACK_BOT_TOKEN=DEFAULT_BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL="http://127.0.0.1:9/",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)

    assert process.returncode == 2
    assert "HOST 192.0.2.1" in stderr.decode() and "Traceback" not in stderr.decode()
