"""A rule's conclusion before it becomes a `Verdict`, and the wording of quoted evidence.

Evidence is always a quote of a real value with the field it came from
(`lastState.terminated.reason = OOMKilled`, `event Unhealthy ×5: Liveness probe failed: …`), so an
engineer can check every claim against `kubectl describe` output.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.diagnosis.frozen import positional
from bot.diagnosis.model import Confidence, EventSummary, TerminationInfo
from bot.knowledge.explanation import RunbookStep

MAX_QUOTE = 300
"""Longer quoted values (event messages, log lines) are cut: evidence is a pointer, not the source."""


@dataclass(slots=True)
class Finding:
    """What a rule concluded. `reason_key` names the knowledge-base reason whose runbook applies
    (OOMKilled, Evicted, …); without one the exit code's runbook is used.

    Treated as immutable (`adding` and `but` return copies) but not `frozen`: rules build several per
    diagnosis and a frozen dataclass pays for every field it sets."""

    cause: str
    headline: str
    confidence: Confidence
    evidence: tuple[str, ...]
    steps: tuple[RunbookStep, ...] = ()
    container: str | None = None
    exit_code: int | None = None
    reason_key: str | None = None
    underlying: str | None = None
    is_failure: bool = True

    def adding(self, *, evidence: tuple[str, ...] = (), steps: tuple[RunbookStep, ...] = ()) -> Finding:
        if not evidence and not steps:
            return self
        return self.but(evidence=self.evidence + evidence, steps=self.steps + steps)

    def but(
        self,
        *,
        cause: str | None = None,
        headline: str | None = None,
        confidence: Confidence | None = None,
        evidence: tuple[str, ...] | None = None,
        steps: tuple[RunbookStep, ...] | None = None,
        underlying: str | None = None,
    ) -> Finding:
        """A copy with some fields changed (`dataclasses.replace` without its per-call introspection:
        every diagnosis makes a few of these, so it shows in the diagnosis benchmark)."""
        return _FINDING(
            self.cause if cause is None else cause,
            self.headline if headline is None else headline,
            self.confidence if confidence is None else confidence,
            self.evidence if evidence is None else evidence,
            self.steps if steps is None else steps,
            self.container,
            self.exit_code,
            self.reason_key,
            self.underlying if underlying is None else underlying,
            self.is_failure,
        )


_FINDING = positional(
    Finding,
    "cause",
    "headline",
    "confidence",
    "evidence",
    "steps",
    "container",
    "exit_code",
    "reason_key",
    "underlying",
    "is_failure",
)
"""`Finding`, built positionally by `Finding.but` (see `frozen.positional`)."""


def quote(value: str, limit: int = MAX_QUOTE) -> str:
    """One line of untrusted text, whitespace collapsed, cut at `limit` characters."""
    line = " ".join(value.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def exit_fact(termination: TerminationInfo) -> str:
    """`lastState.terminated.exitCode = 137 (128 + 9 = SIGKILL)`."""
    fact = f"{termination.source}.exitCode = {termination.exit_code}"
    signal = termination.signal
    if signal is not None and termination.exit_code == 128 + signal.number:
        fact += f" (128 + {signal.number} = {signal.name})"
    return fact


def reason_fact(termination: TerminationInfo) -> str | None:
    if termination.reason is None:
        return None
    return f"{termination.source}.reason = {termination.reason}"


def message_fact(termination: TerminationInfo) -> str | None:
    if termination.message is None:
        return None
    return f"{termination.source}.message = “{quote(termination.message)}”"


def event_fact(event: EventSummary) -> str:
    """`event Unhealthy ×5: Liveness probe failed: …` (the count only when it repeated)."""
    times = f" ×{event.count}" if event.count > 1 else ""
    where = f" on node {event.object_name}" if event.object_kind == "Node" else ""
    return f"event {event.reason}{times}{where}: {quote(event.message)}"


def termination_facts(termination: TerminationInfo) -> tuple[str, ...]:
    """The exit code, reason and message of a termination, as evidence lines."""
    facts = [exit_fact(termination)]
    for fact in (reason_fact(termination), message_fact(termination)):
        if fact is not None:
            facts.append(fact)
    return tuple(facts)


def ran_for_fact(termination: TerminationInfo) -> str | None:
    ran = termination.ran_for
    return f"it ran for {duration(ran)} before it ended" if ran is not None else None


def duration(span: timedelta) -> str:
    """`45s`, `3m12s`, `2h05m`, `3d4h`: compact, the way kubectl prints ages."""
    seconds = int(span.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s" if seconds else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def stamp(moment: datetime) -> str:
    """An API-style UTC timestamp (`2025-06-12T03:07:41Z`), as kubectl and the JSON show it.

    `isoformat` (one C call) instead of `strftime` (which goes through the C library's formatter and
    costs several times more, on every diagnosis that quotes a time); the same text for years 1000–9999,
    and every API timestamp is in that range (`podjson.timestamp` drops the zero epoch)."""
    utc = moment.astimezone(UTC)
    if utc.year < _FOUR_DIGIT_YEAR:
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return utc.isoformat(timespec="seconds")[:19] + "Z"


_FOUR_DIGIT_YEAR = 1000


def first_lower(sentence: str) -> str:
    """Lower-case the first letter so a headline can follow a colon (but keep `OOMKilled`, `Go`)."""
    if len(sentence) > 1 and sentence[0].isupper() and sentence[1].islower():
        return sentence[0].lower() + sentence[1:]
    return sentence


def contradiction_fact(termination: TerminationInfo) -> str | None:
    """When the reason and the exit code tell different stories, say so and what each half proves.

    The exit code is the process's own status (or 128 + the signal that killed it); the reason is the
    runtime's label, derived separately (containerd's OOMKilled comes from a cumulative cgroup counter,
    kubernetes PR #140718), so the two can disagree and neither may be silently dropped.
    """
    code = termination.exit_code
    reason = termination.reason
    if reason == "OOMKilled" and code != 128 + 9:
        return (
            f"reason and exit code disagree: OOMKilled proves the kernel OOM-killed some process in this "
            f"container's cgroup (the runtime's counter is cumulative: a child, maybe earlier); exit {code} "
            f"proves the main process itself {_how_it_ended(code)}, so it was not the OOM victim"
        )
    if reason == "Completed" and code != 0:
        return (
            f"reason and exit code disagree: Completed is the runtime's label for a clean exit, but exit "
            f"{code} is the process's own status and proves it did not succeed; trust the code"
        )
    if reason == "Error" and code == 0:
        return (
            "reason and exit code disagree: Error says the runtime or kubelet recorded a failure, but exit 0 "
            "proves the process itself ended successfully; look at the events for what failed around it"
        )
    return None


def _how_it_ended(code: int) -> str:
    if code == 0:
        return "exited cleanly (0)"
    if code == 128 + 15:
        return "ended on SIGTERM (143)"
    return f"exited with {code}"
