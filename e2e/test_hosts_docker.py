"""Two hosts as two real Docker engines: container IPs, drift, orphans and the CMDB.

One stack for the module: two private dockerds (``h1`` and ``h2``, each
with the busybox stand-in imported), the local NetBox seeded with both
hosts, the module's etcd, a local Mesos master whose agent ``h1`` runs
containers on the first engine and ``h2`` on the second, and the installed
``dcos-controller`` with ``--cmdb``. The Hosts name their engine in
``spec.engine`` and carry the label an IPPool of 172.31.250.0/24 in /27
blocks selects, so each host draws a block and every container gets its own
address from its host's block on the pool's Docker network (these addresses
are assigned and inspected, never connected to). The App names an image
the engines lack, so the stand-in runs it.

Scenarios, each bounded by deadlines on conditions (never a sleep):

- every container's address (``docker inspect`` on its host's engine) is its
  instance record's and lies in its host's block;
- ``docker kill`` of a container releases its address (the etcd record gets
  ``releasedAt``) and the replacement gets another while the old one cools;
- a daemon restarted with another log driver is drift on that Host only;
- a container with our task label that Mesos does not know is an orphan;
- the CMDB down during a rollout: the rollout completes, and once the CMDB
  is back its container addresses catch up with the running containers;
- ``h1`` set to decommissioning in NetBox is drained within the App's
  capacity bounds at every etcd revision, then ends offline in NetBox and
  Decommissioned in etcd, its block released.

The drain takes ``h1`` out of service, so it runs last; each other scenario
starts from the App running and leaves it running. Skips unless root.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from adapters.cmdb import CmdbSettings, NetboxCmdb
from adapters.docker import DockerEngine
from adapters.etcd import EtcdSettings, EtcdStore, open_store
from adapters.etcd.ipam import EtcdIpam
from adapters.protocols import CmdbAddress, DeviceStatus, ObjectKey
from crds.errors import NotFound
from crds.host import Host, HostLifecycle
from e2e.harness import (
    TIMEOUT,
    CapacityWatch,
    Stack,
    app_manifest,
    domain_manifest,
    instance_records,
    manifest,
    rolled_out,
    running_stack,
    until,
)
from localcluster.datacenter import STAND_IN
from localcluster.dockerd import DockerDaemon, import_busybox_image
from localcluster.mesos.server import LocalMaster
from localcluster.mesos.settings import AgentSpec, MasterSettings, SimSettings
from localcluster.netbox import LocalNetbox, NetboxSettings
from reconciler.apps.instances import Instance
from reconciler.apps.version import spec_version

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = "e2e00000000000000000000000000000000000e2"
"""The local NetBox's API token (40 hex digits, as NetBox issues them)."""
POOL = "e2e"
NETWORK = f"dcos-{POOL}"
CIDR = IPv4Network("172.31.250.0/24")
GATEWAY = IPv4Address("172.31.250.1")
HOSTS = ("h1", "h2")
BLOCK = 27
"""Each host's block: 32 addresses. Every launch takes a fresh one and a released one
cools for a minute, and over the module one host sees some 20 launches (kills, restarts,
a rollout, the drain), more than a /28 holds."""
IMAGE = "registry.e2e.example/shop/web:1"
"""An image neither engine has: the stand-in runs it."""
N = 4
MIN_HEALTH = MAX_OVER = 0.5
RESYNC_WAIT = 45.0
"""Waits on what only a periodic pass notices (a new container on an engine, a device's
status in the CMDB): the Host controller's 30 s resync and CMDB sync, and some slack."""
CMDB_ADDRESS = {"h1": "127.0.0.11", "h2": "127.0.0.12"}
"""Management addresses as the CMDB records them (loopback; nothing connects to them)."""


@dataclass
class Engine:
    """One host's private dockerd; :meth:`restart` replaces it with other options."""

    name: str
    state: Path
    daemon: DockerDaemon

    @property
    def url(self) -> str:
        return self.daemon.url

    @property
    def socket(self) -> str:
        return str(self.daemon.socket_path)

    async def restart(self, *extra_args: str) -> None:
        """Stop this dockerd (its containers and networks go) and start it with ``extra_args``."""
        await asyncio.to_thread(self.daemon.stop)
        self.daemon = DockerDaemon(self.state, extra_args=extra_args)
        await asyncio.to_thread(self.daemon.start)


