"""The instance record: one container of an App, as the control plane knows it.

The framework writes one record per instance to etcd at
``<prefix>/instances/<domain>/<app>/<instance id>`` *before* it sends the
LAUNCH, so a launch is at most once: a record without a Mesos task is a
``Pending`` instance, a Mesos task without a record is killed on recovery.
The instance id doubles as the Mesos task id.

The lifecycle is ours, not Mesos's, although it mirrors it::

    Pending -> Staging -> Starting -> Running -> Killing -> (terminal)
                                   \\-> Unreachable -> Running | (terminal)

``Pending`` means the record exists and Mesos has not acknowledged the task
yet. Terminal states (Finished, Failed, Killed, Lost, Gone, Dropped, Error)
end the instance; the planner counts its failure once and lets the record
be expunged. ``Unreachable`` is *not* terminal here, unlike the rest of the
"gone" family: the container may still be running behind a partition and
Mesos may report it Running again, so its record (and its IP) is kept. It
counts neither as an instance nor as healthy, and it is replaced.

:attr:`Instance.is_healthy` is the one definition of "healthy" the rollout
and the status use: running, and passing its health checks when it was
launched with some. :class:`Census` sorts an app's instances by what they
count for against a target version, and :func:`kill_order` says which go
first. The next hop is :mod:`reconciler.apps.version`, which names the spec
an instance runs.

**Leaving hosts.** An instance on a host that is leaving service (its Host
is Draining or Decommissioned: the caller passes those hostnames as
``leaving``) is *to move*: it still counts as an instance, running and
healthy while it is, but :class:`Census` keeps those of the target version
apart (``moving``) from ``new``, so the planner launches a replacement for
each and kills it once the bounds allow, exactly as it replaces an outdated
instance. :func:`kill_order` takes instances on leaving hosts first among
equals, and :func:`leaving_hosts` counts what is still on each of them.
"""

from __future__ import annotations

import enum
import random
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NewType

from crds.meta import DcosModel

__all__ = [
    "FAILURE_STATES",
    "Census",
    "Instance",
    "InstanceId",
    "InstanceState",
    "from_task_state",
    "kill_order",
    "leaving_hosts",
    "new_instance_id",
    "parse_instance_id",
]

InstanceId = NewType("InstanceId", str)
"""``<domain>.<app>.<version[:8]>.<8 hex>``; also the Mesos task id."""


class InstanceState(enum.StrEnum):
    PENDING = "Pending"
    STAGING = "Staging"
    STARTING = "Starting"
    RUNNING = "Running"
    KILLING = "Killing"
    UNREACHABLE = "Unreachable"
    FINISHED = "Finished"
    FAILED = "Failed"
    KILLED = "Killed"
    LOST = "Lost"
    GONE = "Gone"
    DROPPED = "Dropped"
    ERROR = "Error"

    @property
    def is_terminal(self) -> bool:
        """The instance is over: its container is gone for good."""
        return self in _TERMINAL

    @property
    def is_active(self) -> bool:
        """The instance occupies capacity: neither terminal nor unreachable."""
        return self not in _TERMINAL and self is not InstanceState.UNREACHABLE


_TERMINAL = frozenset(
    {
        InstanceState.FINISHED,
        InstanceState.FAILED,
        InstanceState.KILLED,
        InstanceState.LOST,
        InstanceState.GONE,
        InstanceState.DROPPED,
        InstanceState.ERROR,
    }
)

FAILURE_STATES = frozenset({InstanceState.FAILED, InstanceState.ERROR, InstanceState.FINISHED})
"""Terminal states that are the app's own doing and so count toward launch backoff.
A long-running service that finishes has failed too. Killed, Lost, Gone and Dropped
come from us, an operator or the infrastructure: they are replaced without delay."""

