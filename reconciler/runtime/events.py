"""Events from controllers: what they did to an object, for ``dcosctl describe``.

A :class:`Recorder` is made per controller (``source`` is its name) and
writes through the store; the store keeps events on an etcd lease, so they
expire by themselves, and folds a repeat of the same object and reason into
a count. As client-go's recorder, recording is best effort: a failure is
logged and never fails the reconcile that emitted it.

Two ways to record:

- :meth:`Recorder.emit` returns at once, as client-go's ``Eventf`` does: the
  event joins a buffer that a background task (``events:{source}``) writes
  with ``Store.record_events``, many events in a few round trips. A
  reconcile that emits events holds its key no longer than its own writes
  take, so the next change to the object is acted on sooner. The buffer
  holds at most ``buffer`` events; past that the oldest are dropped (and
  counted in a warning). :meth:`Recorder.flush` waits until everything
  emitted so far is written;
- :meth:`Recorder.normal`, :meth:`Recorder.warning` and :meth:`Recorder.record`
  write the one event before they return.

The next hop is :mod:`adapters.etcd.events`, where events are stored.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from adapters.protocols import Store
from crds.errors import DcosError
from crds.events import Event, EventKind, InvolvedObject
from crds.meta import Resource

__all__ = ["Recorder"]

logger = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Recorder:
    def __init__(
        self,
        store: Store,
        source: str,
        *,
        timeout: float = 5.0,
        buffer: int = 1000,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self.source = source
        self._timeout = timeout
        self._now = now
        self._pending: deque[Event] = deque(maxlen=buffer)  # emitted, not yet handed to the store
        self._dropped = 0  # emitted events pushed out of a full buffer since the last write
        self._writer: asyncio.Task[None] | None = None  # the task writing the buffer, while any

    async def normal(self, obj: Resource, reason: str, message: str) -> None:
        """Something expected happened (Launched, Scaled, Configured)."""
        await self.record(obj, EventKind.NORMAL, reason, message)

    async def warning(self, obj: Resource, reason: str, message: str) -> None:
        """Something went wrong that a person may want to know (FailedPlacement)."""
        await self.record(obj, EventKind.WARNING, reason, message)

    async def record(self, obj: Resource, kind: EventKind, reason: str, message: str) -> None:
        """Write the event now (best effort: a failure is logged)."""
        event = self._event(obj, kind, reason, message)
        try:
            async with asyncio.timeout(self._timeout):
                await self._store.record_event(event)
        except (DcosError, TimeoutError) as exc:
            logger.warning(
                "could not record event %s on %s/%s: %s", reason, obj.kind, obj.metadata.name, exc
            )

    def emit(self, obj: Resource, kind: EventKind, reason: str, message: str) -> None:
        """Queue the event for the background writer and return at once."""
        if len(self._pending) == self._pending.maxlen:
            self._dropped += 1
        self._pending.append(self._event(obj, kind, reason, message))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(
                self._write_pending(), name=f"events:{self.source}"
            )

    async def flush(self) -> None:
        """Until every event emitted so far is written (or failed and logged)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.wait([self._writer])

    async def _write_pending(self) -> None:
        while self._pending:
            batch = list(self._pending)
            self._pending.clear()
            if self._dropped:
                logger.warning(
                    "%s: %d event(s) dropped, too many to write", self.source, self._dropped
                )
                self._dropped = 0
            try:
                async with asyncio.timeout(self._timeout):
                    await self._store.record_events(batch)
            except (DcosError, TimeoutError) as exc:
                logger.warning("%s: could not record %d event(s): %s", self.source, len(batch), exc)
            except Exception:
                logger.exception("%s: recording %d event(s) raised", self.source, len(batch))

    def _event(self, obj: Resource, kind: EventKind, reason: str, message: str) -> Event:
        now = self._now()
        return Event(
            involved_object=InvolvedObject(
                kind=obj.kind,
                name=obj.metadata.name,
                domain=obj.metadata.domain,
                uid=obj.metadata.uid,
            ),
            type=kind,
            reason=reason,
            message=message,
            source=self.source,
            first_timestamp=now,
            last_timestamp=now,
        )
