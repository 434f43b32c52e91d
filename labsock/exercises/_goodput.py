"""Exercise 5, part two: what stop-and-wait delivers per second, against loss, and against TCP.

:func:`measure_goodput` runs the student's ``rdt_send`` and ``rdt_receive``
(both ends) through real :class:`~labsock.ImpairedLink` relays at several
loss rates, and the same bytes over a TCP connection through a TCP link with
the same delay. Goodput is what the application receives: payload bytes
delivered, divided by the time the transfer took.

TCP gets the delay but no loss: a relay above TCP cannot drop segments, and
the kernel would repair any loss below the socket anyway (see
``labsock._endpoints.tcplink``). The figure says so.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time

from labsock._core.guard import check_bind, check_destination
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._endpoints.link import ImpairedLink
from labsock._results.practice import NOT_ATTEMPTED, GoodputResult, GoodputRow
from labsock.exercises._checks_reliable import RdtReceive, RdtSend, messages_for
from labsock.exercises._harness import CheckRun, StudentCall, describe
from labsock.exercises._udp_peers import udp_socket

__all__ = ["GoodputResult", "GoodputRow", "measure_goodput"]

# One transfer of a working stop-and-wait takes well under a second here; a
# stuck one is given up after _LIMIT s (or _STALL s without a datagram), and the
# transfers after it are not tried: the whole cell stays far below nbgrader's
# 30 s per-cell timeout.
_LIMIT = 5.0
_STALL = 1.5
# Where the TCP sink listens; through the loopback guard all the same.
_HOST = "127.0.0.1"


def _transfer(
    rdt_send: RdtSend,
    rdt_receive: RdtReceive,
    messages: list[bytes],
    loss: float,
    delay: float,
    timeout: float,
    seed: int,
) -> tuple[GoodputRow, bool, bool]:
    """One stop-and-wait transfer: the row, whether the code was attempted, whether it got stuck."""
    with CheckRun("goodput", N_("goodput")) as run:
        receiver = udp_socket(run)
        stop = threading.Event()
        rcall: StudentCall[object] = run.call(rdt_receive, receiver, stop, name="rdt_receive")
        link = ImpairedLink(receiver.getsockname()[:2], loss=loss, delay=delay, seed=seed)
        run.on_close(link.close)
        sender = udp_socket(run)
        start = time.perf_counter()
        scall: StudentCall[object] = run.call(
            rdt_send, sender, link.address, list(messages), timeout, name="rdt_send"
        )
        seen, last = 0, time.monotonic()
        while not scall.wait(0.05):
            now_seen = link.statistics().forward.received
            if now_seen != seen:
                seen, last = now_seen, time.monotonic()
            if time.monotonic() - last > _STALL or time.perf_counter() - start > _LIMIT:
                break
        elapsed = (scall.finished_at or time.perf_counter()) - start
        stop.set()
        rcall.wait(2.0)
        datagrams = link.statistics().forward.received
    if scall.not_implemented or rcall.not_implemented:
        return GoodputRow(loss, None, None, 0, NOT_ATTEMPTED), False, False
    problem = ""
    if not scall.finished:
        problem = _("rdt_send got stuck")
    elif scall.error is not None:
        problem = _("rdt_send raised {error}").format(error=describe(scall.error))
    elif rcall.result != messages:
        problem = _("not every message was delivered once, in order")
    if problem:
        return GoodputRow(loss, None, None, datagrams, problem), True, not scall.finished
    payload = sum(len(m) for m in messages)
    return GoodputRow(loss, elapsed, payload / elapsed, datagrams), True, False


def _tcp_goodput(messages: list[bytes], delay: float, repeats: int = 5) -> float | None:
    """Payload bytes per second over TCP through a TCP link with ``delay`` each way.

    Each transfer takes a few round trips only (connect, the data, the final
    "got it"), so one busy moment of the machine would weigh heavily: the
    transfer is made ``repeats`` times, on a new connection each, and the
    median time counts.
    """
    wire = b"".join(len(m).to_bytes(4, "big") + m for m in messages)
    times: list[float] = []
    # Checked before the CheckRun, which would take a refusal for a failed transfer.
    local = check_bind((_HOST, 0), what=_("the TCP goodput sink"), kind=socket.SOCK_STREAM)
    with CheckRun("goodput-tcp", N_("goodput over TCP")) as run:
        listener = run.own(socket.create_server(local))
        listener.settimeout(5.0)

        def sink() -> None:
            for _k in range(repeats):
                try:
                    conn, _peer = listener.accept()
                except OSError:
                    return
                with conn:
                    conn.settimeout(5.0)
                    got = 0
                    try:
                        while got < len(wire):
                            chunk = conn.recv(1 << 20)
                            if not chunk:
                                return
                            got += len(chunk)
                        conn.sendall(b"k")  # everything arrived
                    except OSError:
                        return

        run.worker(sink, "tcp-sink")
        link = ImpairedLink(listener.getsockname()[:2], protocol="tcp", delay=delay)
        run.on_close(link.close)
        target = check_destination(
            link.address, what=_("the TCP goodput client"), kind=socket.SOCK_STREAM
        )
        for _k in range(repeats):
            start = time.perf_counter()
            try:
                with socket.create_connection(target[:2], timeout=10.0) as client:
                    client.sendall(wire)
                    if client.recv(1) != b"k":
                        return None
            except OSError:
                return None
            times.append(time.perf_counter() - start)
    if not times:  # the check's own code failed (CheckRun kept the error): no TCP line
        return None
    return sum(len(m) for m in messages) / statistics.median(times)


def measure_goodput(
    rdt_send: RdtSend,
    rdt_receive: RdtReceive,
    *,
    losses: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3),
    messages: int = 60,
    delay: float = 0.001,
    timeout: float = 0.01,
    seed: int = 1,
) -> GoodputResult:
    """Measure stop-and-wait goodput at each loss rate, and TCP's over the same delay.

    Args:
        rdt_send, rdt_receive: the two ends of exercise 5.
        losses: loss rates to try (each direction of the link).
        messages: messages per transfer (varied sizes, up to 1,200 bytes).
        delay: seconds each datagram waits, each way (the round trip is twice that).
        timeout: what ``rdt_send`` is given as its retransmission timeout.
        seed: the link's seed, so a run can be repeated.

    Returns:
        A :class:`GoodputResult` (a table in a notebook; ``labsock.plots.goodput``
        draws it).
        While the functions still raise ``NotImplementedError`` it says
        "not attempted yet" and measures nothing.

    Example:
        >>> def rdt_send(sock, peer, messages, timeout):
        ...     raise NotImplementedError
        >>> measure_goodput(rdt_send, rdt_send).attempted
        False
    """
    payloads = messages_for(seed, messages)
    rows: list[GoodputRow] = []
    stuck = False
    for loss in losses:
        if stuck:
            rows.append(
                GoodputRow(loss, None, None, 0, _("not measured: the transfer above got stuck"))
            )
            continue
        row, attempted, stuck = _transfer(
            rdt_send, rdt_receive, payloads, loss, delay, timeout, seed
        )
        if not attempted:
            return GoodputResult(False, messages, sum(map(len, payloads)), delay, (), None)
        rows.append(row)
    tcp = _tcp_goodput(payloads, delay)
    note = "" if tcp is not None else _("the TCP transfer failed: no TCP line in the figure")
    return GoodputResult(True, messages, sum(map(len, payloads)), delay, tuple(rows), tcp, note)