_FROM_TASK_STATE = {
    "TASK_STAGING": InstanceState.STAGING,
    "TASK_STARTING": InstanceState.STARTING,
    "TASK_RUNNING": InstanceState.RUNNING,
    "TASK_KILLING": InstanceState.KILLING,
    "TASK_FINISHED": InstanceState.FINISHED,
    "TASK_FAILED": InstanceState.FAILED,
    "TASK_KILLED": InstanceState.KILLED,
    "TASK_ERROR": InstanceState.ERROR,
    "TASK_LOST": InstanceState.LOST,
    "TASK_DROPPED": InstanceState.DROPPED,
    "TASK_UNREACHABLE": InstanceState.UNREACHABLE,
    "TASK_GONE": InstanceState.GONE,
    "TASK_GONE_BY_OPERATOR": InstanceState.GONE,
    # The master does not know the task (e.g. its agent was removed): it is not coming back.
    "TASK_UNKNOWN": InstanceState.LOST,
}


def from_task_state(task_state: str) -> InstanceState:
    """Our state for a Mesos ``TaskState`` name (``TASK_RUNNING`` -> Running).

    Raises ValueError for a name Mesos does not define.
    """
    try:
        return _FROM_TASK_STATE[task_state]
    except KeyError:
        raise ValueError(f"unknown Mesos task state {task_state!r}") from None


def new_instance_id(*, domain: str, app: str, version: str, rng: random.Random) -> InstanceId:
    """A fresh id for an instance of ``domain/app`` at ``version``.

    Domain and app names are DNS labels (no dots), so the id splits back with
    :func:`parse_instance_id`; 32 random bits keep ids of one version apart.
    """
    return InstanceId(f"{domain}.{app}.{version[:8]}.{rng.getrandbits(32):08x}")


def parse_instance_id(instance_id: str) -> tuple[str, str, str]:
    """``(domain, app, version prefix)`` of an id made by :func:`new_instance_id`."""
    parts = instance_id.split(".")
    if len(parts) != 4 or not all(parts):
        raise ValueError(f"{instance_id!r} is not <domain>.<app>.<version>.<suffix>")
    return parts[0], parts[1], parts[2]


