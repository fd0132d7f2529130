"""Writes: every object write is a compare-and-swap etcd transaction.

``commit(ops)`` is the one write path; ``create``/``update``/``delete`` are
one-op commits. It runs in three steps:

1. **validate** every op before anything is written: known kind, domain
   matching the kind's scope, no object named twice;
2. **chunk** the ops so that no transaction carries more than
   ``max_txn_ops`` puts/deletes (a create costs 1, an update or delete up to
   2 because removing an object deletes its spec and status keys);
3. per chunk, **read** the current spec and status of the objects it updates
   or deletes (one transaction), **plan** each op against what was read, and
   **write** the chunk in one transaction whose compares pin every object:
   ``create_revision == 0`` for a create, ``mod_revision == <read>`` for the
   rest. If a compare fails, the transaction's failure branch reads the
   objects again, so the error names the one that changed.

A chunk is all-or-nothing, a commit is not: when a later chunk fails, the
chunks before it **stay written**. Callers that need all-or-nothing across a
large apply validate first (an invalid document then writes nothing) and
keep each apply within ``max_txn_ops``.

A conflict on an op the caller made conditional (a create, or an update or
delete naming a resourceVersion) raises ConflictError/AlreadyExists. An op
without a resourceVersion is last-writer-wins: the chunk is re-read and
retried a few times instead.

Removing an object deletes its status key only when one exists: when the
read saw none, the transaction instead compares that it still has none
(``create_revision == 0``), so a status written meanwhile fails the
compare, the chunk is read again, and the status is deleted with the spec
rather than orphaned. A user whose role may write an object's spec but not
its status (a domain's, GitOps') thus deletes an object that never had a
status; a status that exists is the controller's to remove (the finalizer
path).

Semantics follow Kubernetes: ``generation`` grows only when ``spec``
changes; ``uid``, ``creationTimestamp`` and ``deletionTimestamp`` are the
store's, whatever the caller sent; deleting an object with finalizers only
sets ``deletionTimestamp``; an update that empties the finalizers of an
object being deleted removes it. An update that changes nothing writes
nothing. ``update_status`` lives in :mod:`adapters.etcd.store`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.etcd.client import KV, Compare, DeleteKey, EtcdClient, Get, Put
from adapters.etcd.codec import decode, encode_spec, load, spec_dict
from adapters.etcd.keys import KeySpace
from adapters.protocols import Create, Delete, ObjectKey, Update, WriteOp
from crds.errors import AlreadyExists, ConflictError, NotFound, SpecError
from crds.meta import Resource, Scope
from crds.registry import KINDS

__all__ = ["Writer", "op_key"]

logger = logging.getLogger(__name__)

_ATTEMPTS = 16
"""Each round of racing writers lets at least one through, so N racers need at most N."""
_PRESERVED = ("uid", "creationTimestamp", "deletionTimestamp")


def op_key(op: WriteOp) -> ObjectKey:
    return op.key if isinstance(op, Delete) else ObjectKey.of(op.obj)


def _op_cost(op: WriteOp) -> int:
    return 1 if isinstance(op, Create) else 2


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Current:
    spec: dict[str, Any] | None
    mod_revision: int
    status: bytes | None


@dataclass
class _Plan:
    key: ObjectKey
    build: Callable[[int], Resource | None]
    """The op's result, given the revision the transaction committed at."""
    compare: Compare | None = None
    writes: list[Put | DeleteKey] = field(default_factory=list)
    guards: list[Compare] = field(default_factory=list)
    """Further compares (a status key still absent); when one fails the chunk is re-read."""
    conditional: bool = True
    """True when a failed compare is the caller's conflict, False when a retry may fix it."""


