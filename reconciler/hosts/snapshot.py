"""What every Host's reconcile needs from the cluster, read once per pass.

A :class:`Pass` holds the live instance count of every host (one range
read of the instance records), the Mesos agents by hostname and the task
ids Mesos knows (``GET_AGENTS`` and ``GET_TASKS``), and the IPAM
allocations of every IPPool. :class:`PassCache` reads a new one when the
last is older than ``max_age`` seconds; the Host reconciles that run
meanwhile share it, so a thousand hosts cost one read of each, not a
thousand. A Mesos that cannot be read is recorded in the pass (``mesos_error``)
rather than failing it; an etcd failure fails the reconcile (retried with
backoff by the runtime). The controller drops the pass after each change
it makes (a drain, a released block).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from adapters.protocols import MesosOperator, PoolAllocations, RawStore
from crds.errors import MesosError
from reconciler.hosts.census import INSTANCES_PREFIX, live_instances_by_host
from reconciler.hosts.onboarding import AgentView, MesosTasks, agents_by_hostname, tasks_of

__all__ = ["HeldBlock", "Pass", "PassCache"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldBlock:
    """A block of ``pool`` held by a host, and how many of its addresses are held."""

    pool: str
    cidr: IPv4Network
    addresses_held: int


@dataclass(frozen=True)
class Pass:
    instances: Mapping[str, int] = field(default_factory=dict)
    """Host name → live instance records on it."""
    agents: Mapping[str, AgentView] | None = None
    """Registered agents by hostname; None without Mesos or when it could not be read."""
    tasks: MesosTasks | None = None
    """Task ids Mesos knows; None without Mesos, when it could not be read, or when no
    host has an engine to look for orphans on."""
    mesos_error: str | None = None
    blocks: Mapping[str, tuple[HeldBlock, ...]] = field(default_factory=dict)
    """Host name → the blocks it holds, in every pool."""


def _blocks(allocations: Mapping[str, PoolAllocations]) -> dict[str, tuple[HeldBlock, ...]]:
    found: dict[str, list[HeldBlock]] = {}
    for pool, alloc in sorted(allocations.items()):
        for block in alloc.blocks:
            held = sum(1 for ip in alloc.ips if ip.held and ip.ip in block.cidr)
            found.setdefault(block.host, []).append(HeldBlock(pool, block.cidr, held))
    return {host: tuple(blocks) for host, blocks in found.items()}


class PassCache:
    def __init__(
        self,
        *,
        records: RawStore,
        allocations: Callable[[], Awaitable[dict[str, PoolAllocations]]],
        mesos: MesosOperator | None,
        want_tasks: Callable[[], bool] = lambda: True,
        max_age: float = 5.0,
        timeout: float = 10.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._records = records
        self._allocations = allocations
        self._mesos = mesos
        self._want_tasks = want_tasks
        self.max_age = max_age
        self._timeout = timeout
        self._now = now
        self._pass: Pass | None = None
        self._taken = 0.0
        self._lock = asyncio.Lock()
        self.reads = 0  # passes read, for tests and metrics

    def invalidate(self) -> None:
        self._pass = None

    async def get(self) -> Pass:
        async with self._lock:
            if self._pass is None or self._now() - self._taken > self.max_age:
                self._pass = await self._read()
                self._taken = self._now()
            return self._pass

    async def _read(self) -> Pass:
        async with asyncio.timeout(self._timeout):
            raw = await self._records.list_raw(INSTANCES_PREFIX)
            allocations = await self._allocations()
        agents, tasks, error = None, None, None
        if self._mesos is not None:
            try:
                async with asyncio.timeout(self._timeout):
                    agents = agents_by_hostname(await self._mesos.get_agents())
                    if self._want_tasks():  # only the orphan check needs them
                        tasks = tasks_of(await self._mesos.get_tasks())
            except (MesosError, TimeoutError) as exc:
                error = str(exc) or "no answer in time"
                agents, tasks = None, None
                logger.warning("Mesos operator API: %s", error)
        self.reads += 1
        return Pass(
            instances=live_instances_by_host(raw),
            agents=agents,
            tasks=tasks,
            mesos_error=error,
            blocks=_blocks(allocations),
        )
