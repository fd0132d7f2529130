"""Simulated load, and each agent's ``/monitor/statistics`` reporting it.

A real agent reports the usage of every container it runs at
``/monitor/statistics`` (also ``/slave(1)/monitor/statistics``) on its own
port: a JSON list with one entry per executor::

    [{"executor_id": "shop.web.1a2b3c4d.0f0f0f0f",
      "executor_name": "Command Executor (Task: shop.web.1a2b3c4d.0f0f0f0f)",
      "framework_id": "<master id>-0000",
      "source": "shop.web.1a2b3c4d.0f0f0f0f",
      "statistics": {"timestamp": 1794384000.0,
                     "cpus_user_time_secs": 12.5, "cpus_system_time_secs": 0.0,
                     "cpus_limit": 0.25,
                     "mem_rss_bytes": 33554432, "mem_limit_bytes": 67108864}}]

The local agents share the master's server, as the agents of an in-process
Mesos cluster share one libprocess port: the n-th agent is the process
``slave(n)``, its pid (``GET_AGENTS``, ``/master/slaves``) is
``slave(n)@127.0.0.1:<master port>`` and its statistics are served at
``/slave(n)/monitor/statistics`` (and ``.json``) on the master's port. A
client turns any agent pid into that URL, for real agents as for these.

Nothing runs in a simulated container, so the usage is set by hand, per App
or per task-id prefix, with :class:`SimLoad` (``master.sim_load``) or over HTTP:

==========  =========================================  ===========================
method      body                                       effect
==========  =========================================  ===========================
POST        {"app": "shop/web", "cpu": 0.9,            the tasks of App shop/web run
/sim/load   "mem": 0.5}                                at 90 % of their cpus, use half
                                                       their mem (either may be left
                                                       out: it keeps its value)
POST        {"app": "shop.web.1a2b", "cpu": 1.0}       tasks whose id or name starts
                                                       with the prefix
GET         --                                         ``{"loads": [{"app", "cpu",
/sim/load                                              "mem"}, ...]}``
DELETE      {"app": "shop/web"} or nothing             forget one load, or all
/sim/load
==========  =========================================  ===========================

``domain/app`` matches by the framework's task naming (task id
``<domain>.<app>.<version>.<suffix>``, name ``<app>.<domain>``); any other
value is a prefix of the task id or name. When several match, the longest
wins; a task nothing matches is idle (0 and 0). Every running task of every
containerizer is metered this way (a Docker task's real usage is the
engine's: ``adapters.docker_host``).

A task's CPU time grows at ``cpu * cpus_limit`` per second of the master's
clock (``SimLoad.clock``, wall seconds; tests may replace it), piecewise: a
new load applies from the moment it is set. Its RSS is ``mem *
mem_limit_bytes``. Limits are the task's own ``cpus`` and ``mem`` (a real
command executor adds its 0.1 cpus and 32 MB). CPU time is counted from the
first time a task is metered (a statistics read or a load change after it
runs), so utilisation comes from the difference of two samples, as with a
real agent.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.mesos import TaskState
from localcluster.mesos.state import Agent, TaskRecord

if TYPE_CHECKING:
    from localcluster.mesos.master import Master

__all__ = ["Load", "LoadError", "SimLoad", "routes"]

logger = logging.getLogger(__name__)

_MIB = 1024 * 1024


class LoadError(ValueError):
    """A load that cannot be set (answered 400)."""


@dataclass(frozen=True, slots=True)
class Load:
    cpu: float = 0.0
    """Fraction of the task's cpus in use (may exceed 1: a task can burst)."""
    mem: float = 0.0
    """Fraction of the task's mem resident."""


@dataclass(slots=True)
class _Meter:
    at: float
    cpu_seconds: float
    load: Load


def _limits(rec: TaskRecord) -> tuple[float, int]:
    flat = rec.resources.flat()
    return float(flat.get("cpus", 0.0)), int(float(flat.get("mem", 0.0)) * _MIB)


def _matches(selector: str, rec: TaskRecord) -> bool:
    domain, slash, app = selector.partition("/")
    if slash:
        return rec.task_id.startswith(f"{domain}.{app}.") or rec.info.name == f"{app}.{domain}"
    return rec.task_id.startswith(selector) or rec.info.name.startswith(selector)


