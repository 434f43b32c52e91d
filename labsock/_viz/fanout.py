"""Multicast fan-out as a matrix: which receiver got which datagram.

Re-exported by :mod:`labsock.plots` as ``plots.fan_out``. One row per
receiver, one column per datagram, in the order they were sent. A cell says
what happened to that copy: received, lost while the receiver was a member,
or never meant for it because the receiver had left the group. Leaves and
joins are vertical marks on the receiver's row, at the datagram they came
just before.

Example:
    >>> import labsock
    >>> from labsock import plots
    >>> result = labsock.fan_out(receivers=3, count=40, leave={"r2": 10}, rejoin={"r2": 25})
    >>> fig = plots.fan_out(result)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['r1: 40/40', 'r2: 25/40', 'r3: 40/40']
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, StrMethodFormatter

from labsock._core.errors import UsageError
from labsock._core.i18n import N_, ngettext
from labsock._core.i18n import gettext as _
from labsock._results.fanout import (
    FanOutResult,
    MembershipEvent,
    joined_late,
    move_kinds,
    move_words,
)
from labsock._viz import style as _style
from labsock._viz.style import COLORS

__all__ = ["cell_codes", "fan_out"]

#: What each cell code means (English, translated where drawn), and how it
#: is drawn. The order is the code.
_KINDS = (
    (N_("received"), COLORS["reply"]),
    (N_("lost while a member"), COLORS["lost"]),
    (N_("not a member (had left the group)"), COLORS["absent"]),
    (N_("heard while not a member"), COLORS["reordered"]),
)
RECEIVED, LOST, OUT, UNEXPECTED = range(4)
_LABEL_SIZE = 7.5


def cell_codes(result: FanOutResult) -> np.ndarray:
    """``codes[r, seq]``: 0 received, 1 lost while a member, 2 not a member, 3 heard anyway.

    A pure function of ``result.matrix`` (what arrived) and
    ``result.expected`` (who was a member when each datagram was sent).
    """
    got = np.asarray(result.matrix, dtype=bool).reshape(len(result.names), result.count)
    member = np.asarray(result.expected, dtype=bool).reshape(got.shape)
    codes = np.full(got.shape, OUT, dtype=int)
    codes[member & got] = RECEIVED
    codes[member & ~got] = LOST
    codes[~member & got] = UNEXPECTED
    return codes


def _row_note(result: FanOutResult, row: int) -> tuple[str, str]:
    """What to write right of a row, and its colour: the misses explained."""
    # Datagrams sent before a receiver first joined were never missed: it
    # was not there yet. Only the ones sent after a leave were "while out".
    before = joined_late(result.expected[row])
    out = result.count - sum(result.expected[row]) - before
    parts = []
    if before == result.count:
        parts.append(_("never a member"))
    elif before:
        parts.append(_("{n:,} sent before it joined").format(n=before))
    if out:
        parts.append(_("{n:,} sent while it was out").format(n=out))
    lost = result.lost[row]
    if lost:
        parts.append(_("{n:,} lost ({rate:.1%})").format(n=lost, rate=result.loss_rate[row]))
    if result.unexpected[row]:
        parts.append(_("{n:,} heard while out").format(n=result.unexpected[row]))
    if result.duplicates[row]:
        parts.append(_style.duplicates(result.duplicates[row]))
    if not parts:
        return _("got every one"), COLORS["text"]
    return ", ".join(parts), COLORS["lost"] if lost else COLORS["text"]


def _out_label(result: FanOutResult) -> str:
    """The legend's words for grey cells: not joined yet, had left, or both."""
    late = any(joined_late(row) for row in result.expected)
    left = any(e.action == "leave" for e in result.events)
    if late and left:
        return _("not a member (not joined yet, or had left)")
    if late:
        return _("not a member (not joined yet)")
    return _(_KINDS[OUT][0])


def _points_per_unit(ax: Axes) -> float:
    """Roughly how many points one unit of the x axis (one datagram) spans."""
    fig = _style.root(ax)
    axes_points = max(ax.get_position().width * fig.get_figwidth() * 72, 1.0)
    low, high = ax.get_xlim()
    return axes_points / (high - low)


