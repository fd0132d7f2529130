"""CallTransport against a scripted HTTP/1.1 server on 127.0.0.1.

The server reads each request whole (head and ``Content-Length`` body) and
answers with the next scripted raw bytes, so every framing and connection
case is exact: the tests count the TCP connections the server accepted to
see which calls shared one, and no test waits on time, only on events,
under an ``asyncio.timeout`` deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from adapters.mesos.http import CallTransport, MesosHTTP, MesosSettings
from crds.errors import MesosRejected, MesosUnavailable

DEADLINE = 5.0
PATH = "/api/v1/scheduler"


@dataclass(frozen=True)
class Step:
    """One scripted answer: raw bytes written for the next request."""

    answer: bytes = b""
    close: bool = False
    """Close the connection after writing ``answer`` (with no answer: a dead connection)."""


def reply(
    status: str, body: bytes = b"", *headers: str, version: str = "HTTP/1.1", length: bool = True
) -> bytes:
    lines = [f"{version} {status}", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


ACCEPTED = reply("202 Accepted")
OK = reply("200 OK", b'{"ok":true}', "Content-Type: application/json")
CHUNKED_409 = (
    b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
    b"7\r\nFailed \r\n"
    b"14;ext=1\r\nto validate the call\r\n"
    b"0\r\nX-Trailer: yes\r\n\r\n"
)
DROP = Step(close=True)  # read the request, close without a byte of answer


@dataclass
class Server:
    """Answers requests in order with ``script``, across all its connections."""

    script: list[Step]
    accepted: int = 0
    requests: list[tuple[int, bytes]] = field(default_factory=list)  # (connection, raw request)
    ended: asyncio.Queue[int] = field(default_factory=asyncio.Queue)  # connections seen closed
    handlers: set[asyncio.Task[None]] = field(default_factory=set)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        self.writers.add(writer)
        conn = self.accepted
        self.accepted += 1
        try:
            while (request := await read_request(reader)) is not None:
                self.requests.append((conn, request))
                step = self.script.pop(0)
                writer.write(step.answer)
                await writer.drain()
                if step.close:
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.ended.put_nowait(conn)


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One whole request, or None when the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


@contextlib.asynccontextmanager
async def serving(*script: Step) -> AsyncIterator[Server]:
    server = Server(list(script))
    listener = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        for writer in server.writers:
            writer.close()  # a handler still reading sees the end of its stream
        await asyncio.gather(*server.handlers, return_exceptions=True)
        await listener.wait_closed()


class Fallback(httpx.AsyncBaseTransport):
    """Stands in for httpcore: records what it was handed."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, content=b"fallback", request=request)

    async def aclose(self) -> None:
        self.closed = True


@contextlib.asynccontextmanager
async def transport() -> AsyncIterator[tuple[CallTransport, Fallback]]:
    fallback = Fallback()
    calls = CallTransport(max_connections=4, connect_timeout=2.0, fallback=fallback)
    try:
        yield calls, fallback
    finally:
        await calls.aclose()


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def message(body: bytes = b"{}") -> bytes:
    head = f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


# --------------------------------------------------------------- answers read


