"""One record per probe: what was sent, whether and when its reply came back.

A probe run produces two raw logs: the send time of every sequence number, and
every reply in the order it arrived (duplicates included). :func:`build_records`
folds them into one :class:`ProbeRecord` per sequence number, which is what the
statistics in :mod:`labsock._core.stats` work on.

Times are plain floats in seconds from one clock (``time.perf_counter``); only
their differences mean anything.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from labsock._core.errors import UsageError
from labsock._core.i18n import gettext as _

__all__ = ["ProbeRecord", "build_records"]


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    """The fate of one probe.

    ``seq`` is the sequence number (0 .. count-1) and ``sent_at`` its send
    time. ``received_at`` is when the *first* copy of the reply arrived and ``arrival``
    that copy's 0-based position among all first-copy arrivals; both are
    ``None`` when the reply was lost. ``copies`` counts every copy of the reply
    that arrived: 0 lost, 1 normal, more than 1 duplicated.

    Raises :class:`UsageError` when the fields contradict each other (a lost
    probe with an arrival time, a received one with ``copies == 0``, ...).

    (``sent_at``/``received_at`` are times; a :class:`~labsock.PingResult`'s
    ``sent``/``received`` are counts. The old names ``sent``/``received``
    still read these times, with a DeprecationWarning.)

    >>> r = ProbeRecord(seq=0, sent_at=1.0, received_at=1.25, arrival=0, copies=1)
    >>> r.lost, r.rtt
    (False, 0.25)
    >>> ProbeRecord(seq=1, sent_at=2.0, received_at=None, arrival=None, copies=0).rtt is None
    True
    """

    seq: int
    sent_at: float
    received_at: float | None
    arrival: int | None
    copies: int

    def __post_init__(self) -> None:
        # Records are also built by hand (in lessons and tests); catching an
        # inconsistent one here keeps every statistic from silently miscounting.
        if self.seq < 0:
            raise UsageError(_("seq must be 0 or more, not {seq}").format(seq=self.seq))
        if self.copies < 0:
            raise UsageError(_("copies must be 0 or more, not {copies}").format(copies=self.copies))
        if (self.received_at is None) != (self.arrival is None):
            raise UsageError(
                _(
                    "probe {seq}: received_at and arrival must both be None (lost) "
                    "or both be set, not received_at={received_at!r}, arrival={arrival!r}"
                ).format(seq=self.seq, received_at=self.received_at, arrival=self.arrival)
            )
        if (self.received_at is None) != (self.copies == 0):
            raise UsageError(
                _(
                    "probe {seq}: copies must be 0 exactly when the reply was lost, "
                    "not copies={copies} with received_at={received_at!r}"
                ).format(seq=self.seq, copies=self.copies, received_at=self.received_at)
            )
        if self.arrival is not None and self.arrival < 0:
            raise UsageError(
                _("probe {seq}: arrival must be 0 or more, not {arrival}").format(
                    seq=self.seq, arrival=self.arrival
                )
            )

    @property
    def lost(self) -> bool:
        """``True`` when no copy of the reply arrived."""
        return self.received_at is None

    @property
    def rtt(self) -> float | None:
        """Round-trip time in seconds (first reply minus send time), ``None`` if lost."""
        if self.received_at is None:
            return None
        return self.received_at - self.sent_at

    @property
    def sent(self) -> float:
        """Deprecated: the send time; use ``sent_at`` (``PingResult.sent`` is a count)."""
        warnings.warn(
            _("ProbeRecord.sent is now ProbeRecord.sent_at (a time; PingResult.sent is a count)"),
            DeprecationWarning,
            stacklevel=2,
        )
        return self.sent_at

    @property
    def received(self) -> float | None:
        """Deprecated: when the first reply came; use ``received_at``."""
        warnings.warn(
            _(
                "ProbeRecord.received is now ProbeRecord.received_at (a time; "
                "PingResult.received is a count)"
            ),
            DeprecationWarning,
            stacklevel=2,
        )
        return self.received_at


def build_records(
    sent: Sequence[float], arrivals: Sequence[tuple[int, float]]
) -> tuple[ProbeRecord, ...]:
    """Fold the raw send and receive logs into one :class:`ProbeRecord` per probe.

    ``sent[i]`` is the send time of sequence number ``i``. ``arrivals`` lists
    every reply as ``(seq, time)`` in the order it arrived, duplicates
    included; the list order (not the times) defines the arrival order.

    Returns a tuple indexed by sequence number. Raises :class:`UsageError`
    when an arrival names a sequence number outside ``range(len(sent))``.

    >>> recs = build_records([0.0, 1.0, 2.0], [(1, 1.5), (0, 1.75), (1, 1.8)])
    >>> [(r.seq, r.arrival, r.copies) for r in recs]
    [(0, 1, 1), (1, 0, 2), (2, None, 0)]
    >>> recs[2].lost
    True
    """
    count = len(sent)
    first_time: dict[int, float] = {}
    first_position: dict[int, int] = {}
    copies = [0] * count
    for seq, time in arrivals:
        # bool is an int subclass; True as a sequence number is a bug, not probe 1.
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < count:
            raise UsageError(
                _(
                    "a reply carries sequence number {seq!r}, but only {count} probes were "
                    "sent (0 .. {last}). Is it a stray reply from an earlier run?"
                ).format(seq=seq, count=count, last=count - 1)
            )
        if copies[seq] == 0:
            # Only first copies get an arrival position: a duplicate is not a
            # new arrival, so it must not shift the order reordering is judged on.
            first_time[seq] = time
            first_position[seq] = len(first_position)
        copies[seq] += 1
    return tuple(
        ProbeRecord(
            seq=seq,
            sent_at=sent[seq],
            received_at=first_time.get(seq),
            arrival=first_position.get(seq),
            copies=copies[seq],
        )
        for seq in range(count)
    )
