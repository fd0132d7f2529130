"""Events from controllers: what they did to an object, for ``dcosctl describe``.

A :class:`Recorder` is made per controller (``source`` is its name) and
writes through ``Store.record_event``; the store keeps events on an etcd
lease, so they expire by themselves, and folds a repeat of the same object
and reason into a count. As client-go's recorder, recording is best effort:
a failure is logged and never fails the reconcile that emitted it.

The next hop is :mod:`adapters.etcd.events`, where events are stored.
"""

from __future__ import annotations

import asyncio
import logging
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
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self.source = source
        self._timeout = timeout
        self._now = now

    async def normal(self, obj: Resource, reason: str, message: str) -> None:
        """Something expected happened (Launched, Scaled, Configured)."""
        await self.record(obj, EventKind.NORMAL, reason, message)

    async def warning(self, obj: Resource, reason: str, message: str) -> None:
        """Something went wrong that a person may want to know (FailedPlacement)."""
        await self.record(obj, EventKind.WARNING, reason, message)

    async def record(self, obj: Resource, kind: EventKind, reason: str, message: str) -> None:
        now = self._now()
        event = Event(
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
        try:
            async with asyncio.timeout(self._timeout):
                await self._store.record_event(event)
        except (DcosError, TimeoutError) as exc:
            logger.warning(
                "could not record event %s on %s/%s: %s", reason, obj.kind, obj.metadata.name, exc
            )
