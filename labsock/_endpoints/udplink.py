"""The UDP relay behind ``ImpairedLink``: threads, sockets, held datagrams, counters.

``ImpairedLink`` (``_link.py``) checks settings and owns the life cycle;
this module moves the datagrams. How (see ``UDPRelay`` for why)::

    client --> [ link socket ] --decide--> held? --> [ upstream socket ] --> target
    client <-- [ link socket ] <--held?<--decide-- [ upstream socket ] <-- target

Each client gets its own upstream socket, as a NAT does, so a reply is
matched back to the client whose request caused it. One thread waits on the
link socket and one on each client's upstream socket, each blocked in a
single ``recv`` as a bare relay loop would be; held datagrams sit in a heap
that one more thread releases on time. A link with no impairment sends each
datagram on at once: nothing is queued, nothing is copied, and nothing
takes a lock.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections import deque
from dataclasses import fields
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from labsock._core.errors import os_errors
from labsock._core.guard import check_bind, family_of
from labsock._core.i18n import gettext as _
from labsock._core.impair import (
    DirectionStats,
    ImpairmentModel,
    LinkEvent,
    LinkStats,
    arrival_identity,
    probe_identity,
)
from labsock._core.probe import PEEK_SIZE, probe_seq
from labsock._endpoints.base import close_socket, receive_timeout, wake_receiver
from labsock._endpoints.kernel import udp_socket_drops, udp_sockets_drops

if TYPE_CHECKING:
    from labsock._endpoints.base import Endpoint

__all__ = ["BACKWARD", "DIRECTIONS", "FORWARD", "UDPRelay"]

#: Directions, by index: 0 is client -> target, 1 target -> client.
DIRECTIONS = ("forward", "backward")
FORWARD, BACKWARD = 0, 1

_RECV_SIZE = 65_536
# Each client has an upstream socket and a thread (see the module docstring).
# Past this many clients, one that has been quiet for _FLOW_IDLE seconds is
# forgotten to make room, as a NAT forgets an idle mapping. A busy client is
# never forgotten (replies on their way to its socket would be lost, outside
# the link's books): the table grows instead, up to _MAX_FLOWS clients at
# once; past that a new client's datagrams are counted failed.
_MAX_CLIENTS = 64
_FLOW_IDLE = 2.0
_MAX_FLOWS = 1024
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
_KERNEL = _FIELDS.index("kernel_dropped")

# Events keep a datagram's first bytes (probe magic + seq), decoded when asked:
# decoding every datagram on the way would slow the relay for nothing.
_PEEK = PEEK_SIZE
_PASS = (0.0,)  # the fate of every datagram on a perfect direction
# Per client and direction, how many copies of each recent probe number came
# (which copy a datagram is, for its identity). Copies of one probe arrive
# close together: the oldest numbers are forgotten past this many.
_COPIES_KEPT = 4096


class _Flow:
    """One client: its address, its upstream socket, what its datagrams did.

    Which thread writes what (no lock on the perfect path, see ``UDPRelay``):
    the link's receiving thread ``seen`` and ``forward_index``; the flow's own
    thread ``passed``; ``pending`` and ``max_released`` only under the lock.
    """

    __slots__ = (
        "address",
        "client",
        "copies",
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
        # Per direction: probe number -> copies of it seen (under the lock).
        self.copies: tuple[dict[int, int], dict[int, int]] = ({}, {})
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


class UDPRelay:
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
        owner: Endpoint,
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
        self._clients_seen = 0  # flows made, for thread names
        # Every client address heard from (statistics().clients counts clients,
        # not flows: a client forgotten and back again is still one client).
        self._clients: set[tuple[str, int]] = set()
        # Kernel drops at upstream sockets already closed, read before closing.
        self._retired_drops = 0
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

        # ImpairedLink has checked it already; checked here too, so that
        # a relay never binds what the loopback guard refuses.
        sockaddr = check_bind((host, port), what="ImpairedLink", kind=socket.SOCK_DGRAM)
        family = family_of(sockaddr)
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            with os_errors("bind", (host, port)):
                self._sock.bind(sockaddr)
            receive_timeout(self._sock, _IDLE)
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
                except BlockingIOError:  # _IDLE passed with nothing to read
                    if closed():
                        return
                    continue
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
            drops = udp_socket_drops(flow.upstream) if flow.upstream.fileno() >= 0 else None
            with self._lock:
                done, done_bytes = self._retired
                self._retired = (done + flow.passed[0], done_bytes + flow.passed[1])
                self._retired_drops += drops or 0
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
        with self._lock:
            self._clients.add((client[0], client[1]))
            full = len(self._flows) >= _MAX_CLIENTS and not self._make_room_locked(now)
        upstream = None
        try:
            if full:
                raise BlockingIOError(_("the link relays for _MAX_FLOWS clients at once"))
            upstream = socket.socket(self._target_family, socket.SOCK_DGRAM)
            # connect() on UDP only fixes the peer: the kernel then delivers
            # only the target's datagrams here, and reports "unreachable".
            upstream.connect(self._target_sockaddr)
            receive_timeout(upstream, _IDLE)
        except OSError:
            # No socket for this client (out of descriptors, or the table is
            # full): its datagram is lost, and counted.
            close_socket(upstream)
            with self._lock:
                self._counts[FORWARD][_RECEIVED] += 1
                self._counts[FORWARD][_FAILED] += 1
            return None
        flow = _Flow(client, upstream, now)
        with self._lock:
            if self._stopping:
                upstream.close()
                return None
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

    def _make_room_locked(self, now: float) -> bool:
        """Forget the least recent client if it has been quiet long enough; False if none may go.

        With fewer than _MAX_FLOWS clients a busy table just grows.
        """
        oldest = min(self._flows.values(), key=lambda f: f.seen)
        if now - oldest.seen >= _FLOW_IDLE:
            del self._flows[oldest.address]
            _stop_flow(oldest)
            return True
        return len(self._flows) < _MAX_FLOWS

    def _arrive(self, flow: _Flow, direction: int, data: bytes, index: int, now: float) -> None:
        """An impaired direction: ask the model, then count, drop, hold or send."""
        with self._lock:
            decision = self._models[direction].decide(now, _identity(flow, direction, data, index))
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
        self._send_counted_locked(flow, direction, data)

    def _passed_failed(self, flow: _Flow, direction: int, data: memoryview) -> None:
        """The perfect path's send failed: retry as the slow path would, else count it failed."""
        with self._lock:
            self._send_counted_locked(flow, direction, data)

    def _send_counted_locked(self, flow: _Flow, direction: int, data: bytes | memoryview) -> None:
        """Send a copy already counted as forwarded; if it fails, count it failed instead."""
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
        # The kernel's drops first, outside the lock (reading /proc takes a
        # while, and the relay's threads need the lock meanwhile).
        with self._lock:
            upstreams = [flow.upstream for flow in self._live]
        forward_drops, *backward = _drops([self._sock, *upstreams])
        backward_drops = sum(backward)
        with self._lock:
            forward = list(self._counts[FORWARD])
            backward = list(self._counts[BACKWARD])
            forward[_KERNEL] = forward_drops
            backward[_KERNEL] = backward_drops + self._retired_drops
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
                clients=len(self._clients),
                active=len(self._flows),
                unreachable=self._unreachable,
            )

    def events(self) -> list[LinkEvent]:
        # list() of a deque runs in C without letting another thread append
        # midway. The threads append as they go, so sort by arrival time.
        raw = sorted(self._events or (), key=itemgetter(0))
        return [
            LinkEvent(t, DIRECTIONS[d], client, index, probe_seq(peek), size, holds, express)
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

    def held(self) -> int:
        """Copies held in the link now, both directions (cheaper than statistics())."""
        with self._lock:
            return self._counts[FORWARD][_HELD] + self._counts[BACKWARD][_HELD]


def _add_passed(counts: list[int], passed: tuple[int, int]) -> None:
    """Fold datagrams passed straight through into a direction's counters."""
    count, size = passed
    counts[_RECEIVED] += count
    counts[_FORWARDED] += count
    counts[_BYTES_IN] += size
    counts[_BYTES_OUT] += size


def _drops(socks: list[socket.socket]) -> list[int]:
    """What the kernel dropped at each of the link's sockets (0 where it cannot say)."""
    try:
        return [drops or 0 for drops in udp_sockets_drops(socks)]
    except OSError:
        pass  # one was closed meanwhile (its thread folded its drops in): one by one
    counts = []
    for sock in socks:
        try:
            counts.append(udp_socket_drops(sock) or 0)
        except OSError:
            counts.append(0)
    return counts


def _stop_flow(flow: _Flow) -> None:
    """Make a flow's thread end: on Linux shutdown wakes its recv at once."""
    flow.gone = True
    try:
        flow.upstream.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected, or already closed: the thread ends on its own


def _identity(flow: _Flow, direction: int, data: bytes, index: int) -> bytes:
    """Which datagram this is, for the model (the caller holds the lock).

    A labsock probe is its sequence number and which copy of it this is, so
    its fate does not depend on when it came; any other datagram is its
    place among the client's datagrams in this direction.
    """
    seq = probe_seq(data[:_PEEK])
    if seq is None:
        return arrival_identity(index)
    copies = flow.copies[direction]
    copy = copies.get(seq, 0)
    copies[seq] = copy + 1
    if len(copies) > _COPIES_KEPT:
        del copies[next(iter(copies))]  # the oldest number (dicts keep order)
    return probe_identity(seq, copy)
