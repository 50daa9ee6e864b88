"""Budget pressure on the ledger summarises queued alerts; it never drops one (issue 8, finding 1).

The torture run: STORM_THRESHOLD raised, 2,000 crashes during a Slack outage, the outbox grew past the
ledger's 768 KiB budget and the bounded write stored an *empty* ledger; after a restart every crash was
`stale` and never posted. What a user must see instead: every crash still counted somewhere in Slack (a
root, or a row of a per-channel summary), and the stored ledger never empty.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from bot.alerting import AlertPlanner, AlertRules, LedgerState, PlannerConfig, assess, detect_terminations
from bot.alerting.actions import Action, PostDigest, PostRoot, PostThreadReply
from bot.alerting.outbox import Outbox, OutboxEntry, action_to_record
from bot.kube.client import build_api_client
from bot.kube.ledger import DATA_BUDGET_BYTES, LEDGER_KEY, ConfigMapLedger, WriteOutcome
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.test_alerting_pods import T0, deployment_pod, exited

NAMESPACE = "exitcode-bot"
NAME = "exitcode-bot-ledger"
NOW = T0 + 3600
CHANNELS = ("#alerts", "#payments")


def crash_backlog(count: int) -> tuple[AlertPlanner, list[Action]]:
    """`count` crashes of `count` different workloads, planned with the storm rule out of the way (a
    raised STORM_THRESHOLD): one root each, nothing sent yet."""
    planner = AlertPlanner(PlannerConfig(storm_threshold=1_000_000))
    actions: list[Action] = []
    for index in range(count):
        name = f"svc{index}"
        pod = deployment_pod(f"{name}-7d9f8c6b5-x2x9z", deployment=name, uid=f"uid-{index}")
        pod = exited(pod, "app", 1 + index % 3, 60 + index * 0.5, message="x" * 400)
        found = detect_terminations(None, pod)
        items = assess(found, pod, AlertRules(), now=NOW, default_channel=CHANNELS[index % 2])
        actions.extend(planner.plan(items, NOW).actions)
    return planner, actions


def crashes_accounted(entries: list[OutboxEntry]) -> int:
    """What Slack would show once the outbox is sent: one per root or reply, a digest's total."""
    total = 0
    for entry in entries:
        if isinstance(entry.action, PostRoot | PostThreadReply):
            total += 1
        elif isinstance(entry.action, PostDigest):
            total += entry.action.total
    return total


@pytest.fixture
def api_client(fake_kube: FakeKubeApi, tmp_path: Path) -> Iterator[ApiClient]:
    fake_kube.cluster.ensure_namespace(NAMESPACE)
    client = build_api_client(config_file=fake_kube.write_kubeconfig(tmp_path / "kubeconfig"))
    yield client
    client.close()  # type: ignore[no-untyped-call]


