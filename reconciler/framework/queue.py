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
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

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

    @property
    def key(self) -> AppKey:
        return AppKey(self.instance.domain, self.instance.app)

    @property
    def spec(self) -> AppSpec:
        return self.app.spec


class LaunchQueue:
    def __init__(self) -> None:
        self._entries: dict[str, LaunchRequest] = {}  # instance id -> request, in arrival order
        self._summaries: dict[AppKey, str] = {}  # last placement failure per app
        self.generation = 0  # grows with every request: the matcher revives on growth

    def __len__(self) -> int:
        return len(self._entries)

    def request(
        self, *, app: App, domain: Domain, spec: AppSpec, instances: Sequence[Instance]
    ) -> None:
        """Queue ``instances`` of ``app`` (at ``spec``) for placement."""
        launched = app.model_copy(update={"spec": spec})
        for inst in instances:
            self._entries[inst.instance_id] = LaunchRequest(inst, launched, domain)
        if instances:
            self.generation += 1

    def cancel(self, key: AppKey) -> list[Instance]:
        """Drop every queued instance of the app; the dropped ones."""
        dropped = [r.instance for r in self._entries.values() if r.key == key]
        for inst in dropped:
            del self._entries[inst.instance_id]
        self._summaries.pop(key, None)
        return dropped

    def discard(self, instance_id: str) -> bool:
        """Drop one queued instance; False when it is not queued (placed, or unknown)."""
        return self._entries.pop(instance_id, None) is not None

    def take(self, instance_id: str) -> LaunchRequest:
        """Remove and return the request of a placed instance."""
        return self._entries.pop(instance_id)

    def requests(self) -> list[LaunchRequest]:
        return list(self._entries.values())

    def pending(self, key: AppKey) -> list[Instance]:
        return [r.instance for r in self._entries.values() if r.key == key]

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
        self._summaries.clear()
