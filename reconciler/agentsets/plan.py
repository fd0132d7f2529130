"""The AgentSet plan: which agent Apps to create, update and delete, as a pure function.

    plan(agentset, hosts, apps) -> Plan(create, update, delete, rows, counts)

A host *wants* the agent when it is Active and matches ``hostSelector``; an
agent is *placed* on a host that wants it once the host is also onboarded
(condition Onboarded True), and *kept* on it while it stays Active and
matching, whatever Onboarded says meanwhile (a Mesos outage does not remove
agents). A host that stops matching, is Draining or Decommissioned, or is
gone loses its agent. An agent App being deleted is left to go; its host gets
a new one only once it is gone.

Each agent is an App (instances 1, ``hostname IS <host>``) whose label
``dcos/template-hash`` says which template it runs. A host with no agent
gets the current template at once (not an update). Outdated agents are
updated at most ``maxUnavailable`` at a time: the budget is the bound minus
the agents at the current template not available yet; outdated agents that
are unavailable are updated first, then available ones in host-name order.
An outdated agent that is down still takes a slot: the App status it is
judged by may lag behind its container, so counting it as free could take
more agents down than the bound. An agent is available when its App's status is about its
current generation and has a ready instance.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Final

from crds.agentset import AgentHostStatus, AgentSet
from crds.app import App, AppSpec, Constraint, ConstraintOperator, UpgradeStrategy
from crds.host import Host, HostLifecycle
from crds.meta import ConditionStatus

__all__ = [
    "HOST_LABEL",
    "TEMPLATE_LABEL",
    "Plan",
    "agent_app_name",
    "agent_spec",
    "app_available",
    "plan",
    "template_hash",
]

HOST_LABEL: Final = "dcos/agent-host"
"""Label of an agent App: the host it runs on."""
TEMPLATE_LABEL: Final = "dcos/template-hash"
"""Label of an agent App: the hash of the template it runs."""
ONBOARDED: Final = "Onboarded"
_MAX_NAME = 63


def template_hash(agentset: AgentSet) -> str:
    """A short stable hash of the AgentSet's container template."""
    wire = agentset.spec.template.model_dump(mode="json", by_alias=True)
    text = json.dumps(wire, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def agent_app_name(agentset: str, host: str) -> str:
    """``<agentset>-<host>``, or a shortened form ending in a hash when that is
    longer than a DNS label allows."""
    name = f"{agentset}-{host}"
    if len(name) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_NAME - 9].rstrip('-')}-{digest}"


def agent_spec(agentset: AgentSet, host: str) -> AppSpec:
    """The App spec of the agent on ``host``: the template's container, one instance
    pinned to the host. The one instance is stopped before its replacement starts
    (the host's system slice holds one agent), so an update makes the agent
    unavailable until the new container is healthy."""
    t = agentset.spec.template
    return AppSpec(
        image=t.image,
        command=t.command,
        args=t.args,
        instances=1,
        cpus=t.cpus,
        mem=t.mem,
        env=dict(t.env),
        volumes=list(t.volumes),
        network=t.network,
        constraints=[Constraint(field="hostname", operator=ConstraintOperator.IS, value=host)],
        upgrade_strategy=UpgradeStrategy(minimum_health_capacity=0, maximum_over_capacity=0),
        labels={
            "dcos/agentset": agentset.metadata.name,
            "dcos/network": t.network.value,
            "dcos/privileged": "true" if t.privileged else "false",
        },
    )


def app_available(app: App) -> bool:
    """The App's status is about its current spec and one instance is ready."""
    status = app.status
    current = (
        status.observed_generation is not None
        and status.observed_generation == app.metadata.generation
    )
    return current and (status.ready_instances or 0) >= 1


def _onboarded(host: Host) -> bool:
    return any(
        c.type == ONBOARDED and c.status is ConditionStatus.TRUE for c in host.status.conditions
    )


def _wants(agentset: AgentSet, host: Host) -> bool:
    return (
        host.metadata.deletion_timestamp is None
        and host.spec.lifecycle is HostLifecycle.ACTIVE
        and agentset.spec.host_selector.matches(host.metadata.labels)
    )


