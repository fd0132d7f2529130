"""The v1 operator API client: cluster state, quota, reservations, maintenance.

Every call is one JSON POST to ``/api/v1`` on the leading master, found
through ``http.MesosHTTP`` (the remembered leader first, 307 redirects
followed, unreachable masters skipped). GET_* calls return the typed body of
the answer (``GetState``, ``GetAgents``...). Changes return nothing: the
master answers 200 or 202 with an empty body, and since the docs and the
master's code disagree for the maintenance calls, any 2xx counts as success.
Errors are ``MesosRejected`` (4xx, with the master's text) and
``MesosUnavailable`` (no leader reachable).

:meth:`MesosOperatorClient.subscribe` streams :class:`OperatorEvent` records
(no ``Mesos-Stream-Id`` on this stream). Like the scheduler stream it is
declared dead after ``heartbeat_miss_factor`` silent heartbeat intervals and
reopened with backoff; every reopening starts with a fresh SUBSCRIBED
snapshot, which callers treat as a relist.

:meth:`MesosOperatorClient.master_state` reads the legacy ``/master/state``
(plain-string ids, ``slaves``), for programs written against it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any

import httpx
import pydantic

from adapters.mesos.http import Backoff, MesosClientBase, stream_records
from adapters.mesos.model_base import dumps, from_json
from adapters.mesos.model_cluster import ClusterStatus, QuotaConfig, QuotaStatus, Schedule
from adapters.mesos.model_common import AgentID, MachineID, ProtoDuration, Resource
from adapters.mesos.model_enums import OperatorCallType, OperatorEventType
from adapters.mesos.model_operator import (
    GetAgents,
    GetFlags,
    GetFrameworks,
    GetHealth,
    GetRoles,
    GetState,
    GetTasks,
    GetVersion,
    OperatorEvent,
    OperatorResponse,
)
from adapters.mesos.model_operator_call import (
    DrainAgentCall,
    OperatorCall,
    deactivate_agent_call,
    reactivate_agent_call,
    reserve_resources_call,
    start_maintenance_call,
    stop_maintenance_call,
    unreserve_resources_call,
    update_maintenance_schedule_call,
    update_quota_call,
)
from crds.errors import MesosUnavailable

__all__ = ["OPERATOR_PATH", "MesosOperatorClient"]

logger = logging.getLogger(__name__)

OPERATOR_PATH = "/api/v1"


def _agent(value: AgentID | str) -> AgentID:
    return value if isinstance(value, AgentID) else AgentID(value=str(value))


def _duration(seconds: float) -> ProtoDuration:
    """A ``google.protobuf.Duration`` (DRAIN_AGENT's odd one out)."""
    whole = int(seconds)
    nanos = round((seconds - whole) * 1e9)
    return ProtoDuration(seconds=whole, nanos=nanos or None)


class MesosOperatorClient(MesosClientBase):
    """The operator API of the leading Mesos master (see the module docstring)."""

    @property
    def master(self) -> str:
        """The master the next call goes to first (the leader, once known)."""
        return self._http.masters.current

    # ------------------------------------------------------------ plumbing

    async def _post(self, call: OperatorCall) -> httpx.Response:
        logger.debug("operator call %s to %s", call.type, self.master)
        return await self._http.request("POST", OPERATOR_PATH, content=dumps(call))

    async def _get(self, kind: OperatorCallType) -> OperatorResponse:
        response = await self._post(OperatorCall.wrap(kind))
        url = str(response.request.url)
        try:
            answer = from_json(OperatorResponse, response.content)
        except (json.JSONDecodeError, UnicodeDecodeError, pydantic.ValidationError) as exc:
            raise MesosUnavailable(f"Mesos master {url}: unreadable {kind} answer: {exc}") from exc
        if answer.type.value != kind.value or answer.body() is None:
            raise MesosUnavailable(f"Mesos master {url}: {kind} answered with {answer.type}")
        return answer

    # ---------------------------------------------------------------- reads

    async def get_health(self) -> GetHealth:
        answer = await self._get(OperatorCallType.GET_HEALTH)
        assert answer.get_health is not None
        return answer.get_health

    async def get_version(self) -> GetVersion:
        answer = await self._get(OperatorCallType.GET_VERSION)
        assert answer.get_version is not None
        return answer.get_version

    async def get_flags(self) -> GetFlags:
        answer = await self._get(OperatorCallType.GET_FLAGS)
        assert answer.get_flags is not None
        return answer.get_flags

    async def get_state(self) -> GetState:
        """Tasks, executors, frameworks and agents in one consistent snapshot."""
        answer = await self._get(OperatorCallType.GET_STATE)
        assert answer.get_state is not None
        return answer.get_state

    async def get_agents(self) -> GetAgents:
        answer = await self._get(OperatorCallType.GET_AGENTS)
        assert answer.get_agents is not None
        return answer.get_agents

    async def get_frameworks(self) -> GetFrameworks:
        answer = await self._get(OperatorCallType.GET_FRAMEWORKS)
        assert answer.get_frameworks is not None
        return answer.get_frameworks

    async def get_tasks(self) -> GetTasks:
        answer = await self._get(OperatorCallType.GET_TASKS)
        assert answer.get_tasks is not None
        return answer.get_tasks

    async def get_roles(self) -> GetRoles:
        answer = await self._get(OperatorCallType.GET_ROLES)
        assert answer.get_roles is not None
        return answer.get_roles

    async def get_quota(self) -> QuotaStatus:
        """Every role's quota; read ``configs`` (``infos`` is the deprecated form)."""
        answer = await self._get(OperatorCallType.GET_QUOTA)
        assert answer.get_quota is not None
        return answer.get_quota.status

    async def get_maintenance_schedule(self) -> Schedule:
        answer = await self._get(OperatorCallType.GET_MAINTENANCE_SCHEDULE)
        assert answer.get_maintenance_schedule is not None
        return answer.get_maintenance_schedule.schedule

    async def get_maintenance_status(self) -> ClusterStatus:
        answer = await self._get(OperatorCallType.GET_MAINTENANCE_STATUS)
        assert answer.get_maintenance_status is not None
        return answer.get_maintenance_status.status

    async def master_state(self) -> dict[str, Any]:
        """The legacy ``GET /master/state`` document (v0 shapes: ``slaves``, string ids)."""
        data = await self._http.get_json("/master/state")
        if not isinstance(data, dict):
            raise MesosUnavailable(f"Mesos master {self.master}: /master/state is not an object")
        return data

    # -------------------------------------------------------------- changes

    async def update_quota(self, configs: Sequence[QuotaConfig], *, force: bool = False) -> None:
        """Set the quota of each listed role, all or nothing; ``force`` skips capacity checks."""
        await self._post(update_quota_call(configs, force=force))

    async def reserve_resources(
        self,
        agent_id: AgentID | str,
        resources: Sequence[Resource],
        *,
        source: Sequence[Resource] | None = None,
    ) -> None:
        """Reserve ``resources`` (``reservations[]`` form) on an agent; ``source`` re-reserves."""
        await self._post(reserve_resources_call(_agent(agent_id), resources, source=source))

    async def unreserve_resources(
        self, agent_id: AgentID | str, resources: Sequence[Resource]
    ) -> None:
        await self._post(unreserve_resources_call(_agent(agent_id), resources))

    async def drain_agent(
        self,
        agent_id: AgentID | str,
        *,
        max_grace_period: float | None = None,
        mark_gone: bool = False,
    ) -> None:
        """Kill the agent's tasks (within ``max_grace_period`` seconds) and stop offering it."""
        body = DrainAgentCall(agent_id=_agent(agent_id), mark_gone=mark_gone)
        if max_grace_period is not None:
            body.max_grace_period = _duration(max_grace_period)
        await self._post(OperatorCall.wrap(OperatorCallType.DRAIN_AGENT, body))

    async def deactivate_agent(self, agent_id: AgentID | str) -> None:
        """Stop offering the agent's resources; its tasks keep running."""
        await self._post(deactivate_agent_call(_agent(agent_id)))

    async def reactivate_agent(self, agent_id: AgentID | str) -> None:
        """Undo DRAIN_AGENT or DEACTIVATE_AGENT."""
        await self._post(reactivate_agent_call(_agent(agent_id)))

    async def update_maintenance_schedule(self, schedule: Schedule) -> None:
        await self._post(update_maintenance_schedule_call(schedule))

    async def start_maintenance(self, machines: Sequence[MachineID]) -> None:
        """Take machines DOWN (their agents are removed)."""
        await self._post(start_maintenance_call(machines))

    async def stop_maintenance(self, machines: Sequence[MachineID]) -> None:
        """Bring machines back UP."""
        await self._post(stop_maintenance_call(machines))

    # --------------------------------------------------------------- stream

    async def subscribe(self) -> AsyncGenerator[OperatorEvent, None]:
        """Cluster events, forever; each SUBSCRIBED (after any reconnection) is a full snapshot.

        Raises ``MesosRejected`` when the master refuses the subscription.
        """
        backoff = Backoff(
            initial=self._settings.backoff_initial,
            maximum=self._settings.backoff_max,
            jitter=self._settings.backoff_jitter,
            rng=self._rng,
        )
        while True:
            try:
                async with aclosing(self._subscription()) as events:
                    async for event in events:
                        if event.type == OperatorEventType.SUBSCRIBED:
                            backoff.reset()
                        yield event
            except MesosUnavailable as exc:
                self._http.masters.rotate()
                delay = backoff.next()
                logger.warning("Mesos operator stream lost (%s); reopening in %.2fs", exc, delay)
                await self._sleep(delay)

    async def _subscription(self) -> AsyncGenerator[OperatorEvent, None]:
        call = OperatorCall.wrap(OperatorCallType.SUBSCRIBE)
        response, url = await self._http.open_stream(OPERATOR_PATH, content=dumps(call))
        # Until SUBSCRIBED: the request timeout; then the announced heartbeat tolerance.
        idle = [self._settings.request_timeout]
        records = stream_records(response, url=url, idle_timeout=lambda: idle[0])
        try:
            async with aclosing(records):
                async for record in records:
                    event = self._parse(record, url)
                    if event is None:
                        continue
                    if event.type == OperatorEventType.SUBSCRIBED and event.subscribed:
                        interval = event.subscribed.heartbeat_interval_seconds
                        interval = interval or self._settings.default_heartbeat_interval
                        idle[0] = interval * self._settings.heartbeat_miss_factor
                        logger.info("Mesos operator stream open on %s", url)
                    yield event
        finally:
            await response.aclose()

    @staticmethod
    def _parse(record: bytes, url: str) -> OperatorEvent | None:
        try:
            return from_json(OperatorEvent, record)
        except (json.JSONDecodeError, UnicodeDecodeError, pydantic.ValidationError):
            logger.exception("Mesos master %s sent an unreadable event: %.200r", url, record)
            return None
