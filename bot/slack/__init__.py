"""Slack adapter: the Bolt app (`/exitcode`, buttons), its Web API client and both transports."""

from bot.slack.app import ClustersHandler, DiagnoseHandler, DiagnoseRequest, build_app
from bot.slack.client import SlackTokenRejected, build_web_client, verify_bot_token
from bot.slack.http import slack_events_handler
from bot.slack.responder import Responder
from bot.slack.socket_mode import SocketModeConnection
from bot.slack.tasks import BackgroundTasks

__all__ = [
    "BackgroundTasks",
    "ClustersHandler",
    "DiagnoseHandler",
    "DiagnoseRequest",
    "Responder",
    "SlackTokenRejected",
    "SocketModeConnection",
    "build_app",
    "build_web_client",
    "slack_events_handler",
    "verify_bot_token",
]