class Writer:
    def __init__(self, client: EtcdClient, keys: KeySpace, max_txn_ops: int) -> None:
        self._client = client
        self._keys = keys
        self._max_txn_ops = max_txn_ops

    async def commit(self, ops: Sequence[WriteOp]) -> list[Resource | None]:
        validate(ops)
        results: list[Resource | None] = []
        for chunk in self._chunks(ops):
            results.extend(await self._commit_chunk(chunk))
        return results

    def _chunks(self, ops: Sequence[WriteOp]) -> list[list[WriteOp]]:
        chunks: list[list[WriteOp]] = [[]]
        cost = 0
        for op in ops:
            if cost + _op_cost(op) > self._max_txn_ops:
                chunks.append([])
                cost = 0
            chunks[-1].append(op)
            cost += _op_cost(op)
        return [chunk for chunk in chunks if chunk]

    async def _commit_chunk(self, ops: list[WriteOp]) -> list[Resource | None]:
        for attempt in range(1, _ATTEMPTS + 1):
            current = await self._read([op_key(op) for op in ops if not isinstance(op, Create)])
            plans = [self._plan(op, current) for op in ops]
            compared = [p for p in plans if p.compare is not None]
            writes = [w for p in plans for w in p.writes]
            if not writes:
                return [p.build(0) for p in plans]
            result = await self._client.txn(
                [p.compare for p in compared if p.compare is not None]
                + [g for p in plans for g in p.guards],
                writes,
                [Get(self._keys.spec(p.key)) for p in compared],
            )
            if result.succeeded:
                logger.debug("committed %d ops at revision %d", len(ops), result.revision)
                return [p.build(result.revision) for p in plans]
            conflicts = [
                (p, kv) for p, kv in zip(compared, result.gets, strict=True) if not _holds(p, kv)
            ]
            for plan, kv in conflicts:
                if plan.conditional:
                    raise _conflict(plan, kv)
            logger.debug("chunk of %d ops raced a concurrent write (attempt %d)", len(ops), attempt)
        raise ConflictError(
            f"{', '.join(str(op_key(op)) for op in ops)}: kept changing during "
            f"{_ATTEMPTS} write attempts"
        )

    async def _read(self, keys: list[ObjectKey]) -> dict[ObjectKey, _Current]:
        """Spec and status of ``keys``, each batch read in one transaction."""
        current: dict[ObjectKey, _Current] = {}
        per_txn = self._max_txn_ops // 2
        for start in range(0, len(keys), per_txn):
            batch = keys[start : start + per_txn]
            gets = [Get(k) for key in batch for k in (self._keys.spec(key), self._keys.status(key))]
            result = await self._client.txn([], gets)
            for i, key in enumerate(batch):
                spec_kv, status_kv = result.gets[2 * i], result.gets[2 * i + 1]
                current[key] = _Current(
                    spec=None if spec_kv is None else load(spec_kv.value),
                    mod_revision=0 if spec_kv is None else spec_kv.mod_revision,
                    status=None if status_kv is None else status_kv.value,
                )
        return current

    def _plan(self, op: WriteOp, current: dict[ObjectKey, _Current]) -> _Plan:
        if isinstance(op, Create):
            return self._plan_create(op.obj)
        key = op_key(op)
        now = current[key]
        if now.spec is None:
            raise NotFound(f"{key} not found")
        version = (
            op.resource_version if isinstance(op, Delete) else op.obj.metadata.resource_version
        )
        if version is not None and version != str(now.mod_revision):
            raise ConflictError(
                f"{key}: resourceVersion {version} is stale (stored: {now.mod_revision})"
            )
        compare = Compare(self._keys.spec(key), "mod", "=", now.mod_revision)
        conditional = version is not None
        if isinstance(op, Update):
            return self._plan_update(op.obj, key, now, compare, conditional)
        return self._plan_delete(key, now, compare, conditional)

    def _plan_create(self, obj: Resource) -> _Plan:
        key = ObjectKey.of(obj)
        metadata = obj.metadata.model_copy(
            update={
                "uid": str(uuid.uuid4()),
                "generation": 1,
                "creation_timestamp": datetime.now(UTC),
                "deletion_timestamp": None,
                "resource_version": None,
            }
        )
        data = spec_dict(obj.model_copy(update={"metadata": metadata}))
        return _Plan(
            key=key,
            build=lambda revision: decode(data, None, revision),
            compare=Compare(self._keys.spec(key), "create", "=", 0),
            writes=[Put(self._keys.spec(key), encode_spec(data))],
        )

    def _plan_update(
        self, obj: Resource, key: ObjectKey, now: _Current, compare: Compare, conditional: bool
    ) -> _Plan:
        assert now.spec is not None
        stored_meta = now.spec["metadata"]
        data = spec_dict(obj)
        meta = data["metadata"]
        for name in _PRESERVED:
            if name in stored_meta:
                meta[name] = stored_meta[name]
            else:
                meta.pop(name, None)
        spec_changed = data.get("spec") != now.spec.get("spec")
        meta["generation"] = stored_meta.get("generation", 1) + (1 if spec_changed else 0)
        if data == now.spec:
            stored = now.spec
            return _Plan(key=key, build=lambda _: decode(stored, now.status, now.mod_revision))
        plan = _Plan(
            key=key,
            build=lambda revision: decode(data, now.status, revision),
            compare=compare,
            conditional=conditional,
        )
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            logger.info("%s: last finalizer removed; deleting it", key)
            plan.writes, plan.guards = self._removal(key, now)
        else:
            plan.writes = [Put(self._keys.spec(key), encode_spec(data))]
        return plan

    def _plan_delete(
        self, key: ObjectKey, now: _Current, compare: Compare, conditional: bool
    ) -> _Plan:
        assert now.spec is not None
        meta = now.spec["metadata"]
        if not meta.get("finalizers"):
            writes, guards = self._removal(key, now)
            return _Plan(
                key=key,
                build=lambda _: None,
                compare=compare,
                conditional=conditional,
                writes=writes,
                guards=guards,
            )
        if meta.get("deletionTimestamp"):
            stored = now.spec
            return _Plan(key=key, build=lambda _: decode(stored, now.status, now.mod_revision))
        data = {**now.spec, "metadata": {**meta, "deletionTimestamp": _now()}}
        logger.info("%s: deletion waits for finalizers %s", key, meta["finalizers"])
        return _Plan(
            key=key,
            build=lambda revision: decode(data, now.status, revision),
            compare=compare,
            conditional=conditional,
            writes=[Put(self._keys.spec(key), encode_spec(data))],
        )

    def _removal(
        self, key: ObjectKey, now: _Current
    ) -> tuple[list[Put | DeleteKey], list[Compare]]:
        """The deletes that remove ``key`` and the guards they rely on."""
        # Spec first: a watcher sees DELETED before the status key goes.
        spec: list[Put | DeleteKey] = [DeleteKey(self._keys.spec(key))]
        status = self._keys.status(key)
        if now.status is None:
            return spec, [Compare(status, "create", "=", 0)]
        return [*spec, DeleteKey(status)], []


