"""Head-of-line blocking as a figure: when each message reached the application, two ways.

Re-exported by :mod:`labsock.plots` as ``plots.head_of_line``. One point per
message, x its sequence number, y the time from its first send until the
application had it: as a datagram (blue dots; a vermillion ``x`` on the top
edge for a message whose first copy was lost) and as a reliable in-order
stream (a green line: after each loss it jumps up and comes down like a
staircase, as every message behind the hole waits for the retransmission).
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from labsock._core.errors import UsageError
from labsock._results.head_of_line import HeadOfLineResult
from labsock._viz import style as _style
from labsock._viz.style import COLORS, plural

__all__ = ["head_of_line"]


def head_of_line(result: HeadOfLineResult, *, ax: Axes | None = None) -> Figure:
    """Delay of every message, as datagrams and as an in-order stream, against its number.

    Blue dots: when each message's first transmission arrived (datagrams:
    nobody waits for anybody). Vermillion ``x`` on the top edge: a message
    whose first copy the link dropped (as a datagram it never came). Green
    line: when the reliable stream handed each message over, in order; it
    rises after every loss and holds up the messages behind it. Grey
    dashed: the link's one-way delay, the least any message can take.

    Returns the figure (``ax``'s if given). Raises :class:`UsageError` for
    anything but a :class:`~labsock.HeadOfLineResult`.

    Example:
        >>> fig = plots.head_of_line(labsock.head_of_line(count=40))  # doctest: +SKIP
    """
    if not isinstance(result, HeadOfLineResult):
        raise UsageError(
            "result must be a HeadOfLineResult (what labsock.head_of_line returns), "
            f"not {type(result).__name__}"
        )
    fig, ax = _style.target(ax)
    seqs = np.arange(result.count)
    datagram = np.array([np.nan if d is None else d * 1e3 for d in result.datagram_delays])
    stream = np.array([np.nan if d is None else d * 1e3 for d in result.stream_delays])
    ax.plot(
        seqs,
        stream,
        color=COLORS["tcp"],
        linewidth=1.8,
        marker="o",
        markersize=2.5,
        label=f"stream, in order ({len(result.held_back)} held back behind a loss)",
        gid="stream",
        zorder=2,
    )
    ax.plot(
        seqs,
        datagram,
        linestyle="none",
        marker="o",
        markersize=4,
        color=COLORS["udp"],
        label=f"datagrams ({result.count - len(result.lost_originals)} arrived)",
        gid="datagrams",
        zorder=3,
    )
    lost = list(result.lost_originals)
    _style.mark_lost_on_top(ax, lost, label=f"first copy lost ({len(lost)}): as a datagram, never")
    ax.axhline(
        result.delay * 1e3,
        color=COLORS["reference"],
        linestyle="--",
        linewidth=1.1,
        label=f"one-way delay of the link ({result.delay * 1e3:g} ms)",
        gid="delay",
    )
    top = np.nanmax(np.concatenate([stream, datagram, [result.delay * 1e3]]))
    ax.set_ylim(0, top * 1.45)  # room for the legend above the highest point
    pad = max(0.5, 0.01 * result.count)
    ax.set_xlim(-pad, result.count - 1 + pad)
    _style.whole_numbers(ax.xaxis)
    _style.finish_axes(
        ax,
        xlabel="message number (the order they were sent)",
        ylabel="first send to hand-over (ms)",
    )
    _style.legend(ax, loc="upper right", ncols=2)
    _style.set_title(
        ax,
        f"Head-of-line blocking: {plural(result.count, 'message')}, "
        f"{len(lost)} first copies lost, {plural(result.retransmissions, 'retransmission')}",
    )
    return fig
