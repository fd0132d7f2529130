"""What the CMDB should hold for the instance records, and how the records feed the
write-back while leading (an in-memory CMDB and records store; the live test uses etcd
and the local NetBox)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from ipaddress import IPv4Address
from typing import Any

import pytest

from adapters.protocols import CmdbAddress
from crds.errors import CmdbUnavailable
from reconciler.apps.instances import Instance, InstanceState
from reconciler.apps.records import InstanceRecords, instance_path
from reconciler.cmdb import WriteBackSettings
from reconciler.cmdb.mapping import RUNNABLE, CmdbMapping, address_of, desired, register
from reconciler.runtime import Manager, ManagerSettings

FAST = WriteBackSettings(backoff=0.01, backoff_max=0.05)


def inst(
    n: int,
    *,
    state: InstanceState = InstanceState.RUNNING,
    ip: str | None = "10.20.0.1",
    host: str | None = "h1",
) -> Instance:
    return Instance(
        instance_id=f"shop.web.abcdef01.{n:08x}",
        domain="shop",
        app="web",
        version="abcdef0123",
        state=state,
        agent_id=None if host is None else f"agent-{host}",
        hostname=host,
        ip=ip,
        launched_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def addr(n: int, ip: str = "10.20.0.1", host: str = "h1") -> CmdbAddress:
    return CmdbAddress(f"shop.web.abcdef01.{n:08x}", IPv4Address(ip), host, "shop/web")


class MemoryStore:
    """A RawStore in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def get_raw(self, path: str) -> bytes | None:
        return self.data.get(path)

    async def list_raw(self, prefix: str) -> list[tuple[str, bytes]]:
        return sorted((k, v) for k, v in self.data.items() if k.startswith(prefix))

    async def commit_raw(self, puts: Mapping[str, bytes], deletes: Sequence[str] = ()) -> None:
        self.data.update(puts)
        for path in deletes:
            self.data.pop(path, None)


class MemoryCmdb:
    """Container addresses in a dict; can be down."""

    def __init__(self, held: Sequence[CmdbAddress] = ()) -> None:
        self.held = {a.task: a for a in held}
        self.down = False
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise CmdbUnavailable("CMDB http://cmdb unreachable")

    async def list_addresses(self, *, host: str | None = None) -> list[CmdbAddress]:
        self._check()
        return sorted(self.held.values(), key=lambda a: a.task)

    async def put_address(self, address: CmdbAddress) -> None:
        self._check()
        self.held[address.task] = address

    async def delete_address(self, task: str) -> None:
        self._check()
        self.held.pop(task, None)


# ------------------------------------------------------------------ the pure part


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        pytest.param(inst(1), addr(1), id="running"),
        pytest.param(inst(1, state=InstanceState.PENDING), addr(1), id="placed-pending"),
        pytest.param(inst(1, state=InstanceState.KILLING), addr(1), id="killing-still-holds"),
        pytest.param(inst(1, state=InstanceState.UNREACHABLE), addr(1), id="unreachable-holds"),
        pytest.param(inst(1, state=InstanceState.KILLED), None, id="terminal"),
        pytest.param(inst(1, state=InstanceState.FAILED), None, id="failed"),
        pytest.param(inst(1, ip=None), None, id="no-ip"),
        pytest.param(inst(1, host=None), None, id="not-placed"),
        pytest.param(inst(1, ip="fd00::1"), None, id="not-ipv4"),
    ],
)
def test_address_of_an_instance(instance: Instance, expected: CmdbAddress | None) -> None:
    assert address_of(instance) == expected


def test_desired_is_every_live_instance_with_an_ip_by_task() -> None:
    records = [
        inst(1),
        inst(2, ip="10.20.0.2", host="h2"),
        inst(3, state=InstanceState.LOST),
        inst(4, ip=None),
    ]
    assert desired(records) == {
        addr(1).task: addr(1),
        addr(2).task: addr(2, "10.20.0.2", "h2"),
    }


# ------------------------------------------------------------ records -> write-back


async def test_changes_feed_the_writeback_only_while_leading() -> None:
    records = InstanceRecords(MemoryStore())
    mapping = CmdbMapping(MemoryCmdb(), records, settings=FAST)
    records.observe(mapping)
    records.put(inst(1))  # not leading: nothing kept
    assert mapping.writeback is None and mapping.pending() == 0

    running = asyncio.create_task(mapping.run())
    await asyncio.sleep(0)  # the term starts (run() sets up its WriteBack first)
    writeback = mapping.writeback
    assert writeback is not None
    records.put(inst(2, ip="10.20.0.2"))
    assert writeback.desired == {addr(2).task: addr(2, "10.20.0.2")}
    records.put(inst(2, ip="10.20.0.2", state=InstanceState.KILLED))
    assert writeback.desired == {}
    records.put(inst(3, ip="10.20.0.3"))
    records.remove([addr(3).task])
    assert writeback.desired == {}
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert mapping.writeback is None