def _holds(plan: _Plan, kv: KV | None) -> bool:
    assert plan.compare is not None
    if plan.compare.target == "create":
        return kv is None
    return kv is not None and kv.mod_revision == plan.compare.value


def _conflict(plan: _Plan, kv: KV | None) -> ConflictError | NotFound:
    assert plan.compare is not None
    if plan.compare.target == "create":
        return AlreadyExists(f"{plan.key} already exists")
    if kv is None:
        return NotFound(f"{plan.key} not found (deleted meanwhile)")
    return ConflictError(
        f"{plan.key}: resourceVersion {plan.compare.value} is stale (stored: {kv.mod_revision})"
    )


def validate(ops: Sequence[WriteOp]) -> None:
    """SpecError for the first op that cannot be written, before anything is."""
    seen: set[ObjectKey] = set()
    for op in ops:
        key = op_key(op)
        cls = KINDS.get(key.kind)
        if cls is None:
            raise SpecError(f"{key}: unknown kind {key.kind!r}", field="kind")
        if (cls.SCOPE is Scope.DOMAIN) != (key.domain is not None):
            raise SpecError(f"{key}: {key.kind} is {cls.SCOPE.value}-scoped", field="domain")
        if key in seen:
            raise SpecError(f"{key} appears twice in one commit")
        seen.add(key)
