"""The look of every labsock figure: palette, sizes, units, axes styling.

One place decides what a colour means, so "vermillion" is "lost" in every
figure of the course. The palette is Okabe and Ito's (2008), designed to stay
distinguishable under every common colour-vision deficiency.

Only :mod:`labsock.plots` and the ``_plot_*`` modules it re-exports import
this module (``import labsock`` never loads matplotlib). The few drawing
helpers more than one of them needs (the target axes, the "beyond the axis"
mark, integer ticks, text widths) live here too, so no plot module imports
another. Nothing here touches matplotlib's global state (no ``rcParams``, no
pyplot): every setting is passed to the artist it styles, so figures built
in one thread never restyle another's.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.textpath import text_to_path
from matplotlib.ticker import MaxNLocator, StrMethodFormatter
from matplotlib.transforms import blended_transform_factory

from labsock._core.errors import UsageError
from labsock._core.formatting import format_seconds, format_size, rate_unit, three_figures
from labsock._core.i18n import gettext as _
from labsock._core.i18n import ngettext
from labsock._core.stats import percentile
from labsock._results.ping import PingResult

__all__ = [
    "COLORS",
    "FIGSIZE",
    "OKABE_ITO",
    "RASTERIZE_ABOVE",
    "LabFigure",
    "LegendLoc",
    "RttView",
    "beyond_label",
    "check_result",
    "finish_axes",
    "legend",
    "mark_beyond",
    "new_figure",
    "no_data",
    "plural",
    "proto",
    "rate_unit",
    "root",
    "rtt_view",
    "set_title",
    "size_label",
    "target",
    "text_width",
    "three_figures",
    "time_unit",
    "to_png",
    "whole_numbers",
]

#: Okabe-Ito, by name.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

#: What each colour means, in every figure.
COLORS = {
    "reply": OKABE_ITO["blue"],
    "lost": OKABE_ITO["vermillion"],
    "reordered": OKABE_ITO["orange"],
    "duplicate": OKABE_ITO["bluish_green"],
    "median": OKABE_ITO["black"],
    "p99": OKABE_ITO["reddish_purple"],
    "udp": OKABE_ITO["blue"],
    "tcp": OKABE_ITO["bluish_green"],
    "reference": "#9A9A9A",
    # Not data, but its absence: a receiver out of the group, a local call.
    "absent": "#DEDEDE",
    "grid": "#E6E6E6",
    "text": "#333333",
}

#: Other series (a third protocol in ``throughput``) take these in turn.
EXTRA_COLORS = (
    OKABE_ITO["orange"],
    OKABE_ITO["reddish_purple"],
    OKABE_ITO["sky_blue"],
    OKABE_ITO["vermillion"],
    OKABE_ITO["black"],
)

#: Notebook width: 900 x 350 pixels at 100 dpi.
FIGSIZE = (9.0, 3.5)
TITLE_SIZE = 11.0
LABEL_SIZE = 9.5
TICK_SIZE = 8.5
LEGEND_SIZE = 8.5

#: Above this many points, markers are rasterized: an SVG or PDF of 100k
#: vector dots is megabytes and slow to open; a PNG looks the same.
RASTERIZE_ABOVE = 10_000


class LabFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that shows itself as PNG in Jupyter.

    A plain ``Figure`` returned from a cell only renders as an image once
    pyplot has loaded the inline backend (which registers a formatter for
    ``Figure``); without pyplot, Jupyter prints ``<Figure size 900x350 ...>``.
    ``_repr_png_`` makes the figure render in every case, and keeps the
    image in a notebook exported to HTML.
    """

    def _repr_png_(self) -> bytes:
        return to_png(self)


def to_png(fig: Figure, dpi: float = 100) -> bytes:
    """Render ``fig`` to PNG bytes at ``dpi`` dots per inch (no pyplot, no display needed).

    For an ``ipywidgets.Image``, a file, or a test. Raises :class:`UsageError`
    for a ``fig`` that is not a figure, or a ``dpi`` outside 10..1000.

    >>> from matplotlib.figure import Figure
    >>> to_png(Figure(figsize=(2, 1)))[:4]
    b'\\x89PNG'
    """
    if not isinstance(fig, Figure):
        raise UsageError(
            _("fig must be a matplotlib Figure (what a plots function returns), not {kind}").format(
                kind=type(fig).__name__
            )
        )
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 10 <= dpi <= 1000:
        raise UsageError(_("dpi must be a number from 10 to 1000, not {dpi!r}").format(dpi=dpi))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def new_figure(figsize: tuple[float, float] = FIGSIZE) -> LabFigure:
    """An empty figure with constrained layout, white background."""
    return LabFigure(figsize=figsize, layout="constrained", facecolor="white")


