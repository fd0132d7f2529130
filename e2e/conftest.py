"""Fixtures of the end-to-end scenarios: one etcd per module, a store per test.

Each test works under its own key prefix, so scenarios in one module share
the etcd without seeing each other's objects.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.etcd import EtcdSettings, EtcdStore, open_store
from localcluster.etcd import EtcdServer


@pytest.fixture(scope="module")
def etcd_endpoint() -> Iterator[str]:
    with EtcdServer() as server:
        yield server.endpoint


@pytest.fixture
def etcd_prefix() -> str:
    return f"/e2e-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(etcd_endpoint: str, etcd_prefix: str) -> AsyncIterator[EtcdStore]:
    settings = EtcdSettings(endpoints=(etcd_endpoint,), prefix=etcd_prefix)
    async with open_store(settings) as opened:
        yield opened
