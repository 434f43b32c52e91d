"""ImpairedLink: a real relay between real sockets that drops, delays, copies and reorders.

Students on Binder or a JupyterHub have no root, so ``tc netem`` is out of
reach. This relay is how the course shows a bad network: clients send to
``link.address``, the link passes each datagram on to the target (an echo
server, say) and the replies back to the client, and on the way it does
what a seeded :class:`~labsock._impair.ImpairmentModel` decides. The
datagrams really cross the kernel twice more, and the delays are real
waits, so what ``ping`` measures through a link is measured, not invented.

How it works (the UDP relay)::

    client --> [ link socket ] --decide--> held? --> [ upstream socket ] --> target
    client <-- [ link socket ] <--held?<--decide-- [ upstream socket ] <-- target

Each client gets its own upstream socket, as a NAT does, so a reply is
matched back to the client whose request caused it. One thread waits on the
link socket and one on each client's upstream socket, each blocked in a
single ``recv`` as a bare relay loop would be; held datagrams sit in a heap
that one more thread releases on time. A link with no impairment sends each
datagram on at once: nothing is queued, nothing is copied, and nothing
takes a lock (see ``_UDPRelay``).

``protocol="tcp"`` relays a byte stream instead (see ``_tcplink``); it can
only add delay and limit bandwidth.
"""

from __future__ import annotations

import heapq
import itertools
import random
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import fields
from operator import itemgetter
from typing import Any, Literal

from labsock._endpoint import Endpoint, close_socket, format_address, wake_receiver
from labsock._errors import UsageError, os_errors
from labsock._impair import (
    DirectionStats,
    Impairment,
    ImpairmentModel,
    LinkEvent,
    LinkStats,
    direction_rng,
)
from labsock._probe import MAGIC
from labsock._servers import resolve
from labsock._tcplink import TCPRelay, check_bandwidth, check_stream_settings
from labsock._validate import check_address, check_count, check_host, check_port

__all__ = ["DEFAULT_KEEP_EVENTS", "DIRECTIONS", "ImpairedLink"]

#: Directions, by index: 0 is client -> target, 1 target -> client.
DIRECTIONS = ("forward", "backward")
FORWARD, BACKWARD = 0, 1

#: How many per-datagram events a link keeps by default (the latest ones).
DEFAULT_KEEP_EVENTS = 100_000

_RECV_SIZE = 65_536
# Each client has an upstream socket and a thread (see the module docstring);
# past this many clients the one heard from least recently is forgotten, as a
# NAT forgets an idle mapping.
_MAX_CLIENTS = 64
# Every blocking wait ends at least this often (close() wakes them at once on
# Linux; the timeout is the backstop elsewhere).
_IDLE = 1.0

# Counters live in plain lists, one slot per DirectionStats field.
_FIELDS = tuple(f.name for f in fields(DirectionStats))
_RECEIVED, _FORWARDED, _DROPPED, _DUPLICATED, _DELAYED, _REORDERED, _HELD, _FAILED = (
    _FIELDS.index(name)
    for name in (
        "received",
        "forwarded",
        "dropped",
        "duplicated",
        "delayed",
        "reordered",
        "held",
        "failed",
    )
)
_BYTES_IN, _BYTES_OUT = _FIELDS.index("bytes_in"), _FIELDS.index("bytes_out")

# Events keep a datagram's first bytes (probe magic + seq), decoded when asked:
# decoding every datagram on the way would slow the relay for nothing.
_PEEK = len(MAGIC) + 4
_PASS = (0.0,)  # the fate of every datagram on a perfect direction

_SETTINGS = ("loss", "delay", "jitter", "reorder", "duplicate")


class _Flow:
    """One client: its address, its upstream socket, what its datagrams did.

    Which thread writes what (no lock on the perfect path, see ``_UDPRelay``):
    the link's receiving thread ``seen`` and ``forward_index``; the flow's own
    thread ``passed``; ``pending`` and ``max_released`` only under the lock.
    """

    __slots__ = (
        "address",
        "client",
        "forward_index",
        "gone",
        "max_released",
        "passed",
        "pending",
        "seen",
        "upstream",
    )

    def __init__(self, address: Any, upstream: socket.socket, now: float) -> None:
        self.address = address  # as recvfrom gave it (IPv6 adds flow info, scope)
        self.client: tuple[str, int] = (address[0], address[1])
        self.upstream = upstream
        self.seen = now  # when the client last sent: the least recent is forgotten first
        self.forward_index = 0
        # Replies passed straight through by this flow's thread: (count, bytes).
        self.passed: tuple[int, int] = (0, 0)
        # Per direction: copies held in the link now, and the highest arrival
        # number released so far (what reordering is judged on).
        self.pending = [0, 0]
        self.max_released = [-1, -1]
        self.gone = False  # forgotten or closing: its thread ends


