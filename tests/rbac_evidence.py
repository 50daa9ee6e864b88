"""The request log behind tests/test_rbac_matches_code.py, recorded while the suite runs, once.

The RBAC check compares the Kubernetes calls the bot really makes with what `k8s/` grants. Its evidence
is the fake API server's request log while the cluster-facing modules run (reader, diagnosis, watcher,
ledger, Lease, alerts). Instead of running those modules a second time in a child pytest, the hooks in
tests/conftest.py turn the log on (`FAKE_KUBE_REQUEST_LOG`, which every fake in every process appends to)
for exactly the span of those modules in this session, and run the RBAC tests last.

When the session did not run all of them (`pytest tests/test_rbac_matches_code.py`, `-k`, a subset of
files), `RbacEvidence.complete()` runs just the missing ones in a child pytest, into the same log; and
when one of them failed, the evidence is incomplete and the RBAC test says so instead of judging.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.kube_faults import REQUEST_LOG_ENV

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_FACING = ("test_kube_*.py", "test_diagnose_*.py", "test_alert_*.py", "test_main_alerts.py")
RBAC_TEST_MODULE = "tests/test_rbac_matches_code.py"


def cluster_facing_modules() -> list[str]:
    """Every module whose scenarios are evidence, as paths relative to the repository."""
    return sorted(
        str(path.relative_to(ROOT)) for glob in CLUSTER_FACING for path in (ROOT / "tests").glob(glob)
    )


def module_of(item: pytest.Item) -> str:
    return str(item.path.relative_to(ROOT)) if item.path.is_relative_to(ROOT) else str(item.path)


@dataclass
class RbacEvidence:
    """What this session recorded: the log file, and which cluster-facing modules ran whole or failed."""

    log: Path
    recording: bool
    """False when a parent process already set the log (this is its child): then only append to it."""
    modules: frozenset[str] = field(default_factory=lambda: frozenset(cluster_facing_modules()))
    collected: set[str] = field(default_factory=set)
    partial: set[str] = field(default_factory=set)
    failed: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def start(cls) -> RbacEvidence:
        inherited = os.environ.get(REQUEST_LOG_ENV)
        if inherited:
            return cls(Path(inherited), recording=False)
        directory = Path(tempfile.mkdtemp(prefix="exitcode-bot-rbac-"))
        return cls(directory / "requests.jsonl", recording=True)

    # --- collection -----------------------------------------------------------------------------------

    def order(self, items: list[pytest.Item]) -> None:
        """The RBAC tests run last, once every scenario has added its calls to the log."""
        items.sort(key=lambda item: module_of(item) == RBAC_TEST_MODULE)  # stable: keeps the rest in order

    def deselected(self, items: Iterable[pytest.Item]) -> None:
        self.partial.update(module_of(item) for item in items if module_of(item) in self.modules)

    def collection_finished(self, items: Iterable[pytest.Item]) -> None:
        self.collected = {module_of(item) for item in items if module_of(item) in self.modules}

    # --- running ----------------------------------------------------------------------------------------

    def before(self, item: pytest.Item) -> None:
        """Log while a cluster-facing module runs (setup to teardown, so its module-scoped bots count)."""
        if not self.recording:
            return
        if module_of(item) in self.modules:
            os.environ[REQUEST_LOG_ENV] = str(self.log)
        else:
            os.environ.pop(REQUEST_LOG_ENV, None)

    def after(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        if self.recording and (nextitem is None or module_of(nextitem) != module_of(item)):
            os.environ.pop(REQUEST_LOG_ENV, None)

    def report(self, report: pytest.TestReport) -> None:
        module = report.nodeid.split("::", 1)[0]
        if module in self.modules and report.failed:
            self.failed.setdefault(module, []).append(report.nodeid)

    # --- evidence ---------------------------------------------------------------------------------------

    def complete(self) -> Path:
        """The log, once it covers every cluster-facing module: the ones this session did not run whole
        run now in a child pytest. Fails (as a test failure) when a scenario failed: a scenario that
        stopped early would make the RBAC judgement on partial evidence."""
        assert not self.failed, (
            f"cluster-facing tests failed, so the RBAC evidence is incomplete: {self.failed}"
        )
        missing = sorted(self.modules - (self.collected - self.partial))
        if missing:
            env = {**os.environ, REQUEST_LOG_ENV: str(self.log)}
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *missing],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            assert run.returncode == 0, (
                f"the cluster-facing tests failed:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
            )
            self.collected.update(missing)
            self.partial.difference_update(missing)
        assert self.log.exists(), "no request reached a fake Kubernetes API while the scenarios ran"
        return self.log


EVIDENCE = pytest.StashKey[RbacEvidence]()
