"""One sync: make etcd hold what a folder of specs says, and say what drifted.

:func:`sync_folder` takes the folder's manifests (already validated, so a
wrong file has stopped everything before this point) and:

1. compares each with the live object (:func:`compare`): the same three-way
   merge ``apply`` does (:func:`reconciler.apply.merge.merged_object`), with
   the instance count of an App a ScalingPolicy targets taken from the live
   object (:func:`reconciler.apply.apply.keep_scaled_count`), so what the
   policy decides, or a ``dcosctl scale`` of such an App, is never drift;
2. sorts them. An object whose document changed in the folder since the last
   sync (its :func:`~reconciler.sync.record.document_hash` differs from the
   record's), or that was never synced, is applied. An object whose document
   did not change but whose live state differs *drifted*: it changed behind
   the folder's back. It is reported, and put back only with ``self_heal``;
   otherwise it is held (kept in the ApplySet, neither written nor pruned);
3. applies through :func:`reconciler.apply.apply_manifests` with the sync's
   ApplySet ``sync.<name>``: one commit, compare-and-swap retries, admission,
   and with ``prune`` the deletion of the objects this sync owns that the
   folder no longer holds (and only those). The apply refuses (and the sync
   compares again) when an object changed after the comparison read it
   (``if_revision``), so a write racing the sync is never put back unseen;
4. writes the :class:`~reconciler.sync.record.SyncRecord`.

:func:`folder_status` is the read-only half, for ``dcosctl sync status``.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime

from adapters.protocols import ObjectKey, Store
from crds.errors import ConflictError
from crds.meta import Resource
from reconciler.apply import Action, ApplyResult, Manifest, apply_manifests
from reconciler.apply.admission import AdmissionCheck
from reconciler.apply.apply import keep_scaled_count, read_live, scaled_apps
from reconciler.apply.applyset import read_membership
from reconciler.apply.diff import comparable, readable
from reconciler.apply.merge import APPLYSET, merged_object
from reconciler.sync.record import (
    ObjectRecord,
    SyncRecord,
    SyncState,
    applyset_of,
    check_name,
    document_hash,
    read_record,
    write_record,
)
from reconciler.sync.source import SourceRevision

__all__ = ["ObjectStatus", "SyncResult", "compare", "folder_status", "sync_folder"]

logger = logging.getLogger(__name__)

ATTEMPTS = 5
"""Compare-then-apply rounds before a sync gives up on objects that keep changing."""
DRIFTED = "changed behind the folder's back"
EXTRANEOUS = "not in the folder any more: sync --prune deletes it"


@dataclass(frozen=True)
class ObjectStatus:
    """How one object compares with the folder; ``diff`` is live -> folder."""

    key: ObjectKey
    state: SyncState
    diff: str = ""
    message: str = ""


@dataclass(frozen=True)
class SyncResult:
    """What :func:`sync_folder` did."""

    record: SyncRecord
    applied: Sequence[ApplyResult]
    """apply's result per object applied, then the pruned ones."""
    drift: Sequence[ObjectStatus]
    """Objects that had changed behind the folder's back, as found before writing."""
    healed: bool
    """Whether the drift was put back (``self_heal``)."""
    recorded: bool = True
    """Whether the record was written (a watch skips identical records)."""

    @property
    def written(self) -> list[ApplyResult]:
        return [r for r in self.applied if r.action is not Action.UNCHANGED]


def compare(
    manifest: Manifest,
    live: Resource | None,
    *,
    applyset: str,
    scaled: AbstractSet[tuple[str, str]],
) -> ObjectStatus:
    """The manifest against the live object, as applying it with ``applyset`` would see it."""
    key = ObjectKey.of(manifest.obj)
    merged = merged_object(
        manifest.obj,
        live,
        applyset=applyset,
        source=manifest.source,
        document=manifest.document,
    )
    merged = keep_scaled_count(merged, live, scaled)
    if live is not None and comparable(live) == comparable(merged):
        return ObjectStatus(key, SyncState.SYNCED)
    before, after = readable(live), readable(merged)
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"live/{key}",
        tofile=f"folder/{key}",
    )
    state = SyncState.MISSING if live is None else SyncState.OUT_OF_SYNC
    return ObjectStatus(key, state, "".join(lines))


