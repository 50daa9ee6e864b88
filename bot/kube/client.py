"""Build the official client's `ApiClient` the way kubectl finds a cluster.

Order, as `kubernetes.config.load_config` and kubectl use it: the files in `KUBECONFIG` (colon-separated,
merged), else `~/.kube/config`, else the pod's service account (in-cluster). Unlike the library's helpers it
never touches the client's process-wide default configuration (tests run several clients side by side),
never writes the kubeconfig back (the container's root filesystem is read-only), and turns "nothing found"
into `ClusterNotConfigured` with one sentence instead of a traceback.

Requests carry `User-Agent: exitcode-bot/<version>`, so audit logs (and the fake API's request log, which
the RBAC test reads) show which calls the bot made.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import urllib3
import yaml
from kubernetes.client import ApiClient, Configuration
from kubernetes.config import ConfigException, load_kube_config
from kubernetes.config.incluster_config import (
    SERVICE_CERT_FILENAME,
    SERVICE_TOKEN_FILENAME,
    InClusterConfigLoader,
)

from bot.diagnosis.ports import ClusterNotConfigured

IN_CLUSTER_HOST_ENV = "KUBERNETES_SERVICE_HOST"

# One quick retry of a failed connect (a pooled connection the apiserver had closed), but no retry of reads:
# urllib3's default would retry a read timeout three times, so a hung apiserver would hold a worker thread
# for four KUBE_TIMEOUT_SECONDS instead of one.
REQUEST_RETRIES = urllib3.Retry(total=1, connect=1, read=0, redirect=0, status=0, other=0)


def _bot_version() -> str:
    try:
        return version("exitcode-bot")
    except PackageNotFoundError:
        return "dev"


USER_AGENT = f"exitcode-bot/{_bot_version()}"

NOT_CONFIGURED = (
    "No Kubernetes cluster is configured: set KUBECONFIG (or create ~/.kube/config), "
    "or run the bot in a pod with a service account."
)


def kubeconfig_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The kubeconfig files that exist, in kubectl's order: `KUBECONFIG`'s entries, else `~/.kube/config`."""
    env = os.environ if environ is None else environ
    listed = env.get("KUBECONFIG", "")
    candidates = [Path(part).expanduser() for part in listed.split(os.pathsep) if part] if listed else []
    if not listed:
        candidates = [Path("~/.kube/config").expanduser()]
    return [path for path in candidates if path.is_file()]


def build_api_client(
    *,
    config_file: Path | None = None,
    context: str | None = None,
    environ: Mapping[str, str] | None = None,
    in_cluster: bool = False,
) -> ApiClient:
    """An `ApiClient` for the configured cluster, or `ClusterNotConfigured` saying why there is none.

    `in_cluster=True` uses the pod's service account even when KUBECONFIG is set (with CLUSTERS, the
    kubeconfig names the other clusters and the service account is the home one)."""
    env = os.environ if environ is None else environ
    configuration = Configuration()
    if config_file is not None and not config_file.is_file():
        raise ClusterNotConfigured(f"The kubeconfig file {config_file} does not exist.")
    files = [config_file] if config_file is not None else kubeconfig_files(env)
    if in_cluster:
        files = []
    try:
        if files:
            load_kube_config(  # type: ignore[no-untyped-call]
                config_file=os.pathsep.join(str(path) for path in files),
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        elif env.get(IN_CLUSTER_HOST_ENV):
            loader = InClusterConfigLoader(  # type: ignore[no-untyped-call]
                SERVICE_TOKEN_FILENAME, SERVICE_CERT_FILENAME, environ=env
            )
            loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
        else:
            raise ClusterNotConfigured(NOT_CONFIGURED)
    except (ConfigException, yaml.YAMLError, OSError, KeyError, TypeError, ValueError) as error:
        source = ", ".join(str(path) for path in files) if files else "the in-cluster service account"
        detail = str(error).strip().rstrip(".") or type(error).__name__
        raise ClusterNotConfigured(
            f"The Kubernetes configuration from {source} cannot be used: {detail}."
        ) from error
    configuration.retries = REQUEST_RETRIES
    client = ApiClient(configuration=configuration)
    client.user_agent = USER_AGENT
    return client


def in_cluster_available(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs in a pod with a service account (`KUBERNETES_SERVICE_HOST` is set)."""
    env = os.environ if environ is None else environ
    return bool(env.get(IN_CLUSTER_HOST_ENV))


def kubeconfig_contexts(environ: Mapping[str, str] | None = None) -> tuple[list[str], str | None]:
    """The context names of the kubeconfig files (merged as kubectl merges them: the first file that
    names a context wins) and the current context (the first file that sets one). Both empty without
    a kubeconfig; a file that cannot be read is `ClusterNotConfigured` naming it."""
    names: list[str] = []
    current: str | None = None
    for path in kubeconfig_files(environ):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise ClusterNotConfigured(f"The kubeconfig file {path} cannot be read: {error}.") from error
        if not isinstance(data, dict):
            raise ClusterNotConfigured(f"The kubeconfig file {path} is not a kubeconfig.")
        for entry in data.get("contexts") or []:
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and name and name not in names:
                names.append(name)
        if current is None and isinstance(data.get("current-context"), str) and data["current-context"]:
            current = data["current-context"]
    return names, current
