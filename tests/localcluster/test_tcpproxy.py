"""The TCP proxy: bytes cross both ways, nothing crosses while cut, all of it after the heal."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from localcluster.tcpproxy import TcpProxy


@pytest.fixture
async def proxy() -> AsyncIterator[TcpProxy]:
    """A proxy to an echo server; every connection of either is closed after the test."""
    accepted: list[asyncio.StreamWriter] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with TcpProxy(f"127.0.0.1:{port}") as started:
            yield started
    finally:
        server.close()
        for writer in accepted:
            writer.transport.abort()
        await server.wait_closed()
        await asyncio.sleep(0)  # let the aborted transports close


async def _connect(proxy: TcpProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def test_bytes_cross_both_ways(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
    assert proxy.endpoint == f"http://127.0.0.1:{proxy.port}"
    await _close(writer)


async def test_a_cut_holds_the_bytes_until_the_heal(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    writer.write(b"a")
    assert await asyncio.wait_for(reader.readexactly(1), 5) == b"a"
    proxy.cut()
    assert proxy.is_cut
    writer.write(b"held")
    late_reader, late_writer = await _connect(proxy)  # a connection made during the cut
    late_writer.write(b"late")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.readexactly(4), 0.3)
    proxy.heal()
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"held"
    assert await asyncio.wait_for(late_reader.readexactly(4), 5) == b"late"
    await _close(writer)
    await _close(late_writer)


async def test_a_reset_closes_every_connection(proxy: TcpProxy) -> None:
    reader, writer = await _connect(proxy)
    writer.write(b"a")
    assert await asyncio.wait_for(reader.readexactly(1), 5) == b"a"
    proxy.cut(reset=True)
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(1), 5)
    await _close(writer)
    proxy.heal()
    reader, writer = await _connect(proxy)
    writer.write(b"b")
    assert await asyncio.wait_for(reader.readexactly(1), 5) == b"b"
    await _close(writer)
