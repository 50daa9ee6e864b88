"""The alert ledger ConfigMap against the fake apiserver: what was alerted survives, whatever happens.

A user relies on: a restarted or newly elected bot remembers what was alerted (no duplicate alert);
two writers never lose each other's entries (409 → re-read, merge, retry); a corrupt ConfigMap never
crashes the bot; and the ConfigMap never outgrows what the apiserver accepts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from bot.alerting import LedgerLimits, LedgerState, PlannerConfig
from bot.alerting.ledger_state import GroupState, Snooze, key_digest
from bot.diagnosis.ports import ClusterError, ClusterUnreachable
from bot.kube.client import build_api_client
from bot.kube.ledger import DATA_BUDGET_BYTES, LEDGER_KEY, ConfigMapLedger, WriteOutcome
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.test_alerting_pods import T0

NAMESPACE = "exitcode-bot"
NAME = "exitcode-bot-ledger"
NOW = T0 + 3600
LIMITS = LedgerLimits()


@pytest.fixture
def api_client(fake_kube: FakeKubeApi, tmp_path: Path) -> Iterator[ApiClient]:
    fake_kube.cluster.ensure_namespace(NAMESPACE)
    client = build_api_client(config_file=fake_kube.write_kubeconfig(tmp_path / "kubeconfig"))
    yield client
    client.close()  # type: ignore[no-untyped-call]


def ledger(
    api_client: ApiClient, outcomes: list[WriteOutcome] | None = None, **options: Any
) -> ConfigMapLedger:
    record = outcomes.append if outcomes is not None else (lambda _: None)
    return ConfigMapLedger(api_client, NAMESPACE, NAME, 5.0, clock=lambda: NOW, on_write=record, **options)


def alerted(*keys: str, at: float = NOW - 60) -> LedgerState:
    state = LedgerState()
    for key in keys:
        state.record(key_digest(key), at, LIMITS)
    return state


def stored(fake: FakeKubeApi) -> str:
    config_map = fake.cluster.get("ConfigMap", NAMESPACE, NAME)
    assert config_map is not None, "the ledger ConfigMap was not written"
    return str(config_map["data"][LEDGER_KEY])


def put_config_map(fake: FakeKubeApi, value: str) -> None:
    fake.cluster.create(
        {"kind": "ConfigMap", "metadata": {"name": NAME, "namespace": NAMESPACE}, "data": {LEDGER_KEY: value}}
    )


async def test_a_missing_config_map_is_an_empty_ledger_and_the_first_save_creates_it(
    fake_kube: FakeKubeApi, api_client: ApiClient
) -> None:
    outcomes: list[WriteOutcome] = []
    first = ledger(api_client, outcomes)
    assert await first.load() == LedgerState()

    await first.save(alerted("uid-1/app/2026-01-01T00:00:00Z"))

    assert outcomes == ["created"]
    config_map = fake_kube.cluster.get("ConfigMap", NAMESPACE, NAME)
    assert (
        config_map is not None
        and config_map["metadata"]["labels"]["app.kubernetes.io/name"] == "exitcode-bot"
    )
    restarted = await ledger(api_client).load()  # a new process, or the new leader
    assert restarted.knows(key_digest("uid-1/app/2026-01-01T00:00:00Z"))


async def test_later_saves_update_with_the_resource_version(
    fake_kube: FakeKubeApi, api_client: ApiClient
) -> None:
    outcomes: list[WriteOutcome] = []
    writer = ledger(api_client, outcomes)
    await writer.load()
    await writer.save(alerted("a"))
    await writer.save(alerted("a", "b"))

    assert outcomes == ["created", "updated"]
    config_map = fake_kube.cluster.get("ConfigMap", NAMESPACE, NAME)
    assert config_map is not None and writer.resource_version == config_map["metadata"]["resourceVersion"]
    assert LedgerState.from_json(stored(fake_kube)).alerted.keys() == {key_digest("a"), key_digest("b")}


async def test_concurrent_creators_merge_instead_of_overwriting(
    fake_kube: FakeKubeApi, api_client: ApiClient
) -> None:
    old_leader, new_leader = ledger(api_client), ledger(api_client, outcomes := list[WriteOutcome]())
    await old_leader.load()
    await new_leader.load()  # both saw no ConfigMap

    await old_leader.save(alerted("old"))
    written = await new_leader.save(alerted("new"))

    assert outcomes == ["conflict", "updated"]  # 409 AlreadyExists → re-read, merge, update
    assert written.alerted.keys() == {key_digest("old"), key_digest("new")}
    assert LedgerState.from_json(stored(fake_kube)).alerted.keys() == {key_digest("old"), key_digest("new")}


async def test_a_stale_resource_version_conflicts_and_merges(
    fake_kube: FakeKubeApi, api_client: ApiClient
) -> None:
    first, second = ledger(api_client), ledger(api_client, outcomes := list[WriteOutcome]())
    await first.save(alerted("one"))
    await first.load()
    await second.load()
    await first.save(alerted("one", "two"))  # second's resourceVersion is stale now

    group = GroupState(opened_at=NOW - 10, last_seen=NOW - 5, count=2, root_ts="1700000000.000100")
    mine = alerted("three")
    mine.groups["g1"] = group
    written = await second.save(mine)

    assert outcomes == ["conflict", "updated"]
    stored_state = LedgerState.from_json(stored(fake_kube))
    assert stored_state == written
    assert stored_state.alerted.keys() == {key_digest(key) for key in ("one", "two", "three")}
    assert stored_state.groups["g1"].root_ts == "1700000000.000100"
    assert mine.alerted.keys() == {key_digest("three")}  # the caller's state is not modified


async def test_conflicts_are_retried_a_bounded_number_of_times(
    fake_kube: FakeKubeApi, api_client: ApiClient
) -> None:
    writer = ledger(api_client, outcomes := list[WriteOutcome](), max_attempts=3)
    await writer.save(alerted("a"))
    fake_kube.faults.fail("update", "configmaps", 409, times=2)
    await writer.save(alerted("a", "b"))
    assert outcomes == ["created", "conflict", "conflict", "updated"]

    fake_kube.faults.fail("update", "configmaps", 409)  # a writer that never stops
    with pytest.raises(ClusterError, match="kept changing"):
        await writer.save(alerted("a", "b", "c"))
    assert outcomes[-1] == "failed"


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"version": 99, "alerted": {}}), "version 99"),
        (json.dumps({"version": 1, "alerted": {"abc": "yesterday"}}), "must be a number"),
    ],
)
async def test_corrupt_data_is_an_empty_ledger_with_a_warning_and_is_replaced_on_save(
    fake_kube: FakeKubeApi,
    api_client: ApiClient,
    caplog: pytest.LogCaptureFixture,
    value: str,
    complaint: str,
) -> None:
    put_config_map(fake_kube, value)
    writer = ledger(api_client)
    with caplog.at_level(logging.WARNING, logger="bot.kube.ledger"):
        assert await writer.load() == LedgerState()
    assert len(caplog.records) == 1 and complaint in caplog.text and NAME in caplog.text

    await writer.save(alerted("fresh"))
    assert (await ledger(api_client).load()).knows(key_digest("fresh"))


async def test_saves_are_pruned_and_stay_under_the_budget(
    fake_kube: FakeKubeApi, api_client: ApiClient
) -> None:
    state = alerted(*(f"uid-{index}/app/old" for index in range(50)), at=NOW - 2 * 86_400)  # past retention
    state.snoozes["shop/Deployment/api"] = Snooze(until=NOW - 1, set_at=NOW - 2 * 86_400)  # ended long ago
    for index in range(3000):
        state.record(key_digest(f"uid-{index}/app/recent"), NOW - 3000 + index, LIMITS)
    writer = ledger(api_client, budget_bytes=20_000)

    written = await writer.save(state)

    text = stored(fake_kube)
    assert len(text.encode()) <= 20_000
    assert not written.snoozes and not written.knows(key_digest("uid-0/app/old"))
    assert written.knows(key_digest("uid-2999/app/recent"))  # the newest are kept
    assert not written.knows(key_digest("uid-0/app/recent"))  # the oldest went first...
    assert written.is_stale(NOW - 3000)  # ...and are stale, so they are never alerted again


async def test_the_largest_possible_ledger_fits_a_config_map(
    fake_kube: FakeKubeApi, api_client: ApiClient
) -> None:
    limits = LedgerLimits()
    state = LedgerState()
    for index in range(limits.max_alerted * 2):
        state.record(key_digest(f"key-{index}"), NOW - index, limits)
    for index in range(limits.max_groups * 2):
        state.groups[f"{'g' * 200}-{index}"] = GroupState(
            NOW - 5, NOW - 1, 3, f"{index}.000100", ["ab12cd34"] * 10
        )
    for index in range(limits.max_snoozes * 2):
        state.snoozes[f"{'n' * 63}/Deployment/{'w' * 253}-{index}"] = Snooze(NOW + 3600, "U" * 12, NOW)
    writer = ledger(api_client, planner_config=PlannerConfig(limits=limits))

    await writer.save(state)  # the fake refuses ConfigMaps over 1 MiB, as the apiserver does

    assert len(stored(fake_kube).encode()) <= DATA_BUDGET_BYTES


async def test_an_unreachable_cluster_is_a_cluster_error_not_a_crash(
    fake_kube: FakeKubeApi, api_client: ApiClient
) -> None:
    writer = ledger(api_client, outcomes := list[WriteOutcome]())
    await fake_kube.stop()
    with pytest.raises(ClusterUnreachable):
        await writer.load()
    with pytest.raises(ClusterUnreachable):
        await writer.save(alerted("a"))
    assert outcomes == ["failed"]
    await fake_kube.start()
    await writer.save(alerted("a"))
    assert outcomes == ["failed", "created"]
