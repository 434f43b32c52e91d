"""A trace drawn as a UML sequence diagram: who called what, and what crossed.

Re-exported by :mod:`labsock.plots` as ``plots.sequence``. Reading the trace
(which calls are messages between sockets, which ``recv`` got which ``send``,
where a FIN went) is the pure function
:func:`labsock._core.conversation.conversation`; this module lays out and draws
the :class:`~labsock._core.conversation.Story` it returns: lifelines, arrows,
notes, the time column and the legend.

Example (UDP needs no thread):
    >>> import socket
    >>> from labsock import plots
    >>> from labsock._endpoints.trace import Trace
    >>> trace = Trace()
    >>> with trace.socket(type=socket.SOCK_DGRAM, actor="server") as server, \\
    ...      trace.socket(type=socket.SOCK_DGRAM, actor="client") as client:
    ...     server.bind(("127.0.0.1", 0))
    ...     client.sendto(b"ping", server.getsockname())
    ...     server.settimeout(2)
    ...     _ = server.recvfrom(100)
    4
    >>> fig = plots.sequence(trace)
    >>> [a.get_gid() for a in fig.axes[0].patches if a.get_gid() == "data"]
    ['data']
"""

from __future__ import annotations

from collections.abc import Iterable

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
from matplotlib.text import Text

from labsock._core.conversation import Message, Note, Story, conversation
from labsock._core.errors import UsageError
from labsock._core.i18n import gettext as _
from labsock._core.i18n import ngettext
from labsock._core.validate import check_count
from labsock._endpoints.trace import Trace, TraceEvent
from labsock._viz import style as _style
from labsock._viz.style import COLORS

__all__ = ["sequence"]


def _events(trace: object) -> list[TraceEvent]:
    if isinstance(trace, Trace):
        return list(trace.events)
    if isinstance(trace, (list, tuple)) and all(isinstance(e, TraceEvent) for e in trace):
        return list(trace)
    raise UsageError(
        _("trace must be a labsock Trace (or a list of its events), not {kind}").format(
            kind=type(trace).__name__
        )
    )


def _check_max(max_events: object) -> int:
    return check_count(max_events, name="max_events", minimum=1, maximum=1000)


# -- drawing -------------------------------------------------------------------
# x is in points from the left edge of the axes, so offsets and text widths
# add up; y is in rows, growing downwards.
_TEXT_SIZE = 7.5
_HEAD_SIZE = _style.LABEL_SIZE - 0.5
_ROW_INCHES = 0.22
_TIMES = 44.0  # points of the time column
_MAX_STEP = 330.0  # points between two lifelines, at most
_WAIT_FACE = "#D6E6F2"
_STYLE: dict[str, tuple[str, float, str]] = {  # kind: colour, width, line style
    "data": (COLORS["reply"], 1.6, "-"),
    "syn": (COLORS["text"], 1.1, "-"),
    "syn-ack": (COLORS["text"], 1.1, "--"),
    "ack": (COLORS["text"], 1.1, "-"),
    "fin": (COLORS["text"], 1.1, "-"),
    "refused": (COLORS["lost"], 1.6, "-"),
    "failed": (COLORS["lost"], 1.6, "-"),
}


def _returned_left(story: Story) -> dict[tuple[str, float], bool]:
    """For each message's end: True when its arrow comes from the right.

    What the receiving call returned is written on the far side of the
    arrow head, where the arrow is not.
    """
    order = {lane.key: i for i, lane in enumerate(story.lanes)}
    return {(m.target, m.y1): order[m.source] > order[m.target] for m in story.messages}


