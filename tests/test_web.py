"""The one web server: probes, metrics, runbook pages (served only with PUBLIC_URL)."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from bot.web import RunbookPages, WebEndpoints, build_web_app
from tests.conftest import PUBLIC_URL, HttpBot, MakeHttpBot


async def test_probes_follow_the_bot_lifecycle(http_bot: HttpBot) -> None:
    assert (await http_bot.client.get("/healthz")).status == 200
    ready = await http_bot.client.get("/readyz")
    assert ready.status == 200 and (await ready.json()) == {"status": "ok"}

    await http_bot.bot.close()

    stopping = await http_bot.client.get("/readyz")
    assert stopping.status == 503
    assert (await stopping.json())["reason"] == "shutting down"


async def test_readyz_is_unavailable_until_startup_finished(make_http_bot: MakeHttpBot) -> None:
    bot = await make_http_bot()
    bot.bot.lifecycle.started = False

    response = await bot.client.get("/readyz")

    assert response.status == 503 and (await response.json())["reason"] == "starting"


async def test_metrics_count_answers_by_kind_in_prometheus_format(http_bot: HttpBot) -> None:
    await http_bot.command_json("137")
    await http_bot.command_json("137")
    await http_bot.command_json("143 share")
    await http_bot.command_json("help")
    await http_bot.command_json("gibberish")
    await http_bot.command_json("pod a/b")

    response = await http_bot.client.get("/metrics")

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    lines = (await response.text()).splitlines()
    for expected in (
        'exitcode_bot_commands_total{kind="explain"} 2.0',
        'exitcode_bot_commands_total{kind="share"} 1.0',
        'exitcode_bot_commands_total{kind="help"} 1.0',
        'exitcode_bot_commands_total{kind="usage"} 1.0',
        'exitcode_bot_commands_total{kind="not_configured"} 1.0',
    ):
        assert expected in lines
    assert any(line.startswith("process_resident_memory_bytes") for line in lines)


async def test_runbook_index_and_pages_are_html_from_the_knowledge_base(http_bot: HttpBot) -> None:
    index = await http_bot.client.get("/runbooks")
    page = await http_bot.client.get("/runbooks/137")
    reason = await http_bot.client.get("/runbooks/OOMKilled")

    assert index.status == 200 and index.content_type == "text/html"
    index_html = await index.text()
    assert f'href="{PUBLIC_URL}/runbooks/137"' in index_html
    assert f'href="{PUBLIC_URL}/runbooks/OOMKilled"' in index_html
    assert page.status == 200
    page_html = await page.text()
    assert "SIGKILL" in page_html and "kubectl" in page_html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert reason.status == 200 and "OOMKilled" in await reason.text()


async def test_other_spellings_redirect_to_the_canonical_runbook(http_bot: HttpBot) -> None:
    negative = await http_bot.client.get("/runbooks/-1", allow_redirects=False)
    folded = await http_bot.client.get("/runbooks/oomkilled", allow_redirects=False)
    followed = await http_bot.client.get("/runbooks/sigterm")

    assert negative.status == 301 and negative.headers["Location"] == "255"
    assert folded.status == 301 and folded.headers["Location"] == "OOMKilled"
    assert followed.status == 200 and str(followed.url).endswith("/runbooks/143")


async def test_unknown_runbook_is_an_escaped_404_page(http_bot: HttpBot) -> None:
    response = await http_bot.client.get("/runbooks/%3Cscript%3Ealert(1)%3C%2Fscript%3E")

    assert response.status == 404
    body = await response.text()
    assert "<script>" not in body and "&lt;script&gt;" in body


async def test_runbook_pages_are_off_without_public_url(make_http_bot: MakeHttpBot) -> None:
    bot = await make_http_bot(public_url=None)

    for path in ("/runbooks", "/runbooks/137"):
        response = await bot.client.get(path)
        assert response.status == 404
        assert "PUBLIC_URL" in await response.text()


async def test_a_failing_page_is_a_short_500_not_a_traceback() -> None:
    def broken_page(key: str) -> str | None:
        raise ValueError("template bug")

    endpoints = WebEndpoints(
        metrics=lambda: (b"", "text/plain"),
        runbooks=RunbookPages(index=lambda: "", page=broken_page, canonical_key=lambda key: None),
    )
    async with TestClient(TestServer(build_web_app(endpoints))) as client:
        response = await client.get("/runbooks/137")
        assert response.status == 500
        assert "template bug" not in await response.text()
