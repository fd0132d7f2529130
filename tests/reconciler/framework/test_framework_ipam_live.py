"""Addresses at placement, against a real etcd and the local Mesos master (sim tasks).

The framework runs with an :class:`~reconciler.ipam.Ipam` on ``EtcdIpam`` and
IPPools and Hosts given as lists (the informers' part). Blocks are claimed
beforehand, as the IPPool controller would. The spy reads the instance
record from etcd when each ACCEPT is sent: its address must already be there
and be the one the TaskInfo carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Sequence
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from adapters.etcd import EtcdStore
from adapters.etcd.ipam import EtcdIpam
from adapters.mesos.scheduler import MesosSchedulerClient
from adapters.protocols import IpamStore, IpCandidate, PoolAllocations
from crds.errors import Unavailable
from crds.host import Host
from crds.ippool import IPPool
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec, MasterSettings, SimSettings
from reconciler.apps import Instance, InstanceState
from reconciler.apps.records import instance_path
from reconciler.framework import MesosFramework
from reconciler.ipam import Ipam
from reconciler.placement import AppKey
from tests.reconciler.framework.test_framework_live import (
    TIMEOUT,
    Spy,
    app,
    domain,
    fresh,
)
from tests.reconciler.framework.test_framework_live import (
    Harness as BaseHarness,
)

H1, H2, H3 = "node-1", "node-2", "node-3"
AGENTS = tuple(AgentSpec(hostname=h, cpus=4, mem=4096, ports="31000-31009") for h in (H1, H2, H3))


@pytest.fixture
async def local() -> AsyncIterator[LocalMaster]:
    settings = MasterSettings(
        agents=AGENTS,
        heartbeat_interval=1.0,
        allocation_interval=0.05,
        allocation_batch=0.005,
        status_update_retry=0.2,
        default_refuse_seconds=0.2,
        sim=SimSettings(running_delay=0.02),
    )
    async with LocalMaster(settings) as started:
        yield started


def pool(name: str, cidr: str, gateway: str, **spec: Any) -> IPPool:
    body = {
        "vlan": 20,
        "cidr": cidr,
        "gateway": gateway,
        "hostSelector": {"matchLabels": {"net": name}},
        **spec,
    }
    return IPPool.model_validate({"metadata": {"name": name}, "spec": body})


def host(name: str, *, labels: dict[str, str] | None = None, engine: bool = False) -> Host:
    spec: dict[str, Any] = {"address": "127.0.0.1", "resources": {"cpus": 4, "mem": 4096}}
    body: dict[str, Any] = {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}
    if engine:  # the Host controller made the pool's network there
        spec["engine"] = {"url": "unix:///run/docker-test.sock"}
        body["status"] = {"conditions": [{"type": "PoolNetwork", "status": "True"}]}
    return Host.model_validate(body)


class IpSpy(Spy):
    """The spy, also checking that each launch's address is in its record in etcd."""

    def __init__(self, inner: MesosSchedulerClient, store: EtcdStore) -> None:
        super().__init__(inner, store)
        self.launched_ips: dict[str, str | None] = {}  # task id -> address in the TaskInfo
        self.ip_not_recorded: list[str] = []
        self.infos: dict[str, Any] = {}

    async def accept(self, offer_ids: Any, operations: Any, *, filters: Any = None) -> None:
        for op in operations:
            for info in op.launch.task_infos:
                task = info.task_id.value
                nets = info.container.network_infos
                ip = nets[0].ip_addresses[0].ip_address if nets else None
                self.launched_ips[task] = ip
                self.infos[task] = info
                domain_, app_, _, _ = task.split(".")
                raw = await self.store.get_raw(f"instances/{domain_}/{app_}/{task}")
                if raw is None or Instance.from_json(raw).ip != ip:
                    self.ip_not_recorded.append(task)
        await super().accept(offer_ids, operations, filters=filters)