def _layout(story: Story, width: float) -> dict[str, float]:
    """x of each lifeline: the first and last far enough in for their labels."""
    left_of = _returned_left(story)
    need: dict[str, list[float]] = {lane.key: [0.0, 0.0] for lane in story.lanes}
    for lane in story.lanes:
        half = _style.text_width(lane.label, _HEAD_SIZE) / 2 + 8
        need[lane.key] = [half, half]
    for note in story.notes:
        wide = _style.text_width(note.text, _TEXT_SIZE)
        sides = need[note.lane]
        if note.boxed:
            sides[0] = max(sides[0], wide / 2 + 6)
            sides[1] = max(sides[1], wide / 2 + 6)
        else:
            side = 0 if left_of.get((note.lane, note.y), False) else 1
            sides[side] = max(sides[side], wide + 10)
    keys = [lane.key for lane in story.lanes]
    start = _TIMES + need[keys[0]][0]
    stop = width - need[keys[-1]][1]
    # Two lifelines across the whole width make every arrow flat: no wider than this.
    step = min((stop - start) / max(len(keys) - 1, 1), _MAX_STEP)
    start += (stop - start - step * (len(keys) - 1)) / 2
    return {key: start + i * step for i, key in enumerate(keys)}


def _draw_message(ax: Axes, m: Message, x: dict[str, float], heads: dict[str, Text]) -> None:
    x0, x1 = x[m.source], x[m.target]
    rightward = x1 >= x0
    if m.kind == "accept":
        # UML's "create": the accepted connection's lifeline starts at its head box.
        ax.annotate(
            "",
            xy=(0.0 if rightward else 1.0, 0.5),
            xycoords=heads[m.target],
            xytext=(x0, m.y0),
            textcoords="data",
            arrowprops={
                "arrowstyle": "-|>",
                "color": COLORS["reference"],
                "linestyle": "--",
                "shrinkA": 0,
                "shrinkB": 0,
                "linewidth": 1.1,
            },
            gid="accept",
        )
        ax.text(
            x0 + (6 if rightward else -6),
            m.y0 - 0.12,
            "accept()",
            ha="left" if rightward else "right",
            va="bottom",
            fontsize=_TEXT_SIZE,
            color=COLORS["text"],
            gid="accept-label",
        )
        return
    colour, width, style = _STYLE[m.kind]
    ax.add_patch(
        FancyArrowPatch(
            (x0, m.y0),
            (x1, m.y1),
            arrowstyle="-|>",
            mutation_scale=11,
            color=colour,
            linewidth=width,
            linestyle=style if m.received else ":",
            connectionstyle="arc3,rad=-0.5" if x0 == x1 else "arc3",  # to itself: a loop
            shrinkA=0,
            shrinkB=1,
            gid=m.kind,
            zorder=3,
        )
    )
    if m.kind in ("refused", "failed"):
        ax.plot(
            [x1],
            [m.y1],
            marker="x",
            markersize=9,
            markeredgewidth=2.2,
            color=colour,
            linestyle="none",
            zorder=4,
            gid=f"{m.kind}-end",
        )
    label = m.label if m.received else _("{label} (no recv took it)").format(label=m.label)
    if m.inline:
        ax.text(
            (x0 + x1) / 2,
            (m.y0 + m.y1) / 2,
            label,
            ha="center",
            va="center",
            fontsize=_TEXT_SIZE,
            color=colour,
            zorder=5,
            gid=f"{m.kind}-label",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "lw": 0},
        )
        return
    # Above the start of the arrow, where the sender's row leaves room: a
    # label in the middle of a long slanted arrow lands on other calls.
    ax.text(
        x0 + (7 if rightward else -7),
        m.y0 - 0.1,
        label,
        ha="left" if rightward else "right",
        va="bottom",
        fontsize=_TEXT_SIZE,
        color=colour if m.kind != "data" else "#004C7A",
        bbox={"boxstyle": "round,pad=0.12", "facecolor": "white", "alpha": 0.85, "lw": 0},
        zorder=5,
        gid=f"{m.kind}-label",
    )


def _draw_note(ax: Axes, note: Note, x: float, from_right: bool) -> None:
    if not note.boxed:  # what a receiving call returned, beside the arrow head
        ax.text(
            x + (-6 if from_right else 6),
            note.y,
            note.text,
            ha="right" if from_right else "left",
            va="center",
            fontsize=_TEXT_SIZE - 0.5,
            color=COLORS["text"],
            style="italic",
            zorder=5,
            bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "alpha": 0.8, "lw": 0},
            gid="returned",
        )
        return
    colour = COLORS["lost"] if note.error else COLORS["text"]
    ax.text(
        x,
        note.y,
        note.text,
        ha="center",
        va="center",
        fontsize=_TEXT_SIZE,
        color=colour,
        bbox={
            "boxstyle": "round,pad=0.25",
            "facecolor": "#FBE3D6" if note.error else "#F4F4F4",
            "edgecolor": colour if note.error else "#BBBBBB",
            "linewidth": 0.8,
        },
        zorder=4,
        gid="error" if note.error else "call",
    )


