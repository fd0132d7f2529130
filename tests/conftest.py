"""Fixtures shared by every test package: a real etcd and stores on it.

``etcd_server`` is started once per test run; each test that asks for
``store`` gets an :class:`EtcdStore` on its own key prefix, so tests are
isolated without restarting etcd. Tests that compact history, restart the
server or enable auth use ``private_etcd``, a server of their own.

``dockerd`` is one private Docker engine for the whole run (vfs storage, its
own socket and state under the run's temporary directory); it needs root, so
the Docker tests skip without it, and fail (never skip) when root cannot
install or start the engine. ``busybox_image`` is the busybox-static image
imported into it once; ``docker_engine`` is a client per test.
``second_dockerd`` is another engine beside it (two hosts), with the image.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.docker import DockerEngine
from adapters.etcd import EtcdSettings, EtcdStore, open_store
from localcluster.dockerd import DockerDaemon, ensure_installed, import_busybox_image
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


@pytest.fixture(scope="session")
def docker_installed() -> None:
    """dockerd and busybox-static are installed (root installs them); skips unless root."""
    if os.geteuid() != 0:
        pytest.skip("a private Docker engine needs root")
    ensure_installed()


@pytest.fixture(scope="session")
def dockerd(
    docker_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerDaemon]:
    """One private dockerd for the run; skips unless root."""
    with DockerDaemon(tmp_path_factory.mktemp("dockerd")) as daemon:
        yield daemon


@pytest.fixture(scope="session")
def busybox_image(dockerd: DockerDaemon) -> str:
    """``dcos-test/busybox:1``, imported into the run's dockerd from /bin/busybox."""

    async def load() -> str:
        async with DockerEngine(str(dockerd.socket_path)) as engine:
            return await import_busybox_image(engine)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own loop, not the test's
        return pool.submit(lambda: asyncio.run(load())).result()


@pytest.fixture(scope="session")
def second_dockerd(
    dockerd: DockerDaemon, busybox_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockerDaemon]:
    """A second private dockerd beside ``dockerd``, another host's engine: its own socket,
    data root, exec root and pid file, no default bridge (``--bridge=none``, so the two
    never clash), with ``busybox_image`` imported too. Started on first use, for the run."""

    async def load(daemon: DockerDaemon) -> None:
        async with DockerEngine(str(daemon.socket_path)) as engine:
            await import_busybox_image(engine, busybox_image)

    with DockerDaemon(tmp_path_factory.mktemp("dockerd-2")) as daemon:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own loop, not the test's
            pool.submit(lambda: asyncio.run(load(daemon))).result()
        yield daemon


@pytest.fixture
async def docker_engine(dockerd: DockerDaemon) -> AsyncIterator[DockerEngine]:
    """A DockerEngine on the run's dockerd, closed after the test."""
    async with DockerEngine(str(dockerd.socket_path)) as engine:
        yield engine
