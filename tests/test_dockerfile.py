"""The image a platform team builds from `Dockerfile`: what it runs, as whom, and what it contains.

No Docker engine runs in CI, so the Dockerfile is parsed: stages, ARG defaults, COPY paths, USER,
ENTRYPOINT. The checks are the ones a security review and a first `docker run` would make: a pinned base,
a non-root numeric user (the same one the Kubernetes manifests declare), an exec-form entry point (a
shell-form one turns every shutdown into the 137 this bot explains), the wheel installed (not an editable
checkout) with runtime dependencies only, no compilers, no tokens in the build context, and documented
`docker run` commands that the image's entry point really accepts.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

import bot
from bot.cli import build_parser
from bot.settings import Settings
from tests.deploy_rbac import BASE_DIR, REPO_ROOT, iter_pod_specs, render_kustomization, split_image

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
# Where operators read how to run the image: the README (another engineer's) and the operations guide.
RUN_DOCS = (REPO_ROOT / "README.md", REPO_ROOT / "docs" / "operations.md")
BUILD_TOOLS = frozenset(
    {"gcc", "g++", "cc", "clang", "make", "cmake", "build-essential", "build-base", "libc6-dev"}
    | {"musl-dev", "python3-dev", "python-dev", "rustc", "cargo", "git"}
)
# `docker run` options that take a value (as a separate word); every other option must be a known flag.
DOCKER_RUN_VALUE_OPTIONS = frozenset(
    {"-e", "--env", "--env-file", "-p", "--publish", "-v", "--volume", "--name", "-u", "--user"}
    | {"--network", "--entrypoint", "--tmpfs", "--mount", "-w", "--workdir", "-m", "--memory", "--platform"}
    | {"--cap-drop", "--security-opt", "--restart", "--pull", "-l", "--label", "-h", "--hostname"}
)
DOCKER_RUN_FLAGS = frozenset(
    {"--rm", "-i", "-t", "-it", "-ti", "-d", "--detach", "--interactive", "--tty", "--init", "--read-only"}
)


# --------------------------------------------------------------------------------------------------
# A Dockerfile parser for the instructions this project uses


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def named(self, keyword: str) -> list[Instruction]:
        return [item for item in self.instructions if item.keyword == keyword]

    def env(self) -> dict[str, str]:
        """ENV values set in this stage (`KEY=value` pairs; later ones win)."""
        values: dict[str, str] = {}
        for item in self.named("ENV"):
            for pair in shlex.split(item.arguments):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


def logical_lines(text: str) -> list[str]:
    """Instructions with `\\` continuations joined and comment lines dropped, as BuildKit reads them."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append((current + stripped).strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    return lines


def substitute(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables.get(m[1] or m[2], m[0]), text)


def parse_dockerfile(path: Path = DOCKERFILE) -> list[Stage]:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(path.read_text(encoding="utf-8")):
        keyword, _, arguments = line.partition(" ")
        keyword, arguments = keyword.upper(), arguments.strip()
        if keyword == "FROM":
            words = [w for w in substitute(arguments, global_args).split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(name=name, base=words[0]))
        elif not stages:
            assert keyword == "ARG", f"only ARG may come before the first FROM, not {keyword}"
            arg_name, _, default = arguments.partition("=")
            global_args[arg_name] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, arguments))
    return stages


def exec_form(instruction: Instruction) -> list[str] | None:
    """The JSON array of an exec-form instruction, or None for shell form."""
    try:
        value = json.loads(instruction.arguments)
    except json.JSONDecodeError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def final_stage() -> Stage:
    return parse_dockerfile()[-1]


def entrypoint() -> list[str]:
    (instruction,) = final_stage().named("ENTRYPOINT")
    command = exec_form(instruction)
    assert command is not None, "ENTRYPOINT must be exec form (a JSON array)"
    return command


def default_arguments() -> list[str]:
    commands = final_stage().named("CMD")
    if not commands:
        return []
    arguments = exec_form(commands[-1])
    assert arguments is not None, "CMD must be exec form (a JSON array)"
    return arguments


def pyproject() -> dict[str, object]:
    with (REPO_ROOT / "pyproject.toml").open("rb") as stream:
        return tomllib.load(stream)


# --------------------------------------------------------------------------------------------------
# Base images, user, entry point, port, signals


