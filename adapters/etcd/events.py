"""Events on etcd leases: ``<prefix>/events/<Kind>/<domain|_>/<name>/<reason>``.

One key per object and reason, so a repeat raises ``count`` and
``lastTimestamp`` instead of adding keys (a read, then a compare-and-swap
put, retried on a race). Keys are put on an etcd lease so they expire by
themselves. Granting a lease per event would create thousands of leases;
like the Kubernetes API server, one lease is reused for a tenth of the TTL
and granted for TTL plus that tenth, so every event lives between ``ttl``
and ``1.1 * ttl`` seconds after its last repeat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from urllib.parse import unquote

from adapters.etcd.client import Compare, EtcdClient, Get, Put, prefix_end
from adapters.etcd.keys import KeySpace
from adapters.protocols import ObjectKey
from crds.errors import ConflictError, StoreError
from crds.events import Event

__all__ = ["EventLog"]

logger = logging.getLogger(__name__)

_ATTEMPTS = 5


class EventLog:
    def __init__(
        self,
        client: EtcdClient,
        keys: KeySpace,
        ttl: int,
        *,
        batch: int = 128,
        clock: Callable[[], float] = time.monotonic,  # a fake clock for tests
    ) -> None:
        self._client = client
        self._keys = keys
        self._ttl = ttl
        self._batch = batch
        self._reuse = max(1, ttl // 10)
        self._clock = clock
        self._lease: tuple[int, float] | None = None  # (lease id, when granted)

    async def _lease_id(self) -> int:
        now = self._clock()
        if self._lease is not None and now - self._lease[1] < self._reuse:
            return self._lease[0]
        lease_id = await self._client.grant_lease(self._ttl + self._reuse)
        self._lease = (lease_id, now)
        return lease_id

    async def record(self, event: Event) -> None:
        who = event.involved_object
        key = self._key(event)
        for _ in range(_ATTEMPTS):
            kvs, _, _ = await self._client.range(key)
            if kvs:
                event = _repeat(event, Event.model_validate_json(kvs[0].value))
                compare = Compare(key, "mod", "=", kvs[0].mod_revision)
            else:
                compare = Compare(key, "create", "=", 0)
            value = event.model_dump_json(by_alias=True, exclude_none=True).encode()
            try:
                result = await self._client.txn(
                    [compare], [Put(key, value, await self._lease_id())]
                )
            except StoreError as exc:
                if "lease" not in str(exc):
                    raise
                logger.info("event lease is gone (%s); granting a new one", exc)
                self._lease = None
                continue
            if result.succeeded:
                return
        raise ConflictError(
            f"event {who.kind}/{who.name} {event.reason}: kept racing other writers"
        )

    async def record_many(self, events: Sequence[Event]) -> None:
        """Record many events in a few round trips: per batch, one transaction
        reads the current values, one compare-and-swap transaction writes them
        all. A batch that lost a race is recorded one event at a time."""
        merged: dict[bytes, Event] = {}
        for event in events:  # one put per key: etcd refuses a key twice in a txn
            key = self._key(event)
            merged[key] = event if key not in merged else _repeat(event, merged[key])
        unique = list(merged.values())
        for start in range(0, len(unique), self._batch):
            chunk = unique[start : start + self._batch]
            keys = [self._key(event) for event in chunk]
            current = await self._client.txn([], [Get(key) for key in keys])
            compares, puts = [], []
            lease = await self._lease_id()
            for key, event, old in zip(keys, chunk, current.gets, strict=True):
                latest = (
                    event if old is None else _repeat(event, Event.model_validate_json(old.value))
                )
                compares.append(
                    Compare(key, "create", "=", 0)
                    if old is None
                    else Compare(key, "mod", "=", old.mod_revision)
                )
                value = latest.model_dump_json(by_alias=True, exclude_none=True).encode()
                puts.append(Put(key, value, lease))
            try:
                result = await self._client.txn(compares, puts)
            except StoreError as exc:
                if "lease" not in str(exc):
                    raise
                self._lease = None
                result = None
            if result is None or not result.succeeded:
                for event in chunk:
                    await self.record(event)

    def _key(self, event: Event) -> bytes:
        who = event.involved_object
        return self._keys.event(who.kind, who.domain, who.name, event.reason)

    async def list(self, key: ObjectKey | None = None) -> list[Event]:
        prefix = (
            self._keys.events_root
            if key is None
            else self._keys.event(key.kind, key.domain, key.name)
        )
        kvs, _, _ = await self._client.range(prefix, prefix_end(prefix))
        events: list[Event] = []
        for kv in kvs:
            try:
                events.append(Event.model_validate_json(kv.value))
            except ValueError as exc:
                logger.warning("skipping undecodable event %s: %s", unquote(kv.key.decode()), exc)
        events.sort(key=lambda e: (e.last_timestamp, e.first_timestamp))
        return events


def _repeat(event: Event, old: Event) -> Event:
    """``event`` as a repeat of ``old``: counts add up, the first time stays."""
    return event.model_copy(
        update={"count": old.count + event.count, "first_timestamp": old.first_timestamp}
    )
