"""Crashes overwritten while no leader watched are counted, not lost silently (issue 8, finding 4).

A container that crashed twice while the bot was down shows only its last termination (`lastState`
holds one record); its `restartCount` says how many there were. The alert for the last one says how
many more went unseen. Pure cases first (the ordinal of a death in each kubelet step), then the whole
service against the fake cluster and fake Slack.
"""

from __future__ import annotations

import asyncio

from bot.alerting import LedgerState, detect_terminations
from bot.alerting.unwatched import death_ordinal, note_unwatched
from tests.fakes.kube_fixtures import fake_kube_fixture  # noqa: F401
from tests.test_alert_service import Harness, all_text, harness_fixture, until, web_pod  # noqa: F401
from tests.test_alerting_pods import T0, backoff, deployment_pod, exited, restarted


def test_each_kubelet_step_gives_the_same_ordinal_for_one_death() -> None:
    pod = deployment_pod()
    steps = [exited(pod, "app", 1, 60)]
    steps.append(backoff(steps[-1], "app"))
    steps.append(restarted(steps[-1], "app", 65))

    ordinals = {death_ordinal(detect_terminations(None, step)[0], step) for step in steps}

    assert ordinals == {1}


def test_deaths_between_two_seen_ones_are_counted_once() -> None:
    state = LedgerState()
    pod = restarted(backoff(exited(deployment_pod(), "app", 1, 60), "app"), "app", 65)
    note_unwatched(detect_terminations(None, pod), pod, state, T0)
    for turn in (2, 3, 4):  # three more deaths, only the last one visible
        pod = restarted(backoff(exited(pod, "app", 2, 60 * turn), "app"), "app", 60 * turn + 5)

    (later,) = note_unwatched(detect_terminations(None, pod), pod, state, T0 + 600)
    (again,) = note_unwatched(detect_terminations(None, pod), pod, LedgerState(deaths=state.deaths), T0)

    assert later.unwatched_restarts == 2
    assert again.unwatched_restarts == 0  # the same death seen again is no news


async def test_an_alert_says_how_many_restarts_nobody_watched(harness: Harness) -> None:
    pod = harness.apply(web_pod())
    first = await harness.leading(await harness.start())
    pod = harness.crash(pod, 1)
    await until("crash 1", lambda: len(harness.posts()) == 1 and first.settled())
    await until("the ledger to hold it", lambda: not harness.ledger().outbox)
    await first.shutdown()

    pod = harness.crash(pod, 1)  # overwritten by the next one before any bot looks
    harness.crash(pod, 1)

    second = await harness.leading(await harness.start())
    await until("the crash the bot can see", lambda: len(harness.posts()) == 2 and second.settled())
    await asyncio.sleep(0.1)
    reply = harness.posts(thread=True)[-1]
    assert "1 more restart while the bot was not watching, last exit 1" in all_text(reply)
    assert "Crashed 3 times" in all_text(harness.updates()[-1])  # the root counts the unseen one too
