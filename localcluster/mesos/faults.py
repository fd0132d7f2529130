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
/faults/duplicate-updates {"count"?: N} or                the next N UPDATE events (default
                          {"mode": "on"|"off"}              1), or all until ``off``, are sent
                                                            twice
/faults/reorder-updates   {"mode"?, "batch"?, "seed"?,      UPDATE events are held and sent in
                          "hold"?}                          shuffled batches; reliable updates
                                                            no longer wait for the previous
                                                            one's acknowledgement
========================  ================================  ==================================

Each answers 200 with ``{"ok": true}`` or 404 with a plain-text reason (400
for a body it cannot use). The agent-level effects are in :mod:`.agents`, the
framework ones in :mod:`.master`.

The two status-update faults sit where every UPDATE event leaves the master
(:meth:`Faults.send_update`, called by the task manager), so they apply to
reliable updates, their retries and the master's own updates alike:

* *duplicate*: the event is written twice to the scheduler stream, the same
  uuid both times, as a retry racing its acknowledgement does. Acknowledging
  it twice is harmless: the second acknowledgement names no pending update.
* *reorder*: events are held per framework and sent when ``batch`` of them
  are held, or ``hold`` seconds after the first one, in an order shuffled by a
  ``random.Random(seed)``; when a batch holds two updates of one task and the
  shuffle kept them in order, the first two are swapped, so every such batch
  delivers an older state after a newer one (TASK_STARTING after
  TASK_RUNNING). For that to be possible the agent's status update manager
  forwards each reliable update as soon as it exists instead of waiting for
  the acknowledgement of the previous one; each still has its own uuid, is
  retried until acknowledged, and an acknowledgement may name any of a task's
  pending updates. ``off`` sends what is held, in order. A master failover
  drops what is held (the old leader's sockets are gone): reliable updates
  come again as retries, unreliable ones are lost, as on a real failover.

:attr:`Faults.duplicated` counts the extra copies sent, :attr:`Faults.stale`
the updates sent after a newer one of their task.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.mesos import (
    TERMINAL_TASK_STATES,
    TaskState,
    TaskStatus,
    TaskStatusReason,
    TaskStatusSource,
)
from localcluster.mesos.agents import AgentError
from localcluster.mesos.wire import update_record

if TYPE_CHECKING:
    import asyncio

    from localcluster.mesos.master import Master
    from localcluster.mesos.state import Framework

__all__ = ["FaultError", "Faults", "routes"]

logger = logging.getLogger(__name__)


class FaultError(LookupError):
    """The target of a fault does not exist."""


@dataclass
class _Reorder:
    """The reorder fault's settings and what it holds, per framework."""

    batch: int
    hold: float
    rng: random.Random
    held: dict[str, list[TaskStatus]] = field(default_factory=dict)
    newest: dict[tuple[str, str], float] = field(default_factory=dict)  # sent, by task
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)