@dataclass
class Site:
    """The module's stack: the controller on etcd and the master, two engines, NetBox."""

    stack: Stack
    engines: dict[str, Engine]
    netbox: LocalNetbox
    cmdb: NetboxCmdb

    async def until(
        self, what: str, check: Callable[[], Awaitable[bool]], *, within: float = TIMEOUT
    ) -> None:
        await until(what, check, within=within, describe=self.describe)

    async def ready(self) -> bool:
        """Every Host is onboarded, its engine read and the pool's network on it."""
        for name in HOSTS:
            conditions = host_conditions(await get_host(self.stack.store, name))
            wanted = ("Onboarded", "EngineReachable", "PoolNetwork")
            if any(conditions.get(kind) != "True" for kind in wanted):
                return False
        return True

    async def describe(self) -> str:
        """The Hosts' specs and statuses, the pool's addresses, then the Apps and the log."""
        store = self.stack.store
        lines = []
        for name in HOSTS:
            host = await get_host(store, name)
            lines.append(
                f"Host {name}: lifecycle {host.spec.lifecycle} "
                f"status {host.status.model_dump_json(by_alias=True, exclude_none=True)}"
            )
        allocations = await EtcdIpam(store).list_allocations(POOL)
        lines += [f"block {b.cidr} of {b.host}" for b in allocations.blocks]
        lines += [
            f"ip {a.ip} of {a.owner} on {a.host}"
            + ("" if a.held else f" released at {a.released_at}")
            for a in sorted(allocations.ips, key=lambda a: a.ip)
        ]
        records = await instance_records(store, "shop", "web")
        lines += [f"instance {i.instance_id} {i.state} on {i.hostname} ip {i.ip}" for i in records]
        return "\n".join([*lines, await self.stack.describe()])


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engines(
    docker_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Engine]]:
    """Two private dockerds, ``h1`` and ``h2``, the stand-in imported into each."""
    started: dict[str, Engine] = {}
    try:
        for name in HOSTS:
            state = tmp_path_factory.mktemp(f"dockerd-{name}")
            daemon = DockerDaemon(state)
            daemon.start()
            started[name] = Engine(name, state, daemon)
            import_stand_in(daemon)
        yield started
    finally:
        for engine in started.values():
            engine.daemon.stop()


def import_stand_in(daemon: DockerDaemon) -> None:
    """Import the stand-in into ``daemon`` (a loop of its own, in a helper thread)."""

    async def load() -> None:
        async with DockerEngine(str(daemon.socket_path)) as engine:
            await import_busybox_image(engine, STAND_IN)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(load())).result()


def seed_document() -> dict[str, object]:
    return {
        "hosts": [
            {
                "name": name,
                "site": "e2e",
                "rack": f"r{n}",
                "role": "container-host",
                "status": "active",
                "address": CMDB_ADDRESS[name],
                "tags": ["dcos"],
            }
            for n, name in enumerate(HOSTS, 1)
        ]
    }


def ip_forward() -> bool:
    """The kernel's IPv4 forwarding, which every engine of this machine reports."""
    return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"