def _text_width(text: str, ax: Axes) -> float:
    """Width of ``text`` at the label size, box padding included, in datagrams (x units)."""
    return (_style.text_width(text, _LABEL_SIZE) + 0.6 * _LABEL_SIZE) / _points_per_unit(ax)


def _moves(result: FanOutResult) -> list[tuple[MembershipEvent | None, MembershipEvent | None]]:
    """Each receiver's leaves paired with the join that ended them (either may be None)."""
    pairs: list[tuple[MembershipEvent | None, MembershipEvent | None]] = []
    open_leave: dict[str, int] = {}
    for event in result.events:
        if event.action == "leave":
            open_leave[event.receiver] = len(pairs)
            pairs.append((event, None))
        elif event.receiver in open_leave:
            index = open_leave.pop(event.receiver)
            pairs[index] = (pairs[index][0], event)
        else:
            pairs.append((None, event))
    return pairs


def _mark_moves(ax: Axes, result: FanOutResult) -> None:
    """A black bar on the row where a receiver left or rejoined, labelled.

    The two labels of a leave and its rejoin go inside the grey span when
    both fit; otherwise one combined label goes beside the span, where
    there is room. Needs the axes' final size (lay the figure out first).
    """
    last = result.count - 0.5
    # "joined" for a receiver's first join, "rejoined" only after a leave.
    words = dict(zip(result.events, move_words(result.events), strict=True))
    for leave, join in _moves(result):
        for event in (leave, join):
            if event is None:
                continue
            row = result.names.index(event.receiver)
            x = event.seq - 0.5
            ax.plot(
                [x, x],
                [row - 0.46, row + 0.46],
                color="black",
                linewidth=2.2,
                solid_capstyle="butt",
                gid=event.action,
                zorder=4,
            )
        start = -0.5 if leave is None else leave.seq - 0.5
        stop = last if join is None else join.seq - 0.5
        row = result.names.index((leave or join).receiver)  # type: ignore[union-attr]
        said = [words[e] for e in (leave, join) if e is not None]
        widths = [_text_width(text, ax) for text in said]
        if stop - start >= sum(widths) + 1:  # inside the grey span
            if leave is not None:
                _label(ax, start, row, said[0], right=True)
            if join is not None:
                _label(ax, stop, row, said[-1], right=False)
            continue
        text = ", ".join(said)
        width = _text_width(text, ax)
        if join is not None and stop + width < last:
            _label(ax, stop, row, text, right=True)
        elif leave is not None and start - width > -0.5:
            _label(ax, start, row, text, right=False)
        else:  # no room outside: inside the span, from whichever end has the bar
            _label(ax, start if leave is not None else stop, row, text, right=leave is not None)


def _label(ax: Axes, x: float, row: int, text: str, *, right: bool) -> None:
    """``text`` at the top of ``row``, just right (or left) of the bar at ``x``."""
    pad = 3 / _points_per_unit(ax)
    ax.text(
        x + (pad if right else -pad),
        row - 0.3,
        text,
        ha="left" if right else "right",
        va="top",
        fontsize=_LABEL_SIZE,
        color="black",
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.85, "lw": 0},
        gid="move-label",
        zorder=5,
        clip_on=True,
    )


def _mark_misses(ax: Axes, codes: np.ndarray) -> None:
    """Lost (and unexpected) cells again as lines at least 2 points wide.

    At 500 datagrams a cell is 1.4 points wide: one lost datagram would be a
    hairline nobody sees, and a single loss is exactly what to see.
    """
    width = _points_per_unit(ax)
    if width >= 2.5:
        return
    for code, name in ((LOST, "lost"), (UNEXPECTED, "unexpected")):
        rows, seqs = np.nonzero(codes == code)
        if len(seqs):
            ax.vlines(
                seqs,
                rows - 0.46,
                rows + 0.46,
                color=_KINDS[code][1],
                linewidth=2.0,
                gid=f"{name}-marks",
                zorder=3,
            )


def _check(result: object) -> FanOutResult:
    if not isinstance(result, FanOutResult):
        raise UsageError(
            _("result must be a FanOutResult (what labsock.fan_out returns), not {kind}").format(
                kind=type(result).__name__
            )
        )
    return result


