"""What ``head_of_line`` returns: every message's fate, as a datagram and in a stream."""

from __future__ import annotations

from dataclasses import dataclass, field

from labsock._core.formatting import format_seconds, format_share, wrap_lines
from labsock._core.impair import LinkStats

__all__ = ["HeadOfLineResult", "Message"]


@dataclass(frozen=True, slots=True)
class Message:
    """What happened to one message (times from ``time.perf_counter``, in seconds).

    Attributes:
        seq: its sequence number.
        sent: when its first transmission left the sender.
        attempts: how many times it was sent.
        original: when its first transmission arrived, or None if the link dropped it.
        arrived: when its first copy of any transmission arrived, or None if none did.
        delivered: when the in-order receiver handed it over, or None if never.
    """

    seq: int
    sent: float
    attempts: int
    original: float | None
    arrived: float | None
    delivered: float | None


@dataclass(frozen=True)
class HeadOfLineResult:
    """One run of :func:`head_of_line`: every message's fate, and the link's count.

    ``datagram_delays`` and ``stream_delays`` are the two views (seconds from
    a message's first send until the datagram arrived / the stream handed it
    over; None where there was nothing to hand over).
    """

    count: int
    interval: float
    loss: float
    delay: float
    rto: float
    seed: int | str
    messages: tuple[Message, ...]
    link: LinkStats
    elapsed: float
    errors: tuple[str, ...] = field(default=())

    @property
    def datagram_delays(self) -> tuple[float | None, ...]:
        """Per message: first transmission's arrival minus its send (None: dropped)."""
        return tuple(None if m.original is None else m.original - m.sent for m in self.messages)

    @property
    def stream_delays(self) -> tuple[float | None, ...]:
        """Per message: in-order hand-over minus first send (None: never handed over)."""
        return tuple(None if m.delivered is None else m.delivered - m.sent for m in self.messages)

    @property
    def lost_originals(self) -> tuple[int, ...]:
        """Messages whose first transmission the link dropped."""
        return tuple(m.seq for m in self.messages if m.original is None)

    @property
    def delivered(self) -> int:
        """Messages the stream handed over, in order (all of them, unless the run gave up)."""
        return sum(m.delivered is not None for m in self.messages)

    @property
    def held_back(self) -> tuple[int, ...]:
        """Messages whose first copy arrived in time, yet waited behind an earlier loss.

        A message counts when the stream handed it over more than a
        millisecond after its datagram arrived: it had to wait for an
        earlier message's retransmission.
        """
        return tuple(
            m.seq
            for m in self.messages
            if m.original is not None
            and m.delivered is not None
            and m.delivered - m.original > 1e-3
        )

    @property
    def retransmissions(self) -> int:
        """Transmissions beyond the first, over all messages."""
        return sum(m.attempts - 1 for m in self.messages)

    def summary(self) -> str:
        """A few lines a student can read, e.g. for ``print(result)``."""
        lost = len(self.lost_originals)
        datagram = [d for d in self.datagram_delays if d is not None]
        stream = [d for d in self.stream_delays if d is not None]
        lines = [
            f"{self.count} messages, one every {format_seconds(self.interval)}, through a link "
            f"that drops {self.loss:.0%} of them and delays each by "
            f"{format_seconds(self.delay)}",
            f"datagrams: {lost} first copies lost ({format_share(lost, self.count)}); "
            f"the {len(datagram)} others arrived, the slowest after "
            f"{format_seconds(max(datagram, default=0.0))}",
            f"stream: {self.delivered} of {self.count} handed over in order after "
            f"{self.retransmissions} retransmissions; {len(self.held_back)} messages that "
            f"had arrived on time waited behind a lost one; the slowest took "
            f"{format_seconds(max(stream, default=0.0))}",
        ]
        if self.errors:
            lines.append("problems: " + "; ".join(self.errors))
        return wrap_lines(lines)

    def __str__(self) -> str:
        return self.summary()
