"""ImpairedLink: a real relay between real sockets that drops, delays, copies and reorders.

Students on Binder or a JupyterHub have no root, so ``tc netem`` is out of
reach. This relay is how the course shows a bad network: clients send to
``link.address``, the link passes each datagram on to the target (an echo
server, say) and the replies back to the client, and on the way it does
what a seeded :class:`~labsock._impair.ImpairmentModel` decides. The
datagrams really cross the kernel twice more, and the delays are real
waits, so what ``ping`` measures through a link is measured, not invented.

How it works (the UDP relay, one thread)::

    client --> [ link socket ] --decide--> held? --> [ upstream socket ] --> target
    client <-- [ link socket ] <--held?<--decide-- [ upstream socket ] <-- target

Each client gets its own upstream socket, as a NAT does, so a reply is
matched back to the client whose request caused it. One thread waits on
every socket at once (epoll, where there is one); held datagrams sit in a
heap ordered by release time, and the wait times out when the earliest is
due. A link with no impairment sends each datagram on at once: nothing is
queued, nothing is copied, and nothing takes a lock (see ``_pass``).

``protocol="tcp"`` relays a byte stream instead (see ``_tcplink``); it can
only add delay and limit bandwidth.
"""

from __future__ import annotations

import heapq
import itertools
import random
import select
import selectors
import socket
import threading
import time
from collections import OrderedDict, deque
from dataclasses import fields
from typing import Any, Literal

from labsock._endpoint import Endpoint, close_socket, format_address
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
# Reading in batches (see _Pace): at most this many datagrams per wake-up, and
# only when a socket is ready again this soon (seconds) after the last read.
_BATCH_MAX = 64
_BURST_GAP = 20e-6
# Upstream sockets are file descriptors; past this many clients the least
# recently heard-from one is forgotten (like a NAT table entry expiring).
_MAX_CLIENTS = 256
# The worker wakes at least this often even when idle (close() wakes it at once).
_IDLE = 1.0

# Counters live in plain lists (cheap to bump), one slot per DirectionStats field.
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
_CLIENT = "client"
_WAKER = "waker"

_SETTINGS = ("loss", "delay", "jitter", "reorder", "duplicate")


class _Pace:
    """How many datagrams to read from one socket per wake-up.

    One at a time while traffic is sparse (ping-pong): trying a second
    ``recv`` that finds nothing costs a system call and a GIL hand-over on
    every round trip. Under load (the socket is ready again within
    ``_BURST_GAP`` of the last read), reading in batches saves a wait per
    datagram and roughly doubles what the link can relay: the batch doubles
    while it comes back full, and shrinks to what came once it does not.
    The read loops apply this inline (two method calls per datagram were a
    measurable part of the round trip through the link).
    """

    __slots__ = ("last", "limit")

    def __init__(self) -> None:
        self.limit = 1
        self.last = -1.0


class _Poller:
    """Waits until any of the relay's sockets is readable: ``poll`` gives ``(fd, events)``.

    ``select.epoll`` directly where there is one (Linux). The ``selectors``
    module wraps every wake-up in Python (keys looked up, a list of tuples
    built): that cost about 3 µs of each round trip through the link, a
    tenth of what the link added (measured in benchmarks/). Elsewhere the
    selectors module does the job.
    """

    def __init__(self) -> None:
        #: What each registered file descriptor stands for.
        self.data: dict[int, Any] = {}
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._selector = None if self._epoll is not None else selectors.DefaultSelector()

    def register(self, sock: socket.socket, data: Any) -> None:
        fd = sock.fileno()
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN)
        else:
            assert self._selector is not None
            self._selector.register(fd, selectors.EVENT_READ)
        self.data[fd] = data

    def unregister(self, sock: socket.socket) -> None:
        fd = sock.fileno()
        self.data.pop(fd, None)
        if self._epoll is not None:
            self._epoll.unregister(fd)
        else:
            assert self._selector is not None
            self._selector.unregister(fd)

    def poll(self, timeout: float) -> list[tuple[int, int]]:
        if self._epoll is not None:
            return self._epoll.poll(timeout)
        assert self._selector is not None
        return [(key.fd, events) for key, events in self._selector.select(timeout)]

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        else:
            assert self._selector is not None
            self._selector.close()


