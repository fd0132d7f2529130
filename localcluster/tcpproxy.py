"""A TCP proxy on 127.0.0.1 that a test can cut and heal: a network partition in a box.

:class:`TcpProxy` listens on a port of its own and forwards every connection
to ``target``. :meth:`TcpProxy.cut` partitions the two sides the way a
network does, not the way a crash does: connections stay open, but no byte
crosses in either direction (what was in flight waits in the proxy and the
kernel's buffers, as it would in the network), and a new connection is
accepted but not forwarded. The client finds out only through its own
timeouts and keepalives. :meth:`TcpProxy.heal` lets the bytes through again,
so a connection that survived the partition carries on where it stopped.
``cut(reset=True)`` instead closes every connection at once (a peer that
rebooted) and keeps refusing to forward until healed.

Point a client at :attr:`TcpProxy.endpoint` (``http://127.0.0.1:PORT``)
instead of the server's own; the proxy runs on the event loop of the
``async with`` and stops every connection it forwarded on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Self

__all__ = ["TcpProxy"]

logger = logging.getLogger(__name__)

_CHUNK = 65536


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target`` (``host:port``) until cut."""

    def __init__(self, target: str, *, port: int = 0, name: str = "proxy") -> None:
        host, _, target_port = target.rpartition(":")
        self.target_host = host or "127.0.0.1"
        self.target_port = int(target_port)
        self.name = name
        self.port = port
        self.connections = 0
        """Connections accepted so far."""
        self._open = asyncio.Event()
        self._open.set()
        self._closing = False
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._handlers: set[asyncio.Task[object]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_cut(self) -> bool:
        return not self._open.is_set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("%s: 127.0.0.1:%d -> %s:%d", self.name, self.port, *self._target)

    @property
    def _target(self) -> tuple[str, int]:
        return self.target_host, self.target_port

    def cut(self, *, reset: bool = False) -> None:
        """Partition: nothing crosses until :meth:`heal`; ``reset`` also closes every
        connection now."""
        logger.info("%s: cut%s", self.name, " (reset)" if reset else "")
        self._open.clear()
        if reset:
            for writer in list(self._writers):
                writer.transport.abort()

    def heal(self) -> None:
        logger.info("%s: healed", self.name)
        self._open.set()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        self._writers.add(client_w)
        try:
            await self._open.wait()  # a connection made during a cut waits for the heal
            if self._closing:
                return
            try:
                server_r, server_w = await asyncio.open_connection(*self._target)
            except OSError:
                return
            self._writers.add(server_w)
            pipes = [
                asyncio.create_task(self._pump(client_r, server_w), name=f"{self.name}:up"),
                asyncio.create_task(self._pump(server_r, client_w), name=f"{self.name}:down"),
            ]
            self._pipes.update(pipes)
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                for pipe in pipes:
                    with contextlib.suppress(asyncio.CancelledError):
                        await pipe
                self._pipes.difference_update(pipes)
                self._writers.discard(server_w)
                server_w.transport.abort()
        finally:
            self._writers.discard(client_w)
            client_w.transport.abort()
            if handler is not None:
                self._handlers.discard(handler)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while True:
                await self._open.wait()
                data = await reader.read(_CHUNK)
                if not data:
                    return
                await self._open.wait()  # bytes read before a cut cross only after the heal
                writer.write(data)
                await writer.drain()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._closing = True
        self._open.set()  # connections waiting for a heal leave
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
