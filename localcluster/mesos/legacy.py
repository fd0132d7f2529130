"""The legacy read-only JSON endpoints: ``/master/state``, ``/version`` and friends.

These predate the v1 API and have their own shapes, which dashboards and scripts still read:
ids are plain strings, agents are ``slaves`` with ``slave_id``, resources are
flat maps (``{"cpus": 0.5, "mem": 128, "disk": 0, "gpus": 0, "ports":
"[31000-31005]"}``, cpus/gpus/mem/disk always present), timestamps are
seconds as doubles. Each is served at ``/master/X`` and ``/X`` (and the
deprecated ``.json`` alias, harmlessly). ``/master/redirect`` answers 307
with a protocol-relative ``Location: //host:port`` of the leader, which is
this master.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.mesos import TERMINAL_TASK_STATES, to_json
from localcluster.mesos.operator_api import flags, version_info
from localcluster.mesos.resources import Bag
from localcluster.mesos.state import Agent, Framework, TaskRecord

if TYPE_CHECKING:
    from localcluster.mesos.master import Master

__all__ = ["routes", "state"]

logger = logging.getLogger(__name__)


def _attributes(agent: Agent) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in agent.attributes:
        if attr.text is not None:
            out[attr.name] = attr.text.value
        elif attr.scalar is not None:
            out[attr.name] = attr.scalar.value
        elif attr.ranges is not None:
            out[attr.name] = "[" + ", ".join(f"{r.begin}-{r.end}" for r in attr.ranges.range) + "]"
    return out


def task(rec: TaskRecord) -> dict[str, Any]:
    statuses = []
    for status in rec.statuses:
        entry: dict[str, Any] = {"state": str(status.state), "timestamp": status.timestamp}
        if status.healthy is not None:
            entry["healthy"] = status.healthy
        if status.container_status is not None:
            entry["container_status"] = to_json(status.container_status)
        statuses.append(entry)
    out: dict[str, Any] = {
        "id": rec.task_id,
        "name": rec.info.name,
        "framework_id": rec.framework_id,
        "executor_id": rec.executor_id or "",
        "slave_id": rec.agent_id,
        "state": str(rec.state),
        "resources": rec.resources.flat(),
        "role": rec.role,
        "statuses": statuses,
    }
    for key in ("labels", "container", "discovery", "health_check"):
        value = getattr(rec.info, key)
        if value is not None:
            out[key] = to_json(value)["labels"] if key == "labels" else to_json(value)
    return out


def agent(master: Master, a: Agent) -> dict[str, Any]:
    reserved: dict[str, Bag] = {}
    for (name, resv), value in a.total.scalars.items():
        if resv is not None:
            reserved.setdefault(resv[1], Bag()).add(Bag({(name, resv): value}))
    for (name, resv), rng in a.total.ranges.items():
        if resv is not None:
            reserved.setdefault(resv[1], Bag()).add(Bag(ranges={(name, resv): rng}))
    return {
        "id": a.id,
        "hostname": a.hostname,
        "port": a.port,
        "pid": a.pid,
        "attributes": _attributes(a),
        "registered_time": a.registered_time,
        "resources": a.total.flat(),
        "used_resources": a.allocated.flat(),
        "offered_resources": a.offered.flat(),
        "reserved_resources": {role: bag.flat() for role, bag in sorted(reserved.items())},
        "unreserved_resources": a.total.select(roles=[None]).flat(),
        "active": a.reachable and not a.deactivated,
        "deactivated": a.deactivated,
        "version": "1.11.0",
        "capabilities": [
            "MULTI_ROLE",
            "HIERARCHICAL_ROLE",
            "RESERVATION_REFINEMENT",
            "AGENT_DRAINING",
        ],
    }


def framework(fw: Framework) -> dict[str, Any]:
    info = fw.info
    used = Bag()
    for rec in fw.tasks.values():
        if rec.state not in TERMINAL_TASK_STATES and not rec.unreachable:
            used.add(rec.resources)
    offered = Bag()
    for offer in fw.offers.values():
        offered.add(offer.resources)
    out: dict[str, Any] = {
        "id": fw.id,
        "name": info.name,
        "hostname": info.hostname or "",
        "webui_url": info.webui_url or "",
        "active": fw.connected,
        "connected": fw.connected,
        "recovered": fw.recovered,
        "user": info.user,
        "failover_timeout": info.failover_timeout or 0,
        "checkpoint": bool(info.checkpoint),
        "registered_time": fw.registered_time,
        "unregistered_time": fw.unregistered_time or 0,
        "principal": info.principal or "",
        "capabilities": [str(c.type) for c in info.capabilities if c.type is not None],
        "resources": used.flat(),
        "used_resources": used.flat(),
        "offered_resources": offered.flat(),
        "tasks": [task(r) for r in fw.tasks.values() if not r.unreachable],
        "unreachable_tasks": [task(r) for r in fw.tasks.values() if r.unreachable],
        "completed_tasks": [task(r) for r in fw.completed],
        "offers": [
            {
                "id": o.id,
                "framework_id": fw.id,
                "slave_id": o.agent_id,
                "resources": o.resources.flat(),
            }
            for o in fw.offers.values()
        ],
        "executors": [],
        "labels": to_json(info.labels)["labels"] if info.labels else [],
    }
    if fw.multi_role:
        out["roles"] = list(fw.roles)
    else:
        out["role"] = fw.roles[0] if fw.roles else "*"
    return out


def state(master: Master) -> dict[str, Any]:
    s = master.state
    v = version_info()
    registered = [a for a in s.agents.values() if a.reachable]
    return {
        "version": v.version,
        "git_sha": v.git_sha,
        "git_tag": v.git_tag,
        "build_date": v.build_date,
        "build_time": v.build_time,
        "build_user": v.build_user,
        "start_time": s.start_time,
        "elected_time": s.elected_time,
        "id": s.master_id,
        "pid": master.pid,
        "hostname": master.host,
        "leader": master.pid,
        "leader_info": to_json(master.master_info()),
        "activated_slaves": sum(1 for a in registered if not a.deactivated),
        "deactivated_slaves": sum(1 for a in registered if a.deactivated),
        "unreachable_slaves": sum(
            1 for a in s.agents.values() if a.unreachable_since is not None and not a.gone
        ),
        "cluster": master.settings.cluster_name,
        "flags": flags(master),
        "slaves": [agent(master, a) for a in registered],
        "recovered_slaves": [],
        "frameworks": [framework(fw) for fw in s.frameworks.values()],
        "completed_frameworks": [framework(fw) for fw in s.completed_frameworks],
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    }


def _master(request: Request) -> Master:
    master: Master = request.app.state.master
    return master


async def _state(request: Request) -> Response:
    return JSONResponse(state(_master(request)))


async def _slaves(request: Request) -> Response:
    master = _master(request)
    agents = [agent(master, a) for a in master.state.agents.values() if a.reachable]
    return JSONResponse({"slaves": agents, "recovered_slaves": []})


async def _frameworks(request: Request) -> Response:
    master = _master(request)
    return JSONResponse(
        {
            "frameworks": [framework(fw) for fw in master.state.frameworks.values()],
            "completed_frameworks": [framework(fw) for fw in master.state.completed_frameworks],
            "unregistered_frameworks": [],
        }
    )


async def _tasks(request: Request) -> Response:
    master = _master(request)
    records = [
        r for fw in master.state.frameworks.values() for r in (*fw.tasks.values(), *fw.completed)
    ]
    if request.query_params.get("order", "desc") == "desc":
        records.reverse()
    offset = int(request.query_params.get("offset", "0"))
    limit = int(request.query_params.get("limit", "100"))
    return JSONResponse({"tasks": [task(r) for r in records[offset : offset + limit]]})


def _counts(records: list[TaskRecord]) -> dict[str, int]:
    out = {f"TASK_{s}": 0 for s in ("STAGING", "STARTING", "RUNNING", "KILLING", "FINISHED")}
    out.update({f"TASK_{s}": 0 for s in ("KILLED", "FAILED", "LOST", "ERROR", "UNREACHABLE")})
    for rec in records:
        key = str(rec.state)
        if key in out:
            out[key] += 1
    return out


def summary(master: Master) -> dict[str, Any]:
    s = master.state
    records = [r for fw in s.frameworks.values() for r in (*fw.tasks.values(), *fw.completed)]
    slaves = []
    for a in s.agents.values():
        if not a.reachable:
            continue
        mine = [r for r in records if r.agent_id == a.id]
        entry = {k: v for k, v in agent(master, a).items() if k != "capabilities"}
        entry.update(_counts(mine), framework_ids=sorted({r.framework_id for r in mine}))
        slaves.append(entry)
    frameworks = []
    for fw in s.frameworks.values():
        full = framework(fw)
        entry = {
            k: full[k] for k in ("id", "name", "hostname", "webui_url", "active", "capabilities")
        }
        entry.update(
            used_resources=full["used_resources"], offered_resources=full["offered_resources"]
        )
        entry.update(
            _counts(list(fw.tasks.values())),
            slave_ids=sorted({r.agent_id for r in fw.tasks.values()}),
        )
        frameworks.append(entry)
    return {
        "hostname": master.host,
        "cluster": master.settings.cluster_name,
        "slaves": slaves,
        "frameworks": frameworks,
    }


async def _summary(request: Request) -> Response:
    return JSONResponse(summary(_master(request)))


async def _roles(request: Request) -> Response:
    master = _master(request)
    names = {role for fw in master.state.frameworks.values() for role in fw.roles} | set(
        master.state.quotas
    )
    roles = []
    for name in sorted(names):
        used = Bag()
        members = []
        for fw in master.state.frameworks.values():
            if name in fw.roles:
                members.append(fw.id)
            for rec in fw.tasks.values():
                if (
                    rec.role == name
                    and rec.state not in TERMINAL_TASK_STATES
                    and not rec.unreachable
                ):
                    used.add(rec.resources)
        roles.append({"name": name, "weight": 1.0, "frameworks": members, "resources": used.flat()})
    return JSONResponse({"roles": roles})


async def _version(request: Request) -> Response:
    return JSONResponse(to_json(version_info()))


async def _health(request: Request) -> Response:
    return Response(status_code=200)


async def _redirect(request: Request) -> Response:
    master = _master(request)
    return RedirectResponse(f"//{master.host}:{master.port}", status_code=307)


def routes() -> list[BaseRoute]:
    table = {
        "state": _state,
        "state.json": _state,
        "state-summary": _summary,
        "roles": _roles,
        "roles.json": _roles,
        "slaves": _slaves,
        "frameworks": _frameworks,
        "tasks": _tasks,
        "tasks.json": _tasks,
        "health": _health,
        "redirect": _redirect,
    }
    out: list[BaseRoute] = [Route("/version", _version, methods=["GET"])]
    for name, handler in table.items():
        out.append(Route(f"/master/{name}", handler, methods=["GET"]))
        out.append(Route(f"/master/{name}/", handler, methods=["GET"]))
        if name != "redirect":
            out.append(Route(f"/{name}", handler, methods=["GET"]))
    return out
