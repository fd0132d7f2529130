"""The emulated agents: from command-line flags or a cluster YAML file.

Flags give N identical agents named ``agent-001.local``...; a cluster file
lists them one by one::

    agents:
      - hostname: web-01.dc1
        resources: {cpus: 16, mem: 65536, disk: 500000, ports: "31000-32000"}
        attributes: {rack: r1, dc: dc1}
        reservations: {web: "cpus:4;mem:8192"}   # static, per role
        containerizer: docker                    # default: the master's
        docker_socket: /run/dcos/web-01.sock     # its own engine; default: the master's
      - hostname: batch-01.dc1
        count: 10                                # batch-01.dc1 ... batch-10.dc1

Attributes follow the Mesos grammar (``rack:r1;dc:dc1``): a number is a
SCALAR, ``[a-b]`` RANGES, ``{a,b}`` a SET, anything else TEXT. Agent ids are
``<master-id>-S<n>``, as the master assigns them at registration.

An agent's ``docker_socket`` names the Docker engine its ``docker``
containerizer runs tasks on: two agents on two engines stand for two hosts
(each engine has its own containers and networks). The command line sets it
per agent with ``--agent-docker-socket HOSTNAME=SOCKET``
(:func:`with_docker_sockets`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adapters.mesos import Attribute, Range, Ranges, Scalar, Text, ValueSet, ValueType
from localcluster.mesos.resources import Bag, parse_ranges
from localcluster.mesos.settings import AgentSpec
from localcluster.mesos.state import Agent

__all__ = [
    "agents_from_flags",
    "build_agents",
    "load_cluster",
    "parse_attributes",
    "with_docker_sockets",
]

logger = logging.getLogger(__name__)

_AGENT_PORT_BASE = 5051


def parse_attributes(text: str) -> list[Attribute]:
    """``"rack:r1;dc:dc1"`` (``,`` also separates) into typed attributes."""
    out = []
    for part in re.split(r"[;,](?![^{\[]*[}\]])", text):
        name, sep, value = part.strip().partition(":")
        if not sep or not name:
            continue
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            ranges = Ranges(range=[Range(begin=b, end=e) for b, e in parse_ranges(value)])
            out.append(Attribute(name=name, type=ValueType.RANGES, ranges=ranges))
        elif value.startswith("{") and value.endswith("}"):
            items = [i.strip() for i in value[1:-1].split(",") if i.strip()]
            out.append(
                Attribute.model_validate({"name": name, "type": "SET", "set": ValueSet(item=items)})
            )
        else:
            try:
                out.append(
                    Attribute(name=name, type=ValueType.SCALAR, scalar=Scalar(value=float(value)))
                )
            except ValueError:
                out.append(Attribute(name=name, type=ValueType.TEXT, text=Text(value=value)))
    return out


def _resources(spec: AgentSpec) -> Bag:
    bag = Bag({("cpus", None): spec.cpus, ("mem", None): spec.mem, ("disk", None): spec.disk})
    if spec.ports:
        bag.ranges[("ports", None)] = parse_ranges(spec.ports)
    for role, amounts in spec.reservations:
        reserved = Bag()
        for item in re.split(r"[;,]", amounts):
            name, _, value = item.strip().partition(":")
            if not name:
                continue
            resv = ("STATIC", role, "")
            if value.strip().startswith("["):
                reserved.ranges[(name, resv)] = parse_ranges(value)
                bag.subtract(Bag(ranges={(name, None): parse_ranges(value)}))
            else:
                reserved.scalars[(name, resv)] = float(value)
                bag.subtract(Bag({(name, None): float(value)}))
        bag.add(reserved)
    return bag


def build_agents(
    master_id: str,
    specs: tuple[AgentSpec, ...],
    default_containerizer: str,
    *,
    port: int | None = None,
) -> list[Agent]:
    """The agents of ``specs``. With ``port`` they share the master's server, as the
    agents of an in-process Mesos cluster share one libprocess port: the n-th is
    ``slave(n)@ip:port`` and serves its endpoints under ``/slave(n)/``; without it
    each has its own port from 5051 and is ``slave(1)``."""
    now = time.time()
    return [
        Agent(
            id=f"{master_id}-S{n}",
            hostname=spec.hostname,
            ip=spec.ip,
            port=port if port is not None else _AGENT_PORT_BASE + n,
            process=f"slave({n + 1})" if port is not None else "slave(1)",
            attributes=parse_attributes(spec.attributes),
            total=_resources(spec),
            containerizer=spec.containerizer or default_containerizer,
            registered_time=now,
        )
        for n, spec in enumerate(specs)
    ]


def agents_from_flags(
    count: int,
    *,
    cpus: float = 8.0,
    mem: float = 16384.0,
    disk: float = 100000.0,
    ports: str = "31000-32000",
    attributes: str = "",
    reservations: tuple[tuple[str, str], ...] = (),
    containerizer: str = "",
) -> tuple[AgentSpec, ...]:
    """``count`` identical agents; ``reservations`` are static, ``(role, "cpus:2;mem:512")``."""
    width = max(3, len(str(count)))
    return tuple(
        AgentSpec(
            hostname=f"agent-{i:0{width}d}.local",
            cpus=cpus,
            mem=mem,
            disk=disk,
            ports=ports,
            attributes=attributes,
            reservations=reservations,
            containerizer=containerizer,
        )
        for i in range(1, count + 1)
    )


def _spec(entry: dict[str, Any], hostname: str) -> AgentSpec:
    res = entry.get("resources", {}) or {}
    attrs = entry.get("attributes", {}) or {}
    attributes = attrs if isinstance(attrs, str) else ";".join(f"{k}:{v}" for k, v in attrs.items())
    reservations = tuple(
        (str(role), str(amounts)) for role, amounts in (entry.get("reservations") or {}).items()
    )
    return AgentSpec(
        hostname=hostname,
        cpus=float(res.get("cpus", 8)),
        mem=float(res.get("mem", 16384)),
        disk=float(res.get("disk", 100000)),
        ports=str(res.get("ports", "31000-32000")),
        attributes=attributes,
        reservations=reservations,
        containerizer=str(entry.get("containerizer", "")),
        ip=str(entry.get("ip", "127.0.0.1")),
        docker_socket=str(entry["docker_socket"]) if entry.get("docker_socket") else None,
    )


def load_cluster(path: str | Path) -> tuple[AgentSpec, ...]:
    """Agent specs from a cluster YAML file (see the module docstring)."""
    import yaml

    data = yaml.safe_load(Path(path).read_text()) or {}
    entries = data.get("agents", data) if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of agents")
    out: list[AgentSpec] = []
    for entry in entries:
        hostname = str(entry["hostname"])
        count = int(entry.get("count", 1))
        if count == 1:
            out.append(_spec(entry, hostname))
            continue
        head, dot, tail = hostname.partition(".")
        stem = re.sub(r"\d+$", "", head)
        width = max(2, len(str(count)))
        for i in range(1, count + 1):
            out.append(_spec(entry, f"{stem}{i:0{width}d}{dot}{tail}"))
    return tuple(out)


def with_docker_sockets(
    agents: tuple[AgentSpec, ...], assignments: Sequence[str]
) -> tuple[AgentSpec, ...]:
    """``agents`` with the engine sockets of ``HOSTNAME=SOCKET`` assignments; ValueError
    names a malformed assignment or a hostname that is not an agent."""
    sockets: dict[str, str] = {}
    for item in assignments:
        hostname, sep, socket = item.partition("=")
        if not sep or not hostname or not socket:
            raise ValueError(f"--agent-docker-socket expects HOSTNAME=SOCKET, got {item!r}")
        sockets[hostname] = socket
    unknown = sorted(set(sockets) - {agent.hostname for agent in agents})
    if unknown:
        raise ValueError(f"--agent-docker-socket names no agent: {', '.join(unknown)}")
    return tuple(
        dataclasses.replace(agent, docker_socket=sockets[agent.hostname])
        if agent.hostname in sockets
        else agent
        for agent in agents
    )
