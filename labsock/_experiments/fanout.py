"""The fan-out experiment: one sender, several receivers, who got which datagram.

One sender sends ``count`` sequence-numbered datagrams to a group; each
receiver records what it heard. Receivers may leave the group before a given
datagram and join it again before a later one. The membership changes happen
*between* two sends, synchronously: before a receiver leaves, the experiment
waits until everything sent to it so far has arrived. (On Linux loopback
delivery is usually done before ``sendto`` returns, but nothing promises it:
the datagram passes through the kernel's receive backlog, and one still there
when the receiver leaves would be dropped and blur the boundary.) So the
result is exact: a receiver misses precisely the datagrams sent while it was
out, and any other gap is real loss.

Every payload is a probe (``labsock._core.probe``) followed by a random session
tag, so datagrams from any other sender on the same group and port (another
notebook, another student) are counted as cross-talk instead of being
mistaken for ours.

The loop lives in :class:`FanOutSession`, the one fan-out loop of labsock:
:func:`fan_out` runs one session for one burst with a schedule of leaves and
joins, and the multicast lab panel keeps a session alive between bursts while
its receivers come, leave and go.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from labsock._core.errors import UsageError
from labsock._core.i18n import gettext as _
from labsock._core.probe import HEADER_SIZE
from labsock._core.validate import check_count, check_seconds, check_size
from labsock._endpoints.kernel import udp_rcvbuf_errors
from labsock._endpoints.multicast import (
    TAG_SIZE,
    Arrival,
    MulticastGroup,
    MulticastReceiver,
    encode_tagged_probe,
)
from labsock._results.fanout import FanOutResult, MembershipEvent

__all__ = ["FanOutSession", "fan_out", "membership_plan", "tally"]

_MAX_RECEIVERS = 32
_MAX_COUNT = 100_000


def _check_schedule(
    schedule: Mapping[str, int] | None, what: str, names: tuple[str, ...], count: int
) -> dict[str, int]:
    if schedule is None:
        return {}
    if not isinstance(schedule, Mapping):
        raise UsageError(
            _("{what} must be a dict such as {example}, not {schedule!r}").format(
                what=what, example="{'r2': 30}", schedule=schedule
            )
        )
    for name, seq in schedule.items():
        if name not in names:
            raise UsageError(
                _("{what}: there is no receiver {name!r}; the receivers are {names}").format(
                    what=what, name=name, names=names
                )
            )
        check_count(seq, name=f"{what}[{name!r}]", minimum=0, maximum=count - 1)
    return dict(schedule)


def membership_plan(
    names: tuple[str, ...],
    count: int,
    leave: Mapping[str, int] | None = None,
    rejoin: Mapping[str, int] | None = None,
) -> tuple[tuple[bool, ...], ...]:
    """Which receiver is a member when each datagram is sent (receivers x seqs).

    A receiver that leaves at ``k`` and rejoins at ``j`` misses ``k .. j-1``.

    >>> membership_plan(("r1", "r2"), 5, leave={"r2": 1}, rejoin={"r2": 3})
    ((True, True, True, True, True), (True, False, False, True, True))

    Raises ``UsageError`` for an unknown name, a seq outside ``0 .. count-1``,
    or a rejoin that does not come after a leave.
    """
    leaves = _check_schedule(leave, "leave", names, count)
    rejoins = _check_schedule(rejoin, "rejoin", names, count)
    for name, seq in rejoins.items():
        if name not in leaves:
            raise UsageError(
                _("rejoin[{name!r}]: receiver {name!r} never leaves, so cannot rejoin").format(
                    name=name
                )
            )
        if seq <= leaves[name]:
            raise UsageError(
                _("rejoin[{name!r}]={seq} must come after leave[{name!r}]={left}").format(
                    name=name, seq=seq, left=leaves[name]
                )
            )
    rows = []
    for name in names:
        start, stop = leaves.get(name, count), rejoins.get(name, count)
        rows.append(tuple(not start <= seq < stop for seq in range(count)))
    return tuple(rows)


def tally(
    heard: Iterable[Arrival], tag: bytes, count: int
) -> tuple[tuple[bool, ...], tuple[tuple[int, float], ...], int]:
    """Sort what one receiver heard into its row of the fan-out matrix.

    Returns ``(got, mine, foreign)``: ``got[seq]`` is True for each of our
    ``count`` datagrams it heard, ``mine`` the ``(seq, time)`` of each of
    them, and ``foreign`` how many datagrams were not ours (another session's
    tag, or no probe at all: cross-talk).
    """
    got = [False] * count
    mine: list[tuple[int, float]] = []
    foreign = 0
    for a in heard:
        if a.tag == tag and a.seq is not None and a.seq < count:
            got[a.seq] = True
            mine.append((a.seq, a.time))
        else:
            foreign += 1
    return tuple(got), tuple(mine), foreign


@dataclass
class _Row:
    """One receiver's history in a session: whether it was a member for each datagram sent."""

    name: str
    receiver: MulticastReceiver | None
    buffer: int
    expected: list[bool] = field(default_factory=list)
    # What it had heard (and stored no longer) when it was removed; None while it lives.
    final: tuple[tuple[Arrival, ...], int] | None = None

    def retire(self) -> MulticastReceiver:
        """Keep what the receiver heard, and forget the receiver: it is gone from now on."""
        receiver = self.receiver
        assert receiver is not None
        self.final = receiver.received(), receiver.statistics().not_kept
        self.receiver = None
        return receiver

    def heard(self) -> tuple[tuple[Arrival, ...], int]:
        """Every arrival recorded, and how many more were counted but not kept."""
        if self.final is not None:
            return self.final
        assert self.receiver is not None
        return self.receiver.received(), self.receiver.statistics().not_kept