@pytest.mark.parametrize(
    ("script", "calls", "answers", "connections"),
    [
        pytest.param(
            [Step(ACCEPTED)] * 3,
            3,
            [(202, b"")] * 3,
            1,
            id="202-content-length-0-keeps-one-connection",
        ),
        pytest.param(
            [Step(reply("200 OK", b"bye", "Connection: close")), Step(ACCEPTED)],
            2,
            [(200, b"bye"), (202, b"")],
            2,
            id="connection-close-answer-next-call-opens-new",
        ),
        pytest.param(
            [Step(CHUNKED_409), Step(ACCEPTED)],
            2,
            [(409, b"Failed to validate the call"), (202, b"")],
            1,
            id="chunked-4xx-body-read-whole-connection-kept",
        ),
        pytest.param(
            [
                Step(reply("200 OK", b"to the end", version="HTTP/1.0", length=False), close=True),
                Step(ACCEPTED),
            ],
            2,
            [(200, b"to the end"), (202, b"")],
            2,
            id="http-1.0-answer-read-to-close",
        ),
        pytest.param(
            [Step(reply("204 No Content", length=False)), Step(OK)],
            2,
            [(204, b""), (200, b'{"ok":true}')],
            1,
            id="204-without-length-has-no-body",
        ),
        pytest.param(
            [Step(b"HTTP/1.1 100 Continue\r\n\r\n" + ACCEPTED), Step(ACCEPTED)],
            2,
            [(202, b""), (202, b"")],
            1,
            id="interim-100-skipped",
        ),
        pytest.param(
            [Step(ACCEPTED, close=True), Step(ACCEPTED)],
            2,
            [(202, b""), (202, b"")],
            2,
            id="server-closed-idle-connection-next-call-on-new",
        ),
        pytest.param(
            [Step(ACCEPTED), DROP, Step(OK)],
            2,
            [(202, b""), (200, b'{"ok":true}')],
            2,
            id="reused-connection-dead-before-answer-retried-once",
        ),
    ],
)
async def test_answers_and_connection_reuse(
    script: list[Step], calls: int, answers: list[tuple[int, bytes]], connections: int
) -> None:
    async with asyncio.timeout(DEADLINE), serving(*script) as server, transport() as (tr, fb):
        got = []
        for n in range(calls):
            status, headers, body = await tr.exchange(server.origin, message(b'{"n":%d}' % n))
            assert all(isinstance(k, bytes) and isinstance(v, bytes) for k, v in headers)
            got.append((status, body))
        assert got == answers
        assert server.accepted == connections
        assert server.script == []  # every scripted answer was asked for
        assert fb.requests == []
        # Each call's request reached the server whole, in order.
        bodies = [raw.partition(b"\r\n\r\n")[2] for _, raw in server.requests]
        assert bodies[-1] == b'{"n":%d}' % (calls - 1)