def root(ax: Axes) -> Figure:
    """The figure ``ax`` belongs to (the top one, when ``ax`` sits in a subfigure)."""
    fig = ax.figure
    return fig if isinstance(fig, Figure) else fig.figure


def target(ax: Axes | None, figsize: tuple[float, float] = FIGSIZE) -> tuple[Figure, Axes]:
    """The axes to draw in (a new ``figsize`` figure's when ``ax`` is None) and its figure.

    Raises :class:`UsageError` when ``ax`` is neither None nor an Axes.
    """
    if ax is None:
        fig = new_figure(figsize)
        return fig, fig.subplots()
    if not isinstance(ax, Axes):
        raise UsageError(
            _("ax must be a matplotlib Axes or None, not {kind}").format(kind=type(ax).__name__)
        )
    return root(ax), ax


def check_result(result: object, name: str = "result") -> PingResult:
    """``result`` if it is a :class:`PingResult`, else :class:`UsageError` naming ``name``."""
    if not isinstance(result, PingResult):
        raise UsageError(
            _("{name} must be a PingResult (what labsock.ping returns), not {kind}").format(
                name=name, kind=type(result).__name__
            )
        )
    return result


def proto(result: PingResult) -> str:
    """The protocol as titles write it: ``UDP``."""
    return result.protocol.upper()


def whole_numbers(axis: Axis, most: int | None = None) -> None:
    """Ticks on whole numbers only (there is no probe 2.5), with separators: 100,000."""
    axis.set_major_locator(MaxNLocator(most or "auto", integer=True, min_n_ticks=1))
    axis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def finish_axes(ax: Axes, *, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Labels, ticks, spines and grid in the house style."""
    ax.set_xlabel(xlabel, fontsize=LABEL_SIZE, color=COLORS["text"])
    ax.set_ylabel(ylabel, fontsize=LABEL_SIZE, color=COLORS["text"])
    if title is not None:
        set_title(ax, title)
    ax.tick_params(labelsize=TICK_SIZE, colors=COLORS["text"], length=3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#777777")
    ax.grid(True, color=COLORS["grid"], linewidth=0.8)
    ax.set_axisbelow(True)


def set_title(ax: Axes, title: str) -> None:
    """A left-aligned title, so long ones read like a sentence."""
    # The pad clears the marks some plots put on the top edge (lost probes).
    ax.set_title(title, fontsize=TITLE_SIZE, loc="left", color="black", pad=10)


LegendLoc = Literal["upper right", "upper left", "lower left", "lower right"]


def legend(ax: Axes, *, loc: LegendLoc = "upper right", ncols: int = 1) -> Legend | None:
    """A legend of every labelled artist (never ``loc="best"``: it is slow on 100k points)."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    box = ax.legend(
        handles,
        labels,
        loc=loc,
        ncols=ncols,
        fontsize=LEGEND_SIZE,
        framealpha=0.92,
        edgecolor="#CCCCCC",
        handletextpad=0.4,
        borderaxespad=0.4,
        columnspacing=1.2,
    )
    # Markers shrink as points crowd (100k dots); their legend keys must not.
    for key in box.legend_handles:
        if isinstance(key, Line2D) and key.get_marker() not in ("None", None, ""):
            key.set_markersize(max(float(key.get_markersize()), 5.0))
        elif isinstance(key, PathCollection):
            key.set_sizes([max(float(key.get_sizes()[0]), 25.0)])
    return box


def no_data(ax: Axes, message: str, *, y: float = 0.5) -> None:
    """Write ``message`` across an empty plot (``y`` in axes units), instead of drawing nothing."""
    ax.text(
        0.5,
        y,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=LABEL_SIZE + 1,
        color=COLORS["lost"],
        linespacing=1.4,
        bbox={"boxstyle": "round,pad=0.5", "facecolor": "white", "edgecolor": COLORS["lost"]},
        gid="no-data",
    )


def beyond_label(view: RttView) -> str:
    """Legend text for the values past the axis cut: how many, and the slowest."""
    return _("{n:,} beyond the axis (max {slowest})").format(
        n=view.beyond, slowest=format_seconds(view.max_seconds)
    )


def mark_beyond(ax: Axes, view: RttView, y: float) -> None:
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
        label=beyond_label(view),
        gid="beyond",
    )


