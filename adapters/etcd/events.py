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
from collections.abc import Callable
from urllib.parse import unquote

from adapters.etcd.client import Compare, EtcdClient, Put, prefix_end
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
        clock: Callable[[], float] = time.monotonic,  # a fake clock for tests
    ) -> None:
        self._client = client
        self._keys = keys
        self._ttl = ttl
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
        key = self._keys.event(who.kind, who.domain, who.name, event.reason)
        for _ in range(_ATTEMPTS):
            kvs, _, _ = await self._client.range(key)
            if kvs:
                old = Event.model_validate_json(kvs[0].value)
                event = event.model_copy(
                    update={
                        "count": old.count + event.count,
                        "first_timestamp": old.first_timestamp,
                    }
                )
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
