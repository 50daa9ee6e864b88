"""Kubernetes client failures turned into the `ClusterError` family, each with a sentence for the on-call.

The official client raises `ApiException` for HTTP answers, urllib3 exceptions for transport problems and
`ApiException(status=0)` for TLS failures; an engineer in Slack should instead read what went wrong and
what to do ("the bot's RBAC lacks list on pods in namespace shop"), never a stack trace. Every caller
knows which call it made (`ApiCall`), so the sentence can name the verb and resource precisely.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import orjson
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from bot.diagnosis.ports import (
    ClusterError,
    ClusterTimeout,
    ClusterUnreachable,
    Forbidden,
    JsonDict,
    NotFound,
)


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One API call, named as RBAC names it: `get pods/log` on `shop/web-1`."""

    verb: str  # get, list, watch, create, update, patch, delete
    resource: str  # plural, with the subresource when there is one: "pods", "pods/log", "replicasets"
    namespace: str | None  # None: cluster-wide
    name: str | None = None
    kind: str = ""  # "Pod", for "not found" sentences

    @property
    def where(self) -> str:
        return f'in namespace "{self.namespace}"' if self.namespace else "across all namespaces"


def json_object(raw: bytes | str, call: ApiCall) -> JsonDict:
    """The API's answer as a JSON object, or a `ClusterError` naming the call when it is not one (a
    proxy's HTML error page, a truncated body): the caller shows a sentence, never a traceback.

    Decoded with orjson, the watch's decoder too: the same values as `json.loads`, in a fraction of the
    time, and pods with their events and owners are large JSON documents."""
    try:
        body = orjson.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        name = f" {call.name}" if call.name else ""
        raise ClusterError(
            f"The Kubernetes API answered {call.verb} {call.resource}{name} with something that is not JSON."
        )
    return body


def api_status_message(error: ApiException) -> str:
    """The `message` of the apiserver's Status body, or the HTTP reason if the body is not a Status."""
    try:
        body = orjson.loads(error.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return str(error.reason or "no reason given")


def forbidden(call: ApiCall) -> Forbidden:
    grant = "a ClusterRole" if call.namespace is None else "its ClusterRole (or a Role in that namespace)"
    sentence = (
        f"The bot is not allowed to {call.verb} {call.resource} {call.where}: its Kubernetes RBAC lacks the "
        f'"{call.verb}" verb on "{call.resource}"; grant it in {grant}.'
    )
    return Forbidden(call.verb, call.resource, call.namespace, sentence)


def not_found(call: ApiCall) -> NotFound:
    kind = call.kind or call.resource
    name = call.name or ""
    sentence = (
        f'{kind} "{name}" was not found {call.where}.'
        if call.namespace
        else f'{kind} "{name}" was not found.'
    )
    return NotFound(kind, call.namespace, name, sentence)


def timed_out(call: ApiCall, timeout_seconds: float) -> ClusterTimeout:
    return ClusterTimeout(
        f"The Kubernetes API did not answer {call.verb} {call.resource} within {timeout_seconds:g} s "
        "(KUBE_TIMEOUT_SECONDS); the cluster may be overloaded or unreachable, try again shortly."
    )


def unreachable(detail: str) -> ClusterUnreachable:
    return ClusterUnreachable(
        f"The Kubernetes API server cannot be reached ({detail}); check the cluster address in the "
        "kubeconfig and the network between the bot and the cluster."
    )


def _root_cause(error: BaseException) -> BaseException:
    """urllib3 wraps the real failure in `MaxRetryError.reason`."""
    reason = getattr(error, "reason", None)
    return reason if isinstance(reason, BaseException) else error


def _connection_failure(error: BaseException) -> str | None:
    """What stopped the connection, in words; None if it was not a connection failure.

    Checked before timeouts: urllib3's `NewConnectionError` (and so `NameResolutionError`) subclasses
    `ConnectTimeoutError` for historical reasons, but "connection refused" is not a timeout.
    """
    if isinstance(error, urllib3.exceptions.NameResolutionError):
        return "the host name does not resolve"
    if isinstance(error, urllib3.exceptions.SSLError | ssl.SSLError):
        return "the TLS handshake failed"
    if isinstance(error, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, urllib3.exceptions.ProtocolError | ConnectionResetError):
        return "the connection was dropped"
    return None


def _from_status(error: ApiException, call: ApiCall, timeout_seconds: float) -> ClusterError:
    code = int(error.status or 0)
    if code == 0:  # the client reports TLS failures as status 0
        detail = "the TLS handshake failed" if "SSL" in str(error.reason) else str(error.reason)
        return unreachable(detail)
    if code == 403:
        return forbidden(call)
    if code == 404:
        return not_found(call)
    if code == 401:
        return ClusterError(
            "The Kubernetes API rejected the bot's credentials (401 Unauthorized); check the kubeconfig user "
            "or the service account token."
        )
    if code == 504:
        return timed_out(call, timeout_seconds)
    if code in (502, 503):
        return unreachable(f"HTTP {code}: {api_status_message(error)}")
    message = api_status_message(error)
    return ClusterError(
        f"The Kubernetes API answered {call.verb} {call.resource} with HTTP {code}: {message}."
    )


def translate_error(error: BaseException, call: ApiCall, timeout_seconds: float) -> ClusterError:
    """The `ClusterError` a user should see for `error`, raised by `call`.

    404 → NotFound, 403 → Forbidden (naming the verb and resource RBAC lacks), refused/DNS/TLS/dropped
    connections → ClusterUnreachable, timeouts (ours, urllib3's, or a 504) → ClusterTimeout.
    """
    if isinstance(error, ClusterError):
        return error
    if isinstance(error, ApiException):
        return _from_status(error, call, timeout_seconds)
    cause = _root_cause(error)
    failure = _connection_failure(cause)
    if failure is not None:
        return unreachable(failure)
    if isinstance(cause, TimeoutError | urllib3.exceptions.TimeoutError):
        return timed_out(call, timeout_seconds)
    if isinstance(cause, urllib3.exceptions.HTTPError | OSError):
        return unreachable(type(cause).__name__)
    return ClusterError(
        f"The Kubernetes call {call.verb} {call.resource} failed: {type(error).__name__}: {error}"
    )
