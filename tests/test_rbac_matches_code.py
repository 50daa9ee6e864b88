"""The RBAC in `k8s/` grants exactly the Kubernetes calls the bot makes: every call, and nothing more.

The evidence is the fake API server's request log, not a hand-kept list: while the suite's
cluster-facing modules (reader, diagnosis, watcher, ledger, Lease, alerts) run, in this same session,
`FAKE_KUBE_REQUEST_LOG` is set (tests/rbac_evidence.py, hooked in tests/conftest.py), these tests run
last, and every request that carries the bot's User-Agent is compared with what the ClusterRole and the
Role grant. Run alone, the modules the session did not run are run in a child pytest first.
A new API call without a grant fails here (the bot would get 403 in a
real cluster); a grant no code path uses fails too (least privilege).
"""

from __future__ import annotations

import json
from typing import NamedTuple

import pytest

from bot.kube.client import USER_AGENT
from tests.deploy_rbac import BASE_DIR, CLUSTER_WIDE, granted_permissions, render_kustomization
from tests.rbac_evidence import EVIDENCE, cluster_facing_modules

BOT_PRODUCT = USER_AGENT.split("/", 1)[0]
# Objects the bot keeps in its own namespace: granted by the Role there, never cluster-wide.
OWN_NAMESPACE_RESOURCES = {("", "configmaps"), ("coordination.k8s.io", "leases")}


class Permission(NamedTuple):
    api_group: str
    resource: str
    verb: str


@pytest.fixture(scope="module")
def bot_calls(request: pytest.FixtureRequest) -> set[Permission]:
    """Every (group, resource, verb) the bot sent to a fake API server while the scenarios ran."""
    assert cluster_facing_modules(), "no cluster-facing test modules found"
    log = request.config.stash[EVIDENCE].complete()
    calls: set[Permission] = set()
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if not entry["user_agent"].startswith(BOT_PRODUCT + "/"):
            continue
        resource = entry["resource"] + (f"/{entry['subresource']}" if entry["subresource"] else "")
        calls.add(Permission(entry["group"], resource, entry["verb"]))
    return calls


@pytest.fixture(scope="module")
def grants() -> dict[Permission, set[str]]:
    """Granted permission → the scopes it is granted in (CLUSTER_WIDE or a namespace)."""
    scopes: dict[Permission, set[str]] = {}
    for grant in granted_permissions(render_kustomization(BASE_DIR)):
        scopes.setdefault(Permission(grant.api_group, grant.resource, grant.verb), set()).add(grant.scope)
    return scopes


def test_every_call_the_bot_makes_is_granted(
    bot_calls: set[Permission], grants: dict[Permission, set[str]]
) -> None:
    missing = sorted(call for call in bot_calls if call not in grants)
    assert not missing, f"the bot makes calls its RBAC does not allow (403 in a real cluster): {missing}"


def test_nothing_is_granted_that_the_bot_does_not_call(
    bot_calls: set[Permission], grants: dict[Permission, set[str]]
) -> None:
    unused = sorted(permission for permission in grants if permission not in bot_calls)
    assert not unused, f"RBAC grants permissions no code path uses (drop them): {unused}"


def test_own_objects_are_granted_only_in_the_bots_namespace(grants: dict[Permission, set[str]]) -> None:
    for permission, scopes in grants.items():
        if (permission.api_group, permission.resource) in OWN_NAMESPACE_RESOURCES:
            assert CLUSTER_WIDE not in scopes, f"{permission} must come from the Role, not the ClusterRole"


def test_the_bot_is_identified_by_its_user_agent(bot_calls: set[Permission]) -> None:
    """Guards the filter above: if the bot stopped sending its User-Agent, the other tests would pass
    vacuously on an empty set."""
    assert Permission("", "pods", "get") in bot_calls
    assert Permission("", "pods", "watch") in bot_calls
