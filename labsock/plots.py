"""Figures of what ping measured: latency, loss and ordering, at a glance.

Every function takes results (frozen dataclasses) and returns a
:class:`matplotlib.figure.Figure`. It never starts or touches a socket, and
never uses pyplot, so nothing is drawn twice, nothing leaks between cells,
and it works headless. Returned from a notebook cell, a figure shows as a
PNG; :func:`to_png` gives the bytes (for an ``ipywidgets.Image``, a file, a
test).

Colours mean the same thing in every figure (see ``labsock._style``):
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

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    MaxNLocator,
    NullFormatter,
    PercentFormatter,
    StrMethodFormatter,
)
from matplotlib.transforms import blended_transform_factory

from labsock import _style
from labsock._errors import UsageError
from labsock._results import PingResult, format_seconds
from labsock._style import COLORS, RASTERIZE_ABOVE, RttView, plural, to_png

__all__ = [
    "ThroughputPoint",
    "compare",
    "dashboard",
    "latency",
    "loss",
    "ordering",
    "rtt_by_seq",
    "throughput",
    "to_png",
]


# -- shared pieces ---------------------------------------------------------------
def _check_result(result: object, name: str = "result") -> PingResult:
    if not isinstance(result, PingResult):
        raise UsageError(
            f"{name} must be a PingResult (what labsock.ping returns), not {type(result).__name__}"
        )
    return result


def _target(ax: Axes | None) -> tuple[Figure, Axes]:
    """The axes to draw in (a new figure's when ``ax`` is None) and its root figure."""
    if ax is None:
        fig = _style.new_figure()
        return fig, fig.subplots()
    if not isinstance(ax, Axes):
        raise UsageError(f"ax must be a matplotlib Axes or None, not {type(ax).__name__}")
    return _root(ax), ax


def _root(ax: Axes) -> Figure:
    fig = ax.figure
    return fig if isinstance(fig, Figure) else fig.figure


def _proto(result: PingResult) -> str:
    return result.protocol.upper()


def _silence(result: PingResult) -> str | None:
    """What to write instead of a plot when there is nothing to plot, else None."""
    if result.sent == 0:
        return "no probes were sent"
    if result.received == 0:
        message = "no replies:\nevery probe was lost"
        if result.unreachable:
            message += "\n(the kernel said: port unreachable.\nIs a server listening?)"
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


def _whole_numbers(axis: Axis, most: int | None = None) -> None:
    """Ticks on whole numbers only (there is no probe 2.5), with separators: 100,000."""
    axis.set_major_locator(MaxNLocator(most or "auto", integer=True, min_n_ticks=1))
    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def _mark_median_p99(ax: Axes, result: PingResult, view: RttView) -> None:
    rtt = result.rtt
    assert rtt is not None
    ax.axvline(
        rtt.median * view.scale,
        color=COLORS["median"],
        linestyle="--",
        linewidth=1.6,
        label=f"median {view.fmt(rtt.median)}",
        gid="median",
    )
    ax.axvline(
        rtt.p99 * view.scale,
        color=COLORS["p99"],
        linestyle="-.",
        linewidth=1.8,
        label=f"p99 {view.fmt(rtt.p99)}",
        gid="p99",
    )


def _beyond_label(view: RttView) -> str:
    return f"{view.beyond:,} beyond the axis (max {format_seconds(view.max_seconds)})"


def _mark_beyond(ax: Axes, view: RttView, y: float) -> None:
    """An arrow head at the right end of the x axis when values lie past it."""
    if not view.beyond:
        return
    ax.plot(
        [1.0],
        [y],
        transform=blended_transform_factory(ax.transAxes, ax.transData),
        linestyle="none",
        marker=">",
        markersize=7,
        color=COLORS["reference"],
        clip_on=False,
        in_layout=False,  # a mark on the edge, not a decoration to make room for
        label=_beyond_label(view),
        gid="beyond",
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
        _style.finish_axes(ax, xlabel="round-trip time", ylabel="replies", title="round trips")
        return ax
    view = _style.rtt_view(result.rtts)
    values = np.asarray(result.rtts) * view.scale
    shown = values[values <= view.cut]
    ax.hist(
        shown,
        bins=_bin_edges(shown, view),
        color=COLORS["reply"],
        alpha=0.85,
        edgecolor="white",
        linewidth=0.5,
        label=f"replies ({len(values):,})",
        gid="histogram",
    )
    _mark_median_p99(ax, result, view)
    _mark_beyond(ax, view, 0.0)
    ax.set_xlim(view.lo, view.hi)
    _whole_numbers(ax.yaxis)
    _style.finish_axes(ax, xlabel=view.label(), ylabel="replies", title="round trips")
    _style.legend(ax)
    return ax


def _draw_cdf(ax: Axes, result: PingResult) -> Axes:
    message = _silence(result)
    xlabel = "round-trip time"
    if message is not None:
        _style.no_data(ax, message)
        ax.set_xticks([])
    else:
        view = _style.rtt_view(result.rtts)
        xlabel = view.label()
        values = np.sort(np.asarray(result.rtts) * view.scale)
        share = np.arange(1, len(values) + 1) / len(values) * 100
        ax.step(
            np.concatenate([[values[0]], values]),
            np.concatenate([[0.0], share]),
            where="post",
            color=COLORS["reply"],
            linewidth=1.8,
            label=f"replies ({len(values):,})",
            gid="cdf",
        )
        _mark_median_p99(ax, result, view)
        _mark_beyond(ax, view, 100.0 * (len(values) - view.beyond) / len(values))
        ax.set_xlim(view.lo, view.hi)
    ax.set_ylim(0, 103)
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    _style.finish_axes(ax, xlabel=xlabel, ylabel="replies at most this slow", title="cumulative")
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
    result = _check_result(result)
    fig: Figure
    cdf_ax: Axes | None
    if ax is None:
        fig = _style.new_figure()
        hist_ax, cdf_ax = fig.subplots(1, 2)
    elif isinstance(ax, Axes):
        fig, hist_ax, cdf_ax = _root(ax), ax, None
    else:
        pair = list(ax)
        if len(pair) != 2 or not all(isinstance(a, Axes) for a in pair):
            raise UsageError("ax must be one matplotlib Axes or a pair of them (histogram, CDF)")
        hist_ax, cdf_ax = pair
        fig = _root(hist_ax)
    _draw_histogram(hist_ax, result)
    if cdf_ax is not None:
        _draw_cdf(cdf_ax, result)
    title = (
        f"{_proto(result)} round-trip times: {result.received:,} of "
        f"{plural(result.sent, 'probe')} answered"
    )
    if result.rtt is not None:
        view = _style.rtt_view(result.rtts)
        title += f", median {view.fmt(result.rtt.median)}, p99 {view.fmt(result.rtt.p99)}"
    if ax is None:
        fig.suptitle(title, fontsize=_style.TITLE_SIZE, x=0.01, ha="left")
    else:
        _style.set_title(hist_ax, title)
    return fig


# -- RTT of each probe ---------------------------------------------------------------
def _draw_rtt_by_seq(ax: Axes, result: PingResult) -> Axes:
    message = _silence(result)
    ylabel = "round-trip time"
    if message is not None:
        _style.no_data(ax, message)
        ax.set_yticks([])
    else:
        view = _style.rtt_view(result.rtts)
        ylabel = view.label()
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
            label=f"replies ({len(values):,})",
            gid="replies",
        )
        assert result.rtt is not None
        ax.axhline(
            result.rtt.median * view.scale,
            color=COLORS["median"],
            linestyle="--",
            linewidth=1.2,
            label=f"median {view.fmt(result.rtt.median)}",
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
                label=_beyond_label(view),
                gid="beyond",
            )
        # Headroom above the data keeps the legend off the points.
        ax.set_ylim(view.lo, view.hi + 0.3 * (view.hi - view.lo))
    lost = result.lost_seqs
    size = _sizes(len(lost))
    ax.plot(
        lost,
        np.ones(len(lost)),
        # x in data units, y in axes units: on the top edge, above where the dot would be.
        transform=blended_transform_factory(ax.transData, ax.transAxes),
        linestyle="none",
        marker="x",
        markersize=size.cross,
        markeredgewidth=size.cross_width,
        color=COLORS["lost"],
        clip_on=False,
        in_layout=False,
        zorder=6,  # above the legend frame: a lost probe is never hidden
        rasterized=len(lost) > RASTERIZE_ABOVE,
        label=f"lost ({len(lost):,})",
        gid="lost",
    )
    pad = max(0.5, 0.01 * result.sent)
    ax.set_xlim(-pad, max(result.sent - 1, 0) + pad)
    _whole_numbers(ax.xaxis)
    _style.finish_axes(ax, xlabel="sequence number", ylabel=ylabel, title="each probe")
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
    result = _check_result(result)
    fig, ax = _target(ax)
    _draw_rtt_by_seq(ax, result)
    _style.set_title(
        ax,
        f"{_proto(result)} round-trip time of each probe: "
        f"{plural(result.sent, 'probe')}, {result.lost:,} lost",
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
        _style.no_data(ax, "no probes were sent")
    else:
        seqs = np.arange(n)
        flags = np.array([record.lost for record in result.records], dtype=float)
        running = np.cumsum(flags) / (seqs + 1) * 100
        ax.plot(
            seqs,
            running,
            color=COLORS["lost"],
            linewidth=1.8,
            label="lost so far / sent so far",
            gid="running",
        )
        ax.axhline(
            result.loss_rate * 100,
            color=COLORS["reference"],
            linestyle="--",
            linewidth=1.2,
            label=f"whole run: {result.loss_rate:.1%}",
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
            "no probe lost",
            transform=strip.transAxes,
            ha="center",
            va="center",
            fontsize=_style.LEGEND_SIZE,
            color=COLORS["text"],
        )
    strip.set_ylim(0, 1)
    strip.set_yticks([])
    strip.set_ylabel(
        f"lost\n({len(lost):,})",
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
    _whole_numbers(ax.xaxis)
    _style.finish_axes(ax, xlabel="sequence number", ylabel="loss rate")
    _style.legend(ax, loc=corner)
    _style.set_title(strip, "loss")
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
    result = _check_result(result)
    fig, ax = _target(ax)
    strip = _draw_loss(ax, result)
    _style.set_title(
        strip,
        f"{_proto(result)} loss: {result.lost:,} of {plural(result.sent, 'probe')} lost "
        f"({result.loss_rate:.1%})",
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
        label=label("perfect order"),
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
        label=label(f"in order ({len(xs):,})"),
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
        label=label(f"duplicate ({len(xs):,})"),
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
        label=label(f"reordered ({len(xs):,})"),
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
        label=f"lost ({len(lost):,}, on the y axis)",
        gid="lost",
    )
    x_pad = max(1.0, 0.02 * n)
    y_pad = max(1.0, 0.02 * result.sent)
    ax.set_xlim(-x_pad, max(n - 1, 0) + x_pad)
    ax.set_ylim(-y_pad, max(result.sent - 1, 0) + y_pad)
    _whole_numbers(ax.xaxis)
    _whole_numbers(ax.yaxis)
    message = _silence(result)
    if message is not None:
        _style.no_data(ax, message, y=0.7)  # above the legend, in the lower right
        ax.set_xticks([])
    _style.finish_axes(
        ax,
        xlabel="arrival order (k-th reply to arrive)",
        ylabel="sequence number",
        title="arrival order",
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
    _whole_numbers(zoom.xaxis, most=4)
    _whole_numbers(zoom.yaxis, most=4)
    zoom.tick_params(labelsize=_style.TICK_SIZE - 1, length=2)
    zoom.set_title(
        f"zoom on arrivals {first:,}-{last:,}", fontsize=_style.TICK_SIZE, loc="left", pad=3
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
    result = _check_result(result)
    fig, ax = _target(ax)
    _draw_ordering(ax, result)
    _draw_zoom(ax, result)
    _style.set_title(
        ax,
        f"{_proto(result)} arrival order: {result.received:,} of {plural(result.sent, 'probe')} "
        f"answered, {result.reordered:,} reordered, {plural(result.duplicates, 'duplicate')}, "
        f"{result.lost:,} lost",
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
    result = _check_result(result)
    fig = _style.new_figure((12.0, 3.8))
    hist_ax, seq_ax, order_ax = fig.subplots(1, 3)
    _draw_histogram(hist_ax, result)
    _draw_rtt_by_seq(seq_ax, result)
    _draw_ordering(order_ax, result)
    fig.suptitle(
        f"{_proto(result)} ping: {plural(result.sent, 'probe')} of {result.size:,} bytes, "
        f"{result.received:,} answered, {result.lost:,} lost, {result.reordered:,} reordered, "
        f"{plural(result.duplicates, 'duplicate')}",
        fontsize=_style.TITLE_SIZE,
        x=0.01,
        ha="left",
    )
    return fig


# -- TCP against UDP ----------------------------------------------------------------
def _series(results: Sequence[PingResult]) -> list[tuple[str, str]]:
    """(label, colour) of each result: by protocol, or by position if both share one."""
    names = [_proto(r) for r in results]
    if len(set(names)) == len(names) and all(r.protocol in ("udp", "tcp") for r in results):
        return [(name, COLORS[r.protocol]) for name, r in zip(names, results, strict=True)]
    colours = (COLORS["udp"], COLORS["tcp"])
    return [(f"{name} #{i + 1}", colours[i % 2]) for i, name in enumerate(names)]


def _draw_compare_cdfs(ax: Axes, results: Sequence[PingResult]) -> Axes:
    rtts = [rtt for result in results for rtt in result.rtts]
    if not rtts:
        _style.no_data(ax, "no replies in either run: every probe was lost")
        _style.finish_axes(ax, xlabel="round-trip time", ylabel="replies at most this slow")
        return ax
    view = _style.rtt_view(rtts)
    medians: list[tuple[float, str, str]] = []
    for result, (name, colour) in zip(results, _series(results), strict=True):
        if result.rtt is None:
            # Still in the legend: "no replies" is a result worth showing.
            ax.plot(
                [], [], color=colour, linewidth=2, label=f"{name}: no replies ({result.lost} lost)"
            )
            continue
        values = np.sort(np.asarray(result.rtts) * view.scale)
        share = np.arange(1, len(values) + 1) / len(values) * 100
        median = result.rtt.median * view.scale
        ax.step(
            np.concatenate([[values[0]], values]),
            np.concatenate([[0.0], share]),
            where="post",
            color=colour,
            linewidth=2,
            label=f"{name}: median {view.fmt(result.rtt.median)} ({len(values):,} replies)",
            gid=f"cdf-{name}",
        )
        ax.axvline(median, color=colour, linestyle="--", linewidth=1.1, gid=f"median-{name}")
        ax.plot([median], [50], marker="o", markersize=6, color=colour, zorder=5)
        medians.append((median, name, colour))
    if len(medians) == 2:
        (low, low_name, _), (high, high_name, _) = sorted(medians)
        ax.annotate(
            "",
            xy=(high, 50),
            xytext=(low, 50),
            arrowprops={"arrowstyle": "<->", "color": COLORS["text"], "linewidth": 1.2},
        )
        ratio = f", ×{high / low:.2f}" if low > 0 else ""
        # Right of the higher median on the 50 % line both curves are above:
        # the one spot sure to be free of ink.
        ax.annotate(
            f"{high_name} median is\n{view.fmt_scaled(high - low)} more than {low_name}'s{ratio}",
            xy=(high, 50),
            xytext=(8, -4),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=_style.LEGEND_SIZE + 0.5,
            color=COLORS["text"],
            gid="median-difference",
        )
    _mark_beyond(ax, view, 100.0)
    ax.set_xlim(view.lo, view.hi)
    ax.set_ylim(0, 103)
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    _style.finish_axes(ax, xlabel=view.label(), ylabel="replies at most this slow")
    _style.legend(ax, loc="lower right")
    return ax


def _draw_costs(ax: Axes, results: Sequence[PingResult]) -> Axes:
    """Bars: one round trip (median) of each run, and connect() where a run had one."""
    ax.set_gid("costs")
    bars: list[tuple[str, float, str, str]] = []
    for result, (name, colour) in zip(results, _series(results), strict=True):
        if result.rtt is not None:
            bars.append((f"{name}\nround trip", result.rtt.median, colour, ""))
        if result.connect_time is not None:
            bars.append((f"{name}\nconnect()", result.connect_time, colour, "//"))
    scale, unit = _style.time_unit(max(seconds for _, seconds, _, _ in bars))
    heights = [seconds * scale for _, seconds, _, _ in bars]
    container = ax.bar(
        [label for label, _, _, _ in bars],
        heights,
        color=[colour for _, _, colour, _ in bars],
        edgecolor="white",
        width=0.65,
        gid="costs",
    )
    for patch, (_, _, colour, hatch) in zip(container.patches, bars, strict=True):
        if hatch:
            # A hatched bar is a cost paid once per connection, not per message.
            patch.set_facecolor("white")
            patch.set_edgecolor(colour)
            patch.set_hatch(hatch)
            patch.set_linewidth(1.5)
    ax.bar_label(
        container,
        labels=[f"{_style.three_figures(h)} {unit}" for h in heights],
        fontsize=_style.LEGEND_SIZE,
        padding=2,
    )
    ax.set_ylim(0, max(heights) * 1.18)
    _style.finish_axes(ax, xlabel="", ylabel=f"time ({unit})", title="set-up against one exchange")
    ax.tick_params(axis="x", labelsize=_style.LEGEND_SIZE)
    ax.grid(False, axis="x")
    return ax


def compare(udp_result: PingResult, tcp_result: PingResult) -> Figure:
    """TCP against UDP: both RTT distributions on one axes, medians marked, and set-up cost.

    Left: the cumulative distribution of each run's round-trip times, with
    each median marked on the 50 % line and the gap between them written
    out. Right (when a run has a ``connect_time``, i.e. TCP): bars of one
    round trip of each run against the connection set-up TCP paid once.
    Any two ping results can be compared; colours follow the protocol.
    Returns the figure.

    Example:
        >>> fig = plots.compare(udp, tcp)  # doctest: +SKIP
    """
    results = (_check_result(udp_result, "udp_result"), _check_result(tcp_result, "tcp_result"))
    fig = _style.new_figure()
    if any(r.connect_time is not None for r in results):
        cdf_ax, cost_ax = fig.subplots(1, 2, width_ratios=(2.4, 1))
        _draw_costs(cost_ax, results)
    else:
        cdf_ax = fig.subplots()
    _draw_compare_cdfs(cdf_ax, results)
    (first, _), (second, _) = _series(results)
    counts = " + ".join(f"{r.sent:,}" for r in results)
    fig.suptitle(
        f"{first} against {second} round trips over loopback: {counts} probes",
        fontsize=_style.TITLE_SIZE,
        x=0.01,
        ha="left",
    )
    return fig


# -- throughput ------------------------------------------------------------------------
@dataclass(frozen=True)
class ThroughputPoint:
    """One measurement: ``protocol`` moved ``bytes_per_second`` in ``message_size``-byte messages.

    Raises :class:`UsageError` for an empty protocol, a size under 1 or a
    negative or non-finite rate.

    >>> ThroughputPoint("tcp", 65536, 3.4e9).message_size
    65536
    """

    protocol: str
    message_size: int
    bytes_per_second: float

    def __post_init__(self) -> None:
        if not isinstance(self.protocol, str) or not self.protocol:
            raise UsageError(f"protocol must be a name such as 'tcp', not {self.protocol!r}")
        size = self.message_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise UsageError(f"message_size must be a whole number of bytes >= 1, not {size!r}")
        rate = self.bytes_per_second
        if (
            isinstance(rate, bool)
            or not isinstance(rate, (int, float))
            or not (math.isfinite(rate) and rate >= 0)
        ):
            raise UsageError(f"bytes_per_second must be a finite number >= 0, not {rate!r}")


def _points(points: Iterable[ThroughputPoint | tuple[str, int, float]]) -> list[ThroughputPoint]:
    out = []
    for point in points:
        if isinstance(point, ThroughputPoint):
            out.append(point)
        elif isinstance(point, tuple) and len(point) == 3:
            out.append(ThroughputPoint(*point))
        else:
            raise UsageError(
                "each point must be a ThroughputPoint or a (protocol, message_size, "
                f"bytes_per_second) tuple, not {point!r}"
            )
    return out


def _size_ticks(sizes: Iterable[int]) -> list[int]:
    """The measured sizes as ticks, leaving out any that would print on top of the last.

    UDP's 65,507 and TCP's 65,536 are 0.04 % apart: one tick, not two
    overprinted labels. Ticks are kept at least half an octave apart.
    """
    ticks: list[int] = []
    for size in sorted(set(sizes)):
        if not ticks or math.log2(size / ticks[-1]) >= 0.5:
            ticks.append(size)
    if len(ticks) > 12:  # a dense sweep: every other tick still reads as a scale
        ticks = ticks[::2]
    return ticks


def _draw_throughput(ax: Axes, points: Sequence[ThroughputPoint]) -> Axes:
    if not points:
        _style.no_data(ax, "no measurements")
        _style.finish_axes(ax, xlabel="message size", ylabel="throughput")
        return ax
    divisor, unit = _style.rate_unit([p.bytes_per_second for p in points])
    by_protocol: dict[str, list[ThroughputPoint]] = {}
    for point in points:
        by_protocol.setdefault(point.protocol, []).append(point)
    extra = iter(_style.EXTRA_COLORS * (1 + len(by_protocol) // len(_style.EXTRA_COLORS)))
    for protocol, series in by_protocol.items():
        colour = COLORS.get(protocol.lower()) or next(extra)
        sizes = sorted({p.message_size for p in series})
        medians = [
            float(np.median([p.bytes_per_second for p in series if p.message_size == size]))
            / divisor
            for size in sizes
        ]
        if len(series) > len(sizes):  # repeated measurements: show every one, faintly
            ax.scatter(
                [p.message_size for p in series],
                [p.bytes_per_second / divisor for p in series],
                s=12,
                color=colour,
                alpha=0.35,
                linewidths=0,
                gid=f"runs-{protocol}",
            )
        best = max(range(len(sizes)), key=medians.__getitem__)
        ax.plot(
            sizes,
            medians,
            marker="o",
            markersize=5,
            linewidth=2,
            color=colour,
            label=f"{protocol.upper()}: best {_style.three_figures(medians[best])} {unit} "
            f"at {_style.size_label(sizes[best])}",
            gid=f"line-{protocol}",
        )
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(_size_ticks(p.message_size for p in points)))
    ax.xaxis.set_major_formatter(FuncFormatter(_style.size_label))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(bottom=0)
    _style.finish_axes(
        ax, xlabel="message size (bytes per send call, log scale)", ylabel=f"throughput ({unit})"
    )
    _style.legend(ax, loc="upper left")
    return ax


def throughput(
    points: Iterable[ThroughputPoint | tuple[str, int, float]], *, ax: Axes | None = None
) -> Figure:
    """Throughput against message size, one line per protocol (log-scale x).

    ``points`` are :class:`ThroughputPoint` or plain ``(protocol,
    message_size, bytes_per_second)`` tuples. Repeated measurements of one
    size are all drawn (faint dots) and the line goes through their median.
    Returns the figure. Raises :class:`UsageError` for a malformed point.

    Example:
        >>> fig = plots.throughput([("tcp", 1024, 4.1e8), ("tcp", 65536, 3.2e9),
        ...                         ("udp", 1024, 2.9e8), ("udp", 65507, 2.2e9)])
    """
    measured = _points(points)
    fig, ax = _target(ax)
    _draw_throughput(ax, measured)
    protocols = ", ".join(dict.fromkeys(p.protocol.upper() for p in measured)) or "nothing"
    _style.set_title(
        ax,
        f"Throughput against message size: {protocols} ({plural(len(measured), 'measurement')})",
    )
    return fig
