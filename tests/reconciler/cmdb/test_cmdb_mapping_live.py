"""The write-back wired as ``dcos-controller`` wires it: a leading Manager on a real etcd,
instance records written as the framework writes them, the local NetBox as the CMDB;
NetBox stopped and started again, and a new term that catches up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from ipaddress import IPv4Address

import pytest

from adapters.cmdb import CmdbSettings, NetboxCmdb
from adapters.etcd import EtcdStore
from adapters.protocols import CmdbAddress
from localcluster.netbox import LocalNetbox, NetboxSettings
from reconciler.apps.instances import Instance, InstanceState
from reconciler.apps.records import InstanceRecords
from reconciler.cmdb import WriteBackSettings
from reconciler.cmdb.mapping import CmdbMapping, register
from reconciler.runtime import Manager, ManagerSettings

TOKEN = "0123456789abcdef0123456789abcdef01234567"
TIMEOUT = 10.0


def inst(n: int, host: str, state: InstanceState = InstanceState.RUNNING) -> Instance:
    return Instance(
        instance_id=f"shop.web.abcdef01.{n:08x}",
        domain="shop",
        app="web",
        version="abcdef0123",
        state=state,
        agent_id=f"agent-{host}",
        hostname=host,
        ip=f"10.20.0.{n}",
        launched_at=datetime.now(UTC),
    )


def addr(n: int, host: str) -> CmdbAddress:
    return CmdbAddress(f"shop.web.abcdef01.{n:08x}", IPv4Address(f"10.20.0.{n}"), host, "shop/web")


@pytest.fixture
async def netbox(tmp_path) -> AsyncIterator[LocalNetbox]:
    settings = NetboxSettings(db=str(tmp_path / "cmdb.sqlite"), token=TOKEN)
    async with LocalNetbox(settings) as server:
        yield server


@pytest.fixture
async def cmdb(netbox: LocalNetbox) -> AsyncIterator[NetboxCmdb]:
    settings = CmdbSettings(url=netbox.url, token=TOKEN, retries=0, timeout=2.0)
    async with NetboxCmdb(settings) as client:
        yield client


async def until(check: Callable[[], Awaitable[bool]], what: str, mapping: CmdbMapping) -> None:
    """Until ``await check()``: re-checked after each write-back pass (or 0.5 s)."""
    try:
        async with asyncio.timeout(TIMEOUT):
            while not await check():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        if mapping.writeback is not None:
                            await mapping.writeback.next_pass()
                        else:
                            await asyncio.Event().wait()
    except TimeoutError:
        raise AssertionError(f"not within {TIMEOUT} s: {what}") from None


class Term:
    """A Manager leading on etcd with the mapping registered, run until stopped."""

    def __init__(self, store: EtcdStore, cmdb: NetboxCmdb) -> None:
        self.manager = Manager(store, settings=ManagerSettings(metrics_addr=None))
        self.records = InstanceRecords(store)
        self.mapping: CmdbMapping = register(
            self.manager,
            records=self.records,
            cmdb=cmdb,
            settings=WriteBackSettings(backoff=0.05, backoff_max=0.2),
        )
        self.stop = asyncio.Event()
        self.leading = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

        async def probe() -> None:  # a leader-only runnable: it starts with the term
            self.leading.set()
            await asyncio.Event().wait()

        self.manager.add_runnable("probe", probe)

    async def __aenter__(self) -> Term:
        self.task = asyncio.create_task(self.manager.run(self.stop), name="manager")
        async with asyncio.timeout(TIMEOUT):
            await self.leading.wait()
        await self.records.load()  # what the framework does at the start of its term
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        async with asyncio.timeout(TIMEOUT):
            await self.task

    def gauge(self, name: str) -> float:
        value = self.manager.metrics.registry.get_sample_value(f"dcos_cmdb_writeback_{name}")
        assert value is not None
        return value


async def test_records_appear_in_netbox_and_an_outage_is_caught_up(
    store: EtcdStore, cmdb: NetboxCmdb, netbox: LocalNetbox
) -> None:
    async with Term(store, cmdb) as term:
        for n, host in ((1, "h1"), (2, "h1"), (3, "h2")):
            term.records.put(inst(n, host))
        await term.records.flush()

        async def three_written() -> bool:
            return await cmdb.list_addresses() == [addr(1, "h1"), addr(2, "h1"), addr(3, "h2")]

        await until(three_written, "the three addresses in NetBox", term.mapping)
        assert await cmdb.list_addresses(host="h2") == [addr(3, "h2")]  # cf_host

        await netbox.stop()
        term.records.put(inst(2, "h1", InstanceState.KILLED))  # ended: its address goes
        term.records.put(inst(4, "h2"))  # launched during the outage
        term.records.remove([addr(3, "h2").task])  # expunged
        await term.records.flush()

        async def waiting() -> bool:
            return term.gauge("reachable") == 0.0 and term.gauge("pending") == 3

        await until(waiting, "the outage in the gauges", term.mapping)
        await netbox.start()

        async def caught_up() -> bool:
            return await cmdb.list_addresses() == [addr(1, "h1"), addr(4, "h2")]

        await until(caught_up, "the mapping after the outage", term.mapping)

        async def gauges_clear() -> bool:
            return term.gauge("pending") == 0 and term.gauge("reachable") == 1

        await until(gauges_clear, "the gauges after the outage", term.mapping)


async def test_a_new_leader_writes_what_the_last_one_missed(
    store: EtcdStore, cmdb: NetboxCmdb, netbox: LocalNetbox
) -> None:
    async with Term(store, cmdb) as term:
        term.records.put(inst(1, "h1"))
        term.records.put(inst(2, "h2"))
        await term.records.flush()

        async def written() -> bool:
            return len(await cmdb.list_addresses()) == 2

        await until(written, "the first leader's writes", term.mapping)
        await netbox.stop()  # the leader's last changes never reach the CMDB
        term.records.put(inst(1, "h1", InstanceState.FAILED))
        term.records.put(inst(5, "h3"))
        await term.records.flush()
    await netbox.start()

    async with Term(store, cmdb) as term:  # a new process leads: records from etcd, CMDB listed

        async def caught_up() -> bool:
            return await cmdb.list_addresses() == [addr(2, "h2"), addr(5, "h3")]

        await until(caught_up, "the new leader's catch-up", term.mapping)
