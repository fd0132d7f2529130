"""Where the metric rule reads load: a small Protocol and its implementations.

:class:`MetricSource` answers one question: the mean utilisation (0..1, more
when bursting) of an App's running instances, for ``cpu`` or ``memory``, or
None when it does not know. Implementations:

* :class:`StaticMetrics`: a settable table, for tests.
* :class:`UsageMetrics`: over a :class:`adapters.protocols.UsageReader`,
  the Mesos agents' ``/monitor/statistics`` (``adapters.mesos.monitor``) or
  Docker engines' stats (``adapters.docker_host``). An instance id is the Mesos
  task id, ``<domain>.<app>.<version>.<suffix>``
  (:mod:`reconciler.apps.instances`), so the App's containers are those whose
  task id starts with ``<domain>.<app>.``. Each container's utilisation is
  CPUs used over its ``cpus_limit`` (memory: resident bytes over
  ``mem_limit_bytes``); a container without limits (Docker without
  ``--cpus``/``--memory``) is measured against the App's ``cpus`` and ``mem``.
  The App's figure is the mean over the containers with a figure; None when
  none has one yet (CPU needs two samples) or the reader fails (logged).
* :class:`EngineUsage`: a UsageReader over every Host's Docker engine
  (``spec.engine``), so a Docker source follows the Hosts as they change.
* :class:`FirstOf`: the first source that knows, e.g. the Docker engines
  (real usage) before the agents' statistics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from adapters.protocols import ContainerUsage, ObjectKey, StoreReader, UsageReader
from crds.app import App
from crds.errors import DcosError
from crds.host import Host, HostEngine
from crds.scalingpolicy import MetricKind
from reconciler.apps.instances import parse_instance_id

__all__ = [
    "EngineUsage",
    "FirstOf",
    "MetricSource",
    "StaticMetrics",
    "UsageMetrics",
    "app_utilisation",
]

logger = logging.getLogger(__name__)

_MIB = 1024 * 1024


class MetricSource(Protocol):
    async def utilisation(self, domain: str, app: str, metric: MetricKind) -> float | None:
        """Mean utilisation (0..1+) of the App's running instances; None when unknown."""
        ...


class StaticMetrics:
    """Utilisation set by hand: ``set(domain, app, metric, value)``."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str, MetricKind], float] = {}

    def set(self, domain: str, app: str, metric: MetricKind, value: float) -> None:
        self._values[(domain, app, metric)] = value

    async def utilisation(self, domain: str, app: str, metric: MetricKind) -> float | None:
        return self._values.get((domain, app, metric))


def _of_app(task_id: str, domain: str, app: str) -> bool:
    try:
        return parse_instance_id(task_id)[:2] == (domain, app)
    except ValueError:
        return False


def app_utilisation(
    usage: Sequence[ContainerUsage],
    metric: MetricKind,
    *,
    cpus: float,
    mem: float,
) -> float | None:
    """Mean utilisation of ``usage``; ``cpus`` and ``mem`` (MB, the App's) stand in
    for the limits a container does not report. None when no container has a figure."""
    values = []
    for item in usage:
        if metric is MetricKind.CPU:
            limit = item.cpus_limit or cpus
            if item.cpus_used is not None and limit > 0:
                values.append(item.cpus_used / limit)
        else:
            mem_limit = item.mem_limit_bytes or mem * _MIB
            if item.mem_bytes is not None and mem_limit > 0:
                values.append(item.mem_bytes / mem_limit)
    return sum(values) / len(values) if values else None


class UsageMetrics:
    """A :class:`MetricSource` over a UsageReader (see the module docstring)."""

    def __init__(self, reader: UsageReader, store: StoreReader, *, name: str = "usage") -> None:
        self.reader = reader
        self.store = store
        self.name = name

    async def utilisation(self, domain: str, app: str, metric: MetricKind) -> float | None:
        try:
            obj = await self.store.get(ObjectKey("App", domain, app))
            usage = await self.reader.usage(f"{domain}.{app}.")
        except DcosError as exc:
            logger.warning("%s: load of %s/%s unknown: %s", self.name, domain, app, exc)
            return None
        if not isinstance(obj, App):
            return None
        mine = [item for item in usage if _of_app(item.task_id, domain, app)]
        return app_utilisation(mine, metric, cpus=obj.spec.cpus, mem=float(obj.spec.mem))


class EngineUsage:
    """A UsageReader over the Docker engine of every Host that declares one.

    ``open_engine`` makes a reader for a :class:`crds.host.HostEngine`; readers
    are kept per engine URL (the caller closes what it opened). An engine that
    fails is logged and skipped.
    """

    def __init__(
        self, store: StoreReader, open_engine: Callable[[HostEngine], UsageReader | None]
    ) -> None:
        self.store = store
        self.open_engine = open_engine
        self._readers: dict[str, UsageReader | None] = {}

    def _reader(self, engine: HostEngine) -> UsageReader | None:
        if engine.url not in self._readers:
            self._readers[engine.url] = self.open_engine(engine)
        return self._readers[engine.url]

    async def usage(self, task_prefix: str) -> Sequence[ContainerUsage]:
        engines: dict[str, UsageReader] = {}
        for host in (await self.store.list("Host")).items:
            if isinstance(host, Host) and host.spec.engine is not None:
                reader = self._reader(host.spec.engine)
                if reader is not None:
                    engines[host.spec.engine.url] = reader
        answers = await asyncio.gather(
            *(reader.usage(task_prefix) for reader in engines.values()), return_exceptions=True
        )
        out: list[ContainerUsage] = []
        for url, answer in zip(engines, answers, strict=True):
            if isinstance(answer, DcosError):
                logger.warning("engine %s: usage unknown: %s", url, answer)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                out.extend(answer)
        return out


class FirstOf:
    """The first of ``sources`` that knows the App's utilisation."""

    def __init__(self, *sources: MetricSource) -> None:
        self.sources = sources

    async def utilisation(self, domain: str, app: str, metric: MetricKind) -> float | None:
        for source in self.sources:
            value = await source.utilisation(domain, app, metric)
            if value is not None:
                return value
        return None
