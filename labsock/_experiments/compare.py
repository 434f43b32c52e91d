"""``compare_speed``: is UDP really "much faster" than TCP? Measure it, three ways.

The slide says UDP is much faster. Whether it is depends on what you do with
it, so this module measures the three cases a student meets, side by side in
one run on this machine, over real loopback sockets:

1. **Per message, on an open connection**: ``ping`` in ping-pong mode over UDP
   and over an already connected TCP socket (same count, same size).
2. **Per request, when each request needs a new connection**: TCP pays
   ``connect`` (the three-way handshake), the server's ``accept`` and a close
   for every request; UDP sends one datagram and reads the reply. Requests
   of the two protocols alternate, so a burst of load on a shared machine
   hits both alike.
3. **Bulk throughput against message size**: a bounded budget of bytes
   sent as fast as possible, over a TCP stream (``sendall`` per message, the
   receiver reads whatever has arrived) and as UDP datagrams (one system call
   per datagram on each side, into a big receive buffer). UDP loss is
   counted, not hidden: a sender that outruns its receiver loses datagrams,
   and the goodput is what was delivered.

Every loop is bounded in count and in time, and every blocking call has a
timeout. Both ends of every exchange are threads of this process, as
everywhere in the course.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections.abc import Sequence

from labsock._core.errors import ConnectionLost, UsageError, os_errors
from labsock._core.guard import check_bind
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.probe import HEADER_SIZE
from labsock._core.records import build_records
from labsock._core.validate import MAX_UDP_PAYLOAD, check_count, check_seconds, check_size
from labsock._endpoints.base import JOIN_TIMEOUT
from labsock._endpoints.kernel import udp_socket_drops
from labsock._endpoints.servers import TCPEchoServer, UDPEchoServer
from labsock._experiments.flood import REFUSED_SEND, FloodReceiver, finish
from labsock._experiments.ping import ping
from labsock._results.compare import BulkTransfer, SpeedComparison
from labsock._results.ping import PingResult

__all__ = ["DEFAULT_SIZES", "compare_speed"]

#: Who failed, when the bulk receiver's thread fails (flood.finish translates it).
_BULK_THREAD = N_("the bulk receiver's thread")

#: Message sizes of the bulk measurement: 64 B to 64 KiB (UDP: 65,507, its maximum).
DEFAULT_SIZES: tuple[int, ...] = (64, 256, 1024, 4096, 16384, 65536)
#: Bytes each bulk point sends by default (at most; see DEFAULT_MAX_MESSAGES).
DEFAULT_BUDGET = 16 << 20
#: Messages each bulk point sends at most by default: 64-byte messages stop at 1 MiB.
DEFAULT_MAX_MESSAGES = 16_384
#: Largest budget per point (bytes): keeps a run short and bounded.
MAX_BUDGET = 64 << 20
#: Largest TCP message of the bulk measurement.
MAX_MESSAGE = 1 << 20
#: Seconds a bulk point may spend sending before it is cut short.
POINT_TIME = 2.0
#: A UDP receiver whose queue stayed empty this long after the sender finished is done.
_IDLE = 0.05
_HOST = "127.0.0.1"
# Below this ratio, "faster" would be reading noise: call it even.


# -- results ----------------------------------------------------------------------


# -- per request --------------------------------------------------------------------


def _tcp_request(
    sockaddr: tuple[str, int], message: bytes, buf: bytearray, timeout: float
) -> tuple[float, float, float, float]:
    """connect, sendall, read the whole echo, close: (start, connected, echoed, done)."""
    view = memoryview(buf)
    try:
        start = time.perf_counter()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            connected = time.perf_counter()
            sock.sendall(message)
            got = 0
            while got < len(message):
                n = sock.recv_into(view[got : len(message)])
                if n == 0:
                    raise ConnectionLost(
                        _(
                            "the TCP echo server closed the connection after {got} of {total} bytes"
                        ).format(got=got, total=len(message))
                    )
                got += n
            echoed = time.perf_counter()
        return start, connected, echoed, time.perf_counter()
    finally:
        view.release()


def _udp_request(
    sockaddr: tuple[str, int], message: bytes, buf: bytearray, timeout: float
) -> tuple[float, float | None]:
    """A new socket, one datagram out, its echo in, close: (start, done or None if lost).

    The same calls as a TCP request: ``connect`` too, which over UDP sends
    nothing (it fixes the peer and binds the socket to loopback), so the
    difference between the two is exactly what TCP does on the wire.
    """
    start = time.perf_counter()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(sockaddr)
        sock.send(message)
        try:
            n = sock.recv_into(buf)
        except TimeoutError:
            return start, None
    done = time.perf_counter()
    return start, done if n == len(message) else None


def _requests(
    tcp_server: TCPEchoServer,
    udp_server: UDPEchoServer,
    requests: int,
    size: int,
    timeout: float,
    deadline: float,
) -> tuple[PingResult, PingResult, list[tuple[float, float, float]]]:
    """Interleaved requests; returns both as PingResults, and TCP's phases."""
    message = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    buf = bytearray(max(size, 65_536))
    tcp_sent: list[float] = []
    tcp_arrivals: list[tuple[int, float]] = []
    phases: list[tuple[float, float, float]] = []
    udp_sent: list[float] = []
    udp_arrivals: list[tuple[int, float]] = []
    tcp_address, udp_address = tcp_server.address, udp_server.address
    started = time.perf_counter()

    def tcp() -> None:
        with os_errors("send a request to", tcp_address):
            start, connected, echoed, done = _tcp_request(tcp_address, message, buf, timeout)
        tcp_arrivals.append((len(tcp_sent), done))
        tcp_sent.append(start)
        phases.append((connected - start, echoed - connected, done - echoed))

    def udp() -> None:
        with os_errors("send a request to", udp_address):
            start, done = _udp_request(udp_address, message, buf, timeout)
        if done is not None:
            udp_arrivals.append((len(udp_sent), done))
        udp_sent.append(start)

    for i in range(requests):
        if time.perf_counter() > deadline:
            break
        # Alternate which goes first: neither protocol always follows the
        # other, and a burst of load on the machine hits both alike.
        first, second = (tcp, udp) if i % 2 == 0 else (udp, tcp)
        first()
        second()
    elapsed = time.perf_counter() - started

    def result(
        protocol: str,
        address: tuple[str, int],
        sent: list[float],
        arrivals: list[tuple[int, float]],
        connect_time: float | None,
    ) -> PingResult:
        return PingResult(
            protocol=protocol,
            address=address,
            count=len(sent),
            size=size,
            interval=None,
            timeout=timeout,
            records=build_records(sent, arrivals),
            arrivals=tuple(seq for seq, _ in arrivals),
            connect_time=connect_time,
            elapsed=elapsed,
            kind="request",
        )

    return (
        result("udp", udp_address, udp_sent, udp_arrivals, None),
        result(
            "tcp",
            tcp_address,
            tcp_sent,
            tcp_arrivals,
            statistics.median(p[0] for p in phases) if phases else None,
        ),
        phases,
    )


