"""Figures of what the experiments measured: latency, loss, ordering, fan-out, traces.

Here: the figures of a ping (:func:`latency`, :func:`rtt_by_seq`,
:func:`loss`, :func:`ordering`, :func:`dashboard`). The others live beside
this module in ``labsock._viz``: :func:`compare` and :func:`throughput`
(``compare``), :func:`fan_out`, who got which multicast datagram
(``fanout``), and :func:`sequence`, a trace as a sequence diagram
(``sequence``). :mod:`labsock.plots` is the public face of all of them.

Every function takes results (frozen dataclasses) and returns a
:class:`matplotlib.figure.Figure`. It never starts or touches a socket, and
never uses pyplot, so nothing is drawn twice, nothing leaks between cells,
and it works headless. Returned from a notebook cell, a figure shows as a
PNG; :func:`to_png` gives the bytes (for an ``ipywidgets.Image``, a file, a
test).

Colours mean the same thing in every figure (see ``labsock._viz.style``):
blue replies, vermillion lost, orange reordered, green duplicates.

Each public function is a thin wrapper around a ``_draw_*(ax, result)``
helper; :func:`dashboard` calls the same helpers on its own axes. Pass
``ax=`` to draw into an axes of your own figure.

Example:
    >>> import labsock
    >>> from labsock import plots
    >>> with labsock.UDPEchoServer() as server:
    ...     result = labsock.ping(server.address, count=50)
    >>> fig = plots.ordering(result)   # the last line of a cell shows it
    >>> plots.to_png(fig)[:4]
    b'\\x89PNG'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from matplotlib.transforms import blended_transform_factory

from labsock._core.errors import UsageError
from labsock._core.i18n import gettext as _
from labsock._core.i18n import ngettext
from labsock._results.compare import ThroughputPoint
from labsock._results.ping import PingResult
from labsock._viz import style as _style
from labsock._viz.compare import compare, sender_cost, throughput
from labsock._viz.fanout import fan_out
from labsock._viz.head_of_line import head_of_line
from labsock._viz.sequence import sequence
from labsock._viz.style import COLORS, RASTERIZE_ABOVE, RttView, to_png

__all__ = [
    "ThroughputPoint",
    "compare",
    "dashboard",
    "fan_out",
    "head_of_line",
    "latency",
    "loss",
    "ordering",
    "rtt_by_seq",
    "sender_cost",
    "sequence",
    "throughput",
    "to_png",
]


# -- shared pieces ---------------------------------------------------------------
def _silence(result: PingResult) -> str | None:
    """What to write instead of a plot when there is nothing to plot, else None."""
    if result.sent == 0:
        return _("no probes were sent")
    if result.received == 0:
        message = _("no replies:\nevery probe was lost")
        if result.unreachable:
            message += "\n" + _("(the kernel said: port unreachable.\nIs a server listening?)")
        return message
    return None


@dataclass(frozen=True)
class _Sizes:
    """Marker sizes for ``n`` points: what reads well for 50 blurs at 100,000."""

    dot: float  # scatter area (points²) of an ordinary point
    line: float  # Line2D marker size (points) of an ordinary point
    emphasis: float  # scatter area of a highlighted point
    edge: float  # edge width of a highlighted point
    cross: float  # marker size of a lost probe's x
    cross_width: float


def _sizes(n: int) -> _Sizes:
    if n <= 500:
        return _Sizes(dot=16, line=3.5, emphasis=50, edge=0.6, cross=6, cross_width=1.6)
    if n <= 5_000:
        return _Sizes(dot=6, line=2, emphasis=18, edge=0.3, cross=5, cross_width=1.0)
    return _Sizes(dot=1.5, line=1, emphasis=5, edge=0, cross=3.5, cross_width=0.6)


def _mark_median_p99(ax: Axes, result: PingResult, view: RttView) -> None:
    rtt = result.rtt
    assert rtt is not None
    ax.axvline(
        rtt.median * view.scale,
        color=COLORS["median"],
        linestyle="--",
        linewidth=1.6,
        label=_("median {value}").format(value=view.fmt(rtt.median)),
        gid="median",
    )
    ax.axvline(
        rtt.p99 * view.scale,
        color=COLORS["p99"],
        linestyle="-.",
        linewidth=1.8,
        label=_("p99 {value}").format(value=view.fmt(rtt.p99)),
        gid="p99",
    )


# -- latency -----------------------------------------------------------------------
def _bin_edges(values: np.ndarray, view: RttView) -> list[float]:
    """Between 12 and 60 equal bins from the fastest value to the axis cut.

    Freedman-Diaconis width (2 IQR / n^(1/3)), computed here rather than by
    numpy's ``bins="auto"``: loopback RTTs are often equal to the
    nanosecond, an IQR of zero, and "auto" then asks for trillions of bins.
    """
    low = float(values.min())
    if view.cut - low <= 1e-6 * abs(view.cut):  # one value, or equal ones
        return [float(edge) for edge in np.linspace(view.lo, view.hi, 12)]
    q1, q3 = np.percentile(values, [25, 75])
    width = 2 * (q3 - q1) / len(values) ** (1 / 3)
    bins = 60 if width <= 0 else int(np.clip(np.ceil((view.cut - low) / width), 12, 60))
    return [float(edge) for edge in np.linspace(low, view.cut, bins + 1)]


def _draw_histogram(ax: Axes, result: PingResult) -> Axes:
    message = _silence(result)
    if message is not None:
        _style.no_data(ax, message)
        ax.set_xticks([])
        ax.set_yticks([])
        _style.finish_axes(
            ax, xlabel=_("round-trip time"), ylabel=_("replies"), title=_("round trips")
        )
        return ax
    view = _style.rtt_view(result.rtts)
    values = np.asarray(result.rtts) * view.scale
    shown = values[values <= view.cut]
    counts, edges, _bars = ax.hist(
        shown,
        bins=_bin_edges(shown, view),
        color=COLORS["reply"],
        alpha=0.85,
        edgecolor="white",
        linewidth=0.5,
        label=_("replies ({n:,})").format(n=len(values)),
        gid="histogram",
    )
    _mark_median_p99(ax, result, view)
    _style.mark_beyond(ax, view, 0.0)
    ax.set_xlim(view.lo, view.hi)
    _style.whole_numbers(ax.yaxis)
    _style.finish_axes(ax, xlabel=view.label(), ylabel=_("replies"), title=_("round trips"))
    _style.legend(ax, loc=_clear_corner(ax, np.asarray(counts), np.asarray(edges), view))
    return ax


def _clear_corner(
    ax: Axes, counts: np.ndarray, edges: np.ndarray, view: RttView
) -> _style.LegendLoc:
    """The top corner for the legend, above the lower half of the bars; raise the top to fit.

    With no jitter every reply lands in one or two tall bars; a legend in a
    fixed corner sat on them. The legend goes over the half of the axis
    whose bars are lower, and the axis grows tall enough (the legend takes
    about the top third) that it covers no bar.
    """
    middle = (view.lo + view.hi) / 2
    centres = (edges[:-1] + edges[1:]) / 2
    left = float(counts[centres < middle].max(initial=0))
    right = float(counts[centres >= middle].max(initial=0))
    tallest = max(left, right, 1.0)
    under = min(left, right)
    ax.set_ylim(0, max(tallest * 1.05, under / 0.62))
    return "upper left" if left < right else "upper right"


def _rtt_axis(ax: Axes, result: PingResult, axis: Literal["x", "y"]) -> tuple[RttView | None, str]:
    """The view of the round-trip times and the label of the ``axis`` that shows them.

    When nothing was answered, ``ax`` says why instead (``_silence``), the
    ``axis`` loses its ticks and the view is ``None``: the figures that put
    round-trip times on an axis share this start.
    """
    message = _silence(result)
    if message is not None:
        _style.no_data(ax, message)
        (ax.set_xticks if axis == "x" else ax.set_yticks)([])
        return None, _("round-trip time")
    view = _style.rtt_view(result.rtts)
    return view, view.label()


def _draw_cdf(ax: Axes, result: PingResult) -> Axes:
    view, xlabel = _rtt_axis(ax, result, "x")
    if view is not None:
        values = np.sort(np.asarray(result.rtts) * view.scale)
        share = np.arange(1, len(values) + 1) / len(values) * 100
        ax.step(
            np.concatenate([[values[0]], values]),
            np.concatenate([[0.0], share]),
            where="post",
            color=COLORS["reply"],
            linewidth=1.8,
            label=_("replies ({n:,})").format(n=len(values)),
            gid="cdf",
        )
        _mark_median_p99(ax, result, view)
        _style.mark_beyond(ax, view, 100.0 * (len(values) - view.beyond) / len(values))
        ax.set_xlim(view.lo, view.hi)
    ax.set_ylim(0, 103)
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    _style.finish_axes(
        ax, xlabel=xlabel, ylabel=_("replies at most this slow"), title=_("cumulative")
    )
    _style.legend(ax, loc="lower right")
    return ax


def latency(result: PingResult, *, ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Histogram and cumulative distribution of the round-trip times, median and p99 marked.

    With ``ax=None`` a new figure holds both panels; with one Axes only the
    histogram is drawn in it; with a pair of Axes, the histogram goes in the
    first and the distribution in the second. A long tail (a few stragglers
    far beyond the 99th percentile) is cut off the axis, and the legend says
    how many replies lie beyond and how slow the slowest was.

    Returns the figure. Raises :class:`UsageError` for anything but a
    :class:`PingResult`, or an ``ax`` that is neither an Axes nor two.

    Example:
        >>> fig = plots.latency(result)  # doctest: +SKIP
    """
    result = _style.check_result(result)
    fig: Figure
    cdf_ax: Axes | None
    if ax is None:
        fig = _style.new_figure()
        hist_ax, cdf_ax = fig.subplots(1, 2)
    elif isinstance(ax, Axes):
        fig, hist_ax, cdf_ax = _style.root(ax), ax, None
    else:
        pair = list(ax)
        if len(pair) != 2 or not all(isinstance(a, Axes) for a in pair):
            raise UsageError(_("ax must be one matplotlib Axes or a pair of them (histogram, CDF)"))
        hist_ax, cdf_ax = pair
        fig = _style.root(hist_ax)
    _draw_histogram(hist_ax, result)
    if cdf_ax is not None:
        _draw_cdf(cdf_ax, result)
    title = ngettext(
        "{proto} round-trip times: {received:,} of {sent:,} probe answered",
        "{proto} round-trip times: {received:,} of {sent:,} probes answered",
        result.sent,
    ).format(proto=_style.proto(result), received=result.received, sent=result.sent)
    if result.rtt is not None:
        view = _style.rtt_view(result.rtts)
        title += _(", median {median}, p99 {p99}").format(
            median=view.fmt(result.rtt.median), p99=view.fmt(result.rtt.p99)
        )
    if ax is None:
        fig.suptitle(title, fontsize=_style.TITLE_SIZE, x=0.01, ha="left")
    else:
        _style.set_title(hist_ax, title)
    return fig