class _Flow:
    """One client: its address, its upstream socket, its per-direction counters."""

    __slots__ = ("address", "client", "max_released", "next_index", "pace", "upstream")

    def __init__(self, address: Any, upstream: socket.socket) -> None:
        self.address = address  # as recvfrom gave it (IPv6 adds flow info, scope)
        self.client: tuple[str, int] = (address[0], address[1])
        self.upstream = upstream
        # Arrival numbers of this client's datagrams, and the highest one
        # released so far, per direction: what reordering is judged on.
        self.next_index = [0, 0]
        self.max_released = [-1, -1]
        self.pace = _Pace()


class _UDPRelay:
    """The datagram relay: sockets, the heap of held datagrams, one worker loop."""

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
        self._counts = [[0] * len(_FIELDS), [0] * len(_FIELDS)]
        # Only the relay thread writes the counters. The perfect path does it
        # without the lock (a lock per datagram cost about 1 µs of each round
        # trip) between two bumps of _writes; statistics() copies again when
        # _writes was odd or moved meanwhile, so a snapshot is never torn.
        self._writes = 0
        self._buf = bytearray(_RECV_SIZE)
        self._view = memoryview(self._buf)
        # Per direction: is it perfect now? Read per datagram, so cheaper than
        # the model's property; configure() refreshes it (settings_changed).
        self._perfect = [model.passthrough for model in models]
        self._clients_seen = 0
        self._unreachable = 0
        self._events: deque[tuple[Any, ...]] | None = (
            deque(maxlen=keep_events) if keep_events else None
        )
        self._heap: list[tuple[Any, ...]] = []
        self._tiebreak = itertools.count()
        self._flows: OrderedDict[Any, _Flow] = OrderedDict()
        self._client_pace = _Pace()

        family, sockaddr = resolve(host, port, socket.SOCK_DGRAM)
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._waker_r, self._waker_w = socket.socketpair()
        except BaseException:
            self._sock.close()
            raise
        self._poller = _Poller()
        try:
            with os_errors("bind", (host, port)):
                self._sock.bind(sockaddr)
            self._sock.setblocking(False)
            self._waker_r.setblocking(False)
            self.address: tuple[str, int] = self._sock.getsockname()[:2]
            self._poller.register(self._sock, _CLIENT)
            self._poller.register(self._waker_r, _WAKER)
        except BaseException:
            self.release()
            raise

    # -- the worker --------------------------------------------------------
    def run(self) -> None:
        poll = self._poller.poll
        sources = self._poller.data
        heap = self._heap
        closed = self._owner._closed.is_set
        while True:
            timeout = _IDLE
            if heap:
                timeout = min(_IDLE, max(0.0, heap[0][0] - time.perf_counter()))
            events = poll(timeout)
            # close() wakes the loop through the waker; the flag itself is
            # checked when a wait comes back empty, not on every wake-up.
            if not events and closed():
                return
            for fd, _ in events:
                # None: a flow forgotten earlier in this batch (socket closed).
                source = sources.get(fd)
                if source is _CLIENT:
                    self._read_client()
                elif source is _WAKER:
                    return
                elif source is not None:
                    self._read_upstream(source)
            if heap:
                self._release_due()

    def _read_client(self) -> None:
        clock = time.perf_counter
        now = clock()
        pace = self._client_pace
        limit = pace.limit
        if limit == 1 and now - pace.last < _BURST_GAP:
            limit = 2
        recvfrom_into, buf, view = self._sock.recvfrom_into, self._buf, self._view
        flows = self._flows
        perfect = self._perfect
        n = 0
        while n < limit:
            try:
                size, client = recvfrom_into(buf)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionResetError:
                # Windows: an ICMP "port unreachable" for an earlier reply to
                # a client that has gone away. Not our problem.
                continue
            n += 1
            if n > 1:
                now = clock()
            flow = flows.get(client)
            if flow is None:
                flow = self._new_flow(client)
                if flow is None:
                    continue
            else:
                flows.move_to_end(client)  # most recently heard from last
            if perfect[FORWARD]:
                # Straight from the receive buffer: nothing to keep, no copy.
                self._pass(flow, FORWARD, buf, view[:size], now)
            else:
                self._arrive(flow, FORWARD, bytes(view[:size]), now)
        if n < limit:
            pace.limit = n or 1
        elif limit > 1:
            pace.limit = min(_BATCH_MAX, limit * 2)
        pace.last = now

    def _read_upstream(self, flow: _Flow) -> None:
        clock = time.perf_counter
        now = clock()
        pace = flow.pace
        limit = pace.limit
        if limit == 1 and now - pace.last < _BURST_GAP:
            limit = 2
        recv_into, buf, view = flow.upstream.recv_into, self._buf, self._view
        perfect = self._perfect
        n = 0
        while n < limit:
            try:
                size = recv_into(buf)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionRefusedError:
                # The target's kernel said "port unreachable": nothing
                # listens there. Counted, so a student can see why.
                with self._lock:
                    self._unreachable += 1
                continue
            except OSError:
                return  # the flow was forgotten and its socket closed
            n += 1
            if n > 1:
                now = clock()
            if perfect[BACKWARD]:
                self._pass(flow, BACKWARD, buf, view[:size], now)
            else:
                self._arrive(flow, BACKWARD, bytes(view[:size]), now)
        if n < limit:
            pace.limit = n or 1
        elif limit > 1:
            pace.limit = min(_BATCH_MAX, limit * 2)
        pace.last = now

    def _new_flow(self, client: Any) -> _Flow | None:
        if len(self._flows) >= _MAX_CLIENTS:
            _, old = self._flows.popitem(last=False)
            self._poller.unregister(old.upstream)
            old.upstream.close()
        upstream = socket.socket(self._target_family, socket.SOCK_DGRAM)
        try:
            upstream.setblocking(False)
            # connect() on UDP only fixes the peer: the kernel then delivers
            # only the target's datagrams here, and reports "unreachable".
            upstream.connect(self._target_sockaddr)
        except OSError:
            upstream.close()
            with self._lock:
                self._counts[FORWARD][_RECEIVED] += 1
                self._counts[FORWARD][_FAILED] += 1
            return None
        flow = _Flow(client, upstream)
        self._flows[client] = flow
        self._poller.register(upstream, flow)
        with self._lock:
            self._clients_seen += 1
        return flow

    def _arrive(self, flow: _Flow, direction: int, data: bytes, now: float) -> None:
        """An impaired direction: ask the model, then count, drop, hold or send."""
        model = self._models[direction]
        index = flow.next_index[direction]
        flow.next_index[direction] = index + 1
        decision = model.decide(now)
        holds = decision.holds
        self._record(flow, direction, index, data, now, holds, decision.express)
        if not holds:
            return
        first = decision.first
        for copy, hold in enumerate(holds):
            if hold <= 0.0:
                self._emit(flow, direction, data, index, copy == first, False)
            else:
                heapq.heappush(
                    self._heap,
                    (now + hold, next(self._tiebreak), flow, direction, data, index, copy == first),
                )

    def _pass(
        self, flow: _Flow, direction: int, buf: bytearray, data: memoryview, now: float
    ) -> None:
        """The fast path of a perfect direction: count, keep the event, send.

        The same bookkeeping as ``_record`` + ``_emit``, with no further
        calls and no lock (see ``_writes``): every microsecond here adds to
        every round trip. Counting comes before the send, so that
        ``statistics()`` never lags behind what a client has already received.
        """
        index = flow.next_index[direction]
        flow.next_index[direction] = index + 1
        counts = self._counts[direction]
        size = len(data)
        self._writes += 1
        counts[_RECEIVED] += 1
        counts[_BYTES_IN] += size
        counts[_FORWARDED] += 1
        counts[_BYTES_OUT] += size
        if index < flow.max_released[direction]:
            counts[_REORDERED] += 1  # overtook datagrams still held from before
        else:
            flow.max_released[direction] = index
        self._writes += 1
        if self._events is not None:  # deque.append: safe without the lock
            self._events.append(
                (
                    now,
                    direction,
                    flow.client,
                    index,
                    buf[: _PEEK if size > _PEEK else size],
                    size,
                    _PASS,
                    False,
                )
            )
        try:
            if direction == FORWARD:
                flow.upstream.send(data)
            else:
                self._sock.sendto(data, flow.address)
            return
        except OSError:
            pass
        if not self._send(flow, direction, data):  # retries after "unreachable"
            with self._lock:
                counts[_FORWARDED] -= 1
                counts[_BYTES_OUT] -= size
                counts[_FAILED] += 1

    def _record(
        self,
        flow: _Flow,
        direction: int,
        index: int,
        data: bytes,
        now: float,
        holds: tuple[float, ...],
        express: bool,
    ) -> None:
        """Count a datagram's arrival and its fate (and keep the event)."""
        counts = self._counts[direction]
        with self._lock:
            counts[_RECEIVED] += 1
            counts[_BYTES_IN] += len(data)
            if not holds:
                counts[_DROPPED] += 1
            else:
                if len(holds) > 1:
                    counts[_DUPLICATED] += 1
                held = sum(1 for hold in holds if hold > 0.0)
                if held:
                    counts[_DELAYED] += 1
                    counts[_HELD] += held
            if self._events is not None:
                self._events.append(
                    (now, direction, flow.client, index, data[:_PEEK], len(data), holds, express)
                )

    def _release_due(self) -> None:
        heap = self._heap
        now = time.perf_counter()
        while heap and heap[0][0] <= now:
            _, _, flow, direction, data, index, first = heapq.heappop(heap)
            self._emit(flow, direction, data, index, first, True)

    def _emit(
        self,
        flow: _Flow,
        direction: int,
        data: bytes,
        index: int,
        first: bool,
        held: bool,
    ) -> None:
        counts = self._counts[direction]
        # Count first, so statistics() never lags behind what a client saw.
        with self._lock:
            if held:
                counts[_HELD] -= 1
            counts[_FORWARDED] += 1
            counts[_BYTES_OUT] += len(data)
            if first:
                # RFC 4737, as ping counts it: a datagram is reordered when a
                # later one from the same client already went on before it.
                if index < flow.max_released[direction]:
                    counts[_REORDERED] += 1
                else:
                    flow.max_released[direction] = index
        if not self._send(flow, direction, data):
            with self._lock:
                counts[_FORWARDED] -= 1
                counts[_BYTES_OUT] -= len(data)
                counts[_FAILED] += 1

    def _send(self, flow: _Flow, direction: int, data: bytes | memoryview) -> bool:
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
                with self._lock:
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
            # Bounded: the relay thread is mid-update for a few bytecodes at
            # most, and sleep(0) lets it finish.
            for _attempt in range(10_000):
                writes = self._writes
                forward = DirectionStats(*self._counts[FORWARD])
                backward = DirectionStats(*self._counts[BACKWARD])
                if not writes & 1 and self._writes == writes:
                    break
                time.sleep(0)
            return LinkStats(
                "udp",
                forward,
                backward,
                clients=self._clients_seen,
                active=len(self._flows),
                unreachable=self._unreachable,
            )

    def events(self) -> list[LinkEvent]:
        with self._lock:
            raw = list(self._events) if self._events is not None else []
        return [
            LinkEvent(t, DIRECTIONS[d], client, index, _probe_seq(peek), size, holds, express)
            for t, d, client, index, peek, size, holds, express in raw
        ]

    def wake(self) -> None:
        try:
            self._waker_w.send(b"x")
        except OSError:
            pass

    def release(self) -> None:
        # Held datagrams die with the link; their count stays in "held".
        self._heap.clear()
        self._poller.close()
        for flow in self._flows.values():
            close_socket(flow.upstream)
        self._flows.clear()
        for sock in (self._sock, self._waker_r, self._waker_w):
            close_socket(sock)


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
