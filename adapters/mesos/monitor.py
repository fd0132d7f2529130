"""The agents' ``/monitor/statistics``: each container's CPU and memory usage.

Every Mesos agent serves, on its own port, a JSON list with one entry per
executor (``executor_id``, ``executor_name``, ``framework_id``, ``source``
and ``statistics``, a ``ResourceStatistics``: ``timestamp`` in seconds since
the epoch, ``cpus_user_time_secs`` and ``cpus_system_time_secs`` (CPU time so
far), ``cpus_limit``, ``mem_rss_bytes``, ``mem_limit_bytes``...).
:class:`MesosAgentMonitor` finds the agents with the operator API's
``GET_AGENTS`` and reads each at the URL its libprocess pid names
(``slave(1)@10.0.0.5:5051`` is ``http://10.0.0.5:5051/slave(1)/monitor/statistics``;
the local master's agents are ``slave(n)@127.0.0.1:<master port>``).

CPU time is a counter, so utilisation needs two samples of the same executor
(:func:`cpus_used`)::

    cpus used   = Δ(cpus_user_time_secs + cpus_system_time_secs) / Δtimestamp
    utilisation = cpus used / cpus_limit
    memory      = mem_rss_bytes / mem_limit_bytes               (one sample)

:meth:`MesosAgentMonitor.usage` (an :class:`adapters.protocols.UsageReader`)
keeps the last two samples per executor: a read younger than
``min_interval`` seconds (by the agent's timestamps) than the latest sample
does not replace it, so two reads in quick succession still span a useful
interval. A task seen for the first time is read again ``min_interval``
later, so :meth:`~MesosAgentMonitor.usage` has its CPU figure at once (unless
the agent's clock did not move). Agents that
do not answer are skipped (logged); MesosUnavailable only when no agent list
could be had.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Sequence
from types import TracebackType
from typing import Self

import httpx
import pydantic
from pydantic import BaseModel, ConfigDict

from adapters.mesos.http import MesosSettings
from adapters.mesos.operator import MesosOperatorClient
from adapters.protocols import ContainerUsage
from crds.errors import MesosUnavailable

__all__ = [
    "ExecutorStatistics",
    "MesosAgentMonitor",
    "ResourceStatistics",
    "agent_statistics_url",
    "cpus_used",
    "mem_utilisation",
    "parse_statistics",
]

logger = logging.getLogger(__name__)

_PID = re.compile(r"^(?P<id>[^@\s]+)@(?P<host>[^:\s]+):(?P<port>[0-9]+)$")


class ResourceStatistics(BaseModel):
    """The fields of ``mesos.ResourceStatistics`` the metric rule reads (others kept)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    timestamp: float
    cpus_user_time_secs: float | None = None
    cpus_system_time_secs: float | None = None
    cpus_limit: float | None = None
    mem_rss_bytes: int | None = None
    mem_limit_bytes: int | None = None

    @property
    def cpu_time(self) -> float | None:
        """User plus system CPU seconds; None when the agent reports neither."""
        if self.cpus_user_time_secs is None and self.cpus_system_time_secs is None:
            return None
        return (self.cpus_user_time_secs or 0.0) + (self.cpus_system_time_secs or 0.0)


class ExecutorStatistics(BaseModel):
    """One entry of ``/monitor/statistics``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    executor_id: str
    executor_name: str = ""
    framework_id: str
    source: str = ""
    statistics: ResourceStatistics

    @property
    def task_id(self) -> str:
        """The task: ``source`` (the command executor names it), else the executor id."""
        return self.source or self.executor_id


def parse_statistics(body: bytes | str) -> list[ExecutorStatistics]:
    """The entries of a ``/monitor/statistics`` answer; ValueError when it is not one."""
    try:
        data = json.loads(body)
        if not isinstance(data, list):
            raise ValueError("not a JSON list")
        return [ExecutorStatistics.model_validate(item) for item in data]
    except (json.JSONDecodeError, UnicodeDecodeError, pydantic.ValidationError) as exc:
        raise ValueError(str(exc)) from exc


def cpus_used(before: ResourceStatistics, after: ResourceStatistics) -> float | None:
    """CPUs kept busy on average between two samples; None without a usable interval."""
    start, end = before.cpu_time, after.cpu_time
    elapsed = after.timestamp - before.timestamp
    if start is None or end is None or elapsed <= 0:
        return None
    return max(0.0, end - start) / elapsed


def mem_utilisation(stats: ResourceStatistics) -> float | None:
    """``mem_rss_bytes / mem_limit_bytes``; None without both."""
    if stats.mem_rss_bytes is None or not stats.mem_limit_bytes:
        return None
    return stats.mem_rss_bytes / stats.mem_limit_bytes


def agent_statistics_url(pid: str) -> str:
    """``http://HOST:PORT/ID/monitor/statistics`` of an agent's libprocess ``ID@HOST:PORT``."""
    match = _PID.match(pid.strip())
    if match is None:
        raise ValueError(f"agent pid {pid!r} is not ID@HOST:PORT")
    return f"http://{match['host']}:{match['port']}/{match['id']}/monitor/statistics"


