"""What a platform engineer's `kubectl apply -k k8s/` (or one of the overlays) gets.

Every check here is something a security review or a failed rollout would otherwise find: manifests the
API server rejects, selectors that match no pod, bindings to a ServiceAccount that does not exist, a
ConfigMap mounted under a name nothing creates, RBAC wider than the bot's calls, a pod that runs as root.
The kustomizations are rendered by tests/deploy_rbac.py, so none of this needs kubectl; when kubectl is
installed its rendering is compared with ours.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import kubernetes_validate
import pytest
import yaml

import bot
from bot.diagnosis.gather import NODE_EVENTS_NAMESPACE
from bot.knowledge.schema import KnowledgeFile
from bot.settings import Settings
from tests.deploy_rbac import (
    BASE_DIR,
    CLUSTER_SCOPED_KINDS,
    CLUSTER_WIDE,
    K8S_DIR,
    NAMESPACE_ADMIN_DIR,
    SINGLE_NAMESPACE_DIR,
    Grant,
    Manifest,
    api_request,
    find,
    granted_permissions,
    is_allowed,
    iter_containers,
    iter_pod_specs,
    kustomization_files,
    load_yaml_documents,
    only,
    referenced_files,
    render_kustomization,
    resource_name_limits,
    split_image,
)

ALERTS_ONLY_DIR = K8S_DIR / "overlays" / "alerts-only"
VARIANTS = {
    "cluster-wide": BASE_DIR,
    "alerts-only": ALERTS_ONLY_DIR,  # the base without Slack: Teams, PagerDuty, webhook (issue 12)
    "single-namespace": SINGLE_NAMESPACE_DIR,
    "namespace-admin": NAMESPACE_ADMIN_DIR,  # single-namespace without the node-events grant in `default`
}
NAMESPACED_VARIANTS = ("single-namespace", "namespace-admin")
CLUSTER_WIDE_VARIANTS = ("cluster-wide", "alerts-only")
# The one grant outside the bot's namespace in single-namespace mode: node events (issue 8, finding 11).
NODE_EVENTS_OBJECTS = {("Role", "exitcode-bot-node-events"), ("RoleBinding", "exitcode-bot-node-events")}
SECRET_EXAMPLE = K8S_DIR / "secret.example.yaml"
SURFACES_SECRET_EXAMPLE = K8S_DIR / "secret-surfaces.example.yaml"
SECRET_EXAMPLES = (SECRET_EXAMPLE, SURFACES_SECRET_EXAMPLE)
SLACK_SECRET = "exitcode-bot-slack"
SURFACES_SECRET = "exitcode-bot-surfaces"
# The oldest Kubernetes the manifests support (kubectl 1.27 brings kustomize v5, which the overlay needs)
# and the newest the installed kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.27", kubernetes_validate.latest_version())
# The alert issue's memory benchmark: 10,000 pods listed and watched in at most 150 MiB RSS.
MEASURED_PEAK_RSS_MIB = 150
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
DANGEROUS_VERBS = frozenset({"escalate", "bind", "impersonate", "*"})

# The Kubernetes API calls the bot makes (decided with the bot's authors; the RBAC-vs-code test replaces
# this table with the calls the fake API server records while the whole suite runs).
BOT_READS = {
    ("", "pods"): {"get", "list", "watch"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"list"},
    ("", "namespaces"): {"get", "list", "watch"},
    ("apps", "replicasets"): {"get"},
    ("apps", "statefulsets"): {"get"},
    ("apps", "daemonsets"): {"get"},
    ("batch", "jobs"): {"get"},
}
BOT_STATE_WRITES = {
    ("", "configmaps"): {"get", "create", "update"},
    ("coordination.k8s.io", "leases"): {"get", "create", "update"},
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def rendered(variant: str) -> list[Manifest]:
    return render_kustomization(VARIANTS[variant])


def bot_deployment(manifests: list[Manifest]) -> Manifest:
    return only(manifests, "Deployment")


def bot_container(manifests: list[Manifest]) -> Manifest:
    containers: list[Manifest] = bot_deployment(manifests)["spec"]["template"]["spec"]["containers"]
    (container,) = containers
    return container


def env_values(container: Manifest) -> dict[str, Manifest]:
    """Env var name → its definition; a name set twice would be ambiguous, so it fails the test."""
    names = [item["name"] for item in container.get("env", [])]
    assert len(names) == len(set(names)), f"env vars set twice: {names}"
    return {item["name"]: item for item in container.get("env", [])}


def setting_value(container: Manifest, name: str) -> str:
    """What the bot will see for a setting: the literal env value, else the Settings default."""
    env = env_values(container)
    if name in env and "value" in env[name]:
        return str(env[name]["value"])
    default = Settings.model_fields[name.lower()].default
    return str(default)


def is_subset(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def quantity_mib(quantity: str) -> float:
    """`192Mi`, `1Gi`, `200M` → MiB."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?", quantity)
    assert match, f"unexpected memory quantity {quantity!r}"
    number, unit = float(match[1]), match[2] or ""
    factor = {
        "": 2**-20,
        "Ki": 2**-10,
        "Mi": 1,
        "Gi": 2**10,
        "K": 1e3 / 2**20,
        "M": 1e6 / 2**20,
        "G": 1e9 / 2**20,
    }
    return number * factor[unit]


