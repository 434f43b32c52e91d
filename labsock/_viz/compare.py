"""TCP against UDP, and throughput against message size: figures that compare runs.

Re-exported by :mod:`labsock.plots` (``plots.compare``, ``plots.throughput``,
``plots.ThroughputPoint``); see there for the conventions every figure
follows. Like every plot module, this one only reads results.

Example:
    >>> from labsock import plots
    >>> fig = plots.throughput([("tcp", 1024, 4.1e8), ("tcp", 65536, 3.2e9)])
    >>> fig.axes[0].get_yscale(), fig.axes[0].get_ylabel()
    ('log', 'throughput (log scale)')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    NullFormatter,
    PercentFormatter,
)
from matplotlib.transforms import blended_transform_factory

from labsock._core.errors import UsageError
from labsock._core.formatting import format_rate
from labsock._core.i18n import N_, ngettext
from labsock._core.i18n import gettext as _
from labsock._results.compare import ThroughputPoint
from labsock._results.ping import PingResult
from labsock._results.sender_cost import SenderCost
from labsock._viz import style as _style
from labsock._viz.style import COLORS

__all__ = ["compare", "sender_cost", "throughput"]


# -- TCP against UDP ----------------------------------------------------------------
@dataclass(frozen=True)
class _Measured:
    """How the figure names what each record of a run timed (``PingResult.kind``).

    English, marked with ``N_``: each is translated with ``_()`` where it is
    drawn, so the language chosen after import is the one shown.
    """

    title: str  # the figure's title, from {first}, {second} and {counts}
    axis: str  # the time axis: "round-trip time"
    bar: str  # a bar of the cost panel, under the protocol: "round trip"
    counted: str  # what the distribution counts: "replies"
    slow: str  # the distribution's y axis: "replies at most this slow"
    nothing: str  # when neither run got an answer
    costs: str  # the cost panel's title


_MEASURED = {
    "probe": _Measured(
        title=N_("{first} against {second} round trips over loopback: {counts} probes"),
        axis=N_("round-trip time"),
        bar=N_("round trip"),
        counted=N_("replies"),
        slow=N_("replies at most this slow"),
        nothing=N_("no replies in either run: every probe was lost"),
        costs=N_("set-up against one exchange"),
    ),
    "request": _Measured(
        title=N_(
            "{first} against {second} requests over loopback, a new socket for each: "
            "{counts} requests"
        ),
        axis=N_("request time, new socket to close"),
        bar=N_("request"),
        counted=N_("requests"),
        slow=N_("requests at most this slow"),
        nothing=N_("no replies in either run: every request was lost"),
        costs=N_("a request and its connect()"),
    ),
}
# Two runs that timed different things: only the words that fit both.
_MIXED = _Measured(
    title=N_("{first} against {second} over loopback: {counts}"),
    axis=N_("time per round trip or request"),
    bar="",
    counted=N_("replies"),
    slow=N_("replies at most this slow"),
    nothing=N_("no replies in either run: every probe or request was lost"),
    costs=N_("set-up against one exchange"),
)


def _measured(results: Sequence[PingResult]) -> _Measured:
    """The words for what ``results`` timed: their kind's, or neutral ones if they differ."""
    kinds = {_MEASURED.get(r.kind, _MEASURED["probe"]) for r in results}
    return kinds.pop() if len(kinds) == 1 else _MIXED


def _series(results: Sequence[PingResult]) -> list[tuple[str, str]]:
    """(label, colour) of each result: by protocol, or by position if both share one."""
    names = [_style.proto(r) for r in results]
    if len(set(names)) == len(names) and all(r.protocol in ("udp", "tcp") for r in results):
        return [(name, COLORS[r.protocol]) for name, r in zip(names, results, strict=True)]
    colours = (COLORS["udp"], COLORS["tcp"])
    return [(f"{name} #{i + 1}", colours[i % 2]) for i, name in enumerate(names)]


