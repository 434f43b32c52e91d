"""Check of exercise 3: length-prefixed messages over TCP, whatever pieces recv() returns.

The student writes ``send_message(sock, payload)`` and
``recv_message(sock) -> bytes | None`` for the framing every length-prefixed
protocol uses: a 4-byte big-endian length, then the payload. The check runs
them on both ends of real TCP connections on loopback, against its own
writer and reader (:class:`~labsock.LengthPrefixCodec`): a message that
arrives one byte at a time, messages glued together, an empty one, a
megabyte, and a peer that hangs up in the middle of a message.
"""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Callable

from labsock._core.framing import LengthPrefixCodec
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.validate import check_seconds
from labsock.exercises._clients import send_bytewise, tcp_pair
from labsock.exercises._harness import CheckRun, StudentCall, describe, hang_up
from labsock.exercises._report import Report

__all__ = ["check_framing"]

SendMessage = Callable[[socket.socket, bytes], object]
RecvMessage = Callable[[socket.socket], "bytes | None"]

_LARGE = 1 << 20


def _over_read() -> str:
    return _(
        "you read past the end of a message and lost the start of the next one: ask recv() "
        "for exactly the bytes still missing, recv(n - len(buf)), never more"
    )


def _waited_for_more() -> str:
    """Waiting for bytes that were never sent: two mistakes look the same from outside."""
    return _(
        "it waited for more bytes than the message has. Two causes fit: the length unpacked in "
        "your machine's byte order ('I' or '<I': a length of 5 reads as 83,886,080) instead of "
        "struct.unpack('!I', header); or a loop that keeps calling recv() once the message is "
        "complete (read exactly 4 bytes, then exactly length bytes)"
    )


def _frame(payload: bytes) -> bytes:
    return struct.pack("!I", len(payload)) + payload


