"""Multicast on the loopback interface: a group, its receivers and its senders.

One datagram sent to a group address reaches every socket that joined the
group. The course keeps it on this machine: every membership is taken on the
loopback interface, every sender sends through it with a TTL of 0 or 1, so no
datagram and no IGMP report ever leaves the machine.

This module holds the group, its receivers and senders, and the tagged probe
they exchange; :mod:`labsock._endpoints.mcaddress` holds what they build on: group
addresses, the loopback interface, the membership and binding socket
options, and the probe of whether IPv6 multicast works here.

How a receiver hears its own group and nothing else (the portable strategy):

* It binds to the *group address* and the group's port, not to 0.0.0.0. The
  kernel then hands it only datagrams sent to that group. This works on Linux
  and macOS; Windows refuses a bind to a multicast address, so there it binds
  the port on every address, which Windows filters per membership anyway.
* On Linux it also clears ``IP_MULTICAST_ALL``. Without that, a socket hears a
  group that *any* socket on the host joined, so a receiver that called
  ``leave()`` would keep hearing the group as long as a neighbour stayed in it.
* Experiments add a random session tag to each payload and count foreign
  datagrams, so cross-talk is measured, not assumed away.

All receivers share the group's port (``SO_REUSEADDR``). With ``port=0`` the
group reserves a free port with a placeholder socket that never joins, so the
port stays the group's even while every receiver has left.
"""

from __future__ import annotations

import errno
import select
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any, NoReturn

from labsock._core.errors import NetworkError, UsageError, os_errors
from labsock._core.guard import check_multicast
from labsock._core.probe import (
    MAGIC,
    TAG_SIZE,
    TAGGED_HEAD,
    encode_tagged_probe,
    read_probe,
)
from labsock._core.validate import check_count, check_payload, check_port, check_seconds
from labsock._endpoints.base import Endpoint, close_socket, format_address
from labsock._endpoints.mcaddress import (
    _bound_socket,
    _ipv4_interface,
    _ipv6_interface,
    _mreq,
    _reserve,
    check_group,
    draw_group,
)

__all__ = [
    "TAG_SIZE",  # from labsock._core.probe
    "Arrival",
    "MulticastGroup",
    "MulticastReceiver",
    "MulticastSender",
    "ReceiverStats",
    "draw_group",  # from labsock._endpoints.mcaddress: benchmarks/_fanout.py imports it from here
    "encode_tagged_probe",  # from labsock._core.probe, where the probe layout lives
]

_RECV_SIZE = 65_536
# A receiver records (and wakes its waiters) at least every this many datagrams.
_BATCH = 256
_NEVER = float("inf")


# -- receivers ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Arrival:
    """One datagram a receiver got.

    ``seq`` and ``tag`` are the probe sequence number and session tag when the
    payload is a probe (``None`` otherwise); ``sender`` is who sent it,
    ``time`` when it arrived (``time.perf_counter``), ``data`` the payload.
    """

    seq: int | None
    tag: bytes | None
    sender: tuple[str, int]
    time: float
    data: bytes


@dataclass(frozen=True, slots=True)
class ReceiverStats:
    """A snapshot of a receiver's counters (see ``statistics()``).

    ``probes`` counts datagrams carrying a probe header, ``others`` the rest;
    ``duplicates`` probes whose (tag, seq) had arrived before. ``not_kept``
    counts datagrams counted but not stored because ``keep`` was reached.
    """

    datagrams: int = 0
    bytes_in: int = 0
    probes: int = 0
    others: int = 0
    duplicates: int = 0
    joins: int = 0
    leaves: int = 0
    joined: bool = False
    not_kept: int = 0


