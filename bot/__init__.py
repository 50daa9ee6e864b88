"""exitcode-bot: a Slack bot for Kubernetes crash triage.

`__version__` is the one version number of a release: pyproject.toml reads it (`dynamic = ["version"]`),
and tests/test_helm_chart.py checks that the image label, the Helm chart's `version`/`appVersion`, the
kustomize image tag and the Slack manifest agree with it; `exitcode-bot --version` prints it. Bump it
here, then add the release to CHANGELOG.md.
"""

__version__ = "0.2.0"