class Faults:
    """Faults on one master: ``master.faults.lose_agent(agent_id)``."""

    def __init__(self, master: Master) -> None:
        self.master = master
        self.duplicates = 0  # UPDATE events still to send twice; -1: every one
        self.duplicated = 0  # extra copies sent so far
        self.reordered = 0  # batches sent shuffled so far
        self.stale = 0  # updates sent shuffled after a newer one of the same task
        self._reorder: _Reorder | None = None

    # ------------------------------------------------------------ status updates

    @property
    def reordering(self) -> bool:
        """Whether reliable updates are forwarded without waiting for acks."""
        return self._reorder is not None

    @property
    def held(self) -> int:
        """How many UPDATE events the reorder fault holds now."""
        reorder = self._reorder
        return 0 if reorder is None else sum(len(h) for h in reorder.held.values())

    def duplicate_updates(self, count: int | None = None, *, mode: str | None = None) -> None:
        """Send the next ``count`` UPDATE events twice (``mode`` "on": all; "off": none)."""
        if mode == "on":
            self.duplicates = -1
        elif mode == "off":
            self.duplicates = 0
        else:
            self.duplicates = 1 if count is None else count

    def reorder_updates(
        self, *, on: bool = True, batch: int = 4, seed: int = 0, hold: float = 0.5
    ) -> None:
        """Hold UPDATE events and send them in shuffled batches (``on=False`` stops)."""
        previous, self._reorder = self._reorder, None
        if previous is not None:
            for fw_id in list(previous.held):
                self._flush(previous, fw_id, shuffle=False)
        if on:
            self._reorder = _Reorder(batch=batch, hold=hold, rng=random.Random(seed))

    def send_update(self, fw: Framework, status: TaskStatus) -> None:
        """Write one UPDATE event to ``fw``'s stream, through the update faults."""
        copies = 1
        if self.duplicates:
            copies = 2
            self.duplicated += 1
            if self.duplicates > 0:
                self.duplicates -= 1
        reorder = self._reorder
        for _ in range(copies):
            if reorder is None:
                if fw.stream is not None:
                    fw.stream.send(update_record(status))
                continue
            held = reorder.held.setdefault(fw.id, [])
            held.append(status)
            if len(held) >= reorder.batch:
                self._flush(reorder, fw.id, shuffle=True)
            elif fw.id not in reorder.timers:
                reorder.timers[fw.id] = self.master.call_later(
                    reorder.hold, self._flush, reorder, fw.id, True
                )

    def drop_held_updates(self) -> None:
        """The streams were cut: what is held is lost."""
        reorder = self._reorder
        if reorder is not None:
            for handle in reorder.timers.values():
                handle.cancel()
            reorder.timers.clear()
            reorder.held.clear()

    def _flush(self, reorder: _Reorder, fw_id: str, shuffle: bool) -> None:
        handle = reorder.timers.pop(fw_id, None)
        if handle is not None:
            handle.cancel()
        held = reorder.held.pop(fw_id, [])
        if shuffle and len(held) > 1:
            reorder.rng.shuffle(held)
            _invert_one(held)
            self.reordered += 1
        fw = self.master.state.frameworks.get(fw_id)
        if fw is None or fw.stream is None:
            return
        for status in held:
            key, when = (fw_id, status.task_id.value), status.timestamp or 0.0
            if when < reorder.newest.get(key, when):
                self.stale += 1
            else:
                reorder.newest[key] = when
            fw.stream.send(update_record(status))

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


def _invert_one(batch: list[TaskStatus]) -> None:
    """Make sure an older update of some task follows a newer one, if any can."""
    first: dict[str, int] = {}
    for index, status in enumerate(batch):
        task = status.task_id.value
        if task in first and (batch[first[task]].timestamp or 0) > (status.timestamp or 0):
            return  # already inverted
        first.setdefault(task, index)
    for index, status in enumerate(batch):
        earlier = first[status.task_id.value]
        if earlier != index and (batch[earlier].timestamp or 0) < (status.timestamp or 0):
            batch[earlier], batch[index] = batch[index], batch[earlier]
            return


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


def _mode(body: dict[str, Any]) -> str | None:
    mode = body.get("mode")
    if mode not in (None, "on", "off"):
        raise ValueError(f'Field \'mode\' must be "on" or "off", not {mode!r}')
    return None if mode is None else str(mode)


def _count(body: dict[str, Any], name: str, default: int, minimum: int = 0) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"Field '{name}' must be an integer >= {minimum}, not {value!r}")
    return value


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"Field '{name}' must be a positive number, not {value!r}")
    return float(value)


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
            elif name == "duplicate-updates":
                mode = _mode(body)
                faults.duplicate_updates(_count(body, "count", 1), mode=mode)
                result["remaining"] = faults.duplicates
            elif name == "reorder-updates":
                faults.reorder_updates(
                    on=_mode(body) != "off",
                    batch=_count(body, "batch", 4, minimum=2),
                    seed=_count(body, "seed", 0),
                    hold=_number(body, "hold", 0.5),
                )
            else:
                return PlainTextResponse(f"Unknown fault '{name}'", status_code=404)
        except FaultError as exc:
            return PlainTextResponse(str(exc), status_code=404)
        except ValueError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        return JSONResponse(result)

    return [Route("/faults/{name}", handle, methods=["POST"])]
