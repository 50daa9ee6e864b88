"""exitcode-bot: Kubernetes crash triage for Slack.

`__version__` is the one place the version is written; `exitcode-bot --version` prints it.
"""

__version__ = "0.2.0"