class MulticastReceiver(Endpoint):
    """A socket that joined a group on loopback, and a thread that records what it hears.

    Made by :meth:`MulticastGroup.receiver`; joined before it is returned.

    Example:
        >>> with MulticastGroup() as group:
        ...     receiver = group.receiver()
        ...     _ = group.send(b"hello")
        ...     receiver.wait_received(1)
        ...     receiver.payloads()
        True
        (b'hello',)
    """

    kind = "multicast receiver"

    def __init__(
        self, group: MulticastGroup, name: str, receive_buffer: int | None, keep: int
    ) -> None:
        mreq = _mreq(group.family, group.group, group.interface)
        sock = _bound_socket(group.family, group.group, group.port, group.interface)
        super().__init__()
        self.name = name
        self._group_ref = group
        self._keep = keep
        # One plain lock guards the records; the condition waits on it. The
        # worker takes the lock itself (a C call), not the condition's
        # Python-level __enter__: it does so once per wake-up.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        # The counts that wait_received() callers wait for; the worker
        # notifies once datagrams reach the smallest (_wake_at).
        self._targets: list[int] = []
        self._wake_at = _NEVER
        # What the worker stored, in arrival order: (payload, sender, time).
        # The probe in each is read later, when someone asks (statistics(),
        # received(), a wait for a tag; see _catch_up): the receiving thread
        # only stores, so a burst costs the process little more than a bare
        # recv loop would. raw[:_counted] are counted in the statistics;
        # _arrivals holds the Arrival objects built so far (a frozen dataclass
        # costs about a microsecond to build: received() builds each once).
        self._raw: list[tuple[bytes, Any, float]] = []
        self._counted = 0
        self._arrivals: list[Arrival] = []
        # Sequence numbers seen, per session tag: duplicates are counted by them.
        self._seen: dict[bytes | None, set[int]] = {}
        self._by_tag: dict[bytes | None, int] = {}
        self._counts = dict.fromkeys(
            ("datagrams", "bytes_in", "probes", "others", "duplicates", "not_kept"), 0
        )
        self._joins = self._leaves = 0
        self._joined = False
        self._mreq = mreq
        self._sock = sock
        # poll() where there is one (not Windows): the selectors module spends
        # a few microseconds of Python per wake-up, holding the GIL that the
        # sender needs (see _loop).
        self._poll = select.poll() if hasattr(select, "poll") else None
        self._selector = None if self._poll is not None else selectors.DefaultSelector()
        try:
            self._waker_r, self._waker_w = socket.socketpair()
            if receive_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.setblocking(False)
            for readable in (sock, self._waker_r):
                if self._poll is not None:
                    self._poll.register(readable, select.POLLIN)
                else:
                    assert self._selector is not None
                    self._selector.register(readable, selectors.EVENT_READ)
            self.join()
        except BaseException:
            # Half-built: release now, and mark closed so __del__ leaves it be.
            self._closed.set()
            self._release()
            raise
        self._start_worker(self._loop, f"mcast-recv-{name}")
        self._register()

    # -- membership ----------------------------------------------------------
    @property
    def joined(self) -> bool:
        """True while the receiver is a member of the group."""
        return self._joined

    def join(self) -> None:
        """Join the group on the loopback interface (again, after ``leave()``).

        Datagrams sent after ``join()`` returns reach this receiver. Joining
        while joined does nothing.
        """
        self._check_open("join with")
        if self._joined:
            return
        level = socket.IPPROTO_IP if self._group_ref.family == 4 else socket.IPPROTO_IPV6
        option = socket.IP_ADD_MEMBERSHIP if level == socket.IPPROTO_IP else socket.IPV6_JOIN_GROUP
        with os_errors("join the group", self.address):
            self._sock.setsockopt(level, option, self._mreq)
        self._joined = True
        self._joins += 1

    def leave(self) -> None:
        """Leave the group: datagrams sent after this returns no longer arrive.

        Datagrams already queued in the socket are still read and recorded.
        Leaving while not joined does nothing.
        """
        self._check_open("leave with")
        if not self._joined:
            return
        level = socket.IPPROTO_IP if self._group_ref.family == 4 else socket.IPPROTO_IPV6
        option = (
            socket.IP_DROP_MEMBERSHIP if level == socket.IPPROTO_IP else socket.IPV6_LEAVE_GROUP
        )
        with os_errors("leave the group", self.address):
            self._sock.setsockopt(level, option, self._mreq)
        self._joined = False
        self._leaves += 1

    # -- what arrived --------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """The group's ``(group, port)``, where this receiver listens."""
        return self._group_ref.group, self._group_ref.port

    @property
    def receive_buffer(self) -> int:
        """The receive buffer the kernel really granted, in bytes."""
        self._check_open("read the buffer of")
        return int(self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))

    def received(self) -> tuple[Arrival, ...]:
        """Every datagram recorded so far, in arrival order (a snapshot)."""
        with self._cond:
            built = self._arrivals
            for data, peer, now in self._raw[len(built) :]:
                seq, tag = read_probe(data)
                built.append(Arrival(seq, tag, (str(peer[0]), int(peer[1])), now, data))
            return tuple(built)

    def payloads(self) -> tuple[bytes, ...]:
        """The payloads recorded so far, in arrival order."""
        with self._cond:
            return tuple(entry[0] for entry in self._raw)

    def statistics(self) -> ReceiverStats:
        """An immutable snapshot of the counters."""
        with self._cond:
            self._catch_up()
            return ReceiverStats(
                **self._counts, joins=self._joins, leaves=self._leaves, joined=self._joined
            )

    def wait_received(self, count: int, timeout: float = 1.0, *, tag: bytes | None = None) -> bool:
        """Wait until ``count`` datagrams arrived (probes with ``tag`` if given).

        Returns True when they did, False when ``timeout`` seconds ran out
        (or the receiver was closed first).
        """
        check_count(count, name="count", minimum=0)
        timeout = check_seconds(timeout, name="timeout")

        def enough() -> bool:
            if tag is None:
                return self._counts["datagrams"] >= count
            self._catch_up()  # called with _cond held, by wait_for
            return self._by_tag.get(tag, 0) >= count

        # The worker wakes waiters only once the datagrams (of any tag: a
        # tag's count never exceeds them) reach the smallest count waited for.
        # Woken on every batch, a waiting thread took the GIL from the
        # receivers thousands of times per burst (measured in benchmarks/).
        with self._cond:
            self._targets.append(count)
            self._wake_at = min(self._targets)
            try:
                return (
                    self._cond.wait_for(lambda: enough() or self._closed.is_set(), timeout)
                    and enough()
                )
            finally:
                self._targets.remove(count)
                self._wake_at = min(self._targets, default=_NEVER)

    # -- the worker ----------------------------------------------------------
    def _loop(self) -> None:
        recvfrom, clock = self._sock.recvfrom, time.perf_counter
        waker = self._waker_r.fileno()
        poll = self._poll.poll if self._poll is not None else None
        select_ = self._selector.select if self._selector is not None else None
        lock, counts, raw, keep = self._lock, self._counts, self._raw, self._keep
        closed = self._closed.is_set
        limit = 1
        # Every wake-up of this loop holds the GIL that the sending thread (in
        # an experiment, a thread of this process) needs: a fan-out burst ran
        # at a third of bare sockets' rate when each wake-up cost a few
        # microseconds of Python, and the sender, kept waiting, sent slower
        # (measured in benchmarks/). So it does as little as it can: read,
        # store, and leave reading the probes to whoever asks (_catch_up).
        while True:
            if poll is not None:
                ready = poll(1000)
            else:
                assert select_ is not None
                ready = [(key.fd, events) for key, events in select_(1.0)]
            if not ready:
                if closed():
                    return
                continue
            for fd, _ in ready:
                if fd == waker:
                    return
            # Read as many datagrams as came last time, doubling while batches
            # come back full: in sparse traffic no read fails (a non-blocking
            # read that finds nothing raises an exception, which is slow); in a
            # burst few do, and the lock is taken once per batch.
            batch: list[tuple[bytes, Any, float]] = []
            while len(batch) < limit:
                try:
                    data, peer = recvfrom(_RECV_SIZE)
                except (BlockingIOError, InterruptedError):
                    break
                except ConnectionResetError:
                    continue  # Windows: an ICMP error for an unrelated send
                batch.append((data, peer, clock()))
            got = len(batch)
            limit = (limit * 2 if limit < _BATCH else limit) if got >= limit else (got or 1)
            if not got:
                continue
            with lock:
                counts["datagrams"] += got
                if len(raw) + got <= keep:
                    raw.extend(batch)
                else:
                    self._store_past_keep(batch)
                if counts["datagrams"] >= self._wake_at:
                    self._cond.notify_all()

    def _store_past_keep(self, batch: list[tuple[bytes, Any, float]]) -> None:
        """Store what still fits; count the rest without keeping it (``_lock`` held)."""
        raw = self._raw
        room = max(0, self._keep - len(raw))
        raw.extend(batch[:room])
        self._catch_up()  # first: keeps "first copy" before "duplicate"
        rest = [entry[0] for entry in batch[room:]]
        self._count_probes(rest)
        self._counts["not_kept"] += len(rest)

    def _catch_up(self) -> None:
        """Count the probes stored since the last call (the caller holds ``_lock``)."""
        raw, counted = self._raw, self._counted
        if counted < len(raw):
            self._count_probes([entry[0] for entry in raw[counted:]])
            self._counted = len(raw)

    def _count_probes(self, payloads: list[bytes]) -> None:
        """Count probes, other datagrams, duplicates and bytes in ``payloads``."""
        seen, by_tag = self._seen, self._by_tag
        size = others = duplicates = 0
        unpack, head = TAGGED_HEAD.unpack_from, TAGGED_HEAD.size
        # Payloads almost always come in runs of one session's probes: the
        # per-tag figures are kept for a run of one tag, then stored.
        run_tag: bytes | None = None
        run_seen: set[int] = set()
        run = 0
        for data in payloads:
            n = len(data)
            size += n
            if n >= head:  # _read_probe, inlined for tagged probes
                magic, seq, _, tag = unpack(data)
                if magic != MAGIC:
                    others += 1
                    continue
            else:
                seq, tag = read_probe(data)
                if seq is None:
                    others += 1
                    continue
            if tag != run_tag or not run:
                if run:
                    by_tag[run_tag] = by_tag.get(run_tag, 0) + run
                run_tag, run = tag, 0
                run_seen = seen.setdefault(tag, set())
            run += 1
            if seq in run_seen:
                duplicates += 1
            else:
                run_seen.add(seq)
        if run:
            by_tag[run_tag] = by_tag.get(run_tag, 0) + run
        c = self._counts
        c["bytes_in"] += size
        c["probes"] += len(payloads) - others
        c["others"] += others
        c["duplicates"] += duplicates

    def _wake(self) -> None:
        try:
            self._waker_w.send(b"x")
        except OSError:
            pass
        with self._cond:
            self._cond.notify_all()

    def _release(self) -> None:
        if self._selector is not None:
            self._selector.close()
        for s in (self._sock, getattr(self, "_waker_r", None), getattr(self, "_waker_w", None)):
            close_socket(s)

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("joined" if self._joined else "left")
        return (
            f"<MulticastReceiver {self.name!r} {format_address(self.address)} "
            f"{state}, {self._counts['datagrams']} datagrams>"
        )


