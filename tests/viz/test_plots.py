"""The figures of labsock.plots, checked artist by artist on hand-built results."""

from __future__ import annotations

import doctest
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.text import Text

import labsock
import labsock._viz.compare
import labsock._viz.style
import labsock.plots
from labsock import UDPEchoServer, plots
from labsock._core.errors import UsageError
from labsock._results.ping import PingResult
from labsock._viz.style import COLORS, OKABE_ITO
from labsock.plots import ThroughputPoint
from tests.helpers import make_result

# The impaired run every test below reads: 20 probes 1 ms apart; 3, 7 and 15
# lost; 5 overtaken by 6, and 10 by 11 and 12 (RFC 4737: 2 reordered); extra
# copies of 2 and 9.
ARRIVALS = [0, 1, 2, 2, 4, 6, 5, 8, 9, 11, 12, 10, 9, 13, 14, 16, 17, 18, 19]
LOST = [3, 7, 15]
REORDERED = [(6, 5), (11, 10)]  # (arrival index, seq)
DUPLICATES = [(3, 2), (12, 9)]


@pytest.fixture(scope="module", autouse=True)
def _fonts_loaded() -> None:
    """Draw once before the leak checks start counting file descriptors.

    Matplotlib keeps each font file it has drawn with open for the life of
    the process (a cache, not a leak); the first figure would otherwise look
    like a leak of two descriptors to ``conftest.no_leaks``.
    """
    plots.to_png(plots.dashboard(make_result(20, ARRIVALS)))
    plots.to_png(plots.compare(make_result(5, range(5)), make_result(5, range(5))))


@pytest.fixture
def impaired() -> PingResult:
    result = make_result(20, ARRIVALS)
    assert result.lost_seqs == tuple(LOST)
    assert result.reordering.reordered == (5, 10)
    assert result.duplicates == 2
    return result


def by_gid(ax: Axes, gid: str) -> Line2D | PathCollection | LineCollection:
    found = [a for a in [*ax.lines, *ax.collections] if a.get_gid() == gid]
    assert len(found) == 1, f"expected one artist {gid!r}, found {len(found)}"
    artist = found[0]
    assert isinstance(artist, (Line2D, PathCollection, LineCollection))
    return artist


def line(ax: Axes, gid: str) -> Line2D:
    artist = by_gid(ax, gid)
    assert isinstance(artist, Line2D)
    return artist


def points(ax: Axes, gid: str) -> list[tuple[float, float]]:
    artist = by_gid(ax, gid)
    assert isinstance(artist, PathCollection)
    return [(float(x), float(y)) for x, y in artist.get_offsets()]


def legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [text.get_text() for text in legend.get_texts()]