def yaml_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.yaml"))


# --------------------------------------------------------------------------------------------------
# Composition


def test_every_file_a_kustomization_names_exists() -> None:
    for kustomization in kustomization_files():
        for path in referenced_files(kustomization.parent):
            assert path.exists(), f"{kustomization} names {path}, which does not exist"


def test_every_manifest_file_is_used_or_is_the_secret_example() -> None:
    """A file nobody references is a file someone edits in vain."""
    used = set(kustomization_files())
    for kustomization in kustomization_files():
        used |= {path for path in referenced_files(kustomization.parent) if path.is_file()}
    orphans = [path for path in yaml_files(K8S_DIR) if path not in used and path not in SECRET_EXAMPLES]
    assert orphans == []


def test_the_secret_example_is_not_applied(rendered: list[Manifest]) -> None:
    applied = {
        path for kustomization in kustomization_files() for path in referenced_files(kustomization.parent)
    }
    assert not {example.resolve() for example in SECRET_EXAMPLES} & applied
    assert [m for m in rendered if m["kind"] == "Secret"] == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_manifests_validate_against_the_kubernetes_schemas(
    rendered: list[Manifest], version: str
) -> None:
    for manifest in rendered:
        kubernetes_validate.validate(manifest, version, strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_source_manifest_validates_on_its_own(version: str) -> None:
    """Including the Secret example and the overlay's own files, so `kubectl apply -f` works too."""
    kustomize_configs = set(kustomization_files())
    for kustomization in kustomization_files():
        kustomize_configs |= {
            path
            for path in referenced_files(kustomization.parent)
            if path.is_file() and load_yaml_documents(path)[0].get("apiVersion") == "builtin"
        }
    for path in yaml_files(K8S_DIR):
        if path in kustomize_configs:
            continue
        for manifest in load_yaml_documents(path):
            kubernetes_validate.validate(manifest, version, strict=True)


def test_object_names_are_unique(rendered: list[Manifest]) -> None:
    keys = [(m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]) for m in rendered]
    assert len(keys) == len(set(keys))


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_renders_the_same_objects(variant: str, rendered: list[Manifest]) -> None:
    output = subprocess.run(
        ["kubectl", "kustomize", str(VARIANTS[variant])], check=True, capture_output=True, text=True
    ).stdout

    def by_identity(manifests: Iterable[Manifest]) -> dict[tuple[str, str, str], Manifest]:
        return {(m["kind"], m["metadata"].get("namespace", ""), m["metadata"]["name"]): m for m in manifests}

    assert by_identity(yaml.safe_load_all(output)) == by_identity(rendered)


# --------------------------------------------------------------------------------------------------
# Names, labels, selectors and references