class Instance(DcosModel):
    """One container of an App, stored as JSON in etcd (camelCase on the wire)."""

    instance_id: str
    """``<domain>.<app>.<version[:8]>.<8 hex>``; also the Mesos task id."""
    domain: str
    """The App's domain."""
    app: str
    """The App's name."""
    version: str
    """:func:`~reconciler.apps.version.spec_version` of the spec it was launched from."""
    state: InstanceState = InstanceState.PENDING
    """Our lifecycle state, from the Mesos task state once Mesos reported one."""
    agent_id: str | None = None
    """The Mesos agent it was placed on; None before placement."""
    hostname: str | None = None
    """The agent's hostname."""
    ip: str | None = None
    """The container's own address, from the IP pool."""
    host_ports: tuple[int, ...] = ()
    """Host ports taken from the offer, in the order of the App's ports."""
    host_ip: str | None = None
    """The agent's address from the offer, where the host ports listen."""
    health_checked: bool = False
    """It was launched with health checks: it is healthy only once a check passed."""
    healthy: bool | None = None
    """The last health check result; None before the first one or without checks."""
    launched_at: datetime
    """When the record was written (before LAUNCH was sent)."""
    started_at: datetime | None = None
    """When it first reached Running."""
    last_update_at: datetime | None = None
    """When its state or health last changed, or a KILL was last sent."""
    message: str = ""
    """The last status message from Mesos, e.g. why it failed."""

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    @property
    def is_active(self) -> bool:
        """Occupies capacity: neither terminal nor unreachable (Killing included)."""
        return self.state.is_active

    @property
    def is_running(self) -> bool:
        return self.state is InstanceState.RUNNING

    @property
    def is_healthy(self) -> bool:
        """Running, and passing its checks if it has any (a failed check always counts)."""
        if self.state is not InstanceState.RUNNING:
            return False
        return self.healthy is True if self.health_checked else self.healthy is not False

    @property
    def is_failure(self) -> bool:
        """Ended by the app's own doing; counts toward launch backoff."""
        return self.state in FAILURE_STATES

    def observe(
        self,
        state: InstanceState,
        *,
        now: datetime,
        healthy: bool | None = None,
        message: str | None = None,
    ) -> Instance:
        """The record after Mesos reported ``state`` (and a health result) at ``now``."""
        started_at = self.started_at
        if state is InstanceState.RUNNING and started_at is None:
            started_at = now
        return self.model_copy(
            update={
                "state": state,
                "healthy": healthy,
                "started_at": started_at,
                "last_update_at": now,
                "message": self.message if message is None else message,
            }
        )

    def to_json(self) -> str:
        """The JSON stored in etcd."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    @classmethod
    def from_json(cls, data: str | bytes) -> Instance:
        """An instance from the JSON :meth:`to_json` wrote."""
        return cls.model_validate_json(data)


@dataclass(frozen=True)
class Census:
    """An app's instances sorted by what they count for, against a target version."""

    target: str
    live: tuple[Instance, ...]  # active and not Killing: the app's instances
    killing: tuple[Instance, ...]  # still active, on their way out
    new: tuple[Instance, ...]  # live, of the target version, not on a leaving host
    old: tuple[Instance, ...]  # live, of any other version (on any host)
    unreachable: int
    ended: int  # terminal records
    moving: tuple[Instance, ...] = ()  # live, of the target version, on a leaving host

    @classmethod
    def of(
        cls,
        instances: Sequence[Instance],
        target: str,
        leaving: Collection[str] = frozenset(),
        giving_back: Collection[str] = frozenset(),
    ) -> Census:
        """``giving_back``: ids of instances moved like those on leaving hosts (borrowed
        instances going home, :mod:`reconciler.domains.giveback`)."""
        live = tuple(i for i in instances if i.is_active and i.state is not InstanceState.KILLING)
        current = tuple(i for i in live if i.version == target)

        def moves(inst: Instance) -> bool:
            return _on(inst, leaving) or inst.instance_id in giving_back

        return cls(
            target=target,
            live=live,
            killing=tuple(i for i in instances if i.state is InstanceState.KILLING),
            new=tuple(i for i in current if not moves(i)),
            old=tuple(i for i in live if i.version != target),
            unreachable=sum(i.state is InstanceState.UNREACHABLE for i in instances),
            ended=sum(i.is_terminal for i in instances),
            moving=tuple(i for i in current if moves(i)),
        )

    @property
    def active(self) -> int:
        """Instances counted against the over-capacity bound, Killing ones included."""
        return len(self.live) + len(self.killing)

    @property
    def healthy(self) -> int:
        return sum(i.is_healthy for i in self.live)

    @property
    def new_healthy(self) -> int:
        return sum(i.is_healthy for i in self.new)


def _on(inst: Instance, leaving: Collection[str]) -> bool:
    return bool(leaving) and inst.hostname is not None and inst.hostname in leaving


def leaving_hosts(instances: Sequence[Instance], leaving: Collection[str]) -> dict[str, int]:
    """Live instances (not Killing), any version, still on each leaving host that has some."""
    counts: Counter[str] = Counter()
    for inst in instances:
        if inst.is_active and inst.state is not InstanceState.KILLING and _on(inst, leaving):
            assert inst.hostname is not None
            counts[inst.hostname] += 1
    return dict(sorted(counts.items()))


def kill_order(
    instances: Sequence[Instance], target: str, leaving: Collection[str] = frozenset()
) -> list[Instance]:
    """``instances`` in the order they are killed: not running first, then unhealthy,
    then those on leaving hosts, then other versions than ``target``, then the
    newest, then those on the hosts with most of these instances."""
    per_host = Counter(i.hostname or i.agent_id for i in instances)
    return sorted(
        instances,
        key=lambda i: (
            i.is_running,
            i.is_healthy,
            not _on(i, leaving),
            i.version == target,
            -i.launched_at.timestamp(),
            -per_host[i.hostname or i.agent_id],
            i.instance_id,
        ),
    )