# -- RTT of each probe ---------------------------------------------------------------
def _draw_rtt_by_seq(ax: Axes, result: PingResult) -> Axes:
    view, ylabel = _rtt_axis(ax, result, "y")
    if view is not None:
        answered = [(r.seq, r.rtt) for r in result.records if r.rtt is not None]
        seqs = np.array([seq for seq, _ in answered])
        values = np.array([rtt for _, rtt in answered]) * view.scale
        inside = values <= view.cut
        ax.plot(
            seqs[inside],
            values[inside],
            linestyle="none",
            marker="o",
            markersize=_sizes(len(values)).line,
            markeredgewidth=0,
            color=COLORS["reply"],
            rasterized=len(values) > RASTERIZE_ABOVE,
            label=_("replies ({n:,})").format(n=len(values)),
            gid="replies",
        )
        assert result.rtt is not None
        ax.axhline(
            result.rtt.median * view.scale,
            color=COLORS["median"],
            linestyle="--",
            linewidth=1.2,
            label=_("median {value}").format(value=view.fmt(result.rtt.median)),
            gid="median",
        )
        if view.beyond:
            ax.plot(
                seqs[~inside],
                np.full(view.beyond, 0.97),
                transform=blended_transform_factory(ax.transData, ax.transAxes),
                linestyle="none",
                marker="^",
                markersize=5,
                color=COLORS["reply"],
                clip_on=False,
                in_layout=False,
                label=_style.beyond_label(view),
                gid="beyond",
            )
        # Headroom above the data keeps the legend off the points.
        ax.set_ylim(view.lo, view.hi + 0.3 * (view.hi - view.lo))
    lost = result.lost_seqs
    size = _sizes(len(lost))
    _style.mark_lost_on_top(
        ax,
        lost,
        label=_("lost ({n:,})").format(n=len(lost)),
        size=size.cross,
        width=size.cross_width,
    )
    pad = max(0.5, 0.01 * result.sent)
    ax.set_xlim(-pad, max(result.sent - 1, 0) + pad)
    _style.whole_numbers(ax.xaxis)
    _style.finish_axes(ax, xlabel=_("sequence number"), ylabel=ylabel, title=_("each probe"))
    _style.legend(ax, ncols=2)
    return ax


