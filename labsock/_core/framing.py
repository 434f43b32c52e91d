"""Framing codecs: how to find message boundaries in a TCP byte stream.

TCP delivers a stream of bytes, not messages: one ``send(b"hello")`` may
arrive as ``b"he"`` and ``b"llo"``, and two sends may arrive glued together
in one ``recv()``. A *framing* rule puts the boundaries back. This module
offers the two classic rules:

* :class:`LengthPrefixCodec`: a 4-byte big-endian length, then the payload.
* :class:`LineCodec`: each message ends with a delimiter, ``b"\\n"`` by default.

The codecs are *sans-IO* ("bring your own I/O", like h11): they never touch a
socket, a thread or a clock. You give :meth:`feed` whatever bytes ``recv()``
returned, in chunks of any size, and get back the complete messages in order;
the codec keeps the unfinished tail for next time. When ``recv()`` returns
``b""`` (the peer closed), call :meth:`close`, which complains if the stream
stopped in the middle of a message. The same codec therefore works with
blocking sockets, ``selectors``, ``asyncio`` or a list of bytes in a test.

A codec that met a :class:`~labsock._core.errors.FramingError` stays broken: after
a bad frame nobody can tell where the next one starts, so the only sound
recovery is to drop the connection and start again with a new codec.
"""

from __future__ import annotations

from typing import TypeAlias

from labsock._core.errors import ClosedError, FramingError, PayloadTypeError, UsageError
from labsock._core.i18n import gettext as _

__all__ = ["LengthPrefixCodec", "LineCodec"]

BytesLike: TypeAlias = bytes | bytearray | memoryview

_HEADER_SIZE = 4
# The header is an unsigned 32-bit number, so no frame can announce more.
_MAX_HEADER_VALUE = 2**32 - 1


