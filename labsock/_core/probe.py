"""The probe wire format: what ``ping`` puts in each datagram or TCP message.

A probe is a 16-byte header, then zero padding up to the requested size::

    offset  size  field
    0       4     magic  b"LSP1"
    4       4     seq    sequence number, unsigned, big-endian
    8       8     sent   send time in nanoseconds (sender's perf_counter clock)

Pure functions only: no sockets, no clocks of its own.
"""

from __future__ import annotations

import struct

from labsock._core.errors import FramingError, UsageError

__all__ = ["HEADER_SIZE", "MAGIC", "ProbeStream", "decode_probe", "encode_probe"]

MAGIC = b"LSP1"
_HEADER = struct.Struct("!4sIQ")
HEADER_SIZE = _HEADER.size  # 16


def encode_probe(seq: int, sent_ns: int, size: int = HEADER_SIZE) -> bytes:
    """Build one probe of exactly ``size`` bytes.

    >>> p = encode_probe(7, 123, size=20)
    >>> len(p), decode_probe(p)
    (20, (7, 123))
    """
    if size < HEADER_SIZE:
        raise UsageError(f"a probe needs at least {HEADER_SIZE} bytes, not size={size}")
    if not 0 <= seq < 1 << 32:
        raise UsageError(f"sequence number {seq} does not fit in 32 bits")
    header = _HEADER.pack(MAGIC, seq, sent_ns & 0xFFFF_FFFF_FFFF_FFFF)
    return header + bytes(size - HEADER_SIZE)


def decode_probe(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """Return ``(seq, sent_ns)`` of a probe; ``FramingError`` if it is not one."""
    if len(data) < HEADER_SIZE:
        raise FramingError(f"not a probe: {len(data)} bytes, a probe has at least {HEADER_SIZE}")
    magic, seq, sent_ns = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FramingError(f"not a probe: starts with {bytes(magic)!r}, not {MAGIC!r}")
    return seq, sent_ns


class ProbeStream:
    """Cut a TCP byte stream back into fixed-size probes, whatever the chunking.

    TCP keeps no message boundaries: one ``recv`` may return half a probe or
    three. Every probe of one ``ping`` has the same size, so the size is the
    framing.

    >>> s = ProbeStream(16)
    >>> data = encode_probe(1, 5) + encode_probe(2, 6)
    >>> s.feed(data[:10]), s.feed(data[10:])
    ([], [(1, 5), (2, 6)])
    """

    def __init__(self, size: int) -> None:
        if size < HEADER_SIZE:
            raise UsageError(f"a probe needs at least {HEADER_SIZE} bytes, not size={size}")
        self._size = size
        self._buffer = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, int]]:
        self._buffer += data
        size = self._size
        whole = len(self._buffer) - len(self._buffer) % size
        probes = [decode_probe(self._buffer[i : i + HEADER_SIZE]) for i in range(0, whole, size)]
        del self._buffer[:whole]
        return probes

    @property
    def buffered(self) -> int:
        return len(self._buffer)