def _draw_compare_cdfs(ax: Axes, results: Sequence[PingResult]) -> Axes:
    words = _measured(results)
    ylabel = _(words.slow)
    rtts = [rtt for result in results for rtt in result.rtts]
    if not rtts:
        _style.no_data(ax, _(words.nothing))
        _style.finish_axes(ax, xlabel=_(words.axis), ylabel=ylabel)
        return ax
    # A log axis: loopback tails are long (medians of 20 µs, a straggler at
    # 2 ms), and on a linear axis long enough for the straggler both medians
    # share one pixel column. On a log axis every decade gets the same room,
    # so the medians stand apart and every value, the slowest too, is shown.
    view = _style.rtt_view(rtts)
    medians: list[tuple[float, str, str]] = []
    for result, (name, colour) in zip(results, _series(results), strict=True):
        if result.rtt is None:
            # Still in the legend: "no replies" is a result worth showing.
            ax.plot(
                [],
                [],
                color=colour,
                linewidth=2,
                label=_("{name}: no replies ({lost} lost)").format(name=name, lost=result.lost),
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
            label=_("{name}: median {median} ({n:,} {counted})").format(
                name=name,
                median=view.fmt(result.rtt.median),
                n=len(values),
                counted=_(_measured([result]).counted),
            ),
            gid=f"cdf-{name}",
        )
        ax.axvline(median, color=colour, linestyle="--", linewidth=1.1, gid=f"median-{name}")
        ax.plot([median], [50], marker="o", markersize=6, color=colour, zorder=5)
        medians.append((median, name, colour))
    if len(medians) == 2:
        (low, low_name, _low_colour), (high, high_name, _high_colour) = sorted(medians)
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
            _("{high} median is\n{difference} more than {low}'s{ratio}").format(
                high=high_name, difference=view.fmt_scaled(high - low), low=low_name, ratio=ratio
            ),
            xy=(high, 50),
            xytext=(8, -4),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=_style.LEGEND_SIZE + 0.5,
            color=COLORS["text"],
            gid="median-difference",
        )
    low, high = min(rtts) * view.scale, max(rtts) * view.scale
    ax.set_xscale("log")
    ax.set_xlim(low / 1.25, max(high * 1.25, low * 4))
    if math.log10(ax.get_xlim()[1] / ax.get_xlim()[0]) < 2.5:  # few decades: 1-2-5 ticks
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x:,.4g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0, 103)
    ax.yaxis.set_major_formatter(PercentFormatter(100))
    xlabel = _("{what} ({unit}, log scale)").format(what=_(words.axis), unit=view.unit)
    _style.finish_axes(ax, xlabel=xlabel, ylabel=ylabel)
    _style.legend(ax, loc="lower right")
    return ax


