"""The Host controller end to end: a Manager on real etcd with the IPPool and Host
controllers, the local NetBox as the CMDB, the local Mesos master (sim agents)
through the operator API, and the run's real dockerd as a host's engine.

Each test waits for conditions with deadlines (never sleeps to synchronise).
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Network
from typing import Any, TypeVar

import pytest

from adapters.cmdb import CmdbSettings, NetboxCmdb
from adapters.docker import ContainerSpec, DockerEngine
from adapters.docker_host import DockerHostReader, EngineEndpoint
from adapters.etcd import EtcdStore
from adapters.etcd.ipam import EtcdIpam
from adapters.mesos.http import MesosSettings
from adapters.mesos.operator import MesosOperatorClient
from adapters.protocols import TASK_ID_LABEL, DeviceStatus, ObjectKey
from crds.host import Host, HostEngine, HostLifecycle
from crds.ippool import IPPool
from crds.meta import Condition
from localcluster.dockerd import DockerDaemon
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec, MasterSettings
from localcluster.netbox import LocalNetbox, NetboxSettings, seed
from localcluster.netbox.db import Query
from reconciler.apps import Instance, InstanceState
from reconciler.controllers import host as host_controller
from reconciler.controllers import ippool
from reconciler.hosts.mirror import MirrorSettings
from reconciler.ipam import Ipam
from reconciler.runtime import Manager, ManagerSettings

TIMEOUT = 15.0
POLL = 0.02
TOKEN = "0123456789abcdef0123456789abcdef01234567"
T = TypeVar("T")

AGENTS = (
    AgentSpec(hostname="h1", attributes="rack:r1;dc:sh1"),
    AgentSpec(hostname="h2", attributes="rack:r2;dc:sh1"),
    AgentSpec(hostname="h3", attributes="rack:r1;dc:sh1"),
)


def device(name: str, status: str = "active", **extra: Any) -> dict[str, Any]:
    octet = int(name.lstrip("h") or 0) + 10
    return {
        "name": name,
        "site": "sh1",
        "rack": "r1",
        "status": status,
        "domain": "shop",
        "address": f"10.0.1.{octet}",
        **extra,
    }


def host(name: str, *, labels: dict[str, str] | None = None, **spec: Any) -> Host:
    octet = int(name.lstrip("h") or 0) + 10
    body = {
        "address": f"10.0.1.{octet}",
        "domain": "shop",
        "attributes": {"rack": "r1", "dc": "sh1"},
        "resources": {"cpus": 8, "mem": "16Gi"},
        **spec,
    }
    return Host.model_validate({"metadata": {"name": name, "labels": labels or {}}, "spec": body})


def pool(name: str, octet: int) -> IPPool:
    return IPPool.model_validate(
        {
            "metadata": {"name": name},
            "spec": {
                "vlan": 110,
                "cidr": f"10.213.{octet}.0/24",
                "gateway": f"10.213.{octet}.1",
                "hostSelector": {"matchLabels": {"vlan": name}},
            },
        }
    )


@dataclass
class Rig:
    store: EtcdStore
    netbox: LocalNetbox
    cmdb: NetboxCmdb
    mesos: MesosOperatorClient

    async def get(self, name: str) -> Host:
        got = await self.store.get(ObjectKey("Host", None, name))
        assert isinstance(got, Host)
        return got

    async def until(self, check: Callable[[], Awaitable[T | None]], within: float = TIMEOUT) -> T:
        """The first truthy ``await check()``, polled until the deadline."""
        async with asyncio.timeout(within):
            while True:
                value = await check()
                if value:
                    return value
                await asyncio.sleep(POLL)

    async def condition(
        self, name: str, type_: str, status: str, reason: str | None = None
    ) -> tuple[Host, Condition]:
        async def check() -> tuple[Host, Condition] | None:
            got = await self.store.get(ObjectKey("Host", None, name))
            if not isinstance(got, Host):
                return None
            for cond in got.status.conditions:
                wanted = reason is None or cond.reason == reason
                if cond.type == type_ and cond.status == status and wanted:
                    return got, cond
            return None

        return await self.until(check)

    async def reasons(self, name: str) -> list[str]:
        return [e.reason for e in await self.store.events(ObjectKey("Host", None, name))]

    async def event(self, name: str, reason: str) -> str:
        async def check() -> str | None:
            for e in await self.store.events(ObjectKey("Host", None, name)):
                if e.reason == reason:
                    return e.message
            return None

        return await self.until(check)

    def device_id(self, name: str) -> int:
        query = Query()
        query.any_of("d.name", [name])
        [found] = self.netbox.db.device_ids(query)
        return found


@pytest.fixture
async def rig(store: EtcdStore, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    pass_max_age = float(getattr(request, "param", 0.02))  # indirect parametrization
    master = LocalMaster(MasterSettings(agents=AGENTS, heartbeat_interval=0.3))
    netbox = LocalNetbox(NetboxSettings(token=TOKEN))
    async with master, netbox:
        cmdb_settings = CmdbSettings(
            url=netbox.url, token=TOKEN, timeout=2.0, retries=1, backoff=0.01
        )
        cmdb = NetboxCmdb(cmdb_settings)
        mesos_settings = MesosSettings(
            masters=(master.url,), request_timeout=5.0, backoff_initial=0.02, backoff_max=0.2
        )
        async with cmdb, MesosOperatorClient(mesos_settings) as mesos:
            manager = Manager(store, settings=ManagerSettings(metrics_addr=None))
            ipam = EtcdIpam(store)
            ippool.register(manager, ipam=ipam, resync=0.5)

            def engine(spec: HostEngine) -> DockerHostReader:
                return DockerHostReader(EngineEndpoint(spec.url), network=spec.network)

            settings = host_controller.HostSettings(
                resync=0.3,
                poll=0.05,
                backoff_max=0.3,
                pass_max_age=pass_max_age,
                drain_grace=0.1,
                mirror=MirrorSettings(interval=0.1, backoff_initial=0.05),
            )
            host_controller.register(
                manager, ipam=ipam, cmdb=cmdb, mesos=mesos, engines=engine, settings=settings
            )
            stop = asyncio.Event()
            task = asyncio.create_task(manager.run(stop), name="test:manager")
            try:
                yield Rig(store, netbox, cmdb, mesos)
            finally:
                stop.set()
                async with asyncio.timeout(TIMEOUT):
                    await task


async def test_cmdb_changes_are_mirrored_and_unknown_devices_created_or_reported(rig: Rig):
    seed(rig.netbox.db, {"hosts": [device("h1"), device("h5"), device("h6")]})
    rig.netbox.db.write_device(
        rig.device_id("h6"),
        {"custom_fields": {"domain": "shop", "cpus": "4", "mem": "8Gi"}},
        None,
    )
    await rig.store.create(host("h1", attributes={"rack": "r9", "dc": "sh1"}))

    async def mirrored() -> Host | None:
        got = await rig.get("h1")
        return got if got.spec.attributes.rack == "r1" else None  # the CMDB's, not r9

    await rig.until(mirrored)
    synced, _ = await rig.condition("h1", "CmdbReachable", "True")
    assert synced.status.last_cmdb_sync is not None
    assert "attributes.rack r1" in await rig.event("h1", "CmdbSynced")

    created = await rig.until(lambda: rig.store.get(ObjectKey("Host", None, "h6")))
    assert isinstance(created, Host)
    assert (created.spec.resources.cpus, created.spec.resources.mem) == (4, 8192)
    assert "CreatedFromCmdb" in await rig.reasons("h6")
    message = await rig.event("h5", "NoResources")  # no Host, no resources: reported
    assert "h5" in message and "cpus or mem" in message

    await rig.cmdb.set_device_status("h1", DeviceStatus.DECOMMISSIONING)

    async def left_service() -> Host | None:
        got = await rig.get("h1")
        return got if got.spec.lifecycle != "Active" else None

    # Draining, then (nothing runs there) on to Decommissioned by the controller itself
    assert (await rig.until(left_service)).spec.lifecycle in ("Draining", "Decommissioned")


async def test_onboarding_reports_missing_agent_and_differing_attributes(rig: Rig):
    seed(rig.netbox.db, {"hosts": [device("h1"), device("h2"), device("h9")]})
    for name in ("h1", "h2", "h9"):
        await rig.store.create(host(name))

    ok, cond = await rig.condition("h1", "Onboarded", "True")
    assert ok.status.agent_id and ok.status.agent_id in cond.message
    _, differ = await rig.condition("h2", "Onboarded", "False", "AttributesDiffer")
    assert "rack: spec r1, agent r2" in differ.message
    assert "dc" not in differ.message.partition("differ:")[2]  # only what differs
    assert "rack: spec r1, agent r2" in await rig.event("h2", "AttributesDiffer")
    missing, none = await rig.condition("h9", "Onboarded", "False", "NoAgent")
    assert "h9" in none.message and missing.status.agent_id is None


@pytest.fixture
async def engine(dockerd: DockerDaemon, busybox_image: str) -> AsyncIterator[DockerEngine]:
    async with DockerEngine(str(dockerd.socket_path)) as client:
        yield client


async def docker_network_inspect(dockerd: DockerDaemon, name: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        "docker",
        "-H",
        dockerd.url,
        "network",
        "inspect",
        name,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    [found] = json.loads(out)
    return dict(found)


async def test_engine_drift_orphans_and_the_pool_network(
    rig: Rig, dockerd: DockerDaemon, engine: DockerEngine, busybox_image: str
):
    tag = uuid.uuid4().hex[:6]
    a, b = random.sample(range(2, 250), 2)
    pool_a, pool_b = pool(f"pa{tag}", a), pool(f"pb{tag}", b)
    net_a, net_b = pool_a.network_name, pool_b.network_name
    # pool B's network exists already, with another ip-range than any block of h3's
    await engine.ensure_network(
        net_b, subnet=f"10.213.{b}.0/24", ip_range=f"10.213.{b}.240/28", gateway=f"10.213.{b}.1"
    )
    ghost = await engine.create_container(
        ContainerSpec(
            name=f"ghost-{tag}",
            image=busybox_image,
            command=("sleep", "60"),
            labels={TASK_ID_LABEL: f"shop.ghost.{tag}"},
        )
    )
    try:
        await rig.store.create(pool_a)
        await rig.store.create(pool_b)
        on_engine = {"url": dockerd.url, "network": net_a}
        await rig.store.create(host("h1", labels={"vlan": pool_a.metadata.name}, engine=on_engine))
        await rig.store.create(
            host("h3", labels={"vlan": pool_b.metadata.name}, engine={"url": dockerd.url})
        )
        await rig.store.create(host("h2", engine={"url": "unix:///nonexistent/docker.sock"}))

        ready, _ = await rig.condition("h1", "PoolNetwork", "True")
        assert ready.status.block is not None
        inspected = await docker_network_inspect(dockerd, net_a)
        [config] = inspected["IPAM"]["Config"]
        assert config["IPRange"] == ready.status.block
        assert (config["Subnet"], config["Gateway"]) == (f"10.213.{a}.0/24", f"10.213.{a}.1")
        assert inspected["Labels"]["dcos.pool"] == pool_a.metadata.name
        assert "NetworkCreated" in await rig.reasons("h1")

        drifted, cond = await rig.condition("h1", "ProfileDrift", "True")
        rows = {d.setting: (d.desired, d.observed) for d in drifted.status.drift}
        assert rows["docker.storageDriver"] == ("overlay", "vfs")
        assert "docker.fixedCidr" not in rows  # the pool network has the block
        assert "storage driver is vfs" in cond.message
        assert "docker.storageDriver" in await rig.event("h1", "ProfileDrift")

        _, orphans = await rig.condition("h1", "Orphans", "True")
        assert f"ghost-{tag}" in orphans.message
        assert f"ghost-{tag}" in await rig.event("h1", "Orphans")
        assert (await engine.inspect_container(ghost)).id == ghost  # reported, never removed

        differs, net = await rig.condition("h3", "PoolNetwork", "False", "NetworkDiffers")
        assert f"10.213.{b}.240/28" in net.message and "not recreated" in net.message
        settings = {d.setting for d in differs.status.drift}
        assert f"network/{net_b}.ipRange" in settings
        inspected_b = await docker_network_inspect(dockerd, net_b)
        assert inspected_b["IPAM"]["Config"][0]["IPRange"] == f"10.213.{b}.240/28"

        _, down = await rig.condition("h2", "EngineReachable", "False", "EngineUnreachable")
        assert "nonexistent" in down.message
    finally:
        await engine.remove_container(ghost)
        await engine.remove_network(net_a)
        await engine.remove_network(net_b)


async def test_a_draining_host_is_drained_set_offline_decommissioned_and_its_block_released(
    rig: Rig,
):
    name = f"pd{uuid.uuid4().hex[:6]}"
    seed(rig.netbox.db, {"hosts": [device("h1")]})
    await rig.store.create(pool(name, 7))
    await rig.store.create(host("h1", labels={"vlan": name}))
    with_block, _ = await rig.condition("h1", "Onboarded", "True")
    await rig.until(lambda: _block_of(rig, "h1"))
    # one live instance on the host: the controller waits for it
    inst = Instance(
        instance_id="shop.web.v1.0000abcd",
        domain="shop",
        app="web",
        version="v1",
        state=InstanceState.RUNNING,
        hostname="h1",
        launched_at=datetime.now(UTC),
    )
    path = f"instances/shop/web/{inst.instance_id}"
    await rig.store.put_raw(path, inst.to_json().encode())

    await rig.cmdb.set_device_status("h1", DeviceStatus.DECOMMISSIONING)
    waiting, cond = await rig.condition("h1", "Draining", "True", "WaitInstances")
    assert "1 live instance" in cond.message and waiting.status.instances == 1
    agents = (await rig.mesos.get_agents()).agents
    assert all(a.drain_info is None for a in agents)  # not drained while instances remain

    # its address is still held (not yet released): the block cannot go back
    block = await rig.until(lambda: _block_of(rig, "h1"))
    ipam = Ipam(EtcdIpam(rig.store))
    spec = pool(name, 7).spec
    held = await ipam.allocate_ip(pool=name, spec=spec, host="h1", owner=inst.instance_id)
    assert held in IPv4Network(block)
    killed = inst.model_copy(update={"state": InstanceState.KILLED})
    await rig.store.put_raw(path, killed.to_json().encode())
    stuck, failed = await rig.condition("h1", "Decommissioned", "False", "ReleaseBlocksFailed")
    assert f"still has held address {held}" in failed.message
    assert stuck.spec.lifecycle == "Decommissioned"
    assert (await rig.cmdb.get_device("h1")).status is DeviceStatus.OFFLINE

    await ipam.release_ip(pool=name, owner=inst.instance_id)  # retried until it goes through
    done, _ = await rig.condition("h1", "Decommissioned", "True", "Recycled")
    assert done.spec.lifecycle == "Decommissioned"
    assert done.status.instances == 0
    assert done.status.block is None
    assert (await rig.cmdb.get_device("h1")).status is DeviceStatus.OFFLINE
    [agent] = [a for a in (await rig.mesos.get_agents()).agents if a.agent_info.hostname == "h1"]
    assert agent.drain_info is not None and agent.drain_info.state.value == "DRAINED"
    assert await _block_of(rig, "h1") is None
    reasons = await rig.reasons("h1")
    for reason in ("AgentDraining", "SetOffline", "BlockReleased", "Recycled"):
        assert reason in reasons
    assert reasons.count("Recycled") == 1
    assert with_block.status.agent_id == done.status.agent_id


async def _block_of(rig: Rig, host_name: str) -> str | None:
    pools = (await rig.store.list("IPPool")).items
    for found in pools:
        allocations = await EtcdIpam(rig.store).list_allocations(found.metadata.name)
        for block in allocations.blocks:
            if block.host == host_name:
                return str(block.cidr)
    return None


@pytest.mark.parametrize("rig", [60.0], indirect=True)  # one pass, read before the instance
async def test_no_drain_while_a_fresh_read_finds_instances_a_cached_pass_missed(rig: Rig):
    seed(rig.netbox.db, {"hosts": [device("h1")]})
    await rig.store.create(host("h1"))
    await rig.condition("h1", "Onboarded", "True")  # the pass it used counts 0 instances on h1
    inst = Instance(
        instance_id="shop.web.v1.0000beef",
        domain="shop",
        app="web",
        version="v1",
        state=InstanceState.RUNNING,
        hostname="h1",
        launched_at=datetime.now(UTC),
    )
    await rig.store.put_raw(f"instances/shop/web/{inst.instance_id}", inst.to_json().encode())
    current = await rig.store.get(ObjectKey("Host", None, "h1"))
    assert isinstance(current, Host)
    spec = current.spec.model_copy(update={"lifecycle": HostLifecycle.DRAINING})
    await rig.store.update(current.model_copy(update={"spec": spec}))
    _, cond = await rig.condition("h1", "Draining", "True", "WaitInstances")
    assert "1 live instance" in cond.message
    agents = (await rig.mesos.get_agents()).agents
    assert all(a.drain_info is None for a in agents)  # DRAIN_AGENT would have killed it


async def test_a_cmdb_outage_is_reported_changes_nothing_and_is_caught_up(rig: Rig):
    seed(rig.netbox.db, {"hosts": [device("h1")]})
    await rig.store.create(host("h1"))
    before, _ = await rig.condition("h1", "CmdbReachable", "True")

    await rig.netbox.stop()
    during, down = await rig.condition("h1", "CmdbReachable", "False", "CmdbUnavailable")
    assert "CMDB" in down.message or "127.0.0.1" in down.message
    rig.netbox.db.write_device(rig.device_id("h1"), {"custom_fields": {"domain": "pay"}}, None)
    assert during.spec == before.spec
    assert during.metadata.resource_version == before.metadata.resource_version

    await rig.netbox.start()
    await rig.condition("h1", "CmdbReachable", "True")
    caught_up = await rig.until(
        lambda: _with_domain(rig, "h1", "pay"),
    )
    assert caught_up.spec.lifecycle == "Active"


async def _with_domain(rig: Rig, name: str, domain: str) -> Host | None:
    got = await rig.get(name)
    return got if got.spec.domain == domain else None