async def _compare_all(
    store: Store, manifests: Sequence[Manifest], applyset: str
) -> dict[ObjectKey, ObjectStatus]:
    live = await read_live(store, [ObjectKey.of(m.obj) for m in manifests])
    scaled = await scaled_apps(store, manifests)
    return {
        ObjectKey.of(m.obj): compare(
            m, live.get(ObjectKey.of(m.obj)), applyset=applyset, scaled=scaled
        )
        for m in manifests
    }


async def _extraneous(store: Store, applyset: str, folder: Iterable[ObjectKey]) -> list[ObjectKey]:
    """Live objects of the sync's ApplySet that the folder no longer holds."""
    keys = {m.key for m in await read_membership(store, applyset)} - set(folder)
    if not keys:
        return []
    live = await read_live(store, keys)
    return sorted(
        k for k in keys if k in live and live[k].metadata.annotations.get(APPLYSET) == applyset
    )


async def sync_folder(
    store: Store,
    manifests: Sequence[Manifest],
    *,
    name: str,
    source: str,
    revision: SourceRevision,
    now: datetime,
    prune: bool = False,
    self_heal: bool = False,
    admission: Sequence[AdmissionCheck] = (),
    record_unchanged: bool = True,
) -> SyncResult:
    """Apply what changed in the folder, report (or with ``self_heal`` undo) drift,
    prune with ``prune``, and record the sync; see the module docstring."""
    check_name(name)
    applyset = applyset_of(name)
    previous = await read_record(store, name)
    hashes = {ObjectKey.of(m.obj): document_hash(m.obj) for m in manifests}
    for attempt in range(1, ATTEMPTS + 1):
        started = await store.revision()
        statuses = await _compare_all(store, manifests, applyset)
        drift = _drift(statuses, previous, hashes)
        held = frozenset() if self_heal else frozenset(s.key for s in drift)
        writes = {k for k, s in statuses.items() if s.state is not SyncState.SYNCED} - held
        applied: list[ApplyResult] = []
        if not await _work(store, writes, statuses, applyset, prune=prune):
            break
        try:
            applied = await apply_manifests(
                store,
                [m for m in manifests if ObjectKey.of(m.obj) in writes],
                prune=prune,
                applyset=applyset,
                admission=admission,
                hold=frozenset(statuses) - writes,  # members kept, neither written nor pruned
                if_revision=started,  # what was compared is what is written
            )
            break
        except ConflictError as exc:
            if attempt == ATTEMPTS:
                raise
            logger.info("sync %s: %s; comparing again", name, exc)
    objects = _object_records(applied, hashes, drift, self_heal=self_heal)
    objects += [
        ObjectRecord(key, SyncState.OUT_OF_SYNC, None, EXTRANEOUS)
        for key in await _extraneous(store, applyset, hashes)
    ]
    record = SyncRecord(
        name=name,
        source=source,
        commit=revision.commit,
        dirty=revision.dirty,
        revision=await store.revision(),
        time=now,
        objects=tuple(objects),
    )
    changed = bool([r for r in applied if r.action is not Action.UNCHANGED])
    recorded = record_unchanged or changed or not _same(previous, record)
    if recorded:
        await write_record(store, record)
    result = SyncResult(record, applied, drift, healed=self_heal, recorded=recorded)
    logger.info(
        "sync %s at %s: %d written, %d drifted%s",
        name,
        revision.short(),
        len(result.written),
        len(drift),
        " (put back)" if self_heal and drift else "",
    )
    return result