def test_every_base_image_is_pinned_to_a_version() -> None:
    stages = parse_dockerfile()
    names = {stage.name for stage in stages if stage.name}
    for stage in stages:
        if stage.base in names:
            continue
        _, tag, digest = split_image(stage.base)
        assert "$" not in stage.base, f"unresolved variable in FROM {stage.base}"
        assert digest or re.search(r"\d+\.\d+\.\d+", tag), (
            f"{stage.base}: pin a version tag (or a digest), never latest"
        )
        assert tag != "latest"


def test_the_final_image_is_slim_and_installs_no_build_tools() -> None:
    stage = final_stage()
    assert re.search(r"slim|distroless|alpine", stage.base), f"{stage.base} is not a slim base"
    for run in stage.named("RUN"):
        assert "pip install" not in run.arguments, "dependencies are built in the builder stage"
        for match in re.finditer(r"\b(?:apt-get|apt|apk|yum|dnf|microdnf)\b([^&;|]*)", run.arguments):
            words = set(match[1].split())
            if "install" in words or "add" in words:
                assert not words & BUILD_TOOLS, f"build tools in the final image: {words & BUILD_TOOLS}"


def test_the_image_runs_as_the_non_root_user_the_manifests_declare() -> None:
    users = final_stage().named("USER")
    assert users, "the final stage must set USER"
    user = users[-1].arguments
    match = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    assert match, f"USER {user} must be numeric, so Kubernetes can verify runAsNonRoot"
    uid, gid = int(match[1]), int(match[2] or match[1])
    assert uid != 0 and gid != 0
    for _, spec in iter_pod_specs(render_kustomization(BASE_DIR)):
        for container in spec["containers"]:
            assert container["securityContext"]["runAsUser"] == uid
            assert container["securityContext"]["runAsGroup"] == gid


def test_the_entry_point_is_the_bot_console_script_in_exec_form() -> None:
    command = entrypoint()
    project = pyproject()["project"]
    assert isinstance(project, dict)
    scripts: dict[str, str] = project["scripts"]
    assert command[0] in scripts, f"{command[0]} is not a console script declared in pyproject.toml"
    # The same program as `python -m bot`, which the README documents.
    assert scripts[command[0]] == "bot.__main__:main"
    for instruction in final_stage().named("CMD"):
        assert exec_form(instruction) is not None, "CMD must be exec form too"


def test_expose_matches_the_port_the_bot_listens_on() -> None:
    stage = final_stage()
    exposed = {int(port.split("/")[0]) for item in stage.named("EXPOSE") for port in item.arguments.split()}
    listening = int(stage.env().get("PORT", Settings.model_fields["port"].default))
    assert exposed == {listening} == {Settings.model_fields["port"].default}


def test_sigterm_stops_the_bot() -> None:
    signals = [item.arguments for item in final_stage().named("STOPSIGNAL")]
    assert signals in ([], ["SIGTERM"])


def test_nothing_is_written_outside_tmp_at_run_time() -> None:
    """No bytecode caches next to the code: the root filesystem is read-only in Kubernetes."""
    assert final_stage().env().get("PYTHONDONTWRITEBYTECODE") == "1"


def test_dependencies_come_from_the_lock() -> None:
    builder_runs = " ".join(
        item.arguments for stage in parse_dockerfile()[:-1] for item in stage.named("RUN")
    )
    assert re.search(r"pip install [^&;]*(--requirement|-r|--constraint|-c) requirements\.lock", builder_runs)


# --------------------------------------------------------------------------------------------------
# The files in the image


def _copy_parts(instruction: Instruction) -> tuple[dict[str, str], list[str], str]:
    words = shlex.split(instruction.arguments)
    options = dict(word[2:].partition("=")[::2] for word in words if word.startswith("--"))
    paths = [word for word in words if not word.startswith("--")]
    return options, paths[:-1], paths[-1]


def _resolve(workdir: PurePosixPath, path: str) -> PurePosixPath:
    return workdir / path if not path.startswith("/") else PurePosixPath(path)