def rtt_by_seq(result: PingResult, *, ax: Axes | None = None) -> Figure:
    """Round-trip time of every probe against its sequence number; lost probes marked.

    Each reply is a dot; a lost probe is a vermillion ``x`` on the top edge,
    above where its dot would have been; replies slower than the axis are
    ``^`` just below the edge. Returns the figure (``ax``'s if given).

    Example:
        >>> fig = plots.rtt_by_seq(result)  # doctest: +SKIP
    """
    result = _style.check_result(result)
    fig, ax = _style.target(ax)
    _draw_rtt_by_seq(ax, result)
    _style.set_title(
        ax,
        ngettext(
            "{proto} round-trip time of each probe: {sent:,} probe, {lost:,} lost",
            "{proto} round-trip time of each probe: {sent:,} probes, {lost:,} lost",
            result.sent,
        ).format(proto=_style.proto(result), sent=result.sent, lost=result.lost),
    )
    return fig


# -- loss ----------------------------------------------------------------------------
def _draw_loss(ax: Axes, result: PingResult) -> Axes:
    """Running loss rate on ``ax``; a strip of lost sequence numbers above it (returned)."""
    strip = ax.inset_axes((0.0, 1.04, 1.0, 0.16), sharex=ax)
    n = result.sent
    lost = result.lost_seqs
    corner: _style.LegendLoc = "upper right"
    if n == 0:
        _style.no_data(ax, _("no probes were sent"))
    else:
        seqs = np.arange(n)
        flags = np.array([record.lost for record in result.records], dtype=float)
        running = np.cumsum(flags) / (seqs + 1) * 100
        ax.plot(
            seqs,
            running,
            color=COLORS["lost"],
            linewidth=1.8,
            label=_("lost so far / sent so far"),
            gid="running",
        )
        ax.axhline(
            result.loss_rate * 100,
            color=COLORS["reference"],
            linestyle="--",
            linewidth=1.2,
            label=_("whole run: {rate:.1%}").format(rate=result.loss_rate),
            gid="overall",
        )
        top = max(float(running.max()) * 1.2, 2.0)
        top = 108 if top > 100 else top
        ax.set_ylim(0, top)
        # The legend goes where the line ends low: top right, unless it ends high.
        corner = "lower right" if running[-1] > 0.6 * top else "upper right"
        pad = max(0.5, 0.01 * n)
        ax.set_xlim(-pad, n - 1 + pad)
    strip.vlines(
        lost,
        0,
        1,
        color=COLORS["lost"],
        linewidth=1.2 if n <= 500 else 0.5,
        rasterized=len(lost) > RASTERIZE_ABOVE,
        gid="lost",
    )
    if n and not lost:
        strip.text(
            0.5,
            0.5,
            _("no probe lost"),
            transform=strip.transAxes,
            ha="center",
            va="center",
            fontsize=_style.LEGEND_SIZE,
            color=COLORS["text"],
        )
    strip.set_ylim(0, 1)
    strip.set_yticks([])
    strip.set_ylabel(
        _("lost\n({n:,})").format(n=len(lost)),
        rotation=0,
        ha="right",
        va="center",
        fontsize=_style.LABEL_SIZE,
        color=COLORS["lost"],
    )
    strip.tick_params(labelbottom=False, length=0)
    for side in ("top", "right", "left"):
        strip.spines[side].set_visible(False)
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    _style.whole_numbers(ax.xaxis)
    _style.finish_axes(ax, xlabel=_("sequence number"), ylabel=_("loss rate"))
    _style.legend(ax, loc=corner)
    _style.set_title(strip, _("loss"))
    return strip


