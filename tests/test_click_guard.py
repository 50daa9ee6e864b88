"""The pieces of the button gate and the request check, with injected clocks (no sleeping)."""

from __future__ import annotations

from bot.slack.click_guard import RecentClicks, bound_to_message
from bot.slack.http import SlackSignature
from tests.fakes.slack_signing import signature

KEY = ("exitcode_alert_rediagnose", "C1", "1700000000.000100", '{"ns":"shop"}')


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_duplicate_within_the_window_is_answered_and_after_it_is_new_work() -> None:
    clock = Clock()
    recent = RecentClicks(window=60, clock=clock)

    assert recent.claim(KEY, "U1") is None
    clock.now += 10
    earlier = recent.claim(KEY, "U2")
    assert earlier is not None and earlier.user_id == "U1" and not earlier.finished
    recent.finished(KEY)
    assert recent.claim(KEY, "U2") is not None and recent.seconds_ago(earlier) == 10
    assert recent.claim((*KEY[:3], '{"ns":"other"}'), "U2") is None, "another alert is another click"
    clock.now += 61
    assert recent.claim(KEY, "U2") is None


def test_a_failed_click_is_forgotten_so_it_can_be_retried() -> None:
    recent = RecentClicks(window=60, clock=Clock())
    assert recent.claim(KEY, "U1") is None
    recent.forget(KEY)
    assert recent.claim(KEY, "U1") is None


def test_a_value_is_bound_only_to_its_own_button_on_its_own_message() -> None:
    message = {
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "x"}},
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "action_id": "exitcode_alert_rediagnose", "value": "A"},
                    {"type": "button", "action_id": "exitcode_alert_runbook", "url": "https://x"},
                ],
            },
        ]
    }
    assert bound_to_message("exitcode_alert_rediagnose", "A", message)
    assert not bound_to_message("exitcode_alert_rediagnose", "B", message)
    assert not bound_to_message("exitcode_alert_logs", "A", message)
    assert not bound_to_message("exitcode_alert_rediagnose", "A", None)
    assert not bound_to_message("exitcode_alert_rediagnose", "A", {"blocks": "not a list"})


def test_the_signature_window_is_five_minutes_either_way() -> None:
    clock = Clock()
    check = SlackSignature("secret", clock=clock)
    body = b"payload=%7B%7D"

    def signed_at(ts: int) -> bool:
        return check.verified(body, str(ts), signature("secret", str(ts), body))

    assert signed_at(1000) and signed_at(1000 - 300) and signed_at(1000 + 300)
    assert not signed_at(1000 - 301) and not signed_at(1000 + 301)
    assert not check.verified(body, "1000", signature("other", "1000", body))
    assert not check.verified(body, "1000", None) and not check.verified(body, "-1000", "v0=00")