def test_deployment_selector_matches_its_own_pods(rendered: list[Manifest]) -> None:
    deployment = bot_deployment(rendered)
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert is_subset(deployment["spec"]["selector"]["matchLabels"], template_labels)


def test_service_and_pdb_select_the_bot_pods(rendered: list[Manifest]) -> None:
    deployment = bot_deployment(rendered)
    namespace = deployment["metadata"]["namespace"]
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = only(rendered, "Service")
    budget = only(rendered, "PodDisruptionBudget")
    assert service["metadata"]["namespace"] == budget["metadata"]["namespace"] == namespace
    assert service["spec"]["selector"] and is_subset(service["spec"]["selector"], template_labels)
    assert is_subset(budget["spec"]["selector"]["matchLabels"], template_labels)


def test_service_reaches_the_port_the_bot_listens_on(rendered: list[Manifest]) -> None:
    container = bot_container(rendered)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    (service_port,) = only(rendered, "Service")["spec"]["ports"]
    target = service_port["targetPort"]
    target_number = ports[target] if isinstance(target, str) else target
    assert target_number == int(setting_value(container, "PORT")) == service_port["port"]


def test_probes_hit_the_health_endpoints_on_the_bot_port(rendered: list[Manifest]) -> None:
    container = bot_container(rendered)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    listening = int(setting_value(container, "PORT"))
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        if probe in container:
            port = container[probe]["httpGet"]["port"]
            assert ports.get(port, port) == listening, probe


def test_bindings_point_at_existing_roles_and_the_bot_service_account(rendered: list[Manifest]) -> None:
    deployment = bot_deployment(rendered)
    namespace = deployment["metadata"]["namespace"]
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    assert find(rendered, "ServiceAccount", account, namespace), "the Deployment's ServiceAccount is missing"
    bindings = [m for m in rendered if m["kind"] in {"RoleBinding", "ClusterRoleBinding"}]
    assert bindings
    for binding in bindings:
        role_ref = binding["roleRef"]
        assert find(rendered, role_ref["kind"], role_ref["name"], binding["metadata"].get("namespace")), (
            f"{binding['metadata']['name']} binds {role_ref['kind']} {role_ref['name']}, which does not exist"
        )
        assert [(s["kind"], s["name"], s.get("namespace")) for s in binding["subjects"]] == [
            ("ServiceAccount", account, namespace)
        ]


def test_every_role_is_bound(rendered: list[Manifest]) -> None:
    bound = {
        (b["roleRef"]["kind"], b["roleRef"]["name"])
        for b in rendered
        if b["kind"] in {"RoleBinding", "ClusterRoleBinding"}
    }
    roles = {(m["kind"], m["metadata"]["name"]) for m in rendered if m["kind"] in {"Role", "ClusterRole"}}
    assert roles == bound


def test_all_namespaced_objects_live_in_the_bot_namespace(rendered: list[Manifest]) -> None:
    """Except the node-events Role and RoleBinding, which must live where node events do."""
    namespace = bot_deployment(rendered)["metadata"]["namespace"]
    namespaced = [m for m in rendered if m["kind"] not in CLUSTER_SCOPED_KINDS]
    node_events = [m for m in namespaced if (m["kind"], m["metadata"]["name"]) in NODE_EVENTS_OBJECTS]
    assert {m["metadata"]["namespace"] for m in node_events} <= {NODE_EVENTS_NAMESPACE}
    assert {m["metadata"]["namespace"] for m in namespaced if m not in node_events} == {namespace}


def test_the_default_install_creates_its_namespace_and_the_secret_example_targets_it() -> None:
    manifests = render_kustomization(BASE_DIR)
    namespace = bot_deployment(manifests)["metadata"]["namespace"]
    assert find(manifests, "Namespace", namespace)
    for example in SECRET_EXAMPLES:
        (secret,) = load_yaml_documents(example)
        assert secret["metadata"]["namespace"] == namespace, example.name


