"""Statistics of a probe run: latency, loss, reordering, duplication, jitter.

Everything here is pure: plain sequences in, numbers out, no sockets, threads
or clocks, so each result can be checked by hand on a few values. Times are
floats in seconds.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from labsock._core.errors import UsageError
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.records import ProbeRecord

__all__ = [
    "Reordering",
    "RttSummary",
    "duplicates",
    "first_arrival_order",
    "jitter_rfc3550",
    "loss_count",
    "loss_rate",
    "percentile",
    "reordering",
    "summarize_rtts",
]


def _check_finite(values: Sequence[float], what: str) -> None:
    # A NaN sorts nowhere and an infinity turns interpolation into NaN; either
    # means a bug upstream (a missing time), so say so instead of averaging it.
    for value in values:
        if not math.isfinite(value):
            raise UsageError(
                _("{what} must be finite numbers, but one is {value!r}").format(
                    what=_(what), value=value
                )
            )


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile of ``values`` (``q`` from 0 to 100).

    Interpolates linearly between the two closest ranks, the same as numpy's
    default (``method="linear"``) and ``statistics.quantiles(method="inclusive")``:
    percentile 0 is the minimum, 100 the maximum, 50 the median.

    Raises :class:`UsageError` when ``values`` is empty or holds a NaN or an
    infinity, or when ``q`` is outside [0, 100].

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    >>> percentile([10.0, 20.0, 30.0], 90)
    28.0
    """
    if not 0 <= q <= 100:  # also rejects NaN, for which every comparison is False
        raise UsageError(
            _("q is a percentile and must be between 0 and 100, not {q!r}").format(q=q)
        )
    if len(values) == 0:
        raise UsageError(_("the percentile of no values is undefined: measure something first"))
    _check_finite(values, "values")
    ordered = sorted(values)
    # Rank h of the percentile on a 0 .. n-1 scale; it falls between the
    # neighbours ordered[lo] and ordered[lo + 1] at fraction t.
    h = (len(ordered) - 1) * (q / 100)
    lo = math.floor(h)
    if lo >= len(ordered) - 1:
        return float(ordered[-1])
    a, b = float(ordered[lo]), float(ordered[lo + 1])
    t = h - lo
    if a == b:
        return a
    # Interpolate from the nearer end, as numpy does: the result then stays
    # inside [a, b] despite rounding, and t == 0 gives exactly a.
    if t < 0.5:
        return a + (b - a) * t
    return b - (b - a) * (1 - t)


@dataclass(frozen=True, slots=True)
class RttSummary:
    """Summary of round-trip times, every field but ``count`` in seconds.

    ``stdev`` is the *sample* standard deviation (divides by n - 1, because
    the probes are a sample of what the network does), 0.0 for one value.
    ``median``, ``p90`` and ``p99`` come from :func:`percentile`.
    """

    count: int
    min: float
    max: float
    mean: float
    median: float
    p90: float
    p99: float
    stdev: float


def summarize_rtts(rtts: Sequence[float]) -> RttSummary | None:
    """Summarize round-trip times; return ``None`` when there are none (all lost).

    Raises :class:`UsageError` when a value is NaN or infinite.

    >>> s = summarize_rtts([0.001, 0.002, 0.003])
    >>> s.count, s.min, s.median, s.max
    (3, 0.001, 0.002, 0.003)
    >>> summarize_rtts([]) is None
    True
    """
    if len(rtts) == 0:
        # None, not an exception: "every probe was lost" is a measurement a
        # lesson must be able to show, not a programming error.
        return None
    _check_finite(rtts, N_("round-trip times"))
    values = [float(v) for v in rtts]
    return RttSummary(
        count=len(values),
        min=min(values),
        max=max(values),
        # statistics.mean and stdev sum exactly (no float drift), so the mean of
        # identical values is that value and always lies between min and max.
        mean=statistics.mean(values),
        median=percentile(values, 50),
        p90=percentile(values, 90),
        p99=percentile(values, 99),
        stdev=statistics.stdev(values) if len(values) > 1 else 0.0,
    )


def loss_count(records: Sequence[ProbeRecord]) -> int:
    """Return how many probes got no reply at all.

    >>> loss_count([ProbeRecord(0, 0.0, None, None, 0), ProbeRecord(1, 0.0, 0.5, 0, 1)])
    1
    """
    return sum(1 for record in records if record.lost)


def loss_rate(records: Sequence[ProbeRecord]) -> float:
    """Return the fraction of probes lost, from 0.0 to 1.0; 0.0 when there are no probes.

    >>> loss_rate([ProbeRecord(0, 0.0, None, None, 0), ProbeRecord(1, 0.0, 0.5, 0, 1)])
    0.5
    >>> loss_rate([])
    0.0
    """
    if len(records) == 0:
        # Nothing sent, nothing lost: 0.0 keeps tables and plots free of NaN.
        return 0.0
    return loss_count(records) / len(records)


@dataclass(frozen=True, slots=True)
class Reordering:
    """Reordering of one run, as RFC 4737 defines it.

    ``count`` is how many packets arrived reordered, ``reordered`` their
    sequence numbers in arrival order, and ``max_extent`` the largest
    reordering extent (how many packets late the worst one was; 0 if none).
    """

    count: int
    max_extent: int
    reordered: tuple[int, ...]


