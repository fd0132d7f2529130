"""The v1 scheduler API client: one framework's subscription and its calls.

:meth:`MesosSchedulerClient.subscribe` is an async iterator of typed
:class:`SchedulerEvent` that survives master failover and network trouble:

1. POST SUBSCRIBE to ``/api/v1/scheduler`` on the current master (following a
   307 to the leader, see ``http.Masters``), keep the ``Mesos-Stream-Id``
   response header, and decode the RecordIO body into events.
2. SUBSCRIBED gives the framework id (kept and sent on every later SUBSCRIBE,
   in ``framework_id`` and ``framework_info.id``, so the master treats it as
   a failover of the same framework and its tasks survive) and the heartbeat
   interval. From then on the stream is dead once it stays silent for
   ``heartbeat_miss_factor`` intervals.
3. A cut or silent stream, a connection error, a 5xx or a 503 (no leader yet)
   leads to a new SUBSCRIBE after an exponential, jittered delay, on the next
   master in the list. Every SUBSCRIBED event is passed on: the first and
   each one after a resubscription, which is the caller's cue to reconcile
   (events sent while disconnected are lost).
4. A 4xx answer to SUBSCRIBE (``MesosRejected``) or an ERROR event ends the
   iterator for good: ERROR means another scheduler instance took over
   ("Framework failed over") or the framework was removed, and resubscribing
   would steal the framework back or fail. It raises :class:`FrameworkEnded`.

The calls (:meth:`accept`, :meth:`kill`, ...) go to the master holding the
subscription with the ``Mesos-Stream-Id`` header and the ``framework_id``.
Without a live subscription they fail fast with ``MesosUnavailable``, as the
master would answer 403. After :meth:`teardown` the stream's end finishes the
iterator instead of resubscribing. One client serves one subscription at a
time. The transport plumbing is in ``http``; the controller-facing seam is
``adapters.protocols.MesosScheduler``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncGenerator, Iterable, Sequence
from contextlib import aclosing
from typing import TypeVar

import httpx
import pydantic

from adapters.mesos.encode import accept_call_json
from adapters.mesos.http import (
    JSON_HEADERS,
    STREAM_ID_HEADER,
    Backoff,
    MesosClientBase,
    MesosSettings,
    Sleep,
    stream_records,
)
from adapters.mesos.model_base import dumps, encode_bytes, from_json
from adapters.mesos.model_common import (
    AgentID,
    ExecutorID,
    FrameworkID,
    FrameworkInfo,
    OfferID,
    TaskID,
)
from adapters.mesos.model_enums import SchedulerCallType, SchedulerEventType
from adapters.mesos.model_offer import Filters, OfferOperation
from adapters.mesos.model_scheduler import (
    CallAcknowledge,
    CallMessage,
    SchedulerCall,
    SchedulerEvent,
    accept_call,
    decline_call,
    kill_call,
    reconcile_call,
    revive_call,
    subscribe_call,
    suppress_call,
    teardown_call,
)
from adapters.mesos.model_task import KillPolicy
from adapters.mesos.tasks import LaunchOperation
from crds.errors import MesosError, MesosUnavailable

__all__ = ["SCHEDULER_PATH", "FrameworkEnded", "MesosSchedulerClient"]

logger = logging.getLogger(__name__)

SCHEDULER_PATH = "/api/v1/scheduler"


class FrameworkEnded(MesosError):
    """The master ended this framework's subscription for good (an ERROR event)."""


_Id = TypeVar("_Id", AgentID, TaskID, ExecutorID, OfferID)


def _as(cls: type[_Id], value: _Id | str) -> _Id:
    """Accept a wire id or the plain string our code passes around."""
    return value if isinstance(value, cls) else cls(value=str(value))


def _plain(value: AgentID | TaskID | FrameworkID | OfferID) -> bool:
    """An id holding its ``value`` and nothing else (what the wire form then is, is known)."""
    return not value.model_extra and isinstance(value.value, str)


