"""InstanceRecords on a real etcd: batched write-behind, reload, rollout state, framework id."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime

import pytest

from adapters.etcd import EtcdSettings, EtcdStore, open_store
from crds.errors import Unavailable
from reconciler.apps import Instance, InstanceState, RolloutState
from reconciler.apps.records import InstanceRecords

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.fixture
async def small_txn_store(etcd_endpoint: str, etcd_prefix: str) -> AsyncIterator[EtcdStore]:
    settings = EtcdSettings(endpoints=(etcd_endpoint,), prefix=etcd_prefix, max_txn_ops=4)
    async with open_store(settings) as opened:
        yield opened


def inst(n: int, app: str = "web") -> Instance:
    return Instance(
        instance_id=f"shop.{app}.0123abcd.{n:08x}",
        domain="shop",
        app=app,
        version="0123abcd0123abcd",
        launched_at=T0,
    )


async def test_flush_writes_in_chunks_and_load_reads_them_back(small_txn_store: EtcdStore) -> None:
    records = InstanceRecords(small_txn_store)
    changed: list[tuple[str, str]] = []
    records.add_listener(lambda d, a: changed.append((d, a)))
    for n in range(10):
        records.put(inst(n))
    records.put(inst(99, app="api"))
    assert records.dirty and len(changed) == 11
    await records.flush()
    assert not records.dirty and records.flushes == 1
    assert len(await small_txn_store.list_raw("instances/shop/web/")) == 10
    assert len(await small_txn_store.list_raw("instances/")) == 11
    records.remove([inst(n).instance_id for n in range(3)])
    records.put(inst(5).model_copy(update={"state": InstanceState.RUNNING}))
    await records.flush()
    again = InstanceRecords(small_txn_store)
    await again.load()
    assert again.loaded and len(again.of_app("shop", "web")) == 7
    assert again.apps() == {("shop", "web"), ("shop", "api")}
    got = again.get(inst(5).instance_id)
    assert got is not None and got.state is InstanceState.RUNNING


class _Failing:
    def __init__(self, inner: EtcdStore) -> None:
        self.inner = inner
        self.fail = True

    async def get_raw(self, path: str) -> bytes | None:
        return await self.inner.get_raw(path)

    async def list_raw(self, prefix: str) -> list[tuple[str, bytes]]:
        return await self.inner.list_raw(prefix)

    async def commit_raw(self, puts: Mapping[str, bytes], deletes: Sequence[str] = ()) -> None:
        if self.fail:
            raise Unavailable("etcd: injected")
        await self.inner.commit_raw(puts, deletes)


async def test_a_failed_flush_keeps_its_changes_for_the_next(store: EtcdStore) -> None:
    flaky = _Failing(store)
    records = InstanceRecords(flaky)
    records.put(inst(1))
    with pytest.raises(Unavailable):
        await records.flush()
    assert records.dirty and await store.list_raw("instances/") == []
    flaky.fail = False
    await records.flush()
    assert not records.dirty and len(await store.list_raw("instances/")) == 1


async def test_rollout_state_and_framework_id_round_trip(store: EtcdStore) -> None:
    records = InstanceRecords(store)
    assert await records.rollout("shop", "web") is None
    state = RolloutState(revision=3, target_version="0123abcd0123abcd")
    await records.save_rollout("shop", "web", state)
    fresh = InstanceRecords(store)
    assert await fresh.rollout("shop", "web") == state
    await fresh.delete_rollout("shop", "web")
    assert await store.get_raw("rollouts/shop/web") is None
    assert await records.framework_id() is None
    await records.save_framework_id("fw-0001")
    assert await fresh.framework_id() == "fw-0001"