def _draw_lanes(
    ax: Axes, story: Story, x: dict[str, float], top: float, bottom: float
) -> dict[str, Text]:
    """Head boxes, dashed lifelines, an x where a lifeline's socket closed; the heads."""
    heads: dict[str, Text] = {}
    for lane in story.lanes:
        y_head = story.starts.get(lane.key, top)
        heads[lane.key] = ax.text(
            x[lane.key],
            y_head,
            lane.label,
            ha="center",
            va="center",
            fontsize=_HEAD_SIZE,
            color="black",
            linespacing=1.1,
            zorder=6,
            gid="head",
            bbox={
                "boxstyle": "round,pad=0.35",
                "facecolor": "white",
                "edgecolor": COLORS["text"],
                "linewidth": 1.0,
                "linestyle": "--" if lane.kind == "peer" else "-",
            },
        )
        end, closed = story.ends.get(lane.key, (bottom - 1.0, False))
        ax.plot(
            [x[lane.key]] * 2,
            [y_head + 0.6, end + 0.8],
            color=COLORS["reference"],
            linewidth=1.0,
            linestyle=(0, (4, 3)),
            zorder=1,
            gid="lifeline",
        )
        if closed:
            ax.plot(
                [x[lane.key]],
                [end + 0.8],
                marker="x",
                markersize=8,
                markeredgewidth=1.8,
                color="black",
                linestyle="none",
                zorder=4,
                gid="closed",
            )
    for key, y_from, y_to in story.waits:
        if y_to - y_from >= 0.5:
            ax.add_patch(
                Rectangle(
                    (x[key] - 4, y_from),
                    8,
                    y_to - y_from,
                    facecolor=_WAIT_FACE,
                    edgecolor=COLORS["reference"],
                    linewidth=0.6,
                    zorder=2,
                    gid="waiting",
                )
            )
    return heads


def _draw_times(ax: Axes, story: Story, top: float, width: float) -> None:
    """The real time of each call, since the first one, in the left margin."""
    times = [e.time - story.events[0].time for e in story.events]
    scale, unit = _style.time_unit(max(times[-1], 1e-9))
    ax.text(
        2,
        top,
        _("time\n({unit})").format(unit=unit),
        ha="left",
        va="center",
        fontsize=_TEXT_SIZE,
        color=COLORS["text"],
        fontweight="bold",
    )
    for y, t in zip(story.rows, times, strict=True):
        ax.text(
            2,
            y,
            _style.three_figures(t * scale),
            ha="left",
            va="center",
            fontsize=_TEXT_SIZE,
            color=COLORS["reference"],
            gid="time",
        )
        ax.plot([_TIMES - 8, width], [y, y], color=COLORS["grid"], linewidth=0.6, zorder=0)


def _legend(ax: Axes, story: Story) -> None:
    kinds = {m.kind for m in story.messages}
    handles: list[Artist] = []
    if "data" in kinds:
        handles.append(
            Line2D(
                [],
                [],
                color=COLORS["reply"],
                lw=1.6,
                marker=">",
                label=_("data: a send, to the recv that took it"),
            )
        )
    if kinds & {"syn", "ack", "fin"}:
        handles.append(
            Line2D(
                [],
                [],
                color=COLORS["text"],
                lw=1.1,
                marker=">",
                label=_("TCP control: SYN, ACK, FIN"),
            )
        )
    if any(n.error for n in story.notes) or kinds & {"refused", "failed"}:
        handles.append(Line2D([], [], color=COLORS["lost"], lw=1.6, marker="x", label=_("error")))
    if any(y_to - y_from >= 0.5 for _, y_from, y_to in story.waits):
        handles.append(
            Patch(
                facecolor=_WAIT_FACE,
                edgecolor=COLORS["reference"],
                label=_("blocked in accept / recv"),
            )
        )
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.0, 0.0),
            ncols=len(handles),
            fontsize=_style.LEGEND_SIZE,
            frameon=False,
            handlelength=1.8,
            borderaxespad=0.2,
        )