def test_configmap_volumes_exist_and_the_config_paths_point_into_them(rendered: list[Manifest]) -> None:
    deployment = bot_deployment(rendered)
    namespace = deployment["metadata"]["namespace"]
    spec = deployment["spec"]["template"]["spec"]
    container = bot_container(rendered)
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    files: dict[PurePosixPath, str] = {}
    for volume in spec["volumes"]:
        if "configMap" in volume:
            configmap = find(rendered, "ConfigMap", volume["configMap"]["name"], namespace)
            assert configmap, f"volume {volume['name']} mounts a ConfigMap that nothing creates"
            for key, content in configmap["data"].items():
                files[PurePosixPath(mounts[volume["name"]]) / key] = content
    env = env_values(container)
    for setting in ("CONFIG_FILE", "KNOWLEDGE_FILE"):
        path = PurePosixPath(env[setting]["value"])
        assert path in files, f"{setting}={path} is not a file of a mounted ConfigMap"


def test_the_shipped_config_files_are_valid_yaml_the_bot_accepts(rendered: list[Manifest]) -> None:
    """A broken file stops the bot at startup: the example the operator edits must start out valid."""
    configmap = find(rendered, "ConfigMap", "exitcode-bot-config")
    assert configmap is not None
    env = env_values(bot_container(rendered))
    by_setting = {
        setting: configmap["data"][PurePosixPath(env[setting]["value"]).name]
        for setting in ("CONFIG_FILE", "KNOWLEDGE_FILE")
    }
    assert isinstance(yaml.safe_load(by_setting["CONFIG_FILE"]), dict)
    KnowledgeFile.model_validate(yaml.safe_load(by_setting["KNOWLEDGE_FILE"]))


def test_secret_references_name_the_documented_secret_and_its_keys(rendered: list[Manifest]) -> None:
    (example,) = load_yaml_documents(SECRET_EXAMPLE)
    assert example["kind"] == "Secret" and example["metadata"]["name"] == SLACK_SECRET
    example_keys = set(example["stringData"])
    for name, item in env_values(bot_container(rendered)).items():
        secret_ref = item.get("valueFrom", {}).get("secretKeyRef")
        if secret_ref is None:
            continue
        assert secret_ref["name"] == SLACK_SECRET, name
        if not secret_ref.get("optional", False):
            assert secret_ref["key"] in example_keys, f"{name} needs key {secret_ref['key']} in the example"
    (surfaces_example,) = load_yaml_documents(SURFACES_SECRET_EXAMPLE)
    for source in bot_container(rendered).get("envFrom", []):
        assert source == {"secretRef": {"name": surfaces_example["metadata"]["name"]}}, source


@pytest.mark.parametrize("path", SECRET_EXAMPLES, ids=lambda path: path.name)
def test_the_secret_example_holds_placeholders_only(path: Path) -> None:
    (example,) = load_yaml_documents(path)
    for key, value in example["stringData"].items():
        assert "REPLACE-ME" in value, f"{key} looks like a real credential"


def test_every_env_var_is_a_bot_setting(rendered: list[Manifest]) -> None:
    """A misspelt setting (LEDGER_CONFIG_MAP) would be ignored silently by the bot."""
    settings = {name.upper() for name in Settings.model_fields}
    for name in env_values(bot_container(rendered)):
        assert name in settings, f"{name} is not a setting in bot/settings.py"


def test_state_role_names_the_ledger_and_lease_the_bot_uses(rendered: list[Manifest]) -> None:
    container = bot_container(rendered)
    limits = resource_name_limits(rendered)
    namespace = bot_deployment(rendered)["metadata"]["namespace"]
    ledger = setting_value(container, "LEDGER_CONFIGMAP")
    lease = setting_value(container, "LEASE_NAME")
    for verb in ("get", "update"):
        assert limits[Grant("", "configmaps", verb, namespace)] == {ledger}
    for verb in ("get", "update"):
        assert limits[Grant("coordination.k8s.io", "leases", verb, namespace)] == {lease}


def test_the_image_is_the_released_version(rendered: list[Manifest]) -> None:
    version = bot.__version__  # the one version number (pyproject.toml reads it too)
    for container in iter_containers(rendered):
        _, tag, digest = split_image(container["image"])
        assert digest or tag == version, f"{container['image']} is not version {version}"