# -- units ---------------------------------------------------------------------
@dataclass(frozen=True)
class RttView:
    """How to show a set of round-trip times: unit, axis range, what falls off it.

    ``scale`` turns seconds into ``unit``; ``lo`` and ``hi`` are the axis
    limits in that unit. Values above ``cut`` (in ``unit``) are too far in
    the tail to share the axis with the rest: ``beyond`` of them, the
    slowest taking ``max_seconds``.
    """

    scale: float
    unit: str
    lo: float
    hi: float
    cut: float
    beyond: int
    max_seconds: float

    def label(self, what: str | None = None) -> str:
        """``what`` (by default "round-trip time", translated) with this view's unit."""
        return f"{_('round-trip time') if what is None else what} ({self.unit})"

    def fmt(self, seconds: float) -> str:
        """``seconds`` in this view's unit, about three significant figures."""
        return self.fmt_scaled(seconds * self.scale)

    def fmt_scaled(self, value: float) -> str:
        """``value``, already in this view's unit, about three significant figures."""
        return f"{three_figures(value)} {self.unit}"


def time_unit(seconds: float) -> tuple[float, str]:
    """``(scale, unit)`` that shows ``seconds`` as a number from 1 to 999."""
    if seconds < 1e-3:
        return 1e6, "µs"
    if seconds < 1.0:
        return 1e3, "ms"
    return 1.0, "s"


def rtt_view(rtts: Sequence[float]) -> RttView:
    """Choose the unit and axis range for RTTs in seconds (at least one value).

    The unit follows the bulk of the data (the 90th percentile): µs under a
    millisecond, ms under a second, else s. Loopback tails are long (a
    25 µs median with one 3 ms straggler), and an axis stretched to the
    straggler squeezes everything else into one bar; so when the maximum is
    more than twice the 99th percentile, the axis stops a little above the
    99th percentile and the plots say how many values lie beyond.
    """
    scale, unit = time_unit(percentile(rtts, 90))
    low, high = min(rtts) * scale, max(rtts) * scale
    p99 = percentile(rtts, 99) * scale
    cut = high if high <= 2 * p99 else p99 + 0.5 * (p99 - low)
    beyond = sum(1 for value in rtts if value * scale > cut)
    span = cut - low
    # Equal values (to float noise) have no span to pad by: pad by 5 % of the value.
    flat = span <= 1e-6 * abs(cut)
    pad = max(0.05 * abs(low), 1e-3) if flat else 0.06 * span
    return RttView(
        scale=scale,
        unit=unit,
        lo=low - pad,
        hi=cut + pad,
        cut=cut,
        beyond=beyond,
        max_seconds=max(rtts),
    )


def size_label(size: float, _pos: Any = None) -> str:
    """A message size for a tick (matplotlib passes a position too): 64 B, 1 KiB, 65,507 B."""
    return format_size(size)


def text_width(text: str, size: float) -> float:
    """Width in points of ``text`` at font ``size`` (its widest line), without drawing it.

    For placing labels where they fit before the figure is rendered.
    """
    font = FontProperties(size=size)
    return max(
        (
            text_to_path.get_text_width_height_descent(line, font, ismath=False)[0]
            for line in text.split("\n")
        ),
        default=0.0,
    )


def plural(count: int, noun: str) -> str:
    """``1 probe``, ``2 probes``, with thousands separators: ``100,000 probes``.

    English only: text a student reads uses :func:`probes`, :func:`duplicates`
    or its own ``ngettext`` call, which a translation can follow.
    """
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def probes(count: int) -> str:
    """``1 probe``, ``2 probes``, ``100,000 probes``, in the current language."""
    return ngettext("{n:,} probe", "{n:,} probes", count).format(n=count)


def requests(count: int) -> str:
    """``1 request``, ``2 requests``, in the current language."""
    return ngettext("{n:,} request", "{n:,} requests", count).format(n=count)


def duplicates(count: int) -> str:
    """``1 duplicate``, ``2 duplicates``, in the current language."""
    return ngettext("{n:,} duplicate", "{n:,} duplicates", count).format(n=count)


def mark_lost_on_top(
    ax: Axes, xs: Sequence[float], *, label: str, size: float = 6.0, width: float = 1.6
) -> None:
    """Lost probes as crosses on the top edge, above where their dots would be.

    x in data units, y in axes units, drawn over the legend frame: a lost
    probe is never hidden, whatever the y range.
    """
    ax.plot(
        list(xs),
        [1.0] * len(xs),
        transform=blended_transform_factory(ax.transData, ax.transAxes),
        linestyle="none",
        marker="x",
        markersize=size,
        markeredgewidth=width,
        color=COLORS["lost"],
        clip_on=False,
        in_layout=False,
        zorder=6,
        rasterized=len(xs) > RASTERIZE_ABOVE,
        label=label,
        gid="lost",
    )
