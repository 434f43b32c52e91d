"""The TCP side of ImpairedLink: a byte-stream relay that adds delay, nothing else.

Why only delay. Loss cannot be emulated in user space above TCP: the kernel
repairs loss *below* the socket. By the time a relay calls ``recv``, the
kernel has already retransmitted what was lost, put the segments in order
and removed duplicates; the relay only ever sees a clean, in-order byte
stream. Dropping or reordering bytes there would corrupt the stream rather
than imitate a lossy network, and a real lossy network would be hidden by
TCP anyway: the application sees only extra delay and less throughput.
Emulating packet loss under TCP needs ``tc netem`` (root). So a TCP link adds
a fixed delay per direction, and optionally an honest bandwidth limit; for
loss and reordering, use a UDP link.

Each connection has four threads: per direction, a reader that timestamps
what ``recv`` returns and queues it, and a writer that sends each chunk when
it is due. At most :data:`WINDOW` bytes wait per direction; then the reader
stops reading, the kernel buffers fill, and TCP flow control slows the
sender, as a real slow path would. A half-close travels through the delay
line in order: the client's ``shutdown(SHUT_WR)`` reaches the target as a
``shutdown(SHUT_WR)`` once the bytes before it were delivered.
"""

from __future__ import annotations

import math
import selectors
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from labsock._core.errors import UsageError, os_errors
from labsock._core.guard import check_bind, family_of
from labsock._core.i18n import gettext as _
from labsock._core.impair import DirectionStats, Impairment, ImpairmentModel, LinkStats
from labsock._endpoints.base import close_socket

if TYPE_CHECKING:
    from labsock._endpoints.base import Endpoint

__all__ = ["CONNECT_TIMEOUT", "WINDOW", "TCPRelay", "check_bandwidth", "check_stream_settings"]

#: Bytes a direction may hold before the relay stops reading (its "window").
WINDOW = 4 << 20
#: Seconds the relay waits for the target to accept a connection.
CONNECT_TIMEOUT = 5.0

_RECV_SIZE = 65_536
_IDLE = 1.0
_FORWARD, _BACKWARD = 0, 1
_NAMES = ("forward", "backward")
_N = len(DirectionStats.__slots__)
# struct linger {on, 0 seconds}: close() then sends a reset, not a clean FIN.
_RESET_ON_CLOSE = struct.pack("ii", 1, 0)
_RECEIVED, _FORWARDED, _DELAYED, _HELD, _BYTES_IN, _BYTES_OUT = (
    DirectionStats.__slots__.index(name)
    for name in ("received", "forwarded", "delayed", "held", "bytes_in", "bytes_out")
)


def check_stream_settings(settings: Impairment, direction: str = "") -> Impairment:
    """Refuse what a TCP relay cannot emulate (everything but delay), saying why.

    ``direction`` ("forward", "backward" or "" for both) names where the
    refused setting was asked for.
    """
    refused = [
        f"{name}={getattr(settings, name):g}"
        for name in ("loss", "jitter", "reorder", "duplicate")
        if getattr(settings, name)
    ]
    if refused:
        where = f" ({direction})" if direction else ""
        raise UsageError(
            _(
                "a TCP link can only add delay (and a bandwidth limit), not {settings}"
                "{where}. Loss cannot be emulated in user space: TCP repairs it below the socket. "
                "The kernel retransmits lost segments, reorders and deduplicates "
                "them before recv() returns, so a relay only ever sees a clean in-order byte "
                "stream; dropping bytes there would corrupt the stream, not imitate a lossy "
                "network (which TCP would hide anyway, as extra delay). Use protocol='udp' to "
                "see loss and reordering, or give a TCP link delay= only."
            ).format(settings=", ".join(refused), where=where)
        )
    return settings


def check_bandwidth(bandwidth: object) -> float | None:
    """``None`` or a positive, finite number of bytes per second."""
    if bandwidth is None:
        return None
    if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)):
        raise UsageError(
            _("bandwidth must be bytes per second (a number) or None, not {bandwidth!r}").format(
                bandwidth=bandwidth
            )
        )
    if not math.isfinite(bandwidth) or bandwidth < 1000:
        raise UsageError(
            _(
                "bandwidth={bandwidth!r} makes no sense: use at least 1000 bytes per second, "
                "e.g. bandwidth=1_000_000 for 1 MB/s, or None for no limit"
            ).format(bandwidth=bandwidth)
        )
    return float(bandwidth)