class _Framing:
    def __init__(self, run: CheckRun, send: SendMessage, recv: RecvMessage, timeout: float) -> None:
        self.run, self.send, self.recv, self.timeout = run, send, recv, timeout
        # None: not called yet; True: ran (returned or raised something else).
        self.implemented: dict[str, bool | None] = {"send_message": None, "recv_message": None}
        # Calls the check had to end by closing their socket.
        self.forced: set[int] = set()
        # The calls whose failure() hint says they raised (not a language-bound text test).
        self.raised: set[int] = set()
        self.header_ok = False

    # -- plumbing ------------------------------------------------------------
    def pair(self, sndbuf: int | None = None) -> tuple[socket.socket, socket.socket]:
        a, b = tcp_pair(self.timeout)
        self.run.own(a)
        self.run.own(b)
        if sndbuf is not None:
            a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        return a, b

    def call(self, which: str, *args: object, extra: float = 0.0) -> StudentCall[object]:
        func = self.send if which == "send_message" else self.recv
        call: StudentCall[object] = self.run.call(func, *args, name=which)
        # A little longer than the socket's own timeout, so that a recv() that
        # waits for bytes that never come ends with the student's TimeoutError.
        if not call.wait(self.timeout + 0.5 + extra):
            # Closing the socket ends a recv() loop that spins on b"".
            self.forced.add(id(call))
            for arg in args:
                if isinstance(arg, socket.socket):
                    hang_up(arg)
            call.wait(1.0)
        if not call.not_implemented:
            self.implemented[which] = True
        elif self.implemented[which] is None:
            self.implemented[which] = False
        return call

    def failure(self, which: str, call: StudentCall[object]) -> str | None:
        """A hint when the call did not return normally, else None."""
        if call.not_implemented:
            return _("{function}() still raises NotImplementedError: write it first").format(
                function=which
            )
        if not call.finished or id(call) in self.forced:
            if which == "recv_message":
                return _(
                    "{function}() did not return within {seconds:g} s (the check closed "
                    "the socket to stop it). {why}"
                ).format(function=which, seconds=self.timeout + 0.5, why=_waited_for_more())
            return _(
                "{function}() did not return within {seconds:g} s (the check closed "
                "the socket to stop it)"
            ).format(function=which, seconds=self.timeout + 0.5)
        if call.error is not None:
            self.raised.add(id(call))
            return _("{function}() raised {error}").format(
                function=which, error=describe(call.error)
            )
        return None

    def read_frames(self, sock: socket.socket, count: int) -> tuple[list[bytes], bytes]:
        """Read with the reference codec until ``count`` messages; also return the raw bytes."""
        codec = LengthPrefixCodec(max_size=64 << 20)
        messages: list[bytes] = []
        raw = bytearray()
        sock.settimeout(0.2)
        deadline = time.monotonic() + self.timeout
        while len(messages) < count and time.monotonic() < deadline:
            try:
                chunk = sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            raw += chunk
            try:
                messages += codec.feed(chunk)
            except Exception:
                break
        return messages, bytes(raw)

    def writer(self, sock: socket.socket, data: bytes, *, bytewise: bool = False) -> None:
        def write() -> None:
            try:
                if bytewise:
                    send_bytewise(sock, data, pause=0.001)
                else:
                    sock.sendall(data)
            except OSError:
                pass  # the student's side closed: the criterion says what it saw

        self.run.worker(write, "framing-writer")

    # -- send_message --------------------------------------------------------------
    def header(self) -> None:
        name = N_("send_message puts a 4-byte big-endian length before the payload")
        a, b = self.pair()
        call = self.call("send_message", a, b"hello")
        hint = self.failure("send_message", call)
        if hint is not None:
            self.run.check(name, False, hint)
            return
        a.close()
        _frames, raw = self.read_frames(b, 1)
        expected = _frame(b"hello")
        if raw == expected:
            self.header_ok = self.run.check(name, True)
            return
        if raw == b"hello":
            hint = _("only the payload arrived: send its length first, struct.pack('!I', n)")
        elif raw == struct.pack("<I", 5) + b"hello":
            hint = _("the length is little-endian: use network byte order, struct.pack('!I', n)")
        elif raw.endswith(b"hello") and len(raw) != 9:
            hint = _("the header has {n} bytes: it must be exactly 4 (struct '!I')").format(
                n=len(raw) - 5
            )
        else:
            hint = _("the wire must carry a 4-byte big-endian length, then the payload")
        self.run.check(
            name,
            False,
            hint,
            _("sent b'hello', the wire carried {wire}").format(wire=repr(raw[:24])),
        )

    def large_send(self) -> None:
        name = N_("send_message sends all of a 1 MiB message (send() takes only part)")
        if not self.header_ok:
            self.run.skip(name, _("not checked: the header must be right first"))
            return
        payload = random.Random(3).randbytes(_LARGE)
        a, b = self.pair(sndbuf=16_384)
        # With a timeout the socket is non-blocking underneath, so send()
        # returns as soon as the small buffer is full: a partial send.
        a.settimeout(self.timeout)
        got: list[list[bytes]] = []
        reader = self.run.worker(lambda: got.append(self.read_frames(b, 1)[0]), "framing-reader")
        call = self.call("send_message", a, payload)
        hint = self.failure("send_message", call)
        a.close()
        reader.join(self.timeout + 1)
        if hint is not None:
            self.run.check(name, False, hint)
            return
        messages = got[0] if got else []
        ok = messages == [payload]
        self.run.check(
            name,
            ok,
            _(
                "send() may send only part of the data (it returns how many bytes it took): use "
                "sendall(), which loops until everything is sent"
            ),
            _("the reader got {n} complete message(s)").format(n=len(messages)) if not ok else "",
        )

    # -- recv_message --------------------------------------------------------------
    def receive(self, b: socket.socket, extra: float = 0.0) -> tuple[object, str | None]:
        call = self.call("recv_message", b, extra=extra)
        return call.result, self.failure("recv_message", call)

    def receive_all(
        self, b: socket.socket, expected: list[bytes]
    ) -> tuple[list[object], str | None]:
        """Call recv_message once per expected message; a hint if one call failed.

        When the first messages came back right and a later call then waited
        in vain, the bytes it waited for had been read (and dropped) before.
        """
        got: list[object] = []
        for _message in expected:
            result, hint = self.receive(b)
            if hint is not None:
                if got and got == expected[: len(got)]:
                    hint = _over_read()
                return got, hint
            got.append(result)
        return got, None if got == expected else _over_read()

    def bytewise(self) -> None:
        name = N_("recv_message reads a message that arrives one byte at a time")
        message = b"TCP may hand recv() a single byte"
        a, b = self.pair()
        self.writer(a, _frame(message), bytewise=True)
        call = self.call("recv_message", b, extra=len(message) * 0.005)
        hint = self.failure("recv_message", call)
        seen = _("expected {expected}, got {got}").format(
            expected=repr(message), got=repr(call.result)
        )
        if call.error is not None and not call.not_implemented and id(call) not in self.forced:
            seen = _("it raised {error}").format(error=describe(call.error))
            hint = None  # a crash on a short read: the same mistake as a short result
        if hint is None and isinstance(call.error, TimeoutError):
            hint = _("recv_message timed out: {why}").format(why=_waited_for_more())
        elif hint is None and call.result != message:
            hint = _(
                "recv(n) returns at most n bytes, and often fewer: call it in a loop until you "
                "have all 4 header bytes, then again until you have the whole payload"
            )
        self.run.check(name, hint is None, hint or "", seen)

    def glued(self) -> None:
        name = N_("recv_message leaves the next message alone (two messages in one segment)")
        messages = [b"first", b"second message", b"third"]
        a, b = self.pair()
        a.sendall(b"".join(_frame(m) for m in messages))
        got, hint = self.receive_all(b, messages)
        self.run.check(
            name,
            hint is None,
            hint or "",
            _("expected {expected}, got {got}").format(expected=repr(messages), got=repr(got)),
        )

    def empty(self) -> None:
        name = N_("recv_message returns b'' for an empty message")
        a, b = self.pair()
        a.sendall(_frame(b"") + _frame(b"after"))
        raised_before = len(self.raised)
        got, hint = self.receive_all(b, [b"", b"after"])
        if not got and hint is not None and len(self.raised) > raised_before:
            hint = _(
                "a length of 0 is a message with no bytes: return b'' (the peer has not "
                "closed, there is nothing to read). Instead, {hint}"
            ).format(hint=hint)
        elif got[:1] not in ([], [b""]):
            hint = _(
                "a length of 0 is a message with no bytes: return b''. None means the "
                "stream ended, and it has not"
            )
        self.run.check(name, hint is None, hint or "", _("got {got}").format(got=repr(got)))

    def large_receive(self) -> None:
        name = N_("recv_message receives a 1 MiB message whole")
        payload = random.Random(4).randbytes(_LARGE)
        a, b = self.pair()
        self.writer(a, _frame(payload))
        got, hint = self.receive(b)
        if hint is None and got != payload:
            hint = (
                _(
                    "a large message arrives in many pieces: keep calling recv() until you have "
                    "as many bytes as the header announced (you returned {size} bytes)"
                ).format(size=repr(len(got)))
                if isinstance(got, bytes)
                else _("recv_message returned {result} instead of the message").format(
                    result=repr(got)
                )
            )
        self.run.check(name, hint is None, hint or "")

    def clean_end(self) -> None:
        name = N_("recv_message returns None when the peer closes between messages")
        a, b = self.pair()
        a.sendall(_frame(b"last"))
        a.close()
        first, hint = self.receive(b)
        second: object = None
        if hint is None:
            call = self.call("recv_message", b)
            second, hint = call.result, self.failure("recv_message", call)
            if call.error is not None and isinstance(call.error, ConnectionError):
                hint = _(
                    "the peer closed cleanly between two messages, the normal end of a "
                    "conversation: return None. Raise ConnectionError only when it closes in "
                    "the middle of a message. ({hint})"
                ).format(hint=hint)
            if id(call) in self.forced:
                second = _("(no return)")
                hint = _(
                    "recv() returned b'' (the peer closed) and you kept calling it: when recv() "
                    "returns b'' before any byte of a new message, return None"
                )
        if hint is None and (first, second) != (b"last", None):
            hint = _(
                "when recv() returns b'' before any byte of a new message, the peer closed "
                "cleanly: return None"
            )
        self.run.check(
            name,
            hint is None,
            hint or "",
            _("got {first}, then {second}").format(first=repr(first), second=repr(second)),
        )

    def hang_up(self) -> None:
        name = N_("recv_message raises ConnectionError when the peer hangs up mid-message")
        a, b = self.pair()
        a.sendall(struct.pack("!I", 100) + b"only ten b")
        a.close()
        call = self.call("recv_message", b)
        if call.not_implemented:
            self.run.check(name, False, _("recv_message() still raises NotImplementedError"))
        elif id(call) in self.forced:
            self.run.check(
                name,
                False,
                _(
                    "recv() returned b'' (the peer has gone) and you kept calling it: when recv() "
                    "returns b'' in the middle of a message, raise ConnectionError"
                ),
                _("still running after {seconds:g} s").format(seconds=self.timeout),
            )
        elif isinstance(call.error, ConnectionError):
            self.run.check(name, True)
        elif call.error is not None:
            self.run.check(
                name,
                False,
                _("raise ConnectionError (not another exception) when the stream ends mid-message"),
                _("raised {error}").format(error=describe(call.error)),
            )
        else:
            self.run.check(
                name,
                False,
                _(
                    "the peer announced 100 bytes and sent 10 before closing: that message is "
                    "broken. Raise ConnectionError instead of returning something"
                ),
                _("returned {result}").format(result=repr(call.result)),
            )


