"""The buttons on a crash alert: Re-diagnose, Previous logs, Snooze 1 h / 24 h (and Unsnooze on a snoozed
alert), I'm on it, Runbook.

Each click is acknowledged at once (Slack wants an answer within 3 seconds) and the work continues in a
background task. Results that concern everyone in the channel (a fresh diagnosis, the logs, the runbook
steps, a snooze) go into the alert's thread; a problem only the clicker needs to know about (the pod is
gone, RBAC forbids reading logs, the button's data is unreadable) goes back to them privately through
the click's `response_url`. Whatever happens, the clicker gets an answer, never silence.

The button `value` comes back from the client as untrusted input (issue 14). Before any work, every click
passes the same gate: the value parses (`AlertTarget.from_value`), it is the value of that button on the
very alert message the click came from (`click_guard.bound_to_message`), and `NamespaceAccess.refusal`
allows it: valid Kubernetes names, `ALLOWED_NAMESPACES`, and the channel map of `CONFIG_FILE` for the
channel where the button was clicked — the same rules and sentences as `/exitcode pod`. A second
identical click within a minute answers "already done" instead of repeating the work.

Snooze, Unsnooze and "I'm on it" are decisions (`bot.alerting.decisions`): made at the click's own time,
stored in the ledger before the alert shows them (edited in place), the latest one winning on every
replica; the same click handled twice, or a second click of the same button on the same alert found in
the ledger, answers "already done" and writes nothing.

When a read fails, the reply names the likely cause and the next command (`explain_log_failure`); a
Re-diagnose of a pod that was replaced diagnoses the workload's current pod instead, and says so.

Register with `register_alert_actions(app, AlertActions(...))` after `build_app(...)`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import NamespaceAccess, SlackChannel
from bot.alerting.decisions import Decided, OwnerDecided, click_digest
from bot.alerting.ledger_state import Snooze
from bot.alerting.termination import Workload
from bot.command import DEFAULT_SLASH_COMMAND
from bot.diagnosis.model import Diagnosis
from bot.diagnosis.ports import (
    ClusterError,
    NotFound,
)
from bot.diagnosis.triage import select_pods_by_prefix, workload_ref
from bot.knowledge.explanation import Explanation
from bot.render.alert_blocks import (
    ACK_ACTION_ID,
    LOGS_ACTION_ID,
    OWNER_BLOCK_ID,
    REDIAGNOSE_ACTION_ID,
    RUNBOOK_LINK_ACTION_ID,
    RUNBOOK_STEPS_ACTION_ID,
    SNOOZE_ACTION_IDS,
    SNOOZE_BLOCK_ID,
    UNSNOOZE_ACTION_ID,
    UNSNOOZE_BLOCK_ID,
    AlertTarget,
    lifted_note,
    owner_note,
    snooze_blocks,
    with_notes,
)
from bot.render.alert_text import utc
from bot.render.blocks import reply_blocks, reply_fallback_text
from bot.render.diagnosis_blocks import diagnosis_blocks, diagnosis_fallback_text
from bot.render.limits import Block, context, fit_blocks, section
from bot.render.mrkdwn import bold, escape, inline_code
from bot.slack.alert_logs import LogReader, PodReader, log_sections, read_alert_log
from bot.slack.click_guard import ClickKey, EarlierClick, RecentClicks, bound_to_message
from bot.slack.responder import Responder
from bot.slack.tasks import BackgroundTasks

__all__ = [
    "AlertActions",
    "LogReader",
    "OwnerStore",
    "PodDiagnoser",
    "PodReader",
    "RunbookSource",
    "SnoozeStore",
    "register_alert_actions",
]

log = logging.getLogger(__name__)

PodDiagnoser = Callable[[str, str], Awaitable[Diagnosis]]
"""`(namespace, pod) -> Diagnosis` of the live pod; raises `ClusterError` with a user-facing sentence."""

_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_UNREADABLE = "This button's data could not be read, so nothing was done. Try `/exitcode pod NAMESPACE/POD`."
_UNBOUND = (
    "This button's data does not match the alert it is on, so nothing was done. "
    "Try `/exitcode pod NAMESPACE/POD`."
)
_ACTION_NAMES = {
    REDIAGNOSE_ACTION_ID: "Re-diagnose",
    LOGS_ACTION_ID: "Previous logs",
    RUNBOOK_STEPS_ACTION_ID: "Runbook steps",
    UNSNOOZE_ACTION_ID: "Unsnooze",
    ACK_ACTION_ID: "I'm on it",
    **{action_id: f"Snooze {hours} h" for action_id, hours in SNOOZE_ACTION_IDS.items()},
}
_ON_THE_ALERT = {UNSNOOZE_ACTION_ID, ACK_ACTION_ID, *SNOOZE_ACTION_IDS}
"""Buttons whose result shows on the alert itself rather than in its thread."""
_CLICK_CLOCK_SKEW = 300.0
"""A click's own time (`action_ts`) is trusted within Slack's signature window, else the clock is."""


class SnoozeStore(Protocol):
    """Where snoozes are kept (the alert ledger); the watcher honours them. Each call is a decision
    (`bot.alerting.decisions`): `Decided.already` means it was made already and nothing was written."""

    async def snooze(
        self,
        namespace: str,
        workload: Workload,
        until: float,
        *,
        by: str | None = None,
        at: float = 0.0,
        via: str | None = None,
    ) -> Decided: ...

    async def lift(
        self, namespace: str, workload: Workload, *, now: float, by: str | None, via: str | None
    ) -> Decided: ...


class OwnerStore(Protocol):
    """Where an incident's owner is kept (the alert ledger)."""

    async def claim(self, channel: str, root_ts: str, *, user: str, at: float, via: str) -> OwnerDecided: ...