def context_locations_in_builder() -> dict[str, PurePosixPath]:
    """Build-context path → where the builder stage puts it, following Docker's COPY rules (a directory's
    *contents* land in the destination; a file lands in it when it ends with `/`)."""
    locations: dict[str, PurePosixPath] = {}
    for stage in parse_dockerfile()[:-1]:
        workdir = PurePosixPath("/")
        for item in stage.instructions:
            if item.keyword == "WORKDIR":
                workdir = _resolve(workdir, item.arguments)
            if item.keyword != "COPY":
                continue
            options, sources, destination = _copy_parts(item)
            if "from" in options:
                continue
            target = _resolve(workdir, destination)
            for source in sources:
                into_directory = (REPO_ROOT / source).is_file() and (
                    destination.endswith("/") or len(sources) > 1
                )
                locations[source] = target / PurePosixPath(source).name if into_directory else target
    return locations


def final_location(builder_path: PurePosixPath) -> PurePosixPath | None:
    for item in final_stage().named("COPY"):
        options, sources, destination = _copy_parts(item)
        for source in sources:
            if "from" in options and builder_path.is_relative_to(source):
                return PurePosixPath(destination) / builder_path.relative_to(source)
    return None


def test_the_runtime_installs_the_built_wheel_not_the_source_tree() -> None:
    """The image runs what a `pip install` of the wheel gives (the knowledge base is package data inside
    it, tests/test_wheel.py runs that wheel), not an editable checkout that happens to sit next to it."""
    builder_runs = [item.arguments for stage in parse_dockerfile()[:-1] for item in stage.named("RUN")]
    joined = " && ".join(builder_runs)
    assert re.search(r"pip wheel [^&;]*--no-deps[^&;]* \.(\s|$)", joined), "the builder must build the wheel"
    assert re.search(r"pip install [^&;]*\.whl", joined), "the venv must install the wheel"
    assert not re.search(r"pip install [^&;]*(-e|--editable)\b", joined), "no editable install in the image"
    final = final_stage()
    copied = [_copy_parts(item) for item in final.named("COPY")]
    assert copied, "the final stage copies the venv from the builder"
    for options, sources, _ in copied:
        assert "from" in options, "the final stage takes nothing from the build context"
        venv_sources = {PurePosixPath(source) for source in sources}
        assert venv_sources == {PurePosixPath("/opt/venv")}, f"only the venv reaches the image, not {sources}"
    assert "PYTHONPATH" not in final.env(), "no source tree on the import path"


def test_the_runtime_lock_holds_no_development_tool() -> None:
    """requirements.lock is what the image and `make run` install: runtime packages only. The dev tools
    live in requirements-dev.lock, which pins every runtime package at the same version."""
    project = pyproject()["project"]
    assert isinstance(project, dict)
    dev_tools = {_requirement_name(line) for line in project["optional-dependencies"]["dev"]}
    runtime = _lock(REPO_ROOT / "requirements.lock")
    development = _lock(REPO_ROOT / "requirements-dev.lock")
    assert not dev_tools & set(runtime), f"dev tools in the runtime lock: {dev_tools & set(runtime)}"
    for dependency in project["dependencies"]:
        assert _requirement_name(dependency) in runtime, f"{dependency} is not pinned in requirements.lock"
    differing = {name for name, version in runtime.items() if development.get(name) != version}
    assert not differing, f"pinned differently in the two locks: {sorted(differing)}"