def fan_out(result: FanOutResult, *, ax: Axes | None = None) -> Figure:
    """Who received which multicast datagram: receivers (rows) by sequence number (columns).

    Blue cells arrived; vermillion cells were sent while the receiver was a
    member and never arrived (real loss); grey cells were sent while the
    receiver was not a member (it had not joined yet, or had left the
    group), so it was never meant to get them; orange (rare) arrived
    although it was not a member. A black bar marks each join, leave and
    rejoin on its row, labelled with the datagram it came just before (a
    receiver's first join is "joined", a join after a leave "rejoined").
    Each row is labelled ``r1: 97/100`` (received of sent), and the
    text at the right of a row explains its misses. Reads well from 1 to 32
    receivers and from 1 to a few thousand datagrams.

    Returns the figure (``ax``'s if given). Raises :class:`UsageError` for
    anything but a :class:`~labsock.FanOutResult`.

    Example:
        >>> fig = plots.fan_out(labsock.fan_out(receivers=3, count=50))  # doctest: +SKIP
    """
    result = _check(result)
    rows = len(result.names)
    fig, ax = _style.target(ax, (_style.FIGSIZE[0], min(1.8 + 0.42 * max(rows, 2), 12.0)))
    host, port = result.group
    title = ngettext(
        "Multicast fan-out to {host}:{port}: which of the {n:,} datagram "
        "each of {rows} receivers got",
        "Multicast fan-out to {host}:{port}: which of the {n:,} datagrams "
        "each of {rows} receivers got",
        result.count,
    ).format(host=host, port=port, n=result.count, rows=rows)
    if result.count == 0 or rows == 0:
        _style.no_data(ax, _("no datagrams were sent"))
        ax.set_xticks([])
        ax.set_yticks([])
        _style.set_title(ax, title)
        return fig
    codes = cell_codes(result)
    ax.imshow(
        codes,
        cmap=ListedColormap([colour for _name, colour in _KINDS]),
        vmin=-0.5,
        vmax=len(_KINDS) - 0.5,
        aspect="auto",
        interpolation="nearest",
        extent=(-0.5, result.count - 0.5, rows - 0.5, -0.5),
        gid="matrix",
    )
    # White gaps between rows, and between cells while cells are wide enough to see.
    ax.hlines(np.arange(rows - 1) + 0.5, -0.5, result.count - 0.5, color="white", linewidth=3)
    if result.count <= 80:
        ax.vlines(np.arange(result.count - 1) + 0.5, -0.5, rows - 0.5, color="white", lw=0.6)
    ax.set_xlim(-0.5, result.count - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    _mark_misses(ax, codes)
    ax.set_yticks(
        range(rows),
        [
            f"{name}: {got:,}/{result.count:,}"
            for name, got in zip(result.names, result.received, strict=True)
        ],
    )
    for row in range(rows):
        note, colour = _row_note(result, row)
        ax.text(
            1.01,
            row,
            note,
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=_LABEL_SIZE,
            color=colour,
            gid="row-note",
        )
    # Columns are counted in tens and fives: no ticks at 15, 30, 45.
    ax.xaxis.set_major_locator(MaxNLocator("auto", integer=True, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    _style.finish_axes(ax, xlabel=_("sequence number (the order the sender sent them)"), ylabel="")
    ax.grid(False)
    ax.tick_params(axis="y", length=0, labelsize=_style.LABEL_SIZE)
    for spine in ax.spines.values():
        spine.set_visible(False)
    present = set(np.unique(codes).tolist())
    handles = [
        Patch(facecolor=colour, label=_out_label(result) if code == OUT else _(label))
        for code, (label, colour) in enumerate(_KINDS)
        if code in present or code in (RECEIVED, LOST)
    ]
    if result.events:
        said = set(move_kinds(result.events))
        moves = " / ".join(_(w) for w in (N_("joined"), N_("left"), N_("rejoined")) if w in said)
        handles.append(Patch(facecolor="black", label=_("{moves} the group").format(moves=moves)))
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncols=len(handles),
        fontsize=_style.LEGEND_SIZE,
        frameon=False,
        handlelength=1.2,
        borderaxespad=0.2,
        columnspacing=1.2,
    )
    ax.set_title(title, fontsize=_style.TITLE_SIZE, loc="left", color="black", pad=22)
    # Where a label fits depends on the axes' final width: lay the figure out first.
    fig.draw_without_rendering()
    _mark_moves(ax, result)
    return fig
