"""Kubeconfig files that point the official client (and so the bot) at a fake Kubernetes API server.

The bot finds its cluster the way kubectl does (`KUBECONFIG`, then in-cluster), so tests give it a real
kubeconfig file rather than a special code path: `write_kubeconfig(tmp_path / "kubeconfig", fake.url)` and
`KUBECONFIG=<that path>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

FAKE_TOKEN = "fake-kube-token"  # a bearer token the fake accepts (it checks none); never a real secret
FAKE_CONTEXT = "fake-cluster"


def kubeconfig_dict(
    server_url: str,
    *,
    namespace: str = "default",
    token: str = FAKE_TOKEN,
    context: str = FAKE_CONTEXT,
    insecure_skip_tls_verify: bool = False,
) -> dict[str, Any]:
    """A one-cluster, one-user kubeconfig, shaped as `kubectl config view` prints it."""
    cluster: dict[str, Any] = {"server": server_url}
    if insecure_skip_tls_verify:
        cluster["insecure-skip-tls-verify"] = True
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": context, "cluster": cluster}],
        "users": [{"name": context, "user": {"token": token}}],
        "contexts": [
            {"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}
        ],
        "current-context": context,
    }


def write_kubeconfig(path: Path, server_url: str, **options: Any) -> Path:
    """Write `kubeconfig_dict(server_url, **options)` as YAML to `path`; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig_dict(server_url, **options), sort_keys=False), encoding="utf-8")
    return path


def multi_kubeconfig_dict(servers: dict[str, str], *, current: str | None = None) -> dict[str, Any]:
    """A kubeconfig with one context (and cluster and user) per `name -> server URL`, as an operator's
    kubeconfig for several clusters looks; `current` is its current-context (default: the first)."""
    singles = [kubeconfig_dict(url, context=name) for name, url in servers.items()]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [entry for single in singles for entry in single["clusters"]],
        "users": [entry for single in singles for entry in single["users"]],
        "contexts": [entry for single in singles for entry in single["contexts"]],
        "current-context": current if current is not None else next(iter(servers), ""),
    }


def write_multi_kubeconfig(path: Path, servers: dict[str, str], *, current: str | None = None) -> Path:
    """Write `multi_kubeconfig_dict(servers, current=current)` as YAML to `path`; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(multi_kubeconfig_dict(servers, current=current), sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path