def loss(result: PingResult, *, ax: Axes | None = None) -> Figure:
    """Which probes were lost (one mark per lost sequence number) and the running loss rate.

    The line is lost-so-far over sent-so-far: it jumps about early, when a
    single loss is a large share, and settles as probes accumulate. The
    strip sits just above ``ax`` (an inset axes), so it also works in your
    own figure. Returns the figure.

    Example:
        >>> fig = plots.loss(result)  # doctest: +SKIP
    """
    result = _style.check_result(result)
    fig, ax = _style.target(ax)
    strip = _draw_loss(ax, result)
    _style.set_title(
        strip,
        ngettext(
            "{proto} loss: {lost:,} of {sent:,} probe lost ({rate:.1%})",
            "{proto} loss: {lost:,} of {sent:,} probes lost ({rate:.1%})",
            result.sent,
        ).format(
            proto=_style.proto(result), lost=result.lost, sent=result.sent, rate=result.loss_rate
        ),
    )
    return fig


# -- ordering ------------------------------------------------------------------------
def _split_arrivals(result: PingResult) -> dict[str, tuple[list[int], list[int]]]:
    """(arrival index, seq) of every arrival, split into in-order, reordered, duplicate."""
    late = set(result.reordering.reordered)
    groups: dict[str, tuple[list[int], list[int]]] = {
        name: ([], []) for name in ("in-order", "reordered", "duplicate")
    }
    seen: set[int] = set()
    for index, seq in enumerate(result.arrivals):
        if seq in seen:
            name = "duplicate"
        else:
            seen.add(seq)
            name = "reordered" if seq in late else "in-order"
        groups[name][0].append(index)
        groups[name][1].append(seq)
    return groups