def sequence(trace: Trace | Iterable[TraceEvent], *, max_events: int = 40) -> Figure:
    """The trace as a UML sequence diagram: lifelines, the calls, and what crossed between them.

    Time flows down, one row per call in the order they happened (not to
    scale); the real time since the first call is written in the left
    margin. Each ``send`` is a blue arrow to the ``recv`` that took its
    last byte (TCP may merge or split sends: the arrows show it). A TCP
    ``connect`` is the three-way handshake into the listening socket; the
    ``accept`` that follows creates a new lifeline for the connection
    (``server#1``); ``close`` or ``shutdown(SHUT_WR)`` sends a FIN, taken by
    the peer's ``recv`` returning ``b''``. Local calls (``socket``,
    ``bind``, ``listen``) are boxes on their lifeline; failed calls are
    vermillion (a refused ``connect`` is an arrow ending in ``x``). A pale
    bar on a lifeline is time spent blocked in ``accept`` or ``recv``.

    Only the first ``max_events`` calls are drawn (1 to 1000); the figure
    grows with them, up to 13 inches tall. Returns the figure. Raises
    :class:`UsageError` for anything but a :class:`Trace` or a list of
    its events.

    Example:
        >>> fig = plots.sequence(trace)  # doctest: +SKIP
    """
    events = _events(trace)
    limit = _check_max(max_events)
    if not events:
        fig = _style.new_figure((_style.FIGSIZE[0], 2.2))
        ax = fig.subplots()
        _style.no_data(ax, _("no socket calls recorded yet:\nmake some with trace.socket(...)"))
        ax.set_axis_off()
        _style.set_title(ax, _("What really happened: no socket calls yet"))
        return fig
    story = conversation(events, limit)
    top = -1.6
    bottom = max([*story.rows, *(max(m.y0, m.y1) for m in story.messages)]) + 1.6
    height = min(max(1.2 + _ROW_INCHES * (bottom - top), 3.0), 13.0)
    fig = _style.new_figure((_style.FIGSIZE[0], height))
    ax = fig.subplots()
    width = _style.FIGSIZE[0] * 72 - 10  # the axes, once constrained layout has run
    ax.set_xlim(0, width)
    ax.set_ylim(bottom, top - 0.6)
    ax.set_axis_off()
    x = _layout(story, width)
    heads = _draw_lanes(ax, story, x, top, bottom)
    for m in story.messages:
        _draw_message(ax, m, x, heads)
    from_right = _returned_left(story)
    for note in story.notes:
        _draw_note(ax, note, x[note.lane], from_right.get((note.lane, note.y), False))
    _draw_times(ax, story, top, width)
    if story.hidden:
        ax.text(
            width / 2,
            bottom - 0.8,
            ngettext(
                "… {n:,} more call not shown (plots.sequence(trace, max_events=...) draws more)",
                "… {n:,} more calls not shown (plots.sequence(trace, max_events=...) draws more)",
                story.hidden,
            ).format(n=story.hidden),
            ha="center",
            va="center",
            fontsize=_TEXT_SIZE,
            color=COLORS["text"],
            gid="hidden",
        )
    _legend(ax, story)
    total = len(story.events) + story.hidden
    *others, last = [lane.key for lane in story.lanes if lane.kind == "actor"] or [_("nobody")]
    roles = _("{some} and {last}").format(some=", ".join(others), last=last) if others else last
    title = ngettext(
        "What really happened: {n:,} socket call by {roles}",
        "What really happened: {n:,} socket calls by {roles}",
        total,
    ).format(n=total, roles=roles)
    if story.hidden:
        title += _(" (the first {n} drawn)").format(n=len(story.events))
    ax.set_title(title, fontsize=_style.TITLE_SIZE, loc="left", color="black", pad=10)
    return fig
