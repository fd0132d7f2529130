"""Fault injection: a Python API for tests and ``POST /faults/...`` over HTTP.

========================  ================================  ==================================
HTTP                      body                              effect
========================  ================================  ==================================
/faults/kill-task         {"task_id", "framework_id"?}      the task dies: TASK_FAILED
/faults/lose-agent        {"agent_id"}                      agent and its tasks die:
                                                            TASK_UNREACHABLE (TASK_LOST if
                                                            not PARTITION_AWARE), GONE later
/faults/partition-agent   {"agent_id"}                      unreachable, tasks keep running
/faults/heal-agent        {"agent_id"}                      a partitioned agent reregisters
/faults/failover-master   {}                                new leader: streams cut, state kept
/faults/rescind-offers    {"framework_id"?, "agent_id"?}    RESCIND outstanding offers
========================  ================================  ==================================

Each answers 200 with ``{"ok": true}`` or 404 with a plain-text reason. The
agent-level effects are in :mod:`.agents`, the framework ones in
:mod:`.master`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.mesos import TERMINAL_TASK_STATES, TaskState, TaskStatusReason, TaskStatusSource
from localcluster.mesos.agents import AgentError

if TYPE_CHECKING:
    from localcluster.mesos.master import Master

__all__ = ["FaultError", "Faults", "routes"]

logger = logging.getLogger(__name__)


class FaultError(LookupError):
    """The target of a fault does not exist."""


class Faults:
    """Faults on one master: ``master.faults.lose_agent(agent_id)``."""

    def __init__(self, master: Master) -> None:
        self.master = master

    def kill_task(self, task_id: str, framework_id: str | None = None) -> None:
        for fw in self.master.state.frameworks.values():
            if framework_id not in (None, fw.id):
                continue
            rec = fw.tasks.get(task_id)
            if rec is None or rec.state in TERMINAL_TASK_STATES:
                continue
            logger.info("fault: killing task %s", task_id)
            self.master.tasks.transition(
                rec,
                TaskState.TASK_FAILED,
                source=TaskStatusSource.SOURCE_EXECUTOR,
                reason=TaskStatusReason.REASON_COMMAND_EXECUTOR_FAILED,
                message="Command terminated with signal Killed",
                reliable=True,
            )
            agent = self.master.state.agents[rec.agent_id]
            self.master.tasks.kill_on_agent(agent, rec, 0.0)
            return
        raise FaultError(f"no running task {task_id}")

    def lose_agent(self, agent_id: str) -> None:
        self._agent_call(
            agent_id, lambda: self.master.agents.unreachable(agent_id, partition=False)
        )

    def partition_agent(self, agent_id: str) -> None:
        self._agent_call(agent_id, lambda: self.master.agents.unreachable(agent_id, partition=True))

    def heal_agent(self, agent_id: str) -> None:
        if agent_id not in self.master.state.agents:
            raise FaultError(f"no agent {agent_id}")
        self.master.agents.heal(agent_id)

    def failover_master(self) -> None:
        self.master.failover()

    def rescind_offers(self, framework_id: str | None = None, agent_id: str | None = None) -> int:
        count = 0
        for fw in list(self.master.state.frameworks.values()):
            if framework_id not in (None, fw.id):
                continue
            for offer in list(fw.offers.values()):
                if agent_id in (None, offer.agent_id):
                    self.master.allocator.rescind(offer)
                    count += 1
        return count

    def _agent_call(self, agent_id: str, action: Any) -> None:
        try:
            action()
        except AgentError as exc:
            raise FaultError(str(exc)) from exc


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("value")
    return None if value is None else str(value)


def routes() -> list[BaseRoute]:
    async def handle(request: Request) -> Response:
        master: Master = request.app.state.master
        faults = master.faults
        name = request.path_params["name"]
        try:
            body = await _body(request)
        except json.JSONDecodeError as exc:
            return PlainTextResponse(f"Failed to parse body into JSON: {exc}", status_code=400)
        agent_id = _id(body.get("agent_id"))
        framework_id = _id(body.get("framework_id"))
        result: dict[str, Any] = {"ok": True}
        try:
            if name == "kill-task":
                faults.kill_task(_id(body.get("task_id")) or "", framework_id)
            elif name == "lose-agent":
                faults.lose_agent(agent_id or "")
            elif name == "partition-agent":
                faults.partition_agent(agent_id or "")
            elif name == "heal-agent":
                faults.heal_agent(agent_id or "")
            elif name == "failover-master":
                faults.failover_master()
                result["master_id"] = master.state.master_id
            elif name == "rescind-offers":
                result["rescinded"] = faults.rescind_offers(framework_id, agent_id)
            else:
                return PlainTextResponse(f"Unknown fault '{name}'", status_code=404)
        except FaultError as exc:
            return PlainTextResponse(str(exc), status_code=404)
        return JSONResponse(result)

    return [Route("/faults/{name}", handle, methods=["POST"])]
