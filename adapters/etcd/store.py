"""EtcdStore: the :class:`adapters.protocols.Store` on etcd.

Objects are split over two keys (:mod:`adapters.etcd.keys`): users write the
spec key, controllers the status key, so neither overwrites the other and
``resourceVersion`` (the spec key's mod_revision) moves only with spec-side
writes. Reads put them back together:

- ``get`` reads both keys in one transaction;
- ``list`` range-reads the spec prefix, then the status prefix *at the same
  revision* (``revision=`` on the range request), in pages, so the result is
  one consistent snapshot; label selectors are applied to the raw labels
  before pydantic validates anything;
- writes go through :class:`adapters.etcd.writes.Writer`, watches through
  :func:`adapters.etcd.watch.watch_objects`, events through
  :class:`adapters.etcd.events.EventLog`.

:func:`open_store` connects to the first endpoint that answers.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from adapters.etcd.client import (
    KV,
    CompactedError,
    Compare,
    DeleteKey,
    EtcdClient,
    Get,
    Put,
    prefix_end,
)
from adapters.etcd.codec import decode, encode_status, gc_paused, load
from adapters.etcd.events import EventLog
from adapters.etcd.keys import KeySpace
from adapters.etcd.settings import EtcdSettings, parse_endpoint
from adapters.etcd.watch import watch_objects
from adapters.etcd.writes import Writer
from adapters.protocols import Create, Delete, ListResult, ObjectKey, Update, WatchEvent, WriteOp
from crds.errors import NotFound, SpecError, StoreError, Unavailable
from crds.events import Event
from crds.meta import Resource
from crds.registry import KINDS
from crds.selectors import Selector, parse_selector

__all__ = ["EtcdStore", "Snapshot", "open_store"]

logger = logging.getLogger(__name__)

PAGE_SIZE = 5000
"""Keys per range request; every page of one list reads the same revision."""

Snapshot = dict[ObjectKey, tuple[KV, KV | None]]
"""Per object: its spec key/value and its status key/value (None when never written)."""


class EtcdStore:
    """Objects, raw values and events under ``settings.prefix`` in one etcd."""

    def __init__(self, client: EtcdClient, settings: EtcdSettings) -> None:
        self.settings = settings
        self.keys = KeySpace(settings.prefix)
        self._client = client
        self._writer = Writer(client, self.keys, settings.max_txn_ops)
        self._events = EventLog(client, self.keys, settings.event_ttl, batch=settings.max_txn_ops)
        self.closed = False

    @property
    def endpoint(self) -> str:
        """The endpoint this store is connected to."""
        return str(self._client.endpoint)

    @property
    def client(self) -> EtcdClient:
        return self._client

    # reads

    async def get(self, key: ObjectKey) -> Resource:
        result = await self._client.txn([], [Get(self.keys.spec(key)), Get(self.keys.status(key))])
        spec, status = result.gets
        if spec is None:
            raise NotFound(f"{key} not found")
        return self._decode(key, load(spec.value), status, spec.mod_revision)

    async def list(
        self,
        kind: str | None = None,
        *,
        domain: str | None = None,
        selector: str | None = None,
    ) -> ListResult:
        wanted = parse_selector(selector) if selector else None
        snapshot, revision = await self.snapshot(kind, domain)
        items: builtins.list[Resource] = []
        with gc_paused():
            for key, (spec, status) in snapshot.items():
                try:
                    data = load(spec.value)
                    if wanted is not None and not _selected(wanted, data):
                        continue
                    items.append(self._decode(key, data, status, spec.mod_revision))
                except (StoreError, ValueError) as exc:
                    logger.warning("skipping %s in list, its stored value is invalid: %s", key, exc)
        items.sort(key=lambda o: (o.kind, o.metadata.domain or "", o.metadata.name))
        return ListResult(items, revision)

    async def list_wire(
        self,
        kind: str | None = None,
        *,
        domain: str | None = None,
        selector: str | None = None,
    ) -> tuple[builtins.list[dict[str, Any]], int]:
        """Like :meth:`list`, but the stored wire dicts, not validated models.

        Every stored object was validated when it was written, so readers that
        only show objects (``dcosctl get`` of thousands) skip building models.
        Each dict has ``metadata.resourceVersion`` and ``status`` filled in.
        """
        wanted = parse_selector(selector) if selector else None
        snapshot, revision = await self.snapshot(kind, domain)
        items: builtins.list[dict[str, Any]] = []
        with gc_paused():
            for key, (spec, status) in snapshot.items():
                try:
                    data = load(spec.value)
                    if wanted is not None and not _selected(wanted, data):
                        continue
                    data["metadata"]["resourceVersion"] = str(spec.mod_revision)
                    data["status"] = (
                        _default_status(data["kind"]) if status is None else load(status.value)
                    )
                except (TypeError, KeyError, ValueError) as exc:
                    logger.warning("skipping %s in list, its stored value is invalid: %s", key, exc)
                    continue
                items.append(data)
            items.sort(key=_wire_sort_key)
        return items, revision

    async def snapshot(
        self, kind: str | None, domain: str | None, revision: int = 0
    ) -> tuple[Snapshot, int]:
        """Raw spec/status pairs of ``kind`` (all when None) in ``domain`` as of
        ``revision`` (0: now). CompactedError when that revision is gone."""
        for attempt in range(3):
            try:
                specs, at = await self._scan(self.keys.spec_prefix(kind, domain), revision)
                statuses, _ = await self._scan(self.keys.status_prefix(kind, domain), at)
                break
            except CompactedError:
                if revision or attempt == 2:
                    raise
                logger.info("compaction ran during a list; listing again")
        skip = len(self.keys.status_root)
        status_by_tail = {kv.key[skip:]: kv for kv in statuses}
        skip = len(self.keys.spec_root)
        snapshot: Snapshot = {}
        for kv in specs:
            parsed = self.keys.parse(kv.key)
            if parsed is None or (domain is not None and parsed[1].domain != domain):
                continue
            snapshot[parsed[1]] = (kv, status_by_tail.get(kv.key[skip:]))
        return snapshot, at

    async def _scan(self, prefix: bytes, revision: int) -> tuple[builtins.list[KV], int]:
        end = prefix_end(prefix)
        start, out = prefix, builtins.list[KV]()
        while True:
            kvs, at, more = await self._client.range(start, end, revision=revision, limit=PAGE_SIZE)
            out.extend(kvs)
            revision = revision or at
            if not more or not kvs:
                return out, revision
            start = kvs[-1].key + b"\0"

    def _decode(
        self, key: ObjectKey, spec: dict[str, object], status: KV | None, revision: int
    ) -> Resource:
        try:
            return decode(spec, None if status is None else status.value, revision)
        except (SpecError, ValidationError) as exc:
            raise StoreError(f"{key}: stored value does not decode: {exc}") from exc

    def watch(
        self,
        kind: str | None = None,
        *,
        domain: str | None = None,
        revision: int,
    ) -> AsyncGenerator[WatchEvent, None]:
        """See :mod:`adapters.etcd.watch`; ``aclose()`` it (``contextlib.aclosing``) when done."""
        return watch_objects(self, kind=kind, domain=domain, revision=revision)

    # writes

    async def commit(self, ops: Sequence[WriteOp]) -> builtins.list[Resource | None]:
        return await self._writer.commit(ops)

    async def create(self, obj: Resource) -> Resource:
        (created,) = await self.commit([Create(obj)])
        assert created is not None
        return created

    async def update(self, obj: Resource) -> Resource:
        (updated,) = await self.commit([Update(obj)])
        assert updated is not None
        return updated

    async def delete(
        self, key: ObjectKey, *, resource_version: str | None = None
    ) -> Resource | None:
        (deleted,) = await self.commit([Delete(key, resource_version)])
        return deleted

    async def update_status(self, obj: Resource) -> Resource:
        key = ObjectKey.of(obj)
        spec_key = self.keys.spec(key)
        status = encode_status(obj)
        result = await self._client.txn(
            [Compare(spec_key, "create", ">", 0)],
            [Put(self.keys.status(key), status), Get(spec_key)],
        )
        if not result.succeeded or result.gets[0] is None:
            raise NotFound(f"{key} not found")
        spec = result.gets[0]
        return decode(load(spec.value), status, spec.mod_revision)

    # the rest of the Store protocol

    async def revision(self) -> int:
        _, revision, _ = await self._client.range(self.keys.spec_root, limit=1)
        return revision

    async def get_raw(self, path: str) -> bytes | None:
        kvs, _, _ = await self._client.range(self.keys.raw(path))
        return kvs[0].value if kvs else None

    async def put_raw(self, path: str, value: bytes) -> None:
        await self._client.txn([], [Put(self.keys.raw(path), value)])

    async def delete_raw(self, path: str) -> None:
        await self._client.txn([], [DeleteKey(self.keys.raw(path))])

    async def list_raw(self, prefix: str) -> builtins.list[tuple[str, bytes]]:
        """Raw values whose path starts with ``prefix`` (one consistent snapshot)."""
        start = self.keys.raw(prefix) + (b"/" if prefix.endswith("/") else b"")
        kvs, _ = await self._scan(start, 0)
        skip = len(self.keys.root) + 1
        return [(kv.key[skip:].decode(), kv.value) for kv in kvs]

    async def commit_raw(self, puts: Mapping[str, bytes], deletes: Sequence[str] = ()) -> None:
        """Puts and deletes in chunks of ``max_txn_ops``, each one transaction."""
        ops: builtins.list[Put | DeleteKey] = [
            Put(self.keys.raw(path), value) for path, value in puts.items()
        ]
        ops.extend(DeleteKey(self.keys.raw(path)) for path in deletes)
        size = self.settings.max_txn_ops
        for begin in range(0, len(ops), size):
            await self._client.txn([], ops[begin : begin + size])

    async def record_event(self, event: Event) -> None:
        await self._events.record(event)

    async def record_events(self, events: Sequence[Event]) -> None:
        await self._events.record_many(events)

    async def events(self, key: ObjectKey | None = None) -> builtins.list[Event]:
        return await self._events.list(key)

    async def compact(self, revision: int) -> None:
        """Drop etcd's history before ``revision`` (maintenance and tests)."""
        await self._client.compact(revision)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self._client.close()


