"""Who got which multicast datagram: the records ``fan_out`` returns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from labsock._core.errors import UsageError
from labsock._core.formatting import format_seconds, wrap_lines
from labsock._core.i18n import gettext as _

__all__ = ["FanOutResult", "MembershipEvent", "joined_late", "move_kinds", "move_words"]


@dataclass(frozen=True, slots=True)
class MembershipEvent:
    """Receiver ``receiver`` did ``action`` ("leave" or "join") just before datagram ``seq``."""

    receiver: str
    action: Literal["leave", "join"]
    seq: int


def move_words(events: Iterable[MembershipEvent]) -> list[str]:
    """Each event in words: ``"left before #30"``, ``"rejoined before #70"``.

    A join is a *rejoin* only after a leave of the same receiver; a
    receiver's first join (one added to a group after datagrams were sent)
    is ``"joined before #60"``.

    >>> move_words([MembershipEvent("r4", "join", 60), MembershipEvent("r4", "leave", 80),
    ...             MembershipEvent("r4", "join", 90)])
    ['joined before #60', 'left before #80', 'rejoined before #90']
    """
    events = list(events)
    said = {
        "left": _("left before #{seq}"),
        "rejoined": _("rejoined before #{seq}"),
        "joined": _("joined before #{seq}"),
    }
    return [
        said[kind].format(seq=event.seq)
        for event, kind in zip(events, move_kinds(events), strict=True)
    ]


def move_kinds(events: Iterable[MembershipEvent]) -> list[str]:
    """Each event's kind, in English whatever the language: ``"left"``, ``"joined"`` or
    ``"rejoined"`` (a join after a leave of the same receiver).

    >>> move_kinds([MembershipEvent("r4", "leave", 8), MembershipEvent("r4", "join", 9)])
    ['left', 'rejoined']
    """
    left: set[str] = set()
    kinds = []
    for event in events:
        if event.action == "leave":
            left.add(event.receiver)
            kinds.append("left")
        else:
            kinds.append("rejoined" if event.receiver in left else "joined")
    return kinds


def joined_late(expected: Iterable[bool]) -> int:
    """How many datagrams were sent before a receiver's first membership (all, if never).

    >>> joined_late([False, False, True, False])
    2
    """
    late = 0
    for member in expected:
        if member:
            return late
        late += 1
    return late


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
                _("there is no receiver {name!r}; the receivers are {members}").format(
                    name=name, members=self.names
                )
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
            _(
                "fan-out to {host}:{port}: {count} datagrams of {size} bytes, "
                "1 sender, {receivers} receivers, in {elapsed}"
            ).format(
                host=host,
                port=port,
                count=self.count,
                size=self.size,
                receivers=len(self.names),
                elapsed=format_seconds(self.elapsed),
            )
        ]
        for i, name in enumerate(self.names):
            member = sum(self.expected[i])
            line = "  " + _("{name}: {received} of {count} received").format(
                name=name, received=self.received[i], count=self.count
            )
            moves = [e for e in self.events if e.receiver == name]
            if moves:
                said = ", ".join(move_words(moves))
                # Sent before its first join: not missed, it was not there yet.
                before = joined_late(self.expected[i])
                why = [_("{n} sent before it joined").format(n=before)] if before else []
                if self.count - member - before:
                    why.append(_("{n} missed by design").format(n=self.count - member - before))
                line += f" ({said}: {', '.join(why)})"
            line += _(", {n} lost").format(n=self.lost[i])
            if self.unexpected[i]:
                line += _(", {n} heard while out of the group").format(n=self.unexpected[i])
            if self.duplicates[i]:
                line += _(", {n} duplicates").format(n=self.duplicates[i])
            lines.append(line)
        talk = sum(self.cross_talk)
        lines.append(
            _("cross-talk: none (no datagram from another session)")
            if not talk
            else _(
                "cross-talk: {n} datagrams from another session on the same group and port"
            ).format(n=talk)
        )
        if sum(self.lost) and self.kernel_drops:
            lines.append(
                _(
                    "the kernel counted {n} receive-buffer overflows meanwhile: a receiver's "
                    "buffer was full (try a bigger receive_buffer or a longer interval)"
                ).format(n=self.kernel_drops)
            )
        return wrap_lines(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"<FanOutResult {len(self.names)} receivers x {self.count} datagrams "
            f"received={self.received} lost={self.lost} cross_talk={sum(self.cross_talk)}>"
        )
