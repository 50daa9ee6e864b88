"""`Status` bodies exactly as the apiserver sends them with an error (and inside watch ERROR events).

The bot's error mapping reads `code`, `reason` and `message`; using the apiserver's real wording here means
a test that passes against the fake also passes against a cluster.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.kube_resources import ResourceType

JsonDict = dict[str, Any]

REASON_BY_CODE: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Gone",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class StatusError(Exception):
    """An API answer that is a `Status` failure; raised inside the fake, turned into the HTTP response."""

    def __init__(self, body: JsonDict) -> None:
        super().__init__(body["message"])
        self.body = body

    @property
    def code(self) -> int:
        return int(self.body["code"])


def failure(
    code: int, message: str, *, reason: str | None = None, details: JsonDict | None = None
) -> JsonDict:
    """A `Status` with `status: Failure`, the shape of every apiserver error body."""
    body: JsonDict = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or REASON_BY_CODE.get(code, ""),
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def _details(rt: ResourceType, name: str | None) -> JsonDict:
    details: JsonDict = {}
    if name:
        details["name"] = name
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    return details


def not_found(rt: ResourceType, name: str) -> StatusError:
    return StatusError(failure(404, f'{rt.qualified} "{name}" not found', details=_details(rt, name)))


def unknown_resource() -> StatusError:
    """What the apiserver says for a path it does not serve."""
    return StatusError(failure(404, "the server could not find the requested resource", details={}))


def already_exists(rt: ResourceType, name: str) -> StatusError:
    return StatusError(
        failure(
            409, f'{rt.qualified} "{name}" already exists', reason="AlreadyExists", details=_details(rt, name)
        )
    )


def conflict(rt: ResourceType, name: str) -> StatusError:
    message = (
        f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    return StatusError(failure(409, message, reason="Conflict", details=_details(rt, name)))


def forbidden(
    *,
    user: str,
    verb: str,
    rt: ResourceType,
    subresource: str | None,
    namespace: str | None,
    name: str | None,
) -> StatusError:
    """RBAC's denial, word for word: `pods "x" is forbidden: User "…" cannot get resource "pods/log" …`."""
    subject = f'{rt.qualified} "{name}"' if name else rt.qualified
    resource = f"{rt.plural}/{subresource}" if subresource else rt.plural
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (
        f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
        f'in API group "{rt.group}" {scope}'
    )
    return StatusError(failure(403, message, details=_details(rt, name)))


def bad_request(message: str) -> StatusError:
    return StatusError(failure(400, message))


def invalid(rt: ResourceType, name: str, message: str) -> StatusError:
    """422 Invalid: the object failed validation (name format, ConfigMap size…)."""
    return StatusError(
        failure(422, f'{rt.kind} "{name}" is invalid: {message}', details=_details(rt, name)),
    )


def expired(message: str) -> StatusError:
    """410 with reason Expired: a watch or continue token older than the history the server keeps."""
    return StatusError(failure(410, message, reason="Expired"))


def internal_error(message: str) -> StatusError:
    return StatusError(
        failure(500, f"Internal error occurred: {message}", details={"causes": [{"message": message}]})
    )


def method_not_allowed() -> StatusError:
    return StatusError(failure(405, "the server does not allow this method on the requested resource"))


def success(rt: ResourceType, name: str, uid: str) -> JsonDict:
    """What a DELETE answers for objects deleted at once (everything but pods here)."""
    details = _details(rt, name)
    details["uid"] = uid
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
