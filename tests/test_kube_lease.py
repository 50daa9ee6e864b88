"""Leader election on a Lease, against the fake apiserver: one replica posts, another takes over.

A user relies on: with several replicas exactly one watches and posts (never two: duplicates); when the
leader shuts down the standby takes over at once; when it dies without a word, within the lease
duration; and a leader cut off from the apiserver stops posting before anyone else starts. A sampler
checks `is_leader` of every candidate every few milliseconds throughout each test.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from bot.kube.client import build_api_client
from bot.kube.lease import LeaseElector, format_micro_time, parse_micro_time
from tests.fakes.kube_api import FakeKubeApi
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401

NAMESPACE = "exitcode-bot"
LEASE = "exitcode-bot-leader"
WAIT = 10.0
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class Election:
    """Candidates against one fake, and a sampler proving there is never more than one leader."""

    def __init__(self, fake: FakeKubeApi, tmp_path: Path) -> None:
        self.fake = fake
        self.tmp_path = tmp_path
        self.candidates: list[LeaseElector] = []
        self.clients: list[ApiClient] = []
        self.log: list[str] = []
        self.samples = 0
        self.overlaps = 0
        self._sampler: asyncio.Task[None] | None = None

    def candidate(self, identity: str, *, via: FakeKubeApi | None = None, **options: Any) -> LeaseElector:
        server = via or self.fake
        client = build_api_client(
            config_file=server.write_kubeconfig(self.tmp_path / f"kubeconfig-{identity}")
        )
        self.clients.append(client)
        options.setdefault("lease_duration", 1.0)
        options.setdefault("retry_interval", 0.05)
        elector = LeaseElector(
            client,
            NAMESPACE,
            LEASE,
            identity,
            on_started_leading=lambda: self.log.append(f"{identity} started"),
            on_stopped_leading=lambda: self.log.append(f"{identity} stopped"),
            **options,
        )
        self.candidates.append(elector)
        return elector

    def leaders(self) -> list[str]:
        return [candidate.identity for candidate in self.candidates if candidate.is_leader]

    def lease(self) -> dict[str, Any]:
        lease = self.fake.cluster.get("Lease", NAMESPACE, LEASE)
        assert lease is not None, "no Lease was written"
        spec: dict[str, Any] = lease["spec"]
        return spec

    async def sample(self) -> None:
        while True:
            self.samples += 1
            if len(self.leaders()) > 1:
                self.overlaps += 1
            await asyncio.sleep(0.002)

    def start_sampling(self) -> None:
        self._sampler = asyncio.create_task(self.sample())

    async def close(self) -> None:
        for candidate in self.candidates:
            await candidate.stop(release=False)
        if self._sampler is not None:
            self._sampler.cancel()
        for client in self.clients:
            client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
async def election(fake_kube: FakeKubeApi, tmp_path: Path) -> AsyncIterator[Election]:
    fake_kube.cluster.ensure_namespace(NAMESPACE)
    running = Election(fake_kube, tmp_path)
    running.start_sampling()
    yield running
    await running.close()
    assert running.samples > 0
    assert running.overlaps == 0, "two candidates were leader at the same moment"


async def first_leader(candidates: list[LeaseElector]) -> LeaseElector:
    waits = {asyncio.ensure_future(candidate.wait_until_leader()): candidate for candidate in candidates}
    done, pending = await asyncio.wait(waits, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
    for future in pending:
        future.cancel()
    assert done, "nobody became leader"
    return waits[next(iter(done))]


async def eventually(what: str, condition: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_exactly_one_of_several_candidates_leads_and_keeps_renewing(election: Election) -> None:
    candidates = [election.candidate(name) for name in ("bot-a", "bot-b", "bot-c")]
    await asyncio.gather(*(candidate.start() for candidate in candidates))
    leader = await first_leader(candidates)

    first_renew = parse_micro_time(election.lease()["renewTime"])
    await asyncio.sleep(1.5)  # several renew intervals and more than a lease duration

    assert election.leaders() == [leader.identity]
    spec = election.lease()
    assert spec["holderIdentity"] == leader.identity and spec["leaseDurationSeconds"] == 1
    assert spec["leaseTransitions"] == 0
    assert MICRO_TIME.match(spec["acquireTime"]) and MICRO_TIME.match(spec["renewTime"])
    renewed = parse_micro_time(spec["renewTime"])
    assert first_renew is not None and renewed is not None and renewed > first_renew
    assert election.log == [f"{leader.identity} started"]


async def test_a_released_lease_is_taken_over_at_once(election: Election) -> None:
    """With a 30-second lease, only the release explains a takeover within a few seconds."""
    first = election.candidate("bot-a", lease_duration=30.0)
    await first.start()
    await asyncio.wait_for(first.wait_until_leader(), WAIT)
    second = election.candidate("bot-b", lease_duration=30.0)
    await second.start()
    await asyncio.sleep(0.2)
    assert not second.is_leader

    await first.stop()  # graceful shutdown: step down, then release
    await asyncio.wait_for(second.wait_until_leader(), 5.0)

    assert election.log == ["bot-a started", "bot-a stopped", "bot-b started"]
    spec = election.lease()
    assert spec["holderIdentity"] == "bot-b" and spec["leaseTransitions"] == 1


async def test_stopping_during_a_slow_renew_still_releases_so_the_standby_leads_at_once(
    election: Election,
) -> None:
    """A renew on the wire when shutdown begins is applied by the apiserver even if the leader gives up
    on it; the release must be written over that renewed Lease, not fail with 409 and leave the
    standby waiting out a 30-second lease."""
    first = election.candidate("bot-a", lease_duration=30.0, renew_interval=0.2)
    await first.start()
    await asyncio.wait_for(first.wait_until_leader(), WAIT)
    second = election.candidate("bot-b", lease_duration=30.0)
    await second.start()
    await asyncio.sleep(0.1)
    assert not second.is_leader

    updates_before = election.fake.requests.count("update", "leases")
    # The next two Lease writes (the renew, then the release) each take half a second: the renew
    # reaches the apiserver first, so it is applied first.
    election.fake.faults.delay(0.5, verb="update", resource="leases", times=2)
    await eventually(
        "a renew in flight", lambda: election.fake.requests.count("update", "leases") > updates_before
    )
    await first.stop()
    await asyncio.wait_for(second.wait_until_leader(), 5.0)  # the lease would expire only after 30 s

    assert election.log == ["bot-a started", "bot-a stopped", "bot-b started"]
    spec = election.lease()
    assert spec["holderIdentity"] == "bot-b" and spec["leaseTransitions"] == 1


async def test_a_release_that_meets_a_conflict_reads_the_lease_again_and_still_releases(
    election: Election,
) -> None:
    first = election.candidate("bot-a", lease_duration=30.0)  # renews every 10 s: none during the test
    await first.start()
    await asyncio.wait_for(first.wait_until_leader(), WAIT)
    second = election.candidate("bot-b", lease_duration=30.0)
    await second.start()
    await asyncio.sleep(0.1)

    election.fake.faults.fail("update", "leases", 409, times=1)  # the Lease changed under the release
    await first.stop()
    await asyncio.wait_for(second.wait_until_leader(), 5.0)

    assert election.lease()["holderIdentity"] == "bot-b"
    assert election.log == ["bot-a started", "bot-a stopped", "bot-b started"]


async def test_a_standby_takes_over_after_the_leader_dies_without_releasing(election: Election) -> None:
    first = election.candidate("bot-a")
    process = asyncio.create_task(first.run())
    await asyncio.wait_for(first.wait_until_leader(), WAIT)
    second = election.candidate("bot-b")
    await second.start()
    await asyncio.sleep(0.3)

    process.cancel()  # the process is killed: no release, the Lease just stops being renewed
    await asyncio.sleep(0)
    last_renew = parse_micro_time(election.lease()["renewTime"])
    await asyncio.wait_for(second.wait_until_leader(), WAIT)

    spec = election.lease()
    acquired = parse_micro_time(spec["acquireTime"])
    assert spec["holderIdentity"] == "bot-b" and spec["leaseTransitions"] == 1
    assert last_renew is not None and acquired is not None
    assert acquired >= last_renew + 1.0  # never before the dead leader's lease expired


async def test_a_leader_cut_off_from_the_apiserver_steps_down_before_the_standby_leads(
    election: Election,
) -> None:
    partitioned = FakeKubeApi()
    partitioned.cluster = election.fake.cluster  # a second apiserver endpoint of the same cluster
    async with partitioned:
        isolated = election.candidate("bot-a", via=partitioned)
        await isolated.start()
        await asyncio.wait_for(isolated.wait_until_leader(), WAIT)
        healthy = election.candidate("bot-b")
        await healthy.start()
        await asyncio.sleep(0.2)

        partitioned.faults.fail(None, "leases", 503)  # bot-a can no longer renew
        await asyncio.wait_for(healthy.wait_until_leader(), WAIT)
        await eventually("bot-a noticing", lambda: "bot-a stopped" in election.log)

        assert election.log.index("bot-a stopped") < election.log.index("bot-b started")
        assert not isolated.is_leader and election.lease()["holderIdentity"] == "bot-b"


async def test_a_restarted_leader_reacquires_its_own_lease_immediately(election: Election) -> None:
    first = election.candidate("bot-a", lease_duration=30.0)
    process = asyncio.create_task(first.run())
    await asyncio.wait_for(first.wait_until_leader(), WAIT)
    process.cancel()  # the container restarts; the pod (and so the identity) stays
    await asyncio.sleep(0)

    again = election.candidate("bot-a", lease_duration=30.0)
    await again.start()
    await asyncio.wait_for(again.wait_until_leader(), 5.0)  # no 30-second wait for its own lease
    assert election.lease()["leaseTransitions"] == 0


async def test_a_lost_create_race_is_not_leadership(election: Election) -> None:
    election.fake.faults.fail("create", "leases", 409, times=1)  # another candidate created it first
    candidate = election.candidate("bot-a")
    await candidate.start()
    await asyncio.wait_for(candidate.wait_until_leader(), WAIT)  # leads only after a clean create
    creates = [r for r in election.fake.requests.entries if r.verb == "create" and r.resource == "leases"]
    assert len(creates) == 2 and election.log == ["bot-a started"]


def test_micro_time_round_trip() -> None:
    assert format_micro_time(1_795_238_056.0) == "2026-11-21T05:14:16.000000Z"
    assert parse_micro_time("2026-11-21T05:14:16.000000Z") == 1_795_238_056.0
    assert parse_micro_time("2026-11-21T05:14:16Z") == 1_795_238_056.0
    assert parse_micro_time(format_micro_time(1_795_238_056.25)) == 1_795_238_056.25
    for bad in ("", "yesterday", None, 17):
        assert parse_micro_time(bad) is None


def test_invalid_timings_are_refused() -> None:
    with pytest.raises(ValueError, match="renew_interval"):
        LeaseElector(ApiClient(), NAMESPACE, LEASE, "bot-a", lease_duration=5, renew_interval=6)
    with pytest.raises(ValueError, match="lease_duration"):
        LeaseElector(ApiClient(), NAMESPACE, LEASE, "bot-a", lease_duration=0)