# -- bulk ---------------------------------------------------------------------------


def _tcp_bulk(size: int, count: int, timeout: float, deadline: float) -> BulkTransfer:
    """``count`` messages of ``size`` bytes over a TCP stream, each with ``sendall``."""
    message = bytes(size)
    receiver = FloodReceiver()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sockets = [listener]

    def receive() -> None:
        buf = bytearray(1 << 20)
        try:
            listener.settimeout(timeout)
            conn, _ = listener.accept()
            with conn:
                receiver.effective_buffer = int(
                    conn.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
                )
                conn.settimeout(timeout)
                while True:
                    # Whatever has arrived, up to 1 MiB per call: the stream
                    # has no message boundaries to respect.
                    n = conn.recv_into(buf)
                    receiver.reads += 1
                    if n == 0:
                        return
                    receiver.bytes += n
                    receiver.last_at = time.perf_counter()
        except BaseException as exc:
            receiver.error = exc

    thread = threading.Thread(target=receive, name="labsock-compare-rx", daemon=True)
    sent = 0
    cut_short = False
    try:
        with os_errors("set up the bulk transfer on", (_HOST, 0)):
            listener.bind((_HOST, 0))
            listener.listen(1)
            tx = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(tx)
            tx.settimeout(timeout)
            address = listener.getsockname()
        thread.start()
        with os_errors("connect to", address):
            tx.connect(address)
        start = time.perf_counter()
        with os_errors("send to", address):
            for i in range(count):
                if i & 255 == 0 and time.perf_counter() > deadline:
                    cut_short = True
                    break
                tx.sendall(message)
                sent += 1
            tx.shutdown(socket.SHUT_WR)
        sent_at = time.perf_counter()
    except BaseException:
        finish(thread, receiver, sockets, failed=True, what=_BULK_THREAD)
        raise
    finish(thread, receiver, sockets, failed=False, what=_BULK_THREAD)
    return BulkTransfer(
        protocol="tcp",
        message_size=size,
        messages_sent=sent,
        messages_delivered=receiver.bytes // size,
        bytes_sent=sent * size,
        bytes_delivered=receiver.bytes,
        receive_calls=receiver.reads,
        send_errors=0,
        kernel_drops=None,
        receive_buffer=receiver.effective_buffer,
        send_elapsed=sent_at - start,
        elapsed=max(receiver.last_at, sent_at) - start,
        cut_short=cut_short,
    )