class _Passed:
    """Datagrams one thread passed straight through: ``(count, bytes)``, one tuple.

    One attribute store per datagram, read whole by ``statistics()`` on any
    thread: never torn, no lock (a lock per datagram cost about 1 µs of each
    round trip through the link; see benchmarks/).
    """

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: tuple[int, int] = (0, 0)


class _UDPRelay:
    """The datagram relay: a blocking thread per socket, and one for held datagrams.

    * The link's thread waits in ``recvfrom`` on the socket clients send to,
      and passes each datagram on through the client's upstream socket
      (made, with its thread, for the client's first datagram).
    * Each client's thread waits in ``recv`` on its upstream socket and
      passes the target's replies back to the client.
    * A datagram the model holds goes into a heap that one more thread
      (started the first time something is held) releases on time.

    A thread blocked in one socket costs one system call per datagram, as a
    bare relay loop does; one thread waiting on every socket at once (epoll)
    added a wait per datagram and about 5 µs to each round trip through the
    link (benchmarks/README.md). A perfect direction passes a datagram on
    without a lock: its thread counts it in its own ``_Passed`` tuple and
    sends it. Everything else (impaired datagrams, held ones, failures) is
    counted under the lock, and a direction of a client with copies still
    held takes that path too, so a held datagram is never overtaken uncounted.
    """

    def __init__(
        self,
        owner: ImpairedLink,
        host: str,
        port: int,
        target: tuple[socket.AddressFamily, Any],
        models: list[ImpairmentModel],
        keep_events: int,
    ) -> None:
        self._owner = owner
        self._target_family, self._target_sockaddr = target
        self._models = models
        self._lock = threading.Lock()
        self._timer_wake = threading.Condition(self._lock)
        # Guarded by the lock: everything not passed straight through.
        self._counts = [[0] * len(_FIELDS), [0] * len(_FIELDS)]
        self._clients_seen = 0
        self._unreachable = 0
        self._stopping = False
        self._timer_started = False
        self._heap: list[tuple[Any, ...]] = []
        self._tiebreak = itertools.count()
        # Written only by the link's thread (under the lock, so that
        # statistics() can walk them): client address -> flow, and every flow
        # whose thread still runs, with the replies of finished ones folded in.
        self._flows: dict[Any, _Flow] = {}
        self._live: set[_Flow] = set()
        self._retired = (0, 0)
        self._forward_passed = _Passed()
        # Per direction: is it perfect now? Read per datagram, so cheaper than
        # the model's property; configure() refreshes it (settings_changed).
        self._perfect = [model.passthrough for model in models]
        self._events: deque[tuple[Any, ...]] | None = (
            deque(maxlen=keep_events) if keep_events else None
        )

        family, sockaddr = resolve(host, port, socket.SOCK_DGRAM)
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            with os_errors("bind", (host, port)):
                self._sock.bind(sockaddr)
            self.address: tuple[str, int] = self._sock.getsockname()[:2]
        except BaseException:
            self._sock.close()
            raise

    # -- the threads ---------------------------------------------------------
    def run(self) -> None:
        """The link's thread: client -> target."""
        recvfrom_into = self._sock.recvfrom_into
        buf = bytearray(_RECV_SIZE)
        view = memoryview(buf)
        closed = self._owner._closed.is_set
        clock = time.perf_counter
        flows = self._flows
        perfect = self._perfect
        events = self._events.append if self._events is not None else None
        passed = self._forward_passed
        count = size_total = 0
        try:
            while True:
                try:
                    # Blocking: close() wakes it (shutdown + a wake datagram).
                    size, client = recvfrom_into(buf)
                except ConnectionResetError:
                    # Windows: an ICMP "port unreachable" for an earlier reply
                    # to a client that has gone away. Not our problem.
                    continue
                if closed():
                    return
                now = clock()
                flow = flows.get(client)
                if flow is None:
                    flow = self._new_flow(client, now)
                    if flow is None:
                        continue
                else:
                    flow.seen = now
                index = flow.forward_index
                flow.forward_index = index + 1
                if not perfect[FORWARD] or flow.pending[FORWARD]:
                    self._arrive(flow, FORWARD, bytes(view[:size]), index, now)
                    continue
                # The perfect path: count, keep the event, send, from the
                # receive buffer (no copy). Counting comes before the send, so
                # statistics() never lags behind what a client has received.
                count += 1
                size_total += size
                passed.counts = (count, size_total)
                if events is not None:
                    peek = buf[: _PEEK if size > _PEEK else size]
                    events((now, FORWARD, flow.client, index, peek, size, _PASS, False))
                try:
                    flow.upstream.send(view[:size])
                except OSError:
                    self._passed_failed(flow, FORWARD, view[:size])
        finally:
            view.release()

    def _serve_flow(self, flow: _Flow) -> None:
        """A client's thread: target -> client."""
        recv_into = flow.upstream.recv_into
        sendto = self._sock.sendto
        address, client = flow.address, flow.client
        buf = bytearray(_RECV_SIZE)
        view = memoryview(buf)
        clock = time.perf_counter
        perfect = self._perfect
        pending = flow.pending
        events = self._events.append if self._events is not None else None
        count = size_total = index = 0
        try:
            while True:
                try:
                    size = recv_into(buf)
                except BlockingIOError:  # _IDLE passed with nothing to read
                    if flow.gone:
                        return
                    continue
                except ConnectionRefusedError:
                    # The target's kernel said "port unreachable": nothing
                    # listens there. Counted, so a student can see why.
                    with self._lock:
                        self._unreachable += 1
                    continue
                except OSError:
                    return  # closed under us
                if flow.gone:
                    return
                now = clock()
                if not perfect[BACKWARD] or pending[BACKWARD]:
                    self._arrive(flow, BACKWARD, bytes(view[:size]), index, now)
                    index += 1
                    continue
                count += 1
                size_total += size
                flow.passed = (count, size_total)
                if events is not None:
                    peek = buf[: _PEEK if size > _PEEK else size]
                    events((now, BACKWARD, client, index, peek, size, _PASS, False))
                index += 1
                try:
                    sendto(view[:size], address)
                except OSError:
                    self._passed_failed(flow, BACKWARD, view[:size])
        finally:
            view.release()
            with self._lock:
                done, done_bytes = self._retired
                self._retired = (done + flow.passed[0], done_bytes + flow.passed[1])
                self._live.discard(flow)
            close_socket(flow.upstream)

    def _release_held(self) -> None:
        """The timer's thread: sends each held copy when its time comes."""
        heap = self._heap
        wake = self._timer_wake
        closed = self._owner._closed.is_set
        clock = time.perf_counter
        with wake:
            while not closed():
                if not heap:
                    wake.wait(_IDLE)
                    continue
                due = heap[0][0] - clock()
                if due > 0.0:
                    wake.wait(min(due, _IDLE))
                    continue
                _, _, flow, direction, data, index, first = heapq.heappop(heap)
                self._emit_locked(flow, direction, data, index, first, held=True)
                # Only now, after the send: the flow's thread passes datagrams
                # straight through again once nothing of its own is held.
                flow.pending[direction] -= 1

    # -- under the lock --------------------------------------------------------
    def _new_flow(self, client: Any, now: float) -> _Flow | None:
        upstream = socket.socket(self._target_family, socket.SOCK_DGRAM)
        try:
            # connect() on UDP only fixes the peer: the kernel then delivers
            # only the target's datagrams here, and reports "unreachable".
            upstream.connect(self._target_sockaddr)
            _receive_timeout(upstream, _IDLE)
        except OSError:
            upstream.close()
            with self._lock:
                self._counts[FORWARD][_RECEIVED] += 1
                self._counts[FORWARD][_FAILED] += 1
            return None
        flow = _Flow(client, upstream, now)
        with self._lock:
            if self._stopping:
                upstream.close()
                return None
            if len(self._flows) >= _MAX_CLIENTS:
                oldest = min(self._flows.values(), key=lambda f: f.seen)
                del self._flows[oldest.address]
                _stop_flow(oldest)
            self._flows[client] = flow
            self._live.add(flow)
            self._clients_seen += 1
            owner = self._owner
            owner._threads[:] = [t for t in owner._threads if t.is_alive()]
            owner._start_worker(
                lambda: self._serve_flow(flow),
                f"udp-link-{self.address[1]}-client-{self._clients_seen}",
            )
        return flow

    def _arrive(self, flow: _Flow, direction: int, data: bytes, index: int, now: float) -> None:
        """An impaired direction: ask the model, then count, drop, hold or send."""
        with self._lock:
            decision = self._models[direction].decide(now)
            holds = decision.holds
            counts = self._counts[direction]
            counts[_RECEIVED] += 1
            counts[_BYTES_IN] += len(data)
            if not holds:
                counts[_DROPPED] += 1
            elif len(holds) > 1:
                counts[_DUPLICATED] += 1
            if self._events is not None:
                self._events.append(
                    (
                        now,
                        direction,
                        flow.client,
                        index,
                        data[:_PEEK],
                        len(data),
                        holds,
                        decision.express,
                    )
                )
            if not holds:
                return
            first = decision.first
            held = 0
            for copy, hold in enumerate(holds):
                if hold <= 0.0:
                    self._emit_locked(flow, direction, data, index, copy == first, held=False)
                else:
                    heapq.heappush(
                        self._heap,
                        (
                            now + hold,
                            next(self._tiebreak),
                            flow,
                            direction,
                            data,
                            index,
                            copy == first,
                        ),
                    )
                    held += 1
            if held:
                counts[_DELAYED] += 1
                counts[_HELD] += held
                flow.pending[direction] += held
                if not self._timer_started and not self._stopping:
                    self._timer_started = True
                    self._owner._start_worker(
                        self._release_held, f"udp-link-{self.address[1]}-timer"
                    )
                self._timer_wake.notify()

    def _emit_locked(
        self, flow: _Flow, direction: int, data: bytes, index: int, first: bool, held: bool
    ) -> None:
        """Count a copy as forwarded, then send it (the caller holds the lock).

        Sending under the lock keeps the order on the wire the order counted:
        no other copy of this client's in this direction can slip in between.
        """
        counts = self._counts[direction]
        if held:
            counts[_HELD] -= 1
        counts[_FORWARDED] += 1
        counts[_BYTES_OUT] += len(data)
        if first:
            # RFC 4737, as ping counts it: a datagram is reordered when a
            # later one from the same client already went on before it.
            # (Datagrams passed straight through need no entry here: they go
            # only while nothing of the client's is held, so none overtakes.)
            if index < flow.max_released[direction]:
                counts[_REORDERED] += 1
            else:
                flow.max_released[direction] = index
        if not self._send_locked(flow, direction, data):
            counts[_FORWARDED] -= 1
            counts[_BYTES_OUT] -= len(data)
            counts[_FAILED] += 1

    def _passed_failed(self, flow: _Flow, direction: int, data: memoryview) -> None:
        """The perfect path's send failed: retry as the slow path would, else count it failed."""
        with self._lock:
            if not self._send_locked(flow, direction, data):
                counts = self._counts[direction]
                counts[_FORWARDED] -= 1
                counts[_BYTES_OUT] -= len(data)
                counts[_FAILED] += 1

    def _send_locked(self, flow: _Flow, direction: int, data: bytes | memoryview) -> bool:
        if direction == BACKWARD:
            try:
                self._sock.sendto(data, flow.address)
            except OSError:
                return False  # full buffer, or the client vanished (Windows)
            return True
        for _attempt in range(2):
            try:
                flow.upstream.send(data)
            except ConnectionRefusedError:
                # An earlier datagram bounced ("port unreachable"); Linux
                # reports it on this send, which did not go out: count, retry.
                self._unreachable += 1
                continue
            except OSError:
                return False  # full buffer, or the flow was forgotten
            return True
        return False

    # -- for the owner -----------------------------------------------------
    def settings_changed(self) -> None:
        """The models' settings changed: the next datagram goes by them."""
        self._perfect[:] = [model.passthrough for model in self._models]

    def statistics(self) -> LinkStats:
        with self._lock:
            forward = list(self._counts[FORWARD])
            backward = list(self._counts[BACKWARD])
            _add_passed(forward, self._forward_passed.counts)
            count, size = self._retired
            for flow in self._live:
                flow_count, flow_size = flow.passed
                count += flow_count
                size += flow_size
            _add_passed(backward, (count, size))
            return LinkStats(
                "udp",
                DirectionStats(*forward),
                DirectionStats(*backward),
                clients=self._clients_seen,
                active=len(self._flows),
                unreachable=self._unreachable,
            )

    def events(self) -> list[LinkEvent]:
        # list() of a deque runs in C without letting another thread append
        # midway. The threads append as they go, so sort by arrival time.
        raw = sorted(self._events or (), key=itemgetter(0))
        return [
            LinkEvent(t, DIRECTIONS[d], client, index, _probe_seq(peek), size, holds, express)
            for t, d, client, index, peek, size, holds, express in raw
        ]

    def wake(self) -> None:
        with self._lock:
            self._stopping = True
            flows = list(self._live)
            self._timer_wake.notify_all()
        for flow in flows:
            _stop_flow(flow)
        wake_receiver(self._sock, self.address)

    def release(self) -> None:
        # Held datagrams die with the link; their count stays in "held".
        with self._lock:
            self._heap.clear()
            flows = list(self._live) + list(self._flows.values())
            self._flows.clear()
        for flow in flows:
            close_socket(flow.upstream)
        close_socket(self._sock)


