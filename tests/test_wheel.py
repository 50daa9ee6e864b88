"""The wheel works anywhere: built from the sources, installed into a fresh virtualenv outside the checkout.

A new user runs `pip install exitcode-bot` (or the image installs the wheel), not an editable checkout.
So this module builds the wheel with pip (PEP 517, build isolation, as `pip install .` would), installs it
with the runtime dependencies pinned by requirements.lock into a virtualenv in a temporary directory, and
runs the installed `exitcode-bot` from a working directory far from the repository, with no PYTHONPATH:
`explain`, console mode on stdin, and the HTTP server (health probes and a signed slash command). If any
file the bot needs at run time were left out of the wheel, these fail the way a user's install would.

It also keeps the one version number (`bot.__version__`) equal everywhere a release names it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
import venv
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml

import bot
from bot.cli import build_parser
from tests.conftest import SIGNING_SECRET, bot_env, free_port
from tests.deploy_rbac import REPO_ROOT
from tests.fakes.slack_api import DEFAULT_BOT_TOKEN, FakeSlackApi
from tests.fakes.slack_signing import signed_headers, slash_command_body

# What a source distribution of the project holds (and what the Docker build context allows).
BUILD_INPUTS = ("pyproject.toml", "README.md", "bot")
KNOWLEDGE_IN_WHEEL = "bot/knowledge/data/exitcodes.yaml"
PIP_TIMEOUT = 600
RUN_TIMEOUT = 60


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    workdir: Path  # an empty directory outside the checkout: the working directory of every run

    @property
    def script(self) -> Path:
        return self.venv / "bin" / "exitcode-bot"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def env(self, **overrides: str) -> dict[str, str]:
        """The tests' bot environment (no Slack settings, never a real cluster), minus the checkout."""
        env = bot_env(**overrides)
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), "/usr/bin", "/bin"])
        return env

    def run(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.script), *args],
            cwd=self.workdir,
            env=self.env(**env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )


def _pip(python: Path | str, *args: str, cwd: Path) -> None:
    run = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        check=False,
    )
    assert run.returncode == 0, f"pip {' '.join(args)} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the wheel from a copy of the build inputs only, install it into a new venv (runtime
    dependencies only, at the locked versions), and return where everything is."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        origin = REPO_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(origin, source / name)
    dist = root / "dist"
    _pip(sys.executable, "wheel", "--no-deps", "--wheel-dir", str(dist), str(source), cwd=root)
    (wheel,) = dist.glob("exitcode_bot-*.whl")

    environment = root / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(environment)
    python = environment / "bin" / "python"
    lock = REPO_ROOT / "requirements.lock"
    _pip(python, "install", "--no-compile", "--constraint", str(lock), str(wheel), cwd=root)
    workdir = root / "elsewhere"
    workdir.mkdir()
    return Installed(wheel=wheel, venv=environment, workdir=workdir)


# --------------------------------------------------------------------------------------------------
# What the wheel holds


def test_the_wheel_carries_the_knowledge_base_and_the_release_version(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"exitcode_bot-{bot.__version__}.dist-info/METADATA").decode()
    assert KNOWLEDGE_IN_WHEEL in names
    assert "bot/py.typed" in names
    assert f"\nVersion: {bot.__version__}\n" in metadata
    assert not [name for name in names if name.startswith(("tests/", "config/", "bench/", "charts/"))]


def test_the_installed_bot_is_the_wheel_not_the_checkout(installed: Installed) -> None:
    probe = subprocess.run(
        [
            str(installed.python),
            "-c",
            "import bot, importlib.metadata as m; from bot.knowledge import DEFAULT_KNOWLEDGE_FILE as f;"
            "print(bot.__file__); print(f); print(m.version('exitcode-bot'))",
        ],
        cwd=installed.workdir,
        env=installed.env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=True,
    )
    package_file, knowledge_file, version = probe.stdout.split()
    assert Path(package_file).is_relative_to(installed.venv)
    assert Path(knowledge_file).is_relative_to(installed.venv) and Path(knowledge_file).is_file()
    assert version == bot.__version__


def test_the_installed_venv_holds_no_development_tool(installed: Installed) -> None:
    """The wheel's requirements are the runtime ones; test and lint tools stay out (slim runtime)."""
    for tool in ("pytest", "mypy", "ruff", "hypothesis", "kubernetes_validate", "helm_python"):
        found = subprocess.run(
            [
                str(installed.python),
                "-c",
                f"import importlib.util as u; print(u.find_spec({tool!r}) is None)",
            ],
            cwd=installed.workdir,
            env=installed.env(),
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=True,
        )
        assert found.stdout.strip() == "True", f"{tool} was installed with the runtime"


# --------------------------------------------------------------------------------------------------
# Running it


