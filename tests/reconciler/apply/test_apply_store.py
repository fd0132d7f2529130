"""apply, diff and delete against a real etcd store (the ``store`` fixture)."""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import pytest

from adapters.protocols import ObjectKey, Store, WriteOp
from crds.errors import ConflictError, NotFound, SpecError
from crds.meta import Resource
from reconciler.apply import (
    APPLYSET,
    LAST_APPLIED,
    Action,
    ApplyResult,
    Manifest,
    apply_manifests,
    delete_objects,
    diff_manifests,
    load_manifests,
)

WEB = ObjectKey("Widget", "checkout", "web")


def manifests(text: str) -> list[Manifest]:
    return load_manifests(["-"], stdin=io.StringIO(text))


def widget(spec: str, *, name: str = "web", meta: str = "") -> str:
    return (
        "apiVersion: dcos/v1\nkind: Widget\n"
        f"metadata: {{name: {name}, domain: checkout{meta}}}\n"
        f"spec: {{{spec}}}\n"
    )


def gadget(name: str, size: int = 1, meta: str = "") -> str:
    return (
        f"apiVersion: dcos/v1\nkind: Gadget\nmetadata: {{name: {name}{meta}}}\n"
        f"spec: {{size: {size}}}\n"
    )


def actions(results: Sequence[ApplyResult]) -> list[tuple[str, Action]]:
    return [(str(r.key), r.action) for r in results]


async def scale(store: Store, key: ObjectKey, **spec: Any) -> Resource:
    """Someone else changes the object (a controller, ``dcosctl scale``)."""
    live = await store.get(key)
    return await store.update(live.model_copy(update={"spec": live.spec.model_copy(update=spec)}))


async def test_create_then_unchanged_then_configured(store: Store) -> None:
    first = await apply_manifests(store, manifests(widget("image: 'web:1'")))
    assert actions(first) == [("Widget/checkout/web", Action.CREATED)]
    created = first[0].obj
    assert created is not None and created.metadata.uid and created.metadata.resource_version
    assert json.loads(created.metadata.annotations[LAST_APPLIED])["spec"] == {"image": "web:1"}

    before = await store.revision()
    again = await apply_manifests(store, manifests(widget("image: 'web:1'")))
    assert actions(again) == [("Widget/checkout/web", Action.UNCHANGED)]
    assert await store.revision() == before

    changed = await apply_manifests(store, manifests(widget("image: 'web:2'")))
    assert actions(changed) == [("Widget/checkout/web", Action.CONFIGURED)]
    assert (await store.get(WEB)).spec.image == "web:2"
    reasons = [e.reason for e in await store.events(WEB)]
    assert "Created" in reasons and "Configured" in reasons


async def test_fields_set_by_others_survive_and_removed_fields_go(store: Store) -> None:
    await apply_manifests(store, manifests(widget("image: 'web:1', command: run, cpus: 0.5")))
    await scale(store, WEB, instances=7)

    results = await apply_manifests(store, manifests(widget("image: 'web:2', cpus: 0.5")))

    assert actions(results) == [("Widget/checkout/web", Action.CONFIGURED)]
    live = await store.get(WEB)
    assert live.spec.instances == 7  # set by someone else, not in the file
    assert live.spec.command is None  # removed from the file
    assert live.spec.image == "web:2"


async def test_dry_run_writes_nothing(store: Store) -> None:
    await apply_manifests(store, manifests(gadget("box")))
    before = await store.revision()
    text = gadget("box", size=2) + "---\n" + gadget("crate")
    results = await apply_manifests(store, manifests(text), dry_run=True)
    assert actions(results) == [("Gadget/box", Action.CONFIGURED), ("Gadget/crate", Action.CREATED)]
    assert results[0].obj is not None and results[0].obj.spec.size == 2
    assert await store.revision() == before
    with pytest.raises(NotFound):
        await store.get(ObjectKey("Gadget", None, "crate"))


Meddle = Callable[[Store], Awaitable[object]]


