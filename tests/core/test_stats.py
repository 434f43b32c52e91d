"""Tests of the pure statistics (labsock._core.stats) and the probe records they read."""

from __future__ import annotations

import doctest
import math
import statistics
from fractions import Fraction
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labsock._core.records
import labsock._core.stats
from labsock._core.errors import UsageError
from labsock._core.records import ProbeRecord, build_records
from labsock._core.stats import (
    Reordering,
    duplicates,
    first_arrival_order,
    jitter_rfc3550,
    loss_count,
    loss_rate,
    percentile,
    reordering,
    summarize_rtts,
)

# No deadline: timing-dependent flakiness is exactly what a stats test must not have.
PROPERTY = settings(deadline=None, max_examples=200)

# Round-trip-time-like floats: wide enough to catch rounding, narrow enough that
# differences of two values cannot overflow.
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
percents = st.floats(min_value=0, max_value=100, allow_nan=False)


@st.composite
def probe_runs(draw: st.DrawFn) -> tuple[list[float], list[tuple[int, float]]]:
    """A send log and a receive log (lost, duplicated and reordered replies included)."""
    count = draw(st.integers(min_value=0, max_value=30))
    sent = [i * 0.01 for i in range(count)]
    if count == 0:
        return sent, []
    seqs = draw(st.lists(st.integers(min_value=0, max_value=count - 1), max_size=60))
    times = draw(st.lists(finite, min_size=len(seqs), max_size=len(seqs)))
    return sent, list(zip(seqs, times, strict=True))


def unique_seqs(max_size: int = 40) -> st.SearchStrategy[list[int]]:
    """Sequence numbers of first copies in some arrival order, no duplicates."""
    return st.lists(st.integers(min_value=0, max_value=200), unique=True, max_size=max_size)


def record(seq: int, sent: float, received: float | None, arrival: int | None) -> ProbeRecord:
    return ProbeRecord(
        seq=seq,
        sent_at=sent,
        received_at=received,
        arrival=arrival,
        copies=0 if received is None else 1,
    )


# --- references written the slow, obvious way -------------------------------


def percentile_reference(values: list[float], q: float) -> Fraction:
    """Exact linear interpolation between closest ranks, in rational arithmetic."""
    ordered = sorted(Fraction(v) for v in values)
    h = (len(ordered) - 1) * Fraction(q) / 100
    lo = math.floor(h)
    if lo == len(ordered) - 1:
        return ordered[lo]
    return ordered[lo] + (h - lo) * (ordered[lo + 1] - ordered[lo])


def reordering_reference(seqs: list[int]) -> tuple[list[int], int]:
    """RFC 4737 straight from its definition: O(n^2) scans of everything earlier."""
    reordered: list[int] = []
    extents = [0]
    for i, seq in enumerate(seqs):
        later_than = [j for j in range(i) if seqs[j] > seq]
        if later_than:
            reordered.append(seq)
            extents.append(i - min(later_than))
    return reordered, max(extents)


# --- doctests ------------------------------------------------------------------


@pytest.mark.parametrize("module", [labsock._core.stats, labsock._core.records])
def test_docstring_examples_run_as_shown(module: ModuleType) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0
    assert result.failed == 0


# --- build_records ---------------------------------------------------------------


def test_build_records_marks_unanswered_probes_lost() -> None:
    records = build_records([0.0, 1.0, 2.0], [(0, 0.5), (2, 2.25)])
    assert [r.lost for r in records] == [False, True, False]
    assert records[1] == ProbeRecord(seq=1, sent_at=1.0, received_at=None, arrival=None, copies=0)
    assert records[2].rtt == 0.25


def test_build_records_keeps_the_first_copy_and_counts_duplicates() -> None:
    records = build_records([0.0, 1.0, 2.0], [(1, 1.5), (0, 1.6), (1, 1.7), (1, 1.8), (2, 2.5)])
    assert [r.copies for r in records] == [1, 3, 1]
    assert records[1].received_at == 1.5
    # The late copies of 1 do not take arrival positions: 2 is the third first copy.
    assert [r.arrival for r in records] == [1, 0, 2]


def test_build_records_uses_list_order_not_times_as_arrival_order() -> None:
    records = build_records([0.0, 0.0], [(1, 9.0), (0, 1.0)])
    assert first_arrival_order(records) == (1, 0)


def test_build_records_with_nothing_sent_is_empty() -> None:
    assert build_records([], []) == ()


