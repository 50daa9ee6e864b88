"""What a pod's Job did about its exit: the podFailurePolicy rule that acted, per-index back-off, success.

The Job controller decides with rules the diagnosis can read from the Job object it already fetches (the
owner chain), so no new RBAC: `spec.podFailurePolicy.rules[]` (`onExitCodes` / `onPodConditions`, actions
`FailJob`, `FailIndex`, `Ignore`, `Count`; stable since 1.31), `spec.backoffLimitPerIndex` and
`status.failedIndexes` (stable 1.33), `spec.successPolicy` with condition `SuccessCriteriaMet` (stable 1.33).
The rules are evaluated the way the controller does: in order, first match wins; an `onExitCodes`
requirement looks at containers that ended non-zero (optionally only `containerName`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.diagnosis.owners import find_owner
from bot.diagnosis.podjson import dig, integer, obj, objects, text
from bot.diagnosis.ports import JsonDict

_ACTION_WORDS = {
    "FailJob": "the Job failed at once, without further retries",
    "FailIndex": "this index was marked failed, without further retries of it",
    "Ignore": "the failure was not counted against the back-off limit; the Job replaces the pod",
    "Count": "the failure counts against the back-off limit, as by default",
}


@dataclass(frozen=True, slots=True)
class PolicyMatch:
    """The podFailurePolicy rule that matched this pod, and on what."""

    index: int
    action: str
    matched: str
    """`exit code 42 of container main (In [42])` or `pod condition DisruptionTarget`."""

    def describe(self) -> str:
        return f"podFailurePolicy rule {self.index} ({self.action}) matched {self.matched}"

    @property
    def outcome(self) -> str:
        return _ACTION_WORDS.get(self.action, f"action {self.action}")


@dataclass(frozen=True, slots=True)
class JobContext:
    """The pod's Job, as far as its failure handling goes."""

    name: str
    policy_match: PolicyMatch | None
    has_policy: bool
    backoff_limit_per_index: int | None
    failed_indexes: str | None
    success_met: bool
    conditions: dict[str, JsonDict]


def job_context(owner_objects: Iterable[JsonDict], pod: JsonDict) -> JobContext | None:
    """The pod's Job (from the owners the diagnosis already read), or None for a pod no Job owns."""
    job = find_owner(owner_objects, "Job")
    if job is None:
        return None
    spec = obj(job.get("spec"))
    status = obj(job.get("status"))
    rules = objects(dig(spec, "podFailurePolicy", "rules"))
    conditions = {
        kind: c
        for c in objects(status.get("conditions"))
        if (kind := text(c.get("type"))) and c.get("status") == "True"
    }
    success = "SuccessCriteriaMet" in conditions or text(conditions.get("Complete", {}).get("reason")) == (
        "SuccessPolicy"
    )
    return JobContext(
        name=text(dig(job, "metadata", "name")) or "?",
        policy_match=match_pod_failure_policy(rules, pod) if rules else None,
        has_policy=bool(rules),
        backoff_limit_per_index=integer(spec.get("backoffLimitPerIndex")),
        failed_indexes=text(status.get("failedIndexes")),
        success_met=success,
        conditions=conditions,
    )


def match_pod_failure_policy(rules: list[JsonDict], pod: JsonDict) -> PolicyMatch | None:
    """The first rule that matches the pod, as the Job controller evaluates them."""
    status = obj(pod.get("status"))
    ended = [
        (text(entry.get("name")) or "?", code)
        for field in ("initContainerStatuses", "containerStatuses")
        for entry in objects(status.get(field))
        if (code := integer(dig(entry, "state", "terminated", "exitCode"))) is not None and code != 0
    ]
    pod_conditions = {(text(c.get("type")), text(c.get("status"))) for c in objects(status.get("conditions"))}
    for index, rule in enumerate(rules):
        action = text(rule.get("action")) or "?"
        on_codes = rule.get("onExitCodes")
        if isinstance(on_codes, dict):
            wanted = text(on_codes.get("containerName"))
            operator = text(on_codes.get("operator"))
            values = [v for v in on_codes.get("values") or () if isinstance(v, int)]
            for name, code in ended:
                if wanted is not None and name != wanted:
                    continue
                if (operator == "In" and code in values) or (operator == "NotIn" and code not in values):
                    listed = ", ".join(str(v) for v in values)
                    return PolicyMatch(
                        index, action, f"exit code {code} of container {name} ({operator} [{listed}])"
                    )
            continue
        for pattern in objects(rule.get("onPodConditions")):
            kind = text(pattern.get("type"))
            if (kind, text(pattern.get("status")) or "True") in pod_conditions:
                return PolicyMatch(index, action, f"pod condition {kind}")
    return None


def policy_facts(context: JobContext, index: str | None) -> tuple[str, ...]:
    """Evidence lines: which rule acted and what the Job did; the per-index limit and failed indexes."""
    lines: list[str] = []
    match = context.policy_match
    if match is not None:
        lines.append(f"Job {context.name}: {match.describe()}: {match.outcome}")
    if context.backoff_limit_per_index is not None:
        where = f"index {index}" if index is not None else "each index"
        lines.append(
            f"Job spec.backoffLimitPerIndex = {context.backoff_limit_per_index}: "
            f"{where} is retried on its own"
        )
    if context.failed_indexes:
        failed = _in_ranges(index, context.failed_indexes) if index is not None else False
        lines.append(
            f"Job status.failedIndexes = {context.failed_indexes}"
            + (f" (includes this pod's index {index})" if failed else "")
        )
    return tuple(lines)


def _in_ranges(index: str, ranges: str) -> bool:
    """`3` in `1,3-5`: the compressed list the Job status uses."""
    if not index.isdigit():
        return False
    value = int(index)
    for part in ranges.split(","):
        low, _, high = part.strip().partition("-")
        if low.isdigit() and (high.isdigit() or not high) and int(low) <= value <= int(high or low):
            return True
    return False


def job_stop_reason(context: JobContext | None) -> str | None:
    """Why the Job controller deleted a still-running pod: success policy met, or the Job failed."""
    if context is None:
        return None
    if context.success_met:
        return f"deleted by the Job controller: Job {context.name} met its successPolicy, so the rest stop"
    target = context.conditions.get("FailureTarget") or context.conditions.get("Failed")
    if target is not None:
        reason = text(target.get("reason")) or "failed"
        return f"deleted by the Job controller: Job {context.name} failed ({reason}), so its other pods stop"
    return None
