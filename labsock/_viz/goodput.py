"""The figure of exercise 5's goodput: stop-and-wait against loss, and TCP's over the same delay.

The exercise measures (:func:`labsock.exercises.measure_goodput` returns a
:class:`~labsock.exercises.GoodputResult`); this module only draws what was
measured, and draws nothing while nothing was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from labsock._results.practice import GoodputResult

__all__ = ["goodput"]


def goodput(result: GoodputResult) -> Figure | None:
    """Goodput against loss (log scale), with TCP's as a dashed line.

    Returns:
        A figure (a PNG in a notebook), or None while there is nothing to
        draw: the functions are not written yet, or no transfer succeeded.
        A cell whose last line returns None shows nothing.

    Raises:
        UsageError: ``result`` is not a :class:`GoodputResult`.

    Example:
        >>> from labsock._results.practice import GoodputResult
        >>> goodput(GoodputResult(False, 60, 0, 0.001, (), None)) is None
        True
    """
    from labsock._core.errors import UsageError
    from labsock._core.i18n import gettext as _
    from labsock._results.practice import GoodputResult
    from labsock._viz.style import COLORS, finish_axes, legend, new_figure

    if not isinstance(result, GoodputResult):
        raise UsageError(
            _(
                "result must be a GoodputResult (what exercises.measure_goodput returns), "
                "not {kind}"
            ).format(kind=type(result).__name__)
        )

    good = [r for r in result.rows if r.goodput is not None]
    if not result.attempted or not good:
        return None
    fig = new_figure((7.0, 3.4))
    ax = fig.add_subplot()
    rates = [r.goodput / 1e3 for r in good if r.goodput is not None]
    ax.plot(
        [r.loss * 100 for r in good],
        rates,
        marker="o",
        color=COLORS["udp"],
        label=_("stop-and-wait over UDP (your rdt_send/rdt_receive)"),
    )
    if result.tcp is not None:
        ax.axhline(
            result.tcp / 1e3,
            color=COLORS["tcp"],
            linestyle="--",
            label=_("TCP, same delay, no loss (a relay cannot drop TCP segments)"),
        )
    ax.set_yscale("log")
    # Room under the curve for the legend: the axis spans decades anyway.
    ax.set_ylim(bottom=min(rates) / 30)
    finish_axes(
        ax,
        xlabel=_("loss on each direction (%)"),
        ylabel=_("goodput (kB/s)"),
        title=_("Stop-and-wait goodput against loss"),
    )
    legend(ax, loc="lower left")
    return fig
