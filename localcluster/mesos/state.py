"""The master's in-memory state: agents, frameworks, tasks, offers, streams.

Plain dataclasses, no behaviour beyond small accessors: the master
(:mod:`.master`) mutates them and the views (:mod:`.views`, :mod:`.legacy`)
read them. Invariants are written on the fields. Every record stays in memory
for the life of the process, which is also what makes a master failover keep
its state (the real master would recover it from the replicated log).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from adapters.mesos import (
    Attribute,
    DrainInfo,
    FrameworkCapabilityType,
    FrameworkInfo,
    Schedule,
    TaskInfo,
    TaskState,
    TaskStatus,
)
from localcluster.mesos.resources import Bag

__all__ = ["Agent", "Framework", "OfferRecord", "State", "Stream", "TaskRecord", "adapt"]

logger = logging.getLogger(__name__)


class Stream:
    """One open RecordIO response: the bytes queued for it, ``None`` closes it."""

    def __init__(self, stream_id: str) -> None:
        self.id = stream_id
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed = False

    def send(self, record: bytes) -> None:
        if not self.closed:
            self.queue.put_nowait(record)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


@dataclass
class Agent:
    id: str
    hostname: str
    ip: str
    port: int
    attributes: list[Attribute]
    total: Bag  # static and dynamic reservations included
    containerizer: str
    registered_time: float
    allocated: Bag = field(default_factory=Bag)  # resources of non-terminal tasks
    offered: Bag = field(default_factory=Bag)  # resources in outstanding offers
    tasks: set[tuple[str, str]] = field(default_factory=set)  # (framework, task) not completed
    deactivated: bool = False
    drain: DrainInfo | None = None
    unreachable_since: float | None = None  # wall time the agent was marked unreachable
    partitioned: bool = False  # unreachable, but its tasks keep running
    gone: bool = False
    down: bool = False  # machine in maintenance DOWN mode
    epoch: int = 0  # bumped on each unreachable/gone transition, guards timers
    process: str = "slave(1)"  # libprocess id: the agent's endpoints are under /<process>/

    @property
    def pid(self) -> str:
        """The agent's libprocess pid, ``slave(N)@ip:port``."""
        return f"{self.process}@{self.ip}:{self.port}"

    @property
    def reachable(self) -> bool:
        return self.unreachable_since is None and not self.gone and not self.down

    def offerable(self) -> bool:
        return self.reachable and not self.deactivated and self.drain is None


@dataclass
class TaskRecord:
    info: TaskInfo
    framework_id: str
    agent_id: str
    role: str
    resources: Bag
    executor_id: str | None  # None for command tasks
    state: TaskState = TaskState.TASK_STAGING
    statuses: list[TaskStatus] = field(default_factory=list)
    pending: deque[TaskStatus] = field(default_factory=deque)  # reliable updates not yet acked
    early: set[str] = field(default_factory=set)  # uuids of pending updates sent before the head
    retry_interval: float = 0.0
    unreachable: bool = False  # on an unreachable agent
    ip_address: str | None = None
    healthy: bool | None = None

    @property
    def task_id(self) -> str:
        return self.info.task_id.value

    @property
    def key(self) -> tuple[str, str]:
        return (self.framework_id, self.task_id)


@dataclass
class OfferRecord:
    id: str
    framework_id: str
    agent_id: str
    role: str
    resources: Bag


@dataclass
class Framework:
    id: str
    info: FrameworkInfo
    roles: list[str]
    registered_time: float
    suppressed: set[str] = field(default_factory=set)
    filters: dict[tuple[str, str], tuple[float, Bag]] = field(default_factory=dict)
    """(agent, role) -> (monotonic expiry, resources refused)."""
    stream: Stream | None = None  # set while subscribed
    unregistered_time: float | None = None
    reregistered_time: float | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    completed: deque[TaskRecord] = field(default_factory=lambda: deque(maxlen=1000))
    offers: dict[str, OfferRecord] = field(default_factory=dict)
    failover_handle: asyncio.TimerHandle | None = None
    recovered: bool = False  # known from before a master failover, not resubscribed yet

    @property
    def connected(self) -> bool:
        return self.stream is not None

    def has(self, capability: FrameworkCapabilityType) -> bool:
        return self.info.has_capability(capability)

    @property
    def partition_aware(self) -> bool:
        return self.has(FrameworkCapabilityType.PARTITION_AWARE)

    @property
    def multi_role(self) -> bool:
        return self.has(FrameworkCapabilityType.MULTI_ROLE)

    @property
    def refined(self) -> bool:
        return self.has(FrameworkCapabilityType.RESERVATION_REFINEMENT)


@dataclass
class State:
    master_id: str
    start_time: float
    elected_time: float
    agents: dict[str, Agent] = field(default_factory=dict)
    frameworks: dict[str, Framework] = field(default_factory=dict)
    completed_frameworks: deque[Framework] = field(default_factory=lambda: deque(maxlen=50))
    quotas: dict[str, tuple[dict[str, float], dict[str, float]]] = field(default_factory=dict)
    """role -> (guarantees, limits)."""
    schedule: Schedule = field(default_factory=Schedule)
    down_machines: set[tuple[str, str]] = field(default_factory=set)  # (hostname, ip)
    inverse_offers: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Outstanding inverse offer id -> (framework, agent)."""
    inverse_offer_answers: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)
    """(agent, framework) -> InverseOfferStatus JSON, the latest answer."""
    next_offer: int = 0
    next_framework: int = 0

    def offer_id(self) -> str:
        self.next_offer += 1
        return f"{self.master_id}-O{self.next_offer}"

    def framework_id(self) -> str:
        fid = f"{self.master_id}-{self.next_framework:04d}"
        self.next_framework += 1
        return fid


_PARTITION_STATES = frozenset(
    {
        TaskState.TASK_DROPPED,
        TaskState.TASK_UNREACHABLE,
        TaskState.TASK_GONE,
        TaskState.TASK_GONE_BY_OPERATOR,
        TaskState.TASK_UNKNOWN,
    }
)


def adapt(fw: Framework | None, state: TaskState) -> TaskState:
    """The state a framework is told: TASK_LOST for partition states unless PARTITION_AWARE."""
    if state in _PARTITION_STATES and (fw is None or not fw.partition_aware):
        return TaskState.TASK_LOST
    return state