def host_manifest(name: str, engine: Engine) -> str:
    """A Host on ``engine`` whose profile is what the private dockerd runs with."""
    n = HOSTS.index(name) + 1
    doc = {
        "apiVersion": "dcos/v1",
        "kind": "Host",
        "metadata": {"name": name, "labels": {"pool": POOL}},
        "spec": {
            "address": CMDB_ADDRESS[name],
            "attributes": {"rack": f"r{n}", "dc": "e2e"},
            "resources": {"cpus": 4, "mem": 4096},
            "profile": {
                "docker": {
                    "storageDriver": "vfs",
                    "logDriver": "json-file",
                    "iptables": False,
                    "ipForward": ip_forward(),
                }
            },
            "engine": {"url": engine.url, "network": NETWORK},
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def pool_manifest() -> str:
    doc = {
        "apiVersion": "dcos/v1",
        "kind": "IPPool",
        "metadata": {"name": POOL},
        "spec": {
            "vlan": 250,
            "cidr": str(CIDR),
            "gateway": str(GATEWAY),
            "blockSize": BLOCK,
            "hostSelector": {"matchLabels": {"pool": POOL}},
            "network": NETWORK,
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


def web(env: dict[str, str] | None = None) -> str:
    return app_manifest(
        "web",
        image=IMAGE,
        instances=N,
        env=env or {"RELEASE": "1"},
        min_health=MIN_HEALTH,
        max_over=MAX_OVER,
    )


def master_settings(engines: dict[str, Engine]) -> MasterSettings:
    """Agent ``hN`` runs its containers on engine ``hN``; short intervals, as the harness's."""
    agents = tuple(
        AgentSpec(
            hostname=name,
            cpus=4,
            mem=4096,
            ports="31000-31019",
            attributes=f"rack:r{n};dc:e2e",
            containerizer="docker",
            docker_socket=engines[name].socket,
        )
        for n, name in enumerate(HOSTS, 1)
    )
    return MasterSettings(
        agents=agents,
        containerizer="docker",
        docker_stand_in=STAND_IN,
        heartbeat_interval=0.5,
        allocation_interval=0.1,
        allocation_batch=0.01,
        status_update_retry=0.5,
        sim=SimSettings(),
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(
    engines: dict[str, Engine], etcd_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    tmp = tmp_path_factory.mktemp("hosts-docker")
    seed = tmp / "cmdb-seed.yaml"
    seed.write_text(yaml.safe_dump(seed_document()))
    prefix = f"/e2e-{uuid.uuid4().hex[:12]}"
    settings = NetboxSettings(db=str(tmp / "cmdb.sqlite"), token=TOKEN)
    async with contextlib.AsyncExitStack() as stack:
        netbox = await stack.enter_async_context(LocalNetbox(settings, seed_file=seed))
        cmdb = await stack.enter_async_context(
            NetboxCmdb(CmdbSettings(url=netbox.url, token=TOKEN, retries=1, backoff=0.05))
        )
        store = await stack.enter_async_context(
            open_store(EtcdSettings(endpoints=(etcd_endpoint,), prefix=prefix))
        )
        master = await stack.enter_async_context(LocalMaster(master_settings(engines)))
        running = await stack.enter_async_context(
            running_stack(
                master,
                store,
                etcd_endpoint,
                prefix,
                tmp,
                extra_args=("--cmdb", netbox.url),
                env={"DCOS_CMDB_TOKEN": TOKEN},
            )
        )
        running.apps.append(("shop", "web"))
        docs = [pool_manifest(), *(host_manifest(h, engines[h]) for h in HOSTS), domain_manifest()]
        await running.apply(manifest(*docs))
        site = Site(running, engines, netbox, cmdb)
        await site.until("both hosts to be onboarded with the pool's network", site.ready)
        yield site


# --- reads ----------------------------------------------------------------------------------


async def docker_cli(engine: Engine, *args: str) -> str:
    """The ``docker`` CLI on ``engine``'s socket; its stdout (it must succeed)."""
    docker = shutil.which("docker")
    assert docker is not None, "the docker CLI (docker.io) is missing"
    proc = await asyncio.create_subprocess_exec(
        docker,
        "--host",
        engine.url,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(TIMEOUT):
        out, err = await proc.communicate()
    assert proc.returncode == 0, f"docker {' '.join(args)}: {err.decode()}"
    return out.decode()


async def inspected_ips(engine: Engine) -> dict[str, str]:
    """Task id -> the container's address on the pool network, by ``docker inspect``."""
    ids = (await docker_cli(engine, "ps", "-q", "--filter", "label=dcos/app=web")).split()
    if not ids:
        return {}
    found = {}
    for item in json.loads(await docker_cli(engine, "inspect", *ids)):
        task = item["Config"]["Labels"]["dcos.task_id"]
        found[task] = item["NetworkSettings"]["Networks"].get(NETWORK, {}).get("IPAddress", "")
    return found


async def active(store: EtcdStore) -> list[Instance]:
    return [i for i in await instance_records(store, "shop", "web") if i.is_active]


async def blocks(store: EtcdStore) -> dict[str, IPv4Network]:
    """Host -> its block of the pool, as recorded in etcd."""
    allocations = await EtcdIpam(store).list_allocations(POOL)
    return {b.host: b.cidr for b in allocations.blocks}


async def get_host(store: EtcdStore, name: str) -> Host:
    got = await store.get(ObjectKey("Host", None, name))
    assert isinstance(got, Host)
    return got


def host_conditions(host: Host) -> dict[str, str]:
    return {c.type: str(c.status) for c in host.status.conditions}


async def host_events(store: EtcdStore, name: str) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the Host's events."""
    events = await store.events(ObjectKey("Host", None, name))
    return [(str(e.type), e.reason, e.message) for e in events]


async def web_runs(site: Site) -> None:
    """The App exists (applied once) and its current spec is rolled out on every instance."""
    stack = site.stack
    try:
        await stack.store.get(ObjectKey("App", "shop", "web"))
    except NotFound:
        await stack.apply(web())
    await site.until("web to run", lambda: rolled_out(stack.store, "shop", "web"))


async def no_drift(site: Site, name: str) -> bool:
    host = await get_host(site.stack.store, name)
    return (
        host.status.drift == []
        and host_conditions(host).get("ProfileDrift") == "False"
        and host.status.observed_generation == host.metadata.generation
    )


def reported_ip(stack: Stack, task_id: str) -> str | None:
    """The address the task's last TaskStatus reports (``container_status.network_infos``)."""
    for framework in stack.master.master.state.frameworks.values():
        for rec in [*framework.tasks.values(), *framework.completed]:
            if rec.task_id != task_id or not rec.statuses:
                continue
            container = rec.statuses[-1].container_status
            infos = container.network_infos if container is not None else []
            return next((a.ip_address for n in infos for a in n.ip_addresses if a.ip_address), None)
    return None


async def held_are_active(site: Site) -> bool:
    """The pool's held addresses are exactly those of the active instances, on their hosts."""
    store = site.stack.store
    allocations = await EtcdIpam(store).list_allocations(POOL)
    held = {(a.owner, str(a.ip), a.host) for a in allocations.ips if a.held}
    return held == {(i.instance_id, str(i.ip), i.hostname) for i in await active(store)}


async def no_address_leaks(site: Site) -> None:
    await site.until(
        "the held addresses to be the active instances'", lambda: held_are_active(site)
    )


async def assert_ips_are_the_records(site: Site) -> list[Instance]:
    """Every active record has an address in its host's block, and ``docker inspect`` of its
    container on that host's engine shows exactly it; the records, as read."""
    store = site.stack.store
    records = await active(store)
    owned = await blocks(store)
    inspected = {name: await inspected_ips(site.engines[name]) for name in HOSTS}
    assert sorted(t for ips in inspected.values() for t in ips) == sorted(
        i.instance_id for i in records
    )
    for inst in records:
        assert inst.hostname in HOSTS and inst.ip is not None, inst
        assert inspected[inst.hostname][inst.instance_id] == inst.ip, (inst, inspected)
        assert IPv4Address(inst.ip) in owned[inst.hostname], (inst.ip, owned)
        assert IPv4Address(inst.ip) != GATEWAY
    ips = [i.ip for i in records]
    assert len(set(ips)) == len(ips)
    return records


# --- scenarios ------------------------------------------------------------------------------


async def test_every_container_has_its_records_ip_from_its_hosts_block(site: Site) -> None:
    await web_runs(site)
    store = site.stack.store
    owned = await blocks(store)
    assert set(owned) == set(HOSTS)
    assert all(b.prefixlen == BLOCK and b.subnet_of(CIDR) for b in owned.values())
    assert owned["h1"] != owned["h2"]
    records = await assert_ips_are_the_records(site)
    assert {i.hostname for i in records} == set(HOSTS)  # spread over both hosts
    allocations = await EtcdIpam(store).list_allocations(POOL)
    held = {str(a.ip): (a.owner, a.host) for a in allocations.ips if a.held}
    for inst in records:
        assert held[str(inst.ip)] == (inst.instance_id, inst.hostname)
        assert reported_ip(site.stack, inst.instance_id) == inst.ip  # as Mesos reports it
    for name in HOSTS:  # the pool's network on each engine: the pool's subnet, the host's block
        [network] = json.loads(await docker_cli(site.engines[name], "network", "inspect", NETWORK))
        [config] = network["IPAM"]["Config"]
        assert (config["Subnet"], config["IPRange"], config["Gateway"]) == (
            str(CIDR),
            str(owned[name]),
            str(GATEWAY),
        )
    await no_address_leaks(site)


async def test_a_killed_containers_ip_is_released_and_not_reused_while_it_cools(
    site: Site,
) -> None:
    await web_runs(site)
    stack = site.stack
    [victim, *_] = sorted(await active(stack.store), key=lambda i: i.instance_id)
    assert victim.hostname is not None and victim.ip is not None
    engine = site.engines[victim.hostname]
    found = await docker_cli(
        engine, "ps", "-q", "--filter", f"label=dcos.task_id={victim.instance_id}"
    )
    assert len(found.split()) == 1, f"no container of {victim.instance_id} on {victim.hostname}"

    await docker_cli(engine, "kill", found.strip())

    async def released() -> bool:
        allocations = await EtcdIpam(stack.store).list_allocations(POOL)
        record = next((a for a in allocations.ips if str(a.ip) == victim.ip), None)
        return record is not None and record.released_at is not None

    await site.until(f"{victim.ip} of {victim.instance_id} to be released", released)

    async def replaced() -> bool:
        ids = {i.instance_id for i in await active(stack.store)}
        return victim.instance_id not in ids and await rolled_out(stack.store, "shop", "web")

    await site.until("the killed instance to be replaced", replaced)
    records = await assert_ips_are_the_records(site)
    assert victim.ip not in {i.ip for i in records}
    allocations = await EtcdIpam(stack.store).list_allocations(POOL)
    [old] = [a for a in allocations.ips if str(a.ip) == victim.ip]
    assert (old.host, old.owner) == (victim.hostname, victim.instance_id)
    assert old.released_at is not None  # still cooling: no one holds it
    await no_address_leaks(site)


async def test_a_daemon_restarted_with_another_log_driver_is_drift_on_its_host(
    site: Site,
) -> None:
    await web_runs(site)
    stack = site.stack
    await site.until("h1 to show no drift", lambda: no_drift(site, "h1"))
    await site.until("h2 to show no drift", lambda: no_drift(site, "h2"))

    await site.engines["h2"].restart("--log-driver=none")

    async def drifted() -> bool:
        host = await get_host(stack.store, "h2")
        found = {(d.setting, d.desired, d.observed) for d in host.status.drift}
        return ("docker.logDriver", "json-file", "none") in found and host_conditions(host).get(
            "ProfileDrift"
        ) == "True"

    await site.until("h2 to report its log driver as drift", drifted)
    assert await no_drift(site, "h1")
    events = await host_events(stack.store, "h2")
    assert any("log driver" in message for _, _, message in events), events
    listed = await stack.ctl("hosts", "drift")
    assert listed.code == 1, listed
    rows = [line.split() for line in listed.out.splitlines()]
    assert any(row[:2] == ["h2", "docker.logDriver"] for row in rows), listed.out
    assert not any(row and row[0] == "h1" for row in rows), listed.out

    await site.engines["h2"].restart()  # as it was: the drift clears and web runs again
    await site.until("h2's drift to clear", lambda: no_drift(site, "h2"))
    await web_runs(site)
    await assert_ips_are_the_records(site)
    await no_address_leaks(site)


async def test_a_container_mesos_does_not_know_is_an_orphan(site: Site) -> None:
    stack = site.stack
    engine = site.engines["h1"]
    name = f"ghost-{uuid.uuid4().hex[:6]}"
    task = f"shop.ghost.00000000.{uuid.uuid4().hex[:8]}"
    await docker_cli(
        engine,
        "run",
        "--detach",
        "--network",
        "none",
        "--name",
        name,
        "--label",
        f"dcos.task_id={task}",
        STAND_IN,
        "sleep",
        "3600",
    )
    try:

        async def reported() -> bool:
            host = await get_host(stack.store, "h1")
            warned = any(
                kind == "Warning" and name in message
                for kind, _, message in await host_events(stack.store, "h1")
            )
            return host_conditions(host).get("Orphans") == "True" and warned

        await site.until(f"h1 to report the orphan {name}", reported, within=RESYNC_WAIT)
        host = await get_host(stack.store, "h1")
        assert f"container/{name}" in {d.setting for d in host.status.drift}, host.status.drift
        assert host_conditions(await get_host(stack.store, "h2")).get("Orphans") == "False"
    finally:
        await docker_cli(engine, "rm", "--force", name)

    async def cleared() -> bool:
        return host_conditions(await get_host(stack.store, "h1")).get("Orphans") == "False"

    await site.until("the Orphans condition to clear", cleared, within=RESYNC_WAIT)


async def cmdb_mapping(cmdb: NetboxCmdb) -> set[CmdbAddress]:
    return {a for a in await cmdb.list_addresses()}


def wanted_mapping(records: list[Instance]) -> set[tuple[str, str, str, str]]:
    """(task, address, host, app) of every active record."""
    return {(i.instance_id, str(i.ip), str(i.hostname), "shop/web") for i in records}


async def mapping_in_step(site: Site) -> bool:
    records = await active(site.stack.store)
    if not records or not all(i.is_healthy for i in records):
        return False
    written = {(a.task, str(a.address), a.host, a.app) for a in await cmdb_mapping(site.cmdb)}
    return written == wanted_mapping(records)


async def test_a_rollout_survives_a_cmdb_outage_and_the_mapping_catches_up(site: Site) -> None:
    await web_runs(site)
    stack = site.stack
    await site.until("NetBox to hold every container's address", lambda: mapping_in_step(site))
    before = {i.instance_id for i in await active(stack.store)}

    await site.netbox.stop()
    try:
        await stack.apply(web({"RELEASE": "2"}))
        version = spec_version((await stack.app("shop", "web")).spec)
        await site.until(
            "web to roll out with the CMDB down",
            lambda: rolled_out(stack.store, "shop", "web", version),
        )
        assert not site.netbox.running
        for name in HOSTS:  # an unreachable CMDB changes no host
            assert (await get_host(stack.store, name)).spec.lifecycle == HostLifecycle.ACTIVE
    finally:
        if not site.netbox.running:
            await site.netbox.start()

    records = await assert_ips_are_the_records(site)
    assert not before & {i.instance_id for i in records}
    await site.until("NetBox's addresses to catch up", lambda: mapping_in_step(site))
    await no_address_leaks(site)


async def test_a_host_set_to_decommissioning_is_drained_within_bounds_and_recycled(
    site: Site,
) -> None:
    await web_runs(site)
    stack = site.stack
    assert any(i.hostname == "h1" for i in await active(stack.store))
    await no_address_leaks(site)
    watch = CapacityWatch(
        stack.store,
        domain="shop",
        name="web",
        instances=N,
        min_health=MIN_HEALTH,
        max_over=MAX_OVER,
    )
    async with watch:
        await site.cmdb.set_device_status("h1", DeviceStatus.DECOMMISSIONING)

        async def moved() -> bool:
            records = await active(stack.store)
            return all(i.hostname == "h2" for i in records) and await rolled_out(
                stack.store, "shop", "web"
            )

        await site.until("web's instances to move off h1", moved, within=RESYNC_WAIT)

        async def recycled() -> bool:
            host = await get_host(stack.store, "h1")
            device = await site.cmdb.get_device("h1")
            return (
                host.spec.lifecycle == HostLifecycle.DECOMMISSIONED
                and device.status == DeviceStatus.OFFLINE
                and "h1" not in await blocks(stack.store)
            )

        await site.until("h1 to be offline in NetBox and Decommissioned", recycled)

    assert watch.violations == [], await stack.describe()
    assert watch.checked >= 2
    [agent] = [a for a in stack.master.master.state.agents.values() if a.hostname == "h1"]
    assert agent.drain is not None  # DRAIN_AGENT reached the master

    async def recycled_event() -> bool:
        return "Recycled" in [reason for _, reason, _ in await host_events(stack.store, "h1")]

    await site.until("the Recycled event of h1", recycled_event)
    assert await inspected_ips(site.engines["h1"]) == {}
    await assert_ips_are_the_records(site)
    assert (await get_host(stack.store, "h2")).spec.lifecycle == HostLifecycle.ACTIVE
    await site.until("NetBox's addresses to follow the move", lambda: mapping_in_step(site))
