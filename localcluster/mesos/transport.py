"""HTTP transport rules shared by ``/api/v1/scheduler`` and ``/api/v1``.

Mesos checks, in this order: the method (405 unless POST), ``Content-Type``
(400 when missing, 415 unless exactly ``application/json``: the whole header
is compared, so ``; charset=utf-8`` is refused), ``Accept`` (406 unless it
allows JSON), then parses the body (400 with a plain-text message). Errors
are plain text, worded as the master words them.

Protobuf is not spoken here: ``application/x-protobuf`` bodies get 415 and an
``Accept`` of only protobuf gets 406.

:func:`stream_response` turns a :class:`~.state.Stream` into a chunked
RecordIO response: queued records are written as they come (several per
chunk when they pile up), a HEARTBEAT goes out every interval, and when the
response ends, for whatever reason, ``on_close`` runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from localcluster.mesos.state import Stream

__all__ = ["bad_request", "check_transport", "parse_json", "stream_response", "validation_message"]

logger = logging.getLogger(__name__)

JSON = "application/json"


def bad_request(message: str, status: int = 400) -> Response:
    return PlainTextResponse(message, status_code=status)


def check_transport(request: Request) -> Response | None:
    if request.method != "POST":
        return PlainTextResponse(
            f"Expecting a 'POST' request, received '{request.method}'",
            status_code=405,
            headers={"Allow": "POST"},
        )
    content_type = request.headers.get("content-type")
    if content_type is None:
        return bad_request("Expecting 'Content-Type' to be present")
    if content_type != JSON:
        return bad_request("Expecting 'Content-Type' of application/json", 415)
    accept = request.headers.get("accept")
    if accept and not _accepts_json(accept):
        return bad_request("Expecting 'Accept' to allow application/json", 406)
    return None


def _accepts_json(accept: str) -> bool:
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in (JSON, "application/*", "*/*"):
            return True
    return False


async def parse_json(request: Request) -> Any:
    """The decoded body; raises ``ValueError`` with Mesos' message."""
    try:
        body = await request.body()
    except ClientDisconnect as exc:
        raise ValueError("Client disconnected before sending the body") from exc
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"Failed to parse body into JSON: {exc}") from exc


def validation_message(exc: ValidationError, kind: str) -> str:
    """Mesos' wording for a call that parsed as JSON but is not a valid ``kind``."""
    first = exc.errors()[0]
    msg = str(first.get("msg", ""))
    if msg.startswith("Value error, "):
        return f"Failed to validate {kind}: {msg.removeprefix('Value error, ')}"
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"Failed to convert JSON into Call protobuf: {where}: {msg}"


def stream_response(
    stream: Stream,
    *,
    heartbeat: bytes,
    interval: float,
    on_close: Callable[[], None],
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    return StreamingResponse(
        _records(stream, heartbeat=heartbeat, interval=interval, on_close=on_close),
        media_type=JSON,
        headers=headers,
    )


async def _records(
    stream: Stream, *, heartbeat: bytes, interval: float, on_close: Callable[[], None]
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    next_beat = loop.time() + interval
    queue = stream.queue
    try:
        while True:
            wait = next_beat - loop.time()
            if wait <= 0:
                next_beat += interval
                yield heartbeat
                continue
            if queue.empty():
                try:
                    async with asyncio.timeout(wait):
                        first = await queue.get()
                except TimeoutError:
                    continue
            else:
                first = queue.get_nowait()
            chunk: list[bytes] = []
            item = first
            while item is not None:
                chunk.append(item)
                if queue.empty() or len(chunk) >= 512:
                    break
                item = queue.get_nowait()
            if chunk:
                yield b"".join(chunk)
            if item is None:
                return
    finally:
        on_close()
