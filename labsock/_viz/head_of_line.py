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
from labsock._core.i18n import gettext as _
from labsock._core.i18n import ngettext
from labsock._results.head_of_line import HeadOfLineResult
from labsock._viz import style as _style
from labsock._viz.style import COLORS

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
            _(
                "result must be a HeadOfLineResult (what labsock.head_of_line returns), not {kind}"
            ).format(kind=type(result).__name__)
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
        label=_("stream, in order ({n} held back behind a loss)").format(n=len(result.held_back)),
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
        label=_("datagrams ({n} arrived)").format(n=result.count - len(result.lost_originals)),
        gid="datagrams",
        zorder=3,
    )
    lost = list(result.lost_originals)
    _style.mark_lost_on_top(
        ax, lost, label=_("first copy lost ({n}): as a datagram, never").format(n=len(lost))
    )
    ax.axhline(
        result.delay * 1e3,
        color=COLORS["reference"],
        linestyle="--",
        linewidth=1.1,
        label=_("one-way delay of the link ({ms:g} ms)").format(ms=result.delay * 1e3),
        gid="delay",
    )
    top = np.nanmax(np.concatenate([stream, datagram, [result.delay * 1e3]]))
    ax.set_ylim(0, top * 1.45)  # room for the legend above the highest point
    pad = max(0.5, 0.01 * result.count)
    ax.set_xlim(-pad, result.count - 1 + pad)
    _style.whole_numbers(ax.xaxis)
    _style.finish_axes(
        ax,
        xlabel=_("message number (the order they were sent)"),
        ylabel=_("first send to hand-over (ms)"),
    )
    _style.legend(ax, loc="upper right", ncols=2)
    _style.set_title(
        ax,
        _("Head-of-line blocking: {messages}, {lost} first copies lost, {retransmissions}").format(
            messages=ngettext("{n:,} message", "{n:,} messages", result.count).format(
                n=result.count
            ),
            lost=len(lost),
            retransmissions=ngettext(
                "{n:,} retransmission", "{n:,} retransmissions", result.retransmissions
            ).format(n=result.retransmissions),
        ),
    )
    return fig