class SimLoad:
    """The settable load of the master's tasks and the CPU time it accumulates."""

    def __init__(self, master: Master, *, clock: Callable[[], float] = time.time) -> None:
        self.master = master
        self.clock = clock
        """The master's clock, wall seconds: statistics timestamps and CPU time."""
        self.loads: dict[str, Load] = {}
        self._meters: dict[tuple[str, str], _Meter] = {}

    # ---------------------------------------------------------------- loads

    def set(self, selector: str, *, cpu: float | None = None, mem: float | None = None) -> Load:
        """Set the load of the tasks ``selector`` names; a value left out is kept."""
        selector = selector.strip()
        if not selector or selector.startswith("/") or selector.endswith("/"):
            raise LoadError(f"app {selector!r}: give <domain>/<app> or a task id prefix")
        for name, value in (("cpu", cpu), ("mem", mem)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise LoadError(f"{name} {value!r}: must be a number, 0 or more")
        self._advance(self._running(), self.clock(), prune=True)
        old = self.loads.get(selector, Load())
        new = Load(cpu=old.cpu if cpu is None else cpu, mem=old.mem if mem is None else mem)
        self.loads[selector] = new
        self._relabel()
        logger.info("simulated load of %s: cpu %.2f, mem %.2f", selector, new.cpu, new.mem)
        return new

    def clear(self, selector: str | None = None) -> None:
        """Forget the load of ``selector`` (every load with None): its tasks go idle."""
        self._advance(self._running(), self.clock(), prune=True)
        if selector is None:
            self.loads.clear()
        else:
            self.loads.pop(selector.strip(), None)
        self._relabel()

    def load_of(self, rec: TaskRecord) -> Load:
        """The load of the longest selector matching ``rec``; idle when none does."""
        best: tuple[int, Load] | None = None
        for selector, load in self.loads.items():
            if _matches(selector, rec) and (best is None or len(selector) > best[0]):
                best = (len(selector), load)
        return best[1] if best is not None else Load()

    # ----------------------------------------------------------- statistics

    def statistics(self, agent: Agent) -> list[dict[str, Any]]:
        """``/monitor/statistics`` of ``agent``: one entry per running task."""
        now = self.clock()
        running = self._running()
        mine = [rec for rec in running if rec.agent_id == agent.id]
        self._advance(running, now, prune=True)
        out = []
        for rec in mine:
            meter = self._meters[rec.key]
            cpus, mem_limit = _limits(rec)
            out.append(
                {
                    "executor_id": rec.executor_id or rec.task_id,
                    "executor_name": f"Command Executor (Task: {rec.task_id})",
                    "framework_id": rec.framework_id,
                    "source": rec.task_id,
                    "statistics": {
                        "timestamp": now,
                        "cpus_user_time_secs": round(meter.cpu_seconds, 6),
                        "cpus_system_time_secs": 0.0,
                        "cpus_limit": cpus,
                        "mem_rss_bytes": int(meter.load.mem * mem_limit),
                        "mem_limit_bytes": mem_limit,
                    },
                }
            )
        return out

    def _running(self) -> list[TaskRecord]:
        return [
            rec
            for fw in self.master.state.frameworks.values()
            for rec in fw.tasks.values()
            if rec.state == TaskState.TASK_RUNNING and not rec.unreachable
        ]

    def _advance(self, records: Iterable[TaskRecord], now: float, *, prune: bool) -> None:
        """Bring the CPU time of ``records`` up to ``now`` at their current loads."""
        seen = set()
        for rec in records:
            seen.add(rec.key)
            meter = self._meters.get(rec.key)
            if meter is None:
                self._meters[rec.key] = _Meter(at=now, cpu_seconds=0.0, load=self.load_of(rec))
                continue
            cpus, _ = _limits(rec)
            meter.cpu_seconds += meter.load.cpu * cpus * max(0.0, now - meter.at)
            meter.at = max(meter.at, now)
        if prune:
            for key in [key for key in self._meters if key not in seen]:
                del self._meters[key]

    def _relabel(self) -> None:
        """Each metered task takes its load of now (after ``_advance`` to now)."""
        for rec in self._running():
            meter = self._meters.get(rec.key)
            if meter is not None:
                meter.load = self.load_of(rec)


# ------------------------------------------------------------------- HTTP


def _master(request: Request) -> Master:
    master: Master = request.app.state.master
    return master


async def _statistics(request: Request) -> Response:
    master = _master(request)
    process = f"slave({request.path_params['n']})"
    agent = next((a for a in master.state.agents.values() if a.process == process), None)
    if agent is None or agent.gone:
        return PlainTextResponse(f"No agent {process} on this host", status_code=404)
    if not agent.reachable:
        return PlainTextResponse(f"Agent {agent.hostname} is unreachable", status_code=503)
    return JSONResponse(master.sim_load.statistics(agent))


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LoadError(f"{key} {value!r}: must be a number, 0 or more")
    return float(value)


async def _load(request: Request) -> Response:
    sim = _master(request).sim_load
    if request.method == "GET":
        loads = [
            {"app": selector, "cpu": load.cpu, "mem": load.mem}
            for selector, load in sorted(sim.loads.items())
        ]
        return JSONResponse({"loads": loads})
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        return PlainTextResponse(f"Failed to parse body into JSON: {exc}", status_code=400)
    if not isinstance(body, dict):
        return PlainTextResponse("The body must be a JSON object", status_code=400)
    selector = body.get("app")
    if selector is not None and not isinstance(selector, str):
        return PlainTextResponse(f"app {selector!r}: must be a string", status_code=400)
    if request.method == "DELETE":
        sim.clear(selector)
        return JSONResponse({"ok": True})
    try:
        if selector is None:
            raise LoadError('app: missing ("<domain>/<app>" or a task id prefix)')
        load = sim.set(selector, cpu=_number(body, "cpu"), mem=_number(body, "mem"))
    except LoadError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    return JSONResponse({"ok": True, "app": selector.strip(), "cpu": load.cpu, "mem": load.mem})


def routes() -> list[BaseRoute]:
    return [
        Route("/slave({n:int})/monitor/statistics", _statistics, methods=["GET"]),
        Route("/slave({n:int})/monitor/statistics.json", _statistics, methods=["GET"]),
        Route("/sim/load", _load, methods=["GET", "POST", "DELETE"]),
    ]
