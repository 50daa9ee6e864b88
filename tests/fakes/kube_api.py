"""A fake Kubernetes API server that the official `kubernetes` client talks to over real HTTP.

Why a server and not a mock: the bot's Kubernetes code is mostly about the wire (resourceVersion,
bookmarks, `410 Gone`, 409 conflicts, dropped watch connections, RBAC denials, timeouts), and only the
official client running against real REST paths and JSON shapes exercises it. The client reaches the fake
through an ordinary kubeconfig (`fake.write_kubeconfig(path)`), exactly as it reaches a cluster.

Three ways to run it:
- in the test's event loop: `async with FakeKubeApi() as fake:` (the bot's blocking client calls run in
  worker threads, so the loop stays free to serve them);
- on a background thread, for synchronous tests that call the client directly:
  `with FakeKubeApi().serving_in_thread() as fake:`;
- standalone, for tests that run bot processes against one cluster:
  `python -m tests.fakes.kube_api --port 8001 --kubeconfig /tmp/kubeconfig` (test controls under `/_fake/`).

Test controls: `fake.cluster` (objects, scenarios, logs, `compact()`, `drop_watches()`),
`fake.faults` (403/404/500…, latency), `fake.requests` (every call, with its RBAC verb), `fake.options`
(bookmark interval, watch timeout, the user RBAC denials name), and `stop()` / `start()` / `restart()` on the
same port with the cluster's state kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web
from kubernetes.client import ApiClient
from kubernetes.config import new_client_from_config_dict

from tests.fakes.kube_control import add_control_routes
from tests.fakes.kube_faults import FaultPlan, KubeRequest, RequestLog
from tests.fakes.kube_http import DEFAULT_USER, KubeApiHandler, ServerOptions, add_api_routes
from tests.fakes.kube_store import FakeCluster
from tests.fakes.kubeconfig import kubeconfig_dict, write_kubeconfig

T = TypeVar("T")

TEST_USER_AGENT = "exitcode-bot-tests/fake-client"  # the tests' own client, told apart from the bot's calls

__all__ = ["DEFAULT_USER", "TEST_USER_AGENT", "FakeKubeApi", "KubeRequest"]


class FakeKubeApi:
    """The fake apiserver: an aiohttp server over a `FakeCluster` whose state outlives restarts."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        history_limit: int = 5000,
        bookmark_interval: float = 60.0,
        user: str = DEFAULT_USER,
        control_endpoints: bool = False,
    ) -> None:
        self.host = host
        self.cluster = FakeCluster(history_limit=history_limit)
        self.faults = FaultPlan()
        self.requests = RequestLog()
        self.options = ServerOptions(bookmark_interval=bookmark_interval, user=user)
        self._control_endpoints = control_endpoints
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # --- where it is ------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the fake Kubernetes API has not been started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        """A kubeconfig file pointing at this server (for `KUBECONFIG=` or `load_kube_config`)."""
        return write_kubeconfig(path, self.url, namespace=namespace)

    def api_client(self, *, user_agent: str = TEST_USER_AGENT) -> ApiClient:
        """An official-client `ApiClient` for the tests' own calls (identified by `user_agent`)."""
        client: ApiClient = new_client_from_config_dict(  # type: ignore[no-untyped-call]
            kubeconfig_dict(self.url), persist_config=False
        )
        client.user_agent = user_agent
        return client

    # --- lifecycle on the current event loop ------------------------------------------------------

    async def start(self, port: int | None = None) -> None:
        """Listen on `port` (default: the previous port, or any free one)."""
        if self._runner is not None:
            raise RuntimeError("the fake Kubernetes API is already running")
        app = web.Application(client_max_size=16 * 1024 * 1024)
        if self._control_endpoints:
            add_control_routes(app, self.cluster, self.faults, self.requests)
        add_api_routes(app, KubeApiHandler(self.cluster, self.faults, self.requests, self.options))
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        wanted = self._port if port is None else port
        site = web.TCPSite(runner, self.host, wanted or 0, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening and reset every open watch, as a crashing apiserver does; state is kept."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.cluster.drop_watches(abort=True)
        await asyncio.sleep(0)
        await runner.cleanup()

    async def restart(self, *, forget_history: bool = False) -> None:
        """Stop and start on the same port. `forget_history=True` also empties the watch history, as a
        restarted apiserver's watch cache does: clients resuming from an older resourceVersion get 410."""
        await self.stop()
        if forget_history:
            self.cluster.compact()
        await self.start()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- lifecycle on a background thread (for synchronous tests) --------------------------------

    def start_in_thread(self, port: int | None = None) -> None:
        """Run the server on its own thread and loop; the test's thread stays free to block."""
        if self._thread_loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="fake-kube-api", daemon=True)
            thread.start()
            self._thread_loop, self._thread = loop, thread
        self._run_in_thread(self.start(port))

    def stop_in_thread(self) -> None:
        """Stop the server and its thread."""
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        self._run_in_thread(self.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._thread_loop = self._thread = None

    def restart_in_thread(self, *, forget_history: bool = False) -> None:
        self._run_in_thread(self.restart(forget_history=forget_history))

    def pause_in_thread(self) -> None:
        """Stop listening but keep the thread, to `start_in_thread()` again later (an apiserver outage)."""
        self._run_in_thread(self.stop())

    @contextlib.contextmanager
    def serving_in_thread(self, port: int | None = None) -> Iterator[Self]:
        self.start_in_thread(port)
        try:
            yield self
        finally:
            self.stop_in_thread()

    def _run_in_thread(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._thread_loop is None:
            coroutine.close()
            raise RuntimeError("the fake Kubernetes API is not running in a thread; use start_in_thread()")
        return asyncio.run_coroutine_threadsafe(coroutine, self._thread_loop).result(timeout=30)


# --- standalone: python -m tests.fakes.kube_api --port N --------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.kube_api", description="Run the fake Kubernetes API server standalone."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig pointing at the server here")
    parser.add_argument("--scenario", type=Path, action="append", default=[], help="scenario JSON to load")
    parser.add_argument("--bookmark-interval", type=float, default=60.0)
    parser.add_argument("--history-limit", type=int, default=5000)
    return parser.parse_args(argv)


async def _serve_forever(args: argparse.Namespace) -> None:
    fake = FakeKubeApi(
        host=args.host,
        history_limit=args.history_limit,
        bookmark_interval=args.bookmark_interval,
        control_endpoints=True,
    )
    for scenario in args.scenario:
        fake.cluster.load_scenario(json.loads(scenario.read_text(encoding="utf-8")))
    await fake.start(args.port)
    if args.kubeconfig:
        fake.write_kubeconfig(args.kubeconfig)
    print(f"fake Kubernetes API listening on {fake.url}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    await fake.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve_forever(_parse_args(argv)))


if __name__ == "__main__":
    main()
