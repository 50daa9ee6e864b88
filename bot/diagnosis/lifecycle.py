"""What the pod spec itself asks for when a container ends: restart rules, stop signals, restart-all.

Kubernetes 1.33–1.35 let a pod say, per container, how an exit is handled and how a stop is sent:

- container restart rules (KEP-5307, alpha 1.34, beta 1.35): `restartPolicyRules[]` with `action`
  `Restart` (or `RestartAllContainers`, KEP-5532, alpha 1.35) and `exitCodes {operator: In|NotIn,
  values}`, evaluated in order, first match wins; else the container's own `restartPolicy`, else the pod's;
- custom stop signals (KEP-4960, alpha 1.33): `lifecycle.stopSignal` in the spec and the effective one
  in `containerStatuses[].stopSignal` (which also reflects an image's STOPSIGNAL).

Both the diagnosis and the alert policy read these, over raw pod JSON, so they live here once. Pure and
tolerant: a missing or malformed field reads as "not set", never as an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RESTART = "Restart"
RESTART_ALL = "RestartAllContainers"
ALL_RESTARTING_CONDITION = "AllContainersRestarting"

_SIGNAL_NUMBERS = {
    "SIGHUP": 1,
    "SIGINT": 2,
    "SIGQUIT": 3,
    "SIGILL": 4,
    "SIGTRAP": 5,
    "SIGABRT": 6,
    "SIGIOT": 6,
    "SIGBUS": 7,
    "SIGFPE": 8,
    "SIGKILL": 9,
    "SIGUSR1": 10,
    "SIGSEGV": 11,
    "SIGUSR2": 12,
    "SIGPIPE": 13,
    "SIGALRM": 14,
    "SIGTERM": 15,
    "SIGSTKFLT": 16,
    "SIGCHLD": 17,
    "SIGCLD": 17,
    "SIGCONT": 18,
    "SIGSTOP": 19,
    "SIGTSTP": 20,
    "SIGTTIN": 21,
    "SIGTTOU": 22,
    "SIGURG": 23,
    "SIGXCPU": 24,
    "SIGXFSZ": 25,
    "SIGVTALRM": 26,
    "SIGPROF": 27,
    "SIGWINCH": 28,
    "SIGIO": 29,
    "SIGPOLL": 29,
    "SIGPWR": 30,
    "SIGSYS": 31,
}
"""Linux (x86_64/arm64) numbers of the names `lifecycle.stopSignal` accepts (API validation's list)."""
_SIGRTMIN = 34
_SIGRTMAX = 64


def signal_number(name: str | None) -> int | None:
    """`SIGQUIT` → 3, `SIGRTMIN+2` → 36, `SIGRTMAX-1` → 63; None for anything else."""
    if not name:
        return None
    number = _SIGNAL_NUMBERS.get(name)
    if number is not None:
        return number
    for base, value, sign in (("SIGRTMIN", _SIGRTMIN, 1), ("SIGRTMAX", _SIGRTMAX, -1)):
        if name == base:
            return value
        if name.startswith(base) and name[len(base) : len(base) + 1] in "+-":
            offset = name[len(base) + 1 :]
            if offset.isdigit() and (name[len(base)] == "+") == (sign > 0):
                number = value + sign * int(offset)
                return number if _SIGRTMIN <= number <= _SIGRTMAX else None
    return None


@dataclass(frozen=True, slots=True)
class RestartRule:
    """One entry of a container's `restartPolicyRules`."""

    index: int
    action: str
    operator: str
    values: tuple[int, ...]

    def matches(self, exit_code: int) -> bool:
        if self.operator == "In":
            return exit_code in self.values
        if self.operator == "NotIn":
            return exit_code not in self.values
        return False

    @property
    def names_code(self) -> bool:
        """True for `In`: the spec lists the code as one it expects (a NotIn rule is a catch-all retry)."""
        return self.operator == "In"

    def describe(self) -> str:
        """`restartPolicyRules[0]: Restart on exit code In [42]`, as the spec reads."""
        codes = ", ".join(str(value) for value in self.values)
        return f"restartPolicyRules[{self.index}]: {self.action} on exit code {self.operator} [{codes}]"


def restart_rules(container_spec: Mapping[str, Any]) -> tuple[RestartRule, ...]:
    """The container's restart rules in spec order (those with an exit-code requirement)."""
    raw = container_spec.get("restartPolicyRules")
    if not isinstance(raw, list) or not raw:
        return ()
    rules: list[RestartRule] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            continue
        action = item.get("action")
        codes = item.get("exitCodes")
        if not isinstance(action, str) or not isinstance(codes, dict):
            continue
        operator = codes.get("operator")
        values = codes.get("values")
        if not isinstance(operator, str):
            continue
        numbers = tuple(v for v in values if isinstance(v, int)) if isinstance(values, list) else ()
        rules.append(RestartRule(index=index, action=action, operator=operator, values=numbers))
    return tuple(rules)


def matching_rule(rules: tuple[RestartRule, ...], exit_code: int | None) -> RestartRule | None:
    """The first rule the exit code satisfies (the kubelet ignores the rest), if it asks for a restart."""
    if exit_code is None:
        return None
    for rule in rules:
        if rule.matches(exit_code):
            return rule if rule.action in (RESTART, RESTART_ALL) else None
    return None


def stop_signal(container_spec: Mapping[str, Any], container_status: Mapping[str, Any]) -> str | None:
    """The effective stop signal: the status's report (1.33+), else the spec's `lifecycle.stopSignal`.

    None means SIGTERM, the default (a 1.33+ kubelet reports it even when nothing was configured).
    """
    reported = container_status.get("stopSignal")
    if not (isinstance(reported, str) and reported):
        lifecycle = container_spec.get("lifecycle")
        reported = lifecycle.get("stopSignal") if isinstance(lifecycle, dict) else None
    if isinstance(reported, str) and reported and reported != "SIGTERM":
        return reported
    return None


def stop_exit_code(signal: str | None) -> int | None:
    """The exit code of a process killed by its stop signal (128 + N); None for SIGTERM or unknown."""
    number = signal_number(signal)
    if number is None or signal == "SIGTERM":
        return None
    return 128 + number


@dataclass(frozen=True, slots=True)
class RestartAllTrigger:
    """The container whose exit asked for every container of the pod to restart (KEP-5532)."""

    container: str
    exit_code: int
    finished_at: str | None
    rule: RestartRule


def restart_all_trigger(pod: Mapping[str, Any]) -> RestartAllTrigger | None:
    """The most recent termination whose exit code matched a `RestartAllContainers` rule, if any."""
    spec = pod.get("spec")
    status = pod.get("status")
    if not isinstance(spec, dict) or not isinstance(status, dict):
        return None
    candidates: list[RestartAllTrigger] = []
    for spec_key, status_key in (
        ("initContainers", "initContainerStatuses"),
        ("containers", "containerStatuses"),
    ):
        specs = spec.get(spec_key)
        if not isinstance(specs, list):
            continue
        with_rules = {
            c.get("name"): rules
            for c in specs
            if isinstance(c, dict) and c.get("restartPolicyRules") and (rules := restart_rules(c))
        }
        if not with_rules:
            continue
        for entry in status.get(status_key) or ():
            found = with_rules.get(entry.get("name")) if isinstance(entry, dict) else None
            if not found:
                continue
            for field in ("state", "lastState"):
                record = (entry.get(field) or {}).get("terminated")
                if not isinstance(record, dict):
                    continue
                code = record.get("exitCode")
                rule = matching_rule(found, code if isinstance(code, int) else None)
                if rule is not None and rule.action == RESTART_ALL and isinstance(code, int):
                    finished = record.get("finishedAt")
                    candidates.append(
                        RestartAllTrigger(
                            container=str(entry.get("name")),
                            exit_code=code,
                            finished_at=finished if isinstance(finished, str) else None,
                            rule=rule,
                        )
                    )
    if not candidates:
        return None
    return max(candidates, key=lambda trigger: trigger.finished_at or "")


def all_containers_restarting(status: Mapping[str, Any]) -> bool:
    """The pod condition `AllContainersRestarting` is True: a restart-all is under way right now."""
    for condition in status.get("conditions") or ():
        if (
            isinstance(condition, dict)
            and condition.get("type") == ALL_RESTARTING_CONDITION
            and condition.get("status") == "True"
        ):
            return True
    return False