class RunbookSource(Protocol):
    """The part of the knowledge base the Runbook button needs."""

    def explain_code(self, code: int) -> Explanation: ...

    def explain_reason(self, name: str) -> Explanation | None: ...


@dataclass(frozen=True, slots=True)
class _Click:
    """One button click, with what the handlers need from Slack's payload."""

    target: AlertTarget | None
    value: str
    action_id: str
    channel_id: str | None
    channel_name: str | None
    message_ts: str | None
    thread_ts: str | None
    user_id: str | None
    message: dict[str, Any] | None
    responder: Responder
    action_ts: float | None = None
    """When the user clicked, as Slack says (inside the signed request); see `at`."""

    @classmethod
    def read(cls, body: dict[str, Any]) -> _Click:
        action = _mapping((body.get("actions") or [{}])[0])
        value = str(action.get("value") or "")
        try:
            target: AlertTarget | None = AlertTarget.from_value(value)
        except ValueError:
            target = None
        container = _mapping(body.get("container"))
        channel = _mapping(body.get("channel"))
        message = body.get("message") if isinstance(body.get("message"), dict) else None
        message_ts = _text(container.get("message_ts")) or (_text(message.get("ts")) if message else None)
        thread_ts = (_text(message.get("thread_ts")) if message else None) or message_ts
        user = _mapping(body.get("user"))
        user_id = _text(user.get("id"))
        return cls(
            target=target,
            value=value,
            action_id=str(action.get("action_id") or ""),
            channel_id=_text(container.get("channel_id")) or _text(channel.get("id")),
            channel_name=_text(channel.get("name")),
            message_ts=message_ts,
            thread_ts=thread_ts,
            user_id=user_id if user_id and _SLACK_USER_ID.match(user_id) else None,
            message=message,
            responder=Responder(_text(body.get("response_url"))),
            action_ts=_seconds(action.get("action_ts")),
        )

    def at(self, now: float) -> float:
        """The decision's time: the click's own, so the same click handled twice (two replicas, a
        retry) makes the same decision; the clock's when Slack's is missing or implausible."""
        if self.action_ts is not None and abs(self.action_ts - now) <= _CLICK_CLOCK_SKEW:
            return self.action_ts
        return now

    @property
    def via(self) -> str:
        """Which button on which alert (`bot.alerting.decisions.click_digest`)."""
        return click_digest(self.action_id, self.channel_id or "", self.message_ts or "", self.value)

    @property
    def by(self) -> str:
        return f" (asked by <@{self.user_id}>)" if self.user_id else ""

    @property
    def key(self) -> ClickKey:
        return (self.action_id, self.channel_id or "", self.message_ts or "", self.value)


