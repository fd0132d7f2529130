"""Durable records of the App controller: instances, rollout state, the framework id.

Keys, under the store's prefix (raw values, not objects)::

    instances/<domain>/<app>/<instance id>   Instance.to_json()
    rollouts/<domain>/<app>                  RolloutState.to_json()
    framework/id                             the Mesos framework id

:class:`InstanceRecords` is the one place instance records change while this
process leads. It keeps every record in memory (loaded once per term with
:meth:`InstanceRecords.load`) and writes behind: :meth:`~InstanceRecords.put`
and :meth:`~InstanceRecords.remove` change memory and mark the record dirty;
:meth:`~InstanceRecords.flush` writes everything dirty in as few etcd
transactions as its limits allow (``RawStore.commit_raw``), a large flush in
parts of ``FLUSH_PART`` records written concurrently (at most
``FLUSH_CONCURRENCY`` at once; the flush ends when every part has). Callers that need
durability await ``flush`` before acting: the framework before it sends an
ACCEPT with LAUNCH (a launch is at most once) and before it acknowledges a
status update (an update is never lost). Flushes are serialised, so writes of
one record reach etcd in the order they were made, and a failed flush leaves
its records dirty for the next one.

Every change calls the listeners with the app's ``(domain, name)``: the App
controller queues that App (the runtime coalesces repeats). Observers
(:class:`RecordObserver`, e.g. the CMDB write-back) are told of each record
itself, and of the whole set after each :meth:`~InstanceRecords.load`.

:meth:`~InstanceRecords.load` also reads every rollout state in the same
term start (one range read), so :meth:`~InstanceRecords.rollout` answers
from memory: while this process leads it is the only writer of those keys.

**Progress is not written.** A rollout state that differs from the persisted
one only in ``progress_mark`` and ``last_progress_at``, both PROGRESSING, is
kept in memory only (:meth:`~InstanceRecords.save_rollout`): a ramp of a
thousand Apps would otherwise write each state once per growth of its
healthy count. Every other change (phase, target, backoff, history, blocked)
is written with the latest progress. A new leader therefore reads a progress
clock that may be behind; the App controller restarts the clock of a
PROGRESSING rollout it inherited (:meth:`~InstanceRecords.inherited`) at its
first reconcile of the term, so a failover may extend a progress deadline,
never shorten it.

Records are also indexed by app (``(domain, app)`` -> instance id -> record),
kept in step by :meth:`~InstanceRecords.load`, :meth:`~InstanceRecords.put`
and :meth:`~InstanceRecords.remove`, so :meth:`~InstanceRecords.of_app` reads
only that app's records; and by hostname (hostname -> app -> count of
records), so :meth:`~InstanceRecords.apps_on` names the apps with records on
a host without a scan (the App controller queues them when the host's
lifecycle changes).

The next hop is :mod:`reconciler.framework`, which writes the records, and
:mod:`reconciler.controllers.app`, which reads them.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Protocol

from adapters.protocols import RawStore
from reconciler.apps.instances import Instance
from reconciler.apps.version import RolloutPhase, RolloutState

__all__ = ["InstanceRecords", "RecordObserver", "instance_path", "rollout_path"]

logger = logging.getLogger(__name__)

INSTANCES = "instances/"
ROLLOUTS = "rollouts/"
FRAMEWORK_ID = "framework/id"

FLUSH_PART = 128
"""Records per ``commit_raw`` call of one flush (etcd's default ``--max-txn-ops``)."""
FLUSH_CONCURRENCY = 8
"""``commit_raw`` calls of one flush in flight at once."""

Listener = Callable[[str, str], None]
"""``listener(domain, app)``: the records of that app changed."""


class RecordObserver(Protocol):
    """Told of every record: the set after a load, then each change (None: removed)."""

    def loaded(self, records: builtins.list[Instance]) -> None: ...

    def changed(self, instance_id: str, record: Instance | None) -> None: ...


def instance_path(inst: Instance) -> str:
    return f"{INSTANCES}{inst.domain}/{inst.app}/{inst.instance_id}"


def rollout_path(domain: str, app: str) -> str:
    return f"{ROLLOUTS}{domain}/{app}"


class InstanceRecords:
    """Instance records in memory, written behind to etcd (see the module docstring)."""

    def __init__(self, store: RawStore, *, timeout: float = 10.0) -> None:
        self._store = store
        self._timeout = timeout
        self._records: dict[str, Instance] = {}
        # (domain, app) -> instance id -> record; no empty buckets
        self._by_app: dict[tuple[str, str], dict[str, Instance]] = {}
        # hostname -> (domain, app) -> records there; no empty buckets
        self._by_host: dict[str, Counter[tuple[str, str]]] = {}
        self._dirty: set[str] = set()  # ids whose memory value is not yet in etcd
        self._deleted: dict[str, str] = {}  # id -> path, removed in memory, not yet in etcd
        self._rollouts: dict[tuple[str, str], RolloutState | None] = {}  # current
        self._persisted: dict[tuple[str, str], RolloutState | None] = {}  # in etcd
        self._inherited: set[tuple[str, str]] = set()  # read from etcd, not saved this term
        self._rollouts_loaded = False  # every persisted state is in _rollouts (load)
        self._lock = asyncio.Lock()  # one flush at a time: per-key write order
        self._listeners: list[Listener] = []
        self._observers: list[RecordObserver] = []
        self.loaded = False
        self.flushes = 0  # commit_raw calls made, for tests and metrics

    # ------------------------------------------------------------ reads

    async def load(self) -> None:
        """Replace memory with what etcd holds (at the start of each term)."""
        async with self._lock, asyncio.timeout(self._timeout):
            raw = await self._store.list_raw(INSTANCES)
            rollouts = await self._store.list_raw(ROLLOUTS)
        records: dict[str, Instance] = {}
        by_app: dict[tuple[str, str], dict[str, Instance]] = {}
        by_host: dict[str, Counter[tuple[str, str]]] = {}
        for path, value in raw:
            try:
                inst = Instance.from_json(value)
            except ValueError:
                logger.exception("instance record %s does not decode; ignored", path)
                continue
            old = records.get(inst.instance_id)
            if old is not None:
                _unindex(by_app, old)
                _unhost(by_host, old)
            records[inst.instance_id] = inst
            by_app.setdefault((inst.domain, inst.app), {})[inst.instance_id] = inst
            _host(by_host, inst)
        self._records, self._dirty, self._deleted = records, set(), {}
        self._by_app, self._by_host = by_app, by_host
        self._rollouts.clear()
        self._persisted.clear()
        self._inherited.clear()
        complete = True
        for path, value in rollouts:
            try:
                domain, app = path[path.index(ROLLOUTS) + len(ROLLOUTS) :].split("/", 1)
                state = RolloutState.from_json(value)
                self._rollouts[(domain, app)] = self._persisted[(domain, app)] = state
                self._inherited.add((domain, app))
            except ValueError:
                logger.exception("rollout state %s does not decode; read again when needed", path)
                complete = False
        self._rollouts_loaded = complete
        self.loaded = True
        logger.info("loaded %d instance records", len(records))
        for observer in self._observers:
            observer.loaded(builtins.list(records.values()))

    def get(self, instance_id: str) -> Instance | None:
        return self._records.get(instance_id)

    def of_app(self, domain: str, app: str) -> builtins.list[Instance]:
        return list(self._by_app.get((domain, app), {}).values())

    def all(self) -> builtins.list[Instance]:
        return list(self._records.values())

    def apps(self) -> set[tuple[str, str]]:
        return set(self._by_app)

    def apps_on(self, hostname: str) -> set[tuple[str, str]]:
        """The apps with at least one record (any state) on ``hostname``."""
        return set(self._by_host.get(hostname, ()))

    @property
    def dirty(self) -> bool:
        return bool(self._dirty or self._deleted)

    # ----------------------------------------------------------- writes

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def observe(self, observer: RecordObserver) -> None:
        self._observers.append(observer)

    def put(self, inst: Instance) -> None:
        """Change memory now; durable after the next :meth:`flush`."""
        old = self._records.get(inst.instance_id)
        if old is not None and (old.domain, old.app) != (inst.domain, inst.app):
            _unindex(self._by_app, old)
        if old is not None:
            _unhost(self._by_host, old)
        _host(self._by_host, inst)
        self._records[inst.instance_id] = inst
        self._by_app.setdefault((inst.domain, inst.app), {})[inst.instance_id] = inst
        self._dirty.add(inst.instance_id)
        self._deleted.pop(inst.instance_id, None)
        for observer in self._observers:
            observer.changed(inst.instance_id, inst)
        self.notify(inst.domain, inst.app)

    def remove(self, instance_ids: Iterable[str]) -> None:
        for iid in instance_ids:
            inst = self._records.pop(iid, None)
            if inst is None:
                continue
            _unindex(self._by_app, inst)
            _unhost(self._by_host, inst)
            self._dirty.discard(iid)
            self._deleted[iid] = instance_path(inst)
            for observer in self._observers:
                observer.changed(iid, None)
            self.notify(inst.domain, inst.app)

    async def flush(self) -> None:
        """Write every pending change; raises (changes kept pending) when etcd fails."""
        async with self._lock:
            if not self._dirty and not self._deleted:
                return
            dirty, deleted = self._dirty, self._deleted
            self._dirty, self._deleted = set(), {}
            puts = {
                instance_path(self._records[iid]): self._records[iid].to_json().encode()
                for iid in dirty
                if iid in self._records
            }
            try:
                async with asyncio.timeout(self._timeout):
                    await self._commit(puts, list(deleted.values()))
                self.flushes += 1
            except BaseException:
                self._dirty |= {iid for iid in dirty if iid in self._records}
                for iid, path in deleted.items():
                    if iid not in self._records:
                        self._deleted.setdefault(iid, path)
                raise

    async def _commit(self, puts: dict[str, bytes], deletes: builtins.list[str]) -> None:
        """Write ``puts`` and ``deletes``: one call, or parts written concurrently.

        Every part is awaited, failed or not, before this returns or raises,
        so no write of this flush can land after a later flush's write of the
        same key."""
        if len(puts) + len(deletes) <= FLUSH_PART:
            await self._store.commit_raw(puts, deletes)
            return
        items = builtins.list(puts.items())
        parts = [dict(items[i : i + FLUSH_PART]) for i in range(0, len(items), FLUSH_PART)]
        gate = asyncio.Semaphore(FLUSH_CONCURRENCY)

        async def write(part: dict[str, bytes], gone: builtins.list[str]) -> None:
            async with gate:
                await self._store.commit_raw(part, gone)

        writes = [write(part, []) for part in parts]
        if deletes:
            writes.append(write({}, deletes))
        outcomes = await asyncio.gather(*writes, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    def notify(self, domain: str, app: str) -> None:
        """Tell the listeners the app changed (records, or what the framework knows)."""
        for listener in self._listeners:
            listener(domain, app)

    # -------------------------------------------------- rollout state

    async def rollout(self, domain: str, app: str) -> RolloutState | None:
        """The rollout state of an app: the last saved, or read from etcd once."""
        key = (domain, app)
        if key not in self._rollouts and self._rollouts_loaded:
            return None  # load() read every persisted state; a new one is saved through here
        if key not in self._rollouts:
            async with asyncio.timeout(self._timeout):
                raw = await self._store.get_raw(rollout_path(domain, app))
            state = None if raw is None else RolloutState.from_json(raw)
            self._rollouts[key] = self._persisted[key] = state
            if state is not None:
                self._inherited.add(key)
        return self._rollouts[key]

    def inherited(self, domain: str, app: str) -> bool:
        """The app's rollout state was read from etcd this term and not saved since:
        its progress clock may be behind the previous leader's."""
        return (domain, app) in self._inherited

    async def save_rollout(self, domain: str, app: str, state: RolloutState) -> None:
        """Make ``state`` the app's rollout state; written to etcd unless etcd holds it
        already or it differs only in progress (see the module docstring)."""
        key = (domain, app)
        self._inherited.discard(key)
        persisted = self._persisted.get(key)
        if persisted == state or (persisted is not None and _progress_only(persisted, state)):
            self._rollouts[key] = state
            return
        async with asyncio.timeout(self._timeout):
            await self._store.commit_raw({rollout_path(domain, app): state.to_json().encode()})
        self._rollouts[key] = self._persisted[key] = state

    async def delete_rollout(self, domain: str, app: str) -> None:
        async with asyncio.timeout(self._timeout):
            await self._store.commit_raw({}, [rollout_path(domain, app)])
        key = (domain, app)
        self._rollouts[key] = self._persisted[key] = None
        self._inherited.discard(key)

    # ---------------------------------------------------- framework id

    async def framework_id(self) -> str | None:
        async with asyncio.timeout(self._timeout):
            raw = await self._store.get_raw(FRAMEWORK_ID)
        return raw.decode() if raw else None

    async def save_framework_id(self, framework_id: str) -> None:
        async with asyncio.timeout(self._timeout):
            await self._store.commit_raw({FRAMEWORK_ID: framework_id.encode()})


def _progress_only(persisted: RolloutState, state: RolloutState) -> bool:
    """``state`` is ``persisted`` with only its progress moved on, both PROGRESSING."""
    if persisted.phase is not RolloutPhase.PROGRESSING or state.phase is not persisted.phase:
        return False
    if state.progress_mark < persisted.progress_mark:
        return False
    moved = persisted.model_copy(
        update={"progress_mark": state.progress_mark, "last_progress_at": state.last_progress_at}
    )
    return moved == state


def _unindex(by_app: dict[tuple[str, str], dict[str, Instance]], inst: Instance) -> None:
    """Drop ``inst`` from its app's bucket (and the bucket once empty)."""
    key = (inst.domain, inst.app)
    bucket = by_app.get(key)
    if bucket is None:
        return
    bucket.pop(inst.instance_id, None)
    if not bucket:
        del by_app[key]


def _host(by_host: dict[str, Counter[tuple[str, str]]], inst: Instance) -> None:
    """Count ``inst`` on its host (placed records only)."""
    if inst.hostname is not None:
        by_host.setdefault(inst.hostname, Counter())[(inst.domain, inst.app)] += 1


def _unhost(by_host: dict[str, Counter[tuple[str, str]]], inst: Instance) -> None:
    """Uncount ``inst`` from its host (and drop what is left empty)."""
    if inst.hostname is None:
        return
    apps = by_host.get(inst.hostname)
    if apps is None:
        return
    key = (inst.domain, inst.app)
    apps[key] -= 1
    if apps[key] <= 0:
        del apps[key]
    if not apps:
        del by_host[inst.hostname]
