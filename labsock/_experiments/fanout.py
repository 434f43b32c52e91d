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
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from labsock._core.errors import UsageError
from labsock._core.probe import HEADER_SIZE
from labsock._core.validate import check_count, check_seconds, check_size
from labsock._endpoints.multicast import (
    TAG_SIZE,
    Arrival,
    MulticastGroup,
    MulticastReceiver,
    MulticastSender,
    encode_tagged_probe,
)
from labsock._results.ping import format_seconds

__all__ = ["FanOutResult", "MembershipEvent", "fan_out", "membership_plan", "tally"]

_MAX_RECEIVERS = 32
_MAX_COUNT = 100_000


@dataclass(frozen=True, slots=True)
class MembershipEvent:
    """Receiver ``receiver`` did ``action`` ("leave" or "join") just before datagram ``seq``."""

    receiver: str
    action: Literal["leave", "join"]
    seq: int


def _check_schedule(
    schedule: Mapping[str, int] | None, what: str, names: tuple[str, ...], count: int
) -> dict[str, int]:
    if schedule is None:
        return {}
    if not isinstance(schedule, Mapping):
        raise UsageError(f"{what} must be a dict such as {{'r2': 30}}, not {schedule!r}")
    for name, seq in schedule.items():
        if name not in names:
            raise UsageError(f"{what}: there is no receiver {name!r}; the receivers are {names}")
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
            raise UsageError(f"rejoin[{name!r}]: receiver {name!r} never leaves, so cannot rejoin")
        if seq <= leaves[name]:
            raise UsageError(
                f"rejoin[{name!r}]={seq} must come after leave[{name!r}]={leaves[name]}"
            )
    rows = []
    for name in names:
        start, stop = leaves.get(name, count), rejoins.get(name, count)
        rows.append(tuple(not start <= seq < stop for seq in range(count)))
    return tuple(rows)


@dataclass(frozen=True)
class FanOutResult:
    """What one :func:`fan_out` run measured.

    Attributes:
        group: the ``(group, port)`` the datagrams went to.
        names: the receivers, in row order.
        count, size, interval: the settings of the run.
        matrix: ``matrix[r][seq]`` is True when receiver ``r`` got datagram ``seq``.
        expected: ``expected[r][seq]`` is True when ``r`` was a member as
            ``seq`` was sent (what it should get, by the membership plan).
        events: the leaves and joins, in the order they happened.
        sent_times: send time of each datagram (``time.perf_counter``).
        arrivals: per receiver, ``(seq, time)`` of each of our datagrams in
            arrival order, duplicates included.
        cross_talk: per receiver, datagrams that were not ours (another tag,
            or not a probe at all): another session on the same group and port.
        receive_buffers: the ``SO_RCVBUF`` each receiver was granted.
        kernel_drops: UDP receive-buffer overflows the kernel counted during
            the run, on the whole machine (Linux ``/proc/net/snmp``), else None.
        elapsed: wall time of the run, in seconds.
    """

    group: tuple[str, int]
    names: tuple[str, ...]
    count: int
    size: int
    interval: float
    matrix: tuple[tuple[bool, ...], ...]
    expected: tuple[tuple[bool, ...], ...]
    events: tuple[MembershipEvent, ...]
    sent_times: tuple[float, ...]
    arrivals: tuple[tuple[tuple[int, float], ...], ...]
    cross_talk: tuple[int, ...]
    receive_buffers: tuple[int, ...]
    kernel_drops: int | None = None
    elapsed: float = 0.0

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise UsageError(
                f"there is no receiver {name!r}; the receivers are {self.names}"
            ) from None

    def row(self, name: str) -> tuple[bool, ...]:
        """Which datagrams receiver ``name`` got, by sequence number."""
        return self.matrix[self._index(name)]

    def missed(self, name: str) -> tuple[int, ...]:
        """Sequence numbers receiver ``name`` did not get (by design or lost)."""
        return tuple(seq for seq, got in enumerate(self.row(name)) if not got)

    @cached_property
    def received(self) -> tuple[int, ...]:
        """Per receiver: distinct datagrams received."""
        return tuple(sum(row) for row in self.matrix)

    @cached_property
    def lost(self) -> tuple[int, ...]:
        """Per receiver: datagrams sent while it was a member that never arrived."""
        return tuple(
            sum(e and not g for e, g in zip(exp, got, strict=True))
            for exp, got in zip(self.expected, self.matrix, strict=True)
        )

    @cached_property
    def loss_rate(self) -> tuple[float, ...]:
        """Per receiver: ``lost`` over datagrams sent while it was a member (0.0 to 1.0)."""
        return tuple(
            lost / sum(exp) if sum(exp) else 0.0
            for lost, exp in zip(self.lost, self.expected, strict=True)
        )

    @cached_property
    def unexpected(self) -> tuple[int, ...]:
        """Per receiver: datagrams that arrived although it was not a member (should be 0)."""
        return tuple(
            sum(g and not e for e, g in zip(exp, got, strict=True))
            for exp, got in zip(self.expected, self.matrix, strict=True)
        )

    @cached_property
    def duplicates(self) -> tuple[int, ...]:
        """Per receiver: extra copies of datagrams that had already arrived."""
        return tuple(len(arr) - n for arr, n in zip(self.arrivals, self.received, strict=True))

    def summary(self) -> str:
        """A few lines a student can read, e.g. for ``print(result)``."""
        host, port = self.group
        lines = [
            f"fan-out to {host}:{port}: {self.count} datagrams of {self.size} bytes, "
            f"1 sender, {len(self.names)} receivers, in {format_seconds(self.elapsed)}"
        ]
        for i, name in enumerate(self.names):
            member = sum(self.expected[i])
            line = f"  {name}: {self.received[i]} of {self.count} received"
            moves = [e for e in self.events if e.receiver == name]
            if moves:
                said = ", ".join(
                    f"{'left' if e.action == 'leave' else 'rejoined'} before #{e.seq}"
                    for e in moves
                )
                line += f" ({said}: {self.count - member} missed by design)"
            line += f", {self.lost[i]} lost"
            if self.unexpected[i]:
                line += f", {self.unexpected[i]} heard while out of the group"
            if self.duplicates[i]:
                line += f", {self.duplicates[i]} duplicates"
            lines.append(line)
        talk = sum(self.cross_talk)
        lines.append(
            "cross-talk: none (no datagram from another session)"
            if not talk
            else f"cross-talk: {talk} datagrams from another session on the same group and port"
        )
        if sum(self.lost) and self.kernel_drops:
            lines.append(
                f"the kernel counted {self.kernel_drops} receive-buffer overflows meanwhile: "
                "a receiver's buffer was full (try a bigger receive_buffer or a longer interval)"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"<FanOutResult {len(self.names)} receivers x {self.count} datagrams "
            f"received={self.received} lost={self.lost} cross_talk={sum(self.cross_talk)}>"
        )


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


