"""CONFIG_FILE and the namespace access policy: who may ask about which namespace, from which channel.

What an operator relies on: the shipped example means what its comments say; `{}` (the shipped default)
and no file at all leave access to ALLOWED_NAMESPACES; a typo stops the bot with one line naming the file
and the field instead of silently opening or closing access; both layers must allow a namespace.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.access import BotConfig, ConfigFileError, NamespaceAccess, SlackChannel, load_bot_config
from tests.conftest import BOT_COMMAND, REPO_ROOT, bot_env

SHIPPED_CONFIGMAP = REPO_ROOT / "k8s" / "base" / "configmap.yaml"


def shipped_config_text() -> str:
    configmap = yaml.safe_load(SHIPPED_CONFIGMAP.read_text(encoding="utf-8"))
    text: str = configmap["data"]["config.yaml"]
    return text


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- loading ------------------------------------------------------------------------------------------


def test_shipped_config_loads_as_empty(tmp_path: Path) -> None:
    config = load_bot_config(write(tmp_path, shipped_config_text()))

    assert config == BotConfig()


def test_shipped_example_uncommented_means_what_its_comments_say(tmp_path: Path) -> None:
    """The example in k8s/base/configmap.yaml is the documentation operators copy: it must load."""
    example = "\n".join(
        re.sub(r"^(\s*)# ?", r"\1", line)
        for line in shipped_config_text().splitlines()
        if line.lstrip().startswith("#") and not line.lstrip().startswith("# Example")
    )
    config = load_bot_config(write(tmp_path, example))

    assert config.channel_namespaces == {"#payments-oncall": ("payments-*", "shared"), "C0123ABCD": ("*",)}
    assert config.alert_channel_for("payments-eu") == "#payments-alerts"
    assert config.alert_channel_for("kube-system") == "#platform-alerts"
    assert config.alert_channel_for("shop") is None
    access = NamespaceAccess.from_config(["*"], config)
    assert access.denial("payments-eu", SlackChannel("C0PAYMENTS", "payments-oncall")) is None
    assert access.denial("kube-system", SlackChannel("C0123ABCD", "platform")) is None
    assert access.denial("kube-system", SlackChannel("C0PAYMENTS", "payments-oncall")) is not None


@pytest.mark.parametrize("text", ["{}", "", "# nothing configured yet\n"])
def test_empty_config_files_load(tmp_path: Path, text: str) -> None:
    assert load_bot_config(write(tmp_path, text)) == BotConfig()


def test_no_config_file_is_an_empty_configuration() -> None:
    assert load_bot_config(None) == BotConfig()


def test_channel_names_are_normalised_and_a_single_glob_may_be_a_string(tmp_path: Path) -> None:
    text = 'channel_namespaces:\n  "#Payments-OnCall": payments-*\n  "*": [shared]\n'

    config = load_bot_config(write(tmp_path, text))

    assert config.channel_namespaces == {"#payments-oncall": ("payments-*",), "*": ("shared",)}


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("chanel_namespaces: {}\n", "chanel_namespaces", "unknown field"),
        ('channel_namespaces:\n  payments-oncall: ["x"]\n', 'channel_namespaces["payments-oncall"]', "#"),
        ('channel_namespaces:\n  "#ops": ["Payments-*"]\n', 'channel_namespaces["#ops"][0]', "lower case"),
        ('channel_namespaces:\n  "#ops": ["pay ments"]\n', 'channel_namespaces["#ops"][0]', "glob"),
        ('channel_namespaces:\n  "#ops": 5\n', 'channel_namespaces["#ops"]', "list of namespace globs"),
        ('namespace_channels:\n  "payments-*": payments-alerts\n', 'namespace_channels["payments-*"]', "#"),
        ("channel_namespaces: [a, b]\n", "channel_namespaces", "mapping"),
    ],
)
def test_a_broken_field_is_named_with_the_file(tmp_path: Path, text: str, field: str, problem: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigFileError) as broken:
        load_bot_config(path)

    message = str(broken.value)
    assert message.startswith(f"{path}, field '{field}")
    assert problem in message


@pytest.mark.parametrize(
    ("text", "problem"),
    [("channel_namespaces: {\n", "YAML syntax error at line"), ("- just\n- a list\n", "must be a mapping")],
)
def test_a_file_that_is_not_a_mapping_is_named(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigFileError) as broken:
        load_bot_config(path)

    assert str(broken.value).startswith(str(path)) and problem in str(broken.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as missing:
        load_bot_config(tmp_path / "nope.yaml")

    assert str(tmp_path / "nope.yaml") in str(missing.value) and "not found" in str(missing.value)


def test_a_broken_config_file_stops_the_bot_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'channel_namespaces:\n  "#ops": ["Kube-System"]\n')

    done = subprocess.run(
        BOT_COMMAND,
        input="",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=bot_env(CONFIG_FILE=str(path)),
        timeout=30,
    )

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert str(path) in done.stderr and "channel_namespaces" in done.stderr
    assert "console mode" not in done.stdout, "the bot must not start with a broken CONFIG_FILE"


# --- the policy ---------------------------------------------------------------------------------------

OPS = SlackChannel("C0OPS", "ops")
PAYMENTS = SlackChannel("C0PAY", "payments-oncall")
ELSEWHERE = SlackChannel("C0RANDOM", "random")


def test_allowed_namespaces_globs_apply_everywhere() -> None:
    access = NamespaceAccess(["shop", "payments-*"])

    assert access.denial("shop") is None
    assert access.denial("payments-eu", ELSEWHERE) is None
    denied = access.denial("kube-system")
    assert denied is not None
    assert "kube-system" in denied and "ALLOWED_NAMESPACES" in denied and "payments-*" in denied


def test_default_allows_every_namespace_from_every_channel() -> None:
    access = NamespaceAccess()

    assert access.denial("kube-system") is None
    assert access.denial("kube-system", ELSEWHERE) is None


def test_empty_allowed_namespaces_allows_nothing_and_says_so() -> None:
    denied = NamespaceAccess([]).denial("shop")

    assert denied is not None and "ALLOWED_NAMESPACES is empty" in denied


def test_channels_match_by_id_or_by_name() -> None:
    access = NamespaceAccess(["*"], {"C0OPS": ["*"], "#payments-oncall": ["payments-*"]})

    assert access.denial("kube-system", OPS) is None
    assert access.denial("payments-eu", PAYMENTS) is None
    denied = access.denial("kube-system", PAYMENTS)
    assert denied is not None and "payments-*" in denied and "channel_namespaces" in denied


def test_an_unlisted_channel_may_query_nothing_unless_there_is_a_star_entry() -> None:
    strict = NamespaceAccess(["*"], {"C0OPS": ["*"]})
    with_default = NamespaceAccess(["*"], {"C0OPS": ["*"], "*": ["shared"]})

    denied = strict.denial("shared", ELSEWHERE)
    assert denied is not None and "does not list it" in denied
    assert with_default.denial("shared", ELSEWHERE) is None
    assert with_default.denial("shop", ELSEWHERE) is not None


def test_both_layers_must_allow_a_namespace() -> None:
    access = NamespaceAccess(["shop"], {"C0OPS": ["*"]})

    denied = access.denial("payments", OPS)
    assert denied is not None and "ALLOWED_NAMESPACES" in denied


def test_without_a_channel_only_allowed_namespaces_applies() -> None:
    """Console mode and the CLI have no channel: the channel map cannot apply to them."""
    access = NamespaceAccess(["shop"], {"C0OPS": ["payments"]})

    assert access.denial("shop") is None
    assert access.denial("payments") is not None


def test_alert_routing_takes_the_first_matching_glob(tmp_path: Path) -> None:
    text = 'namespace_channels:\n  "payments-eu": C0EUALERT\n  "payments-*": "#payments-alerts"\n'

    config = load_bot_config(write(tmp_path, text))

    assert config.alert_channel_for("payments-eu") == "C0EUALERT"
    assert config.alert_channel_for("payments-us") == "#payments-alerts"
    assert config.alert_channel_for("shop") is None
