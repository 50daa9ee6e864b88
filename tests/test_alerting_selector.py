"""Label selectors in kubectl syntax: the pods an operator means, and a clear error for a typo."""

from __future__ import annotations

import re

import pytest

from bot.alerting import SelectorError, parse_selector

LABELS = {"app": "api", "tier": "web", "env": "prod", "replicas": "3", "example.com/team": "payments"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=api", True),
        ("app==api", True),
        ("app=worker", False),
        ("app!=worker", True),
        ("missing!=x", True),
        ("app in (api, worker)", True),
        ("app in (worker)", False),
        ("app notin (worker,batch)", True),
        ("missing notin (a)", True),
        ("app notin (api)", False),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("!tier", False),
        ("replicas>2", True),
        ("replicas<3", False),
        ("app>1", False),
        ("example.com/team=payments", True),
        ("app=api,tier=web,env in (prod,staging)", True),
        ("app=api,tier=cache", False),
        ("  app = api , !canary ", True),
        ("empty=", False),
    ],
)
def test_selector_matches_like_kubernetes(selector: str, expected: bool) -> None:
    assert parse_selector(selector).matches(LABELS) is expected


def test_empty_value_matches_a_label_set_to_the_empty_string() -> None:
    assert parse_selector("flag=").matches({"flag": ""})
    assert parse_selector("app=api").matches(None) is False
    assert parse_selector("!app").matches(None)


@pytest.mark.parametrize(
    ("selector", "hint"),
    [
        ("app=api,", "empty requirement"),
        ("app in (a,b", "never closed"),
        ("app in a,b)", "without '('"),
        ("app in ((a))", "nested"),
        ("app=a b", "cannot read"),
        ("-bad=x", "not a label key"),
        ("app=-bad", "not a label value"),
        ("replicas>three", "not an integer"),
        ("app === api", "cannot read"),
    ],
)
def test_malformed_selectors_are_explained(selector: str, hint: str) -> None:
    with pytest.raises(SelectorError, match=re.escape(hint)) as caught:
        parse_selector(selector)
    assert repr(selector) in str(caught.value)