class Harness(BaseHarness):
    """The framework's harness with IPPools, Hosts and the IPAM on a clock of its own."""

    def __init__(self, local: LocalMaster, store: EtcdStore) -> None:
        super().__init__(local, store)
        self.rng = random.Random(11)
        self.now = 1_000_000.0  # the IPAM's wall clock, moved by the tests
        self.pools: list[IPPool] = []
        self.hosts: list[Host] = []
        self.ipam = Ipam(EtcdIpam(store), cooldown=60.0, now=lambda: self.now)
        self.ipam_store: IpamStore = EtcdIpam(store)  # what the framework's Ipam uses

    def spy(self, client: MesosSchedulerClient) -> IpSpy:
        return IpSpy(client, self.store)

    def framework_args(self) -> dict[str, Any]:
        return {
            "hosts": lambda: list(self.hosts),
            "ipam": Ipam(self.ipam_store, cooldown=60.0, now=lambda: self.now),
            "ip_pools": lambda: list(self.pools),
        }

    @contextlib.asynccontextmanager
    async def framework(self, **settings: Any) -> AsyncIterator[tuple[MesosFramework, IpSpy]]:
        async with super().framework(**settings) as (fw, spy):
            assert isinstance(spy, IpSpy)
            yield fw, spy

    async def until_async(self, predicate: Any, within: float = TIMEOUT) -> None:
        async with asyncio.timeout(within):
            while not await predicate():
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self.changed.wait()

    async def block(self, pool_: IPPool, hostname: str) -> IPv4Network:
        return await self.ipam.claim_block(pool=pool_.metadata.name, spec=pool_.spec, host=hostname)

    async def released_at(self, pool_: str, ip: str) -> float | None:
        allocations = await EtcdIpam(self.store).list_allocations(pool_)
        (found,) = [a for a in allocations.ips if a.ip == IPv4Address(ip)]
        return found.released_at


@pytest.fixture
def harness(local: LocalMaster, store: EtcdStore) -> Harness:
    return Harness(local, store)


def running(fw: MesosFramework, ids: Sequence[str]) -> bool:
    states = [fw.records.get(i) for i in ids]
    return all(s is not None and s.state is InstanceState.RUNNING for s in states)


async def test_instances_get_distinct_ips_in_their_hosts_block_recorded_before_the_accept(
    harness: Harness,
) -> None:
    vlan20 = pool("vlan20", "10.20.0.0/24", "10.20.0.1")
    harness.pools = [vlan20]
    harness.hosts = [
        host(H1, labels={"net": "vlan20"}, engine=True),
        host(H2, labels={"net": "vlan20"}),
        host(H3),
    ]
    blocks = {H1: await harness.block(vlan20, H1), H2: await harness.block(vlan20, H2)}
    web = app("web", ipPool="vlan20")
    # One per host: the host no pool selects takes its instance without an address.
    spread = app("spread", constraints=[["hostname", "UNIQUE"]])
    async with harness.framework() as (fw, spy):
        wanted = fresh(web, 6, harness.rng)
        others = fresh(spread, 3, harness.rng)
        fw.request(app=web, domain=domain(), spec=web.spec, instances=wanted)
        fw.request(app=spread, domain=domain(), spec=spread.spec, instances=others)
        ids = [i.instance_id for i in [*wanted, *others]]
        await harness.until(lambda: running(fw, ids))
        assert spy.unrecorded_launches == [] and spy.ip_not_recorded == []
        records = [fw.records.get(i) for i in ids]
        addressed = [r for r in records if r is not None and r.ip is not None]
        assert len(addressed) == 8  # 6 of web, 2 of spread (on H1 and H2)
        assert len({r.ip for r in addressed}) == 8
        for r in addressed:
            assert r.hostname in blocks and IPv4Address(r.ip) in blocks[r.hostname]
        on_h3 = [r for r in records if r is not None and r.hostname == H3]
        assert [r.app for r in on_h3] == ["spread"] and on_h3[0].ip is None
        assert spy.launched_ips[on_h3[0].instance_id] is None
        assert {r.hostname for r in addressed if r.app == "web"} <= {H1, H2}
        # In etcd: the record with its address, and the IPAM's record of the owner.
        allocations = await EtcdIpam(harness.store).list_allocations("vlan20")
        held = {a.owner: (str(a.ip), a.host) for a in allocations.ips if a.held}
        assert held == {r.instance_id: (r.ip, r.hostname) for r in addressed}
        for r in addressed:
            raw = await harness.store.get_raw(instance_path(r))
            assert raw is not None and Instance.from_json(raw).ip == r.ip
            info = spy.infos[r.instance_id]
            docker = info.container.docker
            params = {p.key: p.value for p in docker.parameters}
            (net,) = info.container.network_infos
            assert net.name == "dcos-vlan20"
            if r.hostname == H1:  # its engine is declared: pinned on the pool's network
                assert str(docker.network) == "USER" and params["ip"] == r.ip
            else:
                assert str(docker.network) == "BRIDGE" and "ip" not in params