@pytest.mark.parametrize("bad_seq", [-1, 3, 100])
def test_build_records_rejects_sequence_numbers_that_were_never_sent(bad_seq: int) -> None:
    with pytest.raises(UsageError, match="sequence number"):
        build_records([0.0, 1.0, 2.0], [(0, 0.5), (bad_seq, 0.6)])


def test_build_records_rejects_a_bool_as_sequence_number() -> None:
    with pytest.raises(UsageError):
        build_records([0.0, 1.0], [(True, 0.5)])


@pytest.mark.parametrize(
    ("received", "arrival", "copies"),
    [(1.0, None, 1), (None, 0, 0), (1.0, 0, 0), (None, None, 1), (1.0, -1, 1)],
)
def test_probe_record_rejects_contradictory_fields(
    received: float | None, arrival: int | None, copies: int
) -> None:
    with pytest.raises(UsageError):
        ProbeRecord(seq=0, sent_at=0.0, received_at=received, arrival=arrival, copies=copies)


@PROPERTY
@given(probe_runs())
def test_build_records_accounts_for_every_probe_and_every_reply(
    run: tuple[list[float], list[tuple[int, float]]],
) -> None:
    sent, arrivals = run
    records = build_records(sent, arrivals)
    assert [r.seq for r in records] == list(range(len(sent)))
    received = sum(1 for r in records if not r.lost)
    assert loss_count(records) + received == len(sent)
    assert sum(r.copies for r in records) == len(arrivals)
    all_seqs = [seq for seq, _ in arrivals]
    assert duplicates(all_seqs) == sum(r.copies - 1 for r in records if not r.lost)
    # First copies, in arrival order, are the arrival log with repeats dropped.
    assert first_arrival_order(records) == tuple(dict.fromkeys(all_seqs))


# --- loss ----------------------------------------------------------------------------


def test_loss_rate_counts_lost_probes_over_all_probes() -> None:
    records = build_records([0.0, 1.0, 2.0, 3.0], [(0, 0.1), (3, 3.1)])
    assert loss_count(records) == 2
    assert loss_rate(records) == 0.5


def test_loss_rate_of_no_probes_is_zero() -> None:
    assert loss_count([]) == 0
    assert loss_rate([]) == 0.0


def test_duplicated_replies_are_not_loss() -> None:
    records = build_records([0.0, 1.0], [(0, 0.1), (0, 0.2), (1, 1.1)])
    assert loss_count(records) == 0


# --- percentile ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 0, 5.0),
        ([5.0], 73.0, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([4.0, 1.0, 3.0, 2.0], 25, 1.75),
        ([10.0, 20.0, 30.0], 90, 28.0),
        ([0.0, 100.0], 99, 99.0),
    ],
)
def test_percentile_interpolates_between_closest_ranks(
    values: list[float], q: float, expected: float
) -> None:
    assert percentile(values, q) == pytest.approx(expected, abs=1e-12)


def test_percentile_of_no_values_is_an_error() -> None:
    with pytest.raises(UsageError, match="no values"):
        percentile([], 50)


@pytest.mark.parametrize("q", [-0.1, 100.1, math.nan, math.inf])
def test_percentile_rejects_q_outside_0_to_100(q: float) -> None:
    with pytest.raises(UsageError, match="between 0 and 100"):
        percentile([1.0, 2.0], q)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_percentile_rejects_values_that_are_not_finite(bad: float) -> None:
    with pytest.raises(UsageError, match="finite"):
        percentile([1.0, bad, 2.0], 50)


@PROPERTY
@given(st.lists(finite, min_size=1, max_size=50), percents)
def test_percentile_matches_exact_rational_interpolation(values: list[float], q: float) -> None:
    expected = float(percentile_reference(values, q))
    assert percentile(values, q) == pytest.approx(expected, rel=1e-12, abs=1e-9)


@PROPERTY
@given(st.lists(finite, min_size=2, max_size=50))
def test_percentile_matches_statistics_quantiles_inclusive(values: list[float]) -> None:
    # quantiles(method="inclusive") is the same linear rule at q = 1 .. 99.
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    ours = [percentile(values, q) for q in range(1, 100)]
    assert ours == pytest.approx(cuts, rel=1e-12, abs=1e-9)


@PROPERTY
@given(st.lists(finite, min_size=1, max_size=50), percents, percents)
def test_percentile_stays_in_range_and_grows_with_q(
    values: list[float], q1: float, q2: float
) -> None:
    low, high = sorted((q1, q2))
    assert min(values) <= percentile(values, low) <= percentile(values, high) <= max(values)
    assert percentile(values, 0) == min(values)
    assert percentile(values, 100) == max(values)