class _Pipe:
    """One direction of one connection: a delay line from ``src`` to ``dst``."""

    def __init__(self, conn: _Connection, direction: int, src: socket.socket, dst: socket.socket):
        self.conn = conn
        self.direction = direction
        self.src = src
        self.dst = dst
        self.cond = threading.Condition()
        # (release time, chunk); b"" is the end of the stream (a half-close).
        self.queue: deque[tuple[float, bytes]] = deque()
        self.queued = 0
        self.free_at = 0.0

    def read_loop(self) -> None:
        relay, cond = self.conn.relay, self.cond
        try:
            while True:
                with cond:
                    while self.queued >= WINDOW and not self.conn.stopped:
                        cond.wait(_IDLE)
                    if self.conn.stopped:
                        return
                data = self.src.recv(_RECV_SIZE)
                now = time.perf_counter()
                delay = relay.models[self.direction].settings.delay
                with cond:
                    self.queue.append((now + delay, data))
                    self.queued += len(data)
                    cond.notify_all()
                if not data:
                    return  # end of stream, queued behind the bytes before it
                relay.count_in(self.direction, len(data), delay > 0)
        except OSError:
            self.conn.abort()  # reset by the peer, or our own close()

    def write_loop(self) -> None:
        relay, cond = self.conn.relay, self.cond
        try:
            while True:
                with cond:
                    while True:
                        if self.conn.stopped:
                            return
                        if self.queue:
                            wait = self.queue[0][0] - time.perf_counter()
                            if wait <= 0:
                                data = self.queue.popleft()[1]
                                break
                            cond.wait(wait)
                        else:
                            cond.wait(_IDLE)
                if not data:
                    self.dst.shutdown(socket.SHUT_WR)  # pass the half-close on
                    return
                self._send(data, relay.bandwidth)
                with cond:
                    self.queued -= len(data)
                    cond.notify_all()
                relay.count_out(self.direction, len(data))
        except OSError:
            self.conn.abort()

    def _send(self, data: bytes, bandwidth: float | None) -> None:
        if bandwidth is None:
            self.dst.sendall(data)
            return
        # Pace in slices of about 10 ms worth of bytes: an average rate that
        # holds over any window longer than that, without bursts of 64 KiB.
        step = max(1024, int(bandwidth / 100))
        view = memoryview(data)
        for i in range(0, len(view), step):
            piece = view[i : i + step]
            start = max(time.perf_counter(), self.free_at)
            with self.cond:
                while not self.conn.stopped and time.perf_counter() < start:
                    self.cond.wait(start - time.perf_counter())
            if self.conn.stopped:
                return
            self.dst.sendall(piece)
            self.free_at = start + len(piece) / bandwidth


class _Connection:
    """A client connection and its upstream connection, piped both ways."""

    def __init__(self, relay: TCPRelay, client: socket.socket, upstream: socket.socket) -> None:
        self.relay = relay
        self.client = client
        self.upstream = upstream
        self.stopped = False  # set by abort(): every thread of it returns
        self.lock = threading.Lock()
        self.pipes = (
            _Pipe(self, _FORWARD, client, upstream),
            _Pipe(self, _BACKWARD, upstream, client),
        )
        self.threads = [
            threading.Thread(target=self._run, args=(loop,), name=name, daemon=True)
            for pipe, suffix in zip(self.pipes, _NAMES, strict=True)
            for loop, name in (
                (pipe.read_loop, f"labsock-tcp-link-read-{suffix}"),
                (pipe.write_loop, f"labsock-tcp-link-write-{suffix}"),
            )
        ]
        self.running = len(self.threads)

    def _run(self, loop: Any) -> None:
        try:
            loop()
        except BaseException as exc:
            self.relay.owner._record_error(exc)
            self.abort()
        finally:
            with self.lock:
                self.running -= 1
                last = self.running == 0
            if last:
                self._finish()

    def abort(self) -> None:
        """Stop all four threads: a reset on one side, or the link closing."""
        with self.lock:
            if self.stopped:
                return
            self.stopped = True
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv or send
            except OSError:
                pass
        for pipe in self.pipes:
            with pipe.cond:
                pipe.cond.notify_all()

    def _finish(self) -> None:
        for sock in (self.client, self.upstream):
            if self.stopped:
                # One side broke (or the link closed): make the other side
                # see a reset too, not a clean end of stream.
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
                except OSError:
                    pass
            close_socket(sock)
        self.relay.forget(self)


