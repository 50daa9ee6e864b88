"""POST a JSON body until the service takes it: the delivery loop every HTTP surface shares.

Teams, PagerDuty and webhook receivers fail the way Slack does: bursts are answered with `429` (with or
without `Retry-After`), incidents with `5xx` or nothing at all. A surface that gave up after a few
retries would lose the crash, so this retries for as long as the process runs (the alert service cancels
it when the term ends; the entry stays in the ledger's outbox for the next leader):

- one request at a time per target, the next at least `min_interval_seconds` after the previous one was
  *answered* (arrivals, not departures, are what a service's rate limit counts);
- `429`: wait `Retry-After` (seconds, capped), else the backoff; `408`, `5xx`, timeouts, resets:
  exponential backoff with jitter, capped;
- any other `4xx`: `Rejected` (retrying the same bytes cannot help); the adapter may shrink the
  payload and try again (Teams' size limit), or let the alert service retry without the diagnosis;
- a redirect is not followed (`Rejected` too): an alert goes only where it was configured to go, never
  with its body and signature to wherever an answer points.

URLs and keys are secrets (a Teams Workflows URL carries its signature): nothing here logs a URL, a
header or a body; log lines name the surface and the target only.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp

__all__ = ["Answer", "DeliveryTiming", "HttpDelivery", "Rejected"]

log = logging.getLogger(__name__)

ErrorHook = Callable[[str], None]
HeaderFactory = Callable[[], Mapping[str, str]]
"""Called for every attempt: a signature over a fresh timestamp must be made per request."""
RETRIED_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class DeliveryTiming:
    """Pacing and retry timing; production defaults, tests speed them up."""

    min_interval_seconds: float = 1.0
    timeout_seconds: float = 10.0
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 60.0
    max_retry_after_seconds: float = 600.0
    """A `Retry-After` larger than this is treated as this (a confused proxy must not park alerts)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The service's accepting answer (2xx)."""

    status: int
    body: bytes


class Rejected(Exception):
    """The service refused the request for good (a `4xx` other than 408/425/429)."""

    def __init__(self, surface: str, target: str, status: int, detail: str) -> None:
        super().__init__(f"{surface} refused the alert for {target}: HTTP {status} {detail}".strip())
        self.status = status
        self.detail = detail


@dataclass
class _Pace:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_at: float = 0.0


def _ignore(_: str) -> None:
    return None


def retry_after_seconds(value: str | None, cap: float) -> float | None:
    """`Retry-After` in seconds (the HTTP-date form is rare for APIs and treated as absent)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return min(max(seconds, 0.0), cap) if seconds == seconds else None  # NaN is absent


class HttpDelivery:
    """The shared delivery loop of one surface (see the module docstring)."""

    def __init__(
        self,
        surface: str,
        timing: DeliveryTiming | None = None,
        *,
        on_error: ErrorHook = _ignore,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.surface = surface
        self.timing = timing or DeliveryTiming()
        self._on_error = on_error
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._paces: dict[str, _Pace] = {}
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timing.timeout_seconds),
                headers={"User-Agent": "exitcode-bot"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, target: str, url: str, body: bytes, headers: HeaderFactory) -> Answer:
        """POST `body` to `url` until a `2xx` (returned); raises `Rejected` for a permanent refusal."""
        pace = self._paces.setdefault(target, _Pace())
        attempt = 0
        async with pace.lock:
            while True:
                loop = asyncio.get_running_loop()
                wait = pace.next_at - loop.time()
                if wait > 0:
                    await self._sleep(wait)
                attempt += 1
                try:
                    delay = await self._attempt(target, url, body, headers, attempt)
                finally:  # a refusal is an arrival the service counted, too
                    pace.next_at = loop.time() + self.timing.min_interval_seconds
                if isinstance(delay, Answer):
                    return delay
                await self._sleep(delay)

    async def _attempt(
        self, target: str, url: str, body: bytes, headers: HeaderFactory, attempt: int
    ) -> Answer | float:
        """One request: the answer, or how long to wait before the next attempt."""
        request_headers = {"Content-Type": "application/json", **headers()}
        try:
            async with self._client().post(
                url, data=body, headers=request_headers, allow_redirects=False
            ) as response:
                content = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            return self._failed(target, "timeout", attempt)
        except aiohttp.ClientError:
            return self._failed(target, "connection", attempt)
        if 200 <= status < 300:
            return Answer(status, content)
        if status == 429:
            waited = retry_after_seconds(retry_after, self.timing.max_retry_after_seconds)
            self._failed(target, "ratelimited", attempt, quiet=True)
            return waited + self._rng.uniform(0, 0.25) if waited is not None else self._backoff(attempt)
        if status in RETRIED_STATUSES or status >= 500:
            return self._failed(target, "server_error" if status >= 500 else f"http_{status}", attempt)
        self._on_error(f"http_{status}")
        raise Rejected(self.surface, target, status, _excerpt(content))

    def _failed(self, target: str, kind: str, attempt: int, *, quiet: bool = False) -> float:
        self._on_error(kind)
        delay = self._backoff(attempt)
        if not quiet:
            log.warning(
                "event=alert_delivery_retry surface=%s target=%s error=%s attempt=%d retry_in=%.1f",
                self.surface,
                target,
                kind,
                attempt,
                delay,
            )
        return delay

    def _backoff(self, attempt: int) -> float:
        timing = self.timing
        ceiling = min(timing.backoff_cap_seconds, timing.backoff_base_seconds * 2 ** min(attempt - 1, 16))
        return self._rng.uniform(ceiling / 2, ceiling)


def _excerpt(content: bytes, limit: int = 200) -> str:
    """The start of an error answer, for the log: services explain refusals there (no secret is in
    an answer: the URL and key are only ever in our request)."""
    return content[:limit].decode("utf-8", "replace").replace("\n", " ").strip()