@PROPERTY
@given(st.lists(finite, min_size=1, max_size=50), percents)
def test_percentile_matches_numpy_linear(values: list[float], q: float) -> None:
    np = pytest.importorskip("numpy")
    expected = float(np.percentile(values, q))
    assert percentile(values, q) == pytest.approx(expected, rel=1e-12, abs=1e-9)


# --- summarize_rtts -------------------------------------------------------------------


def test_summary_of_no_rtts_is_none() -> None:
    assert summarize_rtts([]) is None


def test_summary_of_one_rtt_has_zero_spread() -> None:
    summary = summarize_rtts([0.004])
    assert summary is not None
    assert summary.count == 1
    assert summary.min == summary.max == summary.mean == summary.median == 0.004
    assert summary.p90 == summary.p99 == 0.004
    assert summary.stdev == 0.0


def test_summary_uses_sample_standard_deviation() -> None:
    summary = summarize_rtts([1.0, 2.0, 3.0, 4.0, 5.0])
    assert summary is not None
    assert summary.mean == 3.0
    assert summary.median == 3.0
    assert summary.stdev == pytest.approx(math.sqrt(2.5))  # divides by n - 1 = 4
    assert summary.p90 == pytest.approx(4.6)
    assert summary.p99 == pytest.approx(4.96)


def test_summary_rejects_rtts_that_are_not_finite() -> None:
    with pytest.raises(UsageError, match="finite"):
        summarize_rtts([0.001, math.nan])


@PROPERTY
@given(st.lists(finite, min_size=1, max_size=50))
def test_summary_fields_are_ordered(rtts: list[float]) -> None:
    summary = summarize_rtts(rtts)
    assert summary is not None
    assert summary.count == len(rtts)
    assert summary.min <= summary.median <= summary.p90 <= summary.p99 <= summary.max
    assert summary.min <= summary.mean <= summary.max
    assert summary.stdev >= 0.0


# --- reordering -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seqs", "expected"),
    [
        ([], Reordering(count=0, max_extent=0, reordered=())),
        ([7], Reordering(count=0, max_extent=0, reordered=())),
        ([0, 1, 2, 3], Reordering(count=0, max_extent=0, reordered=())),
        ([0, 1, 3, 2, 4], Reordering(count=1, max_extent=1, reordered=(2,))),
        ([3, 0, 1, 2], Reordering(count=3, max_extent=3, reordered=(0, 1, 2))),
        # 1 arrives after 2 (extent 1); 3 is simply lost.
        ([0, 2, 1, 4], Reordering(count=1, max_extent=1, reordered=(1,))),
        # 5 overtook 1..4: all four are late, 4 by the most (extent 4).
        ([0, 5, 1, 2, 3, 4], Reordering(count=4, max_extent=4, reordered=(1, 2, 3, 4))),
        # The extent runs back to the *earliest* higher arrival (3 at index 0), not to 4.
        ([3, 4, 1], Reordering(count=1, max_extent=2, reordered=(1,))),
        ([4, 3, 2, 1, 0], Reordering(count=4, max_extent=4, reordered=(3, 2, 1, 0))),
    ],
)
def test_reordering_counts_late_packets_and_their_extent(
    seqs: list[int], expected: Reordering
) -> None:
    assert reordering(seqs) == expected


def test_loss_is_not_reordering() -> None:
    assert reordering([0, 2, 5, 9]).count == 0


def test_reordering_of_records_with_a_duplicate_counts_the_first_copy_only() -> None:
    # Replies 0, 2, 1, 1: one reordered packet (1 after 2), one duplicate.
    all_seqs = [0, 2, 1, 1]
    records = build_records([0.0, 1.0, 2.0], [(seq, 5.0 + i) for i, seq in enumerate(all_seqs)])
    assert first_arrival_order(records) == (0, 2, 1)
    assert reordering(first_arrival_order(records)) == Reordering(1, 1, (1,))
    assert duplicates(all_seqs) == 1


def test_reordering_rejects_duplicates() -> None:
    with pytest.raises(UsageError, match="first copies"):
        reordering([0, 2, 1, 1])


@PROPERTY
@given(unique_seqs())
def test_in_order_arrivals_are_never_reordered(seqs: list[int]) -> None:
    assert reordering(sorted(seqs)) == Reordering(count=0, max_extent=0, reordered=())


@PROPERTY
@given(unique_seqs())
def test_reordering_matches_the_rfc_4737_definition(seqs: list[int]) -> None:
    reordered, max_extent = reordering_reference(seqs)
    assert reordering(seqs) == Reordering(len(reordered), max_extent, tuple(reordered))


