"""Echo servers on real sockets, each in background threads of this process.

Both servers bind before the constructor returns (so ``.address`` is real
and a client may connect at once), count what crosses them, and stop cleanly
on ``close()``. They are deliberately plain: the loops below are the same
``recv``/``send`` loops the lessons teach, with the bookkeeping around them.
"""

from __future__ import annotations

import os
import selectors
import socket
import struct
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labsock._core.errors import RESOURCE_ERRNOS, OutOfResources, os_errors, translate_oserror
from labsock._core.guard import check_bind, family_of
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.validate import check_count, check_host, check_port
from labsock._endpoints.base import (
    Endpoint,
    close_socket,
    format_address,
    receive_timeout,
    wake_receiver,
)

if TYPE_CHECKING:
    from labsock._endpoints.trace import Trace

__all__ = ["ServerStats", "TCPEchoServer", "UDPEchoServer", "default_backlog"]

_RECV_SIZE = 65_536
_POSIX = sys.platform != "win32"
# A blocking wait ends at least this often (a backstop: close() wakes it at once).
_IDLE = 1.0
# Out of descriptors, memory or threads: the accept loop pauses this long
# before it tries again, so that it does not spin while other connections end.
_BACKOFF = 0.01
# SO_LINGER on, zero seconds: close() then sends a reset, not a polite FIN.
_RESET = struct.pack("ii", 1, 0)


def default_backlog() -> int:
    """The kernel's cap on a listening socket's queue (``net.core.somaxconn``).

    Read from /proc on Linux; elsewhere Python's ``socket.SOMAXCONN``.
    Asking ``listen()`` for more than this gets this much, silently.
    """
    try:
        with open("/proc/sys/net/core/somaxconn", encoding="ascii") as f:
            value = int(f.read().strip())
    except (OSError, ValueError):
        return int(socket.SOMAXCONN)
    return max(1, min(value, 65535))


@dataclass(frozen=True, slots=True)
class ServerStats:
    """A snapshot of what crossed a server (see ``statistics()``).

    ``connections`` counts accepted TCP connections since start, ``active``
    those open now, ``resets`` those the client broke (reset or vanished).
    UDP servers count ``datagrams_in``/``datagrams_out``; both count bytes.
    A TCP server that runs out of file descriptors, memory or threads counts
    each time in ``out_of_resources`` and keeps serving; ``refused`` counts
    the clients it had to turn away then (they see the connection reset).
    """

    connections: int = 0
    active: int = 0
    resets: int = 0
    datagrams_in: int = 0
    datagrams_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    refused: int = 0
    out_of_resources: int = 0


_FIELD = {name: index for index, name in enumerate(ServerStats.__slots__)}


