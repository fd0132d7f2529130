"""Leader election on an etcd lease and fenced writes, against a real etcd.

Two electors share one etcd; one of them reaches it through a proxy the test
can cut, which is how a leader that dies without resigning (SIGKILL, a
network partition) looks to etcd: its lease stops being refreshed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.etcd import EtcdSettings, EtcdStore, open_store
from adapters.etcd.leader import EtcdLeaderElector, FencedStore
from adapters.protocols import ObjectKey
from crds.errors import NotLeader
from localcluster.etcd import EtcdServer
from localcluster.tcpproxy import TcpProxy
from tests.adapters.kinds import WidgetStatus, registered, widget
from tests.adapters.proxy import CuttableProxy

TTL = 2
DEADLINE = 15.0


@pytest.fixture(autouse=True)
def _kinds() -> Iterator[None]:
    with registered():
        yield


@contextlib.asynccontextmanager
async def _store(endpoint: str, prefix: str) -> AsyncIterator[EtcdStore]:
    async with open_store(EtcdSettings(endpoints=(endpoint,), prefix=prefix, timeout=1.0)) as s:
        yield s


async def _campaign(elector: EtcdLeaderElector) -> float:
    """Seconds the campaign took."""
    started = time.monotonic()
    async with asyncio.timeout(DEADLINE):
        await elector.campaign()
    return time.monotonic() - started


async def test_one_of_two_wins_and_resigning_hands_over_at_once(
    store: EtcdStore, etcd_endpoint: str
) -> None:
    async with _store(etcd_endpoint, store.settings.prefix) as other:
        a = EtcdLeaderElector(store, identity="a", ttl=TTL)
        b = EtcdLeaderElector(other, identity="b", ttl=TTL)
        term_a = await a.campaign()
        assert a.term == term_a and await b.leader() == "a"
        b_campaign = asyncio.create_task(b.campaign())
        await asyncio.sleep(0.2)
        assert not b_campaign.done(), "only one leads"
        started = time.monotonic()
        await a.resign()
        async with asyncio.timeout(DEADLINE):
            term_b = await b_campaign
        assert time.monotonic() - started < TTL / 2, "resigning must not wait for the TTL"
        assert term_b.identity == "b" and term_b.revision > term_a.revision
        assert a.term is None and await a.leader() == "b"
        await b.resign()
        assert await a.leader() is None


async def test_a_leader_cut_off_loses_at_once_and_the_other_wins_within_the_ttl(
    store: EtcdStore, etcd_server: EtcdServer
) -> None:
    async with (
        CuttableProxy(etcd_server.client_port) as proxy,
        _store(proxy.endpoint, store.settings.prefix) as through_proxy,
    ):
        a = EtcdLeaderElector(through_proxy, identity="a", ttl=TTL)
        b = EtcdLeaderElector(store, identity="b", ttl=TTL)
        term_a = await a.campaign()
        hold_a = asyncio.create_task(a.hold(term_a))
        b_campaign = asyncio.create_task(b.campaign())
        await asyncio.sleep(TTL)  # several keepalives go through
        assert not hold_a.done() and not b_campaign.done()
        cut_at = time.monotonic()
        await proxy.cut()
        async with asyncio.timeout(DEADLINE):
            await hold_a
        assert a.term is None
        assert time.monotonic() - cut_at < TTL, "the cut-off leader must stop before its lease ends"
        async with asyncio.timeout(DEADLINE):
            term_b = await b_campaign
        took = time.monotonic() - cut_at
        assert took < TTL + 1.5, f"failover took {took:.1f}s"
        assert term_b.revision > term_a.revision
        await b.resign()


async def test_hold_returns_when_the_leader_key_is_deleted(store: EtcdStore) -> None:
    a = EtcdLeaderElector(store, identity="a", ttl=TTL)
    term = await a.campaign()
    hold = asyncio.create_task(a.hold(term))
    await store.delete_raw("leader/controller")
    async with asyncio.timeout(DEADLINE):
        await hold
    assert a.term is None
    await a.resign()


async def test_a_deposed_leaders_fenced_write_fails_and_changes_nothing(
    store: EtcdStore, etcd_endpoint: str
) -> None:
    async with _store(etcd_endpoint, store.settings.prefix) as other:
        a = EtcdLeaderElector(store, identity="a", ttl=TTL)
        b = EtcdLeaderElector(other, identity="b", ttl=TTL)
        fenced_a, fenced_b = FencedStore(store, a), FencedStore(other, b)
        with pytest.raises(NotLeader):
            await fenced_a.create(widget("w"))  # not leading yet: nothing is sent
        term_a = await a.campaign()
        created = await fenced_a.create(widget("w", size=1))
        # a never refreshes its lease (it is "paused"): the lease expires and b wins,
        # while a still believes it holds term_a.
        await _campaign(b)
        assert a.term == term_a
        before = await store.get(ObjectKey.of(created))
        with pytest.raises(NotLeader):
            await fenced_a.update(widget("w", size=9))
        with pytest.raises(NotLeader):
            await fenced_a.update_status(
                created.model_copy(update={"status": WidgetStatus(ready=9)})
            )
        with pytest.raises(NotLeader):
            await fenced_a.delete(ObjectKey.of(created))
        with pytest.raises(NotLeader):
            await fenced_a.create(widget("x"))
        after = await store.get(ObjectKey.of(created))
        assert after == before, "a deposed leader's writes change nothing"
        assert (await store.list("Widget")).items == [after]
        # the new leader writes through its own fence
        updated = await fenced_b.update(widget("w", size=2))
        assert updated.spec.size == 2
        await fenced_b.close()  # shares the connection: `other` stays usable
        assert (await other.get(ObjectKey.of(created))).spec.size == 2
        await b.resign()


async def test_fenced_conflicts_are_still_conflicts(store: EtcdStore) -> None:
    from crds.errors import AlreadyExists

    a = EtcdLeaderElector(store, identity="a", ttl=TTL)
    fenced = FencedStore(store, a)
    await a.campaign()
    await fenced.create(widget("w"))
    with pytest.raises(AlreadyExists):
        await fenced.create(widget("w"))
    await a.resign()


def test_ttl_must_be_positive(store: EtcdStore) -> None:
    with pytest.raises(ValueError):
        EtcdLeaderElector(store, identity="a", ttl=0)


async def test_a_leader_partitioned_from_etcd_stops_within_its_lease_not_a_timeout(
    store: EtcdStore, etcd_server: EtcdServer
) -> None:
    """A partition (nothing crosses, no connection closes) leaves every request hanging
    until the client's 5 s timeout; the leader must stop before its lease can have expired."""
    async with TcpProxy(f"127.0.0.1:{etcd_server.client_port}") as proxy:
        settings = EtcdSettings(
            endpoints=(proxy.endpoint,), prefix=store.settings.prefix, timeout=5.0
        )
        async with open_store(settings) as s:
            a = EtcdLeaderElector(s, identity="a", ttl=TTL)
            term = await a.campaign()
            hold = asyncio.create_task(a.hold(term))
            await asyncio.sleep(TTL / 2)  # a keepalive or two go through
            assert not hold.done()
            cut_at = time.monotonic()
            proxy.cut()
            async with asyncio.timeout(DEADLINE):
                await hold
            assert a.term is None
            assert time.monotonic() - cut_at <= TTL + 0.2, "it led past its lease"
            proxy.heal()
            await a.resign()