_Groups = dict[str, tuple[list[int], list[int]]]


def _arrays(group: tuple[list[int], list[int]]) -> tuple[np.ndarray, np.ndarray]:
    # Arrays, not lists: scatter turns a 100k-element list into a masked array slowly.
    return np.asarray(group[0], dtype=float), np.asarray(group[1], dtype=float)


def _plot_arrivals(
    ax: Axes, groups: _Groups, reference: np.ndarray, first: int, n: int, *, labelled: bool
) -> None:
    """The reference line and the three kinds of arrival; sizes as for ``n`` points.

    ``reference[k]`` is the perfect-order sequence number of arrival
    ``first + k``. Shared by the main plot and its zoom, which labels nothing.
    """
    size = _sizes(n)
    big = n > RASTERIZE_ABOVE

    def label(text: str) -> str:
        return text if labelled else "_nolegend_"

    ax.plot(
        np.arange(first, first + len(reference)),
        reference,
        color=COLORS["reference"],
        linewidth=1.2,
        linestyle=(0, (4, 3)),
        rasterized=big,
        label=label(_("perfect order")),
        gid="perfect-order",
        zorder=1,
    )
    xs, ys = _arrays(groups["in-order"])
    ax.scatter(
        xs,
        ys,
        s=size.dot,
        color=COLORS["reply"],
        linewidths=0,
        rasterized=big,
        label=label(_("in order ({n:,})").format(n=len(xs))),
        gid="in-order",
        zorder=2,
    )
    xs, ys = _arrays(groups["duplicate"])
    ax.scatter(
        xs,
        ys,
        s=max(size.emphasis, 12),
        marker="s",
        facecolors="none",
        edgecolors=COLORS["duplicate"],
        linewidths=1.4 if n <= 5_000 else 0.8,
        rasterized=big,
        label=label(_("duplicate ({n:,})").format(n=len(xs))),
        gid="duplicate",
        zorder=3,
    )
    xs, ys = _arrays(groups["reordered"])
    ax.scatter(
        xs,
        ys,
        s=size.emphasis,
        color=COLORS["reordered"],
        edgecolors="black",
        linewidths=size.edge,
        rasterized=big,
        label=label(_("reordered ({n:,})").format(n=len(xs))),
        gid="reordered",
        zorder=4,
    )