@dataclass
class AlertActions:
    """The handlers; each dependency is optional, and a missing one is said, not crashed on."""

    knowledge: RunbookSource
    tasks: BackgroundTasks
    diagnose_pod: PodDiagnoser | None = None
    logs: LogReader | None = None
    snoozes: SnoozeStore | None = None
    owners: OwnerStore | None = None
    """Where "I'm on it" is recorded (the same ledger store as `snoozes`, in the bot)."""
    log_lines: int = 100
    clock: Callable[[], float] = time.time
    on_error: Callable[[str], None] = field(default=lambda _site: None)
    access: NamespaceAccess = field(default_factory=NamespaceAccess)
    """ALLOWED_NAMESPACES and the channel map: the same policy object `/exitcode pod` uses."""
    recent: RecentClicks = field(default_factory=RecentClicks)
    slash_command: str = DEFAULT_SLASH_COMMAND
    """SLASH_COMMAND: the name the runbook reply tells people to type."""

    # --- listeners (acknowledge, then work in the background) ---------------------------------------

    async def on_rediagnose(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        self._spawn(self._rediagnose, body, client, "alert-rediagnose")

    async def on_logs(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        self._spawn(self._previous_logs, body, client, "alert-logs")

    async def on_snooze(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        self._spawn(self._snooze, body, client, "alert-snooze")

    async def on_unsnooze(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        self._spawn(self._unsnooze, body, client, "alert-unsnooze")

    async def on_ack(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        self._spawn(self._acknowledge, body, client, "alert-ack")

    async def on_runbook_steps(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        self._spawn(self._runbook_steps, body, client, "alert-runbook")

    async def on_runbook_link(self, ack: AsyncAck) -> None:
        """Slack sends an action for a link button too; opening the link is the browser's job."""
        await ack()

    def _spawn(
        self,
        work: Callable[[_Click, AsyncWebClient], Awaitable[bool]],
        body: dict[str, Any],
        client: AsyncWebClient,
        name: str,
    ) -> None:
        click = _Click.read(body)

        async def run() -> None:
            claimed = False
            try:
                refusal = self._refusal(click)
                if refusal is not None:
                    log.info("refused the %s button of %s: %s", click.action_id, click.user_id, refusal)
                    await click.responder.send(refusal, replace_original=False)
                    return
                earlier = self.recent.claim(click.key, click.user_id)
                if earlier is not None:
                    await click.responder.send(self._already(click, earlier), replace_original=False)
                    return
                claimed = True
                if await work(click, client):
                    self.recent.finished(click.key)
                else:
                    self.recent.forget(click.key)  # nothing was done: the next click tries again
            except Exception:
                if claimed:
                    self.recent.forget(click.key)
                log.exception("the %s button failed", click.action_id)
                self.on_error(name)
                await click.responder.send(
                    "Sorry, that did not work; it has been logged. Please try again.", replace_original=False
                )

        self.tasks.spawn(run(), name=name)

    def _refusal(self, click: _Click) -> str | None:
        """The one gate of every button (see the module docstring); None when the click may proceed."""
        target = click.target
        if target is None:
            return _UNREADABLE
        if not bound_to_message(click.action_id, click.value, click.message):
            return _UNBOUND
        try:
            names = [target.container, Workload.parse(target.workload).name]
        except ValueError:
            return _UNREADABLE
        if target.node:
            names.append(target.node)
        channel = SlackChannel(click.channel_id, click.channel_name) if click.channel_id else None
        if channel is None:
            return _UNREADABLE
        refusal = self.access.refusal(target.namespace, channel, pod=target.pod, other_names=names)
        return f":no_entry: {escape(refusal)}" if refusal is not None else None

    def _already(self, click: _Click, earlier: EarlierClick) -> str:
        action = _ACTION_NAMES.get(click.action_id, "This button")
        who = f"<@{earlier.user_id}>" if earlier.user_id else "someone"
        ago = self.recent.seconds_ago(earlier)
        where = (
            "the alert shows it"
            if click.action_id in _ON_THE_ALERT
            else "the answer is in the alert's thread"
        )
        if earlier.finished:
            return f"Already done: {who} clicked {bold(action)} on this alert {ago} s ago; {where}."
        return (
            f"Already in progress: {who} clicked {bold(action)} on this alert {ago} s ago; "
            "the answer is coming."
        )

    # --- the work (each returns True when it delivered its result) ------------------------------------

    async def _rediagnose(self, click: _Click, client: AsyncWebClient) -> bool:
        target = _checked(click)
        if self.diagnose_pod is None:
            await click.responder.send(
                "Cluster diagnosis is not configured for this bot.", replace_original=False
            )
            return False
        pod_name, note = target.pod, ""
        try:
            try:
                diagnosis = await self.diagnose_pod(target.namespace, target.pod)
            except NotFound:
                current = await self._current_pod_of(target)
                if current is None:
                    raise
                pod_name = current
                note = (
                    f"{inline_code(target.pod)} no longer exists (replaced); this is the current pod of "
                    f"{inline_code(target.workload)}, {inline_code(current)}. "
                )
                diagnosis = await self.diagnose_pod(target.namespace, current)
        except ClusterError as error:
            await click.responder.send(
                f"Could not re-diagnose {inline_code(f'{target.namespace}/{pod_name}')}: "
                f"{escape(error.user_message)}",
                replace_original=False,
            )
            return False
        blocks = fit_blocks([context([f"{note}Live diagnosis{click.by}"]), *diagnosis_blocks(diagnosis)])
        await self._in_thread(click, client, diagnosis_fallback_text(diagnosis), blocks)
        return True

    async def _current_pod_of(self, target: AlertTarget) -> str | None:
        """The workload's most recently crashed (else newest) pod, when the alerted pod was replaced."""
        if not isinstance(self.logs, PodReader) or target.workload == f"Pod/{target.pod}":
            return None
        try:
            workload = Workload.parse(target.workload)
            pods = await self.logs.list_pods(target.namespace)
        except (ValueError, ClusterError):
            return None
        for pod in select_pods_by_prefix(pods, workload.name):
            if workload_ref(pod) == target.workload:
                name = pod.get("metadata", {}).get("name")
                return str(name) if name else None
        return None

    async def _previous_logs(self, click: _Click, client: AsyncWebClient) -> bool:
        target = _checked(click)
        if self.logs is None:
            await click.responder.send("Reading logs is not configured for this bot.", replace_original=False)
            return False
        outcome = await read_alert_log(self.logs, target, self.log_lines)
        if outcome.text is None:
            await click.responder.send(outcome.problem or "No log.", replace_original=False)
            return False
        pod = f"{target.namespace}/{target.pod}"
        title = bold(f"Log of {escape(target.container)} in {escape(pod)}, {outcome.source}") + click.by
        blocks = [section(title), *log_sections(outcome.text)]
        await self._in_thread(click, client, escape(f"Log of {pod} {target.container}"), fit_blocks(blocks))
        return True

    async def _snooze(self, click: _Click, client: AsyncWebClient) -> bool:
        target = _checked(click)
        hours = SNOOZE_ACTION_IDS.get(click.action_id)
        if hours is None or self.snoozes is None:
            await click.responder.send("Snoozing is not available on this bot.", replace_original=False)
            return False
        workload = Workload.parse(target.workload)  # the gate parsed it already
        at = click.at(self.clock())
        name = inline_code(f"{target.namespace}/{workload.ref}")
        try:
            decided = await self.snoozes.snooze(
                target.namespace, workload, at + hours * 3600, by=click.user_id, at=at, via=click.via
            )
        except ClusterError as error:
            await click.responder.send(
                f"Could not snooze {name}: {escape(error.user_message)}", replace_original=False
            )
            return False
        decision = decided.decision
        assert decision is not None  # a snooze always decides something
        if decided.already:
            await click.responder.send(
                _decided_already(decision.set_by, decision.set_at, _what(decision)), replace_original=False
            )
            return True
        previous = decided.previous
        verb = "snoozed"
        if previous is not None and previous.active(at):
            verb = "shortened" if decision.until < previous.until else "extended"
        log.info(
            "alerts for %s/%s %s until %s by %s",
            target.namespace,
            workload.ref,
            verb,
            utc(decision.until),
            click.user_id,
        )
        notes = snooze_blocks(click.value, target.namespace, workload.ref, decision.until, click.user_id)
        if await self._show_on_message(click, client, notes, (SNOOZE_BLOCK_ID, UNSNOOZE_BLOCK_ID)):
            return True
        text = f"Alerts for {target.namespace}/{workload.ref} {verb} until {utc(decision.until)}"
        await self._in_thread(click, client, escape(text), notes[:1])
        return True

    async def _unsnooze(self, click: _Click, client: AsyncWebClient) -> bool:
        target = _checked(click)
        if self.snoozes is None:
            await click.responder.send("Snoozing is not available on this bot.", replace_original=False)
            return False
        workload = Workload.parse(target.workload)
        now = click.at(self.clock())
        name = inline_code(f"{target.namespace}/{workload.ref}")
        try:
            decided = await self.snoozes.lift(
                target.namespace, workload, now=now, by=click.user_id, via=click.via
            )
        except ClusterError as error:
            await click.responder.send(
                f"Could not lift the snooze of {name}: {escape(error.user_message)}", replace_original=False
            )
            return False
        decision = decided.decision
        if decision is None:
            # The note and its button are out of date: take them off the alert.
            await self._show_on_message(click, client, [], (SNOOZE_BLOCK_ID, UNSNOOZE_BLOCK_ID))
            await click.responder.send(
                f"{name} is not snoozed (the snooze ended or was lifted already): its alerts are on.",
                replace_original=False,
            )
            return True
        if decided.already:
            await click.responder.send(
                _decided_already(decision.set_by, decision.set_at, _what(decision)),
                replace_original=False,
            )
            return True
        log.info("the snooze of %s/%s lifted by %s", target.namespace, workload.ref, click.user_id)
        note = lifted_note(target.namespace, workload.ref, now, click.user_id)
        if not await self._show_on_message(click, client, [note], (SNOOZE_BLOCK_ID, UNSNOOZE_BLOCK_ID)):
            text = f"Snooze of {target.namespace}/{workload.ref} lifted: alerts are back on"
            await self._in_thread(click, client, escape(text), [note])
        return True

    async def _acknowledge(self, click: _Click, client: AsyncWebClient) -> bool:
        if self.owners is None:
            await click.responder.send(
                "Recording an owner is not available on this bot.", replace_original=False
            )
            return False
        if click.user_id is None or not click.channel_id or not click.message_ts:
            await click.responder.send(_UNREADABLE, replace_original=False)
            return False
        at = click.at(self.clock())
        try:
            decided = await self.owners.claim(
                click.channel_id, click.message_ts, user=click.user_id, at=at, via=click.via
            )
        except ClusterError as error:
            await click.responder.send(
                f"Could not record you as the owner: {escape(error.user_message)}", replace_original=False
            )
            return False
        owner = decided.owner
        if decided.already:
            if owner.user == click.user_id:
                text = f"You are already on it (since {utc(owner.set_at)}); the alert shows it."
            else:
                text = _decided_already(owner.user, owner.set_at, "said they are on it")
            await click.responder.send(text, replace_original=False)
            return True
        log.info("%s is on the alert %s/%s", click.user_id, click.channel_id, click.message_ts)
        note = owner_note(owner.user, owner.set_at)
        if not await self._show_on_message(click, client, [note], (OWNER_BLOCK_ID,)):
            await self._in_thread(click, client, f"<@{owner.user}> is on it", [note])
        return True

    async def _runbook_steps(self, click: _Click, client: AsyncWebClient) -> bool:
        target = _checked(click)
        explanation: Explanation | None = None
        if target.exit_code is not None:
            explanation = self.knowledge.explain_code(target.exit_code)
        elif target.reason:
            explanation = self.knowledge.explain_reason(target.reason)
        if explanation is None:
            await click.responder.send(
                "There is no runbook for an unknown exit code; try Re-diagnose.", replace_original=False
            )
            return False
        values = {
            "namespace": target.namespace,
            "pod": target.pod,
            "container": target.container,
            "owner_kind": target.workload.partition("/")[0],
            "owner": target.workload.partition("/")[2],
        }
        if target.node:
            values["node"] = target.node
        filled = explanation.with_placeholders(values)
        blocks = reply_blocks(filled, share_button=False, slash_command=self.slash_command)
        await self._in_thread(click, client, reply_fallback_text(filled), blocks)
        return True

    # --- posting ------------------------------------------------------------------------------------------

    async def _in_thread(self, click: _Click, client: AsyncWebClient, text: str, blocks: list[Block]) -> None:
        """Reply in the alert's thread; if Slack refuses, show it to the clicker privately instead."""
        if click.channel_id and click.thread_ts:
            try:
                await client.chat_postMessage(
                    channel=click.channel_id,
                    thread_ts=click.thread_ts,
                    text=text,
                    blocks=blocks,
                    unfurl_links=False,
                )
                return
            except SlackApiError as error:
                log.warning("could not reply in the alert's thread: %s", _error_code(error))
        await click.responder.send(text, blocks, replace_original=False)

    async def _show_on_message(
        self, click: _Click, client: AsyncWebClient, notes: list[Block], replacing: tuple[str, ...]
    ) -> bool:
        """Put `notes` on the alert itself, in place of the blocks `replacing` names (an older note of
        the same decision); False if that failed."""
        message = click.message
        if not message or not click.channel_id or not click.message_ts:
            return False
        blocks = message.get("blocks")
        if not isinstance(blocks, list) or not blocks:
            return False
        try:
            await client.chat_update(
                channel=click.channel_id,
                ts=click.message_ts,
                text=str(message.get("text") or "Crash alert"),
                blocks=with_notes(blocks, notes, replacing=replacing),
            )
        except SlackApiError as error:
            log.warning("could not show the decision on the alert: %s", _error_code(error))
            return False
        return True


ALERT_BUTTONS: tuple[tuple[str, str], ...] = (
    (REDIAGNOSE_ACTION_ID, "on_rediagnose"),
    (LOGS_ACTION_ID, "on_logs"),
    *((action_id, "on_snooze") for action_id in SNOOZE_ACTION_IDS),
    (UNSNOOZE_ACTION_ID, "on_unsnooze"),
    (ACK_ACTION_ID, "on_ack"),
    (RUNBOOK_STEPS_ACTION_ID, "on_runbook_steps"),
)
"""Each alert button that acts on its alert's pod, and the `AlertActions` listener that answers it: the
one list both registrations use (one cluster, or routed by cluster), so a new button is added once.
The runbook link button only acknowledges (Slack opens the URL), so it is not routed."""


def register_alert_actions(app: AsyncApp, handlers: AlertActions) -> None:
    """Listen for the alert buttons on `app` (the Bolt app of `build_app`)."""
    for action_id, listener in ALERT_BUTTONS:
        app.action(action_id)(getattr(handlers, listener))
    app.action(RUNBOOK_LINK_ACTION_ID)(handlers.on_runbook_link)


def _checked(click: _Click) -> AlertTarget:
    assert click.target is not None  # `_spawn` answered unreadable values already
    return click.target


def _decided_already(user_id: str | None, when: float, what: str) -> str:
    """The answer to a decision the ledger already holds (another click, maybe on another replica)."""
    who = f"<@{user_id}>" if user_id else "someone"
    return f"Already done: {who} {what} (decided {utc(when)}); the alert shows it."


def _what(decision: Snooze) -> str:
    """The decision in force, said after "who" (it may be another click's than the one answered)."""
    return "lifted the snooze" if decision.lifted else f"snoozed it until {utc(decision.until)}"


def _seconds(value: object) -> float | None:
    """Slack's `action_ts` ("1700000100.123456"), or None when it is not a plain number."""
    if not isinstance(value, str) or len(value) > 32:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds == seconds and seconds not in (float("inf"), float("-inf")) else None


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _error_code(error: SlackApiError) -> str:
    data = getattr(error.response, "data", None)
    return str(data.get("error")) if isinstance(data, dict) else "unknown error"