def _add_passed(counts: list[int], passed: tuple[int, int]) -> None:
    """Fold datagrams passed straight through into a direction's counters."""
    count, size = passed
    counts[_RECEIVED] += count
    counts[_FORWARDED] += count
    counts[_BYTES_IN] += size
    counts[_BYTES_OUT] += size


def _stop_flow(flow: _Flow) -> None:
    """Make a flow's thread end: on Linux shutdown wakes its recv at once."""
    flow.gone = True
    try:
        flow.upstream.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected, or already closed: the thread ends on its own


def _receive_timeout(sock: socket.socket, seconds: float) -> None:
    """Make a blocking socket's waits end after ``seconds`` (``SO_RCVTIMEO``).

    The socket stays blocking for Python (one system call per ``recv``, no
    ``poll`` first, as ``settimeout`` would add); a wait that runs out raises
    ``BlockingIOError``. Where the option cannot be set, waits are woken by
    ``shutdown`` alone.
    """
    if sys.platform == "win32":
        value = struct.pack("I", int(seconds * 1000))
    else:
        whole = int(seconds)
        value = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    except OSError:
        pass


class ImpairedLink(Endpoint):
    """A relay that drops, delays, duplicates and reorders, between real sockets.

    Clients send to ``link.address`` instead of the target; the link passes
    every datagram on to ``target`` and every reply back, impairing both
    directions. Use it to see what loss and reordering do to a protocol,
    without root rights (``tc netem`` needs them).

    Args:
        target: ``(host, port)`` the link passes datagrams on to, e.g. an
            echo server's ``.address``.
        loss, delay, jitter, reorder, duplicate: the impairment, applied to
            **both** directions (requests and replies) unless ``forward`` or
            ``backward`` replaces it for one. See :class:`Impairment`: delay
            is a minimum, jitter adds a uniform extra of up to ``jitter``
            seconds, reorder lets a datagram skip the delay (needs delay).
            A reply to a request that had ``delay`` waits ``delay`` again:
            the round trip grows by twice the delay.
        seed: makes the link reproducible: the same seed and the same
            traffic drop, copy and hold exactly the same datagrams. ``None``
            draws one at random; ``link.seed`` tells which, to replay it.
        host, port: where the link listens; port 0 lets the OS pick.
        forward: an :class:`Impairment` for client -> target only.
        backward: an :class:`Impairment` for target -> client only
            (``Impairment()`` is a perfect direction).
        protocol: ``"udp"`` (default) or ``"tcp"``. A TCP link relays a byte
            stream and can only add ``delay`` (and a ``bandwidth`` limit):
            loss, jitter, reordering and duplication are refused, because a
            relay above TCP cannot emulate them; the kernel repairs loss
            below the socket and hands over an in-order stream.
        bandwidth: TCP only: bytes per second each direction may carry
            (``None``: no limit).
        keep_events: how many per-datagram records :meth:`events` keeps
            (the latest ones; 0 keeps none).

    Raises:
        UsageError: bad settings (with what to use instead).
        AddressInUse, PermissionDenied, HostNotFound: the link cannot bind.

    Example:
        >>> from labsock import UDPEchoServer, ping
        >>> with UDPEchoServer() as server, ImpairedLink(server.address, loss=0.5, seed=1) as link:
        ...     result = ping(link.address, count=20, timeout=0.05)
        ...     stats = link.statistics()
        >>> result.lost == 20 - result.received > 0
        True
        >>> stats.forward.dropped + stats.backward.dropped == result.lost
        True
    """

    kind = "impaired link"

    def __init__(
        self,
        target: tuple[str, int],
        *,
        loss: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        reorder: float = 0.0,
        duplicate: float = 0.0,
        seed: int | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        forward: Impairment | None = None,
        backward: Impairment | None = None,
        protocol: Literal["udp", "tcp"] = "udp",
        bandwidth: float | None = None,
        keep_events: int = DEFAULT_KEEP_EVENTS,
    ) -> None:
        super().__init__()
        # Every argument is checked before any socket or thread exists.
        target_host, target_port = check_address(target, name="target")
        check_host(target_host, name="target host")
        self._host = check_host(host)
        check_port(port)
        if protocol not in ("udp", "tcp"):
            raise UsageError(f"protocol must be 'udp' or 'tcp', not {protocol!r}")
        check_count(keep_events, name="keep_events", minimum=0, maximum=10_000_000)
        if seed is None:
            seed = random.SystemRandom().randrange(1 << 32)
        elif isinstance(seed, bool) or not isinstance(seed, (int, str)):
            raise UsageError(f"seed must be a whole number or a string, not {seed!r}")
        both = Impairment(loss, delay, jitter, reorder, duplicate)
        settings = [
            _checked_direction(forward, "forward") or both,
            _checked_direction(backward, "backward") or both,
        ]
        if protocol == "tcp":
            _check_stream(settings)
            bandwidth = check_bandwidth(bandwidth)
        elif bandwidth is not None:
            raise UsageError(
                "bandwidth= is for TCP links (protocol='tcp'); a UDP link limits nothing "
                "but can drop and delay: use loss= and delay="
            )
        self.seed: int | str = seed
        self.protocol: str = protocol
        self.target: tuple[str, int] = (target_host, target_port)
        self._configure_lock = threading.Lock()
        self._models = [
            ImpairmentModel(value, direction_rng(seed, name))
            for value, name in zip(settings, DIRECTIONS, strict=True)
        ]
        kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
        resolved = resolve(target_host, target_port, kind)
        self._relay: _UDPRelay | TCPRelay
        if protocol == "udp":
            self._relay = _UDPRelay(self, host, port, resolved, self._models, keep_events)
            self._start_worker(self._relay.run, f"udp-link-{self._relay.address[1]}")
        else:
            self._relay = TCPRelay(self, host, port, resolved, self._models, bandwidth)
            self._start_worker(self._relay.run, f"tcp-link-{self._relay.address[1]}")
        self._register()

    # -- where ---------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` where clients send to reach the target through the link."""
        self._check_open("get the address of")
        return self._relay.address

    @property
    def host(self) -> str:
        return self._relay.address[0]

    @property
    def port(self) -> int:
        return self._relay.address[1]

    # -- settings ------------------------------------------------------------
    @property
    def forward(self) -> Impairment:
        """The impairment applied to client -> target datagrams now."""
        return self._models[FORWARD].settings

    @property
    def backward(self) -> Impairment:
        """The impairment applied to target -> client datagrams (the replies) now."""
        return self._models[BACKWARD].settings

    def configure(
        self,
        *,
        loss: float | None = None,
        delay: float | None = None,
        jitter: float | None = None,
        reorder: float | None = None,
        duplicate: float | None = None,
        forward: Impairment | None = None,
        backward: Impairment | None = None,
    ) -> None:
        """Change the impairment of a running link; the next datagram sees it.

        Named settings change in both directions (the others keep their
        values); ``forward=``/``backward=`` replace one direction's settings
        whole. Everything is checked first: on a bad value nothing changes.
        Datagrams already held keep the release time they were given.

        Raises:
            UsageError: a bad value, or (TCP) a setting TCP cannot emulate.

        Example:
            >>> from labsock import UDPEchoServer
            >>> with UDPEchoServer() as server, ImpairedLink(server.address) as link:
            ...     link.configure(loss=0.25, delay=0.01)
            ...     link.forward
            Impairment(loss=0.25, delay=0.01, jitter=0.0, reorder=0.0, duplicate=0.0)
        """
        self._check_open("configure")
        given = {
            name: value
            for name, value in zip(
                _SETTINGS, (loss, delay, jitter, reorder, duplicate), strict=True
            )
            if value is not None
        }
        overrides = (
            _checked_direction(forward, "forward"),
            _checked_direction(backward, "backward"),
        )
        with self._configure_lock:
            new = [
                override or model.settings.replace(**given)
                for override, model in zip(overrides, self._models, strict=True)
            ]
            if self.protocol == "tcp":
                _check_stream(new)
            for model, value in zip(self._models, new, strict=True):
                model.settings = value
            if isinstance(self._relay, _UDPRelay):
                self._relay.settings_changed()

    # -- what happened ---------------------------------------------------------
    def statistics(self) -> LinkStats:
        """An immutable snapshot of what the link did, per direction.

        Compare it with what the receiver saw: ``ping``'s ``lost`` is the
        link's ``dropped`` (both directions) when the kernel lost nothing.
        """
        return self._relay.statistics()

    def events(self, direction: str | None = None) -> tuple[LinkEvent, ...]:
        """The fate of each datagram, oldest first (the latest ``keep_events``).

        ``direction`` keeps only ``"forward"`` or ``"backward"`` events. A
        TCP link records none. For a ping, ``event.seq`` is the probe number:

        >>> from labsock import UDPEchoServer, ping
        >>> with UDPEchoServer() as server, ImpairedLink(server.address, loss=0.3, seed=4) as link:
        ...     result = ping(link.address, count=10, timeout=0.05)
        ...     lost = {e.seq for e in link.events() if e.dropped}
        >>> lost == set(result.lost_seqs)
        True
        """
        if direction is not None and direction not in DIRECTIONS:
            raise UsageError(f"direction must be 'forward', 'backward' or None, not {direction!r}")
        events = self._relay.events()
        return tuple(e for e in events if direction is None or e.direction == direction)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no datagram is held in the link; False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self._relay.statistics()
            if stats.forward.held == 0 and stats.backward.held == 0:
                return True
            if time.monotonic() >= deadline or self.closed:
                return False
            time.sleep(0.002)

    # -- life cycle ------------------------------------------------------------
    def _wake(self) -> None:
        relay = getattr(self, "_relay", None)  # absent if the constructor failed
        if relay is not None:
            relay.wake()

    def _release(self) -> None:
        relay = getattr(self, "_relay", None)
        if relay is not None:
            relay.release()

    def __repr__(self) -> str:
        relay = getattr(self, "_relay", None)
        if relay is None:
            return "<ImpairedLink that failed to start>"
        where = format_address(relay.address)
        state = "closed" if self.closed else "relaying"
        if self.forward == self.backward:
            how = str(self.forward)
        else:
            how = f"forward: {self.forward}; backward: {self.backward}"
        return (
            f"<ImpairedLink {self.protocol} {where} -> {format_address(self.target)} "
            f"({how}) {state}>"
        )


def _probe_seq(peek: bytes | bytearray) -> int | None:
    """The sequence number of a labsock probe from its first bytes, else None."""
    if len(peek) == _PEEK and peek.startswith(MAGIC):
        return int.from_bytes(peek[len(MAGIC) :], "big")
    return None


def _check_stream(settings: list[Impairment]) -> None:
    if settings[0] == settings[1]:
        check_stream_settings(settings[0])
    else:
        for direction, value in zip(DIRECTIONS, settings, strict=True):
            check_stream_settings(value, direction)


def _checked_direction(value: object, name: str) -> Impairment | None:
    if value is None or isinstance(value, Impairment):
        return value
    raise UsageError(
        f"{name} must be an Impairment(loss=..., delay=...) or None, not {value!r}; "
        f"e.g. {name}=Impairment(loss=0.1)"
    )