# --------------------------------------------------------------------------------------------------
# Least privilege


def test_the_bot_is_granted_exactly_the_calls_it_makes(variant: str, rendered: list[Manifest]) -> None:
    namespace = bot_deployment(rendered)["metadata"]["namespace"]
    grants = granted_permissions(rendered)
    read_scope = CLUSTER_WIDE if variant in CLUSTER_WIDE_VARIANTS else namespace
    expected = {
        Grant(group, resource, verb, namespace)
        for (group, resource), verbs in BOT_STATE_WRITES.items()
        for verb in verbs
    }
    for (group, resource), verbs in BOT_READS.items():
        for verb in verbs:
            # A Role cannot grant listing or watching namespaces (a cluster-scoped request); it can grant
            # `get` on its own namespace, which is what single-namespace mode needs.
            if variant in NAMESPACED_VARIANTS and resource == "namespaces" and verb != "get":
                continue
            expected.add(Grant(group, resource, verb, read_scope))
    if variant == "single-namespace":
        # The node's events, which the diagnosis and the alerts read from `default` (issue 8, #11).
        expected.add(Grant("", "events", "list", NODE_EVENTS_NAMESPACE))
    assert grants == expected


def test_single_namespace_mode_grants_the_node_events_the_code_reads() -> None:
    """The diagnosis lists node events in NODE_EVENTS_NAMESPACE: the overlay allows exactly that there
    (and nothing else), and the namespace admin's variant grants nothing outside its namespace."""
    node_events = api_request(
        "GET",
        f"/api/v1/namespaces/{NODE_EVENTS_NAMESPACE}/events",
        {"fieldSelector": "involvedObject.name=n1"},
    )
    for directory, allowed in ((SINGLE_NAMESPACE_DIR, True), (NAMESPACE_ADMIN_DIR, False)):
        manifests = render_kustomization(directory)
        grants, limits = granted_permissions(manifests), resource_name_limits(manifests)
        assert is_allowed(grants, limits, **node_events._asdict()) is allowed
        namespace = bot_deployment(manifests)["metadata"]["namespace"]
        outside = {grant for grant in grants if grant.scope != namespace}
        assert outside == ({Grant("", "events", "list", NODE_EVENTS_NAMESPACE)} if allowed else set())


def test_single_namespace_mode_can_read_its_own_namespace_only() -> None:
    manifests = render_kustomization(SINGLE_NAMESPACE_DIR)
    grants = granted_permissions(manifests)
    limits = resource_name_limits(manifests)
    namespace = bot_deployment(manifests)["metadata"]["namespace"]

    def can_get(resource: str, in_namespace: str | None, name: str) -> bool:
        return is_allowed(
            grants, limits, api_group="", resource=resource, verb="get", namespace=in_namespace, name=name
        )

    assert can_get("namespaces", None, namespace)
    assert not can_get("namespaces", None, "kube-system")
    assert can_get("pods", namespace, "web-1")
    assert not can_get("pods", "kube-system", "web-1")
    assert not is_allowed(grants, limits, api_group="", resource="pods", verb="list", namespace=None)


