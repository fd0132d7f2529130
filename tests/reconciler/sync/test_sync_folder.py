"""reconciler.sync: the comparison, the record, and one sync on a real etcd."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.etcd import EtcdStore
from adapters.protocols import ObjectKey
from crds.app import App
from crds.errors import SpecError
from reconciler.apply import load_manifests
from reconciler.apply.applyset import read_membership
from reconciler.apply.merge import merged_object
from reconciler.apps.rollout_view import scale_app
from reconciler.sync import (
    ObjectRecord,
    SourceRevision,
    SyncRecord,
    SyncResult,
    SyncState,
    compare,
    folder_status,
    read_record,
    source_revision,
    sync_folder,
)
from reconciler.sync.record import decode_record, document_hash, encode_record

NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
WEB = ObjectKey("App", "shop", "web")
API = ObjectKey("App", "shop", "api")


def app_doc(name: str, instances: int, image: str = "shop/web:1") -> str:
    return (
        f"apiVersion: dcos/v1\nkind: App\nmetadata: {{name: {name}, domain: shop}}\n"
        f"spec: {{image: '{image}', instances: {instances}}}\n"
    )


def folder(tmp_path: Path, **apps: str) -> Path:
    path = tmp_path / "specs"
    path.mkdir(exist_ok=True)
    for old in path.glob("*.yaml"):
        old.unlink()
    for name, text in apps.items():
        (path / f"{name}.yaml").write_text(text)
    return path


async def sync(
    store: EtcdStore, path: Path, *, prune: bool = False, self_heal: bool = False
) -> SyncResult:
    manifests = load_manifests([str(path)], recursive=True)
    return await sync_folder(
        store,
        manifests,
        name="specs",
        source=str(path),
        revision=SourceRevision(),
        now=NOW,
        prune=prune,
        self_heal=self_heal,
    )


def test_compare_tells_missing_out_of_sync_and_synced(tmp_path: Path) -> None:
    (manifest,) = load_manifests([str(folder(tmp_path, web=app_doc("web", 3)) / "web.yaml")])
    missing = compare(manifest, None, applyset="sync.specs", scaled=set())
    assert missing.state is SyncState.MISSING
    assert "+  instances: 3" in missing.diff
    live = merged_object(manifest.obj, None, applyset="sync.specs")
    assert compare(manifest, live, applyset="sync.specs", scaled=set()).state is SyncState.SYNCED
    assert isinstance(live, App)
    scaled = live.model_copy(update={"spec": live.spec.model_copy(update={"instances": 9})})
    drifted = compare(manifest, scaled, applyset="sync.specs", scaled=set())
    assert drifted.state is SyncState.OUT_OF_SYNC
    assert "-  instances: 9\n+  instances: 3" in drifted.diff
    owned = compare(manifest, scaled, applyset="sync.specs", scaled={("shop", "web")})
    assert owned.state is SyncState.SYNCED  # a ScalingPolicy owns the count


def test_the_record_round_trips_and_a_broken_one_names_its_key() -> None:
    record = SyncRecord(
        name="specs",
        source="/srv/specs",
        commit="0123456789abcdef",
        dirty=True,
        revision=42,
        time=NOW,
        objects=(ObjectRecord(WEB, SyncState.OUT_OF_SYNC, "abc", "changed"),),
    )
    assert decode_record("specs", encode_record(record)) == record
    with pytest.raises(SpecError, match="syncs/specs"):
        decode_record("specs", b"{not json")


def test_the_hash_is_that_of_what_the_author_wrote(tmp_path: Path) -> None:
    path = folder(tmp_path, a=app_doc("web", 3), b=app_doc("api", 3))
    web, api = load_manifests([str(path / "a.yaml"), str(path / "b.yaml")])
    assert document_hash(web.obj) == document_hash(web.obj)
    assert document_hash(web.obj) != document_hash(api.obj)


def test_source_revision_outside_git_is_unknown(tmp_path: Path) -> None:
    assert source_revision(tmp_path) == SourceRevision(None, False)


async def test_held_drift_stays_in_the_set_and_is_never_pruned(
    store: EtcdStore, tmp_path: Path
) -> None:
    path = folder(tmp_path, web=app_doc("web", 3), api=app_doc("api", 2))
    first = await sync(store, path)
    assert {r.key for r in first.written} == {WEB, API}
    first_web = first.record.get(WEB)
    assert first_web is not None
    await scale_app(store, WEB, 8)
    second = await sync(store, path, prune=True)
    assert [d.key for d in second.drift] == [WEB] and not second.written
    assert second.record.get(WEB) == ObjectRecord(
        WEB,
        SyncState.OUT_OF_SYNC,
        first_web.hash,
        "changed behind the folder's back (--self-heal puts it back)",
    )
    members = {m.key for m in await read_membership(store, "sync.specs")}
    assert members == {WEB, API}
    live = await store.get(WEB)
    assert isinstance(live, App) and live.spec.instances == 8
    healed = await sync(store, path, self_heal=True)
    assert [r.key for r in healed.written] == [WEB] and healed.healed
    live = await store.get(WEB)
    assert isinstance(live, App) and live.spec.instances == 3
    assert (await read_record(store, "specs")) == healed.record


async def test_a_change_in_the_folder_wins_over_drift_and_status_says_why(
    store: EtcdStore, tmp_path: Path
) -> None:
    path = folder(tmp_path, web=app_doc("web", 3), api=app_doc("api", 2))
    await sync(store, path)
    await scale_app(store, WEB, 8)
    folder(tmp_path, web=app_doc("web", 4, image="shop/web:2"))
    manifests = load_manifests([str(path)])
    record = await read_record(store, "specs")
    statuses = {s.key: s for s in await folder_status(store, manifests, record, name="specs")}
    assert statuses[WEB].message == "changed in the folder since the sync"
    assert statuses[API].state is SyncState.OUT_OF_SYNC
    assert "not in the folder" in statuses[API].message
    result = await sync(store, path, prune=True)
    assert not result.drift  # the folder changed: applied, not drift
    live = await store.get(WEB)
    assert isinstance(live, App) and (live.spec.image, live.spec.instances) == ("shop/web:2", 4)
    assert result.record.get(API) == ObjectRecord(API, SyncState.PRUNED, None, "pruned")
