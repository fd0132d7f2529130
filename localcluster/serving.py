"""One uvicorn server on a bound socket: started until it listens, stopped with a bound.

The local Mesos master and the local NetBox both serve a Starlette app this
way: :func:`bind` takes the port first (port 0 picks a free one, and the
caller learns it before anything else starts), :meth:`Serving.start` runs
uvicorn on that socket and returns once it accepts connections, and
:meth:`Serving.stop` asks it to exit, forcing it after ``grace`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import uvicorn
from starlette.types import ASGIApp

__all__ = ["Serving", "bind"]

logger = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port), address reuse on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class Serving:
    """A running uvicorn server and the task that runs it."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None]) -> None:
        self._server = server
        self.task = task

    @classmethod
    async def start(
        cls, app: ASGIApp, sock: socket.socket, *, name: str, backlog: int = 2048
    ) -> Serving:
        """Serve ``app`` on ``sock``; returns once uvicorn listens (10 s at most)."""
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
            backlog=backlog,
        )
        server = uvicorn.Server(config)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name=name)
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped while starting")
                await asyncio.sleep(0.01)
        return cls(server, task)

    @property
    def running(self) -> bool:
        return not self.task.done()

    async def stop(self, grace: float = 5.0) -> None:
        """Ask uvicorn to exit; after ``grace`` seconds force it and cancel its task."""
        self._server.should_exit = True
        try:
            async with asyncio.timeout(grace):
                await self.task
        except TimeoutError:
            self._server.force_exit = True
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