@pytest.mark.parametrize(
    ("method", "path", "query", "cluster_wide", "single_namespace"),
    [
        ("GET", "/api/v1/pods", {"watch": "true", "allowWatchBookmarks": "true"}, True, False),
        ("GET", "/api/v1/namespaces/{ns}/pods", {"watch": "1"}, True, True),
        ("GET", "/api/v1/namespaces/payments/pods/api-7d9c/log", {"previous": "true"}, True, False),
        ("GET", "/api/v1/namespaces/{ns}/pods/api-7d9c/log", {"tailLines": "20"}, True, True),
        ("GET", "/api/v1/namespaces/{ns}/events", {"fieldSelector": "involvedObject.name=x"}, True, True),
        ("GET", "/api/v1/namespaces/default/events", {"fieldSelector": "involvedObject.name=n1"}, True, True),
        ("GET", "/api/v1/namespaces/default/pods/web-1", {}, True, False),
        ("GET", "/api/v1/namespaces/default/events", {"watch": "true"}, False, False),
        ("GET", "/api/v1/namespaces/{ns}", {}, True, True),
        ("GET", "/api/v1/namespaces", {"watch": "true"}, True, False),
        ("GET", "/apis/apps/v1/namespaces/{ns}/replicasets/api-7d9c", {}, True, True),
        ("GET", "/apis/apps/v1/namespaces/{ns}/statefulsets/db", {}, True, True),
        ("GET", "/apis/apps/v1/namespaces/payments/daemonsets/agent", {}, True, False),
        ("GET", "/apis/apps/v1/namespaces/{ns}/statefulsets", {}, False, False),
        ("GET", "/apis/batch/v1/namespaces/{ns}/cronjobs/nightly", {}, False, False),
        ("PUT", "/api/v1/namespaces/{ns}/configmaps/exitcode-bot-ledger", {}, True, True),
        ("POST", "/api/v1/namespaces/{ns}/configmaps", {}, True, True),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/exitcode-bot-leader", {}, True, True),
        # What the bot must never be able to do.
        ("PUT", "/api/v1/namespaces/{ns}/configmaps/exitcode-bot-config", {}, False, False),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/other-leader", {}, False, False),
        ("GET", "/api/v1/namespaces/{ns}/secrets/exitcode-bot-slack", {}, False, False),
        ("GET", "/api/v1/secrets", {}, False, False),
        ("DELETE", "/api/v1/namespaces/{ns}/pods/api-7d9c", {}, False, False),
        ("POST", "/api/v1/namespaces/{ns}/pods/api-7d9c/exec", {}, False, False),
        ("PUT", "/api/v1/namespaces/payments/configmaps/exitcode-bot-ledger", {}, False, False),
        ("GET", "/apis/apps/v1/namespaces/{ns}/deployments", {}, False, False),
    ],
)
def test_real_api_calls_against_the_rbac(
    variant: str,
    rendered: list[Manifest],
    method: str,
    path: str,
    query: dict[str, str],
    cluster_wide: bool,
    single_namespace: bool,
) -> None:
    """The calls the bot makes pass; everything around them (other objects, Secrets, writes) does not."""
    namespace = bot_deployment(rendered)["metadata"]["namespace"]
    request = api_request(method, path.format(ns=namespace), query)
    allowed = is_allowed(granted_permissions(rendered), resource_name_limits(rendered), **request._asdict())
    expected = cluster_wide if variant in CLUSTER_WIDE_VARIANTS else single_namespace
    if variant == "namespace-admin" and path.startswith("/api/v1/namespaces/default/"):
        expected = False  # nothing outside its own namespace, not even the node events
    assert allowed == expected, request


def test_rbac_has_no_wildcards_no_secrets_and_no_privilege_verbs(rendered: list[Manifest]) -> None:
    for role in (m for m in rendered if m["kind"] in {"Role", "ClusterRole"}):
        assert "aggregationRule" not in role
        for rule in role["rules"]:
            fields = [*rule.get("apiGroups", []), *rule.get("resources", []), *rule.get("verbs", [])]
            assert "*" not in fields, f"{role['metadata']['name']}: wildcard in {rule}"
            assert "nonResourceURLs" not in rule
            assert not {"secrets", "pods/exec", "pods/attach", "pods/portforward"} & set(rule["resources"])
            assert not DANGEROUS_VERBS & set(rule["verbs"])


def test_cluster_wide_permissions_are_read_only(rendered: list[Manifest]) -> None:
    cluster_wide = {grant for grant in granted_permissions(rendered) if grant.scope == CLUSTER_WIDE}
    assert {grant.verb for grant in cluster_wide} <= {"get", "list", "watch"}
    for role in (m for m in rendered if m["kind"] == "ClusterRole"):
        for rule in role["rules"]:
            assert not WRITE_VERBS & set(rule["verbs"])


