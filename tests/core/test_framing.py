"""Tests for the sans-IO framing codecs: any chunking, clean errors, bounded buffers."""

from __future__ import annotations

import doctest
import itertools
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labsock._core import framing as _framing
from labsock._core.errors import ClosedError, FramingError, PayloadTypeError, UsageError
from labsock._core.framing import LengthPrefixCodec, LineCodec

FAST = settings(max_examples=200, deadline=None)

# Delimiters chosen to stress the search: multi-byte, self-overlapping
# (b"aa", b"aba") and one made of a byte that also appears inside messages.
DELIMITERS = [b"\n", b"\r\n", b"\x00", b"--", b"aa", b"aba", b"\r\n\r\n"]

# A small alphabet makes delimiter bytes (and partial delimiters) common.
messages_from_small_alphabet = st.lists(
    st.binary(max_size=30).map(lambda b: bytes(b"ab\r\n-\x00"[x % 6] for x in b)),
    max_size=15,
)
any_messages = st.lists(st.binary(max_size=300), max_size=15)


def chunked(wire: bytes, cuts: Sequence[int]) -> list[bytes]:
    """Split ``wire`` at the given offsets (in any order, duplicates allowed)."""
    points = [0, *sorted(c % (len(wire) + 1) for c in cuts), len(wire)]
    return [wire[a:b] for a, b in itertools.pairwise(points)]