async def _work(
    store: Store,
    writes: AbstractSet[ObjectKey],
    folder: Iterable[ObjectKey],
    applyset: str,
    *,
    prune: bool,
) -> bool:
    """Whether there is anything to write: an object, a folder object missing from the
    ApplySet's membership, or (with ``prune``) one to prune. When not, nothing at all
    is written, not even the membership."""
    if writes:
        return True
    members = {m.key for m in await read_membership(store, applyset)}
    if not set(folder) <= members:
        return True
    return prune and bool(await _extraneous(store, applyset, folder))


def _drift(
    statuses: Mapping[ObjectKey, ObjectStatus],
    previous: SyncRecord | None,
    hashes: Mapping[ObjectKey, str],
) -> list[ObjectStatus]:
    """The objects that differ from a folder document that did not change since the
    last sync: they changed behind the folder's back."""
    drift: list[ObjectStatus] = []
    for key, status in statuses.items():
        earlier = previous.get(key) if previous is not None else None
        unchanged_in_folder = earlier is not None and earlier.hash == hashes[key]
        if unchanged_in_folder and status.state is not SyncState.SYNCED:
            drift.append(status)
    return drift


def _same(previous: SyncRecord | None, record: SyncRecord) -> bool:
    if previous is None:
        return False
    return (
        previous.commit,
        previous.dirty,
        previous.source,
        sorted(previous.objects, key=_by_key),
    ) == (
        record.commit,
        record.dirty,
        record.source,
        sorted(record.objects, key=_by_key),
    )


def _by_key(o: ObjectRecord) -> ObjectKey:
    return o.key


def _object_records(
    applied: Sequence[ApplyResult],
    hashes: Mapping[ObjectKey, str],
    drift: Sequence[ObjectStatus],
    *,
    self_heal: bool,
) -> list[ObjectRecord]:
    """Every folder object's record, in folder order, then the pruned ones."""
    done = {r.key: r.action for r in applied}
    drifted = {s.key: s for s in drift}
    records: list[ObjectRecord] = []
    for key, digest in hashes.items():
        status = drifted.get(key)
        if status is not None and not self_heal:
            what = "deleted" if status.state is SyncState.MISSING else "changed"
            message = f"{what} behind the folder's back (--self-heal puts it back)"
            records.append(ObjectRecord(key, status.state, digest, message))
            continue
        action = done.get(key, Action.UNCHANGED)
        message = "" if action is Action.UNCHANGED else action.value
        if status is not None:
            message = f"{DRIFTED}: put back"
        records.append(ObjectRecord(key, SyncState.SYNCED, digest, message))
    for result in applied:
        if result.action in (Action.PRUNED, Action.DELETING):
            message = "pruned" if result.action is Action.PRUNED else "pruned; finalizers hold it"
            records.append(ObjectRecord(result.key, SyncState.PRUNED, None, message))
    return records


async def folder_status(
    store: Store, manifests: Sequence[Manifest], record: SyncRecord | None, *, name: str
) -> list[ObjectStatus]:
    """Each manifest compared with its live object, then the live objects of the sync
    that the folder no longer holds (OutOfSync), sorted by key. Nothing is written."""
    check_name(name)
    applyset = applyset_of(name)
    statuses = await _compare_all(store, manifests, applyset)
    result: list[ObjectStatus] = []
    for m in manifests:
        status = statuses[ObjectKey.of(m.obj)]
        earlier = record.get(status.key) if record is not None else None
        if status.state is SyncState.SYNCED:
            result.append(status)
        elif earlier is None or earlier.hash != document_hash(m.obj):
            message = (
                "not synced yet" if earlier is None else "changed in the folder since the sync"
            )
            result.append(ObjectStatus(status.key, status.state, status.diff, message))
        else:
            what = "deleted" if status.state is SyncState.MISSING else "changed"
            result.append(
                ObjectStatus(
                    status.key, status.state, status.diff, f"{what} behind the folder's back"
                )
            )
    result += [
        ObjectStatus(key, SyncState.OUT_OF_SYNC, "", EXTRANEOUS)
        for key in await _extraneous(store, applyset, statuses)
    ]
    return sorted(result, key=lambda s: s.key)
