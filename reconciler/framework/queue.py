"""The launch queue: instances the App controller wants, not yet placed on an offer.

An entry is an :class:`~reconciler.apps.Instance` in state ``Pending`` with no
agent, the spec it launches and the App and Domain it belongs to. It lives
in memory only: nothing is durable until the framework places it, writes
the record (with agent and host) and only then sends the ACCEPT. The App
controller counts queued entries as Pending instances
(:meth:`LaunchQueue.pending`), so it never asks twice for the same one, and
cancels them by killing them (:meth:`LaunchQueue.discard`) like any other.

The queue also keeps, per app, the placement summary of its last unplaced
instance ("12 agents filtered: cpus exhausted (8), UNIQUE hostname (4)"),
which the controller writes into ``status.placement``.

Entries are also indexed by app (:class:`~reconciler.placement.AppKey` ->
instance id -> request), kept in step by every change, so
:meth:`LaunchQueue.pending` and :meth:`LaunchQueue.cancel` read only that
app's entries, in the order they arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from crds.app import App, AppSpec
from crds.domain import Domain
from reconciler.apps.instances import Instance
from reconciler.placement import AppKey

__all__ = ["LaunchQueue", "LaunchRequest"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaunchRequest:
    instance: Instance  # Pending, no agent yet
    app: App  # with ``spec`` the spec to launch (a rollback launches an older one)
    domain: Domain
    key: AppKey = field(init=False, repr=False, compare=False)  # the instance's app

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", AppKey(self.instance.domain, self.instance.app))

    @property
    def spec(self) -> AppSpec:
        return self.app.spec


class LaunchQueue:
    def __init__(self) -> None:
        self._entries: dict[str, LaunchRequest] = {}  # instance id -> request, in arrival order
        # app -> instance id -> request, in arrival order; no empty buckets
        self._by_app: dict[AppKey, dict[str, LaunchRequest]] = {}
        self._summaries: dict[AppKey, str] = {}  # last placement failure per app
        self.generation = 0  # grows with every request: the matcher revives on growth

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._entries

    def request(
        self, *, app: App, domain: Domain, spec: AppSpec, instances: Sequence[Instance]
    ) -> None:
        """Queue ``instances`` of ``app`` (at ``spec``) for placement."""
        launched = app.model_copy(update={"spec": spec})
        for inst in instances:
            req = LaunchRequest(inst, launched, domain)
            old = self._entries.get(inst.instance_id)
            if old is not None and old.key != req.key:
                self._unindex(old)
            self._entries[inst.instance_id] = req
            self._by_app.setdefault(req.key, {})[inst.instance_id] = req
        if instances:
            self.generation += 1

    def cancel(self, key: AppKey) -> list[Instance]:
        """Drop every queued instance of the app; the dropped ones."""
        dropped = [r.instance for r in self._by_app.pop(key, {}).values()]
        for inst in dropped:
            del self._entries[inst.instance_id]
        self._summaries.pop(key, None)
        return dropped

    def discard(self, instance_id: str) -> bool:
        """Drop one queued instance; False when it is not queued (placed, or unknown)."""
        req = self._entries.pop(instance_id, None)
        if req is None:
            return False
        self._unindex(req)
        if req.key not in self._by_app:
            self._summaries.pop(req.key, None)  # nothing of the app waits any more
        return True

    def take(self, instance_id: str) -> LaunchRequest:
        """Remove and return the request of a placed instance."""
        req = self._entries.pop(instance_id)
        self._unindex(req)
        return req

    def take_if_queued(self, instance_id: str) -> LaunchRequest | None:
        """:meth:`take`, or None when the instance is no longer queued."""
        return self.take(instance_id) if instance_id in self._entries else None

    def requests(self) -> list[LaunchRequest]:
        return list(self._entries.values())

    def pending(self, key: AppKey) -> list[Instance]:
        return [r.instance for r in self._by_app.get(key, {}).values()]

    def roles(self) -> set[str]:
        return {r.domain.mesos_role for r in self._entries.values()}

    def summary(self, key: AppKey) -> str | None:
        """Why the app's last unplaced instance found no offer; None once all are placed."""
        return self._summaries.get(key)

    def record_summary(self, key: AppKey, summary: str | None) -> None:
        if summary is None:
            self._summaries.pop(key, None)
        else:
            self._summaries[key] = summary

    def clear(self) -> None:
        self._entries.clear()
        self._by_app.clear()
        self._summaries.clear()

    def _unindex(self, req: LaunchRequest) -> None:
        bucket = self._by_app.get(req.key)
        if bucket is None:
            return
        bucket.pop(req.instance.instance_id, None)
        if not bucket:
            del self._by_app[req.key]