def decode_all(feed: Callable[[bytes], list[bytes]], chunks: Sequence[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(feed(chunk))
    return out


def encodable_lines(codec: LineCodec, messages: list[bytes]) -> list[bytes]:
    """Keep the messages the line codec agrees to send (no delimiter inside)."""
    kept = []
    for message in messages:
        try:
            codec.encode(message)
        except FramingError:
            continue
        kept.append(message)
    return kept


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_framing)
    assert result.attempted > 0
    assert result.failed == 0


# --- LengthPrefixCodec: round trips ----------------------------------------


def test_encode_prefixes_four_byte_big_endian_length() -> None:
    assert LengthPrefixCodec().encode(b"hi") == b"\x00\x00\x00\x02hi"
    assert LengthPrefixCodec().encode(b"x" * 258)[:4] == b"\x00\x00\x01\x02"


@FAST
@given(any_messages)
def test_length_prefix_stream_fed_whole_yields_all_messages(messages: list[bytes]) -> None:
    codec = LengthPrefixCodec()
    wire = b"".join(codec.encode(m) for m in messages)
    assert codec.feed(wire) == messages
    assert codec.buffered == 0
    codec.close()


@FAST
@given(any_messages)
def test_length_prefix_one_byte_at_a_time_yields_same_messages(messages: list[bytes]) -> None:
    codec = LengthPrefixCodec()
    wire = b"".join(codec.encode(m) for m in messages)
    one_by_one = [wire[i : i + 1] for i in range(len(wire))]
    assert decode_all(codec.feed, one_by_one) == messages
    codec.close()


@FAST
@given(any_messages, st.lists(st.integers(min_value=0), max_size=20))
def test_length_prefix_random_chunkings_yield_same_messages(
    messages: list[bytes], cuts: list[int]
) -> None:
    codec = LengthPrefixCodec()
    wire = b"".join(codec.encode(m) for m in messages)
    assert decode_all(codec.feed, chunked(wire, cuts)) == messages
    assert codec.buffered == 0
    codec.close()


def test_length_prefix_empty_messages_are_delivered() -> None:
    codec = LengthPrefixCodec()
    assert codec.encode(b"") == b"\x00\x00\x00\x00"
    assert codec.feed(codec.encode(b"") * 3) == [b"", b"", b""]


def test_length_prefix_keeps_trailing_partial_frame_until_it_completes() -> None:
    codec = LengthPrefixCodec()
    wire = codec.encode(b"first") + codec.encode(b"second")
    assert codec.feed(wire[:12]) == [b"first"]
    assert codec.buffered == 12 - 9
    assert codec.feed(wire[12:]) == [b"second"]
    assert codec.buffered == 0


def test_length_prefix_feed_accepts_bytearray_and_memoryview() -> None:
    codec = LengthPrefixCodec()
    wire = codec.encode(b"abc") + codec.encode(b"de")
    assert codec.feed(bytearray(wire[:5])) == []
    assert codec.feed(memoryview(wire)[5:]) == [b"abc", b"de"]
    assert codec.encode(bytearray(b"xy")) == codec.encode(memoryview(b"xy")) == b"\0\0\0\x02xy"


def test_length_prefix_returned_messages_are_bytes() -> None:
    codec = LengthPrefixCodec()
    [message] = codec.feed(bytearray(codec.encode(b"abc")))
    assert type(message) is bytes


def test_length_prefix_message_of_exactly_max_size_passes() -> None:
    codec = LengthPrefixCodec(max_size=10)
    assert codec.feed(codec.encode(b"x" * 10)) == [b"x" * 10]


# --- LengthPrefixCodec: end of stream ----------------------------------------


def test_length_prefix_close_on_a_frame_boundary_is_silent_and_idempotent() -> None:
    codec = LengthPrefixCodec()
    codec.feed(codec.encode(b"done"))
    codec.close()
    codec.close()


def test_length_prefix_truncated_payload_makes_close_raise_with_counts() -> None:
    codec = LengthPrefixCodec()
    codec.feed(codec.encode(b"0123456789")[:7])
    with pytest.raises(FramingError, match=r"middle of a frame: 3 of 10 bytes"):
        codec.close()


def test_length_prefix_truncated_header_makes_close_raise() -> None:
    codec = LengthPrefixCodec()
    codec.feed(b"\x00\x00")
    with pytest.raises(FramingError, match=r"middle of a frame: 2 of 4 header bytes"):
        codec.close()


def test_length_prefix_feed_after_close_raises_closed_error() -> None:
    codec = LengthPrefixCodec()
    codec.close()
    with pytest.raises(ClosedError, match="after close"):
        codec.feed(b"\x00\x00\x00\x00")


# --- LengthPrefixCodec: refusals ---------------------------------------------


def test_oversized_length_header_is_refused_before_its_payload_arrives() -> None:
    codec = LengthPrefixCodec(max_size=1000)
    with pytest.raises(FramingError, match=r"announces 1,001 bytes, more than max_size=1,000"):
        codec.feed((1001).to_bytes(4, "big"))
    assert codec.buffered == 0


def test_oversized_length_header_split_across_chunks_is_refused_on_its_last_byte() -> None:
    codec = LengthPrefixCodec(max_size=1000)
    header = (2**32 - 1).to_bytes(4, "big")
    assert codec.feed(header[:3]) == []
    with pytest.raises(FramingError, match="max_size"):
        codec.feed(header[3:])


def test_text_fed_to_length_prefix_codec_gets_a_hint_about_lines() -> None:
    codec = LengthPrefixCodec()
    with pytest.raises(FramingError, match=r"b'GET ' look like text"):
        codec.feed(b"GET / HTTP/1.0\r\n\r\n")


def test_encode_refuses_message_larger_than_max_size() -> None:
    with pytest.raises(FramingError, match=r"11 bytes: more than max_size=10"):
        LengthPrefixCodec(max_size=10).encode(b"x" * 11)


def test_length_prefix_after_framing_error_every_feed_says_stream_is_broken() -> None:
    codec = LengthPrefixCodec(max_size=10)
    with pytest.raises(FramingError):
        codec.feed(b"\xff\xff\xff\xff")
    for _ in range(2):
        with pytest.raises(FramingError, match="the stream is broken"):
            codec.feed(LengthPrefixCodec().encode(b"ok"))
    with pytest.raises(FramingError, match="the stream is broken"):
        codec.close()


def test_length_prefix_bad_header_after_a_good_frame_in_the_same_chunk_still_raises() -> None:
    codec = LengthPrefixCodec(max_size=10)
    with pytest.raises(FramingError, match="max_size=10"):
        codec.feed(codec.encode(b"fine") + b"\xff\xff\xff\xff")


def test_length_prefix_truncated_close_leaves_codec_broken() -> None:
    codec = LengthPrefixCodec()
    codec.feed(b"\x00")
    with pytest.raises(FramingError, match="middle of a frame"):
        codec.close()
    with pytest.raises(FramingError, match="the stream is broken"):
        codec.feed(b"")


@pytest.mark.parametrize("method", ["feed", "encode"])
def test_length_prefix_refuses_str_and_suggests_encode(method: str) -> None:
    codec = LengthPrefixCodec()
    with pytest.raises(PayloadTypeError, match=r"not str.*\.encode\(\)"):
        getattr(codec, method)("hello")


def test_length_prefix_refuses_other_types() -> None:
    with pytest.raises(PayloadTypeError, match="not list"):
        LengthPrefixCodec().feed([1, 2, 3])  # type: ignore[arg-type]


def test_str_is_refused_without_breaking_the_stream() -> None:
    codec = LengthPrefixCodec()
    with pytest.raises(PayloadTypeError):
        codec.feed("oops")  # type: ignore[arg-type]
    assert codec.feed(codec.encode(b"still fine")) == [b"still fine"]


@pytest.mark.parametrize(
    ("max_size", "error"),
    [(0, UsageError), (-1, UsageError), (2**32, UsageError), (1.5, PayloadTypeError)],
)
def test_length_prefix_refuses_impossible_max_size(max_size: object, error: type) -> None:
    with pytest.raises(error, match="max_size"):
        LengthPrefixCodec(max_size=max_size)  # type: ignore[arg-type]


# --- LineCodec: round trips -------------------------------------------------


def test_line_encode_appends_delimiter() -> None:
    assert LineCodec().encode(b"hi") == b"hi\n"
    assert LineCodec(b"\r\n").encode(b"") == b"\r\n"


@FAST
@given(st.sampled_from(DELIMITERS), messages_from_small_alphabet)
def test_line_stream_fed_whole_yields_all_lines(delimiter: bytes, messages: list[bytes]) -> None:
    codec = LineCodec(delimiter)
    messages = encodable_lines(codec, messages)
    wire = b"".join(codec.encode(m) for m in messages)
    assert codec.feed(wire) == messages
    assert codec.buffered == 0
    codec.close()


@FAST
@given(st.sampled_from(DELIMITERS), messages_from_small_alphabet)
def test_line_one_byte_at_a_time_yields_same_lines(delimiter: bytes, messages: list[bytes]) -> None:
    codec = LineCodec(delimiter)
    messages = encodable_lines(codec, messages)
    wire = b"".join(codec.encode(m) for m in messages)
    one_by_one = [wire[i : i + 1] for i in range(len(wire))]
    assert decode_all(codec.feed, one_by_one) == messages
    codec.close()


@FAST
@given(
    st.sampled_from(DELIMITERS),
    messages_from_small_alphabet,
    st.lists(st.integers(min_value=0), max_size=20),
)
def test_line_random_chunkings_yield_same_lines(
    delimiter: bytes, messages: list[bytes], cuts: list[int]
) -> None:
    codec = LineCodec(delimiter)
    messages = encodable_lines(codec, messages)
    wire = b"".join(codec.encode(m) for m in messages)
    assert decode_all(codec.feed, chunked(wire, cuts)) == messages
    assert codec.buffered == 0
    codec.close()


@FAST
@given(st.sampled_from(DELIMITERS), messages_from_small_alphabet)
def test_line_decoder_agrees_with_splitting_on_the_delimiter(
    delimiter: bytes, messages: list[bytes]
) -> None:
    # An independent oracle: for a stream ending in a delimiter, the lines are
    # exactly bytes.split(delimiter) without the empty piece after the end.
    wire = b"".join(messages) + delimiter
    expected = wire.split(delimiter)[:-1]
    codec = LineCodec(delimiter, max_line=10_000)
    one_by_one = [wire[i : i + 1] for i in range(len(wire))]
    assert decode_all(codec.feed, one_by_one) == expected


def test_empty_lines_are_delivered() -> None:
    assert LineCodec().feed(b"\n\na\n\n") == [b"", b"", b"a", b""]


def test_multibyte_delimiter_split_across_chunks_is_found() -> None:
    codec = LineCodec(b"\r\n")
    assert codec.feed(b"HELO\r") == []
    assert codec.buffered == 5
    assert codec.feed(b"\nQUIT\r") == [b"HELO"]
    assert codec.feed(b"\n") == [b"QUIT"]


def test_delimiter_prefix_followed_by_other_bytes_stays_in_the_line() -> None:
    codec = LineCodec(b"\r\n")
    assert codec.feed(b"a\r") == []
    assert codec.feed(b"b\r") == []
    assert codec.feed(b"\r\n") == [b"a\rb\r"]


def test_long_delimiter_arriving_one_byte_at_a_time_is_found() -> None:
    codec = LineCodec(b"\r\n\r\n")
    out = decode_all(codec.feed, [bytes([b]) for b in b"head\r\n\r\nbody\r\n\r\n"])
    assert out == [b"head", b"body"]


def test_line_keeps_trailing_partial_line() -> None:
    codec = LineCodec()
    assert codec.feed(b"one\ntwo\nthr") == [b"one", b"two"]
    assert codec.buffered == 3
    assert codec.feed(b"ee\n") == [b"three"]


def test_line_feed_accepts_bytearray_and_memoryview() -> None:
    codec = LineCodec(bytearray(b"\r\n"))
    assert codec.feed(bytearray(b"a\r")) == []
    assert codec.feed(memoryview(b"\nb\r\n")) == [b"a", b"b"]


def test_line_of_exactly_max_line_passes() -> None:
    codec = LineCodec(max_line=5)
    assert codec.feed(codec.encode(b"12345")) == [b"12345"]


# --- LineCodec: end of stream ------------------------------------------------


def test_unterminated_line_makes_close_raise() -> None:
    codec = LineCodec()
    codec.feed(b"complete\nhalf")
    with pytest.raises(FramingError, match=r"middle of a line: 4 bytes without the delimiter"):
        codec.close()


def test_half_a_delimiter_makes_close_raise() -> None:
    codec = LineCodec(b"\r\n")
    codec.feed(b"line\r")
    with pytest.raises(FramingError, match="middle of a line"):
        codec.close()


def test_line_close_on_a_line_boundary_is_silent_and_idempotent() -> None:
    codec = LineCodec()
    codec.feed(b"done\n")
    codec.close()
    codec.close()
    with pytest.raises(ClosedError):
        codec.feed(b"more\n")


# --- LineCodec: refusals -----------------------------------------------------


def test_overlong_line_is_refused_on_the_first_byte_past_max_line() -> None:
    codec = LineCodec(max_line=8)
    for byte in b"12345678":
        assert codec.feed(bytes([byte])) == []
    with pytest.raises(FramingError, match=r"more than max_line=8 bytes arrived without"):
        codec.feed(b"9")
    assert codec.buffered == 0


def test_overlong_line_waits_only_for_a_partial_delimiter_at_the_limit() -> None:
    # b"hello\r" may still become b"hello" + b"\r\n"; b"hellox" never can.
    codec = LineCodec(b"\r\n", max_line=5)
    assert codec.feed(b"hello\r") == []
    assert codec.feed(b"\n") == [b"hello"]
    with pytest.raises(FramingError, match="max_line=5"):
        codec.feed(b"hellox")


def test_overlong_line_is_refused_even_when_its_delimiter_is_in_the_same_chunk() -> None:
    codec = LineCodec(max_line=4)
    with pytest.raises(FramingError, match=r"a line of 6 bytes arrived, more than max_line=4"):
        codec.feed(b"ok\n123456\n")


def test_flood_without_delimiter_never_buffers_beyond_max_line() -> None:
    codec = LineCodec(b"\r\n", max_line=1000)
    chunk = b"x" * 97
    with pytest.raises(FramingError):  # noqa: PT012 - the loop is the point
        for _ in range(100):
            codec.feed(chunk)
            assert codec.buffered <= 1000 + 1
    assert codec.buffered == 0


def test_line_after_framing_error_every_feed_says_stream_is_broken() -> None:
    codec = LineCodec(max_line=3)
    with pytest.raises(FramingError):
        codec.feed(b"abcdef")
    for _ in range(2):
        with pytest.raises(FramingError, match="the stream is broken"):
            codec.feed(b"ok\n")
    with pytest.raises(FramingError, match="the stream is broken"):
        codec.close()


@pytest.mark.parametrize("message", [b"two\nlines", b"\n", b"end\n"])
def test_line_encode_refuses_message_containing_the_delimiter(message: bytes) -> None:
    with pytest.raises(FramingError, match="contains the delimiter"):
        LineCodec().encode(message)


def test_line_encode_refuses_tail_that_merges_with_overlapping_delimiter() -> None:
    # b"xa" + b"aa" would read back as b"x" followed by a stray b"a".
    with pytest.raises(FramingError, match="delimiter"):
        LineCodec(b"aa").encode(b"xa")


def test_line_encode_refuses_message_longer_than_max_line() -> None:
    with pytest.raises(FramingError, match=r"6 bytes: more than max_line=5"):
        LineCodec(max_line=5).encode(b"123456")


@pytest.mark.parametrize("method", ["feed", "encode"])
def test_line_refuses_str_and_suggests_encode(method: str) -> None:
    with pytest.raises(PayloadTypeError, match=r"not str.*\.encode\(\)"):
        getattr(LineCodec(), method)("hello\n")


def test_line_refuses_str_delimiter() -> None:
    with pytest.raises(PayloadTypeError, match=r"\.encode\(\)"):
        LineCodec("\n")  # type: ignore[arg-type]


def test_line_refuses_empty_delimiter() -> None:
    with pytest.raises(UsageError, match="must not be empty"):
        LineCodec(b"")


@pytest.mark.parametrize(("max_line", "error"), [(0, UsageError), (True, PayloadTypeError)])
def test_line_refuses_impossible_max_line(max_line: object, error: type) -> None:
    with pytest.raises(error, match="max_line"):
        LineCodec(max_line=max_line)  # type: ignore[arg-type]
