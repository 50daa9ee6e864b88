"""What went over the wire to the fake Kubernetes API, and what a test makes go wrong.

The request log names each call the way RBAC does (verb, API group, resource, subresource, namespace), so
the RBAC test can prove the ClusterRole grants exactly what the bot calls; entries made by the bot carry
its `User-Agent` (`exitcode-bot/…`), which tells them apart from the tests' own setup calls. With
`FAKE_KUBE_REQUEST_LOG=/path` in the environment every fake in every process also appends its entries
there as JSON lines, for a whole-suite record.

Faults are rules matched per request: answer with a status (403 with RBAC's exact wording, 404, 409, 500…)
and/or add latency, optionally only in one namespace and only a number of times.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass

REQUEST_LOG_ENV = "FAKE_KUBE_REQUEST_LOG"


@dataclass(frozen=True, slots=True)
class KubeRequest:
    """One API call as RBAC sees it. `verb` is get, list, watch, create, update, patch or delete."""

    verb: str
    group: str
    resource: str
    subresource: str | None
    namespace: str | None
    name: str | None
    user_agent: str = ""

    @property
    def rbac_resource(self) -> str:
        """`pods`, or `pods/log` for a subresource: the string a Role's `resources` list must contain."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


class RequestLog:
    """Thread-safe, append-only record of every API request the fake received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[KubeRequest] = []

    def record(self, request: KubeRequest) -> None:
        with self._lock:
            self._entries.append(request)
        path = os.environ.get(REQUEST_LOG_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as sink:
                sink.write(json.dumps(asdict(request)) + "\n")

    @property
    def entries(self) -> list[KubeRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def made_by(self, user_agent_prefix: str) -> list[KubeRequest]:
        """The calls one client made, e.g. `made_by("exitcode-bot")`."""
        return [entry for entry in self.entries if entry.user_agent.startswith(user_agent_prefix)]

    def permissions(self, user_agent_prefix: str = "") -> set[tuple[str, str, str]]:
        """`(verb, group, "pods/log")` triples: what a Role must grant for these calls to succeed."""
        return {(e.verb, e.group, e.rbac_resource) for e in self.made_by(user_agent_prefix)}

    def count(self, verb: str, resource: str) -> int:
        """How many `verb` calls on `resource` (`pods`, `pods/log`) were made."""
        return sum(1 for e in self.entries if e.verb == verb and e.rbac_resource == resource)


@dataclass
class FaultRule:
    """Make matching requests fail with `status` (0 = no failure) and/or wait `latency` seconds first."""

    verb: str | None
    resource: str | None  # "pods", "pods/log", "leases"; None = any
    namespace: str | None
    status: int
    latency: float
    message: str | None
    remaining: int | None  # None = forever
    name: str | None = None  # one object only (RBAC `resourceNames`); None = any

    def matches(self, request: KubeRequest) -> bool:
        return (
            (self.verb is None or self.verb == request.verb)
            and (self.resource is None or self.resource in (request.rbac_resource, request.resource))
            and (self.namespace is None or self.namespace == request.namespace)
            and (self.name is None or self.name == request.name)
            and (self.remaining is None or self.remaining > 0)
        )


@dataclass(frozen=True, slots=True)
class FaultDecision:
    latency: float
    status: int
    message: str | None


class FaultPlan:
    """The faults a test arranged; consulted once per request, before the request is served."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self.latency = 0.0  # seconds added to every request

    def fail(
        self,
        verb: str | None,
        resource: str | None,
        status: int,
        *,
        namespace: str | None = None,
        times: int | None = None,
        message: str | None = None,
        name: str | None = None,
    ) -> None:
        """Answer `verb` on `resource` (e.g. `"list", "pods"`, `"get", "pods/log"`) with `status`.

        403 gets RBAC's exact message for the request, 404 the apiserver's "not found", others a
        generic message unless one is given. `times=None` fails every matching request; `name` fails
        only requests for that one object (as a Role whose `resourceNames` lack it would).
        """
        with self._lock:
            self._rules.append(FaultRule(verb, resource, namespace, status, 0.0, message, times, name))

    def forbid(self, verb: str, resource: str, *, namespace: str | None = None) -> None:
        """Behave as if the bot's RBAC lacked `verb` on `resource`."""
        self.fail(verb, resource, 403, namespace=namespace)

    def delay(
        self,
        seconds: float,
        *,
        verb: str | None = None,
        resource: str | None = None,
        times: int | None = None,
    ) -> None:
        """Add latency to matching requests (all requests: set `plan.latency` instead)."""
        with self._lock:
            self._rules.append(FaultRule(verb, resource, None, 0, seconds, None, times))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.latency = 0.0

    def decide(self, request: KubeRequest) -> FaultDecision:
        """The latency and failure for one request; each rule that takes effect uses up one of its `times`."""
        latency, failure, message = self.latency, 0, None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(request) or (rule.status and failure):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                latency += rule.latency
                if rule.status:
                    failure, message = rule.status, rule.message
        return FaultDecision(latency, failure, message)
