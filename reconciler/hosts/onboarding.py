"""A Host against its Mesos agent: the agent found by hostname, attributes compared.

The operator API's ``GET_AGENTS`` answer is read into :class:`AgentView`
values (one per hostname) and ``GET_TASKS`` into :class:`MesosTasks`; the
comparison is pure. An Active host is onboarded when an agent with its
name as hostname is registered and advertises exactly the attributes of
``spec.attributes.as_mesos()``: TEXT attributes by their text, SCALAR ones
rendered as the placement snapshot renders them (``4.0`` → ``4``); SET and
RANGES attributes are compared as absent.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from adapters.protocols import TASK_ID_LABEL, DockerHostState

if TYPE_CHECKING:
    from adapters.mesos.model_operator import GetAgents, GetTasks

__all__ = [
    "ABSENT",
    "AgentView",
    "AttributeDiff",
    "DrainState",
    "MesosTasks",
    "agents_by_hostname",
    "attribute_diff",
    "diff_message",
    "known_task_ids",
    "tasks_of",
]

ABSENT = "(none)"


class DrainState(enum.StrEnum):
    DRAINING = "DRAINING"
    DRAINED = "DRAINED"


@dataclass(frozen=True)
class AgentView:
    """One registered agent: its id, hostname, attributes as text, drain state."""

    agent_id: str
    hostname: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    drain: DrainState | None = None
    """Set once DRAIN_AGENT was called: DRAINING while tasks remain, then DRAINED."""
    deactivated: bool = False


@dataclass(frozen=True)
class MesosTasks:
    """Task ids Mesos knows: ``live`` (pending, active, unreachable) and ``completed``."""

    live: frozenset[str] = frozenset()
    completed: frozenset[str] = frozenset()


def _render(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def agents_by_hostname(answer: GetAgents) -> dict[str, AgentView]:
    """The registered agents of a ``GET_AGENTS`` answer by hostname."""
    found: dict[str, AgentView] = {}
    for agent in answer.agents:
        info = agent.agent_info
        if info.id is None:
            continue
        attributes: dict[str, str] = {}
        for attribute in info.attributes:
            if attribute.text is not None:
                attributes[attribute.name] = attribute.text.value
            elif attribute.scalar is not None:
                attributes[attribute.name] = _render(float(attribute.scalar.value))
        drain = None
        if agent.drain_info is not None:
            state = str(agent.drain_info.state.value)
            drain = DrainState(state) if state in DrainState.__members__ else None
        found[info.hostname] = AgentView(
            agent_id=info.id.value,
            hostname=info.hostname,
            attributes=attributes,
            drain=drain,
            deactivated=bool(agent.deactivated),
        )
    return found


def tasks_of(answer: GetTasks) -> MesosTasks:
    """The task ids of a ``GET_TASKS`` answer."""
    live = answer.pending_tasks + answer.tasks + answer.unreachable_tasks
    return MesosTasks(
        live=frozenset(t.task_id.value for t in live),
        completed=frozenset(t.task_id.value for t in answer.completed_tasks),
    )


def known_task_ids(
    tasks: MesosTasks, state: DockerHostState, *, label: str = TASK_ID_LABEL
) -> Collection[str]:
    """The task ids for which a container on the engine is no orphan: every live task,
    and completed ones whose container is no longer running (left to be removed)."""
    stopped = {
        c.labels.get(label, "")
        for c in state.containers
        if c.state != "running" and c.labels.get(label, "") in tasks.completed
    }
    return tasks.live | stopped


@dataclass(frozen=True)
class AttributeDiff:
    name: str
    want: str
    have: str

    def __str__(self) -> str:
        return f"{self.name}: spec {self.want}, agent {self.have}"


def attribute_diff(want: Mapping[str, str], have: Mapping[str, str]) -> list[AttributeDiff]:
    """Every attribute whose value differs (absent on one side included), by name."""
    names = sorted(set(want) | set(have))
    return [
        AttributeDiff(name, want.get(name, ABSENT), have.get(name, ABSENT))
        for name in names
        if want.get(name) != have.get(name)
    ]


def diff_message(agent: AgentView, diffs: list[AttributeDiff]) -> str:
    """One sentence naming each differing attribute."""
    return f"agent {agent.agent_id} attributes differ: " + "; ".join(map(str, diffs))