class FanOutSession:
    """One fan-out that goes on: bursts sent to a group while receivers come, leave and go.

    The one fan-out loop of labsock. :func:`fan_out` runs a session for one
    burst, with leaves and joins scheduled before given datagrams; the
    multicast lab panel keeps a session alive between bursts and changes the
    membership in between. The numbering goes on from burst to burst, and
    :meth:`result` is the :class:`FanOutResult` of everything sent so far.

    A membership change happens *between* two sends: before a receiver leaves
    (or is removed), the session waits (at most ``timeout`` seconds) until
    everything sent to it so far has arrived, so the boundary is exact.

    The session owns a sender (made on the group here) and the receivers
    given to :meth:`add`; :meth:`close` closes them, not the group.

    Args:
        group: the group to send to.
        size: bytes per datagram, at least 24 (probe header and session tag).
        interval: seconds between two sends (0 sends as fast as possible).
        timeout: seconds to wait for datagrams still on their way, after a
            burst and before each leave.

    Raises:
        UsageError: for a value out of range.

    Example:
        >>> with MulticastGroup() as group:
        ...     session = FanOutSession(group)
        ...     session.add(group.receiver("r1"))
        ...     session.add(group.receiver("r2"))
        ...     session.send(10)
        ...     _ = session.leave("r2")
        ...     session.send(10)
        ...     session.result().received
        (20, 10)
    """

    def __init__(
        self,
        group: MulticastGroup,
        *,
        size: int = 64,
        interval: float = 0.001,
        timeout: float = 1.0,
    ) -> None:
        self.size = check_size(size, minimum=HEADER_SIZE + TAG_SIZE, udp=True)
        self.interval = check_seconds(interval, name="interval", maximum=1.0)
        self.timeout = check_seconds(timeout, name="timeout", allow_zero=False, maximum=60.0)
        self.group = group
        # A random tag in every payload: datagrams of another session on the
        # same group and port are told apart and counted as cross-talk.
        self.tag = secrets.token_bytes(TAG_SIZE)
        self._rows: dict[str, _Row] = {}
        self._events: list[MembershipEvent] = []
        self._sent_times: list[float] = []
        self._elapsed = 0.0
        self._kernel_drops: int | None = 0
        self.sender = group.sender()

    # -- what the session holds ---------------------------------------------
    @property
    def sent(self) -> int:
        """Datagrams sent so far, over all bursts."""
        return len(self._sent_times)

    @property
    def members(self) -> tuple[str, ...]:
        """The receivers alive now (joined or not), oldest first."""
        self._sync()
        return tuple(name for name, row in self._rows.items() if row.receiver is not None)

    def receiver(self, name: str) -> MulticastReceiver | None:
        """The live receiver called ``name``; None if there is none (never was, or removed)."""
        row = self._rows.get(name)
        if row is None or row.receiver is None or row.receiver.closed:
            return None
        return row.receiver

    # -- membership -------------------------------------------------------------
    def add(self, receiver: MulticastReceiver) -> None:
        """Take ``receiver`` (joined, made on this group) into the session.

        It is a member for the datagrams sent from now on; its row in the
        result is False for those sent before.
        """
        if receiver.name in self._rows:
            raise UsageError(
                _("there already is a receiver {name!r} in this fan-out").format(name=receiver.name)
            )
        expected = [False] * self.sent
        self._rows[receiver.name] = _Row(receiver.name, receiver, receiver.receive_buffer, expected)
        if self.sent:
            self._event(receiver.name, "join")

    def remove(self, name: str) -> None:
        """Close receiver ``name``: it leaves and its socket closes; its row stays, as a leave.

        A receiver that never was a member for any datagram leaves no row.
        """
        row = self._live(name)
        self._settle(row)
        row.retire().close()
        if any(row.expected):
            self._event(name, "leave")
        else:
            # It never was a member for any datagram: nothing to keep.
            del self._rows[name]
            self._events = [e for e in self._events if e.receiver != name]

    def leave(self, name: str) -> bool:
        """Receiver ``name`` leaves the group; False if it was already out.

        Everything sent to it before is let in first (bounded wait).
        """
        row = self._live(name)
        receiver = row.receiver
        assert receiver is not None
        if not receiver.joined:
            return False
        self._settle(row)
        receiver.leave()
        self._event(name, "leave")
        return True

    def join(self, name: str) -> bool:
        """Receiver ``name`` joins the group again; False if it already was a member."""
        receiver = self._live(name).receiver
        assert receiver is not None
        if receiver.joined:
            return False
        receiver.join()
        self._event(name, "join")
        return True

    # -- the loop ---------------------------------------------------------------
    def send(
        self,
        count: int,
        *,
        schedule: Mapping[int, Iterable[tuple[str, Literal["leave", "join"]]]] | None = None,
    ) -> None:
        """Send ``count`` datagrams, numbered on from :attr:`sent`; wait until members have them.

        Args:
            count: datagrams to send.
            schedule: ``{seq: [(name, "leave" or "join"), ...]}``: membership
                changes made just before datagram ``seq`` (numbered over the
                whole session).

        Whatever a member has not received ``timeout`` seconds after the
        last send counts as lost.
        """
        self._sync()
        plan = schedule or {}
        rows = list(self._rows.values())
        first = since = self.sent
        member = self._membership(rows)
        sender, tag, size, sent_times = self.sender, self.tag, self.size, self._sent_times
        drops_before = udp_rcvbuf_errors()
        started = next_send = time.perf_counter()
        for seq in range(first, first + count):
            moves = plan.get(seq)
            if moves:
                # Membership holds from `since` up to here: write it down
                # first, so a leave waits for exactly what was sent to it.
                for row, was in zip(rows, member, strict=True):
                    row.expected.extend([was] * (seq - since))
                since = seq
                for name, action in moves:
                    if action == "leave":
                        self.leave(name)
                    else:
                        self.join(name)
                member = self._membership(rows)
            delay = next_send - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            now = time.perf_counter()
            sender.send(encode_tagged_probe(seq, int(now * 1e9), tag, size))
            sent_times.append(now)
            next_send = max(next_send + self.interval, now)  # keep pace, never burst
        for row, was in zip(rows, member, strict=True):
            row.expected.extend([was] * (first + count - since))
        deadline = time.perf_counter() + self.timeout
        for row in rows:
            if row.receiver is not None and any(row.expected[first:]):
                left = max(0.0, deadline - time.perf_counter())
                row.receiver.wait_received(sum(row.expected), left, tag=tag)
        self._elapsed += time.perf_counter() - started
        drops_after = udp_rcvbuf_errors()
        if drops_before is None or drops_after is None or self._kernel_drops is None:
            self._kernel_drops = None
        else:
            self._kernel_drops += drops_after - drops_before

    def result(self) -> FanOutResult:
        """The fan-out result of every datagram sent so far (receivers ever added, in order)."""
        self._sync()
        count = self.sent
        matrix, arrivals, cross_talk = [], [], []
        for row in self._rows.values():
            heard, not_kept = row.heard()
            got, mine, foreign = tally(heard, self.tag, count)
            matrix.append(got)
            arrivals.append(mine)
            cross_talk.append(foreign + not_kept)
        return FanOutResult(
            group=(self.group.group, self.group.port),
            names=tuple(self._rows),
            count=count,
            size=self.size,
            interval=self.interval,
            matrix=tuple(matrix),
            expected=tuple(tuple(row.expected) for row in self._rows.values()),
            # A change after the last burst has no datagram to stand before yet.
            events=tuple(e for e in self._events if e.seq < count),
            sent_times=tuple(self._sent_times),
            arrivals=tuple(arrivals),
            cross_talk=tuple(cross_talk),
            receive_buffers=tuple(row.buffer for row in self._rows.values()),
            kernel_drops=self._kernel_drops,
            elapsed=self._elapsed,
        )

    def close(self) -> None:
        """Close the sender and every receiver of the session (not the group)."""
        for row in self._rows.values():
            if row.receiver is not None:
                row.receiver.close()
        self.sender.close()

    # -- helpers ------------------------------------------------------------------
    @staticmethod
    def _membership(rows: list[_Row]) -> list[bool]:
        return [
            row.receiver is not None and row.receiver.joined and not row.receiver.closed
            for row in rows
        ]

    def _live(self, name: str) -> _Row:
        row = self._rows.get(name)
        if row is None or self.receiver(name) is None:
            raise UsageError(
                _("there is no receiver {name!r}; the receivers are {members}").format(
                    name=name, members=self.members
                )
            )
        return row

    def _sync(self) -> None:
        # A receiver closed behind the session's back (say, by close_all()) is a removal.
        for row in self._rows.values():
            if row.receiver is not None and row.receiver.closed:
                row.retire()
                if self.sent and not self.group.closed:
                    self._event(row.name, "leave")

    def _settle(self, row: _Row) -> None:
        # Let everything sent to it land before it leaves: a datagram still in
        # the kernel's backlog when it leaves would be dropped and blur the edge.
        if row.receiver is not None and row.receiver.joined:
            row.receiver.wait_received(sum(row.expected), self.timeout, tag=self.tag)

    def _event(self, name: str, action: Literal["leave", "join"]) -> None:
        seq = self.sent
        undo = "join" if action == "leave" else "leave"
        pending = [e for e in self._events if e.receiver == name and e.seq == seq]
        if pending and pending[-1].action == undo:
            # Left and came back (or the reverse) with no datagram between:
            # nothing happened as far as any datagram is concerned.
            self._events.remove(pending[-1])
            return
        self._events.append(MembershipEvent(name, action, seq))