async def test_a_full_block_makes_the_host_infeasible_and_counts_why(harness: Harness) -> None:
    # /30 blocks: 10.30.0.0/30 gives .1-.3 (the pool's network address is never given).
    vlan30 = pool("vlan30", "10.30.0.0/24", "10.30.0.254", blockSize=30)
    harness.pools = [vlan30]
    harness.hosts = [host(H1, labels={"net": "vlan30"}), host(H2), host(H3)]
    await harness.block(vlan30, H1)
    web = app("web", ipPool="vlan30", cpus=0.1)
    async with harness.framework() as (fw, spy):
        wanted = fresh(web, 5, harness.rng)
        fw.request(app=web, domain=domain(), spec=web.spec, instances=wanted)
        key = AppKey("shop", "web")
        await harness.until(
            lambda: (
                sum(1 for i in fw.instances("shop", "web") if i.agent_id) == 3
                and fw.placement_summary(key) is not None
            )
        )
        summary = fw.placement_summary(key)
        assert summary is not None
        assert "no free IP in vlan30" in summary and "not in IPPool vlan30" in summary
        assert len(fw.queue) == 2 and spy.ip_not_recorded == []
        placed = [i for i in fw.instances("shop", "web") if i.agent_id]
        assert sorted(i.ip or "" for i in placed) == ["10.30.0.1", "10.30.0.2", "10.30.0.3"]