def _require_bytes(value: object, where: str) -> None:
    """Refuse ``str`` (and anything else that is not bytes-like) with a hint."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return
    if isinstance(value, str):
        raise PayloadTypeError(
            _(
                "{where} needs bytes, not str: a socket carries bytes. "
                "Encode the text first, e.g. {text!r}.encode() (UTF-8)."
            ).format(where=where, text=value[:20])
        )
    raise PayloadTypeError(
        _("{where} needs bytes, bytearray or memoryview, not {type}.").format(
            where=where, type=type(value).__name__
        )
    )


def _require_limit(value: object, name: str, upper: int | None = None) -> int:
    # bool is an int subclass, but max_size=True is surely a mistake.
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadTypeError(
            _("{name} must be an int, not {type}.").format(name=name, type=type(value).__name__)
        )
    if value < 1:
        raise UsageError(
            _("{name} must be at least 1, got {value}.").format(name=name, value=value)
        )
    if upper is not None and value > upper:
        raise UsageError(
            _(
                "{name} must be at most {upper:,}: a 4-byte length header cannot "
                "announce more. Got {value:,}."
            ).format(name=name, upper=upper, value=value)
        )
    return value


def _looks_like_text(header: bytes) -> bool:
    return all(32 <= b < 127 or b in b"\t\r\n" for b in header)


class _StreamState:
    """What both codecs share: the buffer, and the open/closed/broken state."""

    def __init__(self) -> None:
        # One growing bytearray plus a read offset: consumed bytes are dropped
        # once per feed() instead of slicing a new bytes object per message,
        # which would make a long stream cost O(n²).
        self._buf = bytearray()
        self._closed = False
        self._broken: str | None = None

    @property
    def buffered(self) -> int:
        """How many received bytes are held, waiting for the rest of a message."""
        return len(self._buf)

    def _check_can_feed(self, data: object, where: str) -> None:
        # The broken check comes first: it explains more than "closed" does.
        if self._broken is not None:
            raise FramingError(
                _(
                    "the stream is broken ({reason}); no message boundary can "
                    "be trusted after that. Close the connection and use a new codec."
                ).format(reason=self._broken)
            )
        if self._closed:
            raise ClosedError(
                _("{where} called after close(): the stream has already ended.").format(where=where)
            )
        _require_bytes(data, where)

    def _break(self, reason: str) -> FramingError:
        """Enter the error state and return the error for the caller to raise."""
        self._broken = reason
        # The data is useless now; do not keep up to max_size bytes alive.
        self._buf = bytearray()
        return FramingError(reason)

    def _drop_consumed(self, consumed: int) -> None:
        # Whatever is left after the last complete message arrived in this very
        # chunk, so moving it costs at most len(chunk): O(total bytes) overall.
        if consumed:
            del self._buf[:consumed]

    def _close_stream(self, unfinished: str | None) -> None:
        """Shared ``close()``: ``unfinished`` describes a partial message, if any."""
        if self._broken is not None:
            raise FramingError(_("the stream is broken ({reason}).").format(reason=self._broken))
        if self._closed:
            return
        self._closed = True
        if unfinished is not None:
            raise self._break(unfinished)


class LengthPrefixCodec(_StreamState):
    """4-byte big-endian unsigned length, then that many payload bytes.

    The length says up front how much to wait for, so any bytes, including
    newlines and zero bytes, can be sent. ``max_size`` bounds what a peer can
    make us buffer: a header announcing more is refused at once, before any
    of that payload is stored.

    >>> codec = LengthPrefixCodec()
    >>> wire = codec.encode(b"hello") + codec.encode(b"")
    >>> wire
    b'\\x00\\x00\\x00\\x05hello\\x00\\x00\\x00\\x00'
    >>> codec.feed(wire[:7])        # the header and two payload bytes
    []
    >>> codec.feed(wire[7:])
    [b'hello', b'']
    >>> codec.close()               # nothing left over: a clean end
    """

    def __init__(self, max_size: int = 16 * 1024 * 1024) -> None:
        super().__init__()
        self.max_size = _require_limit(max_size, "max_size", _MAX_HEADER_VALUE)

    def encode(self, message: BytesLike) -> bytes:
        """Return ``message`` framed for the wire: length header + payload."""
        _require_bytes(message, "LengthPrefixCodec.encode()")
        payload = bytes(message)
        if len(payload) > self.max_size:
            raise FramingError(
                _(
                    "cannot send a message of {size:,} bytes: more than "
                    "max_size={max_size:,}. Split it, or raise max_size on both sides."
                ).format(size=len(payload), max_size=self.max_size)
            )
        return len(payload).to_bytes(_HEADER_SIZE, "big") + payload

    def feed(self, data: BytesLike) -> list[bytes]:
        """Add received bytes; return every message completed by them, in order.

        ``data`` may be any piece of the stream, from one byte to many frames.
        If the stream breaks the framing, :class:`FramingError` is raised
        straight away, and messages completed earlier in the same ``data`` are
        not returned: the connection has to be dropped anyway.
        """
        self._check_can_feed(data, "LengthPrefixCodec.feed()")
        buf = self._buf
        buf += data
        end = len(buf)
        messages: list[bytes] = []
        pos = 0
        # A memoryview copies each payload once; slicing the bytearray would
        # copy it into a bytearray first. The with-block releases the view,
        # so the buffer may be resized again below.
        with memoryview(buf) as view:
            while end - pos >= _HEADER_SIZE:
                header = bytes(view[pos : pos + _HEADER_SIZE])
                size = int.from_bytes(header, "big")
                if size > self.max_size:
                    raise self._break(self._oversize_reason(header, size))
                if end - pos - _HEADER_SIZE < size:
                    break  # the payload is still on its way
                start = pos + _HEADER_SIZE
                messages.append(bytes(view[start : start + size]))
                pos = start + size
        self._drop_consumed(pos)
        return messages

    def close(self) -> None:
        """Declare the end of the stream (``recv()`` returned ``b""``).

        Raises :class:`FramingError` if a frame was only partly received.
        """
        self._close_stream(self._unfinished())

    def _unfinished(self) -> str | None:
        have = len(self._buf)
        if have == 0:
            return None
        if have < _HEADER_SIZE:
            return _(
                "stream ended in the middle of a frame: {have} of {header} "
                "header bytes. The sender closed before finishing the length header."
            ).format(have=have, header=_HEADER_SIZE)
        size = int.from_bytes(self._buf[:_HEADER_SIZE], "big")
        return _(
            "stream ended in the middle of a frame: {have:,} of "
            "{size:,} bytes. The sender closed the connection before sending the "
            "whole message."
        ).format(have=have - _HEADER_SIZE, size=size)

    def _oversize_reason(self, header: bytes, size: int) -> str:
        # The classic cause is a peer that sends text, not length-prefixed
        # frames: b"GET " or b"hell" read as a length is a huge number.
        if _looks_like_text(header):
            return _(
                "a frame header announces {size:,} bytes, more than max_size={max_size:,}. "
                "The header bytes {header!r} look like text: is the "
                "peer sending lines instead of length-prefixed frames?"
            ).format(size=size, max_size=self.max_size, header=header)
        return _(
            "a frame header announces {size:,} bytes, more than max_size={max_size:,}. "
            "Raise max_size if such large messages are expected."
        ).format(size=size, max_size=self.max_size)


class LineCodec(_StreamState):
    """Messages end with a delimiter (default ``b"\\n"``); it is stripped on decode.

    Easy to read and to type by hand (``nc``, ``telnet``), but a message
    cannot contain the delimiter. ``max_line`` bounds a line's length
    (without the delimiter), so a peer that never sends one cannot make us
    buffer without end.

    >>> codec = LineCodec(b"\\r\\n")
    >>> codec.encode(b"HELO")
    b'HELO\\r\\n'
    >>> codec.feed(b"HELO\\r")        # the delimiter is split across chunks
    []
    >>> codec.feed(b"\\nQUIT\\r\\nPART")
    [b'HELO', b'QUIT']
    >>> codec.buffered                # b"PART" waits for its delimiter
    4
    """

    def __init__(self, delimiter: BytesLike = b"\n", max_line: int = 64 * 1024) -> None:
        super().__init__()
        _require_bytes(delimiter, "LineCodec(delimiter=...)")
        self.delimiter = bytes(delimiter)
        if not self.delimiter:
            raise UsageError(_("the delimiter must not be empty; the usual one is b'\\n'."))
        self.max_line = _require_limit(max_line, "max_line")
        # Where the next delimiter search starts, so that bytes already known
        # to hold no delimiter are never scanned twice.
        self._scan = 0

    def encode(self, message: BytesLike) -> bytes:
        """Return ``message`` followed by the delimiter."""
        _require_bytes(message, "LineCodec.encode()")
        payload = bytes(message)
        if len(payload) > self.max_line:
            raise FramingError(
                _(
                    "cannot send a line of {size:,} bytes: more than "
                    "max_line={max_line:,}. Split it, or raise max_line on both sides."
                ).format(size=len(payload), max_line=self.max_line)
            )
        wire = payload + self.delimiter
        # The receiver cuts at the *first* delimiter, so it must be the one we
        # append. This also catches a message whose tail runs into a
        # self-overlapping delimiter (b"xa" + b"aa" reads back as b"x").
        if wire.find(self.delimiter) != len(payload):
            raise FramingError(
                _(
                    "cannot send {message}: it "
                    "contains the delimiter {delimiter!r}, which would split it in "
                    "two. Use a LengthPrefixCodec for arbitrary bytes."
                ).format(
                    message=repr(payload[:40]) + ("..." if len(payload) > 40 else ""),
                    delimiter=self.delimiter,
                )
            )
        return wire

    def feed(self, data: BytesLike) -> list[bytes]:
        """Add received bytes; return every line completed by them, in order.

        ``data`` may be any piece of the stream. A line longer than
        ``max_line`` raises :class:`FramingError` as soon as that is certain,
        and messages completed earlier in the same ``data`` are not returned:
        the connection has to be dropped anyway.
        """
        self._check_can_feed(data, "LineCodec.feed()")
        buf = self._buf
        buf += data
        delim = self.delimiter
        messages: list[bytes] = []
        start = 0
        scan = self._scan
        with memoryview(buf) as view:
            while (found := buf.find(delim, scan)) >= 0:
                if found - start > self.max_line:
                    raise self._break(self._overlong_reason(found - start, terminated=True))
                messages.append(bytes(view[start:found]))
                start = scan = found + len(delim)
        end = len(buf)
        # The last len(delim) - 1 bytes may be the start of a delimiter whose
        # rest is still in flight: search them again next time, nothing more.
        scan = max(start, end - len(delim) + 1)
        if self._cannot_fit(start, end):
            raise self._break(self._overlong_reason(end - start, terminated=False))
        self._drop_consumed(start)
        self._scan = scan - start
        return messages

    def close(self) -> None:
        """Declare the end of the stream (``recv()`` returned ``b""``).

        Raises :class:`FramingError` if an unterminated line is buffered.
        """
        have = len(self._buf)
        unfinished = None
        if have:
            unfinished = _(
                "stream ended in the middle of a line: {have:,} bytes without the "
                "delimiter {delimiter!r}. Did the sender forget to end its "
                "last line?"
            ).format(have=have, delimiter=self.delimiter)
        self._close_stream(unfinished)

    def _cannot_fit(self, start: int, end: int) -> bool:
        """True if the unterminated line ``buf[start:end]`` must exceed ``max_line``."""
        if end - start <= self.max_line:
            return False
        # The line still fits only if a delimiter begins at or before
        # start + max_line. No whole delimiter is in the buffer, so such a
        # delimiter must be cut off by the end of the buffer: its first bytes
        # are the buffer's last bytes. At most len(delim) - 1 places to check.
        latest = start + self.max_line
        earliest = max(start, end - len(self.delimiter) + 1)
        return not any(
            self.delimiter.startswith(self._buf[p:end]) for p in range(earliest, latest + 1)
        )

    def _overlong_reason(self, length: int, *, terminated: bool) -> str:
        if terminated:
            return _(
                "a line of {length:,} bytes arrived, more than max_line={max_line:,}. "
                "Raise max_line if such long lines are expected."
            ).format(length=length, max_line=self.max_line)
        return _(
            "more than max_line={max_line:,} bytes arrived without the delimiter "
            "{delimiter!r}. Is the peer sending lines at all (or length-prefixed "
            "frames)? Raise max_line if such long lines are expected."
        ).format(max_line=self.max_line, delimiter=self.delimiter)
