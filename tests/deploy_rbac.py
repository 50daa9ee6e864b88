"""Render the `k8s/` kustomizations in Python and report the RBAC they grant the bot.

Why a renderer of our own: the deploy tests must run on a machine without `kubectl`, and a later test
compares the permissions granted here with the Kubernetes API calls recorded by the fake API server.
It implements exactly the kustomize features the manifests use (resources, `namespace`, a
`NamespaceTransformer` with `setRoleBindingSubjects`, `labels`, `images`, `$patch: delete`, JSON 6902
patches (`test` included), and `replacements` of one field by another) and refuses anything else, so it
can never silently disagree with `kubectl kustomize`; when `kubectl` is installed,
tests/test_deploy_manifests.py checks that both render the same objects.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

Manifest = dict[str, Any]

REPO_ROOT = Path(__file__).resolve().parents[1]
K8S_DIR = REPO_ROOT / "k8s"
BASE_DIR = K8S_DIR  # `kubectl apply -k k8s/`: the default, cluster-wide install (k8s/base/ via k8s/)
SINGLE_NAMESPACE_DIR = K8S_DIR / "overlays" / "single-namespace"
# The same without the one grant outside the namespace (node events in `default`): a namespace admin's.
NAMESPACE_ADMIN_DIR = SINGLE_NAMESPACE_DIR / "namespaced"

KUSTOMIZATION_FILE = "kustomization.yaml"
# Scope of a permission granted by a ClusterRole through a ClusterRoleBinding: every namespace, and the
# cluster-scoped resources. `*` cannot be a namespace name, so it never collides with one.
CLUSTER_WIDE = "*"

CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)
POD_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
_SUPPORTED_KEYS = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "namespace",
        "labels",
        "images",
        "patches",
        "transformers",
        "replacements",
    }
)


class KustomizeUnsupported(Exception):
    """The kustomization uses a feature this renderer does not implement (extend it, then test it)."""


class KustomizeTestFailed(Exception):
    """A JSON 6902 `test` operation did not hold: kustomize refuses to build, and so does this."""


# --------------------------------------------------------------------------------------------------
# Rendering


def load_yaml_documents(path: Path) -> list[Manifest]:
    """Every non-empty YAML document of a file, as kubectl would apply them."""
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def render_kustomization(directory: Path) -> list[Manifest]:
    """The objects `kubectl kustomize DIRECTORY` would print (order aside)."""
    kustomization = _load_kustomization(directory)
    manifests: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            manifests.extend(render_kustomization(path))
        else:
            manifests.extend(load_yaml_documents(path))
    for patch in kustomization.get("patches", []):
        manifests = _apply_patch(manifests, directory, patch)
    if "namespace" in kustomization:
        _set_namespace(manifests, kustomization["namespace"], rewrite_service_account_subjects=False)
    for transformer_file in kustomization.get("transformers", []):
        _apply_transformer(manifests, directory / transformer_file)
    for label_set in kustomization.get("labels", []):
        _add_labels(manifests, label_set)
    for image in kustomization.get("images", []):
        _set_image(manifests, image)
    for replacement in kustomization.get("replacements", []):
        _replace(manifests, replacement)
    return manifests


def kustomization_files(root: Path = K8S_DIR) -> list[Path]:
    """Every kustomization.yaml under `root`."""
    return sorted(root.rglob(KUSTOMIZATION_FILE))


def referenced_files(directory: Path) -> list[Path]:
    """Files a kustomization names (resources, patch files, transformer configs), resolved."""
    kustomization = _load_kustomization(directory)
    names = [*kustomization.get("resources", []), *kustomization.get("transformers", [])]
    names += [patch["path"] for patch in kustomization.get("patches", []) if "path" in patch]
    return [(directory / name).resolve() for name in names]


def _load_kustomization(directory: Path) -> Manifest:
    with (directory / KUSTOMIZATION_FILE).open(encoding="utf-8") as stream:
        kustomization: Manifest = yaml.safe_load(stream)
    unsupported = set(kustomization) - _SUPPORTED_KEYS
    if unsupported:
        raise KustomizeUnsupported(f"{directory / KUSTOMIZATION_FILE}: {sorted(unsupported)}")
    return kustomization


def _set_namespace(
    manifests: list[Manifest], namespace: str, *, rewrite_service_account_subjects: bool
) -> None:
    """kustomize's namespace transformer. Its default leaves binding subjects alone (it only rewrites
    subjects named `default`, which these manifests never use); `allServiceAccounts` rewrites them all."""
    for manifest in manifests:
        if manifest["kind"] not in CLUSTER_SCOPED_KINDS:
            manifest["metadata"]["namespace"] = namespace
        if rewrite_service_account_subjects and manifest["kind"] in {"RoleBinding", "ClusterRoleBinding"}:
            for subject in manifest.get("subjects", []):
                if subject.get("kind") == "ServiceAccount":
                    subject["namespace"] = namespace


def _apply_transformer(manifests: list[Manifest], path: Path) -> None:
    (config,) = load_yaml_documents(path)
    if config.get("kind") != "NamespaceTransformer":
        raise KustomizeUnsupported(f"{path}: transformer kind {config.get('kind')!r}")
    mode = config.get("setRoleBindingSubjects", "defaultOnly")
    if mode not in {"defaultOnly", "allServiceAccounts"}:
        raise KustomizeUnsupported(f"{path}: setRoleBindingSubjects {mode!r}")
    _set_namespace(
        manifests,
        config["metadata"]["namespace"],
        rewrite_service_account_subjects=mode == "allServiceAccounts",
    )


def _add_labels(manifests: list[Manifest], label_set: Mapping[str, Any]) -> None:
    if label_set.get("includeSelectors", False):
        raise KustomizeUnsupported("labels with includeSelectors: selectors are written out in the files")
    pairs: dict[str, str] = label_set["pairs"]
    for manifest in manifests:
        manifest["metadata"].setdefault("labels", {}).update(pairs)
        if label_set.get("includeTemplates", False) and manifest["kind"] in POD_TEMPLATE_KINDS:
            manifest["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def _set_image(manifests: list[Manifest], image: Mapping[str, str]) -> None:
    for container in iter_containers(manifests):
        name, _, _ = split_image(container["image"])
        if name != image["name"]:
            continue
        new_name = image.get("newName", name)
        if "digest" in image:
            container["image"] = f"{new_name}@{image['digest']}"
        else:
            _, tag, _ = split_image(container["image"])
            new_tag = image.get("newTag", tag)
            container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def _replace(manifests: list[Manifest], replacement: Mapping[str, Any]) -> None:
    """kustomize `replacements`: one source field's value copied into target fields (dotted paths,
    list items by index). Sources and targets are selected by kind and name only."""
    source = replacement["source"]
    if set(source) - {"kind", "name", "fieldPath"}:
        raise KustomizeUnsupported(f"replacement source fields {sorted(set(source))}")
    (origin,) = [m for m in manifests if _matches(m, {"kind": source["kind"], "name": source["name"]})]
    value = _field(origin, source.get("fieldPath", "metadata.name").split("."))
    for target in replacement["targets"]:
        if set(target) - {"select", "fieldPaths"}:
            raise KustomizeUnsupported(f"replacement target fields {sorted(set(target))}")
        selected = [m for m in manifests if _matches(m, target["select"])]
        if not selected:
            raise KustomizeUnsupported(f"replacement target matched nothing: {target['select']}")
        for manifest in selected:
            for path in target["fieldPaths"]:
                *parents, last = path.split(".")
                node = _field(manifest, parents)
                node[int(last) if isinstance(node, list) else last] = value


def _field(node: Any, parts: list[str]) -> Any:
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _apply_patch(manifests: list[Manifest], directory: Path, entry: Mapping[str, Any]) -> list[Manifest]:
    text = entry["patch"] if "patch" in entry else (directory / entry["path"]).read_text(encoding="utf-8")
    patch = yaml.safe_load(text)
    if isinstance(patch, list):
        target = entry.get("target")
        if not target:
            raise KustomizeUnsupported("a JSON 6902 patch needs a target")
        for manifest in manifests:
            if _matches(manifest, target):
                for operation in patch:
                    _json6902(manifest, operation)
        return manifests
    if patch.get("$patch") == "delete":
        doomed = {"kind": patch["kind"], "name": patch["metadata"]["name"]}
        remaining = [m for m in manifests if not _matches(m, doomed)]
        if len(remaining) == len(manifests):
            raise KustomizeUnsupported(f"$patch: delete matched nothing: {doomed}")
        return remaining
    raise KustomizeUnsupported("strategic-merge patches other than `$patch: delete`")


def _matches(manifest: Manifest, target: Mapping[str, Any]) -> bool:
    unsupported = set(target) - {"kind", "name", "namespace"}
    if unsupported:
        raise KustomizeUnsupported(f"patch target fields {sorted(unsupported)}")
    metadata = manifest["metadata"]
    actual = {"kind": manifest["kind"], "name": metadata["name"], "namespace": metadata.get("namespace")}
    return all(actual[field] == wanted for field, wanted in target.items())


def _json6902(manifest: Manifest, operation: Mapping[str, Any]) -> None:
    """RFC 6902 `add`, `replace`, `remove` and `test` (all a deployment patch needs). A failed `test`
    fails the build, as in kustomize: an overlay that removes by index states what it removes."""
    *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]]
    node: Any = manifest
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    op = operation["op"]
    value = copy.deepcopy(operation.get("value"))
    if op == "test":
        actual = node[int(last)] if isinstance(node, list) else node[last]
        if actual != value:
            raise KustomizeTestFailed(f"testing value {operation['path']} failed: {actual!r} != {value!r}")
        return
    if isinstance(node, list):
        index = len(node) if last == "-" else int(last)
        if op == "add":
            node.insert(index, value)
        elif op == "replace":
            node[index] = value
        elif op == "remove":
            del node[index]
        else:
            raise KustomizeUnsupported(f"JSON patch op {op!r}")
    elif op in {"add", "replace"}:
        node[last] = value
    elif op == "remove":
        del node[last]
    else:
        raise KustomizeUnsupported(f"JSON patch op {op!r}")


# --------------------------------------------------------------------------------------------------
# Looking things up in rendered manifests


def split_image(image: str) -> tuple[str, str, str]:
    """`registry:5000/repo/name:tag@sha256:…` → (name with registry, tag, digest); missing parts empty."""
    reference, _, digest = image.partition("@")
    last_slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > last_slash:
        return reference[:colon], reference[colon + 1 :], digest
    return reference, "", digest


def iter_pod_specs(manifests: Iterable[Manifest]) -> Iterator[tuple[Manifest, Manifest]]:
    """(workload, pod spec) for every pod template in the manifests."""
    for manifest in manifests:
        if manifest["kind"] in POD_TEMPLATE_KINDS:
            yield manifest, manifest["spec"]["template"]["spec"]


def iter_containers(manifests: Iterable[Manifest]) -> Iterator[Manifest]:
    """Every container and init container of every pod template."""
    for _, spec in iter_pod_specs(manifests):
        yield from spec.get("initContainers", [])
        yield from spec["containers"]


def find(
    manifests: Iterable[Manifest], kind: str, name: str, namespace: str | None = None
) -> Manifest | None:
    """The object of that kind and name (in that namespace, for namespaced kinds), if present."""
    for manifest in manifests:
        metadata = manifest["metadata"]
        same_object = manifest["kind"] == kind and metadata["name"] == name
        in_namespace = (
            namespace is None or kind in CLUSTER_SCOPED_KINDS or metadata.get("namespace") == namespace
        )
        if same_object and in_namespace:
            return manifest
    return None


def only(manifests: Iterable[Manifest], kind: str) -> Manifest:
    """The single object of a kind (the bot has one Deployment, one Service, ...)."""
    (found,) = [manifest for manifest in manifests if manifest["kind"] == kind]
    return found


# --------------------------------------------------------------------------------------------------
# RBAC


class Grant(NamedTuple):
    """One permission: `verb` on `resource` (`pods`, `pods/log`) of `api_group` ("" = core) in `scope`,
    a namespace name or CLUSTER_WIDE."""

    api_group: str
    resource: str
    verb: str
    scope: str


def bot_service_accounts(manifests: Iterable[Manifest]) -> set[tuple[str, str]]:
    """(namespace, name) of the ServiceAccounts the bot's pods run as."""
    return {
        (workload["metadata"]["namespace"], spec.get("serviceAccountName", "default"))
        for workload, spec in iter_pod_specs(manifests)
    }


