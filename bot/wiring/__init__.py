"""Builds the bot from its settings and runs the right transport until a signal stops it.

The only module that knows every adapter: the Slack app, the web server and the console never
import each other, they are handed what they need here. Modes, decided once at startup:
- no SLACK_BOT_TOKEN and no other alert surface: console mode (stdin/stdout);
- no SLACK_BOT_TOKEN, but Teams, PagerDuty or the webhook configured: alerts-only (`alerts_only`);
- SLACK_APP_TOKEN set: Socket Mode, plus the web server for probes, metrics and runbook pages;
- otherwise HTTP mode: the web server also receives Slack's signed requests on `/slack/events`.

The Kubernetes client is built once here, before either mode starts, from the cluster kubectl would use
(KUBECONFIG, ~/.kube/config, in-cluster). Without one the bot still runs: explanations need no cluster,
and `/exitcode pod|ns` answer with the sentence saying why there is none. It is closed at shutdown.

With a cluster (and WATCH_ENABLED) the crash watcher runs too (`AlertRunner`):
- Slack mode: it campaigns for the leader Lease and, while it leads, posts alerts; every replica
  registers the alert buttons, since a click may reach any of them. It starts once Slack accepted the
  token and stops first at shutdown, releasing the Lease so a standby takes over at once.
- console mode: alerts print to stdout between the replies, with no Lease and an in-memory ledger (a
  laptop must never take over the cluster's Lease or write its ledger).

Exit codes: 0 after SIGTERM/SIGINT or end of console input (the bot must never itself exit with the
137 it explains), 2 for configuration an operator must fix, 1 for anything unexpected.

The package is split so each module is one sitting's read, importing only downwards (no cycles):
`startup` (run_bot) → `console` | `slack_mode` | `alerts_only` → `slack_bot` → `slack_clusters` →
`alerts` | `surfaces` | `services` | `lifecycle`.
Every name other code imports is re-exported here, so callers keep `from bot.wiring import …`.
"""

from bot.wiring.alerts import (
    ALERT_SHUTDOWN_SECONDS,
    AlertRunner,
    ClusterAlertRunners,
    build_alert_runner,
    build_cluster_alert_runners,
    watcher_wanted,
)
from bot.wiring.console import console_cluster_replies, run_console_mode
from bot.wiring.lifecycle import SHUTDOWN_GRACE_SECONDS, Lifecycle, run_until_stopped, stop_on_signals
from bot.wiring.services import build_diagnose_service, runbook_pages
from bot.wiring.slack_bot import SlackBot
from bot.wiring.slack_mode import run_slack_mode
from bot.wiring.startup import (
    check_transport,
    load_config_file,
    open_cluster,
    open_clusters,
    run_bot,
    secret_values,
)

__all__ = [
    "ALERT_SHUTDOWN_SECONDS",
    "SHUTDOWN_GRACE_SECONDS",
    "AlertRunner",
    "ClusterAlertRunners",
    "Lifecycle",
    "SlackBot",
    "build_alert_runner",
    "build_cluster_alert_runners",
    "build_diagnose_service",
    "check_transport",
    "console_cluster_replies",
    "load_config_file",
    "open_cluster",
    "open_clusters",
    "run_bot",
    "run_console_mode",
    "run_slack_mode",
    "run_until_stopped",
    "runbook_pages",
    "secret_values",
    "stop_on_signals",
    "watcher_wanted",
]
