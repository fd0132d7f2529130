"""InstanceRecords: batched write-behind, reload, rollout state, framework id (on a real etcd)
and the per-app index (on an in-memory store)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.etcd import EtcdSettings, EtcdStore, open_store
from crds.errors import Unavailable
from reconciler.apps import Instance, InstanceState, RolloutPhase, RolloutState
from reconciler.apps.records import FLUSH_PART, InstanceRecords

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


# ----------------------------------------------------------- the per-app index


class _MemoryStore:
    """A RawStore held in a dict, for the index tests (no etcd needed)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def get_raw(self, path: str) -> bytes | None:
        return self.data.get(path)

    async def list_raw(self, prefix: str) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.data.items() if k.startswith(prefix)]

    async def commit_raw(self, puts: Mapping[str, bytes], deletes: Sequence[str] = ()) -> None:
        self.data.update(puts)
        for path in deletes:
            self.data.pop(path, None)


def _assert_index_matches_scan(records: InstanceRecords) -> None:
    everything = records.all()
    apps = {(i.domain, i.app) for i in everything}
    assert records.apps() == apps
    for domain, app in apps | {("shop", "absent")}:
        scanned = [i for i in everything if i.domain == domain and i.app == app]
        assert records.of_app(domain, app) == scanned


RUNNING = InstanceState.RUNNING
Op = tuple[str, list[Instance]]

INDEX_CASES: list[tuple[str, list[Op]]] = [
    ("put into two apps", [("put", [inst(1), inst(2), inst(3, app="api")])]),
    (
        "replace keeps the position",
        [
            ("put", [inst(1), inst(2), inst(3)]),
            ("put", [inst(2).model_copy(update={"state": RUNNING})]),
        ],
    ),
    (
        "remove some, then the rest of an app",
        [
            ("put", [inst(1), inst(2), inst(3, app="api")]),
            ("remove", [inst(1)]),
            ("remove", [inst(2)]),
        ],
    ),
    ("remove unknown ids", [("put", [inst(1)]), ("remove", [inst(7), inst(8, app="api")])]),
    (
        "remove then put again moves to the end",
        [("put", [inst(1), inst(2)]), ("remove", [inst(1)]), ("put", [inst(1)])],
    ),
    (
        "load replaces memory",
        [("put", [inst(1), inst(2, app="api")]), ("flush", []), ("put", [inst(3)]), ("load", [])],
    ),
    (
        "load after removes and puts",
        [
            ("put", [inst(n) for n in range(5)] + [inst(9, app="api")]),
            ("flush", []),
            ("remove", [inst(0), inst(9, app="api")]),
            ("put", [inst(1).model_copy(update={"state": RUNNING}), inst(6, app="db")]),
            ("flush", []),
            ("load", []),
        ],
    ),
]


@pytest.mark.parametrize("ops", [ops for _, ops in INDEX_CASES], ids=[n for n, _ in INDEX_CASES])
async def test_the_per_app_index_follows_put_remove_and_load(ops: list[Op]) -> None:
    records = InstanceRecords(_MemoryStore())
    for op, instances in ops:
        if op == "put":
            for one in instances:
                records.put(one)
        elif op == "remove":
            records.remove([i.instance_id for i in instances])
        elif op == "flush":
            await records.flush()
        else:
            await records.load()
        _assert_index_matches_scan(records)


async def test_load_indexes_what_etcd_holds() -> None:
    store = _MemoryStore()
    writer = InstanceRecords(store)
    for n in range(6):
        writer.put(inst(n, app="web" if n % 2 else "api"))
    await writer.flush()
    reader = InstanceRecords(store)
    reader.put(inst(99, app="gone"))  # replaced by the load
    await reader.load()
    _assert_index_matches_scan(reader)
    assert reader.apps() == {("shop", "web"), ("shop", "api")}
    assert len(reader.of_app("shop", "web")) == 3 and reader.of_app("shop", "gone") == []


