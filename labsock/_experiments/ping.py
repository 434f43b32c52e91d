"""``ping``: sequence-numbered, timestamped probes to an echo endpoint.

The loop is single-threaded and honest: it records the send time of every
probe and the arrival time of every reply (duplicates included, in the order
they came), and leaves every figure to the pure statistics in ``_stats``.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable
from typing import Literal

from labsock._core.errors import FramingError, UsageError, os_errors
from labsock._core.guard import check_destination, family_of
from labsock._core.i18n import gettext as _
from labsock._core.probe import (
    HEADER_SIZE,
    SEQ_OFFSET,
    SEQ_SENT,
    ProbeStream,
    decode_probe,
    encode_probe,
)
from labsock._core.records import build_records
from labsock._core.validate import check_address, check_count, check_seconds, check_size
from labsock._results.ping import PingResult

__all__ = ["ping"]

Progress = Callable[[int, int], None]

# The probe's sequence number and send time, right after its magic (the
# layout of labsock._core.probe): ping builds one probe with encode_probe, then
# writes only these two fields for each next one, in place.
_U64 = (1 << 64) - 1
# A TCP probe bigger than this is sent while its echo is read. Sent whole
# first, it would deadlock: the echo server stops reading once it cannot send
# back what we do not read, and our sendall then waits for ever. Up to here
# the socket buffers (128 KiB and more each on Linux) hold a whole probe.
_SEND_WHOLE = 65_536
# ping times round trips; it is not a bulk transfer (compare_speed is). A
# probe and its echo are each built in memory, so a limit keeps a typo such as
# size=2**31 from taking gigabytes from a shared machine.
MAX_TCP_SIZE = 64 * 2**20


def ping(
    address: tuple[str, int],
    *,
    protocol: Literal["udp", "tcp"] = "udp",
    count: int = 20,
    interval: float | None = None,
    size: int = 64,
    timeout: float = 1.0,
    progress: Progress | None = None,
) -> PingResult:
    """Send ``count`` probes to an echo endpoint and record every reply.

    Args:
        address: ``(host, port)`` of an echo server (or of an ``ImpairedLink``
            in front of one), e.g. ``server.address``.
        protocol: ``"udp"`` (one datagram per probe) or ``"tcp"`` (one
            connection, probes as fixed-size messages on the stream).
        count: number of probes, 1 to 1,000,000.
        interval: ``None`` (default) for ping-pong: each probe is sent once
            the previous reply came back or timed out. A number of seconds for
            paced sending: one probe every ``interval`` seconds whatever the
            replies do, so a reply may overtake an earlier one.
        size: bytes per probe (at least 16, the probe header; at most 65,507
            over UDP, 64 MiB over TCP). A TCP probe bigger than 64 KiB is
            sent in pieces while its echo is read, as the echo comes back
            before the probe has left (see ``_SEND_WHOLE``).
        timeout: seconds to wait for a reply before calling it lost.
        progress: called as ``progress(sent, count)`` after each send.

    Returns:
        A :class:`PingResult` with one record per probe.

    Raises:
        UsageError, DatagramTooLarge: for arguments that make no sense.
        ConnectionRefused: TCP only, when nothing listens at ``address``.
            (Over UDP nobody refuses: every probe is lost, and the result
            says whether the kernel reported the port unreachable.)
        NetworkTimeout: TCP only, when the connection cannot be made in time.
        NotLoopback: ``address`` is not this machine's loopback (or is a
            multicast group, a broadcast address or 0.0.0.0): refused
            before anything is sent.

    Example:
        >>> from labsock import UDPEchoServer
        >>> with UDPEchoServer() as server:
        ...     result = ping(server.address, count=5)
        >>> result.received
        5
    """
    host, port = check_address(address)
    if protocol not in ("udp", "tcp"):
        raise UsageError(
            _("protocol must be 'udp' or 'tcp', not {protocol!r}").format(protocol=protocol)
        )
    check_count(count, name="count", maximum=1_000_000)
    check_size(size, minimum=HEADER_SIZE, udp=protocol == "udp")
    if protocol == "tcp" and size > MAX_TCP_SIZE:
        raise UsageError(
            _(
                "size={size:,} bytes is too big for one ping probe: at most {most:,} "
                "(64 MiB) over TCP. ping times round trips, and holds each probe and its echo "
                "in memory; to measure bulk transfer use labsock.compare_speed()."
            ).format(size=size, most=MAX_TCP_SIZE)
        )
    timeout = check_seconds(timeout, name="timeout", allow_zero=False, maximum=60)
    if interval is not None:
        interval = check_seconds(interval, name="interval", maximum=60)

    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    # The loopback guard: resolved once, refused before the socket exists.
    sockaddr = check_destination((host, port), what="ping", kind=kind)
    family = family_of(sockaddr)
    run = _Run(count, size, interval, timeout, progress)
    started = time.perf_counter()
    with socket.socket(family, kind) as sock:
        connect_time: float | None = None
        if protocol == "udp":
            # connect() on UDP only fixes the peer: replies from anyone else
            # are filtered out, and the kernel can report "port unreachable".
            with os_errors("connect to", (host, port)):
                sock.connect(sockaddr)
            run.loop(sock, run.recv_udp)
        else:
            sock.settimeout(timeout)
            t0 = time.perf_counter()
            with os_errors("connect to", (host, port)):
                sock.connect(sockaddr)
            connect_time = time.perf_counter() - t0
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            run.stream = ProbeStream(size)
            with os_errors("ping", (host, port)):
                run.loop(sock, run.recv_tcp)
    elapsed = time.perf_counter() - started
    return PingResult(
        protocol=protocol,
        address=(host, port),
        count=count,
        size=size,
        interval=interval,
        timeout=timeout,
        records=build_records(run.sent, run.arrivals),
        arrivals=tuple(seq for seq, _ in run.arrivals),
        connect_time=connect_time,
        unreachable=run.unreachable,
        elapsed=elapsed,
    )


class _Run:
    """The state of one ping; ``loop`` drives it.

    The round trip of a probe is timed from just before its ``send`` to just
    after its reply's ``recv``. Between those two calls the loop does as
    little as it can: in a kernel the echo server is a thread of this
    process, so every bytecode run there delays the server too (a profile
    showed ping's bookkeeping, ``settimeout`` on every wait included, adding
    3-4 µs to a 17 µs loopback round trip).
    """

    def __init__(
        self,
        count: int,
        size: int,
        interval: float | None,
        timeout: float,
        progress: Progress | None,
    ) -> None:
        self.count = count
        self.size = size
        self.interval = interval
        self.timeout = timeout
        self.progress = progress
        self.sent: list[float] = []
        self.arrivals: list[tuple[int, float]] = []
        self.answered: set[int] = set()
        self.unreachable = 0
        self.stream: ProbeStream | None = None
        self.buf = bytearray(max(size, 65_536))
        self.view = memoryview(self.buf)
        self.probe = bytearray(encode_probe(0, 0, size))
        self.peer_closed = False
        self.sock_timeout = -1.0  # what settimeout() last set

    def recv_udp(self, sock: socket.socket) -> None:
        try:
            n = sock.recv_into(self.buf)
        except ConnectionRefusedError:
            # ICMP port unreachable for an earlier probe: nobody listens.
            self.unreachable += 1
            return
        now = time.perf_counter()
        if n < HEADER_SIZE:
            return  # not one of ours (decode_probe reads the first 16 bytes)
        try:
            seq, _ = decode_probe(self.buf)
        except FramingError:
            return  # not one of ours; UDP lets anyone send us anything
        self._arrived(seq, now)

    def recv_tcp(self, sock: socket.socket) -> None:
        n = sock.recv_into(self.buf)
        now = time.perf_counter()
        if n == 0:
            self.peer_closed = True
            return
        stream = self.stream
        assert stream is not None
        if n == self.size and not stream.buffered:
            # The usual case in ping-pong: exactly one whole probe came.
            seq, _ = decode_probe(self.buf)
            self._arrived(seq, now)
            return
        for seq, _ in stream.feed(self.view[:n]):
            self._arrived(seq, now)

    def _arrived(self, seq: int, now: float) -> None:
        if seq < len(self.sent):
            self.arrivals.append((seq, now))
            self.answered.add(seq)

    def _send(self, sock: socket.socket) -> float:
        """Send the next probe; return its send time. The caller reports progress."""
        seq = len(self.sent)  # below 2**32: count is at most 1,000,000
        probe = self.probe
        # Built before the clock starts: the round trip is the network's and
        # the server's, not the time it takes to pack a header.
        SEQ_SENT.pack_into(probe, SEQ_OFFSET, seq, time.perf_counter_ns() & _U64)
        now = time.perf_counter()
        self.sendall(probe)
        self.sent.append(now)
        return now

    def _send_reading(
        self, sock: socket.socket, receive: Callable[[socket.socket], None], data: bytearray
    ) -> None:
        """Send ``data`` on a TCP socket in pieces, reading whatever echo has come meanwhile.

        Raises TimeoutError when neither sending nor reading moves for the timeout.
        """
        view = memoryview(data)
        sent, total = 0, len(view)
        try:
            while sent < total:
                readable, writable = select.select([sock], [sock], [], self.timeout)[:2]
                if not readable and not writable:
                    raise TimeoutError(_("the probe could not be sent: the peer reads nothing"))
                if readable:
                    receive(sock)
                    if self.peer_closed:
                        raise ConnectionResetError(_("the peer closed while the probe was sent"))
                if writable:
                    sent += sock.send(view[sent : sent + _SEND_WHOLE])
        finally:
            view.release()

    def loop(self, sock: socket.socket, receive: Callable[[socket.socket], None]) -> None:
        self.sendall: Callable[[bytearray], None] = sock.sendall
        if self.stream is not None and self.size > _SEND_WHOLE:
            self.sendall = lambda data: self._send_reading(sock, receive, data)
        if self.interval is None:
            self._ping_pong(sock, receive)
        else:
            self._paced(sock, receive, self.interval)
        self._linger(sock, receive)

    def _wait(
        self, sock: socket.socket, receive: Callable[[socket.socket], None], deadline: float
    ) -> bool:
        """Receive once, waiting until ``deadline`` at most; False once it has passed."""
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            # settimeout() is a system call, and hands the GIL over, on every
            # call: keep the socket's timeout while it ends no later than the
            # deadline and at most 1 % before it (then wait again for the rest).
            if not left * 0.99 <= self.sock_timeout <= left:
                sock.settimeout(left)
                self.sock_timeout = left
            try:
                receive(sock)
            except TimeoutError:
                continue
            return True

    def _ping_pong(self, sock: socket.socket, receive: Callable[[socket.socket], None]) -> None:
        answered, sent, probe, progress = self.answered, self.sent, self.probe, self.progress
        sendall = self.sendall
        count, timeout = self.count, self.timeout
        pack, clock, clock_ns = SEQ_SENT.pack_into, time.perf_counter, time.perf_counter_ns
        # Every probe's first wait uses this one socket timeout, a hair under
        # the probe's own so that it never outlasts the deadline (the loop
        # below waits out the rest); no settimeout() system call per probe.
        first_wait = timeout * 0.995
        for seq in range(count):
            if self.sock_timeout != first_wait:
                sock.settimeout(first_wait)
                self.sock_timeout = first_wait
            refused = self.unreachable
            # _send, inlined: from the clock's start to the reply, ping runs
            # nothing it can leave for later (the server is a thread of this
            # process and shares its GIL).
            pack(probe, SEQ_OFFSET, seq, clock_ns() & _U64)
            now = clock()
            sendall(probe)
            sent.append(now)
            try:
                receive(sock)
            except TimeoutError:
                pass
            deadline = now + timeout
            # A foreign datagram, or an old probe's late reply, is not this
            # probe's answer: wait on until the deadline. An ICMP "port
            # unreachable" answers this probe too: no reply will come.
            while seq not in answered and not self.peer_closed and self.unreachable == refused:
                if not self._wait(sock, receive, deadline):
                    break
            if progress is not None:  # after the reply: not inside the round trip
                progress(seq + 1, count)

    def _paced(
        self, sock: socket.socket, receive: Callable[[socket.socket], None], interval: float
    ) -> None:
        next_send = time.perf_counter()
        while len(self.sent) < self.count and not self.peer_closed:
            now = time.perf_counter()
            if now >= next_send:
                self._send(sock)
                if self.progress is not None:
                    self.progress(len(self.sent), self.count)
                # Keep the schedule, but never try to catch up in a burst.
                next_send = max(next_send + interval, now)
                continue
            self._wait(sock, receive, next_send)

    def _linger(self, sock: socket.socket, receive: Callable[[socket.socket], None]) -> None:
        """Collect late replies: until every probe is answered or the timeout
        after the last send; then a short grace for duplicates."""
        if not self.sent:
            return
        deadline = self.sent[-1] + self.timeout
        while len(self.answered) < len(self.sent) and not self.peer_closed:
            if not self._wait(sock, receive, deadline):
                break
        rtts = [t - self.sent[s] for s, t in self.arrivals]
        grace = min(self.timeout, 0.001 + 3 * max(rtts, default=0.0))
        end = time.perf_counter() + grace
        while not self.peer_closed:
            if not self._wait(sock, receive, end):
                break
