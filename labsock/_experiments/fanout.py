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
from typing import Literal

from labsock._core.errors import UsageError
from labsock._core.probe import HEADER_SIZE
from labsock._core.validate import check_count, check_seconds, check_size
from labsock._endpoints.kernel import udp_rcvbuf_errors
from labsock._endpoints.multicast import (
    TAG_SIZE,
    Arrival,
    MulticastGroup,
    MulticastReceiver,
    MulticastSender,
    encode_tagged_probe,
)
from labsock._results.fanout import FanOutResult, MembershipEvent

__all__ = ["fan_out", "membership_plan", "tally"]

_MAX_RECEIVERS = 32
_MAX_COUNT = 100_000


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
        drops_before = udp_rcvbuf_errors()
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
        drops_after = udp_rcvbuf_errors()
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