class TCPRelay:
    """Accepts connections and pipes each one to the target through two delay lines."""

    def __init__(
        self,
        owner: Endpoint,
        host: str,
        port: int,
        target: tuple[socket.AddressFamily, Any],
        models: Sequence[ImpairmentModel],
        bandwidth: float | None,
    ) -> None:
        self.owner = owner
        self.models = models
        self.bandwidth = bandwidth
        self._target_family, self._target_sockaddr = target
        self._lock = threading.Lock()
        self._counts = [[0] * _N, [0] * _N]
        self._clients = 0
        self._unreachable = 0
        self._conns: set[_Connection] = set()
        # ImpairedLink has checked it already; checked here too, so that
        # a relay never binds what the loopback guard refuses.
        sockaddr = check_bind((host, port), what="ImpairedLink", kind=socket.SOCK_STREAM)
        family = family_of(sockaddr)
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._waker_r, self._waker_w = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        try:
            if sys.platform != "win32":
                # As the echo servers do: rebinding past TIME_WAIT is fine on
                # POSIX, while on Windows this flag would let ports be stolen.
                self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with os_errors("bind", (host, port)):
                self._listener.bind(sockaddr)
                self._listener.listen(64)
            self._listener.setblocking(False)
            self.address: tuple[str, int] = self._listener.getsockname()[:2]
            self._selector.register(self._listener, selectors.EVENT_READ)
            self._selector.register(self._waker_r, selectors.EVENT_READ)
        except BaseException:
            self.release()
            raise

    def run(self) -> None:
        closed = self.owner._closed
        while not closed.is_set():
            for key, _events in self._selector.select(_IDLE):
                if key.fileobj is self._waker_r:
                    return
                try:
                    client, _peer = self._listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                self._adopt(client)

    def _adopt(self, client: socket.socket) -> None:
        client.setblocking(True)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream = socket.socket(self._target_family, socket.SOCK_STREAM)
        try:
            upstream.settimeout(CONNECT_TIMEOUT)
            upstream.connect(self._target_sockaddr)
            upstream.settimeout(None)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            # Nothing listens at the target (or it does not answer): the
            # client gets a reset, as if it had connected there directly.
            upstream.close()
            with self._lock:
                self._unreachable += isinstance(exc, ConnectionRefusedError)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)
            client.close()
            return
        conn = _Connection(self, client, upstream)
        with self._lock:
            if self.owner._closed.is_set():
                client.close()
                upstream.close()
                return
            self._conns.add(conn)
            self._clients += 1
            # Started under the lock, so wake() never hands close() a thread
            # that has not started yet (joining one is an error).
            for thread in conn.threads:
                thread.start()

    def count_in(self, direction: int, size: int, delayed: bool) -> None:
        """A chunk was read and queued."""
        counts = self._counts[direction]
        with self._lock:
            counts[_RECEIVED] += 1
            counts[_BYTES_IN] += size
            counts[_HELD] += 1
            counts[_DELAYED] += delayed

    def count_out(self, direction: int, size: int) -> None:
        """A queued chunk was sent on."""
        counts = self._counts[direction]
        with self._lock:
            counts[_FORWARDED] += 1
            counts[_BYTES_OUT] += size
            counts[_HELD] -= 1

    def forget(self, conn: _Connection) -> None:
        with self._lock:
            self._conns.discard(conn)

    def statistics(self) -> LinkStats:
        with self._lock:
            return LinkStats(
                "tcp",
                DirectionStats(*self._counts[_FORWARD]),
                DirectionStats(*self._counts[_BACKWARD]),
                clients=self._clients,
                active=len(self._conns),
                unreachable=self._unreachable,
            )

    def events(self) -> list[Any]:
        return []  # a byte stream has no datagrams to tell apart

    def wake(self) -> None:
        try:
            self._waker_w.send(b"x")
        except OSError:
            pass
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.abort()
            # close() joins these like its own workers.
            self.owner._threads.extend(conn.threads)

    def release(self) -> None:
        self._selector.close()
        for sock in (self._listener, self._waker_r, self._waker_w):
            close_socket(sock)
