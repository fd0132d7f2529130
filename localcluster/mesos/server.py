"""The HTTP server: a Starlette app on uvicorn, in-process or standalone.

:func:`build_app` routes ``/api/v1/scheduler`` (:mod:`.scheduler_api`),
``/api/v1`` (:mod:`.operator_api`), the legacy endpoints (:mod:`.legacy`),
``/faults/...`` (:mod:`.faults`), and the agents' ``/slave(n)/monitor/statistics``
with ``/sim/load`` (:mod:`.monitor`) to one :class:`~.master.Master`.

:class:`LocalMaster` is how tests and ``dcosctl up`` run it::

    settings = MasterSettings(agents=agents_from_flags(3), heartbeat_interval=0.5)
    async with LocalMaster(settings) as local:
        local.url                      # http://127.0.0.1:PORT
        local.master.faults.lose_agent(agent_id)

It binds the socket first (port 0 picks a free one), serves on it from a
named task, waits until uvicorn is up (a condition with a deadline), and on
exit closes every stream before stopping uvicorn, so open RecordIO responses
never hold the shutdown. Containerizers are made by :func:`make_containerizer`:
``sim`` is built in; ``process`` and ``docker`` are imported lazily from their
own modules and their absence is one clear error.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from starlette.applications import Starlette
from starlette.routing import Route

from localcluster.mesos import faults, legacy, monitor
from localcluster.mesos.containerizer import Containerizer
from localcluster.mesos.master import Master
from localcluster.mesos.operator_api import operator_endpoint
from localcluster.mesos.scheduler_api import scheduler_endpoint
from localcluster.mesos.settings import MasterSettings
from localcluster.mesos.sim import SimContainerizer
from localcluster.serving import Serving, bind

__all__ = ["ContainerizerUnavailable", "LocalMaster", "build_app", "make_containerizer"]

logger = logging.getLogger(__name__)

_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
_EXTERNAL = {"process": "ProcessContainerizer", "docker": "DockerContainerizer"}


class ContainerizerUnavailable(RuntimeError):
    """A containerizer named in the settings cannot be loaded."""


async def make_containerizer(
    name: str, settings: MasterSettings, closers: contextlib.AsyncExitStack
) -> Containerizer:
    """Build containerizer ``name``; what it needs closing later goes on ``closers``."""
    if name == "sim":
        return SimContainerizer(settings.sim)
    if name not in _EXTERNAL:
        raise ContainerizerUnavailable(f"unknown containerizer '{name}' (sim, process or docker)")
    try:
        module = importlib.import_module(f"localcluster.mesos.{name}")
        factory: Any = getattr(module, _EXTERNAL[name])
    except (ImportError, AttributeError) as exc:
        raise ContainerizerUnavailable(f"the {name} containerizer is not available: {exc}") from exc
    if name == "process":
        work_dir = settings.work_dir or closers.enter_context(
            tempfile.TemporaryDirectory(prefix="mesos-")
        )
        containerizer: Containerizer = factory(Path(work_dir))
        return containerizer
    try:
        from adapters.docker import DockerEngine
    except ImportError as exc:
        raise ContainerizerUnavailable(f"the docker containerizer is not available: {exc}") from exc
    engines = {settings.docker_socket: DockerEngine(settings.docker_socket)}
    for socket in settings.docker_sockets().values():  # one client per engine, not per agent
        if socket not in engines:
            engines[socket] = DockerEngine(socket)
    for opened in engines.values():
        closers.push_async_callback(opened.close)
    by_host = {host: engines[socket] for host, socket in settings.docker_sockets().items()}
    host_root = Path(settings.docker_host_root) if settings.docker_host_root else None
    containerizer = factory(
        engines[settings.docker_socket],
        engines=by_host,
        stand_in=settings.docker_stand_in,
        host_root=host_root,
    )
    return containerizer


def build_app(master: Master) -> Starlette:
    routes = [
        Route("/api/v1/scheduler", scheduler_endpoint, methods=_METHODS),
        Route("/api/v1", operator_endpoint, methods=_METHODS),
        *legacy.routes(),
        *faults.routes(),
        *monitor.routes(),
    ]
    app = Starlette(routes=routes)
    app.state.master = master
    return app


class LocalMaster:
    """A master serving HTTP on 127.0.0.1 for the life of an ``async with``."""

    def __init__(
        self, settings: MasterSettings, *, containerizers: dict[str, Containerizer] | None = None
    ) -> None:
        self.settings = settings
        self._containerizers = containerizers
        self._serving: Serving | None = None
        self._master: Master | None = None
        self._closers = contextlib.AsyncExitStack()

    @property
    def master(self) -> Master:
        if self._master is None:
            raise RuntimeError("LocalMaster is not started")
        return self._master

    @property
    def url(self) -> str:
        return f"http://{self.master.host}:{self.master.port}"

    async def _containerizer_table(self) -> dict[str, Containerizer]:
        if self._containerizers is not None:
            return dict(self._containerizers)
        names = {self.settings.containerizer} | {
            a.containerizer for a in self.settings.agents if a.containerizer
        }
        if self.settings.command_containerizer:
            names.add(self.settings.command_containerizer)
        return {
            name: await make_containerizer(name, self.settings, self._closers)
            for name in sorted(names)
        }

    async def start(self) -> None:
        sock = bind(self.settings.host, self.settings.port)
        host, port = sock.getsockname()[:2]
        try:
            table = await self._containerizer_table()
        except BaseException:
            sock.close()
            await self._closers.aclose()
            raise
        self._master = Master(self.settings, containerizers=table, host=host, port=port)
        self._master.start()
        self._serving = await Serving.start(
            build_app(self._master), sock, name="mesos:http", backlog=4096
        )
        logger.info("local Mesos master %s serving on %s", self._master.state.master_id, self.url)

    async def stop(self) -> None:
        if self._master is not None:
            self._master.close_streams()
        if self._serving is not None:
            await self._serving.stop()
        if self._master is not None:
            await self._master.stop()
        await self._closers.aclose()

    async def serve_forever(self) -> None:
        """Serve until cancelled or uvicorn exits (``python -m localcluster mesos``)."""
        assert self._serving is not None
        await self._serving.task

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
