"""Containers that ended on their own: could not start, wrong architecture, runtime heap OOM, Go panic,
native crashes (139/134/135/132/136) and application errors.

The log tail and the termination message are read as corroborating evidence: a 139 whose log says
"Segmentation fault" is a surer story than a bare 139 (which a program can also `exit(139)` with).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.diagnosis.facts import PodFacts, last_error_line
from bot.diagnosis.findings import Finding, event_fact, quote, termination_facts
from bot.diagnosis.model import ContainerReport, TerminationInfo
from bot.diagnosis.stops import EVENTS_STEP, LOGS_STEP
from bot.diagnosis.textscan import fold, may_match, needing, newlines_only
from bot.knowledge.explanation import RunbookStep

START_FAILURE_REASONS = frozenset({"StartError", "ContainerCannotRun", "RunContainerError"})
START_ERROR_CODE = 128
# Each pattern with the words any match of it contains (see `bot.diagnosis.textscan`).
_EXEC_FORMAT = needing(re.compile(r"exec format error", re.IGNORECASE), "exec format error")
_NOT_FOUND = needing(
    re.compile(r"executable file not found|no such file or directory", re.IGNORECASE),
    "executable file not found",
    "no such file or directory",
)
_PERMISSION = needing(re.compile(r"permission denied", re.IGNORECASE), "permission denied")
_SHARED_LIBRARY = needing(
    re.compile(r"error while loading shared libraries", re.IGNORECASE), "error while loading shared libraries"
)
_COMMAND_NOT_FOUND = needing(
    re.compile(r"not found|no such file|required file not found", re.IGNORECASE), "not found", "no such file"
)
_GO_PANIC = needing(
    re.compile(r"^panic: |^fatal error: |^goroutine \d+ \[", re.MULTILINE),
    "panic: ",
    "fatal error: ",
    "goroutine ",
)
_USAGE = needing(
    re.compile(r"^usage: |unrecognized arguments|unknown (?:flag|option)", re.IGNORECASE | re.MULTILINE),
    "usage: ",
    "unrecognized arguments",
    "unknown flag",
    "unknown option",
)

_ARCH_STEPS = (
    RunbookStep(
        "Compare the node's CPU architecture with the platforms the image was built for",
        "kubectl get node {node} -L kubernetes.io/arch",
    ),
    RunbookStep(
        "Build a multi-arch image (docker buildx build --platform linux/amd64,linux/arm64) or pin the pod "
        "to matching nodes with a nodeSelector on kubernetes.io/arch"
    ),
)
_ENTRYPOINT_STEPS = (
    RunbookStep(
        "Compare the pod's command/args with the image's ENTRYPOINT/CMD and check the binary exists "
        "and is executable in the image",
        "kubectl -n {namespace} get pod {pod} -o jsonpath='{.spec.containers[*].command}'",
    ),
    RunbookStep(
        "Look inside the same image with a shell",
        "kubectl -n {namespace} debug -it {pod} --copy-to={pod}-debug --container={container} -- sh",
    ),
)
_TERMINATION_MESSAGE_STEP = RunbookStep(
    "Set terminationMessagePolicy: FallbackToLogsOnError so the reason shows in the pod status next time"
)


@dataclass(frozen=True, slots=True)
class HeapSignature:
    """How a language runtime says it ran out of its own heap (not the kernel's OOM killer)."""

    runtime: str
    pattern: re.Pattern[str]
    fix: str


HEAP_SIGNATURES = (
    HeapSignature(
        "Node.js",
        needing(re.compile(r"JavaScript heap out of memory"), "JavaScript heap out of memory"),
        "raise --max-old-space-size (keep it below the container limit) or find the leak",
    ),
    HeapSignature(
        "JVM",
        needing(re.compile(r"java\.lang\.OutOfMemoryError"), "java.lang.OutOfMemoryError"),
        "raise -Xmx / -XX:MaxRAMPercentage (keep it below the container limit) or find the leak "
        "(-XX:+HeapDumpOnOutOfMemoryError)",
    ),
    HeapSignature(
        "Go runtime",
        needing(re.compile(r"fatal error: runtime: out of memory"), "fatal error: runtime: out of memory"),
        "lower memory use or set GOMEMLIMIT, and check ulimits",
    ),
    HeapSignature(
        "Python",
        needing(re.compile(r"^MemoryError", re.MULTILINE), "MemoryError"),
        "lower memory use or find the leak",
    ),
)


@dataclass(frozen=True, slots=True)
class NativeCrash:
    """A signal death in native code, with the log words that corroborate it."""

    cause: str
    headline: str
    corroboration: re.Pattern[str]
    step: RunbookStep


NATIVE_CRASHES = {
    139: NativeCrash(
        "segfault",
        "Segmentation fault (SIGSEGV, 139): an invalid memory access in native code",
        needing(
            re.compile(r"segmentation fault|sigsegv|core dumped|\[bug\]", re.IGNORECASE),
            "segmentation fault",
            "sigsegv",
            "core dumped",
            "[bug]",
        ),
        RunbookStep(
            "Look for a crash report in the log (a native library, a C extension, glibc vs musl); if the app "
            "is PID 1, an abort() or a runtime fatal error also shows up as 139"
        ),
    ),
    134: NativeCrash(
        "abort",
        "Aborted (SIGABRT, 134): the program called abort() — a failed assertion, heap corruption or a "
        "runtime fatal error",
        needing(
            re.compile(r"abort|assertion|double free|corrupted|fatal error|hs_err", re.IGNORECASE),
            "abort",
            "assertion",
            "double free",
            "corrupted",
            "fatal error",
            "hs_err",
        ),
        RunbookStep("Look for the assertion or the runtime's fatal error just before the end of the log"),
    ),
    135: NativeCrash(
        "bus_error",
        "Bus error (SIGBUS, 135): usually /dev/shm too small for shared memory, or a truncated "
        "memory-mapped file",
        needing(
            re.compile(r"bus error|sigbus|shared memory|/dev/shm", re.IGNORECASE),
            "bus error",
            "sigbus",
            "shared memory",
            "/dev/shm",  # noqa: S108 - a word looked for in a log, not a path the bot uses
        ),
        RunbookStep("Give the pod more shared memory: mount an emptyDir with medium: Memory at /dev/shm"),
    ),
    132: NativeCrash(
        "illegal_instruction",
        "Illegal instruction (SIGILL, 132): the binary uses CPU features this node lacks (AVX, AVX-512)",
        needing(
            re.compile(
                r"illegal instruction|sigill|instructions, but these aren't available|avx", re.IGNORECASE
            ),
            "illegal instruction",
            "sigill",
            "instructions, but these aren't available",
            "avx",
        ),
        RunbookStep(
            "Check the node's CPU flags, then use a build for a baseline CPU or schedule on newer nodes",
            "kubectl debug node/{node} -it --image=busybox -- grep -m1 flags /proc/cpuinfo",
        ),
    ),
    136: NativeCrash(
        "arithmetic_error",
        "Arithmetic exception (SIGFPE, 136): an integer division by zero in native code",
        needing(
            re.compile(r"floating point exception|division by zero|divide by zero|sigfpe", re.IGNORECASE),
            "floating point exception",
            "division by zero",
            "divide by zero",
            "sigfpe",
        ),
        RunbookStep("Find the division in the code path the log points at"),
    ),
}


def short_meaning(title: str) -> str:
    """The knowledge base's title without its arithmetic: `1 → general error` gives `general error`."""
    return title.rsplit("→", 1)[-1].strip() or title


def _lines_of(
    facts: PodFacts, report: ContainerReport, termination: TerminationInfo
) -> tuple[str, str | None]:
    """Everything the container said about its end (termination message, then the log tail), and that
    text folded for word tests (`textscan.fold`): joined and folded once per termination, however many
    rules read it."""
    key = ("texts", report.name, termination.source)
    found = facts.memo.get(key)
    if not isinstance(found, tuple):
        message = termination.message
        log = facts.log(report.name)
        joined = f"{message}\n{log}" if message and log else message or log
        found = facts.memo[key] = (joined, fold(joined))
    return found


_WHOLE_TEXT: dict[int, re.Pattern[str]] = {}
"""MULTILINE twins of the patterns, by `id` (the patterns are module constants; hashing a `re.Pattern`
walks its compiled program)."""


def _matching_line(pattern: re.Pattern[str], text: str, folded: str | None) -> str | None:
    """The first line (stripped) that `pattern` finds something in (`folded` is `textscan.fold(text)`).

    Most texts match nothing: the pattern's words rule that out first (`textscan.may_match`), then one
    search of the whole text with the pattern in MULTILINE mode (where `^`/`$` hold at every newline, as
    they do per line) before any line is split; a text with other line breaks (`splitlines` splits on
    those too) always takes the line-by-line path.
    """
    if not may_match(pattern, text, folded):
        return None
    whole = _WHOLE_TEXT.get(id(pattern))
    if whole is None:
        whole = _WHOLE_TEXT[id(pattern)] = re.compile(pattern.pattern, pattern.flags | re.MULTILINE)
    if newlines_only(text) and whole.search(text) is None:
        return None
    for line in text.splitlines():
        if pattern.search(line):
            return line.strip()
    return None


def _failure_messages(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> str:
    """The termination message plus the kubelet's Failed events: where start errors are spelled out."""
    failed = facts.container_events(report.name, ("Failed",), termination)
    return "\n".join([termination.message or "", *(event.message for event in failed)])


def start_failure(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> Finding | None:
    """The runtime could not start the process: StartError/128, ContainerCannotRun/126-128."""
    if termination.reason not in START_FAILURE_REASONS and termination.exit_code != START_ERROR_CODE:
        return None
    message = _failure_messages(facts, report, termination)
    evidence = list(termination_facts(termination))
    if not termination.message:
        failed = facts.container_events(report.name, ("Failed",), termination)
        evidence.extend(event_fact(event) for event in failed[:1])
    if termination.started_at is None:
        evidence.append("startedAt is empty or the Unix epoch: the process never ran")
    sure = termination.reason in START_FAILURE_REASONS
    if _EXEC_FORMAT.search(message):
        return _exec_format(report, termination, evidence)
    if _PERMISSION.search(message):
        return Finding(
            cause="entrypoint_permission_denied",
            headline="The container never started: its entrypoint is not executable (permission denied)",
            confidence="high",
            evidence=tuple(evidence),
            steps=(
                RunbookStep(
                    "Make the file executable in the image (chmod +x in the Dockerfile) and check "
                    "noexec mounts, runAsUser and volumeMounts that hide it"
                ),
                *_ENTRYPOINT_STEPS,
            ),
            container=report.name,
            exit_code=termination.exit_code,
            reason_key=termination.reason,
        )
    if _NOT_FOUND.search(message):
        return Finding(
            cause="entrypoint_not_found",
            headline="The container never started: its command does not exist in the image "
            "(wrong path, typo, or a volume mounted over it)",
            confidence="high",
            evidence=tuple(evidence),
            steps=_ENTRYPOINT_STEPS,
            container=report.name,
            exit_code=termination.exit_code,
            reason_key=termination.reason,
        )
    return Finding(
        cause="start_error",
        headline="The container runtime could not start the container; its message says why",
        confidence="high" if sure else "medium",
        evidence=tuple(evidence),
        steps=(*_ENTRYPOINT_STEPS, EVENTS_STEP),
        container=report.name,
        exit_code=termination.exit_code,
        reason_key=termination.reason,
    )


def exec_format(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> Finding | None:
    """`exec … exec format error` in the log: a wrong-architecture image (exit 1 on runc ≤1.1, else 255)."""
    line = _matching_line(_EXEC_FORMAT, *_lines_of(facts, report, termination))
    if line is None:
        return None
    evidence = [*termination_facts(termination), f"log: “{quote(line)}”"]
    if facts.node:
        evidence.append(f"node = {facts.node}")
    return _exec_format(report, termination, evidence)


def _exec_format(report: ContainerReport, termination: TerminationInfo, evidence: list[str]) -> Finding:
    image = f" ({report.image})" if report.image else ""
    return Finding(
        cause="exec_format_error",
        headline=f"Wrong CPU architecture: the image's binary{image} cannot run on this node "
        f"(exec format error, exit {termination.exit_code})",
        confidence="high",
        evidence=tuple(evidence),
        steps=_ARCH_STEPS,
        container=report.name,
        exit_code=termination.exit_code,
    )


def runtime_heap_oom(
    facts: PodFacts, report: ContainerReport, termination: TerminationInfo
) -> Finding | None:
    """A language runtime ran out of its own heap and exited: not a kernel OOM kill."""
    text, folded = _lines_of(facts, report, termination)
    for signature in HEAP_SIGNATURES:
        line = _matching_line(signature.pattern, text, folded)
        if line is None:
            continue
        limit = f"; the container's memory limit is {report.memory_limit}" if report.memory_limit else ""
        evidence = [*termination_facts(termination), f"log: “{quote(line)}”"]
        if report.memory_limit:
            evidence.append(f"limits.memory = {report.memory_limit}")
        return Finding(
            cause="runtime_heap_oom",
            headline=f"The {signature.runtime} ran out of its own heap and exited {termination.exit_code}: "
            f"not the kernel's OOM killer{limit}",
            confidence="high",
            evidence=tuple(evidence),
            steps=(RunbookStep(f"Size the heap: {signature.fix}"), LOGS_STEP),
            container=report.name,
            exit_code=termination.exit_code,
        )
    return None


def go_panic(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> Finding | None:
    """Exit 2 with a Go panic or fatal error in the log (Go turns SIGSEGV into a panic: 2, not 139)."""
    if termination.exit_code != 2:
        return None
    log = facts.log(report.name)
    match = _GO_PANIC.search(log) if may_match(_GO_PANIC, log, None) else None
    if match is None:
        return None
    line = log[match.start() :].splitlines()[0]
    return Finding(
        cause="go_panic",
        headline="Go panic: the program crashed with an unrecovered panic or runtime fatal error (exit 2)",
        confidence="high",
        evidence=(*termination_facts(termination), f"log: “{quote(line)}”"),
        steps=(
            RunbookStep(
                "Read the panic message and the first goroutine's stack to find the failing line",
                "kubectl -n {namespace} logs {pod} -c {container} --previous --tail=80",
            ),
        ),
        container=report.name,
        exit_code=2,
    )


def native_crash(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> Finding | None:
    """139/134/135/132/136: a signal death in native code, surer when the log says so."""
    crash = NATIVE_CRASHES.get(termination.exit_code)
    if crash is None:
        return None
    line = _matching_line(crash.corroboration, *_lines_of(facts, report, termination))
    evidence = list(termination_facts(termination))
    if line:
        evidence.append(f"log: “{quote(line)}”")
    else:
        evidence.append(
            "nothing in the log tail confirms the signal (a program can also exit with this code)"
        )
    return Finding(
        cause=crash.cause,
        headline=crash.headline,
        confidence="high" if line else "medium",
        evidence=tuple(evidence),
        steps=(crash.step, LOGS_STEP),
        container=report.name,
        exit_code=termination.exit_code,
    )


def command_problem(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> Finding | None:
    """126 (found but not executable) and 127 (not found, or a missing shared library)."""
    code = termination.exit_code
    if code not in (126, 127):
        return None
    text, folded = _lines_of(facts, report, termination)
    evidence = list(termination_facts(termination))
    if code == 126:
        line = _matching_line(_PERMISSION, text, folded)
        if line:
            evidence.append(f"log: “{quote(line)}”")
        return Finding(
            cause="entrypoint_permission_denied",
            headline="A command was found but could not be executed (126: permission denied, a directory, or "
            "a noexec mount)",
            confidence="high" if line else "medium",
            evidence=tuple(evidence),
            steps=_ENTRYPOINT_STEPS,
            container=report.name,
            exit_code=code,
        )
    library = _matching_line(_SHARED_LIBRARY, text, folded)
    line = library or _matching_line(_COMMAND_NOT_FOUND, text, folded)
    if line:
        evidence.append(f"log: “{quote(line)}”")
    what = (
        "a shared library the program needs is missing from the image"
        if library
        else ("a command run by the shell wrapper or entrypoint script is not installed or not on PATH")
    )
    return Finding(
        cause="command_not_found",
        headline=f"Command not found (127): {what}",
        confidence="high" if line else "medium",
        evidence=tuple(evidence),
        steps=_ENTRYPOINT_STEPS,
        container=report.name,
        exit_code=code,
    )


def app_error(facts: PodFacts, report: ContainerReport, termination: TerminationInfo) -> Finding:
    """The application chose to exit non-zero: the log tail and the termination message say why."""
    code = termination.exit_code
    log = facts.log(report.name)
    evidence = list(termination_facts(termination))
    line = last_error_line(log)
    if line:
        evidence.append(f"last error in the log: “{quote(line)}”")
    if report.restart_count:
        evidence.append(f"restartCount = {report.restart_count}")
    said = bool(line or termination.message)
    if not said:
        evidence.append("no log tail and no termination message to say why")
    if termination.signal is not None and termination.exit_code == 128 + termination.signal.number:
        return Finding(
            cause="signal_exit",
            headline=f"Ended by {termination.signal.name} ({code} = 128 + {termination.signal.number}): "
            f"{termination.signal.description}",
            confidence="medium",
            evidence=tuple(evidence),
            steps=(EVENTS_STEP, LOGS_STEP),
            container=report.name,
            exit_code=code,
        )
    if code == 2 and may_match(_USAGE, log, fold(log)) and _USAGE.search(log):
        headline = "The program rejected its command line (exit 2, usage error): check the container's args"
    else:
        headline = f"The application exited with {code} — {short_meaning(termination.meaning_title)}"
        headline += " — and its last log lines say why" if said else ""
    return Finding(
        cause="app_error",
        headline=headline,
        confidence="medium" if said else "low",
        evidence=tuple(evidence),
        steps=(LOGS_STEP, _TERMINATION_MESSAGE_STEP),
        container=report.name,
        exit_code=code,
    )
