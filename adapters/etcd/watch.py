"""Watching objects: etcd's key events turned into ADDED/MODIFIED/DELETED of objects.

One etcd watch covers the spec *and* status keys (the range from
``<prefix>/spec/`` to the end of ``<prefix>/status/``), so events arrive in
revision order and one revision is enough to resume. Kind and domain are
filtered here, after parsing the key. (The price: a kind-filtered watch
receives the other kinds' traffic, and the credentials need read access on
that whole range.)

A :class:`_View` keeps, per object, the spec and status values last seen and
the object last yielded. It starts as a snapshot of the watched objects *at
the caller's revision* (the caller listed at that revision, so the view
matches what it holds). Then:

- a spec put yields ADDED or MODIFIED with the current status merged in;
- a status put yields MODIFIED of the object (resourceVersion unchanged);
- a spec delete yields DELETED carrying the last state;
- an event at or below what the view already holds is skipped, so resuming
  *at* the last revision seen (not after it) loses nothing of a revision
  that spanned several keys and repeats nothing either.

When the stream breaks (etcd restarted, network), the loop reopens it from
the last revision seen, with exponential backoff. When that revision has
been compacted, it lists again and yields synthetic events (``synthetic=True``)
for the difference between the view and the list, then watches on from the
list's revision. If the caller's own revision is already compacted at the
start, the view starts empty and everything current arrives as synthetic
ADDED; objects deleted in between cannot be reported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from adapters.etcd.client import KV, CompactedError, WatchRecord
from adapters.etcd.codec import decode, gc_paused, load
from adapters.etcd.keys import KeySpace
from adapters.protocols import EventType, ObjectKey, WatchEvent
from crds.errors import SpecError, Unavailable
from crds.meta import Resource

if TYPE_CHECKING:
    from adapters.etcd.store import EtcdStore, Snapshot

__all__ = ["watch_objects"]

logger = logging.getLogger(__name__)

INITIAL_BACKOFF = 0.05
MAX_BACKOFF = 5.0


class _View:
    """The watched objects as the consumer knows them."""

    def __init__(self, keys: KeySpace, kind: str | None, domain: str | None) -> None:
        self._keys = keys
        self._kind = kind
        self._domain = domain
        self.specs: dict[ObjectKey, KV] = {}
        self.statuses: dict[ObjectKey, KV] = {}
        self.objects: dict[ObjectKey, Resource] = {}

    def _wants(self, key: ObjectKey) -> bool:
        return (self._kind is None or key.kind == self._kind) and (
            self._domain is None or key.domain == self._domain
        )

    def _build(self, key: ObjectKey) -> Resource | None:
        spec, status = self.specs[key], self.statuses.get(key)
        try:
            return decode(
                load(spec.value), None if status is None else status.value, spec.mod_revision
            )
        except (SpecError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            logger.warning("watch: skipping %s, its stored value does not decode: %s", key, exc)
            return None

    def load(self, snapshot: Snapshot) -> None:
        with gc_paused():
            self._load(snapshot)

    def _load(self, snapshot: Snapshot) -> None:
        self.specs, self.statuses, self.objects = {}, {}, {}
        for key, (spec, status) in snapshot.items():
            self.specs[key] = spec
            if status is not None:
                self.statuses[key] = status
            obj = self._build(key)
            if obj is not None:
                self.objects[key] = obj

    def reset(self, snapshot: Snapshot, revision: int) -> list[WatchEvent]:
        """Replace the view by ``snapshot``; the events that bridge the two."""
        before = self.objects
        self.load(snapshot)
        events = [
            WatchEvent(EventType.DELETED, obj, revision, synthetic=True)
            for key, obj in sorted(before.items())
            if key not in self.objects
        ]
        for key, obj in sorted(self.objects.items()):
            if key not in before:
                events.append(WatchEvent(EventType.ADDED, obj, revision, synthetic=True))
            elif obj != before[key]:
                events.append(WatchEvent(EventType.MODIFIED, obj, revision, synthetic=True))
        return events

    def apply(self, record: WatchRecord) -> WatchEvent | None:
        parsed = self._keys.parse(record.kv.key)
        if parsed is None or not self._wants(parsed[1]):
            return None
        is_status, key = parsed
        table = self.statuses if is_status else self.specs
        seen = table.get(key)
        revision = record.kv.mod_revision
        if seen is not None and seen.mod_revision >= revision:
            return None  # a repeat after resuming
        if record.deleted:
            if seen is None:
                return None
            del table[key]
            if not is_status:
                self.statuses.pop(key, None)
                last = self.objects.pop(key, None)
                return None if last is None else WatchEvent(EventType.DELETED, last, revision)
        else:
            table[key] = record.kv
        return self._changed(key, revision) if key in self.specs else None

    def _changed(self, key: ObjectKey, revision: int) -> WatchEvent | None:
        previous = self.objects.get(key)
        obj = self._build(key)
        if obj is None or obj == previous:
            return None
        self.objects[key] = obj
        kind = EventType.ADDED if previous is None else EventType.MODIFIED
        return WatchEvent(kind, obj, revision)


async def watch_objects(
    store: EtcdStore, *, kind: str | None, domain: str | None, revision: int
) -> AsyncGenerator[WatchEvent, None]:
    """The changes after ``revision`` to objects of ``kind`` in ``domain``, forever."""
    view = _View(store.keys, kind, domain)
    relist = False
    if revision <= 0:
        snapshot, revision = await store.snapshot(kind, domain)
        view.load(snapshot)
    else:
        try:
            view.load((await store.snapshot(kind, domain, revision))[0])
        except CompactedError:
            logger.warning("watch: revision %d is compacted already; relisting", revision)
            relist = True
    next_revision = revision + 1
    start, end = store.keys.object_range()
    backoff = INITIAL_BACKOFF
    while not store.closed:
        try:
            if relist:
                snapshot, listed_at = await store.snapshot(kind, domain)
                for synthetic in view.reset(snapshot, listed_at):
                    yield synthetic
                relist, next_revision = False, listed_at + 1
            async for record in store.client.watch(start, end, start_revision=next_revision):
                backoff = INITIAL_BACKOFF
                next_revision = record.kv.mod_revision
                event = view.apply(record)
                if event is not None:
                    yield event
            logger.debug("watch stream ended; reopening at revision %d", next_revision)
        except CompactedError as exc:
            logger.info("watch fell behind compaction (%s); relisting", exc)
            relist = True
        except Unavailable as exc:
            if store.closed:
                return
            logger.warning(
                "watch interrupted (%s); resuming at revision %d in %.2fs",
                exc,
                next_revision,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