class _Counters:
    """Counters behind a lock, for events that are rare (connections, resets).

    ``snapshot()`` gives a ServerStats. Per-datagram and per-chunk counts
    do not come here: see :class:`_Tally`.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: list[int] = [0] * len(ServerStats.__slots__)

    def add(self, **deltas: int) -> None:
        with self.lock:
            for key, delta in deltas.items():
                self.values[_FIELD[key]] += delta

    def snapshot(self, **extra: int) -> ServerStats:
        """The counters, plus ``extra`` amounts (counted elsewhere), as one snapshot."""
        with self.lock:
            values = list(self.values)
        for key, amount in extra.items():
            values[_FIELD[key]] += amount
        return ServerStats(*values)


class _Tally:
    """Counts that one thread alone updates, published as one tuple.

    The serving loop keeps its running totals in local variables and
    replaces ``counts`` whole: one attribute store, which a reader on any
    thread sees entirely or not at all, so a snapshot is never torn. A lock
    per datagram instead cost 0.8 µs of a 17 µs loopback round trip (and a
    keyword-argument call per update as much again): measured against a
    bare echo loop in benchmarks/.
    """

    __slots__ = ("counts",)

    def __init__(self, size: int) -> None:
        self.counts: tuple[int, ...] = (0,) * size


def _bind(
    kind: socket.SocketKind, host: str, port: int, trace: Trace | None = None
) -> socket.socket:
    # The loopback guard: resolved once, refused before any socket exists.
    what = "TCPEchoServer" if kind == socket.SOCK_STREAM else "UDPEchoServer"
    sockaddr = check_bind((host, port), what=what, kind=kind)
    family = family_of(sockaddr)
    # A traced socket is a socket.socket subclass: the loops below run unchanged.
    sock = (
        socket.socket(family, kind) if trace is None else trace.socket(family, kind, actor="server")
    )
    try:
        if _POSIX and kind == socket.SOCK_STREAM:
            # Lets a restarted TCP server rebind while old connections sit in
            # TIME_WAIT; it does NOT let two live TCP sockets share a port on
            # POSIX, so "address already in use" still teaches what it should.
            # Not for UDP: there, Linux would let two sockets share the port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with os_errors("bind", (host, port)):
            sock.bind(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


class _Server(Endpoint):
    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        self._host = check_host(host)
        check_port(port)
        self._counters = _Counters()
        self._address: tuple[str, int] = (host, port)

    @property
    def address(self) -> tuple[str, int]:
        """The real bound ``(host, port)``: the port the OS picked for port=0.

        Raises ClosedError once the server is closed: its port is free again,
        and whatever answers there now is not this server.
        """
        self._check_open(N_("get the address of this {kind}"))
        return self._address

    @property
    def host(self) -> str:
        return self._address[0]

    @property
    def port(self) -> int:
        return self._address[1]

    def statistics(self) -> ServerStats:
        """An immutable snapshot of the counters."""
        return self._counters.snapshot()

    def __repr__(self) -> str:
        state = _("closed") if self.closed else _("serving")
        return f"<{type(self).__name__} {format_address(self._address)} {state}>"


class TCPEchoServer(_Server):
    """A TCP server that sends back every byte it receives, to many clients at once.

    Each connection gets its own thread running the classic loop
    ``recv -> sendall`` until the client closes its side; then the server
    closes its side too. A client that resets or vanishes mid-message ends
    only its own connection (counted in ``statistics().resets``).

    Args:
        host: address to bind: loopback ('127.0.0.1', the default, or
            '::1'); any other is refused with NotLoopback (see
            ``labsock.allow_network``).
        port: 0 lets the operating system pick a free port (see ``.address``).
        backlog: connections the kernel queues until the server accepts
            them; ``None`` (default) takes the kernel's cap
            (``net.core.somaxconn``, e.g. 4096). When more clients connect
            at once than it holds, nothing fails at once: Linux ignores the
            extra handshakes, and those clients' ``connect()`` takes a second
            or more (the SYN is sent again after 1 s, 3 s, ...) before the
            connection is made, or times out.
        nodelay: disable Nagle's algorithm on accepted connections, so small
            echoes go out at once (what an interactive server wants).
        trace: record the server's socket calls into this :class:`Trace`
            (actor ``"server"``; its connections ``"server#1"``, ...).

    A busy server survives running out of file descriptors, memory or
    threads: it turns the client it cannot serve away with a reset (never
    leaves it waiting), counts it (``statistics().refused`` and
    ``.out_of_resources``), keeps the error in ``.errors``, and serves again
    once connections end. ``close()`` does not raise for these.

    Raises:
        AddressInUse, PermissionDenied, HostNotFound, UsageError,
        NotLoopback.

    Example:
        >>> import socket
        >>> with TCPEchoServer() as server:
        ...     with socket.create_connection(server.address, timeout=2) as client:
        ...         client.sendall(b"hello")
        ...         client.recv(100)
        b'hello'
    """

    kind = N_("TCP echo server")

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        backlog: int | None = None,
        nodelay: bool = True,
        trace: Trace | None = None,
    ) -> None:
        super().__init__(host, port)
        if backlog is None:
            backlog = default_backlog()
        check_count(backlog, name="backlog", minimum=1, maximum=65535)
        self._reserve: int | None = None
        # Kinds of resource errors already kept in .errors (each kind once:
        # a class at the limit would otherwise pile up thousands of them).
        self._resource_kinds: set[object] = set()
        self._nodelay = nodelay
        self._conn_lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}
        # Bytes of the connections being served: (bytes_in, bytes_out) each.
        # A connection's totals move to _counters when it ends (both under
        # _conn_lock, so statistics() never counts them twice or not at all).
        self._tallies: dict[socket.socket, _Tally] = {}
        self._listener = _bind(socket.SOCK_STREAM, host, port, trace)
        try:
            with os_errors("start", (host, port)):
                self._waker_r, self._waker_w = socket.socketpair()
        except BaseException:
            self._listener.close()
            raise
        try:
            with os_errors("listen on", (host, port)):
                self._listener.listen(backlog)
                # One descriptor kept spare: with every other one in use,
                # closing it lets the server accept a waiting client just to
                # reset it, instead of leaving it queued with no answer.
                self._reserve = _spare_descriptor()
            self._address = self._listener.getsockname()[:2]
            self._selector = selectors.DefaultSelector()
            self._selector.register(self._listener, selectors.EVENT_READ)
            self._selector.register(self._waker_r, selectors.EVENT_READ)
        except BaseException:
            for s in (self._listener, self._waker_r, self._waker_w):
                s.close()
            self._free_reserve()
            raise
        self._start_worker(self._accept_loop, f"tcp-accept-{self.port}")
        self._register()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            # Waits for a client or for close(); the waker makes this prompt.
            for key, _events in self._selector.select(timeout=1.0):
                if key.fileobj is self._waker_r:
                    return
                try:
                    conn, _peer = self._listener.accept()
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError as exc:
                    if exc.errno not in RESOURCE_ERRNOS:
                        raise
                    # Out of descriptors or memory: turn the waiting client
                    # away (it must not wait for an answer that never comes),
                    # pause, and go on: descriptors free up as clients leave.
                    error = translate_oserror(exc, action="accept on", address=self._address)
                    error.__cause__ = exc
                    self._out_of_resources(exc.errno, error)
                    self._shed_one()
                    self._closed.wait(_BACKOFF)
                    continue
                self._adopt(conn)

    def _adopt(self, conn: socket.socket) -> None:
        try:
            conn.setblocking(True)
            if self._nodelay:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            conn.close()  # the client reset before we could even set it up
            self._counters.add(connections=1, resets=1)
            return
        thread = threading.Thread(
            target=self._serve, args=(conn,), name=f"labsock-tcp-conn-{self.port}", daemon=True
        )
        with self._conn_lock:
            if self._closed.is_set():
                conn.close()
                return
            self._conns[conn] = thread
            self._tallies[conn] = _Tally(2)
            self._counters.add(connections=1, active=1)
        try:
            thread.start()
        except (RuntimeError, MemoryError) as exc:
            # "can't start new thread": out of memory or of threads. Undo the
            # books, tell the client, and keep accepting. Counted before the
            # client hears of it, so that statistics() never lags behind it.
            with self._conn_lock:
                self._conns.pop(conn, None)
                self._tallies.pop(conn, None)
                self._counters.add(connections=-1, active=-1, refused=1)
            error = OutOfResources(
                _(
                    "the {kind} at {where} could not start a thread "
                    "for a new client ({error}): too many threads or too little memory. The "
                    "client was turned away; close endpoints you no longer need "
                    "(labsock.close_all())."
                ).format(kind=_(self.kind), where=format_address(self._address), error=exc)
            )
            error.__cause__ = exc
            self._out_of_resources("thread", error)
            _reset(conn)
            self._closed.wait(_BACKOFF)

    def _out_of_resources(self, kind: object, error: BaseException) -> None:
        """Count a resource error; keep the first of each kind in ``.errors``."""
        self._counters.add(out_of_resources=1)
        if kind not in self._resource_kinds:
            self._resource_kinds.add(kind)
            self._record_error(error, survived=True)

    def _shed_one(self) -> None:
        """Accept one waiting client with the spare descriptor, and reset it at once."""
        if self._reserve is None:
            self._reserve = _spare_descriptor()  # freed earlier, maybe free again now
            return
        self._free_reserve()
        try:
            # Only if a client is still waiting: the listener blocks, and
            # accept() must not wait here for the next one.
            waiting = self._selector.select(timeout=0)
            if any(key.fileobj is self._listener for key, _events in waiting):
                conn, _peer = self._listener.accept()
                self._counters.add(refused=1)
                _reset(conn)
        except OSError:
            pass  # still nothing free (another thread took it): next round
        finally:
            self._reserve = _spare_descriptor()

    def _free_reserve(self) -> None:
        reserve, self._reserve = getattr(self, "_reserve", None), None
        if reserve is not None:
            os.close(reserve)

    def statistics(self) -> ServerStats:
        """An immutable snapshot of the counters."""
        with self._conn_lock:
            live = [tally.counts for tally in self._tallies.values()]
            return self._counters.snapshot(
                bytes_in=sum(c[0] for c in live), bytes_out=sum(c[1] for c in live)
            )

    def _serve(self, conn: socket.socket) -> None:
        buf = bytearray(_RECV_SIZE)
        view = memoryview(buf)
        with self._conn_lock:
            tally = self._tallies[conn]
        recv_into, sendall = conn.recv_into, conn.sendall
        bytes_in = bytes_out = reset = 0
        try:
            while True:
                n = recv_into(buf)
                if n == 0:
                    # The client shut down its sending side (or closed):
                    # everything it sent has been echoed, so finish ours.
                    conn.shutdown(socket.SHUT_WR)
                    break
                bytes_in += n
                # Counted before the echo leaves, so statistics() never lags
                # behind what the client has seen; taken back if it fails.
                tally.counts = (bytes_in, bytes_out + n)
                try:
                    sendall(view[:n])
                except BaseException:
                    tally.counts = (bytes_in, bytes_out)
                    raise
                bytes_out += n
        except OSError:
            # Reset, broken pipe, "not connected" after the peer vanished, or
            # our own shutdown at close(): it ends this connection, and it is
            # the peer's doing (or ours), never a failure of the server.
            reset = 0 if self._closed.is_set() else 1
        except BaseException as exc:
            self._record_error(exc)
        finally:
            view.release()
            with self._conn_lock:
                self._conns.pop(conn, None)
                done_in, done_out = self._tallies.pop(conn).counts
                self._counters.add(active=-1, resets=reset, bytes_in=done_in, bytes_out=done_out)
            conn.close()

    def _wake(self) -> None:
        try:
            self._waker_w.send(b"x")
        except OSError:
            pass
        with self._conn_lock:
            conns = dict(self._conns)
        for conn, thread in conns.items():
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._threads.append(thread)

    def _release(self) -> None:
        self._selector.close()
        for s in (self._listener, self._waker_r, self._waker_w):
            close_socket(s)
        self._free_reserve()


def _spare_descriptor() -> int | None:
    """Open a descriptor to keep in reserve; None when none is free right now."""
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None


def _reset(conn: socket.socket) -> None:
    """Close a connection with a reset: the client learns at once it was turned away."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    except OSError:
        pass
    conn.close()


