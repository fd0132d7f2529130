"""HTTP plumbing shared by the Mesos scheduler and operator clients.

Both APIs are JSON POSTs to the leading master, and both SUBSCRIBE calls
answer with a RecordIO stream. This module owns everything about reaching
that master, so ``scheduler`` and ``operator`` deal only in Mesos calls:

* :class:`MesosSettings`: the masters to try, timeouts, heartbeat tolerance
  and reconnection backoff, passed in explicitly.
* :class:`Masters`: the master list plus the leader we learnt from a
  ``307 Location: //host:port/...`` (protocol-relative, resolved against the
  scheme of the master that redirected). A failed master moves us to the
  next one in the list; a redirect pins the leader until it fails.
* :class:`Backoff`: exponential delay with jitter for reconnection loops;
  the sleep function and the random source are injected, so tests take no
  real time.
* :class:`CallTransport`: unary calls over kept-alive HTTP/1.1
  connections on asyncio streams. A framework sends one ACKNOWLEDGE per
  status update, and httpcore's pool spends about 1 ms of CPU per call,
  more as connections are added; this spends a small fraction of that.
  SUBSCRIBE streams stay on httpcore.
* :class:`MesosHTTP`: the ``httpx.AsyncClient`` and the boundary where
  httpx exceptions and HTTP statuses become ``MesosUnavailable`` (cannot
  reach a leader: connection errors, timeouts, 5xx, 503 "no leader") or
  ``MesosRejected`` (4xx; the message carries the master's plain-text body).
  :meth:`MesosHTTP.request` makes unary calls, either pinned to one master
  (scheduler calls belong to the master holding the subscription) or with
  leader discovery across the list (operator calls).
  :meth:`MesosHTTP.open_stream` opens a SUBSCRIBE stream, following
  redirects, and :func:`stream_records` reads it record by record, declaring
  it dead when no byte arrives within the idle timeout (missed heartbeats).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from base64 import b64encode
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import httpx

from adapters.mesos.recordio import RecordIODecoder
from crds.errors import MesosRejected, MesosUnavailable

__all__ = [
    "CALL_CONNECTIONS",
    "JSON_HEADERS",
    "STREAM_ID_HEADER",
    "Backoff",
    "CallTransport",
    "Masters",
    "MesosClientBase",
    "MesosHTTP",
    "MesosSettings",
    "Sleep",
    "normalise_master",
    "resolve_location",
    "stream_records",
]

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
"""How reconnection loops wait; ``asyncio.sleep`` unless a test injects one."""

STREAM_ID_HEADER = "Mesos-Stream-Id"
JSON_HEADERS: Mapping[str, str] = {
    # The master compares the whole string: "application/json; charset=utf-8" gets 415.
    "Content-Type": "application/json",
    "Accept": "application/json",
}

# httpx raises these three families; everything else is our own bug.
_HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)


@dataclass(frozen=True)
class MesosSettings:
    """How to reach the Mesos masters and how patiently."""

    masters: tuple[str, ...] = ("http://127.0.0.1:5050",)
    """Master base URLs (``http://host:port``; a bare ``host:port`` means http), tried in order."""

    request_timeout: float = 75.0
    """Seconds allowed for one call, and for a new stream's first event."""

    connect_timeout: float = 5.0
    """Seconds allowed to open a TCP connection to one master."""

    heartbeat_miss_factor: float = 5.0
    """A stream with no bytes for this many heartbeat intervals is dead."""

    default_heartbeat_interval: float = 15.0
    """Heartbeat interval assumed when SUBSCRIBED does not announce one."""

    backoff_initial: float = 0.5
    """First reconnection delay in seconds; it doubles per failure."""

    backoff_max: float = 15.0
    """Ceiling of the reconnection delay."""

    backoff_jitter: float = 0.2
    """Each delay is scaled by a random factor in ``[1 - jitter, 1]``."""

    max_redirects: int = 4
    """Leader redirects followed before giving up on one attempt."""

    principal: str | None = None
    """HTTP basic-auth principal, when the masters require authentication."""

    secret: str | None = None
    """Secret for ``principal``."""


def normalise_master(master: str) -> str:
    """``host:port`` → ``http://host:port``; no trailing slash or path."""
    if "://" not in master:
        master = f"http://{master}"
    parts = urlsplit(master)
    return f"{parts.scheme}://{parts.netloc}"


def resolve_location(location: str, current: str) -> str:
    """The master base URL a 307 points to.

    Mesos sends ``//host:port/api/v1/scheduler`` (protocol-relative); the
    docs also show a bare ``host:port``. Both take the scheme of ``current``.
    """
    scheme = urlsplit(current).scheme or "http"
    if location.startswith("//"):
        leader = normalise_master(f"{scheme}:{location}")
    elif "://" in location:
        leader = normalise_master(location)
    else:
        leader = normalise_master(f"{scheme}://{location.split('/', 1)[0]}")
    if not urlsplit(leader).hostname:
        raise ValueError(f"redirect without a usable Location: {location!r}")
    return leader


class Masters:
    """The configured masters and the leader currently believed in."""

    def __init__(self, masters: tuple[str, ...]) -> None:
        if not masters:
            raise ValueError("MesosSettings.masters is empty")
        self._urls = [normalise_master(m) for m in masters]
        self._index = 0  # next configured master to try when no leader is known
        self._leader: str | None = None  # learnt from a redirect; cleared when it fails

    def __len__(self) -> int:
        return len(self._urls)

    @property
    def current(self) -> str:
        return self._leader or self._urls[self._index]

    def redirected(self, location: str) -> str:
        """Remember the leader a 307 from ``current`` names, and return it."""
        try:
            leader = resolve_location(location, self.current)
        except ValueError as exc:
            raise _unavailable(self.current, str(exc)) from exc
        if leader != self._leader:
            logger.info("Mesos leader is %s (redirected from %s)", leader, self.current)
        self._leader = leader
        return leader

    def rotate(self) -> None:
        """The current master failed: the next attempt goes to another one."""
        self.failed(self.current)

    def failed(self, url: str) -> None:
        """``url`` did not answer: forget it as leader, move to the next configured master."""
        if url == self._leader:
            self._leader = None
        if url in self._urls:
            self._index = (self._urls.index(url) + 1) % len(self._urls)
        elif self._leader is None:
            self._index = (self._index + 1) % len(self._urls)


class Backoff:
    """Exponential delays with jitter: ``initial * 2**n`` capped at ``maximum``."""

    def __init__(
        self,
        *,
        initial: float,
        maximum: float,
        jitter: float,
        rng: random.Random | None = None,  # None for a fresh unseeded one; tests seed it
    ) -> None:
        self._initial = initial
        self._maximum = maximum
        self._jitter = jitter
        self._rng = rng or random.Random()
        self._failures = 0

    def next(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        base = min(self._maximum, self._initial * 2.0 ** min(self._failures, 62))
        self._failures += 1
        return base * (1.0 - self._jitter * self._rng.random())

    def reset(self) -> None:
        """A connection succeeded: start again from ``initial``."""
        self._failures = 0


def _unavailable(url: str, what: str | BaseException) -> MesosUnavailable:
    detail = what if isinstance(what, str) else f"{type(what).__name__}: {what}".rstrip(": ")
    return MesosUnavailable(f"Mesos master {url}: {detail}")


def _body_text(response: httpx.Response) -> str:
    try:
        return response.text.strip()
    except (UnicodeDecodeError, LookupError):
        return repr(response.content[:200])


def check_status(response: httpx.Response, url: str) -> None:
    """Raise for a non-2xx answer (a 307 is handled by the callers first)."""
    status = response.status_code
    if 200 <= status < 300:
        return
    text = _body_text(response)
    if 400 <= status < 500:
        raise MesosRejected(f"Mesos master {url} rejected the call ({status}): {text}")
    raise _unavailable(url, f"HTTP {status} {text}".rstrip())


CALL_CONNECTIONS = 32
"""Connections kept to a master for unary calls; more calls wait for one."""

_MAX_HEAD = 64 * 1024  # bytes of status line and headers accepted in one answer
_NO_BODY = frozenset({204, 304})

Origin = tuple[str, int]
RawHeaders = list[tuple[bytes, bytes]]


class _Connection:
    """One kept-alive HTTP/1.1 connection: an asyncio stream pair."""

    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        """False once the peer closed it (a keep-alive timeout) or it broke."""
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class _Stale(Exception):
    """A reused connection ended before any byte of the answer: the peer had closed it."""


@dataclass(frozen=True)
class _Target:
    """Where a pinned call goes, and the request line and Host header that say so."""

    origin: Origin
    url: httpx.URL
    prefix: bytes  # b"POST /api/v1/scheduler HTTP/1.1\r\nHost: host:port\r\n"


class CallTransport(httpx.AsyncBaseTransport):
    """Unary HTTP/1.1 exchanges over kept-alive asyncio connections.

    httpcore's pool re-examines every connection on each request and exit
    (``is_idle``, ``has_expired`` with a socket poll, a failed ``sniffio``
    import per lock), which costs about 1 ms of CPU per call and grows with
    the number of connections. The scheduler sends one ACKNOWLEDGE per
    status update, so that cost alone capped a framework at a few hundred
    updates a second. Here a request is one ``write`` and the answer, with
    a ``Content-Length`` or a chunked body, is read whole.

    Plain ``http`` only; other schemes go to ``fallback``. A reused
    connection that turns out closed before answering is replaced once: the
    race every keep-alive client has with the server's idle timeout.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        connect_timeout: float,
        fallback: httpx.AsyncBaseTransport,
    ) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._connect_timeout = connect_timeout
        self._fallback = fallback
        self._idle: dict[Origin, list[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http" or self._closed:
            return await self._fallback.handle_async_request(request)
        lines = [b"%b %b HTTP/1.1\r\n" % (request.method.encode(), url.raw_path)]
        lines.extend(b"%b: %b\r\n" % (name, value) for name, value in request.headers.raw)
        lines.append(b"\r\n")
        lines.append(await request.aread())
        status, headers, content = await self.exchange(
            (url.host, url.port or 80), b"".join(lines), head=request.method == "HEAD"
        )
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions={"http_version": b"HTTP/1.1"},
            request=request,
        )

    async def exchange(
        self, origin: Origin, message: bytes, *, head: bool = False
    ) -> tuple[int, RawHeaders, bytes]:
        """Send one whole request (head and body) to ``origin``; its status, headers, body.

        Raises httpx's exceptions (``ConnectError``, ``ReadError``, ...).
        """
        if self._closed:
            raise httpx.ConnectError("the client is closed")
        async with self._slots:
            for _ in range(2):
                conn, reused = self._take(origin)
                if conn is None:
                    conn = await self._connect(origin)
                try:
                    conn.writer.write(message)
                    status, headers, content, keep = await self._answer(
                        conn, reused=reused, head=head
                    )
                except _Stale:
                    conn.close()
                    continue
                except BaseException:
                    conn.close()
                    raise
                if keep and not self._closed:
                    self._idle.setdefault(origin, []).append(conn)
                else:
                    conn.close()
                return status, headers, content
        raise httpx.RemoteProtocolError("connection closed without an answer")

    def _take(self, origin: Origin) -> tuple[_Connection | None, bool]:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()  # the most recently used: least likely to have timed out
            if conn.usable():
                return conn, True
            conn.close()
        return None, False

    async def _connect(self, origin: Origin) -> _Connection:
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(*origin, limit=_MAX_HEAD)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"connecting to {origin[0]}:{origin[1]} timed out") from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(reader, writer)

    async def _answer(
        self, conn: _Connection, *, reused: bool, head: bool
    ) -> tuple[int, RawHeaders, bytes, bool]:
        """Status, headers, body and whether the connection can be kept."""
        reader = conn.reader
        try:
            await conn.writer.drain()
            while True:
                try:
                    block = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as exc:
                    if reused and not exc.partial:
                        raise _Stale from exc
                    raise
                reused = False
                version, status, headers = _parse_head(block)
                if status >= 200 or status == 101:
                    break
            keep = version == b"HTTP/1.1"
            length: int | None = None
            chunked = False
            for name, value in headers:
                lowered = name.lower()
                if lowered == b"content-length":
                    length = int(value)
                elif lowered == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif lowered == b"connection":
                    option = value.lower()
                    keep = b"close" not in option and (keep or b"keep-alive" in option)
            if head or status in _NO_BODY or status < 200:
                content = b""
            elif chunked:
                content = await _read_chunked(reader)
            elif length is not None:
                content = await reader.readexactly(length)
            else:
                content = await reader.read()
                keep = False
        except (_Stale, httpx.HTTPError):
            raise
        except asyncio.IncompleteReadError as exc:
            raise httpx.RemoteProtocolError("the server closed the connection mid-answer") from exc
        except (ValueError, asyncio.LimitOverrunError) as exc:
            raise httpx.RemoteProtocolError(f"malformed answer: {exc}") from exc
        except OSError as exc:
            if reused and isinstance(exc, ConnectionResetError):
                raise _Stale from exc
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        return status, headers, content, keep

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        await self._fallback.aclose()


def _header_line(name: str, value: str) -> bytes:
    line = f"{name}: {value}\r\n"
    if line.count("\n") != 1 or "\r" in line[:-2]:
        raise ValueError(f"header {name!r} holds a line break")
    return line.encode("latin-1")


def _parse_head(block: bytes) -> tuple[bytes, int, RawHeaders]:
    """A response head (status line, header lines, blank line): version, status, headers."""
    status_line, *lines = block[:-4].split(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or not code.isdigit():
        raise ValueError(f"bad status line {status_line[:80]!r}")
    headers: RawHeaders = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"bad header line {line[:80]!r}")
        headers.append((name, value.strip()))
    return version, int(code), headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Trailers, if any, end with an empty line like the headers.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise ValueError("chunk not followed by CRLF")


class MesosHTTP:
    """The shared httpx client, master list and error translation."""

    def __init__(
        self,
        settings: MesosSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,  # None for real sockets
    ) -> None:
        self.settings = settings
        self.masters = Masters(settings.masters)
        auth = None
        if settings.principal is not None:
            auth = httpx.BasicAuth(settings.principal, settings.secret or "")
        timeout = httpx.Timeout(settings.request_timeout, connect=settings.connect_timeout)
        # Calls are small and many (an ACKNOWLEDGE per status update), so they
        # go through CallTransport, at a tenth of the CPU httpcore spends per
        # exchange; the SUBSCRIBE streams keep httpcore's streaming transport.
        streams: httpx.AsyncBaseTransport | None = transport
        calls: httpx.AsyncBaseTransport | None = transport
        self._calls: CallTransport | None = None
        self._auth_lines: list[bytes] = []
        self._targets: dict[tuple[str, str], _Target] = {}
        if transport is None:
            streams = httpx.AsyncHTTPTransport(
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
            calls = self._calls = CallTransport(
                max_connections=CALL_CONNECTIONS,
                connect_timeout=settings.connect_timeout,
                fallback=streams,
            )
            if settings.principal is not None:
                token = f"{settings.principal}:{settings.secret or ''}".encode()
                self._auth_lines = [b"Authorization: Basic %b\r\n" % b64encode(token)]
        self._client = httpx.AsyncClient(
            transport=calls,
            auth=auth,
            follow_redirects=False,  # redirects mean leader changes; handled here
            timeout=timeout,
        )
        self._streams = self._client
        if transport is None:
            self._streams = httpx.AsyncClient(
                transport=streams, auth=auth, follow_redirects=False, timeout=timeout
            )

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._streams is not self._client:
            await self._streams.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] = JSON_HEADERS,
        pinned: str | None = None,
    ) -> httpx.Response:
        """One unary call; the whole exchange is bounded by ``request_timeout``.

        ``pinned`` sends it to that master only, and a redirect then means it
        lost the leadership (``MesosUnavailable``). Otherwise redirects are
        followed and a master that cannot be reached makes way for the next.
        """
        url = pinned or self.masters.current
        try:
            async with asyncio.timeout(self.settings.request_timeout):
                if pinned is not None:
                    response = await self._send_pinned(method, pinned + path, content, headers)
                    if response.status_code == 307:
                        where = response.headers.get("Location", "?")
                        raise _unavailable(pinned, f"no longer the leader (307 to {where})")
                    check_status(response, pinned)
                    return response
                return await self._discover(method, path, content, headers)
        except TimeoutError as exc:
            raise _unavailable(url, f"no answer within {self.settings.request_timeout}s") from exc

    async def _discover(
        self, method: str, path: str, content: bytes | None, headers: Mapping[str, str]
    ) -> httpx.Response:
        """Try the leader, then each master in turn, following redirects."""
        errors: list[str] = []
        attempts = len(self.masters) + self.settings.max_redirects
        for _ in range(attempts):
            url = self.masters.current
            try:
                response = await self._send(method, url + path, content, headers)
                if response.status_code == 307:
                    self.masters.redirected(response.headers.get("Location", ""))
                    continue
                check_status(response, url)
                return response
            except MesosUnavailable as exc:
                errors.append(str(exc))
                self.masters.failed(url)
                if len(errors) >= len(self.masters):
                    break
        raise MesosUnavailable(
            "no Mesos master answered: " + "; ".join(errors or ["redirect loop"])
        )

    async def _send_pinned(
        self, method: str, url: str, content: bytes | None, headers: Mapping[str, str]
    ) -> httpx.Response:
        """A scheduler call: straight to :class:`CallTransport` when it is ours.

        The ``AsyncClient`` layer (URL parsing and merging, cookies, auth and
        redirect flows) costs more CPU than the exchange itself, and a pinned
        call needs none of it: no cookies, no redirect followed, basic auth
        being one fixed header. The answer's ``request`` names the method and
        URL only.
        """
        if self._calls is None:
            return await self._send(method, url, content, headers)
        try:
            target = self._target(method, url)
            lines = [target.prefix]
            for name, value in headers.items():
                lines.append(_header_line(name, value))
            lines.extend(self._auth_lines)
            body = content or b""
            lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
            lines.append(body)
            status, raw, answer = await self._calls.exchange(
                target.origin, b"".join(lines), head=method == "HEAD"
            )
        except _HTTPX_ERRORS as exc:
            raise _unavailable(url, exc) from exc
        except ValueError as exc:  # a header that cannot be sent
            raise _unavailable(url, str(exc)) from exc
        return httpx.Response(
            status, headers=raw, content=answer, request=httpx.Request(method, target.url)
        )

    def _target(self, method: str, url: str) -> _Target:
        target = self._targets.get((method, url))
        if target is None:
            parsed = httpx.URL(url)
            port = parsed.port or 80
            prefix = b"%b %b HTTP/1.1\r\nHost: %b\r\n" % (
                method.encode("ascii"),
                parsed.raw_path,
                parsed.netloc,
            )
            target = _Target((parsed.host, port), parsed, prefix)
            if len(self._targets) > 64:  # masters come and go; keep the table small
                self._targets.clear()
            self._targets[(method, url)] = target
        return target

    async def _send(
        self, method: str, url: str, content: bytes | None, headers: Mapping[str, str]
    ) -> httpx.Response:
        try:
            return await self._client.request(method, url, content=content, headers=headers)
        except _HTTPX_ERRORS as exc:
            raise _unavailable(url, exc) from exc

    async def open_stream(
        self, path: str, *, content: bytes, headers: Mapping[str, str] = JSON_HEADERS
    ) -> tuple[httpx.Response, str]:
        """POST a SUBSCRIBE and return the open 200 response and the master serving it.

        Follows leader redirects. The caller must ``aclose()`` the response,
        and calls ``masters.rotate()`` when it gives up on this master.
        """
        url = self.masters.current
        timeout = httpx.Timeout(
            self.settings.request_timeout, connect=self.settings.connect_timeout, read=None
        )
        try:
            async with asyncio.timeout(self.settings.request_timeout):
                for _ in range(self.settings.max_redirects + 1):
                    url = self.masters.current
                    request = self._streams.build_request(
                        "POST", url + path, content=content, headers=headers, timeout=timeout
                    )
                    response = await self._streams.send(request, stream=True)
                    if response.status_code != 307:
                        break
                    await response.aclose()
                    self.masters.redirected(response.headers.get("Location", ""))
                else:
                    raise _unavailable(url, "too many leader redirects")
                if response.status_code != 200:
                    await response.aread()
                    await response.aclose()
                    check_status(response, url)
                return response, url
        except _HTTPX_ERRORS as exc:
            raise _unavailable(url, exc) from exc
        except TimeoutError as exc:
            raise _unavailable(url, "no answer to SUBSCRIBE in time") from exc

    async def get_json(self, path: str) -> object:
        """GET a legacy JSON endpoint (``/master/state``) from the leader."""
        response = await self.request("GET", path, headers={"Accept": "application/json"})
        try:
            return response.json()
        except ValueError as exc:
            raise _unavailable(str(response.request.url), f"invalid JSON: {exc}") from exc


async def stream_records(
    response: httpx.Response, *, url: str, idle_timeout: Callable[[], float]
) -> AsyncGenerator[bytes, None]:
    """Each RecordIO record of an open stream, until it ends or goes quiet.

    ``idle_timeout()`` is asked before every read, so it can grow once
    SUBSCRIBED announces the heartbeat interval. Every way the stream can
    break (silence, a cut connection, the master closing it, broken framing)
    raises ``MesosUnavailable`` naming ``url``.
    """
    decoder = RecordIODecoder()
    chunks = response.aiter_bytes()
    while True:
        timeout = idle_timeout()
        try:
            async with asyncio.timeout(timeout):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            break
        except TimeoutError as exc:
            raise _unavailable(url, f"stream silent for {timeout:g}s (heartbeats missed)") from exc
        except _HTTPX_ERRORS as exc:
            raise _unavailable(url, exc) from exc
        try:
            records = decoder.feed(chunk)
        except ValueError as exc:
            raise _unavailable(url, f"broken stream: {exc}") from exc
        for record in records:
            yield record
    try:
        decoder.close()
    except ValueError as exc:
        raise _unavailable(url, f"stream cut: {exc}") from exc
    raise _unavailable(url, "stream closed by the master")


class MesosClientBase:
    """What the scheduler and operator clients share: settings, one
    :class:`MesosHTTP`, the injected sleep and jitter source, and closing."""

    def __init__(
        self,
        settings: MesosSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,  # None for real sockets
        sleep: Sleep = asyncio.sleep,  # injected by tests
        rng: random.Random | None = None,  # backoff jitter; seeded by tests
    ) -> None:
        self._settings = settings
        self._http = MesosHTTP(settings, transport=transport)
        self._sleep = sleep
        self._rng = rng

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