def _draw_costs(ax: Axes, results: Sequence[PingResult]) -> Axes:
    """Bars: the median round trip (or request) of each run, and connect() where one had it."""
    ax.set_gid("costs")
    bars: list[tuple[str, float, str, str]] = []
    for result, (name, colour) in zip(results, _series(results), strict=True):
        if result.rtt is not None:
            bar = _measured([result]).bar
            bars.append((f"{name}\n{_(bar) if bar else ''}", result.rtt.median, colour, ""))
        if result.connect_time is not None:
            # A ping opens one connection (its connect() is timed once, cold);
            # a request run times one per request (the bar is their median).
            # Two different numbers: say which one each bar is.
            which = _("median") if result.kind == "request" else _("once")
            bars.append((f"{name}\nconnect()\n({which})", result.connect_time, colour, "//"))
    scale, unit = _style.time_unit(max(bar[1] for bar in bars))
    heights = [bar[1] * scale for bar in bars]
    container = ax.bar(
        [bar[0] for bar in bars],
        heights,
        color=[bar[2] for bar in bars],
        edgecolor="white",
        width=0.65,
        gid="costs",
    )
    for patch, (_label, _seconds, colour, hatch) in zip(container.patches, bars, strict=True):
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
    _style.finish_axes(
        ax,
        xlabel="",
        ylabel=_("time ({unit})").format(unit=unit),
        title=_(_measured(results).costs),
    )
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
    Runs of whole requests (``kind == "request"``, as
    ``compare_speed().udp_requests``) are labelled as requests: each time is
    a request from new socket to close, and the TCP request includes the
    ``connect()`` drawn beside it. Returns the figure.

    Example:
        >>> fig = plots.compare(udp, tcp)  # doctest: +SKIP
    """
    results = (
        _style.check_result(udp_result, "udp_result"),
        _style.check_result(tcp_result, "tcp_result"),
    )
    fig = _style.new_figure()
    if any(r.connect_time is not None for r in results):
        cdf_ax, cost_ax = fig.subplots(1, 2, width_ratios=(2.4, 1))
        _draw_costs(cost_ax, results)
    else:
        cdf_ax = fig.subplots()
    _draw_compare_cdfs(cdf_ax, results)
    (first, _colour1), (second, _colour2) = _series(results)
    words = _measured(results)
    if words is _MIXED:
        counts = " + ".join(
            _style.probes(r.sent) if r.kind == "probe" else _style.requests(r.sent) for r in results
        )
    else:
        counts = " + ".join(f"{r.sent:,}" for r in results)
    fig.suptitle(
        _(words.title).format(first=first, second=second, counts=counts),
        fontsize=_style.TITLE_SIZE,
        x=0.01,
        ha="left",
    )
    return fig


def _points(points: Iterable[ThroughputPoint | tuple[str, int, float]]) -> list[ThroughputPoint]:
    if not isinstance(points, Iterable):
        # The likely slip: the comparison itself instead of its points.
        raise UsageError(
            _(
                "points must be a list of ThroughputPoint, not {kind}; a SpeedComparison "
                "gives them with .throughput_points()"
            ).format(kind=type(points).__name__)
        )
    out = []
    for point in points:
        if isinstance(point, ThroughputPoint):
            out.append(point)
        elif isinstance(point, tuple) and len(point) == 3:
            out.append(ThroughputPoint(*point))
        else:
            raise UsageError(
                _(
                    "each point must be a ThroughputPoint or a (protocol, message_size, "
                    "bytes_per_second) tuple, not {point!r}"
                ).format(point=point)
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


def _rate_tick(rate: float, _pos: object = None) -> str:
    """A tick of the rate axis, in the unit that suits it: 20 MB/s, 500 MB/s, 2 GB/s."""
    divisor, unit = _style.rate_unit([rate])
    return f"{rate / divisor:g} {unit}"


def _rate_axis(ax: Axes, rates: Sequence[float]) -> None:
    """A log y axis over the positive ``rates``, ticks labelled in B/s, kB/s, MB/s, GB/s.

    Throughput grows about as fast as the message size, so over 64 B to
    64 KiB it spans two or three orders of magnitude: on a linear axis every
    small size sits on the floor. On a log axis each step is a factor, and
    "TCP is 2x UDP" is the same gap at every size. The axis spans at least
    a factor of 10, and below 2.5 decades the ticks go 1-2-5, so that at
    least three ticks are labelled.
    """
    # Headroom above for the legend (top left, over the small sizes), a margin below.
    bottom, top = min(rates) / 1.6, max(rates) * 2.5
    if top / bottom < 10:
        grow = math.sqrt(10 * bottom / top)
        bottom, top = bottom / grow, top * grow
    ax.set_yscale("log")
    ax.set_ylim(bottom, top)
    subs = (1.0, 2.0, 5.0) if math.log10(top / bottom) < 2.5 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(_rate_tick))
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10))))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _draw_throughput(ax: Axes, points: Sequence[ThroughputPoint]) -> Axes:
    if not points:
        _style.no_data(ax, _("no measurements"))
        _style.finish_axes(ax, xlabel=_("message size"), ylabel=_("throughput"))
        return ax
    rates = [p.bytes_per_second for p in points if p.bytes_per_second > 0]
    # A log axis has no zero: a size where nothing got through is marked on
    # the bottom edge. If nothing got through anywhere, the axis stays linear.
    log = bool(rates)
    by_protocol: dict[str, list[ThroughputPoint]] = {}
    for point in points:
        by_protocol.setdefault(point.protocol, []).append(point)
    extra = iter(_style.EXTRA_COLORS * (1 + len(by_protocol) // len(_style.EXTRA_COLORS)))
    bottom_edge = blended_transform_factory(ax.transData, ax.transAxes)
    for protocol, series in by_protocol.items():
        colour = COLORS.get(protocol.lower()) or next(extra)
        sizes = sorted({p.message_size for p in series})
        medians = [
            float(np.median([p.bytes_per_second for p in series if p.message_size == size]))
            for size in sizes
        ]
        if len(series) > len(sizes):  # repeated measurements: show every one, faintly
            shown = [p for p in series if p.bytes_per_second > 0 or not log]
            ax.scatter(
                [p.message_size for p in shown],
                [p.bytes_per_second for p in shown],
                s=12,
                color=colour,
                alpha=0.35,
                linewidths=0,
                gid=f"runs-{protocol}",
            )
        best = max(range(len(sizes)), key=medians.__getitem__)
        drawn = [(x, y) for x, y in zip(sizes, medians, strict=True) if y > 0 or not log]
        ax.plot(
            [x for x, __ in drawn],
            [y for __, y in drawn],
            marker="o",
            markersize=5,
            linewidth=2,
            color=colour,
            label=f"{protocol.upper()}: "
            + (
                _("best {rate} at {size}").format(
                    rate=format_rate(medians[best]), size=_style.size_label(sizes[best])
                )
                if medians[best] > 0
                else _("nothing delivered")
            ),
            gid=f"line-{protocol}",
        )
        nothing = [size for size, rate in zip(sizes, medians, strict=True) if rate == 0]
        if log and nothing:
            ax.plot(
                nothing,
                [0.0] * len(nothing),
                transform=bottom_edge,
                linestyle="none",
                marker="v",
                markersize=7,
                color=colour,
                clip_on=False,
                label=ngettext(
                    "{proto}: nothing delivered ({n} size)",
                    "{proto}: nothing delivered ({n} sizes)",
                    len(nothing),
                ).format(proto=protocol.upper(), n=len(nothing)),
                gid=f"nothing-{protocol}",
            )
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(_size_ticks(p.message_size for p in points)))
    ax.xaxis.set_major_formatter(FuncFormatter(_style.size_label))
    ax.xaxis.set_minor_formatter(NullFormatter())
    if log:
        _rate_axis(ax, rates)
        ylabel = _("throughput (log scale)")
    else:
        _style.no_data(ax, _("nothing was delivered at any size"))
        ax.set_ylim(0, 1)
        ax.set_yticks([0])
        ylabel = _("throughput (B/s)")
    _style.finish_axes(ax, xlabel=_("message size (bytes per send call, log scale)"), ylabel=ylabel)
    _style.legend(ax, loc="upper left")
    return ax


def throughput(
    points: Iterable[ThroughputPoint | tuple[str, int, float]], *, ax: Axes | None = None
) -> Figure:
    """Throughput against message size, one line per protocol (log scale on both axes).

    ``points`` are :class:`ThroughputPoint` or plain ``(protocol,
    message_size, bytes_per_second)`` tuples. Repeated measurements of one
    size are all drawn (faint dots) and the line goes through their median.
    Throughput spans orders of magnitude from small messages to large ones,
    so the y axis is logarithmic, each tick labelled in its own unit
    (10 MB/s, 100 MB/s, 1 GB/s); a size where nothing was delivered (a log
    axis has no zero) is a triangle on the bottom edge.
    Returns the figure. Raises :class:`UsageError` for a malformed point.

    Example:
        >>> fig = plots.throughput([("tcp", 1024, 4.1e8), ("tcp", 65536, 3.2e9),
        ...                         ("udp", 1024, 2.9e8), ("udp", 65507, 2.2e9)])
    """
    measured = _points(points)
    fig, ax = _style.target(ax)
    _draw_throughput(ax, measured)
    protocols = ", ".join(dict.fromkeys(p.protocol.upper() for p in measured)) or _("nothing")
    _style.set_title(
        ax,
        ngettext(
            "Throughput against message size: {protocols} ({n:,} measurement)",
            "Throughput against message size: {protocols} ({n:,} measurements)",
            len(measured),
        ).format(protocols=protocols, n=len(measured)),
    )
    return fig


# -- unicast copies against one multicast send -----------------------------------------
def sender_cost(costs: Sequence[SenderCost], *, ax: Axes | None = None) -> Figure:
    """The sender's time per message against the number of receivers, both ways.

    ``costs`` are results of :func:`labsock.sender_cost` for several receiver
    counts. Unicast (N ``sendto`` per message) and multicast (one) are drawn
    as two lines through the medians, with the middle half of each run's
    samples as a band, so a noisy sample cannot pass for a trend.

    Example:
        >>> from labsock import sender_cost as measure
        >>> fig = plots.sender_cost([measure(receivers=n, count=20) for n in (1, 2)])
        >>> fig.axes[0].get_xlabel()
        'receivers reached'
    """
    given: object = costs  # what a notebook passed, whatever the annotation says
    if not isinstance(given, Sequence) or isinstance(given, str):
        raise UsageError(
            _(
                "costs must be a list of SenderCost, one labsock.sender_cost(...) per "
                "number of receivers, such as [sender_cost(receivers=n) for n in (1, 2, 4)], "
                "not {kind}"
            ).format(kind=type(given).__name__)
        )
    wrong = [c for c in given if not isinstance(c, SenderCost)]
    if wrong:
        raise UsageError(
            _(
                "each of costs must be a SenderCost (what labsock.sender_cost returns), not {kind}"
            ).format(kind=type(wrong[0]).__name__)
        )
    if not costs:
        raise UsageError(_("sender_cost needs at least one measurement (labsock.sender_cost(...))"))
    runs = sorted(costs, key=lambda c: c.receivers)
    fig, ax = _style.target(ax)
    x = [c.receivers for c in runs]
    for name, colour, samples in (
        (_("unicast: one sendto() per receiver"), COLORS["udp"], [c.unicast for c in runs]),
        (_("multicast: one sendto() to the group"), COLORS["tcp"], [c.multicast for c in runs]),
    ):
        quartiles = np.array([np.percentile(np.asarray(s) * 1e6, [25, 50, 75]) for s in samples])
        ax.fill_between(x, quartiles[:, 0], quartiles[:, 2], color=colour, alpha=0.2, linewidth=0)
        ax.plot(x, quartiles[:, 1], marker="o", color=colour, linewidth=2, label=name)
    ax.set_xticks(x)
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", frameon=False)
    _style.finish_axes(
        ax,
        xlabel=_("receivers reached"),
        ylabel=_("sender time per message (µs)"),
        title=_(
            "What the sender pays to reach N receivers "
            "({count} messages of {size} bytes each; band: middle half)"
        ).format(count=runs[0].count, size=runs[0].size),
    )
    return fig
