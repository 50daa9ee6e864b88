"""Names are checked before any API call, and a bad one gets a sentence saying what is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.diagnosis.names import (
    DNS1123_SUBDOMAIN,
    Target,
    parse_target,
    suggest_close_names,
    validate_namespace,
    validate_pod_name,
)
from bot.diagnosis.ports import ClusterError, InvalidName


@pytest.mark.parametrize("name", ["default", "kube-system", "a", "team-42", "x" * 63])
def test_valid_namespaces(name: str) -> None:
    assert validate_namespace(name) == name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Shop", "lower case"),
        ("shop_prod", "'_'"),
        ("-shop", "start and end"),
        ("shop.prod", "'.'"),
        ("x" * 64, "at most 63"),
        ("", "missing"),
    ],
)
def test_invalid_namespaces_say_why(name: str, says: str) -> None:
    with pytest.raises(InvalidName) as raised:
        validate_namespace(name)
    assert says in raised.value.user_message
    assert "/exitcode pod NAMESPACE/POD" in raised.value.user_message


@pytest.mark.parametrize("name", ["api-7d9f8c6b5-x2x9k", "web-0", "node.tuner-abc", "x" * 253])
def test_valid_pod_names(name: str) -> None:
    assert validate_pod_name(name) == name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("API-7d9f", "did you mean “api-7d9f”?"),
        ("api..x", "each part between dots"),
        ("api/x", "'/'"),
        ("<!channel>", "'!'"),
        ("x" * 254, "at most 253"),
    ],
)
def test_invalid_pod_names_say_why(name: str, says: str) -> None:
    with pytest.raises(InvalidName) as raised:
        validate_pod_name(name)
    assert says in raised.value.user_message


def test_invalid_name_is_a_cluster_error_with_a_user_message() -> None:
    with pytest.raises(ClusterError):
        validate_pod_name("Nope")


def test_a_long_bad_name_is_not_echoed_in_full() -> None:
    with pytest.raises(InvalidName) as raised:
        validate_pod_name("A" * 5000)
    assert len(raised.value.user_message) < 400


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("shop/api-7d9f-x2x9k", Target("shop", "api-7d9f-x2x9k")),
        ("api-7d9f-x2x9k", Target("default", "api-7d9f-x2x9k")),
        ("  shop/api  ", Target("shop", "api")),
    ],
)
def test_parse_target(text: str, target: Target) -> None:
    assert parse_target(text, "default") == target


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Which pod?"),
        ("shop/api/x", "more than one '/'"),
        ("shop api", "spaces"),
        ("/api", "namespace is missing"),
        ("shop/", "pod name is missing"),
        ("Shop/api", "valid namespace"),
    ],
)
def test_parse_target_rejects_with_a_sentence(text: str, says: str) -> None:
    with pytest.raises(InvalidName) as raised:
        parse_target(text, "default")
    assert says in raised.value.user_message


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_any_text_is_either_a_valid_target_or_a_clear_refusal(text: str) -> None:
    try:
        target = parse_target(text, "default")
    except InvalidName as refusal:
        assert refusal.user_message.endswith(".") or refusal.user_message.endswith(")")
        return
    assert DNS1123_SUBDOMAIN.fullmatch(target.name)
    assert "/" not in target.namespace


def test_close_names_offer_the_pods_of_a_deployment_first() -> None:
    pods = ["checkout-api-7d9f8-x2x9k", "checkout-api-7d9f8-q7r2z", "cart-api-5c6d7-aaaaa", "catalog-api-1-b"]
    assert suggest_close_names("checkout-api", pods) == [
        "checkout-api-7d9f8-q7r2z",
        "checkout-api-7d9f8-x2x9k",
    ]


def test_close_names_catch_typos() -> None:
    pods = ["payments-gateway-97b7b-qr8rs", "ledger-0", "ledger-1"]
    assert suggest_close_names("ledgr-0", pods)[0] == "ledger-0"
    assert suggest_close_names("payments-gateway-97b7b-qr8rz", pods) == ["payments-gateway-97b7b-qr8rs"]
    assert suggest_close_names("zzz", pods) == []