def granted_permissions(manifests: list[Manifest]) -> set[Grant]:
    """Every (api_group, resource, verb, scope) the bindings grant to the bot's ServiceAccount."""
    return set(_granted_rules(manifests))


def resource_name_limits(manifests: list[Manifest]) -> dict[Grant, frozenset[str]]:
    """Grants that only apply to named objects (`resourceNames`); absent = any object."""
    limits: dict[Grant, frozenset[str]] = {}
    unrestricted: set[Grant] = set()
    for grant, names in _granted_rules(manifests).items():
        if names is None:
            unrestricted.add(grant)
        else:
            limits[grant] = names
    return {grant: names for grant, names in limits.items() if grant not in unrestricted}


class ApiRequest(NamedTuple):
    """A REST call as the RBAC authorizer sees it (k8s.io/apiserver, endpoints/request/requestinfo.go)."""

    api_group: str
    resource: str  # with the subresource: `pods/log`
    verb: str
    namespace: str | None
    name: str | None


def api_request(method: str, path: str, query: Mapping[str, str] | None = None) -> ApiRequest:
    """Attributes of `METHOD /api/v1/...` or `/apis/GROUP/VERSION/...`, for comparing recorded calls
    with the grants: GET without a name is `list`, or `watch` with `?watch=true`; a request on a
    Namespace object is made *in* that namespace."""
    parts = [part for part in path.split("?")[0].split("/") if part]
    if parts[:1] == ["api"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"]:
        group, rest = parts[1], parts[3:]
    else:
        raise ValueError(f"not a resource request: {path}")
    namespace: str | None = None
    if rest[:1] == ["namespaces"] and len(rest) >= 2:
        namespace = rest[1]
        if len(rest) > 2:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    if len(rest) > 2:
        resource = f"{resource}/{rest[2]}"
    watching = (query or {}).get("watch", "").lower() in {"1", "true"}
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    if method.upper() in {"GET", "HEAD"}:
        verb = "watch" if watching else ("get" if name else "list")
    elif method.upper() == "DELETE" and name is None:
        verb = "deletecollection"
    else:
        verb = verbs[method.upper()]
    return ApiRequest(group, resource, verb, namespace, name)


def is_allowed(
    grants: set[Grant],
    limits: Mapping[Grant, frozenset[str]],
    *,
    api_group: str,
    resource: str,
    verb: str,
    namespace: str | None,
    name: str | None = None,
) -> bool:
    """Would the API server authorize this request? `namespace` is None for cluster-scoped requests
    (including listing or watching pods across all namespaces). As in the API server, a request on a
    Namespace object itself (GET /api/v1/namespaces/NAME) is authorized against namespace NAME
    (k8s.io/apiserver, endpoints/request/requestinfo.go), so a Role can grant `get` on its namespace;
    `api_request` already says so, this covers callers that pass the name only."""
    if resource == "namespaces" and namespace is None and name is not None:
        namespace = name
    scopes = [CLUSTER_WIDE] if namespace is None else [CLUSTER_WIDE, namespace]
    for scope in scopes:
        grant = Grant(api_group, resource, verb, scope)
        if grant in grants and (grant not in limits or (name is not None and name in limits[grant])):
            return True
    return False


def _granted_rules(manifests: list[Manifest]) -> dict[Grant, frozenset[str] | None]:
    """Grant → resourceNames it is limited to (None: unlimited), merged over all bound rules."""
    accounts = bot_service_accounts(manifests)
    granted: dict[Grant, frozenset[str] | None] = {}
    for binding in manifests:
        if binding["kind"] not in {"RoleBinding", "ClusterRoleBinding"}:
            continue
        subjects = {
            (subject.get("namespace", ""), subject["name"])
            for subject in binding.get("subjects", [])
            if subject["kind"] == "ServiceAccount"
        }
        if not subjects & accounts:
            continue
        role_namespace = binding["metadata"].get("namespace")
        role = find(manifests, binding["roleRef"]["kind"], binding["roleRef"]["name"], role_namespace)
        if role is None:
            continue
        scope = CLUSTER_WIDE if binding["kind"] == "ClusterRoleBinding" else role_namespace
        for rule in role.get("rules", []):
            names = frozenset(rule["resourceNames"]) if rule.get("resourceNames") else None
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    for verb in rule.get("verbs", []):
                        grant = Grant(group, resource, verb, str(scope))
                        if names is None or (grant in granted and granted[grant] is None):
                            granted[grant] = None
                        else:
                            granted[grant] = (granted.get(grant) or frozenset()) | names
    return granted
