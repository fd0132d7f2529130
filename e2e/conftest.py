"""Fixtures of the end-to-end scenarios: one etcd per module, a store per test.

Each test works under its own key prefix, so scenarios in one module share
the etcd without seeing each other's objects.

``sim_master`` is a quick local master of sim agents (a module may
override it), ``sim_stack`` the installed ``dcos-controller`` on it.

``store`` (an EtcdStore under the test's prefix) is that of
``tests/conftest.py``, imported here, as is the private Docker engine the
scenarios on real containers use: ``dockerd`` (skips unless root),
``busybox_image`` imported into it, ``docker_engine`` (a client per test).
``docker_master`` is a local master whose agents run tasks as containers on
that engine, ``docker_stack`` the installed ``dcos-controller`` on it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from adapters.etcd import EtcdStore
from e2e.harness import Stack, docker_master_settings, running_stack, sim_master_settings
from localcluster.dockerd import DockerDaemon
from localcluster.etcd import EtcdServer
from localcluster.mesos.server import LocalMaster
from tests import conftest as _shared

# Bound here so pytest finds them for e2e/ too (one engine per directory that uses it);
# ``store`` opens on this directory's ``etcd_endpoint`` and ``etcd_prefix``.
store = _shared.store
docker_installed = _shared.docker_installed
dockerd = _shared.dockerd
busybox_image = _shared.busybox_image
docker_engine = _shared.docker_engine


@pytest.fixture(scope="module")
def etcd_endpoint() -> Iterator[str]:
    with EtcdServer() as server:
        yield server.endpoint


@pytest.fixture
def etcd_prefix() -> str:
    return f"/e2e-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def sim_master() -> AsyncIterator[LocalMaster]:
    """A quick local master of three sim agents; a module overrides it for other settings."""
    async with LocalMaster(sim_master_settings()) as started:
        yield started


@pytest.fixture
async def sim_stack(
    sim_master: LocalMaster,
    store: EtcdStore,
    etcd_endpoint: str,
    etcd_prefix: str,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    """``dcos-controller`` on the test's etcd prefix and ``sim_master``, stopped after."""
    async with running_stack(sim_master, store, etcd_endpoint, etcd_prefix, tmp_path) as stack:
        yield stack


@pytest.fixture
async def docker_master(dockerd: DockerDaemon, busybox_image: str) -> AsyncIterator[LocalMaster]:
    """A quick local master whose two agents run tasks as containers on the private dockerd."""
    async with LocalMaster(docker_master_settings(dockerd.socket_path)) as started:
        yield started


@pytest.fixture
async def docker_stack(
    docker_master: LocalMaster,
    store: EtcdStore,
    etcd_endpoint: str,
    etcd_prefix: str,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    """``dcos-controller`` on the test's etcd prefix and the docker master, stopped after."""
    async with running_stack(docker_master, store, etcd_endpoint, etcd_prefix, tmp_path) as stack:
        yield stack
