"""Head-of-line blocking, measured: a reliable in-order stream against plain datagrams.

TCP's own retransmissions cannot be shown on loopback without privileges:
loopback loses nothing, and a relay above TCP (``ImpairedLink``) only sees
bytes the kernel has already repaired. What *can* be shown honestly is the
same mechanism one layer up, over real lost datagrams: a minimal
reliable-delivery protocol over UDP through a lossy :class:`ImpairedLink`.

The sender numbers each message and sends one every ``interval`` seconds;
the receiver acknowledges every copy it gets (one ACK per sequence number,
selective, as TCP's SACK), and the sender sends a message again when its ACK
has not come back ``rto`` seconds after the last try. The receiver notes
when each message first arrived, and hands messages to its application
strictly in order, as a stream does: a message that arrived after a lost one
waits in the receiver until the lost one has been sent again and arrived.

From the one run come the two views of the lesson:

- **datagrams**: when each message's *first* transmission arrived (a message
  whose first copy was lost is simply missing, and delays nobody);
- **stream**: when each message was handed over in order: one loss holds up
  every message behind it until the retransmission lands.

Example:
    >>> run = head_of_line(count=40, loss=0.1, seed=3)
    >>> run.delivered == run.count          # the stream repairs every loss
    True
    >>> set(run.lost_originals) <= set(range(40))
    True
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

from labsock._core.errors import UsageError, WorkerError, os_errors
from labsock._core.i18n import gettext as _
from labsock._core.impair import Impairment
from labsock._core.validate import check_count, check_seconds
from labsock._endpoints.base import JOIN_TIMEOUT
from labsock._endpoints.link import ImpairedLink
from labsock._results.head_of_line import HeadOfLineResult, Message

__all__ = ["head_of_line"]

#: A message: sequence number, which transmission of it this is (1 = the first), padding.
_MESSAGE = struct.Struct("!IB")
#: An acknowledgement: the sequence number of a message that arrived.
_ACK = struct.Struct("!I")
_SIZE = 64
_MAX_COUNT = 2_000
_MAX_ATTEMPTS = 12
#: Seconds the whole run may take beyond sending every message once.
_GRACE = 5.0


class _Receiver:
    """The receiving end: acknowledges every copy, hands messages over in order."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.address = self.sock.getsockname()
        self.original: dict[int, float] = {}
        self.arrived: dict[int, float] = {}
        self.delivered: dict[int, float] = {}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="labsock-hol-receiver")
        self._thread.daemon = True
        self._thread.start()

    def _serve(self) -> None:
        waiting: set[int] = set()  # arrived, not yet handed over: behind a hole
        next_seq = 0
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError as exc:
                if not self._stop.is_set():
                    self.errors.append(_("receiver: {error}").format(error=exc))
                return
            now = time.perf_counter()
            if len(data) < _MESSAGE.size:
                continue
            seq, attempt = _MESSAGE.unpack_from(data)
            try:
                self.sock.sendto(_ACK.pack(seq), peer)  # every copy: the ACK may be lost too
            except OSError as exc:
                self.errors.append(_("receiver: ACK of #{seq}: {error}").format(seq=seq, error=exc))
            if attempt == 1:
                self.original[seq] = now
            if seq in self.arrived:
                continue  # a copy we already have
            self.arrived[seq] = now
            waiting.add(seq)
            # In order: hand over the next expected message and every one it unblocks.
            while next_seq in waiting:
                waiting.discard(next_seq)
                self.delivered[next_seq] = now
                next_seq += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(JOIN_TIMEOUT)
        self.sock.close()