def test_explain_runs_from_the_installed_wheel(installed: Installed) -> None:
    run = installed.run("explain", "137")
    assert run.returncode == 0, run.stderr
    assert "SIGKILL" in run.stdout
    assert "knowledge file not found" not in run.stderr

    as_json = installed.run("explain", "OOMKilled", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["title"]


def test_the_example_override_file_extends_the_installed_knowledge(installed: Installed) -> None:
    """config/exitcodes.example.yaml is what operators copy: it must load on top of the packaged file."""
    example = REPO_ROOT / "config" / "exitcodes.example.yaml"
    run = installed.run("explain", "3", KNOWLEDGE_FILE=str(example))
    assert run.returncode == 0, run.stderr
    assert "configuration invalid (our services)" in run.stdout


def test_version_flag_prints_the_release(installed: Installed) -> None:
    if "--version" not in build_parser().format_help():
        pytest.skip(
            "`exitcode-bot --version` is implemented in bot/cli.py by another change, not merged here"
        )
    run = installed.run("--version")
    assert run.returncode == 0, run.stderr
    assert bot.__version__ in run.stdout


def test_console_mode_answers_stdin_from_the_installed_wheel(installed: Installed) -> None:
    run = installed.run(stdin="137\nOOMKilled\n")
    assert run.returncode == 0, run.stderr
    assert "console mode" in run.stdout
    assert "SIGKILL" in run.stdout and "OOMKilled" in run.stdout
    assert "Traceback" not in run.stderr


def _tree(root: Path) -> dict[str, int]:
    """Every file under root with its modification time (ns): a snapshot to compare after a run."""
    return {str(path): path.stat().st_mtime_ns for path in root.rglob("*") if path.is_file()}


def test_the_installed_bot_writes_nothing_where_the_image_is_read_only(installed: Installed) -> None:
    """The image runs on a read-only root filesystem with PYTHONDONTWRITEBYTECODE=1 (its Dockerfile
    sets it): then neither the installed package nor the working directory may change."""
    before = _tree(installed.venv) | _tree(installed.workdir)
    answered = installed.run("explain", "137", PYTHONDONTWRITEBYTECODE="1")
    console = installed.run(stdin="143\n", PYTHONDONTWRITEBYTECODE="1")
    assert answered.returncode == 0 and console.returncode == 0, answered.stderr + console.stderr
    assert _tree(installed.venv) | _tree(installed.workdir) == before


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as fake:
        yield fake


async def test_http_server_runs_from_the_installed_wheel(
    installed: Installed, slack_api: FakeSlackApi
) -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(installed.script),
        cwd=installed.workdir,
        env=installed.env(
            PORT=str(port),
            SLACK_BOT_TOKEN=DEFAULT_BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack_api.base_url,
        ),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            await _wait_for_200(session, process, url + "/healthz")
            await _wait_for_200(session, process, url + "/readyz")
            body = slash_command_body("137")
            async with session.post(
                url + "/slack/events", data=body, headers=signed_headers(SIGNING_SECRET, body)
            ) as reply:
                status, answer = reply.status, json.loads(await reply.text())
            async with session.get(url + "/metrics") as metrics:
                exposition = await metrics.text()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=RUN_TIMEOUT)

    assert status == 200
    assert "SIGKILL" in answer["text"]
    assert "exitcode_bot_commands_total" in exposition
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert "Traceback" not in stderr.decode()


async def _wait_for_200(
    session: aiohttp.ClientSession, process: asyncio.subprocess.Process, url: str
) -> None:
    """Poll until the endpoint says 200; fail at once if the bot exits instead."""
    async with asyncio.timeout(RUN_TIMEOUT):
        while True:
            if process.returncode is not None:
                raise AssertionError(f"the installed bot exited with {process.returncode} before {url}")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)


# --------------------------------------------------------------------------------------------------
# One version number


def _dockerfile_label_version() -> str:
    match = re.search(
        r'org\.opencontainers\.image\.version="([^"]+)"', (REPO_ROOT / "Dockerfile").read_text()
    )
    assert match, "the Dockerfile labels its version"
    return match[1]


def _chart() -> dict[str, str]:
    chart: dict[str, str] = yaml.safe_load((REPO_ROOT / "charts" / "exitcode-bot" / "Chart.yaml").read_text())
    return chart


def _kustomize_tag() -> str:
    kustomization = yaml.safe_load((REPO_ROOT / "k8s" / "base" / "kustomization.yaml").read_text())
    (image,) = [image for image in kustomization["images"] if image["name"] == "exitcode-bot"]
    return str(image["newTag"])


def _slack_manifest_version() -> str:
    first_line = (REPO_ROOT / "config" / "slack-app-manifest.yaml").read_text().splitlines()[0]
    match = re.match(r"# exitcode-bot (\S+) ", first_line)
    assert match, "the Slack manifest's first line names the release (the format has no field for it)"
    return match[1]


def test_one_version_number_everywhere() -> None:
    with (REPO_ROOT / "pyproject.toml").open("rb") as stream:
        project = tomllib.load(stream)
    assert "version" in project["project"]["dynamic"], "pyproject.toml must read bot.__version__"
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "bot.__version__"}
    chart = _chart()
    named = {
        "Dockerfile label": _dockerfile_label_version(),
        "Chart.yaml version": str(chart["version"]),
        "Chart.yaml appVersion": str(chart["appVersion"]),
        "k8s/base image tag": _kustomize_tag(),
        "Slack manifest": _slack_manifest_version(),
    }
    differing = {where: version for where, version in named.items() if version != bot.__version__}
    assert not differing, f"bot.__version__ is {bot.__version__}, but: {differing}"


def test_the_changelog_describes_the_release() -> None:
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## \[?(\d+\.\d+\.\d+)\]?", changelog, re.M)
    assert releases and releases[0] == bot.__version__, (
        f"CHANGELOG.md's newest release is not {bot.__version__}"
    )