def fan_out(
    group: MulticastGroup | str | None = None,
    *,
    receivers: int = 3,
    count: int = 100,
    interval: float = 0.001,
    size: int = 64,
    leave: Mapping[str, int] | None = None,
    rejoin: Mapping[str, int] | None = None,
    timeout: float = 1.0,
    receive_buffer: int | None = 1 << 20,
) -> FanOutResult:
    """Send ``count`` datagrams to a group and record which receiver got which.

    Args:
        group: a :class:`MulticastGroup` (its receivers for this run are
            created and closed here), a group address, or ``None`` for a fresh
            group drawn from 239.255.0.0/16.
        receivers: how many receivers, named ``"r1"``, ``"r2"``, ...
        count: datagrams to send (1 to 100,000).
        interval: seconds between two sends (0 sends as fast as possible).
        size: bytes per datagram, at least 24 (probe header and session tag).
        leave: ``{name: seq}``: that receiver leaves just before datagram ``seq``.
        rejoin: ``{name: seq}``: it joins again just before datagram ``seq``.
        timeout: seconds to wait for datagrams still on their way, after the
            last send and before each leave.
        receive_buffer: ``SO_RCVBUF`` asked for each receiver, in bytes.

    Returns:
        A :class:`FanOutResult`; ``result.matrix`` says who got what.

    Raises:
        UsageError: for arguments that make no sense.

    Example:
        >>> result = fan_out(receivers=3, count=50, leave={"r2": 10}, rejoin={"r2": 30})
        >>> result.received, result.lost
        ((50, 30, 50), (0, 0, 0))
    """
    receivers = check_count(receivers, name="receivers", maximum=_MAX_RECEIVERS)
    count = check_count(count, name="count", maximum=_MAX_COUNT)
    interval = check_seconds(interval, name="interval", maximum=1.0)
    size = check_size(size, minimum=HEADER_SIZE + TAG_SIZE, udp=True)
    timeout = check_seconds(timeout, name="timeout", allow_zero=False, maximum=60.0)
    if receive_buffer is not None:
        check_count(receive_buffer, name="receive_buffer", minimum=1, maximum=1 << 30)
    names = tuple(f"r{i + 1}" for i in range(receivers))
    membership_plan(names, count, leave, rejoin)  # refuses a schedule that makes no sense
    schedule: dict[int, list[tuple[str, Literal["leave", "join"]]]] = {}
    for name in names:
        if leave and name in leave:
            schedule.setdefault(leave[name], []).append((name, "leave"))
        if rejoin and name in rejoin:
            schedule.setdefault(rejoin[name], []).append((name, "join"))
    if group is not None and not isinstance(group, (MulticastGroup, str)):
        raise UsageError(
            _("group must be a MulticastGroup, an address or None, not {group!r}").format(
                group=group
            )
        )

    own = not isinstance(group, MulticastGroup)
    grp = group if isinstance(group, MulticastGroup) else MulticastGroup(group)
    session: FanOutSession | None = None
    try:
        session = FanOutSession(grp, size=size, interval=interval, timeout=timeout)
        keep = 2 * count + 1000  # our datagrams, their rare duplicates, some strays
        for name in names:
            session.add(grp.receiver(name, receive_buffer, keep=keep))
        session.send(count, schedule=schedule)
        return session.result()
    finally:
        if own:
            grp.close()
        elif session is not None:
            session.close()
