"""The one HTTP server on `PORT`: Slack's requests, probes, metrics and the runbook pages.

One aiohttp application serves everything, in both Slack transports, so a deployment exposes one port
and probes it the same way in every mode. This module knows nothing about Slack or the knowledge base
(import-linter keeps the adapters independent): `bot.wiring` passes in the Slack request handler, the
health checks, the metrics exposition and the page renderers as plain callables.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import web

log = logging.getLogger(__name__)

RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HealthCheck = Callable[[], Awaitable[str | None]]
"""Returns None when healthy, else a short reason (shown in the probe's JSON body)."""

_HTML_HEADERS = {
    # The pages are static text: no scripts, no external resources, never framed.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


async def always_healthy() -> str | None:
    return None


def first_problem(*checks: HealthCheck) -> HealthCheck:
    """One probe from several: healthy when all are, else the first problem (checked in order)."""

    async def check() -> str | None:
        for each in checks:
            problem = await each()
            if problem is not None:
                return problem
        return None

    return check


@dataclass(frozen=True, slots=True)
class RunbookPages:
    """The `/runbooks` pages: `index()` lists them, `page(key)` renders one (None: no such runbook).

    `canonical_key(key)` maps another spelling to the page's key (`-1` → `255`, `oomkilled` →
    `OOMKilled`), so links typed by hand redirect instead of failing; None when nothing matches.
    """

    index: Callable[[], str]
    page: Callable[[str], str | None]
    canonical_key: Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class WebEndpoints:
    """What the server serves; everything except `metrics` is optional."""

    metrics: Callable[[], tuple[bytes, str]]
    slack_events: RequestHandler | None = None
    healthy: HealthCheck = always_healthy
    ready: HealthCheck = always_healthy
    degraded: HealthCheck = always_healthy
    """A problem that does not make the pod unready (an outage every replica shares): `/readyz` is 200
    with `"status": "degraded"` and the reason, so the Service keeps routing what can still be answered."""
    runbooks: RunbookPages | None = None


def build_web_app(endpoints: WebEndpoints) -> web.Application:
    """The aiohttp application with every route registered."""
    app = web.Application()
    routes = _Routes(endpoints)
    app.router.add_post("/slack/events", routes.slack_events)
    app.router.add_get("/healthz", routes.healthz)
    app.router.add_get("/readyz", routes.readyz)
    app.router.add_get("/metrics", _page_errors(routes.metrics))
    app.router.add_get("/runbooks", _page_errors(routes.runbook_index))
    app.router.add_get("/runbooks/", _page_errors(routes.runbook_index))
    app.router.add_get("/runbooks/{key}", _page_errors(routes.runbook_page))
    return app


class _Routes:
    def __init__(self, endpoints: WebEndpoints) -> None:
        self._endpoints = endpoints

    async def slack_events(self, request: web.Request) -> web.StreamResponse:
        handler = self._endpoints.slack_events
        if handler is None:
            return web.json_response(
                {"error": "this bot runs in Socket Mode; Slack requests arrive over its websocket"},
                status=404,
            )
        return await handler(request)

    async def healthz(self, request: web.Request) -> web.Response:
        return await _probe(self._endpoints.healthy)

    async def readyz(self, request: web.Request) -> web.Response:
        unready = await _probe(self._endpoints.ready)
        if unready.status != 200:
            return unready
        problem = await self._endpoints.degraded()
        if problem is None:
            return unready
        return web.json_response({"status": "degraded", "reason": problem})

    async def metrics(self, request: web.Request) -> web.Response:
        body, content_type = self._endpoints.metrics()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def runbook_index(self, request: web.Request) -> web.Response:
        pages = self._endpoints.runbooks
        if pages is None:
            return _pages_disabled()
        return _html(pages.index())

    async def runbook_page(self, request: web.Request) -> web.Response:
        pages = self._endpoints.runbooks
        if pages is None:
            return _pages_disabled()
        key = request.match_info["key"]
        canonical = pages.canonical_key(key)
        if canonical is not None and canonical != key:
            # Relative, so it also works behind a proxy that serves the bot under a path prefix.
            raise web.HTTPMovedPermanently(location=quote(canonical, safe=""))
        page = pages.page(key)
        if page is not None:
            return _html(page)
        return _html(
            _simple_page(
                "No such runbook",
                f"There is no runbook for <code>{html.escape(key[:200])}</code>. "
                'See <a href="./">all runbooks</a>.',
            ),
            status=404,
        )


async def _probe(check: HealthCheck) -> web.Response:
    problem = await check()
    if problem is None:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "unavailable", "reason": problem}, status=503)


def _html(page: str, status: int = 200) -> web.Response:
    return web.Response(
        text=page, status=status, content_type="text/html", charset="utf-8", headers=_HTML_HEADERS
    )


def _pages_disabled() -> web.Response:
    return _html(
        _simple_page(
            "Runbook pages are off",
            "This bot serves its runbook pages only when <code>PUBLIC_URL</code> is set "
            "(the address where people can reach it).",
        ),
        status=404,
    )


def _simple_page(title: str, body_html: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)} · exitcode-bot</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{body_html}</p></body></html>\n"
    )


def _page_errors(handler: RequestHandler) -> RequestHandler:
    """A bug in a page renderer is a logged 500 with a short body, not a traceback sent to the browser.

    Applied per route rather than as a middleware, so `/slack/events` (the hot path) pays nothing.
    """

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception:
            log.exception("error serving %s %s", request.method, request.path)
            return web.json_response({"error": "internal error; it has been logged"}, status=500)

    return guarded


class WebServer:
    """The running server; `port` is the bound port (useful with port 0 in tests)."""

    def __init__(self, runner: web.AppRunner, site: web.TCPSite) -> None:
        self._runner = runner
        self._site = site

    @property
    def port(self) -> int:
        return self._site.port

    async def close(self) -> None:
        await self._runner.cleanup()


async def start_web_server(app: web.Application, port: int, host: str = "0.0.0.0") -> WebServer:
    """Listen on `host:port`; raises OSError (e.g. address in use) for the caller to report."""
    runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=logging.getLogger("aiohttp.access"))
    await runner.setup()
    site = web.TCPSite(runner, host, port, shutdown_timeout=2.0)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    return WebServer(runner, site)