def _requirement_name(requirement: str) -> str:
    """`slack-bolt>=1.21` → `slack-bolt`, normalized as pip compares names (PEP 503)."""
    name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock(path: Path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[_requirement_name(name)] = version.strip()
    return pins


def test_every_file_the_build_copies_exists() -> None:
    """`docker build` stops at a missing COPY source (README.md is also pyproject's `readme`)."""
    missing = [source for source in context_locations_in_builder() if not (REPO_ROOT / source).exists()]
    assert missing == []


def test_the_build_context_holds_no_secrets_and_all_the_sources() -> None:
    ignore = DockerIgnore.load(DOCKERIGNORE)
    for private in (".env", ".venv/bin/python", ".git/config", "bot/__pycache__/cli.cpython-311.pyc"):
        assert ignore.excludes(private), f"{private} would be sent to the Docker daemon"
    for source in context_locations_in_builder():
        assert not ignore.excludes(source), f"the Dockerfile copies {source}, which .dockerignore drops"
    for directory in ("bot",):
        for path in (REPO_ROOT / directory).rglob("*"):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if path.is_file() and "__pycache__" not in relative:
                assert not ignore.excludes(relative), relative


@dataclass
class DockerIgnore:
    """`.dockerignore` semantics: patterns in order, the last match wins, `!` re-includes, a pattern
    matching a directory matches everything in it, `**` spans directories."""

    rules: list[tuple[bool, re.Pattern[str]]]

    @classmethod
    def load(cls, path: Path) -> DockerIgnore:
        rules = []
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            pattern = line.lstrip("!").strip("/")
            rules.append((negated, re.compile(cls._translate(pattern))))
        return cls(rules)

    @staticmethod
    def _translate(pattern: str) -> str:
        regex = ""
        index = 0
        while index < len(pattern):
            if pattern.startswith("**/", index):
                regex, index = regex + "(?:.*/)?", index + 3
            elif pattern.startswith("**", index):
                regex, index = regex + ".*", index + 2
            elif pattern[index] == "*":
                regex, index = regex + "[^/]*", index + 1
            elif pattern[index] == "?":
                regex, index = regex + "[^/]", index + 1
            else:
                regex, index = regex + re.escape(pattern[index]), index + 1
        return regex

    def excludes(self, relative_path: str) -> bool:
        parts = relative_path.split("/")
        candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
        excluded = False
        for negated, regex in self.rules:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                excluded = not negated
        return excluded


# --------------------------------------------------------------------------------------------------
# The documented `docker run` commands


@dataclass(frozen=True)
class DocumentedRun:
    source: str
    options: list[str]
    image: str
    arguments: list[str]
    claimed_command: list[str] | None  # from a trailing `# runs: …` comment
    unknown_options: list[str]  # options this test cannot tell flags from options with values


def documented_docker_runs(path: Path) -> list[DocumentedRun]:
    """`docker run` lines inside fenced code blocks of a Markdown file."""
    if not path.exists():
        return []
    runs = []
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)
    for block in blocks:
        for line in logical_lines(block.replace("\\\n", " ")):
            line = line.removeprefix("$ ").strip()
            if not line.startswith("docker run"):
                continue
            claim = re.search(r"\s#\s*runs:\s*(.+)$", line)
            words = shlex.split(line, comments=True)
            runs.append(_parse_run(path.name, words[2:], shlex.split(claim[1]) if claim else None))
    return runs


def _parse_run(source: str, words: list[str], claim: list[str] | None) -> DocumentedRun:
    options: list[str] = []
    unknown: list[str] = []
    index = 0
    while index < len(words) and words[index].startswith("-"):
        word = words[index]
        name = word.split("=", 1)[0]
        if word in DOCKER_RUN_VALUE_OPTIONS:
            options += words[index : index + 2]
            index += 2
            continue
        if name not in DOCKER_RUN_VALUE_OPTIONS and word not in DOCKER_RUN_FLAGS:
            unknown.append(word)
        options.append(word)
        index += 1
    image = words[index] if index < len(words) else ""
    return DocumentedRun(source, options, image, words[index + 1 :], claim, unknown)


def all_documented_runs() -> list[DocumentedRun]:
    return [run for path in RUN_DOCS for run in documented_docker_runs(path)]


def test_the_docs_show_how_to_run_the_image() -> None:
    assert all_documented_runs(), f"no `docker run` example in {[p.name for p in RUN_DOCS]}"


@pytest.mark.parametrize(
    "run", all_documented_runs(), ids=lambda run: f"{run.source}:{' '.join(run.arguments) or 'bot'}"
)
def test_documented_runs_use_the_image_entry_point(run: DocumentedRun) -> None:
    """What the docs say the container runs is what ENTRYPOINT + arguments really run."""
    assert run.unknown_options == [], f"{run.source}: add these `docker run` options to this test's tables"
    assert not any(option.startswith("--entrypoint") for option in run.options), "do not bypass it"
    name, tag, digest = split_image(run.image)
    assert name.rsplit("/", 1)[-1] == "exitcode-bot", run.image
    assert digest or tag == bot.__version__, f"{run.image}: document the released version's tag"
    command = entrypoint() + (run.arguments or default_arguments())
    if run.claimed_command is not None:
        assert run.claimed_command == command
    assert run.arguments[:1] not in ([command[0]], ["python"], ["python3"]), (
        f"{run.source}: the image already runs {command[0]}; pass only its arguments"
    )
    try:
        build_parser().parse_args(command[1:])
    except SystemExit:
        pytest.fail(f"{run.source}: `{' '.join(command)}` is not a command the bot accepts")
