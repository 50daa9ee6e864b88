"""The Slack Web API client the bot uses for everything it sends.

Built once, with slack_sdk's own async retry handlers, because Slack's documented failure modes are
exactly the ones they handle: `429` with `Retry-After` (posting bursts during a crash storm), `5xx`
during Slack incidents, and dropped connections. `base_url` is `SLACK_API_URL`, which is how tests and
proxies point the bot at something other than slack.com.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

API_TIMEOUT_SECONDS = 10
"""Per-call timeout: long enough for a slow Slack, short enough that shutdown is never stuck on it."""


def retry_handlers(max_retries: int = 2) -> list[AsyncRetryHandler]:
    """Fresh retry handlers (they keep per-instance state, so clients must not share them)."""
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=max_retries),
        AsyncServerErrorRetryHandler(max_retry_count=max_retries),
        AsyncConnectionErrorRetryHandler(max_retry_count=max_retries),
    ]


def build_web_client(token: str, base_url: str, *, timeout: int = API_TIMEOUT_SECONDS) -> AsyncWebClient:
    """An `AsyncWebClient` for the bot token, retrying rate limits, server and connection errors."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=retry_handlers(),
        logger=logging.getLogger("bot.slack.web_client"),
    )


_REJECTED_TOKEN_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "not_allowed_token_type",
        "account_inactive",
        "token_revoked",
        "token_expired",
    }
)


class SlackTokenRejected(Exception):
    """Slack refused a configured token; the message names the setting and Slack's error code."""


def rejected_token_error(error: SlackApiError) -> str | None:
    """Slack's error code when it means "this token is wrong" (retrying cannot help), else None."""
    code = str(error.response.get("error")) if error.response is not None else ""
    return code if code in _REJECTED_TOKEN_ERRORS else None


async def verify_bot_token(client: AsyncWebClient) -> None:
    """Call `auth.test` once at startup, so a wrong SLACK_BOT_TOKEN stops the bot with a clear message.

    Network trouble is only logged: Slack may be briefly unreachable, and Bolt calls `auth.test` again
    on the first request.
    """
    try:
        await client.auth_test()
    except SlackApiError as error:
        code = rejected_token_error(error)
        if code is not None:
            raise SlackTokenRejected(
                f"Slack rejected SLACK_BOT_TOKEN ({code}): use the app's Bot User OAuth Token (xoxb-…) "
                "from its OAuth & Permissions page"
            ) from None
        logging.getLogger(__name__).warning("auth.test failed: %s", error.response.get("error"))
    except Exception as error:  # network trouble: not fatal
        logging.getLogger(__name__).warning(
            "Slack is not reachable yet (%s: %s)", type(error).__name__, error
        )
