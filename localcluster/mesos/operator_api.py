"""``POST /api/v1``: the v1 operator API endpoint.

GET_* calls answer 200 with ``{"type": "GET_X", "get_x": {...}}`` built by
:mod:`.views`. Changes answer as the master does: RESERVE_RESOURCES and
UNRESERVE_RESOURCES 202; UPDATE_QUOTA, DRAIN_AGENT, DEACTIVATE_AGENT,
REACTIVATE_AGENT, MARK_AGENT_GONE, TEARDOWN and the maintenance calls 200
(the docs say 202 for maintenance; the master code says 200). A refused
change is a plain-text 400 (409 when resources do not fit). SUBSCRIBE
answers a RecordIO stream without ``Mesos-Stream-Id``: SUBSCRIBED (a full
GET_STATE and the heartbeat interval), then the events the master publishes
(:meth:`~.master.Master.publish`) and HEARTBEATs. Calls that make no sense
without real disks or files (volumes, LIST_FILES, READ_FILE...) get 501.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from adapters.mesos import (
    ClusterStatus,
    DrainingMachine,
    Flag,
    GetExecutors,
    GetFlags,
    GetHealth,
    GetMaintenanceSchedule,
    GetMaintenanceStatus,
    GetMaster,
    GetOperations,
    GetQuota,
    GetRoles,
    GetVersion,
    GetWeights,
    MachineID,
    OperatorCall,
    OperatorCallType,
    OperatorEvent,
    OperatorEventType,
    OperatorResponse,
    OperatorSubscribed,
    QuotaConfig,
    QuotaStatus,
    Role,
    Scalar,
    VersionInfo,
    dumps,
    recordio,
)
from localcluster.mesos import views
from localcluster.mesos.agents import AgentError, Conflict
from localcluster.mesos.master import VERSION
from localcluster.mesos.resources import Bag, to_resources
from localcluster.mesos.state import Stream
from localcluster.mesos.transport import (
    bad_request,
    check_transport,
    parse_json,
    stream_response,
    validation_message,
)

if TYPE_CHECKING:
    from localcluster.mesos.master import Master

__all__ = ["flags", "operator_endpoint", "version_info"]

logger = logging.getLogger(__name__)

_HEARTBEAT = recordio.encode(dumps(OperatorEvent.wrap(OperatorEventType.HEARTBEAT)))
_KIND = "master::Call"
T = OperatorCallType


def version_info() -> VersionInfo:
    return VersionInfo(
        version=VERSION,
        build_date="2020-11-24 11:25:00",
        build_time=1606216700.0,
        build_user="localcluster",
        git_sha="0000000000000000000000000000000000000000",
        git_tag=VERSION,
    )


def flags(master: Master) -> dict[str, str]:
    s = master.settings
    return {
        "allocation_interval": f"{s.allocation_interval}secs",
        "authenticate_frameworks": "false",
        "cluster": s.cluster_name,
        "hostname": master.host,
        "port": str(master.port),
        "quorum": "1",
        "registry": "in_memory",
        "work_dir": "/var/lib/mesos",
        "heartbeat_interval": f"{s.heartbeat_interval}secs",
    }


async def operator_endpoint(request: Request) -> Response:
    master: Master = request.app.state.master
    refused = check_transport(request)
    if refused is not None:
        return refused
    try:
        call = OperatorCall.model_validate(await parse_json(request))
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            return bad_request(validation_message(exc, _KIND))
        return bad_request(str(exc))
    if not call.type.is_known() or call.type == T.UNKNOWN:
        return bad_request(f"Failed to validate {_KIND}: Unknown call type '{call.type}'")
    if call.type == T.SUBSCRIBE:
        return _subscribe(master)
    try:
        if call.type.value.startswith("GET_"):
            body = _get(master, call.type)
            if body is None:
                return bad_request(f"{call.type} is not implemented", 501)
            response = OperatorResponse.wrap(call.type.value, body)
            return Response(dumps(response), media_type="application/json")
        return _change(master, call)
    except Conflict as exc:
        return bad_request(str(exc), 409)
    except AgentError as exc:
        return bad_request(str(exc))


def _get(master: Master, kind: OperatorCallType) -> Any:
    if kind == T.GET_HEALTH:
        return GetHealth(healthy=True)
    if kind == T.GET_VERSION:
        return GetVersion(version_info=version_info())
    if kind == T.GET_FLAGS:
        return GetFlags(flags=[Flag(name=k, value=v) for k, v in sorted(flags(master).items())])
    if kind == T.GET_STATE:
        return views.get_state(master)
    if kind == T.GET_AGENTS:
        return views.agents(master)
    if kind == T.GET_FRAMEWORKS:
        return views.frameworks(master)
    if kind == T.GET_TASKS:
        return views.tasks(master)
    if kind == T.GET_ROLES:
        return _roles(master)
    if kind == T.GET_WEIGHTS:
        return GetWeights()
    if kind == T.GET_EXECUTORS:
        return GetExecutors()
    if kind == T.GET_OPERATIONS:
        return GetOperations()
    if kind == T.GET_MASTER:
        s = master.state
        return GetMaster(
            master_info=master.master_info(), start_time=s.start_time, elected_time=s.elected_time
        )
    if kind == T.GET_QUOTA:
        configs = [
            QuotaConfig(
                role=role,
                guarantees={k: Scalar(value=v) for k, v in g.items()},
                limits={k: Scalar(value=v) for k, v in lim.items()},
            )
            for role, (g, lim) in sorted(master.state.quotas.items())
        ]
        return GetQuota(status=QuotaStatus(configs=configs))
    if kind == T.GET_MAINTENANCE_SCHEDULE:
        return GetMaintenanceSchedule(schedule=master.state.schedule)
    if kind == T.GET_MAINTENANCE_STATUS:
        return GetMaintenanceStatus(status=_maintenance_status(master))
    return None


def _roles(master: Master) -> GetRoles:
    names: set[str] = set(master.state.quotas)
    for fw in master.state.frameworks.values():
        names.update(fw.roles)
    out = []
    for name in sorted(names):
        bag = Bag()
        members = []
        for fw in master.state.frameworks.values():
            if name in fw.roles:
                members.append(fw.info.id)
            for rec in fw.tasks.values():
                if rec.role == name and not rec.unreachable:
                    bag.add(rec.resources)
        out.append(
            Role(
                name=name,
                weight=1.0,
                frameworks=[m for m in members if m],
                resources=to_resources(bag, role=name),
            )
        )
    return GetRoles(roles=out)


def _maintenance_status(master: Master) -> ClusterStatus:
    down = master.state.down_machines
    draining = [
        DrainingMachine(id=m, statuses=master.maintenance.statuses(m))
        for w in master.state.schedule.windows
        for m in w.machine_ids
        if ((m.hostname or ""), (m.ip or "")) not in down
    ]
    return ClusterStatus(
        draining_machines=draining,
        down_machines=[MachineID(hostname=h or None, ip=i or None) for h, i in sorted(down)],
    )


def _change(master: Master, call: OperatorCall) -> Response:
    agents = master.agents
    kind = call.type
    if kind == T.RESERVE_RESOURCES and call.reserve_resources is not None:
        body = call.reserve_resources
        agents.reserve(body.agent_id.value, body.resources, reserve=True)
        return Response(status_code=202)
    if kind == T.UNRESERVE_RESOURCES and call.unreserve_resources is not None:
        body_u = call.unreserve_resources
        agents.reserve(body_u.agent_id.value, body_u.resources, reserve=False)
        return Response(status_code=202)
    if kind == T.UPDATE_QUOTA and call.update_quota is not None:
        agents.update_quota(call.update_quota.quota_configs)
    elif kind == T.DRAIN_AGENT and call.drain_agent is not None:
        drain = call.drain_agent
        grace = None
        if drain.max_grace_period is not None:
            grace = drain.max_grace_period.seconds + (drain.max_grace_period.nanos or 0) / 1e9
        agents.drain(drain.agent_id.value, max_grace=grace, mark_gone=bool(drain.mark_gone))
    elif kind == T.DEACTIVATE_AGENT and call.deactivate_agent is not None:
        agents.deactivate(call.deactivate_agent.agent_id.value, active=False)
    elif kind == T.REACTIVATE_AGENT and call.reactivate_agent is not None:
        agents.deactivate(call.reactivate_agent.agent_id.value, active=True)
    elif kind == T.MARK_AGENT_GONE and call.mark_agent_gone is not None:
        agents.mark_gone(call.mark_agent_gone.agent_id.value)
    elif kind == T.UPDATE_MAINTENANCE_SCHEDULE and call.update_maintenance_schedule is not None:
        master.maintenance.update_schedule(call.update_maintenance_schedule.schedule)
    elif kind == T.START_MAINTENANCE and call.start_maintenance is not None:
        master.maintenance.start_maintenance(call.start_maintenance.machines)
    elif kind == T.STOP_MAINTENANCE and call.stop_maintenance is not None:
        master.maintenance.stop_maintenance(call.stop_maintenance.machines)
    elif kind == T.TEARDOWN and call.teardown is not None:
        fw = master.state.frameworks.get(call.teardown.framework_id.value)
        if fw is None:
            return bad_request("Framework cannot be found")
        master.remove_framework(fw)
    else:
        return bad_request(f"{kind} is not implemented", 501)
    return Response(status_code=200)


def _subscribe(master: Master) -> Response:
    stream = Stream(f"operator-{time.monotonic_ns()}")
    subscribed = OperatorSubscribed(
        get_state=views.get_state(master),
        heartbeat_interval_seconds=master.settings.heartbeat_interval,
    )
    stream.send(
        recordio.encode(dumps(OperatorEvent.wrap(OperatorEventType.SUBSCRIBED, subscribed)))
    )
    stream.send(_HEARTBEAT)
    master.operator_streams.add(stream)

    def closed() -> None:
        master.operator_streams.discard(stream)

    return stream_response(
        stream, heartbeat=_HEARTBEAT, interval=master.settings.heartbeat_interval, on_close=closed
    )