# -- senders ----------------------------------------------------------------------
class MulticastSender(Endpoint):
    """A socket that sends to the group through the loopback interface only.

    It sets ``IP_MULTICAST_IF`` to 127.0.0.1 (``IPV6_MULTICAST_IF`` to the
    loopback index), the TTL (hop limit) to the group's, 0 or 1, and
    ``IP_MULTICAST_LOOP`` as asked; it binds to 127.0.0.1 (``::1``), so its
    datagrams carry a loopback source address. Made by
    :meth:`MulticastGroup.sender`.
    """

    kind = "multicast sender"

    def __init__(self, group: MulticastGroup) -> None:
        super().__init__()
        self._group_ref = group
        v4 = group.family == 4
        self._sock = socket.socket(socket.AF_INET if v4 else socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            if v4:
                level, opts = socket.IPPROTO_IP, socket.inet_aton(group.interface)
                names = (socket.IP_MULTICAST_IF, socket.IP_MULTICAST_TTL, socket.IP_MULTICAST_LOOP)
                self._dest: tuple[Any, ...] = (group.group, group.port)
                local: tuple[Any, ...] = (group.interface, 0)
            else:
                index = _ipv6_interface(group.interface)
                level, opts = socket.IPPROTO_IPV6, struct.pack("@I", index)
                names = (
                    socket.IPV6_MULTICAST_IF,
                    socket.IPV6_MULTICAST_HOPS,
                    socket.IPV6_MULTICAST_LOOP,
                )
                self._dest = (group.group, group.port, 0, index)
                local = ("::1", 0)
            with os_errors("configure multicast on", group.address):
                self._sock.setsockopt(level, names[0], opts)
                self._sock.setsockopt(level, names[1], group.ttl)
                self._sock.setsockopt(level, names[2], int(group.loop))
            with os_errors("bind", local):
                self._sock.bind(local)
            self._address: tuple[str, int] = self._sock.getsockname()[:2]
        except BaseException:
            self._sock.close()
            raise
        self._sent = 0
        self._register()

    @property
    def address(self) -> tuple[str, int]:
        """The sender's own ``(host, port)``: the source of its datagrams."""
        return self._address

    @property
    def destination(self) -> tuple[str, int]:
        """The group's ``(group, port)``."""
        return self._group_ref.group, self._group_ref.port

    @property
    def sent(self) -> int:
        """Datagrams sent so far."""
        return self._sent

    def send(self, data: bytes) -> int:
        """Send one datagram to the group; return the number of bytes sent.

        Raises:
            PayloadTypeError: ``data`` is not bytes.
            DatagramTooLarge: more than one datagram can carry.
            NetworkError: the machine cannot send multicast on loopback.
        """
        # Bytes go as they are; anything else is checked (and a str refused).
        payload = data if data.__class__ is bytes else check_payload(data)
        try:
            n = self._sock.sendto(payload, self._dest)
        except OSError:
            # Checked and translated here, on the error path only: a context
            # manager around every send cost a microsecond per datagram (a
            # quarter of a fan-out's cost, measured in benchmarks/). A closed
            # sender's socket fails with EBADF, and lands here too.
            self._check_open("send with")
            self._raise_send_error()
        self._sent += 1
        return n

    def _raise_send_error(self) -> NoReturn:
        try:
            with os_errors("send to", self.destination):
                raise  # the OSError being handled, translated by os_errors
        except NetworkError as exc:
            if getattr(exc.__cause__, "errno", None) == errno.ENETUNREACH:
                raise NetworkError(
                    f"cannot send to {format_address(self.destination)}: this machine "
                    "has no multicast route on the loopback interface (Linux has none for "
                    "IPv6). Use an IPv4 group (the default); see ipv6_multicast_supported()."
                ) from exc.__cause__
            raise

    def socket_options(self) -> dict[str, Any]:
        """The multicast options read back from the kernel with ``getsockopt``.

        >>> with MulticastGroup() as group:
        ...     group.sender().socket_options()
        {'IP_MULTICAST_IF': '127.0.0.1', 'IP_MULTICAST_TTL': 1, 'IP_MULTICAST_LOOP': 1}
        """
        self._check_open("read the options of")
        s = self._sock
        if self._group_ref.family == 4:
            lvl = socket.IPPROTO_IP
            return {
                "IP_MULTICAST_IF": socket.inet_ntoa(s.getsockopt(lvl, socket.IP_MULTICAST_IF, 4)),
                "IP_MULTICAST_TTL": s.getsockopt(lvl, socket.IP_MULTICAST_TTL),
                "IP_MULTICAST_LOOP": s.getsockopt(lvl, socket.IP_MULTICAST_LOOP),
            }
        lvl = socket.IPPROTO_IPV6
        return {
            "IPV6_MULTICAST_IF": s.getsockopt(lvl, socket.IPV6_MULTICAST_IF),
            "IPV6_MULTICAST_HOPS": s.getsockopt(lvl, socket.IPV6_MULTICAST_HOPS),
            "IPV6_MULTICAST_LOOP": s.getsockopt(lvl, socket.IPV6_MULTICAST_LOOP),
        }

    def _release(self) -> None:
        close_socket(self._sock)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self._sent} sent"
        return f"<MulticastSender to {format_address(self.destination)} {state}>"