def _udp_bulk(
    size: int, count: int, receive_buffer: int, timeout: float, deadline: float
) -> BulkTransfer:
    """``count`` datagrams of ``size`` bytes into a receiver that reads them one by one."""
    message = bytes(size)
    receiver = FloodReceiver()
    sender_done = threading.Event()
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sockets = [rx]
    stop_at = deadline + timeout

    def receive() -> None:
        buf = bytearray(MAX_UDP_PAYLOAD + 1)
        try:
            rx.settimeout(_IDLE)
            while time.perf_counter() < stop_at:
                try:
                    n = rx.recv_into(buf)  # one datagram per call, always
                except TimeoutError:
                    if sender_done.is_set():
                        return  # the sender is done and the queue is empty
                    continue
                receiver.reads += 1
                receiver.datagrams += 1
                receiver.bytes += n
                receiver.last_at = time.perf_counter()
        except BaseException as exc:
            receiver.error = exc

    thread = threading.Thread(target=receive, name="labsock-compare-rx", daemon=True)
    sent = send_errors = 0
    cut_short = False
    try:
        with os_errors("set up the bulk transfer on", (_HOST, 0)):
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            receiver.effective_buffer = int(rx.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
            rx.bind((_HOST, 0))
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(tx)
            if int(tx.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)) < size + 1024:
                # Some defaults (macOS: 9,216 bytes) are smaller than one big
                # datagram, and a datagram larger than SO_SNDBUF is refused.
                tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size + 1024)
            tx.settimeout(timeout)
            address = rx.getsockname()
            tx.connect(address)
        thread.start()
        start = time.perf_counter()
        for i in range(count):
            if i & 255 == 0 and time.perf_counter() > deadline:
                cut_short = True
                break
            try:
                tx.send(message)
            except OSError as exc:
                # ENOBUFS/EAGAIN: the kernel refused this one and said so.
                if exc.errno not in REFUSED_SEND:
                    with os_errors("send to", address):
                        raise
                send_errors += 1
                continue
            sent += 1
        sent_at = time.perf_counter()
        sender_done.set()
        thread.join(timeout + JOIN_TIMEOUT)
        drops = udp_socket_drops(rx)
    except BaseException:
        sender_done.set()
        finish(thread, receiver, sockets, failed=True, what=_BULK_THREAD)
        raise
    finish(thread, receiver, sockets, failed=False, what=_BULK_THREAD)
    return BulkTransfer(
        protocol="udp",
        message_size=size,
        messages_sent=sent,
        messages_delivered=receiver.datagrams,
        bytes_sent=sent * size,
        bytes_delivered=receiver.bytes,
        receive_calls=receiver.reads,
        send_errors=send_errors,
        kernel_drops=drops,
        receive_buffer=receiver.effective_buffer,
        send_elapsed=sent_at - start,
        elapsed=max(receiver.last_at, sent_at) - start,
        cut_short=cut_short,
    )


# -- the whole comparison -------------------------------------------------------------