async def test_each_term_replaces_the_whole_mapping_so_a_new_leader_catches_up() -> None:
    store = MemoryStore()
    for record in (inst(1), inst(2, ip="10.20.0.2", host="h2"), inst(3, state=InstanceState.GONE)):
        store.data[instance_path(record)] = record.to_json().encode()
    stale = CmdbAddress("shop.web.abcdef01.000000ff", IPv4Address("10.20.0.9"), "h9", "shop/web")
    moved = addr(2, "10.20.0.2", "h1")  # the old leader wrote an older host
    cmdb = MemoryCmdb([stale, moved])
    records = InstanceRecords(store)
    mapping = CmdbMapping(cmdb, records, settings=FAST)
    records.observe(mapping)

    running = asyncio.create_task(mapping.run())  # the runnable may start before the load
    await asyncio.sleep(0)
    await records.load()  # the framework's load at the start of the term
    assert mapping.writeback is not None
    async with asyncio.timeout(5):
        await mapping.writeback.wait_in_step()
    assert sorted(cmdb.held.values(), key=lambda a: a.task) == [
        addr(1),
        addr(2, "10.20.0.2", "h2"),
    ]
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)

    # The records loaded before the runnable starts: run() takes them at once.
    records.put(inst(4, ip="10.20.0.4"))  # between terms: dropped, caught up by replace
    running = asyncio.create_task(mapping.run())
    await asyncio.sleep(0)
    assert mapping.writeback is not None
    async with asyncio.timeout(5):
        await mapping.writeback.wait_in_step()
    assert addr(4, "10.20.0.4").task in cmdb.held
    assert mapping.terms == 2
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


async def test_an_outage_shows_in_the_gauges_and_loses_nothing() -> None:
    cmdb = MemoryCmdb()
    records = InstanceRecords(MemoryStore())
    await records.load()
    mapping = CmdbMapping(cmdb, records, settings=FAST)
    records.observe(mapping)
    cmdb.down = True
    running = asyncio.create_task(mapping.run())
    await asyncio.sleep(0)
    assert mapping.writeback is not None
    records.put(inst(1))
    records.put(inst(2, ip="10.20.0.2"))
    async with asyncio.timeout(5):
        while await mapping.writeback.next_pass():
            pass
    assert (mapping.pending(), mapping.reachable()) == (2, 0.0)
    assert mapping.outage_seconds() >= 0.0 and mapping.writeback.outage_since is not None
    cmdb.down = False
    async with asyncio.timeout(5):
        await mapping.writeback.wait_in_step()
    assert set(cmdb.held) == {addr(1).task, addr(2).task}
    assert (mapping.pending(), mapping.reachable(), mapping.outage_seconds()) == (0, 1.0, 0.0)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


async def test_an_outage_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.cmdb")
    cmdb = MemoryCmdb()
    records = InstanceRecords(MemoryStore())
    await records.load()
    mapping = CmdbMapping(cmdb, records, settings=FAST)
    records.observe(mapping)
    cmdb.down = True
    running = asyncio.create_task(mapping.run())
    await asyncio.sleep(0)
    assert mapping.writeback is not None
    records.put(inst(1))
    async with asyncio.timeout(5):
        while cmdb.calls < 5:  # several failed passes
            await mapping.writeback.next_pass()
    cmdb.down = False
    async with asyncio.timeout(5):
        await mapping.writeback.wait_in_step()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "waits until the CMDB answers" in warnings[0].getMessage()
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_register_adds_a_leader_runnable_and_the_gauges() -> None:
    manager = Manager(MemoryStore(), settings=ManagerSettings(metrics_addr=None))  # type: ignore[arg-type]
    records = InstanceRecords(MemoryStore())
    register(manager, records=records, cmdb=MemoryCmdb())
    assert [name for name, _ in manager.runnables] == [RUNNABLE]
    text = manager.metrics.render().decode()
    for gauge in ("pending", "reachable", "outage_seconds", "refused"):
        assert f"dcos_cmdb_writeback_{gauge} " in text


def test_without_observers_records_cost_nothing_extra() -> None:
    records: Any = InstanceRecords(MemoryStore())
    assert records._observers == []