def reordering(arrival_seqs: Sequence[int]) -> Reordering:
    """Find the reordered packets in ``arrival_seqs`` (RFC 4737, sections 3 and 4.2).

    ``arrival_seqs`` lists the sequence numbers of the first copies in the
    order they arrived (see :func:`first_arrival_order`). A packet is
    reordered when a higher sequence number arrived before it; its extent is
    ``i - j``, where ``i`` is its arrival index and ``j`` the earliest index
    holding a higher sequence number. A lost packet is simply absent: a gap
    is loss, not reordering. Runs in O(n log n).

    Raises :class:`UsageError` when a sequence number appears twice (remove
    duplicates first; :func:`duplicates` counts them).

    >>> reordering([0, 1, 3, 2, 4])
    Reordering(count=1, max_extent=1, reordered=(2,))
    >>> reordering([3, 0, 1, 2])
    Reordering(count=3, max_extent=3, reordered=(0, 1, 2))
    >>> reordering([0, 2, 4])  # 1 and 3 lost: loss is not reordering
    Reordering(count=0, max_extent=0, reordered=())
    """
    if len(set(arrival_seqs)) != len(arrival_seqs):
        raise UsageError(
            _(
                "arrival_seqs holds a sequence number twice: pass first copies only "
                "(first_arrival_order(records) gives them)"
            )
        )
    # prefix_max[k] is the highest sequence number among the first k + 1
    # arrivals. It never decreases, so the earliest arrival with a sequence
    # number above s is found by binary search: the first k with
    # prefix_max[k] > s is exactly where such a number first arrived.
    prefix_max: list[int] = []
    reordered: list[int] = []
    max_extent = 0
    for i, seq in enumerate(arrival_seqs):
        if prefix_max and seq < prefix_max[-1]:
            j = bisect_right(prefix_max, seq)
            reordered.append(seq)
            max_extent = max(max_extent, i - j)
        prefix_max.append(seq if not prefix_max else max(prefix_max[-1], seq))
    return Reordering(count=len(reordered), max_extent=max_extent, reordered=tuple(reordered))


def duplicates(all_arrival_seqs: Sequence[int]) -> int:
    """Return how many arrivals were extra copies (every arrival beyond a sequence number's first).

    >>> duplicates([0, 2, 1, 1, 2, 1])
    3
    """
    return len(all_arrival_seqs) - len(set(all_arrival_seqs))


def _first_copies(records: Sequence[ProbeRecord]) -> list[tuple[int, int, float, float]]:
    """(arrival, seq, sent, received) of every received probe, in arrival order."""
    first = [
        (record.arrival, record.seq, record.sent_at, record.received_at)
        for record in records
        if record.arrival is not None and record.received_at is not None
    ]
    if len({arrival for arrival, *_rest in first}) != len(first):
        # Two replies cannot both have arrived n-th; any order would be a guess.
        raise UsageError(_("two records have the same arrival position: the records are corrupt"))
    first.sort()
    return first


def first_arrival_order(records: Sequence[ProbeRecord]) -> tuple[int, ...]:
    """Return the sequence numbers of the received probes in the order their replies arrived.

    Lost probes are left out. Raises :class:`UsageError` when two records
    claim the same arrival position.

    >>> recs = [ProbeRecord(0, 0.0, 0.9, 1, 1), ProbeRecord(1, 0.1, 0.5, 0, 1),
    ...         ProbeRecord(2, 0.2, None, None, 0)]
    >>> first_arrival_order(recs)
    (1, 0)
    """
    return tuple(seq for _, seq, _, _ in _first_copies(records))


def jitter_rfc3550(records: Sequence[ProbeRecord]) -> float | None:
    """Return the RFC 3550 interarrival jitter in seconds; ``None`` with fewer than 2 replies.

    Walks the first copies in arrival order. For each consecutive pair i, j
    the change in transit time is ``D = (Rj - Ri) - (Sj - Si)`` (R received,
    S sent), and the estimate moves 1/16 of the way towards ``|D|``:
    ``J += (|D| - J) / 16``, starting from 0. Constant transit gives 0.
    Raises :class:`UsageError` when two records claim the same arrival position.

    >>> recs = [ProbeRecord(0, 0.0, 0.010, 0, 1), ProbeRecord(1, 1.0, 1.026, 1, 1)]
    >>> round(jitter_rfc3550(recs), 6)  # |D| = 0.016, J = 0.016 / 16
    0.001
    """
    first = _first_copies(records)
    if len(first) < 2:
        return None
    jitter = 0.0
    for (_ai, _si, s_i, r_i), (_aj, _sj, s_j, r_j) in pairwise(first):
        # Only differences of transit times enter, so any fixed offset between
        # the send and receive clocks cancels out.
        d = (r_j - r_i) - (s_j - s_i)
        # The 1/16 gain is RFC 3550's: it smooths noise but still tracks change.
        jitter += (abs(d) - jitter) / 16
    return jitter