@PROPERTY
@given(unique_seqs())
def test_reordering_is_bounded_by_the_number_of_packets(seqs: list[int]) -> None:
    result = reordering(seqs)
    assert result.count == len(result.reordered)
    assert result.count <= max(len(seqs) - 1, 0)
    assert 0 <= result.max_extent <= max(len(seqs) - 1, 0)
    assert (result.max_extent == 0) == (result.count == 0)


# --- duplicates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("all_seqs", "expected"),
    [([], 0), ([0, 1, 2], 0), ([0, 2, 1, 1], 1), ([3, 3, 3, 3], 3), ([0, 1, 0, 1], 2)],
)
def test_duplicates_counts_every_copy_after_the_first(all_seqs: list[int], expected: int) -> None:
    assert duplicates(all_seqs) == expected


@PROPERTY
@given(st.lists(st.integers(min_value=0, max_value=20), max_size=60))
def test_duplicates_is_arrivals_minus_distinct_sequence_numbers(all_seqs: list[int]) -> None:
    assert duplicates(all_seqs) == len(all_seqs) - len(set(all_seqs))


# --- jitter ---------------------------------------------------------------------------


def test_jitter_needs_two_replies() -> None:
    assert jitter_rfc3550([]) is None
    assert jitter_rfc3550([record(0, 0.0, 0.01, 0), record(1, 1.0, None, None)]) is None


def test_jitter_of_constant_transit_is_zero() -> None:
    # Send every 0.25 s, each reply 0.125 s later (binary fractions: exact arithmetic).
    records = [record(i, i * 0.25, i * 0.25 + 0.125, i) for i in range(50)]
    assert jitter_rfc3550(records) == 0.0


def test_jitter_of_alternating_transit_matches_hand_computation() -> None:
    # Transit alternates 10 ms, 20 ms, 10 ms, 20 ms: every |D| is 10 ms, so
    # J1 = 0.01/16, J2 = J1 + (0.01 - J1)/16, ... that is J_k = 0.01 * (1 - (15/16)**k).
    transits = [0.010, 0.020, 0.010, 0.020]
    records = [record(i, float(i), i + t, i) for i, t in enumerate(transits)]
    j = 0.0
    for _ in range(3):
        j += (0.010 - j) / 16
    assert j == pytest.approx(0.01 * 721 / 4096)
    assert jitter_rfc3550(records) == pytest.approx(0.01 * 721 / 4096, rel=1e-9)


def test_jitter_follows_arrival_order_and_skips_lost_probes() -> None:
    # Seq 1 is lost; seq 3 arrived before seq 2. Pairs in arrival order: (0, 3), (3, 2).
    records = [
        record(0, 0.0, 0.010, 0),
        record(1, 1.0, None, None),
        record(2, 2.0, 3.5, 2),
        record(3, 3.0, 3.030, 1),
    ]
    d1 = (3.030 - 0.010) - (3.0 - 0.0)  # 0.020
    d2 = (3.5 - 3.030) - (2.0 - 3.0)  # 1.470
    j1 = abs(d1) / 16
    j2 = j1 + (abs(d2) - j1) / 16
    assert jitter_rfc3550(records) == pytest.approx(j2, rel=1e-12)


def test_first_arrival_order_rejects_two_records_with_the_same_position() -> None:
    records = [record(0, 0.0, 0.1, 0), record(1, 1.0, 1.1, 0)]
    with pytest.raises(UsageError, match="same arrival position"):
        first_arrival_order(records)
    with pytest.raises(UsageError, match="same arrival position"):
        jitter_rfc3550(records)


@PROPERTY
@given(st.lists(finite, min_size=2, max_size=40), st.floats(min_value=0, max_value=10))
def test_jitter_is_never_negative_and_zero_for_a_fixed_delay(
    sends: list[float], delay: float
) -> None:
    varied = [record(i, s, s + abs(s) % 0.01, i) for i, s in enumerate(sends)]
    result = jitter_rfc3550(varied)
    assert result is not None
    assert result >= 0.0
    fixed = [record(i, float(i), i + delay, i) for i in range(len(sends))]
    assert jitter_rfc3550(fixed) == pytest.approx(0.0, abs=1e-9)


def test_probe_record_old_time_names_still_read_but_warn() -> None:
    record = ProbeRecord(seq=0, sent_at=1.0, received_at=1.5, arrival=0, copies=1)
    with pytest.warns(DeprecationWarning, match="sent_at"):
        assert record.sent == 1.0
    with pytest.warns(DeprecationWarning, match="received_at"):
        assert record.received == 1.5
