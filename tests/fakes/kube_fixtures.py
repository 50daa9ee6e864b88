"""pytest fixtures for the fake Kubernetes API; import the ones you need into a test module or conftest.

    from tests.fakes.kube_fixtures import fake_kube_fixture, kubeconfig_file_fixture  # noqa: F401

(Each fixture is registered under the short name, `fake_kube`, `fake_kube_thread`, `kubeconfig_file`; the
functions carry a `_fixture` suffix so a test's parameter does not shadow the imported name.)

- `fake_kube`: the fake serving on the test's own event loop (async tests; the bot's client calls run in
  worker threads, so the loop stays free to answer them);
- `fake_kube_thread`: the fake on a background thread, for synchronous tests that block on the client;
- `kubeconfig_file`: a kubeconfig pointing at `fake_kube`, also exported as `KUBECONFIG` for the test.

Bookmarks come every 0.1 s here (the apiserver's minute would make watch tests slow).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fakes.kube_api import FakeKubeApi

TEST_BOOKMARK_INTERVAL = 0.1


@pytest.fixture(name="fake_kube")
async def fake_kube_fixture() -> AsyncIterator[FakeKubeApi]:
    async with FakeKubeApi(bookmark_interval=TEST_BOOKMARK_INTERVAL) as fake:
        yield fake


@pytest.fixture(name="fake_kube_thread")
def fake_kube_thread_fixture() -> Iterator[FakeKubeApi]:
    with FakeKubeApi(bookmark_interval=TEST_BOOKMARK_INTERVAL).serving_in_thread() as fake:
        yield fake


@pytest.fixture(name="kubeconfig_file")
def kubeconfig_file_fixture(fake_kube: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path
