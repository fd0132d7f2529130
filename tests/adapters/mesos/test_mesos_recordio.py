"""RecordIO framing: chunk boundaries never matter, broken streams fail loudly."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.mesos.recordio import MAX_RECORD_SIZE, RecordIODecoder, encode, records

HEARTBEAT = b'{"type":"HEARTBEAT"}'
UTF8 = '{"message":"h\u00e9llo \u4e16\u754c"}'.encode()  # 2- and 3-byte sequences
SPLIT_E = encode(UTF8).index("\u00e9".encode()) + 1  # between the two bytes of "\u00e9"
SPLIT_CJK = encode(UTF8).index("\u4e16".encode()) + 2  # inside the 3 bytes of "\u4e16"


def decode_all(chunks: Sequence[bytes]) -> list[bytes]:
    decoder = RecordIODecoder()
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    decoder.close()
    return out


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        pytest.param([b"1", b"1\nhello world"], [b"hello world"], id="split length"),
        pytest.param([b"11", b"\n", b"hello", b" world"], [b"hello world"], id="split newline"),
        pytest.param([encode(UTF8)[:SPLIT_E], encode(UTF8)[SPLIT_E:]], [UTF8], id="split utf-8"),
        pytest.param(
            [encode(UTF8)[:SPLIT_CJK], encode(UTF8)[SPLIT_CJK:]], [UTF8], id="split 3-byte utf-8"
        ),
        pytest.param([b"5\nhello5\nworld"], [b"hello", b"world"], id="two records in one chunk"),
        pytest.param([b'20\n{"type":"HEARTBEAT"}'], [HEARTBEAT], id="heartbeat record"),
        pytest.param(
            [b"5\nhello2", b"0\n" + HEARTBEAT], [b"hello", HEARTBEAT], id="next length split"
        ),
        pytest.param([b"", b"5\nhello", b""], [b"hello"], id="empty chunks"),
        pytest.param(
            [bytes([b]) for b in encode(UTF8) + encode(HEARTBEAT)],
            [UTF8, HEARTBEAT],
            id="one byte at a time",
        ),
        pytest.param([b"0\n5\nhello"], [b"", b"hello"], id="empty record"),
    ],
)
def test_decoder_reassembles_records(chunks: list[bytes], expected: list[bytes]) -> None:
    assert decode_all(chunks) == expected


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        pytest.param([b"abc\n"], "invalid length prefix", id="garbage prefix"),
        pytest.param([b'{"type"'], "invalid length prefix", id="json without prefix"),
        pytest.param([b" 5\nhello"], "invalid length prefix", id="leading space"),
        pytest.param([b"-5\nhello"], "invalid length prefix", id="negative length"),
        pytest.param([b"5\nhello\n5\nworld"], "empty length prefix", id="trailing newline"),
        pytest.param([b"104857601\n"], "exceeds", id="absurd length"),
        pytest.param([b"99999999999"], "too long", id="absurd prefix before newline"),
        pytest.param([b"5\nhel"], "ended inside a record", id="truncated record"),
        pytest.param([b"12"], "ended inside a record", id="truncated prefix"),
    ],
)
def test_decoder_rejects_broken_streams(chunks: list[bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_all(chunks)


def test_decoder_reports_what_it_buffers() -> None:
    decoder = RecordIODecoder()

    assert decoder.feed(b"5\nhel") == []
    assert decoder.buffered == 3
    assert decoder.feed(b"lo") == [b"hello"]
    assert decoder.buffered == 0


def test_decoder_honours_a_smaller_limit() -> None:
    decoder = RecordIODecoder(max_record_size=4)

    assert decoder.feed(b"4\nabcd") == [b"abcd"]
    with pytest.raises(ValueError, match="exceeds 4 bytes"):
        decoder.feed(b"5\n")


def test_default_limit_is_100_mib() -> None:
    assert MAX_RECORD_SIZE == 100 * 1024 * 1024
    assert RecordIODecoder().feed(b"%d\n" % MAX_RECORD_SIZE) == []


@pytest.mark.parametrize(
    ("record", "framed"),
    [
        pytest.param(HEARTBEAT, b'20\n{"type":"HEARTBEAT"}', id="heartbeat"),
        pytest.param("h\u00e9".encode(), b"3\nh\xc3\xa9", id="length counts bytes"),
        pytest.param(b"", b"0\n", id="empty"),
    ],
)
def test_encode_frames_without_trailing_newline(record: bytes, framed: bytes) -> None:
    assert encode(record) == framed


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_records_iterates_an_async_stream() -> None:
    stream = _chunks(b"5\nhel", b"lo20\n", HEARTBEAT[:7], HEARTBEAT[7:])

    assert [r async for r in records(stream)] == [b"hello", HEARTBEAT]


async def test_records_raises_on_a_truncated_stream() -> None:
    stream = _chunks(b"5\nhello", b"9\nabc")
    seen: list[bytes] = []

    with pytest.raises(ValueError, match="ended inside a record"):
        async for record in records(stream):
            seen.append(record)
    assert seen == [b"hello"]


@settings(max_examples=300, database=None)
@given(
    recs=st.lists(st.binary(max_size=300), max_size=12),
    data=st.data(),
)
def test_any_chunking_yields_exactly_the_records(recs: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(encode(r) for r in recs)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)), max_size=20), label="cuts"))
    bounds = [0, *cuts, len(stream)]
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]

    assert decode_all(chunks) == recs