@pytest.mark.parametrize("directory", [SINGLE_NAMESPACE_DIR, NAMESPACE_ADMIN_DIR])
def test_single_namespace_mode_needs_no_cluster_scoped_object(directory: Path) -> None:
    manifests = render_kustomization(directory)
    assert [m["kind"] for m in manifests if m["kind"] in CLUSTER_SCOPED_KINDS] == []
    env = env_values(bot_container(manifests))
    # Watched namespace = the pod's own: nothing to keep in sync when the operator picks the namespace.
    assert env["WATCH_NAMESPACES"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert "WATCH_NAMESPACES" not in env_values(bot_container(render_kustomization(BASE_DIR)))


# --------------------------------------------------------------------------------------------------
# The pod: security, resources, availability


def test_pods_run_non_root_read_only_and_without_capabilities(rendered: list[Manifest]) -> None:
    for _, spec in iter_pod_specs(rendered):
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True
        assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"
        assert not any(spec.get(field) for field in ("hostNetwork", "hostPID", "hostIPC"))
        assert spec["automountServiceAccountToken"] is True  # it reads the API with this token
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True
            assert security["runAsUser"] == pod_security["runAsUser"] > 0
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security.get("privileged", False) is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert not security["capabilities"].get("add")
            assert security["seccompProfile"]["type"] == "RuntimeDefault"


def test_tmp_is_the_only_writable_path(rendered: list[Manifest]) -> None:
    spec = bot_deployment(rendered)["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    for mount in bot_container(rendered)["volumeMounts"]:
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            assert mount["mountPath"] == "/tmp"
        else:
            assert mount.get("readOnly") is True, mount["name"]
    assert not any("hostPath" in volume for volume in volumes.values())


def test_memory_is_reserved_and_capped_above_the_measured_footprint(rendered: list[Manifest]) -> None:
    resources = bot_container(rendered)["resources"]
    limit = quantity_mib(resources["limits"]["memory"])
    request = quantity_mib(resources["requests"]["memory"])
    assert request <= limit
    assert limit > MEASURED_PEAK_RSS_MIB, "the limit would OOM-kill the bot in a 10,000-pod cluster"
    assert "cpu" in resources["requests"]


def test_two_replicas_spread_over_nodes_and_a_drain_can_proceed(rendered: list[Manifest]) -> None:
    deployment = bot_deployment(rendered)
    spec = deployment["spec"]
    pod_spec = spec["template"]["spec"]
    assert spec["replicas"] >= 2, "leader election needs a standby"
    spread = [c["topologyKey"] for c in pod_spec.get("topologySpreadConstraints", [])]
    anti_affinity = pod_spec.get("affinity", {}).get("podAntiAffinity")
    assert "kubernetes.io/hostname" in spread or anti_affinity
    budget = only(rendered, "PodDisruptionBudget")["spec"]
    assert 1 <= budget["minAvailable"] < spec["replicas"], "a PDB at the replica count blocks every drain"


def test_the_pod_namespace_comes_from_the_downward_api(rendered: list[Manifest]) -> None:
    env = env_values(bot_container(rendered))
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_shutdown_grace_is_longer_than_the_bot_needs_but_bounded(rendered: list[Manifest]) -> None:
    """The bot exits 0 within a few seconds of SIGTERM; the grace period must not cut that short."""
    grace = bot_deployment(rendered)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert 10 <= grace <= 60


# --------------------------------------------------------------------------------------------------
# Many clusters (issue 13)

MANY_CLUSTERS_DIR = K8S_DIR / "overlays" / "many-clusters"


def test_the_many_clusters_overlay_grants_exactly_each_clusters_lease_and_ledger() -> None:
    """The overlay's Role names the Leases and ledgers the code derives from its CLUSTER_NAME and
    CLUSTERS, and the kubeconfig it mounts is where KUBECONFIG points."""
    from bot.application.clusters import lease_name_for, ledger_name_for
    from tests.deploy_rbac import Grant, resource_name_limits

    manifests = render_kustomization(MANY_CLUSTERS_DIR)
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    settings = Settings(_env_file=None, cluster_name=env["CLUSTER_NAME"], clusters=env["CLUSTERS"])
    names = [str(settings.cluster_name), *settings.clusters]
    limits = resource_name_limits(manifests)
    namespace = deployment["metadata"]["namespace"]
    for verb in ("get", "update"):
        assert limits[Grant("", "configmaps", verb, namespace)] == {
            ledger_name_for(settings.ledger_configmap, name) for name in names
        }
        assert limits[Grant("coordination.k8s.io", "leases", verb, namespace)] == {
            lease_name_for(settings.lease_name, name) for name in names
        }
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert env["KUBECONFIG"] == f"{mounts['kubeconfig']}/config"
    for version in KUBERNETES_VERSIONS:
        for manifest in manifests:
            kubernetes_validate.validate(manifest, version, strict=True)


# --------------------------------------------------------------------------------------------------
# Alerts-only (issue 12): Teams, PagerDuty and the webhook, no Slack app

SLACK_VARIABLES = frozenset({"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"})


def test_the_alerts_only_overlay_is_the_base_without_slack_and_with_the_surfaces_secret() -> None:
    """Only the Slack variables go and the surfaces' Secret comes: RBAC, Lease, ledger, probes, resources
    and every other setting are the base's, so the two installs cannot drift apart."""
    base, overlay = render_kustomization(BASE_DIR), render_kustomization(ALERTS_ONLY_DIR)
    ours, theirs = bot_container(overlay), bot_container(base)
    assert not SLACK_VARIABLES & set(env_values(ours))
    assert set(env_values(theirs)) >= SLACK_VARIABLES
    assert ours["envFrom"] == [{"secretRef": {"name": SURFACES_SECRET}}]
    assert "envFrom" not in theirs
    without_slack = [item for item in theirs["env"] if item["name"] not in SLACK_VARIABLES]
    assert ours["env"] == without_slack
    assert {key: value for key, value in ours.items() if key not in {"env", "envFrom"}} == {
        key: value for key, value in theirs.items() if key != "env"
    }
    assert [m for m in overlay if m["kind"] != "Deployment"] == [m for m in base if m["kind"] != "Deployment"]
    assert granted_permissions(overlay) == granted_permissions(base)


def test_the_surfaces_secret_example_makes_the_bot_run_alerts_only() -> None:
    """What the pod sees (the overlay's env plus the example Secret's keys) is what the bot's startup
    reads as alerts-only mode: no Slack token, and each surface in the example on as its `default`."""
    from bot.access import BotConfig
    from bot.wiring.surfaces import surface_targets

    (example,) = load_yaml_documents(SURFACES_SECRET_EXAMPLE)
    assert example["metadata"]["name"] == SURFACES_SECRET
    assert set(example["stringData"]) <= {name.upper() for name in Settings.model_fields}
    container = bot_container(render_kustomization(ALERTS_ONLY_DIR))
    environ = {name: item["value"] for name, item in env_values(container).items() if "value" in item}
    environ |= example["stringData"]
    settings = Settings(_env_file=None, **{name.lower(): value for name, value in environ.items()})
    assert not settings.slack_enabled
    targets = surface_targets(settings, BotConfig(), environ)
    assert {surface: set(found) for surface, found in targets.items()} == {
        "teams": {"default"},
        "pagerduty": {"default"},
    }


def test_an_overlay_removing_by_index_stops_when_the_base_changed(tmp_path: Path) -> None:
    """The overlay's `test` operations: a base whose env order changed fails the build (as kustomize
    does) instead of silently removing another variable."""
    from tests.deploy_rbac import KustomizeTestFailed

    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [str(BASE_DIR / "base")],
                "patches": [
                    {
                        "target": {"kind": "Deployment", "name": "exitcode-bot"},
                        "patch": yaml.safe_dump(
                            [
                                {
                                    "op": "test",
                                    "path": "/spec/template/spec/containers/0/env/0/name",
                                    "value": "SLACK_APP_TOKEN",
                                },
                                {"op": "remove", "path": "/spec/template/spec/containers/0/env/0"},
                            ]
                        ),
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(KustomizeTestFailed, match="env/0/name"):
        render_kustomization(tmp_path)