def check_framing(
    send_message: SendMessage, recv_message: RecvMessage, *, timeout: float = 1.0
) -> Report:
    """Check ``send_message(sock, payload)`` and ``recv_message(sock)`` (length-prefixed).

    The wire format: a 4-byte big-endian unsigned length, then the payload.
    ``recv_message`` returns the payload (``bytes``), ``None`` when the peer
    closed cleanly between two messages, and raises ``ConnectionError`` when
    the peer closed in the middle of one. Each socket the check hands over is
    a real TCP connection on loopback with a ``timeout`` already set.

    Returns:
        A :class:`Report` ("not attempted yet" while both functions still
        raise ``NotImplementedError``).

    Example:
        >>> check_framing(send_message, recv_message).passed  # with your working functions
        True
    """
    timeout = check_seconds(timeout, name="timeout", allow_zero=False, maximum=60)
    with CheckRun("framing", N_("Exercise 3: messages over a TCP stream")) as run:
        f = _Framing(run, send_message, recv_message, timeout)
        for step in (
            f.header,
            f.large_send,
            f.bytewise,
            f.glued,
            f.empty,
            f.large_receive,
            f.clean_end,
            f.hang_up,
        ):
            step()
        if not any(f.implemented.values()):
            run.not_attempted()
    return run.report