@functools.cache
def _default_status_json(kind: str) -> str:
    cls = KINDS.get(kind)
    field = cls.model_fields["status"] if cls is not None else None
    if field is None or field.is_required():
        return "{}"
    default = field.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        return json.dumps(default.model_dump(mode="json", by_alias=True, exclude_none=True))
    return json.dumps(to_jsonable_python(default, exclude_none=True))


def _default_status(kind: str) -> dict[str, Any]:
    """The wire form of a kind's default status, for objects with no status key yet."""
    loaded: dict[str, Any] = json.loads(_default_status_json(kind))
    return loaded


def _wire_sort_key(data: dict[str, Any]) -> tuple[str, str, str]:
    meta = data["metadata"]
    return (data["kind"], meta.get("domain") or "", meta["name"])


def _selected(selector: Selector, data: dict[str, object]) -> bool:
    metadata = data.get("metadata")
    labels = metadata.get("labels", {}) if isinstance(metadata, dict) else {}
    return selector.matches(labels if isinstance(labels, dict) else {})


@contextlib.asynccontextmanager
async def open_store(settings: EtcdSettings) -> AsyncIterator[EtcdStore]:
    """An :class:`EtcdStore` on the first of ``settings.endpoints`` that answers.

    Unavailable, naming every endpoint tried, when none does.
    """
    failures: list[str] = []
    store: EtcdStore | None = None
    for text in settings.endpoints:
        client = EtcdClient(settings, parse_endpoint(text, tls=settings.tls))
        candidate = EtcdStore(client, settings)
        try:
            await candidate.revision()
        except Unavailable as exc:
            failures.append(str(exc))
            with contextlib.suppress(StoreError):
                await candidate.close()
            continue
        except BaseException:
            with contextlib.suppress(StoreError):
                await candidate.close()
            raise
        store = candidate
        break
    if store is None:
        tried = ", ".join(settings.endpoints)
        raise Unavailable(f"no etcd endpoint answers (tried {tried}): {'; '.join(failures)}")
    logger.debug("connected to etcd at %s", store.endpoint)
    try:
        yield store
    finally:
        await store.close()