def texts(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


def y_tick_labels(ax: Axes) -> list[str]:
    """The labels of the major y ticks inside the axis limits, as they would be drawn."""
    low, high = ax.get_ylim()
    formatter = ax.yaxis.get_major_formatter()
    return [formatter(v) for v in ax.yaxis.get_majorticklocs() if low <= v <= high]


def height_in_axes(ax: Axes, x: float, y: float) -> float:
    """Where the data point (x, y) is drawn, from 0 (bottom edge) to 1 (top edge)."""
    return float(ax.transAxes.inverted().transform(ax.transData.transform((x, y)))[1])


# -- ordering -------------------------------------------------------------------------
def test_ordering_plots_every_arrival_once_split_by_kind(impaired: PingResult) -> None:
    ax = plots.ordering(impaired).axes[0]
    in_order = points(ax, "in-order")
    reordered = points(ax, "reordered")
    duplicate = points(ax, "duplicate")
    assert len(in_order) + len(reordered) + len(duplicate) == len(impaired.arrivals) == 19
    assert reordered == REORDERED
    assert duplicate == DUPLICATES
    expected = [(i, s) for i, s in enumerate(ARRIVALS) if (i, s) not in REORDERED + DUPLICATES]
    assert in_order == expected


def test_ordering_marks_lost_seqs_on_the_y_axis(impaired: PingResult) -> None:
    fig = plots.ordering(impaired)
    ax = fig.axes[0]
    lost = line(ax, "lost")
    assert list(lost.get_ydata()) == LOST
    fig.draw_without_rendering()
    # x in axes units (0 = the left spine), y in data units (the sequence number).
    left = ax.transAxes.transform((0, 0))[0]
    for seq in LOST:
        x, y = lost.get_transform().transform((0, seq))
        assert x == pytest.approx(left)
        assert y == pytest.approx(ax.transData.transform((0, seq))[1])
    assert to_hex(lost.get_color()) == COLORS["lost"].lower()


def test_ordering_legend_and_title_carry_the_counts(impaired: PingResult) -> None:
    ax = plots.ordering(impaired).axes[0]
    assert legend_texts(ax) == [
        "perfect order",
        "in order (15)",
        "duplicate (2)",
        "reordered (2)",
        "lost (3, on the y axis)",
    ]
    title = ax.get_title(loc="left")
    for part in ("UDP", "17 of 20 probes answered", "2 reordered", "2 duplicates", "3 lost"):
        assert part in title


def test_in_order_tcp_draws_a_clean_diagonal() -> None:
    result = make_result(30, range(30), protocol="tcp")
    ax = plots.ordering(result).axes[0]
    assert points(ax, "in-order") == [(i, i) for i in range(30)]
    assert points(ax, "reordered") == points(ax, "duplicate") == []
    perfect = line(ax, "perfect-order")
    assert list(perfect.get_xdata()) == list(perfect.get_ydata()) == list(range(30))
    assert ax.get_title(loc="left").startswith("TCP arrival order")


def test_perfect_order_reference_is_the_replies_sorted(impaired: PingResult) -> None:
    perfect = line(plots.ordering(impaired).axes[0], "perfect-order")
    assert list(perfect.get_ydata()) == sorted(ARRIVALS)


def test_ordering_zooms_on_a_reordering_too_small_to_see() -> None:
    # 200 probes, 101 overtakes 100: one place late, invisible at full scale.
    order = [*range(100), 101, 100, *range(102, 200)]
    fig = plots.ordering(make_result(200, order))
    (zoom,) = [a for a in fig.axes[0].child_axes if a.get_gid() == "zoom"]
    assert points(zoom, "reordered") == [(101, 100)]
    low, high = zoom.get_xlim()
    assert low < 101 < high
    assert high - low < 60


def test_ordering_without_reordering_has_no_zoom() -> None:
    fig = plots.ordering(make_result(200, range(200)))
    assert not fig.axes[0].child_axes


# -- RTT of each probe ------------------------------------------------------------------
def test_rtt_by_seq_plots_replies_and_marks_lost_on_the_top_edge(impaired: PingResult) -> None:
    fig = plots.rtt_by_seq(impaired)
    ax = fig.axes[0]
    replies = line(ax, "replies")
    answered = [r for r in impaired.records if r.rtt is not None]
    assert list(replies.get_xdata()) == [r.seq for r in answered]
    np.testing.assert_allclose(replies.get_ydata(), [r.rtt * 1e3 for r in answered])
    lost = line(ax, "lost")
    assert list(lost.get_xdata()) == LOST
    fig.draw_without_rendering()
    top = ax.transAxes.transform((0, 1))[1]
    for seq in LOST:
        x, y = lost.get_transform().transform((seq, 1.0))
        assert y == pytest.approx(top)
        assert x == pytest.approx(ax.transData.transform((seq, 0))[0])
    assert "lost (3)" in legend_texts(ax)
    assert ax.get_ylabel() == "round-trip time (ms)"


def test_rtt_unit_follows_the_data() -> None:
    fast = make_result(10, range(10), rtt=lambda seq: 25e-6)
    slow = make_result(10, range(10), rtt=lambda seq: 0.2)
    assert plots.rtt_by_seq(fast).axes[0].get_ylabel() == "round-trip time (µs)"
    assert plots.rtt_by_seq(slow).axes[0].get_ylabel() == "round-trip time (ms)"
    assert plots.latency(fast).axes[0].get_xlabel() == "round-trip time (µs)"


# -- latency ------------------------------------------------------------------------------
def test_latency_histogram_counts_every_reply_and_marks_median_and_p99() -> None:
    result = make_result(40, range(40), rtt=lambda seq: (20 + seq) * 1e-6)
    fig = plots.latency(result)
    hist_ax, cdf_ax = fig.axes
    bars = [p for p in hist_ax.patches if isinstance(p, Rectangle)]
    assert sum(p.get_height() for p in bars) == 40
    assert result.rtt is not None
    for ax in (hist_ax, cdf_ax):
        median, p99 = line(ax, "median"), line(ax, "p99")
        assert median.get_xdata()[0] == pytest.approx(result.rtt.median * 1e6)
        assert p99.get_xdata()[0] == pytest.approx(result.rtt.p99 * 1e6)
        labels = legend_texts(ax)
        assert "median 39.5 µs" in labels
        assert "p99 58.6 µs" in labels
    cdf = line(cdf_ax, "cdf")
    assert cdf.get_ydata()[-1] == pytest.approx(100)
    assert cdf_ax.get_ylabel() == "replies at most this slow"
    assert cdf_ax.get_xlabel() == "round-trip time (µs)"
    assert fig.get_suptitle().startswith("UDP round-trip times: 40 of 40 probes answered")


def test_a_long_tail_is_cut_off_the_axis_and_counted() -> None:
    # The straggler is the last probe, so it holds up no later reply.
    result = make_result(100, range(100), rtt=lambda seq: 3e-3 if seq == 99 else 25e-6)
    hist_ax, cdf_ax = plots.latency(result).axes
    bars = [p for p in hist_ax.patches if isinstance(p, Rectangle)]
    assert sum(p.get_height() for p in bars) == 99
    assert hist_ax.get_xlim()[1] < 1000  # µs: the 3 ms straggler is not on the axis
    assert "1 beyond the axis (max 3.00 ms)" in legend_texts(hist_ax)
    assert "1 beyond the axis (max 3.00 ms)" in legend_texts(cdf_ax)
    seq_ax = plots.rtt_by_seq(result).axes[0]
    assert list(line(seq_ax, "beyond").get_xdata()) == [99]


def test_latency_draws_into_given_axes() -> None:
    result = make_result(10, range(10))
    fig = Figure()
    one = fig.add_subplot(1, 3, 1)
    pair = (fig.add_subplot(1, 3, 2), fig.add_subplot(1, 3, 3))
    assert plots.latency(result, ax=one) is fig
    assert plots.latency(result, ax=pair) is fig
    assert line(one, "median").get_gid() == "median"
    assert line(pair[1], "cdf").get_gid() == "cdf"
    with pytest.raises(UsageError, match="pair"):
        plots.latency(result, ax=[one])


# -- loss -----------------------------------------------------------------------------------
def test_loss_strip_marks_each_lost_seq_and_the_rate_runs(impaired: PingResult) -> None:
    fig = plots.loss(impaired)
    ax = fig.axes[0]
    (strip,) = ax.child_axes
    marks = by_gid(strip, "lost")
    assert isinstance(marks, LineCollection)
    assert [segment[0][0] for segment in marks.get_segments()] == LOST
    running = line(ax, "running")
    lost_so_far = np.cumsum([seq in LOST for seq in range(20)])
    np.testing.assert_allclose(running.get_ydata(), lost_so_far / np.arange(1, 21) * 100)
    assert running.get_ydata()[-1] == pytest.approx(15.0)
    assert strip.get_title(loc="left") == "UDP loss: 3 of 20 probes lost (15.0%)"
    assert ax.get_xlabel() == "sequence number"
    assert ax.get_ylabel() == "loss rate"
    assert "whole run: 15.0%" in legend_texts(ax)


# -- edge cases ------------------------------------------------------------------------------
ALL_PING_PLOTS = [plots.latency, plots.rtt_by_seq, plots.loss, plots.ordering, plots.dashboard]


@pytest.mark.parametrize("draw", ALL_PING_PLOTS, ids=lambda f: f.__name__)
def test_no_replies_says_so_instead_of_crashing(draw: Callable[[PingResult], Figure]) -> None:
    result = make_result(30, [], unreachable=30)
    fig = draw(result)
    assert plots.to_png(fig).startswith(b"\x89PNG")
    if draw is not plots.loss:  # the loss plot has something to show: 100 %
        messages = [t for t in texts(fig) if "every probe was lost" in t]
        assert messages
        assert all("port unreachable" in m for m in messages)
    if draw is plots.rtt_by_seq:
        assert list(line(fig.axes[0], "lost").get_xdata()) == list(range(30))


def test_silent_rtt_axes_lose_their_ticks_and_keep_a_plain_label() -> None:
    # The distribution (RTT on x) and each-probe plot (RTT on y) share one start.
    result = make_result(30, [], unreachable=30)
    cdf = plots.latency(result).axes[1]
    assert (cdf.get_xlabel(), list(cdf.get_xticks())) == ("round-trip time", [])
    each = plots.rtt_by_seq(result).axes[0]
    assert (each.get_ylabel(), list(each.get_yticks())) == ("round-trip time", [])
    assert list(each.get_xticks())  # the sequence numbers stay


@pytest.mark.parametrize("draw", ALL_PING_PLOTS, ids=lambda f: f.__name__)
def test_one_reply_and_no_probes_still_draw(draw: Callable[[PingResult], Figure]) -> None:
    one = draw(make_result(1, [0]))
    assert plots.to_png(one).startswith(b"\x89PNG")
    nothing = draw(make_result(0, []))
    assert plots.to_png(nothing).startswith(b"\x89PNG")
    assert any("no probes were sent" in t for t in texts(nothing))


def test_a_hundred_thousand_probes_are_rasterized() -> None:
    n = 100_000
    order = [seq for seq in range(n) if seq % 97 != 0]  # about 1 % lost
    order[5000], order[5001] = order[5001], order[5000]
    result = make_result(n, order, rtt=lambda seq: 20e-6 + (seq % 13) * 1e-6)
    fig = plots.dashboard(result)
    _, seq_ax, order_ax = fig.axes
    in_order = by_gid(order_ax, "in-order")
    assert isinstance(in_order, PathCollection)
    assert in_order.get_rasterized()
    assert len(in_order.get_offsets()) == len(order) - 1
    assert points(order_ax, "reordered") == [(5001, order[5001])]
    assert line(seq_ax, "replies").get_rasterized()
    assert plots.to_png(fig).startswith(b"\x89PNG")


# -- dashboard and compare ------------------------------------------------------------------
def test_dashboard_draws_the_three_panels_with_the_same_helpers(impaired: PingResult) -> None:
    fig = plots.dashboard(impaired)
    hist_ax, seq_ax, order_ax = fig.axes
    assert line(hist_ax, "median")
    assert list(line(seq_ax, "lost").get_xdata()) == LOST
    assert points(order_ax, "reordered") == REORDERED
    assert fig.get_suptitle().startswith("UDP ping: 20 probes of 64 bytes, 17 answered, 3 lost")


def test_compare_overlays_both_distributions_and_shows_connect_cost() -> None:
    udp = make_result(50, range(50), rtt=lambda seq: 24e-6)
    tcp = make_result(50, range(50), protocol="tcp", rtt=lambda seq: 30e-6, connect_time=80e-6)
    fig = plots.compare(udp, tcp)
    cdf_ax, cost_ax = fig.axes
    assert to_hex(line(cdf_ax, "cdf-UDP").get_color()) == COLORS["udp"].lower()
    assert to_hex(line(cdf_ax, "cdf-TCP").get_color()) == COLORS["tcp"].lower()
    assert legend_texts(cdf_ax) == [
        "UDP: median 24.0 µs (50 replies)",
        "TCP: median 30.0 µs (50 replies)",
    ]
    assert any("6.00 µs more than UDP's" in t for t in texts(fig))
    heights = [p.get_height() for p in cost_ax.patches if isinstance(p, Rectangle)]
    assert heights == pytest.approx([24.0, 30.0, 80.0])
    assert cost_ax.get_ylabel() == "time (µs)"
    assert [t.get_text() for t in cost_ax.get_xticklabels()] == [
        "UDP\nround trip",
        "TCP\nround trip",
        "TCP\nconnect()\n(once)",
    ]
    assert cost_ax.get_title(loc="left") == "set-up against one exchange"
    assert cdf_ax.get_xlabel() == "round-trip time (µs, log scale)"
    assert cdf_ax.get_xscale() == "log"
    assert cdf_ax.get_ylabel() == "replies at most this slow"
    assert fig.get_suptitle() == "UDP against TCP round trips over loopback: 50 + 50 probes"


def test_compare_shows_a_slow_straggler_without_squashing_the_medians() -> None:
    # Medians of 16 and 19 µs, one reply at 1.75 ms: on a linear axis both
    # medians would share one pixel column. The log axis keeps them apart.
    udp = make_result(100, range(100), rtt=lambda seq: 1.75e-3 if seq == 50 else 16e-6)
    tcp = make_result(100, range(100), protocol="tcp", rtt=lambda seq: 19e-6)
    ax = plots.compare(udp, tcp).axes[0]
    low, high = ax.get_xlim()
    assert ax.get_xscale() == "log"
    assert low < 16  # every reply is on the axis
    assert high > 1750
    apart = ax.transData.transform([(16, 50), (19, 50)])
    assert apart[1][0] - apart[0][0] > 5  # pixels between the two medians


def test_histogram_legend_covers_no_bar_when_every_reply_is_in_one_tall_bar() -> None:
    # No jitter: one tall bar, where a fixed legend used to sit.
    result = make_result(60, range(60), rtt=lambda seq: 10.3e-3 + (seq % 3) * 1e-5)
    fig = plots.latency(result)
    hist_ax = fig.axes[0]
    plots.to_png(fig)  # lay it out
    box = hist_ax.get_legend().get_window_extent()
    bars = [bar for bar in hist_ax.patches if bar.get_height() > 0]
    assert bars, "the histogram drew no bar"
    for bar in bars:
        assert not box.overlaps(bar.get_window_extent()), "the legend hides a bar"


def test_compare_of_request_runs_says_requests_not_round_trips() -> None:
    # What compare_speed's per-request runs are: each record a whole request.
    udp = make_result(40, range(40), rtt=lambda seq: 85e-6, kind="request")
    tcp = make_result(
        40, range(40), protocol="tcp", rtt=lambda seq: 270e-6, connect_time=56e-6, kind="request"
    )
    fig = plots.compare(udp, tcp)
    cdf_ax, cost_ax = fig.axes
    assert legend_texts(cdf_ax)[:2] == [
        "UDP: median 85.0 µs (40 requests)",
        "TCP: median 270 µs (40 requests)",
    ]
    assert cdf_ax.get_xlabel() == "request time, new socket to close (µs, log scale)"
    assert cdf_ax.get_ylabel() == "requests at most this slow"
    assert [t.get_text() for t in cost_ax.get_xticklabels()] == [
        "UDP\nrequest",
        "TCP\nrequest",
        "TCP\nconnect()\n(median)",
    ]
    assert cost_ax.get_title(loc="left") == "a request and its connect()"
    title = fig.get_suptitle()
    assert title == (
        "UDP against TCP requests over loopback, a new socket for each: 40 + 40 requests"
    )
    every_word = " ".join([title, *texts(fig)])
    assert "probe" not in every_word
    assert "round trip" not in every_word


def test_compare_of_a_ping_against_requests_names_each_run() -> None:
    ping = make_result(30, range(30), rtt=lambda seq: 25e-6)
    requests = make_result(20, range(20), protocol="tcp", rtt=lambda seq: 270e-6, kind="request")
    fig = plots.compare(ping, requests)
    assert fig.get_suptitle() == "UDP against TCP over loopback: 30 probes + 20 requests"
    assert fig.axes[0].get_xlabel() == "time per round trip or request (µs, log scale)"
    assert legend_texts(fig.axes[0]) == [
        "UDP: median 25.0 µs (30 replies)",
        "TCP: median 270 µs (20 requests)",
    ]


def test_compare_without_connect_time_has_one_panel_and_survives_no_replies() -> None:
    udp = make_result(20, range(20))
    silent = make_result(20, [], protocol="tcp")
    fig = plots.compare(udp, silent)
    assert len(fig.axes) == 1
    assert "TCP: no replies (20 lost)" in legend_texts(fig.axes[0])
    assert plots.to_png(plots.compare(silent, silent)).startswith(b"\x89PNG")


# -- throughput ---------------------------------------------------------------------------------
def test_throughput_draws_one_line_per_protocol_through_the_medians() -> None:
    fig = plots.throughput(
        [
            ("tcp", 1024, 1e8),
            ("tcp", 1024, 3e8),
            ("tcp", 1024, 2e8),
            ThroughputPoint("tcp", 65536, 3e9),
            ("udp", 1024, 1.5e8),
            ("udp", 65507, 2e9),
        ]
    )
    ax = fig.axes[0]
    tcp = line(ax, "line-tcp")
    assert list(tcp.get_xdata()) == [1024, 65536]
    assert list(tcp.get_ydata()) == pytest.approx([2e8, 3e9])  # B/s, median of the repeats
    assert list(line(ax, "line-udp").get_xdata()) == [1024, 65507]
    assert ax.get_xscale() == "log"
    assert ax.get_ylabel() == "throughput (log scale)"
    assert ax.get_title(loc="left").endswith("TCP, UDP (6 measurements)")
    assert legend_texts(ax) == ["TCP: best 3.00 GB/s at 64 KiB", "UDP: best 2.00 GB/s at 65,507 B"]


def test_throughput_lifts_small_messages_off_the_floor_with_a_log_axis() -> None:
    # A sweep as compare_speed measures it: 64 B messages move ~300x less than 64 KiB.
    sweep = [(64, 1.1e7), (256, 6.5e7), (1024, 2.4e8), (4096, 7e8), (16384, 2e9), (65536, 2.9e9)]
    fig = plots.throughput([("tcp", size, rate) for size, rate in sweep])
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    # On a linear axis 64 B would sit at 0.3 % of the height, on the floor.
    smallest = height_in_axes(ax, 64, 1.1e7)
    assert 0.05 < smallest < 0.3
    assert height_in_axes(ax, 65536, 2.9e9) < 0.9  # and the largest stays on the plot
    # Every decade labelled in the unit that reads best there.
    assert y_tick_labels(ax) == ["10 MB/s", "100 MB/s", "1 GB/s"]
    plots.to_png(fig)  # draws without a warning


def test_throughput_labels_several_ticks_even_over_a_narrow_range() -> None:
    ax = plots.throughput([("udp", 1024, 3.1e8), ("udp", 4096, 3.3e8)]).axes[0]
    assert ax.get_yscale() == "log"
    # 1-2-5 ticks over at least a factor of 10, each in its own unit.
    assert y_tick_labels(ax) == ["200 MB/s", "500 MB/s", "1 GB/s"]


def test_throughput_marks_a_size_where_nothing_arrived_on_the_bottom_edge() -> None:
    fig = plots.throughput(
        [("tcp", 1024, 2.4e8), ("tcp", 65536, 2.9e9), ("udp", 1024, 1e8), ("udp", 65507, 0.0)]
    )
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert list(line(ax, "line-udp").get_xdata()) == [1024]  # a log axis has no 0
    nothing = line(ax, "nothing-udp")
    assert list(nothing.get_xdata()) == [65507]
    assert list(nothing.get_ydata()) == [0.0]  # in axes units: the bottom edge
    assert "UDP: nothing delivered (1 size)" in legend_texts(ax)
    assert ax.get_ylim()[0] > 0
    plots.to_png(fig)

    # Nothing anywhere: no log axis to draw, and the figure says why it is empty.
    empty = plots.throughput([("udp", 1024, 0.0), ("udp", 4096, 0.0)])
    assert empty.axes[0].get_yscale() == "linear"
    assert "nothing was delivered at any size" in texts(empty)
    assert legend_texts(empty.axes[0]) == ["UDP: nothing delivered"]
    plots.to_png(empty)


def test_throughput_rejects_malformed_points_and_survives_none() -> None:
    with pytest.raises(UsageError, match="message_size"):
        plots.throughput([("tcp", 0, 1e9)])
    with pytest.raises(UsageError, match="bytes_per_second"):
        ThroughputPoint("tcp", 10, float("nan"))
    with pytest.raises(UsageError, match="tuple"):
        plots.throughput([("tcp", 10)])
    assert any("no measurements" in t for t in texts(plots.throughput([])))


# -- the look, and the plumbing -----------------------------------------------------------------
def test_every_figure_labels_its_axes(impaired: PingResult) -> None:
    figures = [draw(impaired) for draw in ALL_PING_PLOTS]
    figures.append(plots.compare(impaired, impaired))
    figures.append(plots.throughput([("tcp", 1024, 1e8)]))
    for fig in figures:
        for ax in fig.axes:
            if ax.get_gid() == "costs":  # bars: each tick label names its bar
                assert all(t.get_text() for t in ax.get_xticklabels())
                continue
            if not ax.get_xticks().size:  # a "no data" panel
                continue
            assert ax.get_xlabel(), fig
            assert ax.get_ylabel(), fig
        titles = [a.get_title(loc="left") for ax in fig.axes for a in (ax, *ax.child_axes)]
        assert fig.get_suptitle() or any(titles)


def test_lost_is_the_same_colour_everywhere(impaired: PingResult) -> None:
    seq_lost = line(plots.rtt_by_seq(impaired).axes[0], "lost")
    order_lost = line(plots.ordering(impaired).axes[0], "lost")
    strip = plots.loss(impaired).axes[0].child_axes[0]
    strip_lost = by_gid(strip, "lost")
    assert isinstance(strip_lost, LineCollection)
    assert to_hex(seq_lost.get_color()) == to_hex(order_lost.get_color()) == COLORS["lost"].lower()
    assert to_hex(strip_lost.get_color()[0]) == COLORS["lost"].lower()
    neutral = ("reference", "grid", "text", "absent")
    data_colours = {k: v for k, v in COLORS.items() if k not in neutral}
    assert set(data_colours.values()) <= set(OKABE_ITO.values())


def test_figures_are_not_registered_with_pyplot(impaired: PingResult) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figures = [draw(impaired) for draw in ALL_PING_PLOTS]
    figures.append(plots.compare(impaired, impaired))
    assert all(isinstance(fig, Figure) for fig in figures)
    assert plt.get_fignums() == before == []


def test_to_png_returns_png_bytes_at_the_asked_resolution(impaired: PingResult) -> None:
    fig = plots.rtt_by_seq(impaired)
    png = plots.to_png(fig)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(png[16:20], "big")  # IHDR: width, then height
    assert width == 900
    assert int.from_bytes(plots.to_png(fig, dpi=50)[16:20], "big") == 450
    with pytest.raises(UsageError, match="dpi"):
        plots.to_png(fig, dpi=0)


def test_a_figure_returned_from_a_cell_shows_as_png(impaired: PingResult) -> None:
    # Jupyter calls _repr_png_ when pyplot's inline backend has not registered
    # a Figure formatter (i.e. when the notebook never imported pyplot).
    fig = plots.ordering(impaired)
    assert fig._repr_png_().startswith(b"\x89PNG")


def test_plots_reject_what_is_not_a_ping_result() -> None:
    with pytest.raises(UsageError, match="PingResult"):
        plots.ordering("not a result")
    with pytest.raises(UsageError, match="Axes"):
        plots.rtt_by_seq(make_result(2, [0, 1]), ax="top")


def test_import_labsock_does_not_import_matplotlib() -> None:
    code = "import sys, labsock; print(sorted(m for m in sys.modules if 'matplotlib' in m))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_docstring_examples_run() -> None:
    for module in (labsock.plots, labsock._viz.style, labsock._viz.compare):
        failures, _ = doctest.testmod(module, extraglobs={"plots": plots})
        assert failures == 0, module.__name__


def test_smoke_real_udp_ping_draws_every_arrival() -> None:
    with UDPEchoServer() as server:
        result = labsock.ping(server.address, count=50)
    fig = plots.dashboard(result)
    order_ax = fig.axes[2]
    drawn = sum(len(points(order_ax, kind)) for kind in ("in-order", "reordered", "duplicate"))
    assert drawn == len(result.arrivals)
    assert plots.to_png(fig).startswith(b"\x89PNG")