# -- the group ----------------------------------------------------------------------
class MulticastGroup(Endpoint):
    """A multicast group on the loopback interface, with its port reserved.

    Args:
        group: the group address; ``None`` draws a fresh one from
            239.255.0.0/16 (ff11::/16 with ``family=6``), never one already
            drawn in this process.
        port: the UDP port every receiver shares; 0 reserves a free one.
        family: 4 or 6; by default that of ``group``, else 4.
        ttl: 0 (this host only) or 1 (the local link, here loopback). A TTL
            above 1 would let routers forward the datagrams: refused.
        loop: ``IP_MULTICAST_LOOP`` for senders. On Linux's loopback
            interface receivers hear the group even with ``loop=False``,
            because the interface itself brings every datagram back.
        interface: the loopback address, '127.0.0.1' (IPv4) or '::1' (IPv6);
            ``None`` picks it. Any other interface is refused.

    Raises:
        UsageError: for a group that is not multicast (with an explanation),
            or in 224.0.0.0/24.
        NotLoopback: a TTL above 1, or an interface other than loopback
            (``labsock.allow_network`` does not change this).
        AddressInUse: when ``port`` is held by a socket that does not share.

    Example:
        >>> with MulticastGroup() as group:
        ...     a, b = group.receiver(), group.receiver()
        ...     _ = group.send(b"to everyone")
        ...     a.wait_received(1) and b.wait_received(1)
        True
    """

    kind = "multicast group"

    def __init__(
        self,
        group: str | None = None,
        port: int = 0,
        *,
        family: int | None = None,
        ttl: int = 1,
        loop: bool = True,
        interface: str | None = None,
    ) -> None:
        if family not in (None, 4, 6):
            raise UsageError(f"family must be 4 or 6, not {family!r}")
        if group is None:
            group, family = draw_group(family or 4), family or 4
        else:
            group, family = check_group(group, family)
            _reserve(group)
        check_port(port)
        ttl = check_count(ttl, name="ttl", minimum=0, maximum=255)
        if interface is None:
            interface = "127.0.0.1" if family == 4 else "::1"
        # The loopback guard: the group's interface (where receivers join and
        # senders send) and its TTL, checked once for all of them.
        check_multicast(interface, ttl, what="MulticastGroup")
        if family == 4:
            interface = _ipv4_interface(interface)
        else:
            _ipv6_interface(interface)
        # The placeholder holds the port for the group's life; it never joins
        # and hears nothing (IP_MULTICAST_ALL cleared, tiny buffer).
        placeholder = _bound_socket(family, group, port, interface)
        try:
            placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
            bound_port: int = placeholder.getsockname()[1]
        except BaseException:
            placeholder.close()
            raise
        super().__init__()
        self._placeholder = placeholder
        self.port = bound_port
        self.group, self.family, self.ttl, self.loop = group, family, ttl, bool(loop)
        self.interface = interface
        self._children: list[Endpoint] = []
        self._children_lock = threading.Lock()
        self._default_sender: MulticastSender | None = None
        self._names = 0
        self._register()

    @property
    def address(self) -> tuple[str, int]:
        """``(group, port)``: where senders send and receivers listen."""
        self._check_open("get the address of")
        return self.group, self.port

    def receiver(
        self, name: str | None = None, receive_buffer: int | None = None, *, keep: int = 100_000
    ) -> MulticastReceiver:
        """A new receiver, joined and listening before it is returned.

        Args:
            name: a label for tables and plots; ``"r1"``, ``"r2"``, ... by default.
            receive_buffer: ask for this ``SO_RCVBUF`` in bytes (the kernel may
                double or clamp it; see ``.receive_buffer``).
            keep: store at most this many arrivals (the rest are only counted).
        """
        self._check_open("add a receiver to")
        if receive_buffer is not None:
            check_count(receive_buffer, name="receive_buffer", minimum=1, maximum=1 << 30)
        check_count(keep, name="keep", minimum=0)
        with self._children_lock:
            self._names += 1
            label = name if name is not None else f"r{self._names}"
        if not isinstance(label, str) or not label:
            raise UsageError(f"name must be a non-empty string, not {name!r}")
        child = MulticastReceiver(self, label, receive_buffer, keep)
        self._adopt(child)
        return child

    def sender(self) -> MulticastSender:
        """A new sender to this group, on the loopback interface, TTL ``ttl``."""
        self._check_open("add a sender to")
        child = MulticastSender(self)
        self._adopt(child)
        return child

    def send(self, data: bytes) -> int:
        """Send one datagram to the group (with a sender made on first use)."""
        self._check_open("send to")
        if self._default_sender is None or self._default_sender.closed:
            self._default_sender = self.sender()
        return self._default_sender.send(data)

    @property
    def receivers(self) -> tuple[MulticastReceiver, ...]:
        """The receivers not yet closed."""
        with self._children_lock:
            return tuple(
                c for c in self._children if isinstance(c, MulticastReceiver) and not c.closed
            )

    def _adopt(self, child: Endpoint) -> None:
        with self._children_lock:
            closed = self._closed.is_set()
            if not closed:
                self._children.append(child)
        if closed:
            child.close()
            self._check_open("add to")

    def _wake(self) -> None:
        with self._children_lock:
            children = list(self._children)
        for child in reversed(children):
            try:
                child.close()
            except Exception as exc:  # keep closing the others; report below
                self._record_error(exc)

    def _release(self) -> None:
        close_socket(self._placeholder)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self.receivers)} receivers"
        return f"<MulticastGroup {format_address((self.group, self.port))} {state}>"