async def test_a_failed_allocation_unplaces_the_instance_and_counts_it(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.framework.matcher")
    vlan30 = pool("vlan30", "10.30.0.0/24", "10.30.0.254", blockSize=30)
    harness.pools = [vlan30]
    harness.hosts = [host(H1, labels={"net": "vlan30"}), host(H2), host(H3)]
    await harness.block(vlan30, H1)
    web = app("web", ipPool="vlan30", cpus=0.1)
    # The framework lists the pool once (an hour between listings), then someone
    # else takes the last two addresses: placement believes two are free.
    async with harness.framework(ipam_refresh_seconds=3600.0) as (fw, spy):
        (first,) = fresh(web, 1, harness.rng)
        fw.request(app=web, domain=domain(), spec=web.spec, instances=[first])
        await harness.until(lambda: running(fw, [first.instance_id]))
        for owner in ("elsewhere-1", "elsewhere-2"):
            await harness.ipam.allocate_ip(pool="vlan30", spec=vlan30.spec, host=H1, owner=owner)
        late = fresh(web, 1, harness.rng)
        accepts = len(spy.accepts)
        fw.request(app=web, domain=domain(), spec=web.spec, instances=late)
        key = AppKey("shop", "web")
        await harness.until(lambda: "no free IP in vlan30" in (fw.placement_summary(key) or ""))
        assert late[0].instance_id in fw.queue  # still queued, nothing launched
        assert fw.records.get(late[0].instance_id) is None and len(spy.accepts) == accepts
        # Placed on the stale listing, then un-placed by the allocation itself.
        failed = f"IPPool vlan30: no address for {late[0].instance_id} on {H1}"
        assert any(failed in r.getMessage() for r in caplog.records)


async def test_a_killed_tasks_ip_is_released_and_cools_down(harness: Harness) -> None:
    vlan20 = pool("vlan20", "10.20.0.0/24", "10.20.0.1")
    harness.pools = [vlan20]
    harness.hosts = [host(H1, labels={"net": "vlan20"}), host(H2), host(H3)]
    await harness.block(vlan20, H1)
    web = app("web", ipPool="vlan20", cpus=0.1)
    async with harness.framework() as (fw, _):
        (first,) = fresh(web, 1, harness.rng)
        fw.request(app=web, domain=domain(), spec=web.spec, instances=[first])
        await harness.until(lambda: running(fw, [first.instance_id]))
        record = fw.records.get(first.instance_id)
        assert record is not None and record.ip is not None
        old_ip = record.ip
        assert await fw.kill([record]) == 1

        async def released() -> bool:
            return await harness.released_at("vlan20", old_ip) is not None

        await harness.until_async(released)
        assert await harness.released_at("vlan20", old_ip) == harness.now
        ended = fw.records.get(first.instance_id)
        assert ended is not None and ended.state is InstanceState.KILLED
        # The replacement, within the cooldown, gets another address of the block.
        (second,) = fresh(web, 1, harness.rng)
        fw.request(app=web, domain=domain(), spec=web.spec, instances=[second])
        await harness.until(lambda: running(fw, [second.instance_id]))
        replacement = fw.records.get(second.instance_id)
        assert replacement is not None and replacement.ip not in (None, old_ip)
        assert await harness.released_at("vlan20", old_ip) == harness.now  # still cooling


async def test_a_new_term_releases_addresses_of_ended_or_unknown_instances(
    harness: Harness,
) -> None:
    vlan20 = pool("vlan20", "10.20.0.0/24", "10.20.0.1")
    harness.pools = [vlan20]
    harness.hosts = [host(H1, labels={"net": "vlan20"}), host(H2), host(H3)]
    await harness.block(vlan20, H1)
    web = app("web", ipPool="vlan20", cpus=0.1)
    ended, unknown = fresh(web, 2, harness.rng)
    addresses = {}
    for owner in (ended.instance_id, unknown.instance_id, "not-an-instance"):
        ip = await harness.ipam.allocate_ip(pool="vlan20", spec=vlan20.spec, host=H1, owner=owner)
        addresses[owner] = str(ip)
    # A Killed record whose release never happened (the process died first).
    gone = ended.model_copy(
        update={"state": InstanceState.KILLED, "hostname": H1, "ip": addresses[ended.instance_id]}
    )
    await harness.store.commit_raw({instance_path(gone): gone.to_json().encode()})
    async with harness.framework() as (fw, _):

        async def swept() -> bool:
            at = [await harness.released_at("vlan20", addresses[o]) for o in addresses]
            return at[0] is not None and at[1] is not None

        await harness.until_async(swept)
        assert fw.addresses is not None and fw.addresses.released == 2
        assert await harness.released_at("vlan20", addresses["not-an-instance"]) is None


class FlakyIpam:
    """EtcdIpam, whose first ``failures`` releases fail as etcd being away would."""

    def __init__(self, inner: EtcdIpam, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.attempts = 0

    async def list_allocations(self, pool: str) -> PoolAllocations:
        return await self.inner.list_allocations(pool)

    async def claim_block(
        self, *, pool: str, host: str, candidates: Sequence[IPv4Network]
    ) -> IPv4Network | None:
        return await self.inner.claim_block(pool=pool, host=host, candidates=candidates)

    async def allocate_ip(
        self, *, pool: str, host: str, owner: str, candidates: Sequence[IpCandidate]
    ) -> IPv4Address | None:
        return await self.inner.allocate_ip(
            pool=pool, host=host, owner=owner, candidates=candidates
        )

    async def release_block(self, *, pool: str, host: str) -> IPv4Network | None:
        return await self.inner.release_block(pool=pool, host=host)

    async def release_ip(self, *, pool: str, owner: str, at: float) -> IPv4Address | None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise Unavailable("etcd: injected failure")
        return await self.inner.release_ip(pool=pool, owner=owner, at=at)


async def test_a_failed_release_is_retried_with_backoff_and_logged(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    vlan20 = pool("vlan20", "10.20.0.0/24", "10.20.0.1")
    harness.pools = [vlan20]
    harness.hosts = [host(H1, labels={"net": "vlan20"}), host(H2), host(H3)]
    await harness.block(vlan20, H1)
    flaky = FlakyIpam(EtcdIpam(harness.store), failures=3)
    harness.ipam_store = flaky
    web = app("web", ipPool="vlan20", cpus=0.1)
    settings = {"release_retry_initial": 0.05, "release_retry_max": 0.2}
    async with harness.framework(**settings) as (fw, _):
        (inst,) = fresh(web, 1, harness.rng)
        fw.request(app=web, domain=domain(), spec=web.spec, instances=[inst])
        await harness.until(lambda: running(fw, [inst.instance_id]))
        record = fw.records.get(inst.instance_id)
        assert record is not None and record.ip is not None
        ip = record.ip
        await fw.kill([record])

        async def released() -> bool:
            return await harness.released_at("vlan20", ip) is not None

        await harness.until_async(released)
        assert flaky.attempts == 4
        retried = [r for r in caplog.records if "not released (try" in r.getMessage()]
        assert [r.levelname for r in retried] == ["WARNING"] * 3


async def test_a_released_address_is_reused_only_after_the_cooldown(harness: Harness) -> None:
    # One /30 block of three addresses: two held by others, one by our instance.
    vlan30 = pool("vlan30", "10.30.0.0/24", "10.30.0.254", blockSize=30)
    harness.pools = [vlan30]
    harness.hosts = [host(H1, labels={"net": "vlan30"}), host(H2), host(H3)]
    await harness.block(vlan30, H1)
    for owner in ("elsewhere-1", "elsewhere-2"):
        await harness.ipam.allocate_ip(pool="vlan30", spec=vlan30.spec, host=H1, owner=owner)
    web = app("web", ipPool="vlan30", cpus=0.1)
    key = AppKey("shop", "web")
    async with harness.framework() as (fw, _):
        (first,) = fresh(web, 1, harness.rng)
        fw.request(app=web, domain=domain(), spec=web.spec, instances=[first])
        await harness.until(lambda: running(fw, [first.instance_id]))
        record = fw.records.get(first.instance_id)
        assert record is not None and record.ip == "10.30.0.3"
        await fw.kill([record])

        async def released() -> bool:
            return await harness.released_at("vlan30", "10.30.0.3") is not None

        await harness.until_async(released)
        (second,) = fresh(web, 1, harness.rng)
        fw.request(app=web, domain=domain(), spec=web.spec, instances=[second])
        await harness.until(lambda: "no free IP in vlan30" in (fw.placement_summary(key) or ""))
        assert second.instance_id in fw.queue  # the only address is cooling down
        harness.now += 60.0  # the cooldown has passed
        await harness.until(lambda: running(fw, [second.instance_id]))
        replacement = fw.records.get(second.instance_id)
        assert replacement is not None and replacement.ip == "10.30.0.3"


async def test_an_address_held_on_another_host_is_released_not_moved(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.framework.addresses")
    vlan20 = pool("vlan20", "10.20.0.0/24", "10.20.0.1")
    harness.pools = [vlan20]
    harness.hosts = [host(h, labels={"net": "vlan20"}) for h in (H1, H2, H3)]
    blocks = {h: await harness.block(vlan20, h) for h in (H1, H2)}
    web = app("web", ipPool="vlan20", cpus=0.1, constraints=[["hostname", "CLUSTER", H1]])
    (inst,) = fresh(web, 1, harness.rng)
    async with harness.framework() as (fw, _):
        assert fw.addresses is not None
        addresses = fw.addresses
        await harness.until(lambda: "vlan20" in addresses.listed)  # swept already
        # As after a placement on H2 whose record could not be written.
        old = await harness.ipam.allocate_ip(
            pool="vlan20", spec=vlan20.spec, host=H2, owner=inst.instance_id
        )
        fw.request(app=web, domain=domain(), spec=web.spec, instances=[inst])
        await harness.until(lambda: running(fw, [inst.instance_id]))
        record = fw.records.get(inst.instance_id)
        assert record is not None and record.hostname == H1 and record.ip is not None
        assert IPv4Address(record.ip) in blocks[H1]
        assert await harness.released_at("vlan20", str(old)) is not None
        assert any("outside" in r.getMessage() for r in caplog.records)
