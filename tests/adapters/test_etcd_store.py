"""EtcdStore reads and writes, against a real etcd."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.etcd import EtcdSettings, EtcdStore, open_store
from adapters.etcd.writes import Writer
from adapters.protocols import Create, Delete, ObjectKey, Store, Update
from crds.errors import AlreadyExists, ConflictError, NotFound, SpecError, Unavailable
from crds.events import Event, InvolvedObject
from localcluster.etcd import EtcdServer, free_port
from tests.adapters.kinds import Widget, WidgetStatus, gadget, registered, widget

SHOP_A = ObjectKey("Widget", "shop", "a")


@pytest.fixture(autouse=True)
def _kinds() -> Iterator[None]:
    with registered():
        yield


async def test_etcd_store_is_a_store(store: EtcdStore) -> None:
    as_protocol: Store = store  # checked by mypy
    assert as_protocol is store


async def test_create_get_round_trip_sets_store_fields(store: EtcdStore) -> None:
    created = await store.create(widget("a", size=3, labels={"app": "web"}))
    meta = created.metadata
    assert meta.uid and meta.generation == 1 and meta.resource_version
    assert meta.creation_timestamp is not None and meta.creation_timestamp.tzinfo is not None
    assert await store.get(SHOP_A) == created
    cluster = await store.create(gadget("g"))
    assert await store.get(ObjectKey("Gadget", None, "g")) == cluster


async def test_create_ignores_store_fields_sent_by_the_caller(store: EtcdStore) -> None:
    sent = widget("a")
    sent = sent.model_copy(
        update={"metadata": sent.metadata.model_copy(update={"uid": "mine", "generation": 7})}
    )
    created = await store.create(sent)
    assert created.metadata.uid != "mine" and created.metadata.generation == 1


async def test_create_of_a_taken_name_is_already_exists(store: EtcdStore) -> None:
    await store.create(widget("a"))
    with pytest.raises(AlreadyExists, match="Widget/shop/a"):
        await store.create(widget("a", size=2))
    await store.create(widget("a", domain="other"))  # another domain, another object


async def test_get_update_delete_of_a_missing_object_is_not_found(store: EtcdStore) -> None:
    with pytest.raises(NotFound, match="Widget/shop/a"):
        await store.get(SHOP_A)
    with pytest.raises(NotFound):
        await store.update(widget("a"))
    with pytest.raises(NotFound):
        await store.delete(SHOP_A)
    with pytest.raises(NotFound):
        await store.update_status(widget("a"))


async def test_two_writers_with_the_same_resource_version_one_wins(store: EtcdStore) -> None:
    base = await store.create(widget("a"))
    first = base.model_copy(update={"spec": base.spec.model_copy(update={"size": 2})})
    second = base.model_copy(update={"spec": base.spec.model_copy(update={"size": 3})})
    results = await asyncio.gather(
        store.update(first), store.update(second), return_exceptions=True
    )
    assert sum(isinstance(r, ConflictError) for r in results) == 1
    assert any("Widget/shop/a" in str(r) for r in results if isinstance(r, ConflictError))
    winner = next(r for r in results if isinstance(r, Widget))
    assert await store.get(SHOP_A) == winner


async def test_update_without_resource_version_is_last_writer_wins(store: EtcdStore) -> None:
    await store.create(widget("a"))
    updates = [store.update(widget("a", size=n)) for n in range(2, 8)]
    await asyncio.gather(*updates)
    assert (await store.get(SHOP_A)).metadata.generation == 7


async def test_generation_grows_only_when_spec_changes(store: EtcdStore) -> None:
    created = await store.create(widget("a"))
    relabeled = await store.update(widget("a", labels={"tier": "web"}))
    assert relabeled.metadata.generation == 1
    assert relabeled.metadata.resource_version != created.metadata.resource_version
    resized = await store.update(widget("a", size=9, labels={"tier": "web"}))
    assert resized.metadata.generation == 2
    assert resized.metadata.uid == created.metadata.uid
    assert resized.metadata.creation_timestamp == created.metadata.creation_timestamp
    unchanged = await store.update(widget("a", size=9, labels={"tier": "web"}))
    assert unchanged == resized, "an update that changes nothing writes nothing"


async def test_status_and_spec_live_under_separate_keys(store: EtcdStore) -> None:
    created = await store.create(widget("a"))
    with_status = await store.update_status(
        created.model_copy(update={"status": WidgetStatus(ready=2, observed_generation=1)})
    )
    assert with_status.status.ready == 2
    assert with_status.metadata.resource_version == created.metadata.resource_version
    # A spec update carrying a stale status does not clobber the stored one...
    updated = await store.update(widget("a", size=5))
    assert updated.status.ready == 2 and updated.spec.size == 5
    # ...and a status write carrying a stale spec does not clobber the spec.
    await store.update_status(with_status.model_copy(update={"status": WidgetStatus(ready=4)}))
    final = await store.get(SHOP_A)
    assert final.spec.size == 5 and final.status.ready == 4
    assert final.metadata.resource_version == updated.metadata.resource_version


async def test_delete_with_finalizers_waits_for_them(store: EtcdStore) -> None:
    await store.create(widget("a", finalizers=["dcos/cleanup", "dcos/ipam"]))
    held = await store.delete(SHOP_A)
    assert held is not None and held.metadata.deletion_timestamp is not None
    assert held.metadata.generation == 1
    assert await store.get(SHOP_A) == held
    assert await store.delete(SHOP_A) == held, "deleting again changes nothing"
    one_left = await store.update(widget("a", finalizers=["dcos/ipam"]))
    assert one_left.metadata.deletion_timestamp == held.metadata.deletion_timestamp
    await store.update_status(one_left.model_copy(update={"status": WidgetStatus(ready=1)}))
    gone = await store.update(widget("a"))
    assert gone.metadata.finalizers == []
    with pytest.raises(NotFound):
        await store.get(SHOP_A)
    assert (await store.list("Widget")).items == [], "status went with the spec"


async def test_delete_removes_spec_and_status(store: EtcdStore) -> None:
    created = await store.create(widget("a"))
    await store.update_status(created.model_copy(update={"status": WidgetStatus(ready=1)}))
    assert await store.delete(SHOP_A) is None
    recreated = await store.create(widget("a"))
    assert recreated.status.ready == 0, "no status survives from the old object"
    assert recreated.metadata.uid != created.metadata.uid


async def test_a_status_written_while_a_delete_plans_goes_with_the_object(
    store: EtcdStore,
) -> None:
    created = await store.create(widget("a"))
    reported = created.model_copy(update={"status": WidgetStatus(ready=1)})

    class Racing(Writer):
        """Writes the status right after the delete read that there was none."""

        raced = False

        async def _read(self, keys: list[ObjectKey]) -> dict[ObjectKey, Any]:
            current = await super()._read(keys)
            if not self.raced:
                self.raced = True
                await store.update_status(reported)
            return current

    writer = Racing(store.client, store.keys, max_txn_ops=128)
    assert await writer.commit([Delete(SHOP_A)]) == [None]
    assert writer.raced
    for key in (store.keys.spec(SHOP_A), store.keys.status(SHOP_A)):
        kvs, _, _ = await store.client.range(key)
        assert kvs == [], f"{key!r} survived the delete"


async def test_delete_with_stale_resource_version_is_a_conflict(store: EtcdStore) -> None:
    created = await store.create(widget("a"))
    await store.update(widget("a", size=2))
    with pytest.raises(ConflictError, match="stale"):
        await store.delete(SHOP_A, resource_version=created.metadata.resource_version)
    current = await store.get(SHOP_A)
    assert await store.delete(SHOP_A, resource_version=current.metadata.resource_version) is None


async def test_commit_returns_results_in_order(store: EtcdStore) -> None:
    await store.create(widget("old"))
    await store.create(widget("gone"))
    new, old, gone = await store.commit(
        [
            Create(widget("new")),
            Update(widget("old", size=4)),
            Delete(ObjectKey("Widget", "shop", "gone")),
        ]
    )
    assert new is not None and new.metadata.name == "new"
    assert old is not None and old.metadata.generation == 2
    assert gone is None
    assert new.metadata.resource_version == old.metadata.resource_version, "one transaction"


@pytest.mark.parametrize(
    "ops",
    [
        pytest.param([Create(widget("a")), Update(widget("a"))], id="same-object-twice"),
        pytest.param(
            [Create(widget("a")), Delete(ObjectKey("Nope", None, "x"))], id="unknown-kind"
        ),
        pytest.param([Create(widget("a")), Delete(ObjectKey("Widget", None, "x"))], id="bad-scope"),
    ],
)
async def test_invalid_commit_writes_nothing(store: EtcdStore, ops: list[Create]) -> None:
    before = await store.revision()
    with pytest.raises(SpecError):
        await store.commit(ops)
    assert await store.revision() == before


async def test_commit_conflict_names_the_object_and_rolls_back_its_transaction(
    store: EtcdStore,
) -> None:
    await store.create(widget("taken"))
    with pytest.raises(AlreadyExists, match="Widget/shop/taken"):
        await store.commit([Create(widget("fresh")), Create(widget("taken"))])
    with pytest.raises(NotFound):
        await store.get(ObjectKey("Widget", "shop", "fresh"))


async def test_commit_splits_into_transactions_within_max_txn_ops() -> None:
    async with (
        EtcdServer(extra_args=["--max-txn-ops=4"]) as server,
        open_store(EtcdSettings(endpoints=(server.endpoint,), max_txn_ops=4)) as small,
    ):
        created = await small.commit([Create(widget(f"w{i}")) for i in range(10)])
        revisions = {o.metadata.resource_version for o in created if o is not None}
        assert len(revisions) == 3, "10 creates in transactions of at most 4 puts"
        updated = await small.commit([Update(widget(f"w{i}", size=2)) for i in range(10)])
        assert len({o.metadata.resource_version for o in updated if o is not None}) == 5
        deleted = await small.commit(
            [Delete(ObjectKey("Widget", "shop", f"w{i}")) for i in range(10)]
        )
        assert deleted == [None] * 10
        assert (await small.list()).items == []


async def test_list_filters_by_kind_domain_and_selector_and_sorts(store: EtcdStore) -> None:
    await store.create(widget("b", domain="shop", labels={"app": "web", "tier": "front"}))
    await store.create(widget("a", domain="shop", labels={"app": "db"}))
    await store.create(widget("c", domain="search", labels={"app": "web"}))
    await store.create(gadget("g", labels={"app": "web"}))
    everything = await store.list()
    assert [str(ObjectKey.of(o)) for o in everything.items] == [
        "Gadget/g",
        "Widget/search/c",
        "Widget/shop/a",
        "Widget/shop/b",
    ]
    assert everything.revision == await store.revision()
    assert [o.metadata.name for o in (await store.list("Widget", domain="shop")).items] == [
        "a",
        "b",
    ]
    assert [o.metadata.name for o in (await store.list(domain="search")).items] == ["c"]
    webs = await store.list(selector="app=web,tier notin (back)")
    assert [o.metadata.name for o in webs.items] == ["g", "c", "b"]
    assert [o.metadata.name for o in (await store.list("Widget", selector="!tier")).items] == [
        "c",
        "a",
    ]
    with pytest.raises(SpecError, match="selector"):
        await store.list(selector="app in ()")


async def test_list_wire_gives_the_same_objects_as_list_without_models(store: EtcdStore) -> None:
    await store.create(widget("b", domain="shop", labels={"app": "web"}))
    created = await store.create(widget("a", domain="shop", labels={"app": "db"}))
    await store.update_status(created.model_copy(update={"status": WidgetStatus(ready=2)}))
    await store.create(gadget("g", labels={"app": "web"}))
    listing = await store.list("Widget", domain="shop")
    wire, revision = await store.list_wire("Widget", domain="shop")
    assert revision == listing.revision
    assert wire == [o.to_wire() for o in listing.items]
    webs, _ = await store.list_wire(selector="app=web")
    assert [(w["kind"], w["metadata"]["name"]) for w in webs] == [("Gadget", "g"), ("Widget", "b")]


async def test_list_of_10000_objects_returns_them_all(store: EtcdStore) -> None:
    objects = [widget(f"w{i:05d}", labels={"app": "web"}) for i in range(10_000)]
    for start in range(0, len(objects), 1000):
        await store.commit([Create(o) for o in objects[start : start + 1000]])
    started = time.perf_counter()
    listed = await store.list("Widget")
    elapsed = time.perf_counter() - started
    print(f"listed {len(listed.items)} objects in {elapsed * 1000:.0f} ms")  # make bench times it
    assert len(listed.items) == 10_000


async def test_raw_values_live_beside_objects(store: EtcdStore) -> None:
    assert await store.get_raw("applysets/web") is None
    await store.put_raw("applysets/web", b"App/shop/a")
    assert await store.get_raw("applysets/web") == b"App/shop/a"
    await store.delete_raw("applysets/web")
    assert await store.get_raw("applysets/web") is None
    with pytest.raises(ValueError, match="spec"):
        await store.put_raw("spec/Widget/shop/a", b"{}")


def _event(reason: str, name: str = "a", at: int = 0) -> Event:
    when = datetime.fromtimestamp(1_800_000_000 + at, UTC)
    return Event(
        involved_object=InvolvedObject(kind="Widget", name=name, domain="shop"),
        reason=reason,
        message=f"{reason} {name}",
        first_timestamp=when,
        last_timestamp=when,
    )


async def test_events_repeat_counts_and_filter_by_object(store: EtcdStore) -> None:
    await store.record_event(_event("Created", at=0))
    await store.record_event(_event("Scaled", at=1))
    await store.record_event(_event("Created", name="b", at=2))
    await store.record_event(_event("Scaled", at=3))
    about_a = await store.events(SHOP_A)
    assert [(e.reason, e.count) for e in about_a] == [("Created", 1), ("Scaled", 2)]
    scaled = about_a[1]
    assert scaled.first_timestamp < scaled.last_timestamp
    assert [e.involved_object.name for e in await store.events()] == ["a", "b", "a"]


async def test_record_events_in_batches_counts_repeats_like_one_by_one(store: EtcdStore) -> None:
    await store.record_event(_event("Created", at=0))
    many = [_event("Scaled", name=f"w{i:03d}", at=1) for i in range(300)]
    await store.record_events([_event("Created", at=2), *many, *many[:10], many[0]])
    assert [(e.reason, e.count) for e in await store.events(SHOP_A)] == [("Created", 2)]
    everything = await store.events()
    assert len(everything) == 301
    counts = sorted({e.count for e in everything if e.reason == "Scaled"})
    assert counts == [1, 2, 3]


async def test_events_are_written_on_a_lease(store: EtcdStore) -> None:
    await store.record_event(_event("Created"))
    kvs, _, _ = await store.client.range(store.keys.event("Widget", "shop", "a", "Created"))
    assert kvs, "the event key exists"
    lease = await store.client._client.get_lease_info(await store._events._lease_id())
    assert 0 < lease.TTL <= store.settings.event_ttl * 11 // 10


async def test_unavailable_names_the_endpoint() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    settings = EtcdSettings(endpoints=(endpoint,), timeout=2.0)
    with pytest.raises(Unavailable) as caught:
        async with open_store(settings):
            pass
    message = str(caught.value)
    assert endpoint in message and "dcosctl up" in message


async def test_open_store_uses_the_first_endpoint_that_answers(etcd_endpoint: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with open_store(EtcdSettings(endpoints=(dead, etcd_endpoint), timeout=2.0)) as opened:
        assert opened.endpoint == etcd_endpoint


async def test_calls_after_etcd_stops_raise_unavailable(private_etcd: EtcdServer) -> None:
    async with open_store(EtcdSettings(endpoints=(private_etcd.endpoint,), timeout=2.0)) as s:
        await s.create(widget("a"))
        private_etcd.stop()
        with pytest.raises(Unavailable, match=private_etcd.endpoint):
            await s.get(SHOP_A)
        private_etcd.start()
        assert (await s.get(SHOP_A)).metadata.name == "a"