def _send_all(
    sock: socket.socket, count: int, interval: float, rto: float, deadline: float
) -> tuple[list[float], list[int], list[str]]:
    """Send every message on schedule, resend the unacknowledged; (sent, attempts, errors)."""
    padding = bytes(_SIZE - _MESSAGE.size)
    sent = [0.0] * count
    attempts = [0] * count
    last_try = [0.0] * count
    acked = [False] * count
    unacked = 0
    errors: list[str] = []
    start = time.perf_counter()
    next_new = 0
    while (next_new < count or unacked) and time.perf_counter() < deadline:
        now = time.perf_counter()
        due = [
            seq
            for seq in range(next_new)
            if not acked[seq] and now - last_try[seq] >= rto and attempts[seq] < _MAX_ATTEMPTS
        ]
        if next_new < count and now >= start + next_new * interval:
            due.append(next_new)
            next_new += 1
            unacked += 1
        for seq in due:
            attempts[seq] += 1
            last_try[seq] = time.perf_counter()
            if attempts[seq] == 1:
                sent[seq] = last_try[seq]
            try:
                sock.send(_MESSAGE.pack(seq, min(attempts[seq], 255)) + padding)
            except OSError as exc:
                errors.append(_("sender: #{seq}: {error}").format(seq=seq, error=exc))
        if not any(attempts[s] < _MAX_ATTEMPTS for s in range(next_new) if not acked[s]) and (
            next_new == count
        ):
            break  # gave up on what is left
        wake = start + next_new * interval if next_new < count else now + rto
        ready = select.select([sock], [], [], max(0.0, min(wake - now, rto / 4)))[0]
        while ready:
            try:
                data = sock.recv(64)
            except (BlockingIOError, TimeoutError):
                break
            except OSError as exc:  # e.g. refused: the link is gone
                errors.append(_("sender: {error}").format(error=exc))
                break
            if len(data) >= _ACK.size:
                (seq,) = _ACK.unpack_from(data)
                if seq < count and not acked[seq]:
                    acked[seq] = True
                    unacked -= 1
            ready = select.select([sock], [], [], 0)[0]
    return sent, attempts, errors


def head_of_line(
    *,
    count: int = 100,
    interval: float = 0.005,
    loss: float = 0.05,
    delay: float = 0.005,
    rto: float | None = None,
    seed: int | str = 1,
) -> HeadOfLineResult:
    """Send ``count`` messages reliably through a lossy link; return both views.

    Messages go through an :class:`ImpairedLink` that drops ``loss`` of them
    (on their way to the receiver; the ACKs come back unharmed) and delays
    every datagram by ``delay`` each way. The sender resends a message whose
    ACK has not arrived ``rto`` seconds after its last try (default: three
    round trips, ``6 * delay``, at least 10 ms), up to 12 times. Everything
    is closed before this returns. The run is bounded: it stops 5 s after
    the last first send, whatever is still missing.

    Raises:
        UsageError: for a setting out of range.
    """
    count = check_count(count, name="count", maximum=_MAX_COUNT)
    interval = check_seconds(interval, name="interval", maximum=1.0)
    delay = check_seconds(delay, name="delay", maximum=1.0)
    if isinstance(loss, bool) or not isinstance(loss, (int, float)) or not 0 <= loss < 1:
        raise UsageError(
            _("loss must be a probability from 0 up to (not including) 1, not {loss!r}").format(
                loss=loss
            )
        )
    rto = max(0.01, 6 * delay) if rto is None else rto
    rto = check_seconds(rto, name="rto", allow_zero=False, maximum=5.0)
    receiver = _Receiver()
    started = time.perf_counter()
    try:
        with (
            ImpairedLink(
                receiver.address,
                forward=Impairment(loss=float(loss), delay=delay),
                backward=Impairment(delay=delay),
                seed=seed,
            ) as link,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        ):
            with os_errors("connect to", link.address):
                sock.connect(link.address)
            sock.setblocking(False)
            deadline = time.perf_counter() + count * interval + _GRACE
            sent, attempts, errors = _send_all(sock, count, interval, rto, deadline)
            link.wait_idle(timeout=max(1.0, 4 * delay))
            stats = link.statistics()
    finally:
        receiver.close()
    errors = [*errors, *receiver.errors]
    if any(a == 0 for a in attempts):
        raise WorkerError(_("the head-of-line run stopped before every message was sent once"))
    messages = tuple(
        Message(
            seq=seq,
            sent=sent[seq],
            attempts=attempts[seq],
            original=receiver.original.get(seq),
            arrived=receiver.arrived.get(seq),
            delivered=receiver.delivered.get(seq),
        )
        for seq in range(count)
    )
    return HeadOfLineResult(
        count=count,
        interval=interval,
        loss=float(loss),
        delay=delay,
        rto=rto,
        seed=seed,
        messages=messages,
        link=stats,
        elapsed=time.perf_counter() - started,
        errors=tuple(errors),
    )