async def test_an_outbox_over_the_budget_is_stored_summarised_never_empty(
    fake_kube: FakeKubeApi, api_client: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    planner, actions = crash_backlog(2_000)
    state = planner.state
    for index, action in enumerate(actions):  # as an unbounded outbox of 2,000 roots would hold them
        record = {"slot": f"r{index:05d}", "at": NOW, "n": index, **action_to_record(action)}
        state.outbox[f"r{index:05d}"] = record
    assert len(state.to_json().encode()) > DATA_BUDGET_BYTES
    outcomes: list[WriteOutcome] = []
    writer = ConfigMapLedger(api_client, NAMESPACE, NAME, 5.0, clock=lambda: NOW, on_write=outcomes.append)

    with caplog.at_level(logging.WARNING):
        await writer.save(state)

    config_map = fake_kube.cluster.get("ConfigMap", NAMESPACE, NAME)
    assert config_map is not None
    assert len(config_map["data"][LEDGER_KEY].encode()) <= DATA_BUDGET_BYTES
    restarted = await writer.load()  # what the next leader starts from
    pending = Outbox().pending(restarted)
    assert pending, "the stored ledger lost every queued alert"
    assert crashes_accounted(pending) == 2_000
    assert {entry.channel for entry in pending} == set(CHANNELS)
    assert "summarised" in caplog.text


def test_a_growing_outbox_folds_into_one_digest_per_channel_with_exact_counts() -> None:
    planner, actions = crash_backlog(2_000)
    outbox = Outbox()

    for start in range(0, len(actions), 100):  # planned in bursts, as the watch delivers them
        outbox.add(planner.state, actions[start : start + 100], NOW + start)

    pending = outbox.pending(planner.state)
    assert len(pending) <= outbox.max_entries + len(CHANNELS)
    assert crashes_accounted(pending) == 2_000
    digests = [entry for entry in pending if isinstance(entry.action, PostDigest)]
    assert sorted(entry.channel or "" for entry in digests) == sorted(CHANNELS)
    rows = {(row.workload.name, row.exit_code) for entry in digests for row in entry.action.rows}  # type: ignore[union-attr]
    assert ("svc0", 1) in rows


def test_an_entry_being_sent_is_never_folded() -> None:
    planner, actions = crash_backlog(400)
    outbox = Outbox()
    outbox.add(planner.state, actions[:1], NOW)
    sending = outbox.pending(planner.state)[0]
    outbox.in_flight.add(sending.id)

    outbox.add(planner.state, actions[1:], NOW + 1)

    assert sending.id in planner.state.outbox
    assert crashes_accounted(outbox.pending(planner.state)) == 400


def test_a_merge_with_an_older_copy_never_brings_folded_entries_back() -> None:
    planner, actions = crash_backlog(400)
    older = Outbox()
    older.add(planner.state, actions[:250], NOW)
    before = LedgerState.from_json(planner.state.to_json())  # stored before the fold
    Outbox().add(planner.state, actions[250:], NOW + 1)

    for merged in (planner.state.merge(before), before.merge(planner.state)):
        assert crashes_accounted(Outbox().pending(merged)) == 400


async def test_when_even_the_summary_does_not_fit_it_says_so_loudly_and_keeps_the_newest_state(
    fake_kube: FakeKubeApi, api_client: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    planner, actions = crash_backlog(400)
    Outbox(max_entries=10_000).add(planner.state, actions, NOW)  # nothing folded live
    outcomes: list[WriteOutcome] = []
    writer = ConfigMapLedger(
        api_client, NAMESPACE, NAME, 5.0, clock=lambda: NOW, on_write=outcomes.append, budget_bytes=4_000
    )

    with caplog.at_level(logging.ERROR):
        written = await writer.save(planner.state)

    assert "overflow" in outcomes
    assert any(
        record.levelno == logging.ERROR and "ledger_overflow" in record.message for record in caplog.records
    )
    pending = Outbox().pending(await writer.load())
    assert pending == Outbox().pending(written)  # what was stored is what the bot goes on with
    assert crashes_accounted(pending) == 400  # summarised, still every crash: never an empty ledger


def test_a_destination_that_is_down_makes_room_from_its_own_backlog_only() -> None:
    """Issue 12: Teams is down for an hour while Slack keeps up. Teams' queued alerts fill the outbox;
    folding them into a summary must leave Slack's queued alerts exactly as they are."""
    planner = AlertPlanner(PlannerConfig(storm_threshold=1_000_000))
    outbox = Outbox()
    for index in range(320):
        name = f"svc{index}"
        pod = deployment_pod(f"{name}-7d9f8c6b5-x2x9z", deployment=name, uid=f"uid-{index}")
        pod = exited(pod, "app", 1, 60 + index * 0.5)
        found = detect_terminations(None, pod)
        items = assess(found, pod, AlertRules(), now=NOW, default_channel="#alerts")
        fanned = [replace(item, destinations=("#alerts", "teams:default")) for item in items]
        outbox.add(planner.state, planner.plan(fanned, NOW + index).actions, NOW + index)
        for entry in outbox.pending(planner.state):  # Slack is up: its entries are sent at once
            if entry.channel == "#alerts" and index < 280:  # then Slack is slow for a while
                outbox.complete(planner.state, entry.id, NOW + index)

    pending = outbox.pending(planner.state)
    slack = [entry for entry in pending if entry.channel == "#alerts"]
    teams = [entry for entry in pending if entry.channel == "teams:default"]
    assert len(slack) == 40 and all(isinstance(entry.action, PostRoot) for entry in slack)
    assert any(isinstance(entry.action, PostDigest) for entry in teams)
    assert crashes_accounted(teams) == 320  # every crash still counted for Teams
    assert len(pending) <= outbox.max_entries + 1
