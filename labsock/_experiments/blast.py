"""``blast``: flood a deliberately slow receiver, and see what each protocol does.

A sender pushes ``count`` messages as fast as it can into a receiver that has
a small receive buffer and sleeps between reads. Over UDP the buffer fills
and the kernel drops what does not fit: nobody tells the sender. Over TCP the
receiver's window closes, flow control holds the sender back, and every byte
arrives, in order. Both run over real sockets on loopback; on Linux the
kernel's own drop counters are read back, so the loss is the kernel's word,
not an estimate.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from typing import Literal, NamedTuple

from labsock._core.errors import UsageError, WorkerError, os_errors
from labsock._core.guard import check_bind
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.validate import check_count, check_seconds, check_size
from labsock._endpoints.base import JOIN_TIMEOUT
from labsock._endpoints.kernel import udp_rcvbuf_errors, udp_socket_drops
from labsock._experiments.flood import REFUSED_SEND, FloodReceiver, finish
from labsock._results.blast import BlastResult

__all__ = ["blast"]

#: Who failed, when the receiving thread fails (flood.finish translates it).
_RECEIVING_THREAD = N_("the blast's receiving thread")

#: Largest TCP stream blast() sends (it is held in memory to check every byte).
MAX_TCP_BYTES = 64 << 20
#: Silence after the sender finished that means the receive queue is empty.
_IDLE = 0.1
_HEADER = struct.Struct("!I")
_HOST = "127.0.0.1"


# -- the kernel's counters (Linux) ---------------------------------------------


# -- the run --------------------------------------------------------------------


class _Settings(NamedTuple):
    """What :func:`blast` was asked for, validated: the same for both protocols."""

    messages: int  # blast's ``count`` (a tuple already has a ``count`` method)
    size: int
    receive_buffer: int
    read_delay: float
    send_buffer: int | None
    timeout: float


def _set_buffer(sock: socket.socket, option: int, size: int | None) -> int:
    if size is not None:
        sock.setsockopt(socket.SOL_SOCKET, option, size)
    return int(sock.getsockopt(socket.SOL_SOCKET, option))


def blast(
    *,
    protocol: Literal["udp", "tcp"] = "udp",
    count: int = 2000,
    size: int = 1024,
    receive_buffer: int = 4096,
    read_delay: float = 0.0002,
    send_buffer: int | None = None,
    timeout: float = 10.0,
) -> BlastResult:
    """Flood a slow receiver on loopback and report what arrived and what the kernel dropped.

    The receiver is a real socket on 127.0.0.1 with the requested
    ``SO_RCVBUF``, read by a thread that sleeps ``read_delay`` seconds after
    each read (one datagram, or up to ``size`` bytes of the stream). The
    sender sends ``count`` messages of ``size`` bytes as fast as it can:
    sequence-numbered datagrams over UDP, one ``sendall`` of ``count * size``
    bytes over TCP. Then the receiver drains what is left.

    Args:
        protocol: ``"udp"`` or ``"tcp"``.
        count: messages to send, 1 to 1,000,000.
        size: bytes per message (UDP: 4 to 65,507, the first 4 carry the
            sequence number; TCP: ``count * size`` at most 64 MiB).
        receive_buffer: ``SO_RCVBUF`` to ask for, in bytes (the kernel may
            double or clamp it: see ``effective_buffer``).
        read_delay: seconds the receiver sleeps after each read, 0 to 1.
        send_buffer: ``SO_SNDBUF`` for the sender, or None for the OS
            default. A small one over TCP makes ``sendall`` itself wait for
            the reader (otherwise the sender's kernel buffers a few MB).
        timeout: upper bound on the whole run, in seconds.

    Returns:
        A :class:`BlastResult`.

    Raises:
        UsageError, DatagramTooLarge: for arguments that make no sense.
        WorkerError: if the receiving thread failed unexpectedly.

    Example:
        >>> result = blast(protocol="udp", count=2000)
        >>> result.lost > 0          # a full buffer drops datagrams
        True
        >>> blast(protocol="tcp", count=200).lost
        0
    """
    if protocol not in ("udp", "tcp"):
        raise UsageError(
            _("protocol must be 'udp' or 'tcp', not {protocol!r}").format(protocol=protocol)
        )
    check_count(count, name="count", maximum=1_000_000)
    if protocol == "udp":
        check_size(size, minimum=_HEADER.size, udp=True)
    else:
        check_count(size, name="size", minimum=1, maximum=MAX_TCP_BYTES)
        if count * size > MAX_TCP_BYTES:
            raise UsageError(
                _(
                    "count * size = {total:,} bytes is too much for one blast: at most "
                    "{most:,} (the whole stream is kept to check every byte)"
                ).format(total=count * size, most=MAX_TCP_BYTES)
            )
    check_count(receive_buffer, name="receive_buffer", minimum=1, maximum=1 << 30)
    if send_buffer is not None:
        check_count(send_buffer, name="send_buffer", minimum=1, maximum=1 << 30)
    read_delay = check_seconds(read_delay, name="read_delay", maximum=1.0)
    timeout = check_seconds(timeout, name="timeout", allow_zero=False, maximum=60.0)

    # The loopback guard, once per call: both ends live on _HOST.
    check_bind((_HOST, 0), what="blast")
    run = _udp if protocol == "udp" else _tcp
    return run(_Settings(count, size, receive_buffer, read_delay, send_buffer, timeout))


def _check_receiver(receiver: FloodReceiver) -> None:
    if receiver.error is not None:
        raise WorkerError(
            _("the blast's receiving thread failed: {error!r}").format(error=receiver.error)
        ) from receiver.error


def _result(
    protocol: Literal["udp", "tcp"],
    settings: _Settings,
    receiver: FloodReceiver,
    *,
    effective_send_buffer: int,
    sent: int,
    received_when_sent: int,
    start: float,
    sent_at: float,
    timed_out: bool,
    send_errors: int = 0,
    kernel_drops: int | None = None,
    rcvbuf_errors: int | None = None,
) -> BlastResult:
    """The :class:`BlastResult` of a run: its settings, the receiver's counts, the sender's.

    ``start`` and ``sent_at`` are when the first send began and the last one
    returned (``perf_counter``); ``timed_out`` is the sender's, the
    receiver's own is added here.
    """
    return BlastResult(
        protocol=protocol,
        count=settings.messages,
        size=settings.size,
        read_delay=settings.read_delay,
        timeout=settings.timeout,
        requested_buffer=settings.receive_buffer,
        effective_buffer=receiver.effective_buffer,
        requested_send_buffer=settings.send_buffer,
        effective_send_buffer=effective_send_buffer,
        sent=sent,
        received=receiver.received,
        arrivals=tuple(receiver.arrivals),
        intact=receiver.intact,
        send_errors=send_errors,
        reads=receiver.reads,
        received_when_sent=received_when_sent,
        send_elapsed=sent_at - start,
        elapsed=max(receiver.last_at, sent_at) - start,
        kernel_drops=kernel_drops,
        rcvbuf_errors=rcvbuf_errors,
        timed_out=timed_out or receiver.timed_out,
    )


def _udp(settings: _Settings) -> BlastResult:
    count, size, receive_buffer, read_delay, send_buffer, timeout = settings
    filler = bytes(random.Random(size).randbytes(size - _HEADER.size))
    receiver = FloodReceiver()
    sender_done = threading.Event()
    deadline = time.perf_counter() + timeout

    def receive(sock: socket.socket) -> None:
        buf = bytearray(size + 1)  # one byte more: a longer datagram would show
        view = memoryview(buf)
        sock.settimeout(_IDLE)
        try:
            while True:
                if time.perf_counter() > deadline:
                    receiver.timed_out = True
                    return
                try:
                    n = sock.recv_into(buf)
                except TimeoutError:
                    if sender_done.is_set():
                        return  # the sender is done and the queue is empty
                    continue
                except ConnectionResetError:
                    continue  # Windows: an ICMP error about an earlier datagram
                receiver.reads += 1
                receiver.last_at = time.perf_counter()
                seq = _HEADER.unpack_from(buf)[0] if n >= _HEADER.size else -1
                if n == size and 0 <= seq < count and view[_HEADER.size : n] == filler:
                    receiver.arrivals.append(seq)
                    receiver.received += 1
                else:
                    receiver.intact = False
                if read_delay:
                    time.sleep(read_delay)
        except BaseException as exc:
            receiver.error = exc
        finally:
            view.release()

    with os_errors("set up the blast on", (_HOST, 0)):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx: socket.socket | None = None
    thread: threading.Thread | None = None
    try:
        with os_errors("set up the blast on", (_HOST, 0)):
            receiver.effective_buffer = _set_buffer(rx, socket.SO_RCVBUF, receive_buffer)
            rx.bind((_HOST, 0))
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            effective_send = _set_buffer(tx, socket.SO_SNDBUF, send_buffer)
            if send_buffer is None and effective_send < size + 1024:
                # Some defaults are smaller than one datagram (macOS: 9,216
                # bytes), and a datagram larger than SO_SNDBUF is refused.
                effective_send = _set_buffer(tx, socket.SO_SNDBUF, size + 1024)
            tx.connect(rx.getsockname())
            tx.settimeout(timeout)
        errors_before = udp_rcvbuf_errors()
        thread = threading.Thread(target=receive, args=(rx,), name="labsock-blast-rx", daemon=True)
        thread.start()

        sent = send_errors = 0
        message = bytearray(_HEADER.size) + filler
        timed_out = False
        start = time.perf_counter()
        for seq in range(count):
            if seq & 255 == 0 and time.perf_counter() > deadline:
                timed_out = True
                break
            _HEADER.pack_into(message, 0, seq)
            try:
                tx.send(message)
            except TimeoutError:
                timed_out = True  # a send blocked for the whole timeout
                break
            except OSError as exc:
                # ENOBUFS/EAGAIN: the kernel refused this one, and said so.
                if exc.errno not in REFUSED_SEND:
                    with os_errors("send to", rx.getsockname()):
                        raise
                send_errors += 1
                continue
            sent += 1
        sent_at = time.perf_counter()
        received_when_sent = receiver.received
        sender_done.set()
        thread.join(timeout + JOIN_TIMEOUT)
        _check_receiver(receiver)
        drops = udp_socket_drops(rx)
        errors_after = udp_rcvbuf_errors()
    finally:
        sender_done.set()
        # Normally the thread is done by now; on an error, wake it at once.
        finish(thread, receiver, [rx, tx], failed=True, what=_RECEIVING_THREAD)

    return _result(
        "udp",
        settings,
        receiver,
        effective_send_buffer=effective_send,
        sent=sent,
        received_when_sent=received_when_sent,
        start=start,
        sent_at=sent_at,
        timed_out=timed_out,
        send_errors=send_errors,
        kernel_drops=drops,
        rcvbuf_errors=(
            errors_after - errors_before
            if errors_after is not None and errors_before is not None
            else None
        ),
    )


def _tcp(settings: _Settings) -> BlastResult:
    count, size, receive_buffer, read_delay, send_buffer, timeout = settings
    total = count * size
    payload = random.Random(total).randbytes(total)
    receiver = FloodReceiver()
    deadline = time.perf_counter() + timeout

    def receive(listener: socket.socket) -> None:
        expected = memoryview(payload)
        buf = bytearray(size)
        view = memoryview(buf)
        try:
            listener.settimeout(timeout)
            conn, _ = listener.accept()
            with conn:
                receiver.effective_buffer = int(
                    conn.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
                )
                while True:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        receiver.timed_out = True
                        return
                    conn.settimeout(left)
                    try:
                        n = conn.recv_into(buf)
                    except TimeoutError:
                        receiver.timed_out = True
                        return
                    receiver.reads += 1
                    receiver.last_at = time.perf_counter()
                    if n == 0:
                        return  # the sender's FIN: everything has arrived
                    at = receiver.received
                    if view[:n] != expected[at : at + n]:
                        receiver.intact = False
                    receiver.received += n
                    if read_delay:
                        time.sleep(read_delay)
        except BaseException as exc:
            receiver.error = exc
        finally:
            view.release()
            expected.release()

    with os_errors("set up the blast on", (_HOST, 0)):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tx: socket.socket | None = None
    thread: threading.Thread | None = None
    try:
        with os_errors("set up the blast on", (_HOST, 0)):
            # Set before listen(): the accepted socket inherits it, and the
            # window scale of the handshake is chosen from it.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            listener.bind((_HOST, 0))
            listener.listen(1)
            tx = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            effective_send = _set_buffer(tx, socket.SO_SNDBUF, send_buffer)
            tx.settimeout(timeout)
        thread = threading.Thread(
            target=receive, args=(listener,), name="labsock-blast-rx", daemon=True
        )
        thread.start()
        timed_out = False
        failure: OSError | None = None
        address = listener.getsockname()
        with os_errors("connect to", address):
            tx.connect(address)
        start = time.perf_counter()
        try:
            tx.settimeout(max(deadline - start, 1e-3))
            tx.sendall(payload)
            tx.shutdown(socket.SHUT_WR)
        except TimeoutError:
            timed_out = True
        except OSError as exc:
            failure = exc  # raised below, unless the receiver's failure explains it
        sent_at = time.perf_counter()
        received_when_sent = receiver.received
        thread.join(timeout + JOIN_TIMEOUT)
        _check_receiver(receiver)
        if isinstance(failure, (ConnectionResetError, BrokenPipeError)) and receiver.timed_out:
            # Both ends share one deadline; on a busy machine the receiver can
            # reach it first and close with data unread, which resets the
            # connection under the sender's last send. That is the timeout.
            timed_out, failure = True, None
        if failure is not None:
            with os_errors("blast", address):
                raise failure
    finally:
        # Normally the thread is done by now; on an error, wake it at once.
        finish(thread, receiver, [listener, tx], failed=True, what=_RECEIVING_THREAD)

    return _result(
        "tcp",
        settings,
        receiver,
        effective_send_buffer=effective_send,
        sent=total,
        received_when_sent=received_when_sent,
        start=start,
        sent_at=sent_at,
        timed_out=timed_out,
    )
