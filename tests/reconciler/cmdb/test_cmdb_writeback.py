"""The write-back queue's rules, against an in-memory CMDB: coalescing, refusals, listing."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address

import pytest

from adapters.protocols import CmdbAddress
from crds.errors import CmdbRejected, CmdbUnavailable
from reconciler.cmdb import Put, Remove, WriteBack, WriteBackSettings, changes
from reconciler.runtime.clock import ManualClock


def addr(task: str, host: str = "h1", ip: str = "10.0.0.1") -> CmdbAddress:
    return CmdbAddress(task, IPv4Address(ip), host, "shop/web")


class MemoryCmdb:
    """Container addresses in a dict; records writes; can be down or refuse tasks."""

    def __init__(self, held: dict[str, CmdbAddress] | None = None) -> None:
        self.held = dict(held or {})
        self.writes: list[tuple[str, str]] = []
        self.down = False
        self.refuse: set[str] = set()

    def _check(self, task: str | None = None) -> None:
        if self.down:
            raise CmdbUnavailable("CMDB http://cmdb unreachable")
        if task in self.refuse:
            raise CmdbRejected(f"CMDB rejected ip-address of task {task}", status=400)

    async def list_addresses(self, *, host: str | None = None) -> list[CmdbAddress]:
        self._check()
        return sorted(self.held.values(), key=lambda a: a.task)

    async def put_address(self, address: CmdbAddress) -> None:
        self._check(address.task)
        self.writes.append(("put", address.task))
        self.held[address.task] = address

    async def delete_address(self, task: str) -> None:
        self._check(task)
        self.writes.append(("delete", task))
        self.held.pop(task, None)


@pytest.mark.parametrize(
    ("desired", "written", "expected"),
    [
        pytest.param({"a": addr("a")}, {}, [Put(addr("a"))], id="new"),
        pytest.param({}, {"a": addr("a")}, [Remove("a")], id="gone"),
        pytest.param({"a": addr("a")}, {"a": addr("a")}, [], id="same"),
        pytest.param({"a": addr("a", "h2")}, {"a": addr("a")}, [Put(addr("a", "h2"))], id="moved"),
    ],
)
def test_changes_bring_written_to_desired(desired, written, expected):
    assert changes(desired, written, {"a"}) == expected


async def test_repeated_changes_of_one_task_are_one_write():
    cmdb = MemoryCmdb()
    queue = WriteBack(cmdb)
    for host in ("h1", "h2", "h3"):
        queue.put(addr("web.1", host))
    queue.put(addr("web.2"))
    queue.remove("web.2")
    assert await queue.sync_once()
    assert cmdb.writes == [("put", "web.1")]
    assert cmdb.held == {"web.1": addr("web.1", "h3")}
    assert queue.in_step


async def test_first_pass_removes_addresses_of_tasks_no_longer_desired():
    cmdb = MemoryCmdb({"old.1": addr("old.1"), "web.1": addr("web.1")})
    queue = WriteBack(cmdb)
    queue.replace({"web.1": addr("web.1")})
    assert await queue.sync_once()
    assert cmdb.writes == [("delete", "old.1")]


async def test_an_outage_keeps_every_change_until_the_cmdb_answers():
    cmdb = MemoryCmdb()
    queue = WriteBack(cmdb)
    assert await queue.sync_once()
    cmdb.down = True
    queue.put(addr("web.1"))
    queue.put(addr("web.2"))
    assert not await queue.sync_once()
    assert isinstance(queue.last_error, CmdbUnavailable)
    assert queue.pending == [Put(addr("web.1")), Put(addr("web.2"))]
    cmdb.down = False
    assert await queue.sync_once()
    assert set(cmdb.held) == {"web.1", "web.2"} and queue.last_error is None


async def test_a_refused_task_stays_pending_and_does_not_block_others():
    cmdb = MemoryCmdb()
    cmdb.refuse = {"bad.1"}
    queue = WriteBack(cmdb)
    queue.put(addr("bad.1"))
    queue.put(addr("web.1"))
    assert not await queue.sync_once()
    assert set(cmdb.held) == {"web.1"}
    assert queue.pending == [Put(addr("bad.1"))]
    assert "bad.1" in queue.failures["bad.1"]
    cmdb.refuse.clear()
    assert await queue.sync_once()
    assert queue.failures == {} and queue.in_step


async def test_run_backs_off_while_the_cmdb_is_down_and_catches_up():
    cmdb = MemoryCmdb()
    cmdb.down = True
    clock = ManualClock()
    queue = WriteBack(cmdb, settings=WriteBackSettings(backoff=1.0, backoff_max=3.0), clock=clock)
    queue.put(addr("web.1"))
    async with asyncio.timeout(10), asyncio.TaskGroup() as group:
        running = group.create_task(queue.run(), name="cmdb:writeback")
        delays = []
        for attempt in range(4):
            await clock.wait_for_timers()  # a pass failed and the queue sleeps
            assert cmdb.held == {} and queue.pending == [Put(addr("web.1"))]
            delays.append(clock._timers[0][0] - clock.now())
            cmdb.down = attempt < 3  # the CMDB answers again before the fifth pass
            clock.advance(delays[-1])
        assert delays == [1.0, 2.0, 3.0, 3.0]
        await queue.wait_in_step()
        assert cmdb.held == {"web.1": addr("web.1")}
        running.cancel()
