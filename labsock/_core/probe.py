"""The probe wire format: what ``ping`` puts in each datagram or TCP message.

A probe is a 16-byte header, then zero padding up to the requested size::

    offset  size  field
    0       4     magic  b"LSP1"
    4       4     seq    sequence number, unsigned, big-endian
    8       8     sent   send time in nanoseconds (sender's perf_counter clock)
    16      8     tag    (tagged probes only: multicast) the sending session's tag

This module is the one place that knows the layout: ``ping`` writes the
sequence number and send time in place (:data:`SEQ_SENT` at
:data:`SEQ_OFFSET`), the link peeks at the sequence number
(:func:`probe_seq` over the first :data:`PEEK_SIZE` bytes), and multicast
receivers read tagged probes (:data:`TAGGED_HEAD`, :func:`read_probe`).

Pure functions only: no sockets, no clocks of its own.
"""

from __future__ import annotations

import struct

from labsock._core.errors import FramingError, UsageError
from labsock._core.i18n import gettext as _

__all__ = [
    "HEADER_SIZE",
    "MAGIC",
    "PEEK_SIZE",
    "SEQ_OFFSET",
    "SEQ_SENT",
    "TAGGED_HEAD",
    "TAG_SIZE",
    "ProbeStream",
    "decode_probe",
    "encode_probe",
    "encode_tagged_probe",
    "probe_seq",
    "read_probe",
]

MAGIC = b"LSP1"
_HEADER = struct.Struct("!4sIQ")
HEADER_SIZE = _HEADER.size  # 16
#: The fields after the magic, written in place into a reused probe buffer.
SEQ_SENT = struct.Struct("!IQ")
SEQ_OFFSET = len(MAGIC)
#: Bytes a relay needs to see to know a probe's sequence number: magic + seq.
PEEK_SIZE = len(MAGIC) + 4
#: Bytes of session tag after the 16-byte probe header (tagged probes).
TAG_SIZE = 8
# A tagged probe's first bytes in one unpack: magic, seq, send time, then the
# tag. Multicast receivers read every datagram with it: half the cost of
# decode_probe plus a slice.
TAGGED_HEAD = struct.Struct(f"!{len(MAGIC)}sIQ{TAG_SIZE}s")


def _too_small(size: int) -> str:
    return _("a probe needs at least {header} bytes, not size={size}").format(
        header=HEADER_SIZE, size=size
    )


def encode_probe(seq: int, sent_ns: int, size: int = HEADER_SIZE) -> bytes:
    """Build one probe of exactly ``size`` bytes.

    >>> p = encode_probe(7, 123, size=20)
    >>> len(p), decode_probe(p)
    (20, (7, 123))
    """
    if size < HEADER_SIZE:
        raise UsageError(_too_small(size))
    if not 0 <= seq < 1 << 32:
        raise UsageError(_("sequence number {seq} does not fit in 32 bits").format(seq=seq))
    header = _HEADER.pack(MAGIC, seq, sent_ns & 0xFFFF_FFFF_FFFF_FFFF)
    return header + bytes(size - HEADER_SIZE)


def decode_probe(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """Return ``(seq, sent_ns)`` of a probe; ``FramingError`` if it is not one."""
    if len(data) < HEADER_SIZE:
        raise FramingError(
            _("not a probe: {size} bytes, a probe has at least {header}").format(
                size=len(data), header=HEADER_SIZE
            )
        )
    magic, seq, sent_ns = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FramingError(
            _("not a probe: starts with {start!r}, not {magic!r}").format(
                start=bytes(magic), magic=MAGIC
            )
        )
    return seq, sent_ns


def probe_seq(peek: bytes | bytearray | memoryview) -> int | None:
    """The sequence number of a probe from its first :data:`PEEK_SIZE` bytes, else None.

    >>> probe_seq(encode_probe(9, 0)[:PEEK_SIZE]), probe_seq(b"hello, world")
    (9, None)
    """
    if len(peek) == PEEK_SIZE and bytes(peek[: len(MAGIC)]) == MAGIC:
        return int.from_bytes(peek[len(MAGIC) :], "big")
    return None


def encode_tagged_probe(seq: int, sent_ns: int, tag: bytes, size: int) -> bytes:
    """A probe with a session ``tag`` right after its header.

    >>> p = encode_tagged_probe(3, 0, b"12345678", 32)
    >>> len(p), p[16:24]
    (32, b'12345678')
    """
    if len(tag) != TAG_SIZE:
        raise UsageError(
            _("a session tag has {expected} bytes, not {size}").format(
                expected=TAG_SIZE, size=len(tag)
            )
        )
    if size < HEADER_SIZE + TAG_SIZE:
        raise UsageError(
            _("a tagged probe needs at least {minimum} bytes").format(
                minimum=HEADER_SIZE + TAG_SIZE
            )
        )
    probe = encode_probe(seq, sent_ns, size)
    return probe[:HEADER_SIZE] + tag + probe[HEADER_SIZE + TAG_SIZE :]


def read_probe(data: bytes) -> tuple[int | None, bytes | None]:
    """``(seq, tag)`` of a (tagged) probe; ``(seq, None)`` untagged; ``(None, None)`` else."""
    if len(data) >= TAGGED_HEAD.size:
        magic, seq, _sent, tag = TAGGED_HEAD.unpack_from(data)
        return (seq, tag) if magic == MAGIC else (None, None)
    try:
        seq, _sent = decode_probe(data)
    except FramingError:
        return None, None
    tag = data[HEADER_SIZE : HEADER_SIZE + TAG_SIZE]
    return seq, (tag if len(tag) == TAG_SIZE else None)


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
            raise UsageError(_too_small(size))
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