class UDPEchoServer(_Server):
    """A UDP server that sends every datagram back to whoever sent it.

    No connection, no accept: one socket, one loop of ``recvfrom`` then
    ``sendto``. Each datagram is answered on its own; message boundaries are
    kept, and nothing is retransmitted.

    Args:
        host: address to bind: loopback ('127.0.0.1', the default, or
            '::1'); any other is refused with NotLoopback (see
            ``labsock.allow_network``).
        port: 0 lets the operating system pick a free port (see ``.address``).
        receive_buffer: ask the kernel for this ``SO_RCVBUF`` size in bytes
            (it may double or clamp it; see ``.receive_buffer``).
        trace: record the server's socket calls into this :class:`Trace`
            (actor ``"server"``).

    Example:
        >>> import socket
        >>> with UDPEchoServer() as server:
        ...     with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        ...         client.settimeout(2)
        ...         _ = client.sendto(b"ping", server.address)
        ...         client.recvfrom(100)[0]
        b'ping'
    """

    kind = N_("UDP echo server")

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        receive_buffer: int | None = None,
        trace: Trace | None = None,
    ) -> None:
        super().__init__(host, port)
        if receive_buffer is not None:
            check_count(receive_buffer, name="receive_buffer", minimum=1, maximum=1 << 30)
        self._tally = _Tally(4)  # datagrams in, out, bytes in, out
        self._sock = _bind(socket.SOCK_DGRAM, host, port, trace)
        try:
            if receive_buffer is not None:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            if trace is None:
                # A backstop for close()'s wake-up; a traced socket is left
                # alone, so that the lesson's trace shows only the server's
                # own calls, not an idle wait running out every second.
                receive_timeout(self._sock, _IDLE)
            self._address = self._sock.getsockname()[:2]
        except BaseException:
            self._sock.close()
            raise
        self._start_worker(self._loop, f"udp-echo-{self.port}")
        self._register()

    @property
    def receive_buffer(self) -> int:
        """The receive buffer the kernel really granted, in bytes."""
        self._check_open(N_("read the buffer of this {kind}"))
        return int(self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

    def statistics(self) -> ServerStats:
        """An immutable snapshot of the counters."""
        d_in, d_out, b_in, b_out = self._tally.counts
        return ServerStats(datagrams_in=d_in, datagrams_out=d_out, bytes_in=b_in, bytes_out=b_out)

    def _loop(self) -> None:
        sock = self._sock
        buf = bytearray(_RECV_SIZE)
        view = memoryview(buf)
        tally = self._tally
        recvfrom_into, sendto, closed = sock.recvfrom_into, sock.sendto, self._closed.is_set
        d_in = d_out = b_in = b_out = 0
        try:
            while True:
                try:
                    # Blocking on purpose: one syscall per datagram, like a
                    # bare loop. close() wakes it (shutdown + a wake datagram).
                    n, peer = recvfrom_into(buf)
                except BlockingIOError:  # _IDLE passed with nothing to read
                    if closed():
                        return
                    continue
                except ConnectionResetError:
                    # Windows reports an earlier datagram's ICMP "port
                    # unreachable" here; it concerns a client gone away.
                    continue
                if closed():
                    return
                d_in += 1
                b_in += n
                # Counted before the echo leaves (so statistics() never lags
                # behind what a client has seen), taken back if it fails.
                # Almost nothing follows the send: work there would hold the
                # GIL while the client's thread wakes up for the echo.
                tally.counts = (d_in, d_out + 1, b_in, b_out + n)
                try:
                    sendto(view[:n], peer)
                except OSError:
                    tally.counts = (d_in, d_out, b_in, b_out)
                    continue  # the sender vanished; UDP does not care
                d_out += 1
                b_out += n
        finally:
            view.release()

    def _wake(self) -> None:
        wake_receiver(self._sock, self._address)

    def _release(self) -> None:
        close_socket(self._sock)