def _draw_ordering(ax: Axes, result: PingResult) -> Axes:
    n = len(result.arrivals)
    # "Perfect order" is the same replies sorted: where each would sit had
    # nothing overtaken anything. Without loss or duplicates it is y = x; a
    # plain y = x would drift away from perfectly ordered dots after every
    # loss, and students would read the drift as disorder.
    reference = np.sort(np.asarray(result.arrivals, dtype=int))
    _plot_arrivals(ax, _split_arrivals(result), reference, 0, n, labelled=True)
    lost = result.lost_seqs
    cross = _sizes(len(lost))
    ax.plot(
        np.zeros(len(lost)),
        lost,
        # x in axes units: on the left spine, beside the sequence numbers that never came.
        transform=blended_transform_factory(ax.transAxes, ax.transData),
        linestyle="none",
        marker="x",
        markersize=cross.cross,
        markeredgewidth=cross.cross_width,
        color=COLORS["lost"],
        clip_on=False,
        in_layout=False,
        zorder=6,
        rasterized=len(lost) > RASTERIZE_ABOVE,
        label=_("lost ({n:,}, on the y axis)").format(n=len(lost)),
        gid="lost",
    )
    x_pad = max(1.0, 0.02 * n)
    y_pad = max(1.0, 0.02 * result.sent)
    ax.set_xlim(-x_pad, max(n - 1, 0) + x_pad)
    ax.set_ylim(-y_pad, max(result.sent - 1, 0) + y_pad)
    _style.whole_numbers(ax.xaxis)
    _style.whole_numbers(ax.yaxis)
    message = _silence(result)
    if message is not None:
        _style.no_data(ax, message, y=0.7)  # above the legend, in the lower right
        ax.set_xticks([])
    _style.finish_axes(
        ax,
        xlabel=_("arrival order (k-th reply to arrive)"),
        ylabel=_("sequence number"),
        title=_("arrival order"),
    )
    _style.legend(ax, loc="lower right")
    return ax


