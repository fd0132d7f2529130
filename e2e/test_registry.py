"""A RegistryMirror end to end: real docker-registry replicas run by the local master.

Real etcd, a local master of four agents (``reg-1`` .. ``reg-4`` on
127.0.0.21 .. 127.0.0.24, each with a slice reserved for ``dcos-system``)
whose Docker tasks are simulated and whose command tasks run as local
processes, and, in this process, a controller manager running the Mesos
framework, the App controller and the RegistryMirror controller. No Host
objects exist: a replica's address is its agent's, from the offer.

The mirror asks for three replicas: three ``docker-registry serve`` processes
answer on three distinct hosts. An image pushed to one replica appears, by
digest, on the other two after an on-demand sync. A replica killed with
SIGKILL is relaunched by the App controller and caught up (lag 0 on all).
Deleting the mirror deletes its replica App, which stops every replica.
An App whose image the mirror serves waits (``ImageReplicated=False``) until
its image is on every replica, then runs. Stopping the master kills every
process its agents started, and nothing else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from adapters.registry import RegistryClient
from crds.app import App
from crds.domain import Domain
from crds.errors import NotFound
from crds.registrymirror import RegistryMirror
from e2e.harness import controllers_on, sim_master_settings, until
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec
from localcluster.registry import push_synthetic, registry_binary
from reconciler.controllers import registrymirror
from reconciler.framework import MesosFramework
from reconciler.registry.mirror import SYNC_REQUESTED
from reconciler.runtime import Manager
from reconciler.system import SYSTEM_DOMAIN, SYSTEM_ROLE

HOSTS = {f"reg-{n}": f"127.0.0.{20 + n}" for n in range(1, 5)}
SERVES = "registry.shop.example:5000"
WITHIN = 20.0
MIRROR = ObjectKey("RegistryMirror", None, "hub")
WEB = ObjectKey("App", "shop", "web")

pytestmark = pytest.mark.skipif(
    not os.path.exists("/usr/bin/docker-registry"), reason="docker-registry is not installed"
)


@pytest.fixture
async def master(tmp_path: Path) -> AsyncIterator[LocalMaster]:
    registry_binary()
    agents = tuple(
        AgentSpec(
            hostname=name,
            ip=ip,
            cpus=4,
            mem=4096,
            ports="31000-31019",
            reservations=((SYSTEM_ROLE, "cpus:1;mem:512;ports:[31000-31004]"),),
        )
        for name, ip in HOSTS.items()
    )
    settings = dataclasses.replace(
        sim_master_settings(),
        agents=agents,
        command_containerizer="process",
        work_dir=str(tmp_path / "agents"),
    )
    async with LocalMaster(settings) as started:
        yield started


@contextlib.asynccontextmanager
async def controllers(master: LocalMaster, store: EtcdStore) -> AsyncIterator[None]:
    async def mirrors(
        manager: Manager, framework: MesosFramework, _: contextlib.AsyncExitStack
    ) -> None:
        registrymirror.register(manager, instances=framework.records.all)

    async with controllers_on(master, store, mirrors):
        yield


async def _create(store: EtcdStore) -> None:
    await store.create(
        Domain.model_validate(
            {
                "metadata": {"name": "shop"},
                "spec": {"timezone": "UTC", "sharedPool": {"borrow": "WhenExhausted"}},
            }
        )
    )
    await store.create(
        RegistryMirror.model_validate(
            {
                "metadata": {"name": "hub"},
                "spec": {
                    "replicas": 3,
                    "repositories": ["shop/*"],
                    "syncIntervalSeconds": 3600,  # only on demand and on a new replica
                    "serves": SERVES,
                    "gateTimeoutSeconds": 60,
                    "cpus": 0.25,
                    "mem": 64,
                },
            }
        )
    )


async def _mirror(store: EtcdStore) -> RegistryMirror:
    got = await store.get(MIRROR)
    assert isinstance(got, RegistryMirror)
    return got


async def _ready(store: EtcdStore, count: int) -> bool:
    mirror = await _mirror(store)
    rows = [r for r in mirror.status.replicas if r.ready]
    return len(rows) == count and len({r.host for r in rows}) == count


async def _request_sync(store: EtcdStore) -> datetime:
    mirror = await _mirror(store)
    at = datetime.now(UTC)
    annotations = {**mirror.metadata.annotations, SYNC_REQUESTED: at.isoformat()}
    meta = mirror.metadata.model_copy(update={"annotations": annotations})
    await store.update(mirror.model_copy(update={"metadata": meta}))
    return at


async def _digests(urls: list[str], repository: str, tag: str) -> list[str | None]:
    found = []
    for url in urls:
        async with RegistryClient(url, timeout=5.0) as client:
            found.append(await client.manifest_digest(repository, tag))
    return found


def _listening_pid(address: str) -> int:
    """The pid of the process listening on ``address`` (ip:port), from /proc."""
    ip, port = address.rsplit(":", 1)
    wanted = "{:08X}:{:04X}".format(
        int.from_bytes(bytes(int(p) for p in ip.split(".")), "little"), int(port)
    )
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":  # LISTEN
            inodes.add(f"socket:[{fields[9]}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(entry.name)
    raise AssertionError(f"nothing listens on {address}")


async def _describe(store: EtcdStore) -> str:
    lines = []
    for what, key in (
        ("mirror", MIRROR),
        ("replica App", ObjectKey("App", SYSTEM_DOMAIN, "hub")),
        ("web", WEB),
    ):
        try:
            obj = await store.get(key)
        except NotFound:
            lines.append(f"{what}: not found")
            continue
        status = getattr(obj, "status", None)
        lines.append(f"{what} status: {status.model_dump_json() if status else None}")
    return "\n".join(lines)


async def test_mirror_replicates_and_replaces(master: LocalMaster, store: EtcdStore) -> None:
    await _create(store)
    async with controllers(master, store):
        # Three replicas on three distinct hosts answer the registry API.
        await until(
            "3 ready replicas on distinct hosts",
            lambda: _ready(store, 3),
            within=WITHIN,
            describe=lambda: _describe(store),
        )
        mirror = await _mirror(store)
        urls = [f"http://{r.address}" for r in mirror.status.replicas]
        assert {r.address.split(":")[0] for r in mirror.status.replicas} <= set(HOSTS.values())

        # A rollout of an App whose image the mirror serves waits for the image.
        await store.create(
            App.model_validate(
                {
                    "metadata": {"name": "web", "domain": "shop"},
                    "spec": {"image": f"{SERVES}/shop/web:1.0", "cpus": 0.1, "mem": 32},
                }
            )
        )

        async def waiting() -> bool:
            web = await store.get(WEB)
            assert isinstance(web, App)
            held = [c for c in web.status.conditions if c.type == "ImageReplicated"]
            return bool(held) and held[0].reason == "Waiting" and not web.status.instances

        await until(
            "web held by the gate", waiting, within=WITHIN, describe=lambda: _describe(store)
        )

        # Push to one replica; an on-demand sync puts it on the others, same digest.
        async with RegistryClient(urls[1]) as client:
            digest = await push_synthetic(client, "shop/web", "1.0", seed="web-1.0")
        asked = await _request_sync(store)

        async def everywhere() -> bool:
            mirror = await _mirror(store)
            synced = (
                mirror.status.last_sync_time is not None and mirror.status.last_sync_time >= asked
            )
            return synced and await _digests(urls, "shop/web", "1.0") == [digest] * 3

        await until(
            "the image on all 3 replicas",
            everywhere,
            within=WITHIN,
            describe=lambda: _describe(store),
        )

        async def web_runs() -> bool:
            web = await store.get(WEB)
            assert isinstance(web, App)
            return web.status.running_instances == 1

        await until(
            "web running once the image is replicated",
            web_runs,
            within=WITHIN,
            describe=lambda: _describe(store),
        )

        # Kill one replica's registry process: it is replaced and caught up.
        mirror = await _mirror(store)
        victim = next(r for r in mirror.status.replicas if not r.primary)
        pid = _listening_pid(victim.address)
        os.kill(pid, signal.SIGKILL)

        async def replaced() -> bool:
            mirror = await _mirror(store)
            rows = [r for r in mirror.status.replicas if r.ready]
            if len(rows) != 3 or victim.instance in {r.instance for r in rows}:
                return False
            if any(r.missing_tags != 0 for r in rows):
                return False
            found = await _digests([f"http://{r.address}" for r in rows], "shop/web", "1.0")
            return found == [digest] * 3

        await until(
            "the killed replica replaced and caught up",
            replaced,
            within=WITHIN,
            describe=lambda: _describe(store),
        )
        mirror = await _mirror(store)
        assert len({r.host for r in mirror.status.replicas}) == 3
        conditions = {c.type: c.status for c in mirror.status.conditions}
        assert conditions == {"Ready": "True", "Synced": "True"}, await _describe(store)

        # Deleting the mirror deletes its replica App, which stops every replica.
        addresses = [r.address for r in mirror.status.replicas]
        await store.delete(MIRROR)

        async def gone() -> bool:
            try:
                await store.get(ObjectKey("App", SYSTEM_DOMAIN, "hub"))
                return False
            except NotFound:
                pass
            for address in addresses:
                async with RegistryClient(f"http://{address}", timeout=1.0) as client:
                    if await client.ping():
                        return False
            return True

        await until("the replicas stopped", gone, within=WITHIN, describe=lambda: _describe(store))
        with pytest.raises(NotFound):
            await store.get(MIRROR)
