# exitcode-bot image.
#   docker build -t exitcode-bot:0.1.0 .
#   docker run --rm exitcode-bot:0.1.0 explain 137
# Runs as UID 10001 on a read-only root filesystem (only /tmp may be writable); see k8s/ and
# docs/operations.md. tests/test_dockerfile.py checks the rules below, since no Docker engine runs in CI.

# One pinned base for both stages: the venv built in the first stage is only valid on the same Python.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---------------------------------------------------------------------------------------------------
# Builder: a virtualenv with the pinned dependencies and the project installed from /app.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"
WORKDIR /app

# Runtime dependencies only (not the dev extras), at the versions pinned in requirements.lock. A layer of
# its own, rebuilt only when pyproject.toml or the lock change, not on every code change.
COPY pyproject.toml requirements.lock ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/runtime-requirements.txt \
    && pip install --requirement /tmp/runtime-requirements.txt --constraint requirements.lock

# The project. `bot/` and `config/` must stay side by side: the knowledge base is found at
# Path(bot.__file__).parents[1] / "config". An editable install keeps the package in /app (a regular
# install would copy it into site-packages, away from config/) and still creates the `exitcode-bot`
# console script. Bytecode is compiled here, because nothing can be written at run time.
COPY README.md ./
COPY bot ./bot
COPY config ./config
RUN pip install --no-deps --editable . \
    && python -m compileall -q --invalidation-mode checked-hash bot

# ---------------------------------------------------------------------------------------------------
# Runtime: the same slim base, no compilers or build tools, the venv and /app copied in read-only
# (owned by root, so the bot cannot change its own code).
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="exitcode-bot" \
      org.opencontainers.image.description="Slack bot for Kubernetes crash triage: explains exit codes, diagnoses pods, alerts on crashes." \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"

# A named user for the numeric UID, so tools that look the user up (ps, getpass) work.
RUN groupadd --system --gid 10001 exitcode-bot \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin exitcode-bot

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app

# PYTHONDONTWRITEBYTECODE: no __pycache__ writes on a read-only root filesystem.
# PYTHONUNBUFFERED: logs reach `kubectl logs` at once, not when a buffer fills.
# PYTHONPATH=/app makes `bot` resolve to /app/bot even without the editable-install hook.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3000

USER 10001:10001
EXPOSE 3000

# The bot handles SIGTERM itself and exits 0 within a few seconds. Exec form matters: a shell-form
# ENTRYPOINT makes /bin/sh PID 1, which neither dies on SIGTERM nor forwards it, so every shutdown would
# end in SIGKILL after the grace period: exit 137, the very code this bot explains.
STOPSIGNAL SIGTERM
ENTRYPOINT ["exitcode-bot"]