class Interfering:
    """The real store, with someone else writing just before each of the first commits."""

    def __init__(self, store: Store, meddle: Meddle, *, times: int) -> None:
        self._store = store
        self._meddle = meddle
        self.times = times
        self.commits = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def commit(self, ops: Sequence[WriteOp]) -> list[Resource | None]:
        self.commits += 1
        if self.times > 0:
            self.times -= 1
            await self._meddle(self._store)
        return await self._store.commit(ops)


def relabel(key: ObjectKey) -> Meddle:
    async def meddle(store: Store) -> Resource:
        live = await store.get(key)
        count = int(live.metadata.labels.get("touched", "0")) + 1
        meta = live.metadata.model_copy(update={"labels": {"touched": str(count)}})
        return await store.update(live.model_copy(update={"metadata": meta}))

    return meddle


async def test_conflict_is_retried_and_merges_the_other_write(store: Store) -> None:
    await apply_manifests(store, manifests(widget("image: 'web:1'")))
    racing = Interfering(store, relabel(WEB), times=2)

    results = await apply_manifests(cast(Store, racing), manifests(widget("image: 'web:2'")))

    assert actions(results) == [("Widget/checkout/web", Action.CONFIGURED)]
    assert racing.commits == 3
    live = await store.get(WEB)
    assert live.spec.image == "web:2"
    assert live.metadata.labels == {"touched": "2"}


async def test_conflict_gives_up_with_a_clear_error(store: Store) -> None:
    await apply_manifests(store, manifests(widget("image: 'web:1'")))
    racing = Interfering(store, relabel(WEB), times=100)
    with pytest.raises(ConflictError, match=r"gave up after 5 attempts: .*Widget/checkout/web"):
        await apply_manifests(cast(Store, racing), manifests(widget("image: 'web:2'")))
    assert (await store.get(WEB)).spec.image == "web:1"


async def test_object_deleted_meanwhile_is_created_again(store: Store) -> None:
    await apply_manifests(store, manifests(widget("image: 'web:1'")))

    async def remove(store: Store) -> None:
        await store.delete(WEB)

    racing = Interfering(store, remove, times=1)
    results = await apply_manifests(cast(Store, racing), manifests(widget("image: 'web:2'")))

    assert actions(results) == [("Widget/checkout/web", Action.CREATED)]
    assert (await store.get(WEB)).spec.image == "web:2"


