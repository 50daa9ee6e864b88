# exitcode-bot image.
#   docker build -t exitcode-bot:0.2.0 .
#   docker run --rm exitcode-bot:0.2.0 explain 137
# Runs as UID 10001 on a read-only root filesystem (only /tmp may be writable); see charts/, k8s/ and
# docs/operations.md. tests/test_dockerfile.py checks the rules below, since no Docker engine runs in CI;
# tests/test_wheel.py installs the same wheel into a fresh virtualenv and runs it.

# One pinned base for both stages: the venv built in the first stage is only valid on the same Python.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---------------------------------------------------------------------------------------------------
# Builder: builds the wheel, then a virtualenv holding the runtime dependencies and that wheel.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
WORKDIR /src

# Runtime dependencies only, at the versions pinned in requirements.lock (the runtime lock: no test or lint
# tool is in it). A layer of its own, rebuilt only when the lock changes, not on every code change.
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --requirement requirements.lock

# The project as a wheel (the knowledge base is package data inside it), installed as a regular, not
# editable, package: the image holds site-packages and the console script, no source tree. `pip check`
# fails the build if the lock lacks a dependency the wheel declares. pip compiles the bytecode at install
# time, because nothing can be written at run time.
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-deps /wheels/exitcode_bot-*.whl \
    && /opt/venv/bin/pip check

# Trim what the running bot never imports: pip and setuptools (nothing is installed at run time) and the
# Kubernetes client's asyncio flavour `kubernetes/aio` (68 MB; the bot uses the synchronous client off
# the event loop, and nothing outside kubernetes/aio imports it). The import check fails the build if
# that ever changes.
RUN /opt/venv/bin/pip uninstall --yes pip setuptools \
    && rm -rf /opt/venv/lib/python3.*/site-packages/kubernetes/aio \
    && /opt/venv/bin/python -c 'import bot.wiring, bot.kube.reader, bot.kube.watch, bot.kube.lease, bot.kube.ledger, kubernetes' \
    && /opt/venv/bin/exitcode-bot explain 137 > /dev/null

# ---------------------------------------------------------------------------------------------------
# Runtime: the same slim base, no compilers, no build tools, no sources; only the venv, copied in
# read-only (owned by root, so the bot cannot change its own code).
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="exitcode-bot" \
      org.opencontainers.image.description="Slack bot for Kubernetes crash triage: explains exit codes, diagnoses pods, alerts on crashes." \
      org.opencontainers.image.version="0.2.0" \
      org.opencontainers.image.licenses="Apache-2.0"

# A named user for the numeric UID, so tools that look the user up (ps, getpass) work.
RUN groupadd --system --gid 10001 exitcode-bot \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin exitcode-bot

COPY --from=builder /opt/venv /opt/venv

# PYTHONDONTWRITEBYTECODE: no __pycache__ writes on a read-only root filesystem.
# PYTHONUNBUFFERED: logs reach `kubectl logs` at once, not when a buffer fills.
# HOME=/tmp: the one writable path, for any library that insists on a home directory.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    PORT=3000

USER 10001:10001
EXPOSE 3000

# The bot handles SIGTERM itself and exits 0 within a few seconds. Exec form matters: a shell-form
# ENTRYPOINT makes /bin/sh PID 1, which neither dies on SIGTERM nor forwards it, so every shutdown would
# end in SIGKILL after the grace period: exit 137, the very code this bot explains.
STOPSIGNAL SIGTERM
ENTRYPOINT ["exitcode-bot"]
