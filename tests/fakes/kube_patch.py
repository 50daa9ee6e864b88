"""PATCH bodies as the apiserver applies them: JSON merge patch, strategic merge patch and JSON patch.

The official client sends `application/json-patch+json` for a list body and
`application/strategic-merge-patch+json` for an object (see `kubernetes.client.rest`). Strategic merge is
applied as a JSON merge patch here: identical for the maps the bot patches (ConfigMap `data`, Lease
`spec`), and the fake does not claim to merge lists by key.
"""

from __future__ import annotations

import copy
from typing import Any

JsonDict = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = (MERGE_PATCH, STRATEGIC_MERGE_PATCH, JSON_PATCH)


class PatchError(ValueError):
    """A patch that cannot be applied; the apiserver answers 422 (or 400 for malformed bodies)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document: Any, parts: list[str]) -> Any:
    node = document
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"path not found: /{'/'.join(parts)}")
    return node


def _apply_operation(document: Any, operation: JsonDict) -> Any:
    op, parts = operation.get("op"), _pointer(str(operation.get("path", "")))
    if not parts:
        if op in ("add", "replace"):
            return copy.deepcopy(operation.get("value"))
        raise PatchError(f"unsupported operation {op!r} on the document root")
    parent, last = _parent(document, parts), parts[-1]
    if op == "test":
        current = parent.get(last) if isinstance(parent, dict) else parent[int(last)]
        if current != operation.get("value"):
            raise PatchError(f"testing value /{'/'.join(parts)} failed")
    elif op in ("add", "replace"):
        value = copy.deepcopy(operation.get("value"))
        if isinstance(parent, dict):
            if op == "replace" and last not in parent:
                raise PatchError(f"replace operation does not apply: doc is missing key: /{'/'.join(parts)}")
            parent[last] = value
        elif isinstance(parent, list):
            if last == "-":
                parent.append(value)
            elif op == "add":
                parent.insert(int(last), value)
            else:
                parent[int(last)] = value
    elif op == "remove":
        if isinstance(parent, dict) and last in parent:
            del parent[last]
        elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
            del parent[int(last)]
        else:
            raise PatchError(f"remove operation does not apply: doc is missing path: /{'/'.join(parts)}")
    else:
        raise PatchError(f"unsupported JSON patch operation {op!r}")
    return document


def json_patch(target: JsonDict, operations: list[Any]) -> Any:
    """RFC 6902 add/remove/replace/test, applied to a copy; any failure leaves the object unchanged."""
    document: Any = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict):
            raise PatchError("a JSON patch must be a list of operation objects")
        document = _apply_operation(document, operation)
    return document


def apply_patch(content_type: str, target: JsonDict, patch: Any) -> JsonDict:
    """Apply a PATCH body by its Content-Type, as the apiserver chooses the patch strategy."""
    if content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise PatchError("a JSON patch must be a list of operations")
        result = json_patch(target, patch)
    else:
        if not isinstance(patch, dict):
            raise PatchError("a merge patch must be a JSON object")
        result = merge_patch(target, patch)
    if not isinstance(result, dict):
        raise PatchError("the patched object is not a JSON object")
    return result
