"""`exitcode-bot explain QUERY [--json]`: the same answers from a shell, fast and scriptable."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import bot
from bot.cli import build_parser, main, plain_explain, setting_names
from bot.settings import Settings
from tests.conftest import BOT_COMMAND, bot_env

HEAVY_MODULES = ("slack_bolt", "slack_sdk", "aiohttp", "kubernetes", "prometheus_client")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No `.env` from the repository and no settings from the developer's shell."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("KNOWLEDGE_FILE", "RUNBOOK_URL_TEMPLATE", "PUBLIC_URL", "PORT"):
        monkeypatch.delenv(name, raising=False)


def test_explain_prints_the_answer_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "137"]) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("137")
    assert "SIGKILL" in out
    assert "$ kubectl " in out, "runbook commands are printed ready to paste"


def test_explain_json_has_the_documented_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "1000", "--json"]) == 0

    answer = json.loads(capsys.readouterr().out)
    for field in (
        "code",
        "normalized_code",
        "title",
        "signal",
        "summary",
        "causes",
        "kubernetes",
        "runbook_steps",
        "runbook_url",
        "runtime_hints",
    ):
        assert field in answer
    assert answer["code"] == 1000
    assert answer["normalized_code"] == 232
    assert "1000" in answer["arithmetic"]


def test_multi_word_queries_are_joined(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "signal", "9", "--json"]) == 0

    assert json.loads(capsys.readouterr().out)["normalized_code"] == 137


def test_unreadable_query_prints_usage_and_exits_2_but_help_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "frobnicate"]) == 2
    assert "frobnicate" in capsys.readouterr().out
    assert main(["explain", "help"]) == 0
    capsys.readouterr()
    assert main(["explain", "nonsense", "--json"]) == 2
    usage = json.loads(capsys.readouterr().out)
    assert "nonsense" in usage["usage"] and usage["examples"]


def test_runbook_url_template_setting_reaches_the_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RUNBOOK_URL_TEMPLATE", "https://wiki.example.com/exit/{code}")

    assert main(["explain", "143", "--json"]) == 0

    assert json.loads(capsys.readouterr().out)["runbook_url"] == "https://wiki.example.com/exit/143"


def test_operator_knowledge_file_overrides_an_entry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = tmp_path / "ours.yaml"
    extra.write_text(
        "version: 1\ncodes:\n  - code: 3\n    title: '3 → config invalid'\n"
        "    summary: Our services exit 3 when their config fails validation.\n"
    )
    monkeypatch.setenv("KNOWLEDGE_FILE", str(extra))

    assert main(["explain", "3", "--json"]) == 0

    assert json.loads(capsys.readouterr().out)["title"] == "3 → config invalid"


def test_broken_knowledge_file_is_one_line_naming_file_entry_and_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\ncodes:\n  - code: 3\n    title: [not, a, string]\n")
    monkeypatch.setenv("KNOWLEDGE_FILE", str(broken))

    assert main(["explain", "3"]) == 2

    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert str(broken) in err and "code 3" in err and "title" in err


def test_invalid_setting_names_the_variable_and_never_echoes_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "not-a-port-xoxb-123")

    assert main(["explain", "137"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("exitcode-bot: invalid setting PORT")
    assert "xoxb-123" not in err


def test_explain_does_not_import_slack_kubernetes_aiohttp_or_prometheus(tmp_path: Path) -> None:
    probe = (
        "import sys, io, contextlib\n"
        "from bot.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = main(['explain', '137'])\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY_MODULES!r}))\n"
        "print(code, ','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=bot_env(), timeout=30
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0", f"explain imported: {done.stdout.strip()}"


def test_python_dash_m_bot_help_lists_the_subcommands(tmp_path: Path) -> None:
    done = subprocess.run(
        [*BOT_COMMAND, "--help"], capture_output=True, text=True, cwd=tmp_path, env=bot_env(), timeout=30
    )

    assert done.returncode == 0
    assert "explain" in done.stdout and "console mode" in done.stdout


def test_output_closed_early_is_not_an_error(tmp_path: Path) -> None:
    done = subprocess.run(
        f"{sys.executable} -m bot explain 137 | head -1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=bot_env(),
        timeout=30,
    )

    assert done.stdout.startswith("137")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out == f"exitcode-bot {bot.__version__}\n"


def test_python_dash_m_bot_version(tmp_path: Path) -> None:
    done = subprocess.run(
        [*BOT_COMMAND, "--version"], capture_output=True, text=True, cwd=tmp_path, env=bot_env(), timeout=30
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"exitcode-bot {bot.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+", bot.__version__)


def test_explain_finds_the_settings_it_reads_without_pydantic() -> None:
    """`explain` decides from this list whether a setting is configured; it must be the real one."""
    assert setting_names() == {name.upper() for name in Settings.model_fields}


def test_explain_without_settings_does_not_build_settings(tmp_path: Path) -> None:
    probe = (
        "import sys, io, contextlib\n"
        "from bot.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = main(['explain', '137'])\n"
        "print(code, 'pydantic_settings' in sys.modules, 'bot.settings' in sys.modules)\n"
    )
    env = {k: v for k, v in bot_env().items() if k.upper() not in setting_names()}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env
    )

    assert done.stdout.split() == ["0", "False", "False"], done.stderr


def test_explain_reads_a_dotenv_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A `.env` is a configuration too: `explain` then builds the settings as the bot does."""
    (tmp_path / ".env").write_text("RUNBOOK_URL_TEMPLATE=https://wiki.example.com/dotenv/{code}\n")

    assert main(["explain", "137", "--json"]) == 0

    assert json.loads(capsys.readouterr().out)["runbook_url"] == "https://wiki.example.com/dotenv/137"


@pytest.mark.parametrize(
    "argv",
    [
        ["explain", "137"],
        ["explain", "137", "--json"],
        ["explain", "--json", "137"],
        ["explain", "--json", "exit", "code", "137", "--json"],
        ["explain", "exit", "code", "137"],
        ["explain", "137", "--json", "143"],
        ["explain", "-1"],
        ["explain", "--", "-1"],
        ["explain", "--js", "137"],
        ["explain", "137", "-h"],
        ["explain", ""],
        ["explain", "--json"],
        ["explain"],
        ["explain", "OOM Killed", "share"],
        ["explain", "sig-term"],
        ["pod", "default/web"],
        ["--version"],
        [],
    ],
)
def test_plain_explain_reads_a_command_line_as_argparse_does_or_defers_to_it(
    argv: list[str],
) -> None:
    plain = plain_explain(argv)
    if plain is None:
        return
    args = build_parser().parse_args(argv)
    assert (args.command, args.query, args.json) == ("explain", plain[0], plain[1])


def test_a_plain_explain_does_not_import_argparse(tmp_path: Path) -> None:
    probe = (
        "import sys, io, contextlib\n"
        "from bot.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    code = main(['explain', '137'])\n"
        "print(code, 'argparse' in sys.modules, 'difflib' in sys.modules, 'json' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=bot_env(), timeout=30
    )

    assert done.stdout.split() == ["0", "False", "False", "False"], done.stderr
