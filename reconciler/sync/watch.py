"""``dcosctl sync --watch``: sync again whenever the folder or the objects change.

Three sources wake one loop, which runs one sync at a time
(:func:`reconciler.sync.sync_folder`), so a burst of changes costs at most
one sync in progress and one queued:

* ``changes``, an async iterator that yields when files under the folder
  changed (the command passes :func:`watchfiles.awatch`); the folder is read
  again, whole. A wrong file is reported and that pass writes nothing; the
  loop keeps going with the last good manifests (drift found through the
  etcd watch is still put back);
* an etcd watch on every object (:meth:`adapters.protocols.Store.watch`):
  a spec-side write to an object the folder holds (or to a ScalingPolicy)
  after the last sync wakes the loop at once, so ``self_heal`` puts drift
  back within a round trip. Status writes do not move an object's
  ``resourceVersion`` and are ignored, and so are the writes of the loop's
  own last pass;
* a timer every ``interval`` seconds, which also notices a new git commit
  that changed no file.

A pass that changes nothing writes no record. Time comes from the injected
:class:`reconciler.runtime.clock.Clock` and ``now``. ``report`` receives each
pass's :class:`SyncResult`, or the :class:`crds.errors.DcosError` that stopped
it; the loop runs until cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path

from adapters.protocols import EventType, ObjectKey, Store
from crds.errors import DcosError
from reconciler.apply.admission import AdmissionCheck
from reconciler.apply.manifests import Manifest
from reconciler.runtime.clock import Clock
from reconciler.sync.source import SourceRevision, read_folder, source_revision
from reconciler.sync.sync import SyncResult, sync_folder

__all__ = ["watch_folder"]

logger = logging.getLogger(__name__)

INTERVAL = 5.0
"""Seconds between the timer's passes."""
RETRY = 1.0
"""Seconds before the etcd watch is opened again after it failed."""


class _Loop:
    def __init__(self) -> None:
        self.wake = asyncio.Event()
        self.folder_changed = True
        self.synced_at = 0
        """The etcd revision the last pass started from: writes after it wake a pass."""
        self.keys: frozenset[ObjectKey] = frozenset()
        self.written: dict[ObjectKey, int] = {}
        """The versions the last pass wrote: their events wake no pass."""
        self.writes: list[tuple[ObjectKey, int]] = []
        """Writes seen by the etcd watch since the loop last woke."""

    def foreign(self) -> bool:
        """Whether a write seen since the last wake-up was someone else's."""
        writes, self.writes = self.writes, []
        return any(
            version > self.synced_at and self.written.get(key) != version for key, version in writes
        )

    def folder(self) -> None:
        self.folder_changed = True
        self.wake.set()


async def watch_folder(
    store: Store,
    folder: Path,
    *,
    name: str,
    changes: AsyncIterator[object],
    report: Callable[[SyncResult | DcosError], None],
    clock: Clock,
    now: Callable[[], datetime],
    prune: bool = False,
    self_heal: bool = False,
    admission: Sequence[AdmissionCheck] = (),
    interval: float = INTERVAL,
    read: Callable[[Path], list[Manifest]] = read_folder,
    revision: Callable[[Path], SourceRevision] = source_revision,
) -> None:
    """Sync ``folder`` now and again on every change; see the module docstring."""
    loop = _Loop()
    loop.wake.set()
    tasks = [
        asyncio.create_task(_follow_folder(changes, loop), name="sync-folder"),
        asyncio.create_task(_follow_store(store, loop, clock), name="sync-store"),
        asyncio.create_task(_tick(clock, interval, loop), name="sync-timer"),
    ]
    for task in tasks:
        task.add_done_callback(lambda _: loop.wake.set())  # a failure is seen at once
    manifests: list[Manifest] | None = None
    failed = ""
    try:
        while True:
            await loop.wake.wait()
            loop.wake.clear()
            for task in tasks:  # a follower that failed for good stops the loop
                failure = task.exception() if task.done() and not task.cancelled() else None
                if failure is not None:
                    raise failure
            if not loop.foreign() and not loop.folder_changed:
                continue  # only the last pass's own writes
            if loop.folder_changed:
                loop.folder_changed = False
                try:
                    manifests = await asyncio.to_thread(read, folder)
                    failed = ""
                except DcosError as exc:
                    if str(exc) != failed:  # the timer re-reads: say it once
                        report(exc)
                    failed = str(exc)
                    continue  # a wrong folder writes nothing, not even the record
            if manifests is None:
                continue
            loop.keys = frozenset(ObjectKey.of(m.obj) for m in manifests)
            try:
                started = await store.revision()  # a write after this wakes another pass
                source = await asyncio.to_thread(revision, folder)
                result = await sync_folder(
                    store,
                    manifests,
                    name=name,
                    source=str(folder),
                    revision=source,
                    now=now(),
                    prune=prune,
                    self_heal=self_heal,
                    admission=admission,
                    record_unchanged=False,
                )
            except DcosError as exc:
                report(exc)
                continue
            loop.synced_at = started
            loop.written = {
                r.key: int(r.obj.metadata.resource_version or 0)
                for r in result.applied
                if r.obj is not None
            }
            report(result)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _follow_folder(changes: AsyncIterator[object], loop: _Loop) -> None:
    async for _ in changes:
        loop.folder()


async def _tick(clock: Clock, interval: float, loop: _Loop) -> None:
    while True:
        await clock.sleep(interval)
        loop.folder()


async def _follow_store(store: Store, loop: _Loop, clock: Clock) -> None:
    """Wake the loop on a spec-side write, after the last pass, to an object the folder
    holds or to a ScalingPolicy; the watch is reopened when it fails."""
    while True:
        try:
            start = await store.revision()
            events = store.watch(revision=start)
            try:
                async for event in events:
                    key = ObjectKey.of(event.obj)
                    if key not in loop.keys and key.kind != "ScalingPolicy":
                        continue
                    version = int(event.obj.metadata.resource_version or 0)
                    if event.type is EventType.DELETED:
                        version = event.revision
                    if version > loop.synced_at:
                        logger.debug("%s written at revision %d", key, version)
                        loop.writes.append((key, version))
                        loop.wake.set()
            finally:
                close = getattr(events, "aclose", None)
                if close is not None:
                    await close()
        except DcosError as exc:
            logger.warning("watching objects failed (%s); again in %.0fs", exc, RETRY)
            await clock.sleep(RETRY)