def _draw_zoom(ax: Axes, result: PingResult) -> Axes | None:
    """An inset magnifying the worst reordering, or None when there is none to see.

    Over a few hundred arrivals a reply one place late sits on the diagonal
    to the eye; a window of a few dozen arrivals shows it dip below. When
    reordering is so deep that the window would span a quarter of the plot,
    the plot itself shows it and there is no zoom.
    """
    n = len(result.arrivals)
    groups = _split_arrivals(result)
    late = np.asarray(groups["reordered"][0], dtype=int)
    if n <= 60 or len(late) == 0:
        return None
    arrivals = np.asarray(result.arrivals, dtype=int)
    reference = np.sort(arrivals)
    gap = reference[late] - arrivals[late]  # how far below perfect order each sits
    centre = int(late[np.argmax(gap)])
    half = int(min(max(8, 2 * int(gap.max())), 25))
    if n < 8 * half:
        return None  # the window would be a quarter of the plot: nothing to magnify
    first, last = max(0, centre - half), min(n - 1, centre + half)
    window: _Groups = {
        name: (
            [x for x in xs if first <= x <= last],
            [y for x, y in zip(xs, ys, strict=True) if first <= x <= last],
        )
        for name, (xs, ys) in groups.items()
    }
    zoom = ax.inset_axes((0.1, 0.52, 0.28, 0.4))
    zoom.set_gid("zoom")
    _plot_arrivals(zoom, window, reference[first : last + 1], first, 2 * half, labelled=False)
    seen = arrivals[first : last + 1]
    zoom.set_xlim(first - 0.8, last + 0.8)
    zoom.set_ylim(int(seen.min()) - 1, int(seen.max()) + 1)
    _style.whole_numbers(zoom.xaxis, most=4)
    _style.whole_numbers(zoom.yaxis, most=4)
    zoom.tick_params(labelsize=_style.TICK_SIZE - 1, length=2)
    zoom.set_title(
        _("zoom on arrivals {first:,}-{last:,}").format(first=first, last=last),
        fontsize=_style.TICK_SIZE,
        loc="left",
        pad=3,
    )
    for spine in zoom.spines.values():
        spine.set_edgecolor(COLORS["text"])
    ax.indicate_inset_zoom(zoom, edgecolor=COLORS["text"], alpha=0.8)
    return zoom


def ordering(result: PingResult, *, ax: Axes | None = None) -> Figure:
    """Sequence number of every reply against the order it arrived in.

    In-order replies are small dots along a clean diagonal. A reply that
    arrived after a later one (RFC 4737 reordering) is a large orange dot
    below it; an extra copy of a reply is a hollow green square; a lost
    probe is a vermillion ``x`` on the y axis at its sequence number. The
    dashed "perfect order" line is the same replies sorted (``y = x`` when
    nothing was lost or duplicated). Over more than 60 arrivals, an inset
    zooms on the worst reordering, where the late reply visibly dips below
    the line. TCP always draws a clean diagonal; UDP through an impaired
    link does not. Returns the figure.

    Example:
        >>> fig = plots.ordering(result)  # doctest: +SKIP
    """
    result = _style.check_result(result)
    fig, ax = _style.target(ax)
    _draw_ordering(ax, result)
    _draw_zoom(ax, result)
    _style.set_title(
        ax,
        _(
            "{proto} arrival order: {received:,} of {probes} answered, {reordered:,} reordered, "
            "{duplicates}, {lost:,} lost"
        ).format(
            proto=_style.proto(result),
            received=result.received,
            probes=_style.probes(result.sent),
            reordered=result.reordered,
            duplicates=_style.duplicates(result.duplicates),
            lost=result.lost,
        ),
    )
    return fig


# -- dashboard -----------------------------------------------------------------------
def dashboard(result: PingResult) -> Figure:
    """One figure for a link panel: RTT histogram, RTT of each probe, arrival order.

    The panels are drawn by the same helpers as :func:`latency`,
    :func:`rtt_by_seq` and :func:`ordering`. Returns the figure.

    Example:
        >>> fig = plots.dashboard(result)  # doctest: +SKIP
    """
    result = _style.check_result(result)
    fig = _style.new_figure((12.0, 3.8))
    hist_ax, seq_ax, order_ax = fig.subplots(1, 3)
    _draw_histogram(hist_ax, result)
    _draw_rtt_by_seq(seq_ax, result)
    _draw_ordering(order_ax, result)
    fig.suptitle(
        _(
            "{proto} ping: {probes} of {size:,} bytes, {received:,} answered, {lost:,} lost, "
            "{reordered:,} reordered, {duplicates}"
        ).format(
            proto=_style.proto(result),
            probes=_style.probes(result.sent),
            size=result.size,
            received=result.received,
            lost=result.lost,
            reordered=result.reordered,
            duplicates=_style.duplicates(result.duplicates),
        ),
        fontsize=_style.TITLE_SIZE,
        x=0.01,
        ha="left",
    )
    return fig
