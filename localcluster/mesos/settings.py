"""Settings of the local master, grouped by concern, with their defaults.

:class:`MasterSettings` is what :class:`~localcluster.mesos.server.LocalMaster`
and ``python -m localcluster mesos`` take. The defaults are those of a real
Mesos 1.11 master where one exists (15 s heartbeats, 5 s default refuse
filter, 10 s first status-update retry doubling up to 10 min); tests shorten
the intervals. Agents come from :class:`AgentSpec` entries, which
:mod:`.cluster` builds from command-line flags or a cluster YAML file; an
agent may name its own Docker engine, so several engines stand for several
hosts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

__all__ = ["AgentSpec", "MasterSettings", "SimSettings"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgentSpec:
    """One emulated agent."""

    hostname: str
    cpus: float = 8.0
    mem: float = 16384.0
    disk: float = 100000.0
    ports: str = "31000-32000"
    """Inclusive port ranges, ``"31000-32000,40000-40010"``."""
    attributes: str = ""
    """Mesos attribute grammar: ``"rack:r1;dc:dc1"`` (``,`` also separates)."""
    reservations: tuple[tuple[str, str], ...] = ()
    """Static reservations as ``(role, "cpus:2;mem:1024")`` pairs."""
    containerizer: str = ""
    """``sim``, ``process`` or ``docker``; empty means the master default."""
    ip: str = "127.0.0.1"
    docker_socket: str | None = None
    """Engine socket of this agent's ``docker`` containerizer: each agent on its own
    engine stands for its own host; None means the master's ``docker_socket``."""


@dataclass(frozen=True)
class SimSettings:
    """Behaviour of the ``sim`` containerizer."""

    starting_delay: float = 0.0
    """Seconds from launch to TASK_STARTING."""
    running_delay: float = 0.05
    """Seconds from TASK_STARTING to TASK_RUNNING."""
    run_duration: float | None = None
    """Seconds a task runs before TASK_FINISHED; ``None`` runs until killed."""
    failure_rate: float = 0.0
    """Fraction of launches that end in TASK_FAILED instead of TASK_RUNNING."""
    seed: int = 0
    """Seed of the failure draw, so runs are reproducible."""
    kill_delay: float = 0.0
    """Seconds from a kill to TASK_KILLED."""


@dataclass(frozen=True)
class MasterSettings:
    """Everything the master needs; all durations are seconds."""

    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port."""
    agents: tuple[AgentSpec, ...] = ()
    containerizer: str = "sim"
    """Default containerizer of agents that name none."""
    command_containerizer: str | None = None
    """Containerizer of command tasks (a TaskInfo without ``container``) on every agent,
    e.g. ``process`` while Docker tasks stay ``sim``; None: the agent's own."""
    sim: SimSettings = field(default_factory=SimSettings)
    heartbeat_interval: float = 15.0
    """Scheduler and operator stream HEARTBEAT period."""
    allocation_interval: float = 1.0
    """Longest gap between two allocation runs; changes trigger one sooner."""
    allocation_batch: float = 0.02
    """Delay after a change before allocating, so bursts become one OFFERS event."""
    default_refuse_seconds: float = 5.0
    status_update_retry: float = 10.0
    """First retry of an unacknowledged status update; doubles each time."""
    status_update_retry_max: float = 600.0
    unreachable_gone_timeout: float = 600.0
    """Seconds an unreachable agent stays unreachable before it is marked gone."""
    default_drain_grace: float = 3.0
    """Kill grace period of draining tasks when DRAIN_AGENT names none."""
    cluster_name: str = "local"
    completed_tasks_per_framework: int = 1000
    completed_frameworks: int = 50
    docker_socket: str = "/var/run/docker.sock"
    """Engine socket of the ``docker`` containerizer for agents that name none
    (``AgentSpec.docker_socket``)."""
    docker_stand_in: str | None = None
    """An image of the engine that runs a task whose image the engine lacks
    (``localcluster.mesos.docker``: a stand-in); None: such a task fails."""
    docker_host_root: str | None = None
    """Where the ``docker`` containerizer roots host-path volumes: ``<root>/<hostname>/
    <path>``, one tree per agent; None: the paths as given, on this machine."""
    work_dir: str | None = None
    """State directory of the ``process`` containerizer (a temporary one if unset)."""
    master_id: str | None = None
    """Fixed master id (tests); otherwise a fresh UUID per start and per failover."""

    def docker_sockets(self) -> dict[str, str]:
        """The engine socket of each agent, by hostname: its own, else ``docker_socket``."""
        return {agent.hostname: agent.docker_socket or self.docker_socket for agent in self.agents}
