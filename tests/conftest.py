"""Fixtures shared by every test package: a real etcd and stores on it.

``etcd_server`` is started once per test run; each test that asks for
``store`` gets an :class:`EtcdStore` on its own key prefix, so tests are
isolated without restarting etcd. Tests that compact history, restart the
server or enable auth use ``private_etcd``, a server of their own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.etcd import EtcdSettings, EtcdStore, open_store
from localcluster.etcd import EtcdServer

logger = logging.getLogger(__name__)


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    """One etcd for the whole run."""
    with EtcdServer() as server:
        yield server


@pytest.fixture(scope="session")
def etcd_endpoint(etcd_server: EtcdServer) -> str:
    """``http://127.0.0.1:PORT`` of the run's etcd."""
    return etcd_server.endpoint


@pytest.fixture
def etcd_prefix() -> str:
    """A key prefix no other test uses."""
    return f"/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def store(etcd_endpoint: str, etcd_prefix: str) -> AsyncIterator[EtcdStore]:
    """An EtcdStore on the run's etcd, under this test's own prefix."""
    settings = EtcdSettings(endpoints=(etcd_endpoint,), prefix=etcd_prefix)
    async with open_store(settings) as opened:
        yield opened


@pytest.fixture
def private_etcd() -> Iterator[EtcdServer]:
    """An etcd for this test alone (compaction, restarts, auth)."""
    with EtcdServer() as server:
        yield server
