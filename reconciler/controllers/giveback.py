"""The App controller's give-back: which borrowed instances move home, and its events.

:class:`GiveBack` is what the App controller calls around its plan
(``reconciler/controllers/app.py``):

- :meth:`GiveBack.choose`, before planning: for an App of a domain with
  ``sharedPool.borrow: WhenExhausted`` that has live instances on shared-pool
  hosts, asks the framework how many more instances the domain's own hosts
  take now (placement over the held offers, borrowing disabled, after every
  queued launch) and lets :func:`reconciler.domains.giveback.give_back` pick
  the borrowed instances to move. The plan replaces them as it replaces
  instances on a draining host, within the App's capacity bounds.
- :meth:`GiveBack.report`, after launching: pairs each moving instance with a
  replacement launched for it, and records the events ``GivingBack`` (the
  replacement is placed: instance, from host, to host) and ``GaveBack`` (the
  borrowed instance is being killed, its replacement healthy).
- :meth:`GiveBack.recheck`: an App that still borrows is looked at again
  after ``recheck_seconds``: home capacity returns through other Apps'
  records, which do not queue this App.

The pairs live in memory only: a new leader decides the same moves (the
decision is stateless) but may miss the events of moves already under way.
"""

from __future__ import annotations

from collections.abc import Sequence

from adapters.protocols import ObjectKey
from crds.app import App
from crds.domain import BorrowPolicy, Domain
from crds.events import EventKind
from crds.host import Host
from reconciler.apps import Instance, InstanceState, RolloutPhase, RolloutState, capacity_bounds
from reconciler.domains.giveback import borrowed, give_back
from reconciler.domains.slice import host_domain
from reconciler.framework import MesosFramework
from reconciler.placement import AppKey
from reconciler.runtime import Informer, Recorder

__all__ = ["RECHECK_SECONDS", "GiveBack"]

RECHECK_SECONDS = 1.0
"""An App with borrowed instances looks for home capacity this often."""


class GiveBack:
    def __init__(
        self,
        *,
        framework: MesosFramework,
        domains: Informer,
        hosts: Informer | None,
        recorder: Recorder,
        recheck_seconds: float = RECHECK_SECONDS,
    ) -> None:
        self._fw = framework
        self._domains = domains
        self._hosts = hosts
        self._recorder = recorder
        self._recheck = recheck_seconds
        self._pairs: dict[AppKey, dict[str, str]] = {}  # borrowed id -> replacement id
        self._announced: set[str] = set()  # borrowed ids whose GivingBack was recorded
        self._borrowing: set[AppKey] = set()  # Apps seen with borrowed instances

    def choose(
        self,
        app: App,
        domain: Domain | None,
        instances: Sequence[Instance],
        history: RolloutState | None,
        leaving: frozenset[str] = frozenset(),
    ) -> frozenset[str]:
        """Ids of the borrowed instances of ``app`` to move home now (none while
        some are on the ``leaving`` hosts)."""
        key = AppKey(app.metadata.domain or "", app.metadata.name)
        self._borrowing.discard(key)
        if domain is None or self._hosts is None or app.metadata.deletion_timestamp is not None:
            return frozenset()
        if domain.spec.shared_pool.borrow is not BorrowPolicy.WHEN_EXHAUSTED:
            return frozenset()
        shared = self._shared_hosts(instances)
        away = borrowed(instances, shared)
        if not away:
            return frozenset()
        self._borrowing.add(key)
        done = history is not None and history.phase is RolloutPhase.COMPLETE
        target = history.target_version if done and history is not None else None
        if target is None:
            return frozenset()
        bounds = capacity_bounds(app.spec.instances, app.spec.upgrade_strategy)
        active = sum(i.is_active for i in instances)
        limit = min(len(away), max(0, bounds.max_active - active))
        queued, room = self._fw.home_room(app, domain, version=target, limit=limit)
        return give_back(
            instances,
            target=target,
            wanted=app.spec.instances,
            max_active=bounds.max_active,
            shared=shared,
            home_room=room,
            queued_home=queued,
            leaving=leaving,
        )

    def recheck(self, key: AppKey, requeue_after: float | None) -> float | None:
        """``requeue_after``, shortened to the recheck period while the App borrows."""
        if key not in self._borrowing:
            return requeue_after
        return self._recheck if requeue_after is None else min(requeue_after, self._recheck)

    def report(
        self,
        app: App,
        key: AppKey,
        before: Sequence[Instance],
        moving: frozenset[str],
    ) -> None:
        """Pair the moves with this reconcile's launches (``before``: the instances
        planned over) and record GivingBack / GaveBack as they progress."""
        now = {i.instance_id: i for i in self._fw.instances(*key)}
        earlier = {i.instance_id for i in before}
        pairs = self._pairs.setdefault(key, {})
        fresh = sorted(iid for iid in now if iid not in earlier and iid not in set(pairs.values()))
        for iid in sorted(moving - pairs.keys()):
            if not fresh:
                break
            pairs[iid] = fresh.pop(0)
        emit = self._recorder.emit
        for gone, replacement in sorted(pairs.items()):
            old, new = now.get(gone), now.get(replacement)
            if new is None or new.is_terminal:
                self._forget(pairs, gone)  # the replacement ended: a new pair will form
                continue
            if gone not in self._announced and new.hostname is not None:
                self._announced.add(gone)
                source = old.hostname if old is not None else "the shared pool"
                message = f"giving back {gone}: from {source} to {new.hostname}"
                emit(app, EventKind.NORMAL, "GivingBack", message)
            if old is not None and old.is_active and old.state is not InstanceState.KILLING:
                if gone not in moving and gone not in self._announced:
                    self._forget(pairs, gone)  # no longer moving, nothing said yet
                continue
            if gone in self._announced and new.hostname is not None:
                source = old.hostname if old is not None else "the shared pool"
                message = (
                    f"gave back {gone} ({source}): replaced by {replacement} on {new.hostname}"
                )
                emit(app, EventKind.NORMAL, "GaveBack", message)
            self._forget(pairs, gone)
        if not pairs:
            self._pairs.pop(key, None)

    def forget(self, key: AppKey) -> None:
        """The App is gone."""
        for gone in self._pairs.pop(key, {}):
            self._announced.discard(gone)
        self._borrowing.discard(key)

    def _forget(self, pairs: dict[str, str], gone: str) -> None:
        pairs.pop(gone, None)
        self._announced.discard(gone)

    def _shared_hosts(self, instances: Sequence[Instance]) -> frozenset[str]:
        """The hosts of ``instances`` that belong to the shared pool (a Host no Domain owns)."""
        assert self._hosts is not None
        domains = [d for d in self._domains.list() if isinstance(d, Domain)]
        shared = set()
        for name in {i.hostname for i in instances if i.hostname is not None}:
            host = self._hosts.get(ObjectKey("Host", None, name))
            if isinstance(host, Host) and host_domain(host, domains) is None:
                shared.add(name)
        return frozenset(shared)