class MesosSchedulerClient(MesosClientBase):
    """A framework's connection to the Mesos masters (see the module docstring).

    >>> async with MesosSchedulerClient(MesosSettings(masters=("m1:5050",))) as mesos:
    ...     async for event in mesos.subscribe(FrameworkInfo(user="root", name="dcos")):
    ...         ...
    """

    def __init__(
        self,
        settings: MesosSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,  # None for real sockets
        sleep: Sleep = asyncio.sleep,  # injected by tests
        rng: random.Random | None = None,  # backoff jitter; seeded by tests
    ) -> None:
        super().__init__(settings, transport=transport, sleep=sleep, rng=rng)
        self._framework_info: FrameworkInfo | None = None
        self._framework_id: FrameworkID | None = None
        self._suppressed: set[str] = set()  # roles to send as suppressed on resubscription
        self._stream_id: str | None = None  # set from SUBSCRIBED until the stream breaks
        self._stream_master: str | None = None  # the master serving the live stream
        self._heartbeat: float | None = None  # interval announced by SUBSCRIBED
        self._torn_down = False  # after TEARDOWN the stream's end is final

    @property
    def framework_id(self) -> FrameworkID | None:
        """Assigned by the first SUBSCRIBED; kept across resubscriptions."""
        return self._framework_id

    @property
    def stream_id(self) -> str | None:
        """The live stream's ``Mesos-Stream-Id``; None while (re)subscribing."""
        return self._stream_id

    @property
    def master(self) -> str:
        """The master serving the stream, or the one the next SUBSCRIBE goes to."""
        return self._stream_master or self._http.masters.current

    # ------------------------------------------------------------ stream

    async def subscribe(
        self, framework_info: FrameworkInfo, *, suppressed_roles: Iterable[str] = ()
    ) -> AsyncGenerator[SchedulerEvent, None]:
        """Events of this framework, forever (see the module docstring).

        A ``framework_info.id`` makes the first SUBSCRIBE a failover of that
        framework. Raises ``MesosRejected`` for a refused SUBSCRIBE and
        :class:`FrameworkEnded` for an ERROR event.
        """
        self._framework_info = framework_info
        self._framework_id = framework_info.id or self._framework_id
        self._torn_down = False
        self._suppressed = set(suppressed_roles)
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
                        if event.type == SchedulerEventType.SUBSCRIBED:
                            backoff.reset()
                        yield event
            except MesosUnavailable as exc:
                if self._torn_down:
                    logger.info("Mesos framework %s torn down; stream closed", self._fid_text())
                    return
                self._http.masters.rotate()
                delay = backoff.next()
                logger.warning("Mesos subscription lost (%s); resubscribing in %.2fs", exc, delay)
                await self._sleep(delay)

    async def _subscription(self) -> AsyncGenerator[SchedulerEvent, None]:
        """One SUBSCRIBE stream, from opening to breaking (always by an exception)."""
        call = self._subscribe_call()
        response, url = await self._http.open_stream(SCHEDULER_PATH, content=dumps(call))
        try:
            stream_id = response.headers.get(STREAM_ID_HEADER)
            if not stream_id:
                raise MesosUnavailable(
                    f"Mesos master {url}: SUBSCRIBE answer lacks {STREAM_ID_HEADER}"
                )
            self._heartbeat = None
            records = stream_records(response, url=url, idle_timeout=self._idle_timeout)
            async with aclosing(records):
                async for record in records:
                    event = self._parse(record, url)
                    if event is not None:
                        self._observe(event, stream_id=stream_id, url=url)
                        yield event
        finally:
            self._stream_id = None
            self._stream_master = None
            await response.aclose()

    def _subscribe_call(self) -> SchedulerCall:
        assert self._framework_info is not None
        info = self._framework_info
        if self._framework_id is not None:
            info = info.model_copy(update={"id": self._framework_id})
        return subscribe_call(info, suppressed_roles=sorted(self._suppressed))

    def _observe(self, event: SchedulerEvent, *, stream_id: str, url: str) -> None:
        """Track SUBSCRIBED; turn ERROR into :class:`FrameworkEnded`."""
        logger.debug("Mesos event %s from %s", event.type, url)
        if event.type == SchedulerEventType.ERROR:
            message = event.error.message if event.error else "(no message)"
            raise FrameworkEnded(
                f"Mesos master {url} ended framework {self._fid_text()}: {message}"
            )
        if event.type != SchedulerEventType.SUBSCRIBED or event.subscribed is None:
            return
        resubscribed = self._framework_id == event.subscribed.framework_id
        self._framework_id = event.subscribed.framework_id
        self._heartbeat = event.subscribed.heartbeat_interval_seconds
        self._stream_id = stream_id
        self._stream_master = url
        logger.info(
            "Mesos framework %s %s on %s (stream %s)",
            self._framework_id.value,
            "resubscribed" if resubscribed else "subscribed",
            url,
            stream_id,
        )

    def _idle_timeout(self) -> float:
        if self._stream_id is None:  # waiting for SUBSCRIBED
            return self._settings.request_timeout
        interval = self._heartbeat or self._settings.default_heartbeat_interval
        return interval * self._settings.heartbeat_miss_factor

    @staticmethod
    def _parse(record: bytes, url: str) -> SchedulerEvent | None:
        try:
            return from_json(SchedulerEvent, record)
        except (json.JSONDecodeError, UnicodeDecodeError, pydantic.ValidationError):
            # Skipping is safe: an unacknowledged update is sent again.
            logger.exception("Mesos master %s sent an unreadable event: %.200r", url, record)
            return None

    def _fid_text(self) -> str:
        return self._framework_id.value if self._framework_id else "(unsubscribed)"

    # ------------------------------------------------------------- calls

    async def _call(self, call: SchedulerCall, *, expected: int = 202) -> None:
        await self._post(call.type, dumps(call), expected=expected)

    async def _post(self, kind: SchedulerCallType, body: bytes, *, expected: int = 202) -> None:
        stream_id, master = self._stream_id, self._stream_master
        if stream_id is None or master is None:
            raise MesosUnavailable(
                f"Mesos master {self.master}: {kind} while not subscribed (resubscribing)"
            )
        headers = {**JSON_HEADERS, STREAM_ID_HEADER: stream_id}
        response = await self._http.request(
            "POST", SCHEDULER_PATH, content=body, headers=headers, pinned=master
        )
        if response.status_code != expected:
            logger.debug("%s answered %d, expected %d", kind, response.status_code, expected)

    def _require_id(self) -> FrameworkID:
        if self._framework_id is None:
            raise MesosUnavailable(
                f"Mesos master {self.master}: not subscribed yet (no framework id)"
            )
        return self._framework_id

    async def accept(
        self,
        offer_ids: Sequence[OfferID | str],
        operations: Sequence[OfferOperation | LaunchOperation],
        *,
        filters: Filters | None = None,
    ) -> None:
        """ACCEPT offers with operations (LAUNCH...); unused resources count as declined.

        Operations given as plain launches (:class:`LaunchOperation`, what the
        framework sends) are written directly (``adapters.mesos.encode``): the
        same bytes as the models would give.
        """
        fid = self._require_id()
        body = self._accept_json(fid, offer_ids, operations, filters)
        if body is not None:
            await self._post(SchedulerCallType.ACCEPT, body)
            return
        ids = [_as(OfferID, i) for i in offer_ids]
        models = [op.model() if isinstance(op, LaunchOperation) else op for op in operations]
        await self._call(accept_call(fid, ids, models, filters=filters))

    @staticmethod
    def _accept_json(
        fid: FrameworkID,
        offer_ids: Sequence[OfferID | str],
        operations: Sequence[OfferOperation | LaunchOperation],
        filters: Filters | None,
    ) -> bytes | None:
        """The ACCEPT written directly, or None when only the models know its form."""
        if not _plain(fid) or not all(isinstance(op, LaunchOperation) for op in operations):
            return None
        if filters is not None and filters.model_extra:
            return None
        ids: list[str] = []
        for offer_id in offer_ids:
            if isinstance(offer_id, str):
                ids.append(offer_id)
            elif isinstance(offer_id, OfferID) and _plain(offer_id):
                ids.append(offer_id.value)
            else:
                return None
        return accept_call_json(
            fid.value,
            ids,
            [op.wire() for op in operations if isinstance(op, LaunchOperation)],
            refuse_seconds=filters.refuse_seconds if filters is not None else None,
            filters=filters is not None,
        )

    async def decline(
        self, offer_ids: Sequence[OfferID | str], *, filters: Filters | None = None
    ) -> None:
        """DECLINE offers; ``filters.refuse_seconds`` keeps them away for that long."""
        ids = [_as(OfferID, i) for i in offer_ids]
        await self._call(decline_call(self._require_id(), ids, filters=filters))

    async def revive(self, roles: Iterable[str] = ()) -> None:
        """REVIVE offers for ``roles`` (all roles when empty) and clear filters."""
        roles = list(roles)
        await self._call(revive_call(self._require_id(), roles))
        self._suppressed = self._suppressed - set(roles) if roles else set()

    async def suppress(self, roles: Iterable[str] = ()) -> None:
        """SUPPRESS offers for ``roles`` (all roles when empty); kept across resubscription."""
        roles = list(roles)
        await self._call(suppress_call(self._require_id(), roles))
        self._suppressed |= set(roles) if roles else set(self._all_roles())

    def _all_roles(self) -> list[str]:
        info = self._framework_info
        if info is None:
            return []
        return list(info.roles) or [info.role or "*"]

    async def kill(
        self,
        task_id: TaskID | str,
        agent_id: AgentID | str | None = None,
        *,
        kill_policy: KillPolicy | None = None,
    ) -> None:
        """KILL a task; the outcome arrives as an UPDATE (unknown tasks: TASK_LOST)."""
        agent = _as(AgentID, agent_id) if agent_id is not None else None
        call = kill_call(
            self._require_id(), _as(TaskID, task_id), agent_id=agent, kill_policy=kill_policy
        )
        await self._call(call)

    async def acknowledge(
        self, *, agent_id: AgentID | str, task_id: TaskID | str, uuid: str
    ) -> None:
        """ACKNOWLEDGE a reliable update (one whose status has a base64 ``uuid``)."""
        fid = self._require_id()
        # One call per status update: written directly, the same bytes as the
        # model would write, at a fraction of the cost (plain string ids are
        # not even turned into id models first).
        agent_text = agent_id if isinstance(agent_id, str) else None
        task_text = task_id if isinstance(task_id, str) else None
        if agent_text is None or task_text is None:
            agent, task = _as(AgentID, agent_id), _as(TaskID, task_id)
            if _plain(agent) and _plain(task):
                agent_text, task_text = agent.value, task.value
        if (
            agent_text is not None
            and task_text is not None
            and _plain(fid)
            and isinstance(uuid, str)
        ):
            call = {
                "framework_id": {"value": fid.value},
                "type": "ACKNOWLEDGE",
                "acknowledge": {
                    "agent_id": {"value": agent_text},
                    "task_id": {"value": task_text},
                    "uuid": uuid,
                },
            }
            body = json.dumps(call, separators=(",", ":"), ensure_ascii=False).encode()
            await self._post(SchedulerCallType.ACKNOWLEDGE, body)
            return
        ack = CallAcknowledge(
            agent_id=_as(AgentID, agent_id), task_id=_as(TaskID, task_id), uuid=uuid
        )
        await self._call(SchedulerCall.wrap(SchedulerCallType.ACKNOWLEDGE, ack, framework_id=fid))

    async def reconcile(
        self, tasks: Iterable[tuple[TaskID | str, AgentID | str | None]] = ()
    ) -> None:
        """RECONCILE the listed ``(task, agent)`` pairs; none means every non-terminal task."""
        pairs = [(_as(TaskID, t), _as(AgentID, a) if a is not None else None) for t, a in tasks]
        await self._call(reconcile_call(self._require_id(), pairs))

    async def teardown(self) -> None:
        """TEARDOWN: kill every task and remove the framework; the stream then ends."""
        await self._call(teardown_call(self._require_id()))
        self._torn_down = True

    async def message(
        self, *, agent_id: AgentID | str, executor_id: ExecutorID | str, data: bytes
    ) -> None:
        """MESSAGE: pass ``data`` to an executor."""
        body = CallMessage(
            agent_id=_as(AgentID, agent_id),
            executor_id=_as(ExecutorID, executor_id),
            data=encode_bytes(data),
        )
        fid = self._require_id()
        await self._call(SchedulerCall.wrap(SchedulerCallType.MESSAGE, body, framework_id=fid))
