# Two commands on a fresh machine: `make run` (console mode without Slack tokens) and `make test`.
#
# Two stamps, two lock files: `make run` installs the runtime dependencies only (requirements.lock), so the
# first answer does not wait for the test and lint tools; `make test` adds the dev tools on top
# (requirements-dev.lock, which pins the runtime packages at the same versions).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
LOCK_VENV := $(VENV)/lock-venv

.PHONY: run test lint typecheck contracts unit bench clean lock

$(RUNTIME_STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e .
	touch $(RUNTIME_STAMP)

$(DEV_STAMP): $(RUNTIME_STAMP) requirements-dev.lock
	$(BIN)/python -m pip install --quiet -c requirements-dev.lock -e '.[dev]'
	touch $(DEV_STAMP)

run: $(RUNTIME_STAMP)
	$(BIN)/python -m bot

test: lint typecheck contracts unit

lint: $(DEV_STAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

contracts: $(DEV_STAMP)
	$(BIN)/lint-imports

unit: $(DEV_STAMP)
	$(BIN)/pytest

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

# Refresh the pinned versions after changing dependencies in pyproject.toml. The runtime lock comes from a
# throw-away venv holding the runtime dependencies only (what `make run` and the image install); the dev
# lock from the full development venv.
lock: $(DEV_STAMP)
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet -c requirements-dev.lock -e .
	$(LOCK_VENV)/bin/python -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
	rm -rf $(LOCK_VENV)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > requirements-dev.lock

clean:
	rm -rf $(VENV)
