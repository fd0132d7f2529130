"""Mesos RecordIO: the framing of the SUBSCRIBE event streams.

``record = <decimal length in bytes> "\\n" <record bytes>``, and the next
record starts right after the data (no separator): ``20\\n{"type":"HEARTBEAT"}``.
The length counts bytes, not characters, and HTTP chunk boundaries have
nothing to do with record boundaries: a chunk may end inside the length, inside
a multi-byte UTF-8 character or hold several records.

:func:`encode` frames one record (the master emulator writes these).
:class:`RecordIODecoder` is an incremental, byte-oriented parser: ``feed``
whatever arrived and get back every record completed so far; it never decodes
text, so a split UTF-8 sequence is simply reassembled. It rejects a length
prefix that is not ASCII digits (a stream that is not RecordIO, or a client
that has lost sync) and absurd lengths, with a ``ValueError`` naming the
offending bytes, rather than buffering forever. :func:`records` adapts it to
an async byte stream such as ``httpx.Response.aiter_bytes()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

__all__ = ["MAX_RECORD_SIZE", "RecordIODecoder", "encode", "records"]

MAX_RECORD_SIZE = 100 * 1024 * 1024
"""Largest record accepted (100 MiB); a bigger prefix means a broken stream."""

# Digits needed to write MAX_RECORD_SIZE; a longer prefix is rejected early.
_MAX_PREFIX_DIGITS = len(str(MAX_RECORD_SIZE))


def encode(record: bytes) -> bytes:
    """Frame one record: ``b"5\\nhello"``."""
    return b"%d\n%b" % (len(record), record)


class RecordIODecoder:
    """Incremental RecordIO parser; feed it chunks, get whole records back.

    >>> d = RecordIODecoder()
    >>> d.feed(b"5\\nhel")
    []
    >>> d.feed(b"lo2\\n{}")
    [b'hello', b'{}']
    """

    def __init__(self, *, max_record_size: int = MAX_RECORD_SIZE) -> None:
        self._max = max_record_size
        self._buffer = bytearray()  # unconsumed input: a partial prefix or record
        self._length: int | None = None  # length of the record being read, once known

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a record."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add ``chunk`` and return the records it completed, in order."""
        self._buffer += chunk
        out: list[bytes] = []
        while True:
            if self._length is None and not self._read_prefix():
                return out
            assert self._length is not None
            if len(self._buffer) < self._length:
                return out
            out.append(bytes(self._buffer[: self._length]))
            del self._buffer[: self._length]
            self._length = None

    def _read_prefix(self) -> bool:
        """Consume ``<digits>\\n`` if complete; validate what is there either way."""
        newline = self._buffer.find(b"\n")
        prefix = self._buffer if newline < 0 else self._buffer[:newline]
        if not prefix.isdigit() and prefix:
            raise ValueError(f"RecordIO: invalid length prefix {bytes(prefix[:32])!r}")
        if len(prefix) > _MAX_PREFIX_DIGITS:
            raise ValueError(f"RecordIO: length prefix too long: {bytes(prefix[:32])!r}...")
        if newline < 0:
            return False
        if not prefix:
            raise ValueError("RecordIO: empty length prefix")
        length = int(prefix)
        if length > self._max:
            raise ValueError(f"RecordIO: record length {length} exceeds {self._max} bytes")
        del self._buffer[: newline + 1]
        self._length = length
        return True

    def close(self) -> None:
        """Declare end of stream; raises ``ValueError`` if a record was cut short."""
        if self._buffer or self._length is not None:
            raise ValueError(f"RecordIO: stream ended inside a record ({len(self._buffer)} bytes)")


async def records(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Yield each record of a RecordIO byte stream; a truncated tail raises ``ValueError``."""
    decoder = RecordIODecoder()
    async for chunk in chunks:
        for record in decoder.feed(chunk):
            yield record
    decoder.close()