def compare_speed(
    *,
    count: int = 200,
    size: int = 64,
    requests: int = 100,
    sizes: Sequence[int] = DEFAULT_SIZES,
    budget: int = DEFAULT_BUDGET,
    max_messages: int = DEFAULT_MAX_MESSAGES,
    repeats: int = 2,
    receive_buffer: int = 4 << 20,
    timeout: float = 1.0,
    time_limit: float = 30.0,
) -> SpeedComparison:
    """Measure UDP against TCP three ways, side by side, on real loopback sockets.

    1. ``count`` ping-pong probes of ``size`` bytes over UDP and over one open
       TCP connection (:func:`~labsock.ping`, both against labsock echo servers).
    2. ``requests`` requests of ``size`` bytes, each on a new socket: over TCP
       ``connect`` + ``sendall`` + read the echo + close, over UDP one
       datagram and its echo. The two protocols take turns.
    3. For each message size in ``sizes``, ``repeats`` times: up to
       ``budget`` bytes sent as fast as possible over a TCP stream and as UDP
       datagrams (sizes above 65,507 are capped at 65,507 for UDP) into a
       receiver with a ``receive_buffer``-byte ``SO_RCVBUF``. TCP delivers
       every byte; UDP delivers what its receiver read in time, the kernel
       drops the rest, and the goodput counts only what was delivered.

    Small messages cost a system call each, so a point sends at most
    ``max_messages`` messages: ``min(budget, max_messages * size)`` bytes.
    A rate is per second, so the shorter run measures the same thing.

    Both ends of every transfer are threads of this Python process, as in the
    rest of the course. They take turns on the interpreter lock, which slows
    the sender down; the big receive buffer absorbs most of the lead it still
    gets, so UDP loses mostly big datagrams here. With a small buffer (try
    ``receive_buffer=65536``) it loses at every size.

    Args:
        count: ping probes per protocol, 1 to 100,000.
        size: bytes per probe and per request, 16 to 65,507.
        requests: requests per protocol, 1 to 100,000.
        sizes: bulk message sizes in bytes, 1 to 1 MiB each (at most 16
            sizes; ``()`` skips the bulk measurement).
        budget: bytes per bulk point, 1 KiB to 64 MiB.
        max_messages: messages per bulk point at most, 1 to 1,000,000.
        repeats: how many times each bulk point is measured, 1 to 10.
        receive_buffer: ``SO_RCVBUF`` asked for the UDP bulk receiver (the
            kernel doubles it and clamps it to ``net.core.rmem_max``).
        timeout: seconds any single blocking call may wait, 0 to 60.
        time_limit: upper bound in seconds on the request loop and on all
            the bulk sending; a point cut short says so (``cut_short``).

    Returns:
        A :class:`SpeedComparison`; ``print`` it for the verdicts.

    Raises:
        UsageError, DatagramTooLarge: for arguments that make no sense.
        NetworkTimeout, ConnectionLost: if a TCP request or transfer stalls.
        WorkerError: if a receiving thread failed.

    Example:
        >>> result = compare_speed(count=50, requests=50, sizes=(1024,), repeats=1)
        >>> result.tcp_bulk[0].bytes_delivered == result.tcp_bulk[0].bytes_sent
        True
        >>> print(result)  # doctest: +SKIP
        per message on an open connection: UDP 1.1x faster ...
    """
    check_count(count, name="count", maximum=100_000)
    check_size(size, minimum=HEADER_SIZE, udp=True)
    check_count(requests, name="requests", maximum=100_000)
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise UsageError(
            _("sizes must be a sequence of message sizes in bytes, not {sizes!r}").format(
                sizes=sizes
            )
        )
    if len(sizes) > 16:
        raise UsageError(
            _("sizes has {n} entries: at most 16 keep the run short").format(n=len(sizes))
        )
    sizes = tuple(check_count(s, name=_("each of sizes"), maximum=MAX_MESSAGE) for s in sizes)
    check_count(budget, name="budget", minimum=1024, maximum=MAX_BUDGET)
    check_count(max_messages, name="max_messages", maximum=1_000_000)
    check_count(repeats, name="repeats", maximum=10)
    check_count(receive_buffer, name="receive_buffer", minimum=1, maximum=1 << 30)
    timeout = check_seconds(timeout, name="timeout", allow_zero=False, maximum=60.0)
    time_limit = check_seconds(time_limit, name="time_limit", allow_zero=False, maximum=600.0)

    # The loopback guard, once per call: the bulk transfers' ends live on
    # _HOST (the servers and ping check their own addresses).
    check_bind((_HOST, 0), what="compare_speed")
    started = time.perf_counter()
    with UDPEchoServer() as udp_server, TCPEchoServer() as tcp_server:
        udp_ping = ping(udp_server.address, protocol="udp", count=count, size=size, timeout=timeout)
        tcp_ping = ping(tcp_server.address, protocol="tcp", count=count, size=size, timeout=timeout)
        udp_requests, tcp_requests, phases = _requests(
            tcp_server, udp_server, requests, size, timeout, time.perf_counter() + time_limit
        )
    udp_bulk: list[BulkTransfer] = []
    tcp_bulk: list[BulkTransfer] = []
    deadline = time.perf_counter() + time_limit
    for repeat in range(repeats):
        for message_size in sizes:
            # At least one message, however small the budget against the size.
            messages = max(1, min(max_messages, budget // message_size))

            def tcp(message_size: int = message_size, messages: int = messages) -> None:
                stop = min(deadline, time.perf_counter() + POINT_TIME)
                tcp_bulk.append(_tcp_bulk(message_size, messages, timeout, stop))

            def udp(message_size: int = message_size, messages: int = messages) -> None:
                stop = min(deadline, time.perf_counter() + POINT_TIME)
                udp_size = min(message_size, MAX_UDP_PAYLOAD)
                udp_bulk.append(_udp_bulk(udp_size, messages, receive_buffer, timeout, stop))

            # Take turns going first, as the requests do.
            for step in (tcp, udp) if repeat % 2 == 0 else (udp, tcp):
                step()
    return SpeedComparison(
        udp_ping=udp_ping,
        tcp_ping=tcp_ping,
        udp_requests=udp_requests,
        tcp_requests=tcp_requests,
        tcp_connect_times=tuple(p[0] for p in phases),
        tcp_echo_times=tuple(p[1] for p in phases),
        tcp_close_times=tuple(p[2] for p in phases),
        udp_bulk=tuple(udp_bulk),
        tcp_bulk=tuple(tcp_bulk),
        elapsed=time.perf_counter() - started,
    )