async def test_a_kept_connection_is_reused_by_calls_through_an_async_client() -> None:
    script = [Step(reply("200 OK", b"%d" % n, "Content-Type: text/plain")) for n in range(3)]
    async with asyncio.timeout(DEADLINE), serving(*script) as server, transport() as (tr, fb):
        async with httpx.AsyncClient(transport=tr) as client:
            for n in range(3):
                response = await client.post(server.url + PATH, content=b"{}")
                assert (response.status_code, response.text) == (200, str(n))
                assert response.headers["content-type"] == "text/plain"
                assert response.http_version == "HTTP/1.1"
            https = await client.get(f"https://127.0.0.1:{server.port}/state")
        assert server.accepted == 1
        first = server.requests[0][1]
        assert first.startswith(b"POST /api/v1/scheduler HTTP/1.1\r\n")
        assert b"\r\nhost: 127.0.0.1:" in first.lower()
        assert https.content == b"fallback"
        assert [str(r.url) for r in fb.requests] == [f"https://127.0.0.1:{server.port}/state"]


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("script", "error", "connections"),
    [
        pytest.param(
            [Step(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")],
            httpx.RemoteProtocolError,
            1,
            id="non-http-reply",
        ),
        pytest.param(
            [Step(b"hello", close=True)],
            httpx.RemoteProtocolError,
            1,
            id="garbage-then-close",
        ),
        pytest.param(
            [Step(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", close=True)],
            httpx.RemoteProtocolError,
            1,
            id="body-cut-short",
        ),
        pytest.param(
            [Step(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")],
            httpx.RemoteProtocolError,
            1,
            id="bad-chunk-size",
        ),
        pytest.param(
            [DROP],
            httpx.RemoteProtocolError,
            1,
            id="new-connection-closed-without-answer-not-retried",
        ),
    ],
)
async def test_broken_answers_raise_httpx_errors(
    script: list[Step], error: type[Exception], connections: int
) -> None:
    async with asyncio.timeout(DEADLINE), serving(*script) as server, transport() as (tr, _):
        with pytest.raises(error):
            await tr.exchange(server.origin, message())
        assert server.accepted == connections


async def test_a_reused_connection_is_retried_only_once() -> None:
    async with (
        asyncio.timeout(DEADLINE),
        serving(Step(ACCEPTED), DROP, DROP, Step(ACCEPTED)) as server,
        transport() as (tr, _),
    ):
        assert (await tr.exchange(server.origin, message()))[0] == 202
        with pytest.raises(httpx.RemoteProtocolError):
            await tr.exchange(server.origin, message())  # reused dead, then new dead
        assert server.accepted == 2
        assert (await tr.exchange(server.origin, message()))[0] == 202
        assert server.accepted == 3  # the broken connection was not kept


async def test_connection_refused_is_a_connect_error() -> None:
    async with asyncio.timeout(DEADLINE), transport() as (tr, _):
        with refused_port() as port, pytest.raises(httpx.ConnectError):
            await tr.exchange(("127.0.0.1", port), message())


async def test_calls_after_close() -> None:
    async with asyncio.timeout(DEADLINE), serving(Step(ACCEPTED)) as server:
        fallback = Fallback()
        tr = CallTransport(max_connections=4, connect_timeout=2.0, fallback=fallback)
        assert (await tr.exchange(server.origin, message()))[0] == 202
        await tr.aclose()
        assert await server.ended.get() == 0  # the idle connection was closed
        assert fallback.closed
        with pytest.raises(httpx.ConnectError, match="closed"):
            await tr.exchange(server.origin, message())
        request = httpx.Request("POST", server.url + PATH, content=b"{}")
        response = await tr.handle_async_request(request)
        assert response.content == b"fallback"  # not ours any more: handed on
        assert server.accepted == 1 and server.script == []


# ------------------------------------------------- through MesosHTTP's boundary


@pytest.mark.parametrize("pinned", [pytest.param(True, id="pinned"), pytest.param(False, id="any")])
@pytest.mark.parametrize(
    ("script", "error", "text"),
    [
        pytest.param(
            [Step(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")],
            MesosUnavailable,
            "RemoteProtocolError",
            id="non-http-reply",
        ),
        pytest.param(
            [Step(CHUNKED_409)],
            MesosRejected,
            "(409): Failed to validate the call",
            id="chunked-409",
        ),
        pytest.param(
            [Step(reply("503 Service Unavailable", b"no leader"))],
            MesosUnavailable,
            "HTTP 503 no leader",
            id="503",
        ),
        pytest.param([DROP], MesosUnavailable, "RemoteProtocolError", id="closed-without-answer"),
    ],
)
async def test_mesos_http_maps_failures(
    script: list[Step], error: type[Exception], text: str, pinned: bool
) -> None:
    async with asyncio.timeout(DEADLINE), serving(*script) as server:
        settings = MesosSettings(masters=(server.url,), request_timeout=4.0, connect_timeout=2.0)
        mesos = MesosHTTP(settings)
        try:
            with pytest.raises(error, match=re.escape(text)):
                await mesos.request(
                    "POST", PATH, content=b"{}", pinned=server.url if pinned else None
                )
        finally:
            await mesos.aclose()


async def test_mesos_http_calls_share_a_connection_and_refusal_is_unavailable() -> None:
    async with asyncio.timeout(DEADLINE), serving(Step(ACCEPTED), Step(OK)) as server:
        settings = MesosSettings(masters=(server.url,), request_timeout=4.0, connect_timeout=2.0)
        mesos = MesosHTTP(settings)
        try:
            first = await mesos.request("POST", PATH, content=b"{}", pinned=server.url)
            second = await mesos.request("POST", PATH, content=b"{}")
        finally:
            await mesos.aclose()
        assert (first.status_code, second.json()) == (202, {"ok": True})
        assert server.accepted == 1
    with refused_port() as port:
        url = f"http://127.0.0.1:{port}"
        mesos = MesosHTTP(MesosSettings(masters=(url,), request_timeout=4.0, connect_timeout=2.0))
        try:
            async with asyncio.timeout(DEADLINE):
                with pytest.raises(MesosUnavailable, match="ConnectError"):
                    await mesos.request("POST", PATH, content=b"{}", pinned=url)
        finally:
            await mesos.aclose()