def _udp_rcvbuf_errors() -> int | None:
    """The kernel's count of UDP datagrams dropped for a full receive buffer (Linux)."""
    try:
        with open("/proc/net/snmp", encoding="ascii") as f:
            udp = [line.split() for line in f if line.startswith("Udp:")]
        return int(udp[1][udp[0].index("RcvbufErrors")])
    except (OSError, ValueError, IndexError):
        return None


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
    expected = membership_plan(names, count, leave, rejoin)
    schedule: dict[int, list[tuple[int, Literal["leave", "join"]]]] = {}
    for i, name in enumerate(names):
        if leave and name in leave:
            schedule.setdefault(leave[name], []).append((i, "leave"))
        if rejoin and name in rejoin:
            schedule.setdefault(rejoin[name], []).append((i, "join"))
    if group is not None and not isinstance(group, (MulticastGroup, str)):
        raise UsageError(f"group must be a MulticastGroup, an address or None, not {group!r}")

    own = not isinstance(group, MulticastGroup)
    grp = group if isinstance(group, MulticastGroup) else MulticastGroup(group)
    members: list[MulticastReceiver] = []
    sender: MulticastSender | None = None
    try:
        keep = 2 * count + 1000  # our datagrams, their rare duplicates, some strays
        for name in names:
            members.append(grp.receiver(name, receive_buffer, keep=keep))
        sender = grp.sender()
        tag = secrets.token_bytes(TAG_SIZE)
        events: list[MembershipEvent] = []
        sent_times: list[float] = []
        so_far = [0] * receivers  # datagrams each receiver should have by now
        drops_before = _udp_rcvbuf_errors()
        started = next_send = time.perf_counter()
        for seq in range(count):
            for i, action in schedule.get(seq, ()):
                if action == "leave":
                    # Let everything sent to it land first: a datagram still
                    # inside the kernel when it leaves would be dropped.
                    members[i].wait_received(so_far[i], timeout, tag=tag)
                    members[i].leave()
                else:
                    members[i].join()
                events.append(MembershipEvent(names[i], action, seq))
            delay = next_send - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            now = time.perf_counter()
            sender.send(encode_tagged_probe(seq, int(now * 1e9), tag, size))
            sent_times.append(now)
            next_send = max(next_send + interval, now)  # keep pace, never burst
            for i in range(receivers):
                so_far[i] += expected[i][seq]
        deadline = time.perf_counter() + timeout
        for i, member in enumerate(members):
            member.wait_received(so_far[i], max(0.0, deadline - time.perf_counter()), tag=tag)
        elapsed = time.perf_counter() - started
        drops_after = _udp_rcvbuf_errors()
        matrix, arrivals, cross_talk = [], [], []
        for member in members:
            got, mine, foreign = tally(member.received(), tag, count)
            matrix.append(got)
            arrivals.append(mine)
            cross_talk.append(foreign + member.statistics().not_kept)
        buffers = tuple(m.receive_buffer for m in members)
    finally:
        if own:
            grp.close()
        else:
            for endpoint in [*members, sender]:
                if endpoint is not None:
                    endpoint.close()
    return FanOutResult(
        group=(grp.group, grp.port),
        names=names,
        count=count,
        size=size,
        interval=interval,
        matrix=tuple(matrix),
        expected=expected,
        events=tuple(events),
        sent_times=tuple(sent_times),
        arrivals=tuple(arrivals),
        cross_talk=tuple(cross_talk),
        receive_buffers=buffers,
        kernel_drops=(
            drops_after - drops_before
            if drops_before is not None and drops_after is not None
            else None
        ),
        elapsed=elapsed,
    )
