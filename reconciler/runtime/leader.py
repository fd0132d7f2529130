"""Leadership: run the controllers only while this process leads.

:func:`run_elected` is the loop around a
:class:`~adapters.protocols.LeaderElector` (the etcd one lives in
``adapters/etcd/leader.py``)::

    campaign ──▶ lead(term) ∥ hold(term) ──▶ lost: cancel lead at once, campaign again
                                        └──▶ stop: lead drains, resign, return

- while ``hold`` keeps the term, ``lead`` runs (the manager relists its
  caches and starts the workers);
- when the term is lost (keepalive failed, the key is gone), ``lead`` is
  cancelled at once: in-flight reconciles stop, and writes they still try
  are refused by the fence (``crds.errors.NotLeader``);
- when ``stop`` is set, ``lead`` returns after draining, and the term is
  resigned (the lease revoked) so a standby takes over without waiting for
  the TTL.

:class:`AlwaysLeader` is the elector of a single replica.

The next hop is :mod:`reconciler.runtime.manager`, which supplies ``lead``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from adapters.protocols import LeaderElector, LeaderTerm
from crds.errors import DcosError
from reconciler.runtime.clock import Clock, MonotonicClock
from reconciler.runtime.metrics import RuntimeMetrics

__all__ = ["AlwaysLeader", "run_elected"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_AFTER_FAILED_TERM = 1.0
"""Seconds before campaigning again when leading failed (e.g. the relist did)."""


class AlwaysLeader:
    """The only candidate: leads at once, never loses, has no fence."""

    def __init__(self, identity: str = "single") -> None:
        self._identity = identity
        self._term: LeaderTerm | None = None
        self._resigned = asyncio.Event()

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def term(self) -> LeaderTerm | None:
        return self._term

    async def campaign(self) -> LeaderTerm:
        self._resigned.clear()
        self._term = LeaderTerm(self._identity, 1)
        return self._term

    async def hold(self, term: LeaderTerm) -> None:
        await self._resigned.wait()

    async def resign(self) -> None:
        self._term = None
        self._resigned.set()


async def _until_stopped(coro: Coroutine[Any, Any, T], stop: asyncio.Event, name: str) -> T | None:
    """``coro``'s result, or None (``coro`` cancelled) when ``stop`` is set first."""
    task = asyncio.create_task(coro, name=name)
    stopper = asyncio.create_task(stop.wait(), name=f"{name}:stop")
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopper):
            if not pending.done():
                pending.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)
    if task.cancelled():
        return None
    return task.result()


async def run_elected(
    *,
    elector: LeaderElector,
    lead: Callable[[LeaderTerm], Awaitable[None]],
    stop: asyncio.Event,
    metrics: RuntimeMetrics,
    clock: Clock | None = None,
) -> None:
    """Campaign, lead while the term holds, repeat; resign and return on ``stop``."""
    clock = clock or MonotonicClock()
    try:
        while not stop.is_set():
            term = await _until_stopped(elector.campaign(), stop, "campaign")
            if term is None:
                return
            logger.info("%s: leading (term %d)", elector.identity, term.revision)
            metrics.leader.set(1)
            try:
                ended = await _lead_while_held(elector, term, lead)
            finally:
                metrics.leader.set(0)
            if ended == "stopped":
                return
            if ended == "failed":
                await elector.resign()
                await clock.sleep(RETRY_AFTER_FAILED_TERM)
    finally:
        await elector.resign()
        logger.info("%s: resigned", elector.identity)


async def _lead_while_held(
    elector: LeaderElector, term: LeaderTerm, lead: Callable[[LeaderTerm], Awaitable[None]]
) -> str:
    """Run ``lead`` while ``hold`` keeps the term: "lost", "failed" or "stopped"."""

    async def leading() -> None:
        await lead(term)

    lead_task = asyncio.create_task(leading(), name=f"lead:{term.revision}")
    hold_task = asyncio.create_task(elector.hold(term), name=f"hold:{term.revision}")
    try:
        await asyncio.wait({lead_task, hold_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (lead_task, hold_task):
            if not task.done():
                task.cancel()
        await asyncio.gather(lead_task, hold_task, return_exceptions=True)
    if not lead_task.cancelled() and lead_task.exception() is None:
        return "stopped"
    if not lead_task.cancelled():
        exc = lead_task.exception()
        if not isinstance(exc, DcosError):
            assert exc is not None
            raise exc
        logger.warning("%s: leading failed (%s); campaigning again", elector.identity, exc)
        return "failed"
    if hold_task.done() and not hold_task.cancelled() and hold_task.exception() is not None:
        logger.warning("%s: keeping the term failed: %s", elector.identity, hold_task.exception())
    logger.warning(
        "%s: lost leadership (term %d); workers stopped", elector.identity, term.revision
    )
    return "lost"
