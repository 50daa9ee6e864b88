"""Whether Slack's Web API is reachable with our token, without making requests depend on it.

Bolt's default single-workspace authorization calls `auth.test` before dispatching the first request and
again after every failure, so while the Web API was unreachable every signed slash command waited for
the call and ended in a 500 (issue 8, finding 7) — although an explanation needs no Web API call at all.
And `/readyz` said ready meanwhile. This module fixes both sides:

- `authorization()` hands Bolt the bot token as is (the signature already proved the request is
  Slack's; the token is ours), so no request waits for the Web API. The bot's own user ID, which
  Bolt uses only to ignore the bot's own events, comes from the last successful `auth.test`.
- `WebApiStatus` is the honest part of `/readyz`: `auth.test` with a short timeout and no retries,
  re-checked every `recheck_seconds` (sooner while failing), run in the background so a kubelet probe
  never waits longer than `probe_wait_seconds` once there is a first answer. The reason says what is
  wrong and what still works.

Which failures make the pod unready is a deliberate split. A token Slack *rejects* is this pod's
configuration (a wrong Secret in a new release): `readiness()` fails, so a rollout stops and the old
pods keep serving. An *unreachable* Web API is an outage every replica shares: failing readiness there
would empty the Service and turn a partial outage (alerts wait, explanations still work) into a total
one, so `degradation()` reports it instead — `/readyz` answers 200 with `"status": "degraded"` and the
reason, and the `exitcode_bot_slack_web_api_up` gauge is 0 for alerting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.client import rejected_token_error

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 5
RECHECK_SECONDS = 30.0
RECHECK_FAILING_SECONDS = 5.0
PROBE_WAIT_SECONDS = 0.5
NOT_CHECKED = "the Slack Web API has not been checked yet (auth.test)"
_STILL_WORKS = "slash commands are still answered; replies and alerts that need the Web API wait"


class WebApiStatus:
    """The outcome of the last `auth.test`: `problem` is None when Slack answered ok."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        recheck_seconds: float = RECHECK_SECONDS,
        recheck_failing_seconds: float = RECHECK_FAILING_SECONDS,
        probe_wait_seconds: float = PROBE_WAIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A client of its own: no retries and a short timeout, so a probe learns of an outage quickly.
        self._client = AsyncWebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=CHECK_TIMEOUT_SECONDS,
            retry_handlers=[],
            logger=logging.getLogger("bot.slack.web_client"),
        )
        self.token = client.token
        self._recheck = recheck_seconds
        self._recheck_failing = recheck_failing_seconds
        self._probe_wait = probe_wait_seconds
        self._clock = clock
        self.problem: str | None = NOT_CHECKED
        self.bot_user_id: str | None = None
        self.bot_id: str | None = None
        self._checked_at: float | None = None
        self._failing_since: str | None = None
        self._reason: str | None = None
        self._running: asyncio.Task[None] | None = None
        self.rejected = False
        """Whether the last answer refused our token (configuration), as opposed to an outage."""
        self.on_change: Callable[[bool], None] = lambda _up: None
        """Told whether the Web API answers ok after every check (the `..._web_api_up` gauge)."""

    async def check(self) -> str | None:
        """Call `auth.test` now; returns (and keeps) the problem, None when Slack answered ok."""
        try:
            result = await self._client.auth_test()
        except SlackApiError as error:
            code = rejected_token_error(error)
            if code is not None:
                self._failed(
                    f"Slack rejects SLACK_BOT_TOKEN ({code}): fix the token; {_STILL_WORKS}", rejected=True
                )
            elif _error_code(error) == "ratelimited":
                self._ok()  # Slack answered: reachable, and the token was not refused
            else:
                self._failed(f"Slack Web API answered auth.test with {_error_code(error)}; {_STILL_WORKS}")
        except Exception as error:  # connection refused, DNS, TLS, timeout: all mean unreachable
            detail = f"{type(error).__name__}: {error}"[:200]
            self._failed(f"Slack Web API unreachable ({detail}); {_STILL_WORKS}")
        else:
            self.bot_user_id = _str(result.get("user_id")) or self.bot_user_id
            self.bot_id = _str(result.get("bot_id")) or self.bot_id
            self._ok()
        self._checked_at = self._clock()
        self.on_change(self.problem is None)
        return self.problem

    async def readiness(self) -> str | None:
        """`/readyz`'s failing part: a token Slack rejects (this pod's configuration); None otherwise."""
        problem = await self._current()
        return problem if self.rejected else None

    async def degradation(self) -> str | None:
        """`/readyz`'s degraded part: the Web API unreachable or failing (an outage all replicas share)."""
        problem = await self._current()
        return None if self.rejected else problem

    async def _current(self) -> str | None:
        """The last known state, refreshed in the background when due; None when ok."""
        if self._due() and (self._running is None or self._running.done()):
            self._running = asyncio.ensure_future(self._check_quietly())
        if self._running is not None and not self._running.done():
            # The first answer is waited for (at most the check's own timeout): there is no earlier
            # state to report. Later probes wait briefly and otherwise report the last known state.
            first = self._checked_at is None
            await asyncio.wait({self._running}, timeout=None if first else self._probe_wait)
        return self.problem

    def authorization(self) -> AsyncAuthorize:
        """The Bolt `authorize` for this bot's single workspace: no Web API call per request."""
        return _TokenAuthorization(self)

    def _due(self) -> bool:
        if self._checked_at is None:
            return True
        interval = self._recheck if self.problem is None else self._recheck_failing
        return self._clock() - self._checked_at >= interval

    async def _check_quietly(self) -> None:
        try:
            await self.check()
        except Exception:  # a bug in the probe must not become a failing /readyz without a log line
            log.exception("checking the Slack Web API failed")

    def _ok(self) -> None:
        if self._failing_since is not None:
            log.info("the Slack Web API answers again (failing since %s)", self._failing_since)
        self.problem = None
        self.rejected = False
        self._reason = None
        self._failing_since = None

    def _failed(self, problem: str, *, rejected: bool = False) -> None:
        self.rejected = rejected
        if problem != self._reason:  # one line per change of state, not one per probe
            log.warning("%s", problem)
        self._reason = problem
        if self._failing_since is None:
            self._failing_since = time.strftime("%H:%M:%S UTC", time.gmtime())
        self.problem = f"{problem} (since {self._failing_since})"


class _TokenAuthorization(AsyncAuthorize):
    def __init__(self, status: WebApiStatus) -> None:
        self._status = status

    async def __call__(
        self,
        *,
        context: Any,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            bot_token=self._status.token,
            bot_user_id=self._status.bot_user_id,
            bot_id=self._status.bot_id,
        )


def _error_code(error: SlackApiError) -> str:
    response = error.response
    return str(response.get("error")) if response is not None else "an error"


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