@dataclass(frozen=True)
class Plan:
    """What the AgentSet controller does now, and what it reports."""

    template: str
    """The current template hash."""
    create: list[str] = field(default_factory=list)
    """Hosts that get an agent at the current template."""
    update: list[str] = field(default_factory=list)
    """Hosts whose outdated agent is moved to the current template now."""
    delete: list[str] = field(default_factory=list)
    """Names of agent Apps to delete (their host left, or they are not wanted)."""
    rows: list[AgentHostStatus] = field(default_factory=list)
    """Per host with an agent (after this plan), by host name."""
    desired: int = 0
    """Hosts that run (or are about to run) the agent."""
    ready: int = 0
    """Of them, hosts whose agent is available."""
    updated: int = 0
    """Of them, hosts whose agent has the current template (counting this plan's writes)."""
    unavailable: int = 0
    """Agents not available now, before this plan's updates."""
    max_unavailable: int = 1
    """The bound for this set of hosts."""
    waiting: list[str] = field(default_factory=list)
    """Outdated hosts left for a later batch."""

    @property
    def rolling(self) -> bool:
        """Some agent is not at the current template or not available yet."""
        return self.updated < self.desired or self.ready < self.desired


def plan(agentset: AgentSet, hosts: list[Host], apps: list[App]) -> Plan:
    """The plan for ``agentset`` given every Host and the agent Apps it owns."""
    current = template_hash(agentset)
    by_host: dict[str, App] = {}
    delete: list[str] = []
    going: set[str] = set()  # hosts whose agent App is being deleted
    for app in sorted(apps, key=lambda a: a.metadata.name):
        host_name = app.metadata.labels.get(HOST_LABEL)
        if app.metadata.deletion_timestamp is not None:
            going.add(host_name or "")
        elif host_name is None or host_name in by_host:
            delete.append(app.metadata.name)
        else:
            by_host[host_name] = app
    known = {h.metadata.name: h for h in hosts}
    create: list[str] = []
    kept: dict[str, App] = {}
    for name in sorted(known):
        host = known[name]
        if not _wants(agentset, host):
            continue
        if name in by_host:
            kept[name] = by_host[name]
        elif _onboarded(host) and name not in going:
            create.append(name)
    delete += sorted(by_host[n].metadata.name for n in by_host if n not in kept)

    desired = len(kept) + len(create)
    bound = agentset.spec.update_strategy.resolve(max(desired, 1))
    available = {n for n, app in kept.items() if app_available(app)}
    unavailable = len(kept) - len(available)
    outdated = [n for n, app in kept.items() if app.metadata.labels.get(TEMPLATE_LABEL) != current]
    down_first = [n for n in outdated if n not in available]
    up_next = [n for n in outdated if n in available]
    # Agents at the current template still coming up hold a slot each; the rest of
    # the bound goes to outdated agents, those already down first (a status may lag
    # behind the container, so they are not assumed free to update).
    budget = max(0, bound - (unavailable - len(down_first)))
    update = (down_first + up_next)[:budget]
    waiting = (down_first + up_next)[budget:]

    rows: list[AgentHostStatus] = []
    for name in sorted([*kept, *create]):
        kept_app = kept.get(name)
        if kept_app is None or name in update:
            rows.append(
                AgentHostStatus(
                    host=name,
                    app=agent_app_name(agentset.metadata.name, name),
                    template=current,
                    ready=False,
                )
            )
        else:
            rows.append(
                AgentHostStatus(
                    host=name,
                    app=kept_app.metadata.name,
                    template=kept_app.metadata.labels.get(TEMPLATE_LABEL, ""),
                    ready=name in available,
                )
            )
    return Plan(
        template=current,
        create=create,
        update=update,
        delete=delete,
        rows=rows,
        desired=desired,
        ready=sum(1 for r in rows if r.ready),
        updated=sum(1 for r in rows if r.template == current),
        unavailable=unavailable,
        max_unavailable=bound,
        waiting=waiting,
    )