class Counting:
    """The real store, counting the calls apply makes."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self._store, name)


async def test_many_objects_take_one_list_per_kind_and_one_commit(store: Store) -> None:
    text = "---\n".join(
        [gadget(f"g{i}") for i in range(150)]
        + [widget("image: x", name=f"w{i}") for i in range(150)]
    )
    counting = Counting(store)
    results = await apply_manifests(cast(Store, counting), manifests(text))
    assert {r.action for r in results} == {Action.CREATED}
    assert counting.calls.count("list") == 2
    assert counting.calls.count("commit") == 1
    assert "get" not in counting.calls


async def test_prune_deletes_only_this_sets_removed_members(store: Store) -> None:
    three = gadget("a") + "---\n" + gadget("b") + "---\n" + gadget("c")
    await apply_manifests(store, manifests(three), applyset="shop")
    await apply_manifests(store, manifests(gadget("other")), applyset="else")
    # c is adopted by another set; "other" was never in this one.
    await apply_manifests(store, manifests(gadget("c")), applyset="else")

    before = await store.revision()
    planned = await apply_manifests(
        store, manifests(gadget("a")), prune=True, applyset="shop", dry_run=True
    )
    assert await store.revision() == before
    assert actions(planned) == [("Gadget/a", Action.UNCHANGED), ("Gadget/b", Action.PRUNED)]
    await store.get(ObjectKey("Gadget", None, "b"))  # dry run deleted nothing

    results = await apply_manifests(store, manifests(gadget("a")), prune=True, applyset="shop")

    assert actions(results) == [("Gadget/a", Action.UNCHANGED), ("Gadget/b", Action.PRUNED)]
    remaining = sorted(o.metadata.name for o in (await store.list("Gadget")).items)
    assert remaining == ["a", "c", "other"]
    record = json.loads(await store.get_raw("applysets/shop") or b"")
    assert [m["name"] for m in record["members"]] == ["a"]
    assert (await store.get(ObjectKey("Gadget", None, "a"))).metadata.annotations[
        APPLYSET
    ] == "shop"


async def test_apply_without_prune_keeps_dropped_members_for_a_later_prune(store: Store) -> None:
    await apply_manifests(store, manifests(gadget("a") + "---\n" + gadget("b")), applyset="shop")
    await apply_manifests(store, manifests(gadget("a")), applyset="shop")
    results = await apply_manifests(store, manifests(gadget("a")), applyset="shop", prune=True)
    assert actions(results) == [("Gadget/a", Action.UNCHANGED), ("Gadget/b", Action.PRUNED)]


async def test_prune_reaches_kinds_no_longer_in_the_files(store: Store) -> None:
    both = widget("image: x") + "---\n" + gadget("a")
    await apply_manifests(store, manifests(both), applyset="shop")
    results = await apply_manifests(store, manifests(gadget("a")), applyset="shop", prune=True)
    assert actions(results) == [
        ("Gadget/a", Action.UNCHANGED),
        ("Widget/checkout/web", Action.PRUNED),
    ]
    with pytest.raises(NotFound):
        await store.get(WEB)


async def test_prune_needs_an_applyset(store: Store) -> None:
    with pytest.raises(SpecError, match="--applyset"):
        await apply_manifests(store, manifests(gadget("a")), prune=True)


async def test_finalizers_make_deletion_pending(store: Store) -> None:
    held = ", finalizers: [dcos/cleanup]"
    await apply_manifests(
        store, manifests(gadget("a", meta=held) + "---\n" + gadget("b", meta=held)), applyset="s"
    )
    pruned = await apply_manifests(
        store, manifests(gadget("b", meta=held)), applyset="s", prune=True
    )
    assert actions(pruned) == [("Gadget/b", Action.UNCHANGED), ("Gadget/a", Action.DELETING)]
    deleted = await delete_objects(store, [ObjectKey("Gadget", None, "b")])
    assert actions(deleted) == [("Gadget/b", Action.DELETING)]
    assert deleted[0].obj is not None and deleted[0].obj.metadata.deletion_timestamp is not None


async def test_delete_objects(store: Store) -> None:
    await apply_manifests(store, manifests(gadget("a")))
    results = await delete_objects(store, [ObjectKey("Gadget", None, "a")])
    assert results == [ApplyResult(ObjectKey("Gadget", None, "a"), Action.DELETED, None)]
    with pytest.raises(NotFound):
        await delete_objects(store, [ObjectKey("Gadget", None, "a")])


async def test_diff_shows_what_apply_would_change(store: Store) -> None:
    new = await diff_manifests(store, manifests(widget("image: 'web:1'")))
    assert new.startswith("--- live/Widget/checkout/web\n+++ merged/Widget/checkout/web\n")
    assert "+  image: web:1\n" in new
    assert LAST_APPLIED not in new

    await apply_manifests(store, manifests(widget("image: 'web:1'")), applyset="shop")
    assert await diff_manifests(store, manifests(widget("image: 'web:1'"))) == ""

    await scale(store, WEB, instances=4)
    changed = await diff_manifests(store, manifests(widget("image: 'web:2'")))
    assert "-  image: web:1\n+  image: web:2\n" in changed
    changed_lines = [line for line in changed.splitlines() if line[:1] in "+-"]
    assert not [line for line in changed_lines if "instances" in line]  # kept: set by others
    for noise in ("resourceVersion", "uid", "generation", "creationTimestamp", APPLYSET):
        assert noise not in changed


async def test_invalid_merge_result_is_a_spec_error_and_writes_nothing(store: Store) -> None:
    await apply_manifests(store, manifests(gadget("a", size=0)))
    await scale(store, ObjectKey("Gadget", None, "a"), paused=True)
    before = await store.revision()
    text = gadget("b") + "---\n" + gadget("a", size=3)
    with pytest.raises(SpecError) as err:
        await apply_manifests(store, manifests(text), applyset="shop", prune=True)
    assert str(err.value).startswith("<stdin>: document 2: spec: merging with the live object")
    assert "size must be 0 while paused" in str(err.value)
    assert await store.revision() == before
