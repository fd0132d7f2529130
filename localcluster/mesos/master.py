"""The master: frameworks, their streams, and the wiring of its parts.

:class:`Master` owns the :class:`~.state.State` and three collaborators, each
in its own module: the :class:`~.allocator.Allocator` (offers, filters,
quota, ACCEPT/DECLINE), the :class:`~.tasks.TaskManager` (launch, status
updates with retries until acknowledged, kill, reconciliation) and the
:class:`~.agents.AgentManager` (reservations, draining, maintenance, agent
loss and partitions). This module keeps the framework lifecycle as a real
master does:

* SUBSCRIBE without an id registers a framework; with an id it fails the
  framework over: the old stream gets ERROR "Framework failed over" and is
  closed, outstanding offers are recovered and filters cleared.
* A stream that ends disconnects the framework; it keeps its tasks for
  ``failover_timeout`` seconds, after which it is removed and its tasks are
  killed (no updates: the framework is gone). TEARDOWN removes it at once.
* :meth:`Master.failover` emulates a leader change: a new master id, every
  stream cut, all state kept, so frameworks resubscribe with their id and
  find their tasks. As in Mesos, the new leader does not know the frameworks'
  failover timeouts: one that never resubscribes is kept, its tasks orphaned.

Events go out through :meth:`send` (scheduler streams) and :meth:`publish`
(operator streams). Background work runs in named, tracked tasks
(:meth:`spawn`); :meth:`stop` cancels and awaits them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from adapters.mesos import (
    Address,
    CallSubscribe,
    EventError,
    EventSubscribed,
    FrameworkID,
    FrameworkRemoved,
    MasterInfo,
    OperatorEvent,
    OperatorEventType,
    SchedulerEvent,
    SchedulerEventType,
    TaskInfo,
    dumps,
    recordio,
)
from localcluster.mesos import views
from localcluster.mesos.agents import AgentManager
from localcluster.mesos.allocator import Allocator
from localcluster.mesos.cluster import build_agents
from localcluster.mesos.containerizer import Containerizer
from localcluster.mesos.faults import Faults
from localcluster.mesos.maintenance import Maintenance
from localcluster.mesos.monitor import SimLoad
from localcluster.mesos.settings import MasterSettings
from localcluster.mesos.state import Framework, State, Stream
from localcluster.mesos.tasks import TaskManager

__all__ = ["VERSION", "Master"]

logger = logging.getLogger(__name__)

VERSION = "1.11.0"


class Master:
    """The emulated leading master (see the module docstring)."""

    def __init__(
        self,
        settings: MasterSettings,
        *,
        containerizers: Mapping[str, Containerizer],
        host: str = "127.0.0.1",
        port: int = 5050,
    ) -> None:
        self.settings = settings
        self.containerizers = dict(containerizers)
        self.host = host
        self.port = port
        now = time.time()
        self.state = State(
            master_id=settings.master_id or str(uuid.uuid4()), start_time=now, elected_time=now
        )
        self.state.completed_frameworks = deque(maxlen=settings.completed_frameworks)
        self.operator_streams: set[Stream] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._closing = False  # set on shutdown: no new timers or tasks
        self.allocator = Allocator(self)
        self.tasks = TaskManager(self)
        self.agents = AgentManager(self)
        self.maintenance = Maintenance(self)
        self.faults = Faults(self)
        self.sim_load = SimLoad(self)
        agents = build_agents(
            self.state.master_id, settings.agents, settings.containerizer, port=port
        )
        for agent in agents:
            self.agents.add(agent)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the allocation and retry loops (call from the running loop)."""
        self.spawn(self.allocator.run(), name="mesos:allocator")
        self.spawn(self.tasks.run_retries(), name="mesos:status-retries")

    async def stop(self) -> None:
        """Close every stream, stop the loops, timers and the containerizers."""
        self.close_streams()
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:  # failures are logged by _reap; a cancel of stop() itself is not swallowed
            await asyncio.wait(tasks)
        for containerizer in self.containerizers.values():
            try:
                await containerizer.close()
            except Exception:
                logger.exception("closing containerizer %r failed", containerizer)

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any] | None:
        """Run ``coro`` as a tracked, named task; failures are logged, not lost."""
        if self._closing:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("task %s failed", task.get_name(), exc_info=task.exception())

    def call_later(
        self, delay: float, callback: Callable[..., None], *args: Any
    ) -> asyncio.TimerHandle:
        """A tracked timer, cancelled when the master stops."""
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)
            callback(*args)

        handle = loop.call_later(min(delay, 10**8), fire)
        if self._closing:
            handle.cancel()
        else:
            self._timers.add(handle)
        return handle

    def close_streams(self) -> None:
        """Shutdown begins: end every stream; disconnections start no timers now."""
        self._closing = True
        for fw in self.state.frameworks.values():
            if fw.stream is not None:
                fw.stream.close()
        for stream in list(self.operator_streams):
            stream.close()

    # ------------------------------------------------------------------ identity

    @property
    def pid(self) -> str:
        return f"master@{self.host}:{self.port}"

    def master_info(self) -> MasterInfo:
        try:
            packed = int.from_bytes(ipaddress.IPv4Address(self.host).packed, "little")
        except ValueError:
            packed = 0
        return MasterInfo(
            id=self.state.master_id,
            ip=packed,
            port=self.port,
            pid=self.pid,
            hostname=self.host,
            version=VERSION,
            address=Address(hostname=self.host, ip=self.host, port=self.port),
        )

    def containerizer_for(self, name: str, task: TaskInfo | None = None) -> Containerizer:
        """The containerizer of an agent whose own is ``name`` ("" the default); a
        command task (no ``container``) goes to ``settings.command_containerizer`` if set."""
        command = self.settings.command_containerizer
        if task is not None and task.container is None and command:
            return self.containerizers[command]
        return self.containerizers[name or self.settings.containerizer]

    # ------------------------------------------------------------------- events

    def send(self, fw: Framework, event: SchedulerEvent) -> None:
        if fw.stream is not None:
            fw.stream.send(recordio.encode(dumps(event)))

    def publish(self, make: Callable[[], OperatorEvent]) -> None:
        """Send an operator event, built only if someone listens."""
        if not self.operator_streams:
            return
        record = recordio.encode(dumps(make()))
        for stream in self.operator_streams:
            stream.send(record)

    def _publish_framework(self, fw: Framework, kind: OperatorEventType) -> None:
        def make() -> OperatorEvent:
            body = {"framework": views.framework(self, fw)}
            return OperatorEvent.model_validate({"type": kind, kind.value.lower(): body})

        self.publish(make)

    # --------------------------------------------------------------- frameworks

    def subscribe(self, call: CallSubscribe, framework_id: str | None) -> tuple[str | None, Stream]:
        """Register or fail over a framework; return its new stream (SUBSCRIBED queued)."""
        stream = Stream(str(uuid.uuid4()))
        if framework_id is not None and any(
            f.id == framework_id for f in self.state.completed_frameworks
        ):
            error = SchedulerEvent.wrap(
                SchedulerEventType.ERROR, EventError(message="Framework has been removed")
            )
            stream.send(recordio.encode(dumps(error)))
            stream.close()
            return None, stream
        info = call.framework_info
        roles = list(info.roles) if info.roles else [info.role or "*"]
        fw = self.state.frameworks.get(framework_id) if framework_id else None
        if fw is None:
            fid = framework_id or self.state.framework_id()
            info = info.model_copy(update={"id": FrameworkID(value=fid)})
            fw = Framework(id=fid, info=info, roles=roles, registered_time=time.time())
            fw.completed = deque(maxlen=self.settings.completed_tasks_per_framework)
            self.state.frameworks[fid] = fw
            logger.info("framework %s (%s) registered, roles %s", fid, info.name, roles)
            added = True
        else:
            self._take_over(fw)
            fw.info = info.model_copy(update={"id": FrameworkID(value=fw.id)})
            fw.roles = roles
            fw.reregistered_time = time.time()
            logger.info("framework %s (%s) resubscribed", fw.id, info.name)
            added = False
        fw.suppressed = set(call.suppressed_roles)
        fw.stream = stream
        fw.unregistered_time = None
        fw.recovered = False
        subscribed = EventSubscribed(
            framework_id=FrameworkID(value=fw.id),
            heartbeat_interval_seconds=self.settings.heartbeat_interval,
            master_info=self.master_info(),
        )
        self.send(fw, SchedulerEvent.wrap(SchedulerEventType.SUBSCRIBED, subscribed))
        self.send(fw, SchedulerEvent.wrap(SchedulerEventType.HEARTBEAT))
        self.tasks.resend_pending(fw)
        self.maintenance.send_inverse_offers(fw)
        kind = OperatorEventType.FRAMEWORK_ADDED if added else OperatorEventType.FRAMEWORK_UPDATED
        self._publish_framework(fw, kind)
        self.allocator.trigger()
        return fw.id, stream

    def _take_over(self, fw: Framework) -> None:
        """A resubscription: end the old stream, drop offers and filters, stop the timer."""
        if fw.failover_handle is not None:
            fw.failover_handle.cancel()
            fw.failover_handle = None
        old = fw.stream
        fw.stream = None
        if old is not None:
            error = SchedulerEvent.wrap(
                SchedulerEventType.ERROR, EventError(message="Framework failed over")
            )
            old.send(recordio.encode(dumps(error)))
            old.close()
        self.allocator.recover_all(fw, notify=False)
        fw.filters.clear()

    def update_framework(self, fw: Framework, call: CallSubscribe) -> None:
        """UPDATE_FRAMEWORK: new info and roles; offers of dropped roles are rescinded."""
        info = call.framework_info
        roles = list(info.roles) if info.roles else [info.role or "*"]
        for offer in list(fw.offers.values()):
            if offer.role not in roles:
                self.allocator.rescind(offer)
        fw.info = info.model_copy(update={"id": FrameworkID(value=fw.id)})
        fw.roles = roles
        fw.suppressed = set(call.suppressed_roles)
        self._publish_framework(fw, OperatorEventType.FRAMEWORK_UPDATED)
        self.allocator.trigger()

    def stream_closed(self, fw_id: str, stream: Stream) -> None:
        """The HTTP response of ``stream`` ended (client gone, failover, teardown)."""
        stream.closed = True
        fw = self.state.frameworks.get(fw_id)
        if fw is None or fw.stream is not stream:
            return
        self.disconnect(fw)

    def disconnect(self, fw: Framework) -> None:
        """The framework lost its stream: keep it for ``failover_timeout`` seconds."""
        if fw.stream is not None:
            fw.stream.close()
        fw.stream = None
        fw.unregistered_time = time.time()
        self.allocator.recover_all(fw, notify=False)
        timeout = float(fw.info.failover_timeout or 0.0)
        logger.info("framework %s disconnected; failover timeout %.1fs", fw.id, timeout)
        if fw.failover_handle is not None:
            fw.failover_handle.cancel()
        fw.failover_handle = self.call_later(timeout, self._failover_expired, fw.id)
        self._publish_framework(fw, OperatorEventType.FRAMEWORK_UPDATED)

    def _failover_expired(self, fw_id: str) -> None:
        fw = self.state.frameworks.get(fw_id)
        if fw is not None and fw.stream is None:
            logger.info("framework %s failover timeout expired", fw_id)
            self.remove_framework(fw)

    def remove_framework(self, fw: Framework) -> None:
        """TEARDOWN or failover expiry: kill its tasks, drop its offers, forget it."""
        if fw.failover_handle is not None:
            fw.failover_handle.cancel()
            fw.failover_handle = None
        self.allocator.recover_all(fw, notify=False)
        self.tasks.remove_all(fw)
        if fw.stream is not None:
            fw.stream.close()
            fw.stream = None
        fw.unregistered_time = fw.unregistered_time or time.time()
        del self.state.frameworks[fw.id]
        self.state.completed_frameworks.append(fw)
        logger.info("framework %s removed", fw.id)
        info = fw.info
        self.publish(
            lambda: OperatorEvent.wrap(
                OperatorEventType.FRAMEWORK_REMOVED, FrameworkRemoved(framework_info=info)
            )
        )
        self.allocator.trigger()

    def failover(self) -> None:
        """A new leader: new id, every stream cut, all state kept."""
        self.state.master_id = str(uuid.uuid4())
        self.state.elected_time = time.time()
        logger.info("master failed over; new leader id %s", self.state.master_id)
        self.faults.drop_held_updates()
        for stream in list(self.operator_streams):
            stream.close()
        for fw in list(self.state.frameworks.values()):
            # The new leader does not know failover timeouts (high-availability guide):
            # a framework that never comes back keeps its tasks running, orphaned.
            if fw.failover_handle is not None:
                fw.failover_handle.cancel()
                fw.failover_handle = None
            if fw.stream is not None:
                fw.stream.close()
                fw.stream = None
                fw.unregistered_time = time.time()
            self.allocator.recover_all(fw, notify=False)
            fw.recovered = True