class MesosAgentMonitor:
    """Reads every agent's statistics (see the module docstring).

    >>> async with MesosAgentMonitor(MesosSettings(masters=("http://127.0.0.1:5050",))) as m:
    ...     usage = await m.usage("shop.web.")
    """

    def __init__(
        self,
        settings: MesosSettings,
        *,
        min_interval: float = 1.0,
        request_timeout: float = 5.0,
    ) -> None:
        self.min_interval = min_interval
        self._operator = MesosOperatorClient(settings)
        self._http = httpx.AsyncClient(timeout=request_timeout)
        # (framework, executor) -> (previous, latest)
        self._samples: dict[
            tuple[str, str], tuple[ResourceStatistics | None, ResourceStatistics]
        ] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._operator.aclose()

    async def agent_urls(self) -> list[str]:
        """The statistics URL of every active agent, from ``GET_AGENTS``."""
        agents = (await self._operator.get_agents()).agents
        urls = []
        for agent in agents:
            if not agent.active or not agent.pid:
                continue
            try:
                urls.append(agent_statistics_url(agent.pid))
            except ValueError as exc:
                logger.warning("agent %s: %s", agent.agent_info.hostname, exc)
        return urls

    async def statistics(self, url: str) -> list[ExecutorStatistics]:
        """One agent's entries; MesosUnavailable when it does not answer with them."""
        try:
            response = await self._http.get(url)
        except httpx.HTTPError as exc:
            raise MesosUnavailable(f"agent {url}: {exc or type(exc).__name__}") from exc
        if response.status_code != 200:
            raise MesosUnavailable(
                f"agent {url}: HTTP {response.status_code} {response.text.strip()[:200]}"
            )
        try:
            return parse_statistics(response.content)
        except ValueError as exc:
            raise MesosUnavailable(f"agent {url}: unreadable statistics: {exc}") from exc

    async def sample(self) -> list[ExecutorStatistics]:
        """A read of every agent now, remembered as the latest sample of each executor."""
        urls = await self.agent_urls()
        answers = await asyncio.gather(
            *(self.statistics(url) for url in urls), return_exceptions=True
        )
        entries: list[ExecutorStatistics] = []
        for answer in answers:
            if isinstance(answer, MesosUnavailable):
                logger.warning("%s", answer)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                entries.extend(answer)
        seen = set()
        for entry in entries:
            key = (entry.framework_id, entry.executor_id)
            seen.add(key)
            now = entry.statistics
            old = self._samples.get(key)
            if old is None:
                self._samples[key] = (None, now)
            elif now.timestamp - old[1].timestamp >= self.min_interval:
                self._samples[key] = (old[1], now)
        for key in [key for key in self._samples if key not in seen]:
            del self._samples[key]
        return entries

    async def usage(self, task_prefix: str) -> Sequence[ContainerUsage]:
        entries = [e for e in await self.sample() if e.task_id.startswith(task_prefix)]
        if any(self._samples[(e.framework_id, e.executor_id)][0] is None for e in entries):
            # A task seen for the first time: a second read ``min_interval`` later gives
            # its CPU figure now rather than at the caller's next read.
            await asyncio.sleep(self.min_interval)
            entries = [e for e in await self.sample() if e.task_id.startswith(task_prefix)]
        out = []
        for entry in entries:
            before, latest = self._samples[(entry.framework_id, entry.executor_id)]
            out.append(
                ContainerUsage(
                    task_id=entry.task_id,
                    cpus_used=None if before is None else cpus_used(before, latest),
                    mem_bytes=latest.mem_rss_bytes,
                    cpus_limit=latest.cpus_limit,
                    mem_limit_bytes=latest.mem_limit_bytes,
                )
            )
        return out