class _NoScan(dict[str, Instance]):
    """A record map that refuses to be walked: of_app must not scan it."""

    def values(self) -> Any:
        raise AssertionError("scanned every record")

    def items(self) -> Any:
        raise AssertionError("scanned every record")

    def __iter__(self) -> Any:
        raise AssertionError("scanned every record")


def test_of_app_reads_only_the_apps_records_among_ten_thousand() -> None:
    records = InstanceRecords(_MemoryStore())
    for n in range(10_000):
        records.put(inst(n, app=f"app{n % 1000}"))
    records._records = _NoScan(records._records)
    got = records.of_app("shop", "app7")
    assert [i.instance_id for i in got] == [
        inst(n, app="app7").instance_id for n in range(7, 10_000, 1000)
    ]


async def test_a_large_flush_is_written_in_parts_and_all_of_it_lands(store: EtcdStore) -> None:
    records = InstanceRecords(store)
    await records.load()
    for n in range(FLUSH_PART * 3 + 5):
        records.put(inst(n))
    await records.flush()
    assert not records.dirty and records.flushes == 1
    assert len(await store.list_raw("instances/")) == FLUSH_PART * 3 + 5
    records.remove(i.instance_id for i in records.all()[: FLUSH_PART + 1])
    records.put(inst(0).model_copy(update={"state": InstanceState.RUNNING}))
    await records.flush()
    stored = await store.list_raw("instances/")
    assert len(stored) == FLUSH_PART * 2 + 5  # inst(0) was removed, then put again
    assert sorted(p for p, _ in stored) == sorted(
        f"instances/{i.domain}/{i.app}/{i.instance_id}" for i in records.all()
    )


async def test_a_loaded_term_reads_rollout_states_from_memory(store: EtcdStore) -> None:
    state = RolloutState(revision=2, target_version="0123abcd0123abcd")
    await InstanceRecords(store).save_rollout("shop", "web", state)
    reads: list[str] = []

    class Counting(_MemoryStore):
        async def get_raw(self, path: str) -> bytes | None:
            reads.append(path)
            return await store.get_raw(path)

        async def list_raw(self, prefix: str) -> list[tuple[str, bytes]]:
            return await store.list_raw(prefix)

    records = InstanceRecords(Counting())
    await records.load()
    assert await records.rollout("shop", "web") == state
    assert await records.rollout("shop", "new") is None
    assert reads == []


async def test_progress_alone_stays_in_memory_and_a_new_term_inherits_the_written_state(
    store: EtcdStore,
) -> None:
    records = InstanceRecords(store)
    await records.load()
    started = RolloutState(
        revision=1, target_version="0123abcd0123abcd", started_at=T0, last_progress_at=T0
    )
    await records.save_rollout("shop", "web", started)
    assert not records.inherited("shop", "web")
    later = T0.replace(minute=5)
    moved = started.model_copy(update={"progress_mark": 4, "last_progress_at": later})
    await records.save_rollout("shop", "web", moved)
    assert await records.rollout("shop", "web") == moved  # the controller sees its progress
    assert RolloutState.from_json(await store.get_raw("rollouts/shop/web") or b"") == started
    blocked = moved.model_copy(update={"blocked": True})  # any other change is written
    await records.save_rollout("shop", "web", blocked)
    assert RolloutState.from_json(await store.get_raw("rollouts/shop/web") or b"") == blocked
    done = blocked.model_copy(update={"progress_mark": 10, "phase": RolloutPhase.COMPLETE})
    await records.save_rollout("shop", "web", done)
    assert RolloutState.from_json(await store.get_raw("rollouts/shop/web") or b"") == done

    fresh = InstanceRecords(store)
    await fresh.load()
    assert fresh.inherited("shop", "web")
    assert await fresh.rollout("shop", "web") == done
    await fresh.save_rollout("shop", "web", done)
    assert not fresh.inherited("shop", "web")
