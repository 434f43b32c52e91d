"""A multicast receiver: a socket that joined a group, and what it heard.

Made by :meth:`MulticastGroup.receiver <labsock._endpoints.multicast.MulticastGroup.receiver>`;
how it hears its own group and nothing else is told in
:mod:`labsock._endpoints.multicast`.
"""

from __future__ import annotations

import select
import selectors
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labsock._core.errors import os_errors
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.probe import (
    MAGIC,
    TAGGED_HEAD,
    read_probe,
)
from labsock._core.validate import check_count, check_seconds
from labsock._endpoints.base import Endpoint, close_socket, format_address
from labsock._endpoints.mcaddress import (
    _bound_socket,
    _mreq,
)

if TYPE_CHECKING:
    from labsock._endpoints.multicast import MulticastGroup

__all__ = ["Arrival", "MulticastReceiver", "ReceiverStats"]

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

    kind = N_("multicast receiver")

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
        self._check_open(N_("join with this {kind}"))
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
        self._check_open(N_("leave with this {kind}"))
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
        self._check_open(N_("read the buffer of this {kind}"))
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
            for fd, _events in ready:
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
        state = _("closed") if self.closed else (_("joined") if self._joined else _("left"))
        return _("<MulticastReceiver {name!r} {where} {state}, {n} datagrams>").format(
            name=self.name,
            where=format_address(self.address),
            state=state,
            n=self._counts["datagrams"],
        )
