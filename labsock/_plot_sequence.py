"""A trace drawn as a UML sequence diagram: who called what, and what crossed.

Re-exported by :mod:`labsock.plots` as ``plots.sequence``. The reading of the
trace (which calls are messages between sockets, which ``recv`` got which
``send``, where a FIN went) is a pure function, :func:`conversation`, over
the recorded events; drawing only places what it returns.

Each socket owner is a lifeline: ``client``, ``server`` (its listening
socket) and one per accepted connection (``server#1``), created by the
``accept`` that returned it. Untraced peers (an echo server started without
a trace, or a port where nothing listens) get a lifeline of their own.

Example (UDP needs no thread):
    >>> import socket
    >>> from labsock import plots
    >>> from labsock._trace import Trace
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

import re
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle
from matplotlib.text import Text

from labsock import _style
from labsock._errors import UsageError
from labsock._style import COLORS, plural
from labsock._trace import Trace, TraceEvent
from labsock._validate import check_count

__all__ = ["Lane", "Message", "Note", "Story", "conversation", "sequence"]

_SENDING = frozenset({"send", "sendall", "sendto"})
_RECEIVING = frozenset({"recv", "recv_into", "recvfrom", "recvfrom_into"})
_WAITING = _RECEIVING | {"accept"}
#: Rows a successful TCP connect takes: SYN, SYN+ACK and ACK one under another.
_HANDSHAKE_ROWS = 3.0
#: Rows an accept takes: the new lifeline's head box sits in them.
_HEAD_ROWS = 2.4
#: How far down a message with no receiving call in the trace goes, and how
#: far up one received from an untraced socket starts (not crossing each other).
_STUB = 0.35
_LEAD = 0.55

MessageKind = Literal["data", "syn", "syn-ack", "ack", "fin", "refused", "failed", "accept"]


@dataclass(frozen=True)
class Lane:
    """One lifeline: an actor (``client``), a connection (``server#1``) or an untraced peer."""

    key: str
    kind: Literal["actor", "connection", "peer"]
    label: str


@dataclass(frozen=True)
class Message:
    """An arrow from lane ``source`` at row ``y0`` to lane ``target`` at row ``y1``.

    ``received`` is False when the trace shows no call that took it (the
    arrow then stops short, dashed). ``inline`` labels sit on the line, not
    above its start: for arrows that lie close to others (the handshake, a
    reply from an untraced peer).
    """

    kind: MessageKind
    source: str
    target: str
    y0: float
    y1: float
    label: str
    received: bool = True
    inline: bool = False


@dataclass(frozen=True)
class Note:
    """A call drawn on its own lifeline at row ``y``: a box, or a bare label beside it."""

    lane: str
    y: float
    text: str
    error: bool = False
    boxed: bool = True


@dataclass
class Story:
    """Everything :func:`conversation` read from a trace, ready to draw."""

    lanes: list[Lane] = field(default_factory=list)
    rows: list[float] = field(default_factory=list)  # y of each event shown
    events: list[TraceEvent] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    waits: list[tuple[str, float, float]] = field(default_factory=list)  # lane, y from, y to
    starts: dict[str, float] = field(default_factory=dict)  # lanes created mid-way
    ends: dict[str, tuple[float, bool]] = field(default_factory=dict)  # last y, closed?
    hidden: int = 0


def _bytes(n: int) -> str:
    return "1 byte" if n == 1 else f"{n:,} bytes"


def _cut(text: str, width: int = 42) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _error_name(error: str) -> str:
    """``"ConnectionRefusedError: [Errno 111] ..."`` -> ``"ConnectionRefusedError"``."""
    return error.partition(":")[0]


class _Book:
    """Which lane owns a port: resolves the peer of a call to a lifeline."""

    def __init__(self, events: list[TraceEvent]) -> None:
        # (protocol, port) -> [(peer port or None, actor)], in order of appearance.
        self.owners: dict[tuple[str, int], list[tuple[int | None, str]]] = defaultdict(list)
        for e in events:
            if e.local is None or e.local[1] == 0 or not e.protocol:
                continue
            # A recvfrom's peer is who sent that datagram, an accept's is the new
            # connection's: neither is a peer this socket is connected to.
            connected = e.peer is not None and e.call not in ("accept", "recvfrom", "recvfrom_into")
            entry = (e.peer[1] if connected and e.peer else None, e.actor)
            owners = self.owners[(e.protocol, e.local[1])]
            if entry not in owners:
                owners.append(entry)
        self.peers: dict[str, Lane] = {}

    def find(self, protocol: str, address: tuple[str, int] | None, me: int | None) -> str | None:
        """The actor at ``address`` talking to my port ``me``; None if not traced."""
        if address is None:
            return None
        owners = self.owners.get((protocol, address[1]), [])
        for wanted in (me, None):  # the connection to me, else the listening socket
            for peer, actor in owners:
                if peer == wanted:
                    return actor
        return owners[0][1] if owners else None

    def lane(self, protocol: str, address: tuple[str, int] | None, me: int | None) -> str | None:
        """Like :meth:`find`, but an untraced address gets a lane of its own."""
        actor = self.find(protocol, address, me)
        if actor is not None or address is None:
            return actor
        host, port = address
        key = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.peers.setdefault(key, Lane(key, "peer", f"{key}\n(not traced)"))
        return key


def _port(address: tuple[str, int] | None) -> int | None:
    return None if address is None else address[1]


def _lanes(events: list[TraceEvent], book: _Book, created: Iterable[str]) -> list[Lane]:
    """Actors in order (those who connect or send first), each beside its connections.

    ``created``: connections an ``accept`` returned, which may have made no call yet.
    """
    talkers = [e.role for e in events if e.call in _SENDING or e.call.startswith("connect")]
    roles = list(dict.fromkeys([*talkers, *(e.role for e in events)]))
    actors = list(dict.fromkeys([*(e.actor for e in events), *created]))
    listening = {e.actor for e in events if e.call == "listen"}
    lanes: list[Lane] = []
    for index, role in enumerate(roles):
        connections = [
            Lane(a, "connection", f"{a}\n(connection)")
            for a in actors
            if a.partition("#")[0] == role and a != role
        ]
        what = "\n(listening socket)" if role in listening else ""
        own = [Lane(role, "actor", role + what)] if role in actors else []
        # The connections go on the side facing the actors that talk to them.
        lanes.extend([*own, *connections] if index == 0 else [*connections, *own])
    return [*lanes, *book.peers.values()]


def _rows(events: list[TraceEvent]) -> list[float]:
    """The row of each call: one each, more for a handshake and for a new lifeline's head."""
    rows, y = [], 0.0
    for e in events:
        if e.call == "accept" and e.ok:  # room above and below the new head box
            rows.append(y + _HEAD_ROWS / 2 - 0.5)
            y += _HEAD_ROWS
            continue
        rows.append(y)
        handshake = e.call == "connect" and e.protocol == "tcp" and e.ok
        y += _HANDSHAKE_ROWS if handshake else 1.0
    return rows


def _matches(events: list[TraceEvent]) -> tuple[dict[int, int], dict[int, int]]:
    """Which receiving call took each send (by index), and which EOF took each FIN.

    TCP is a byte stream: a send is taken by the ``recv`` that got its last
    byte (one ``recv`` may take several sends). UDP keeps datagrams whole:
    each ``recvfrom`` takes the oldest send of its size still unclaimed on
    that pair of ports (loss would skip some). Channels are keyed by
    protocol and the ports at both ends.
    """
    sends: dict[tuple[str, int, int], deque[tuple[int, int]]] = defaultdict(deque)
    received: dict[tuple[str, int, int], int] = defaultdict(int)
    sent: dict[tuple[str, int, int], int] = defaultdict(int)
    fins: dict[tuple[str, int, int], deque[int]] = defaultdict(deque)
    taken: dict[int, int] = {}
    eof: dict[int, int] = {}
    for i, e in enumerate(events):
        if e.local is None or not e.ok:
            continue
        if e.call in _SENDING and e.nbytes and e.peer is not None:
            key = (e.protocol, e.local[1], e.peer[1])
            sent[key] += e.nbytes
            sends[key].append((i, sent[key] if e.protocol == "tcp" else e.nbytes))
        elif _ends_sending(e) and e.peer is not None:
            fins[(e.protocol, e.local[1], e.peer[1])].append(i)
        elif e.call in _RECEIVING and e.nbytes is not None:
            if e.peer is not None:
                key = (e.protocol, e.peer[1], e.local[1])
            else:
                # The kernel stops naming the peer of a connection shut both ways,
                # which is when the last recv returns b'': any channel to my port.
                pending = [k for k, q in [*sends.items(), *fins.items()] if q]
                mine = [k for k in pending if k[0] == e.protocol and k[2] == e.local[1]]
                if not mine:
                    continue
                key = mine[0]
            queue = sends[key]
            if e.nbytes == 0 and e.protocol == "tcp":
                if fins[key]:
                    eof[fins[key].popleft()] = i
                continue
            if e.protocol == "tcp":
                received[key] += e.nbytes
                while queue and queue[0][1] <= received[key]:
                    taken[queue.popleft()[0]] = i
            else:
                while queue:
                    j, size = queue.popleft()
                    if size == e.nbytes:
                        taken[j] = i
                        break
    return taken, eof


def _ends_sending(e: TraceEvent) -> bool:
    return e.protocol == "tcp" and (
        e.call == "close" or (e.call == "shutdown" and e.args in ("SHUT_WR", "SHUT_RDWR"))
    )


def _note_text(e: TraceEvent) -> str:
    if e.error:
        return _cut(f"{e.call}() failed: {_error_name(e.error)}")
    if e.call == "bind":
        port = e.local[1] if e.local else None
        asked = e.args.rpartition(":")[2]
        return f"bind({e.args})" + (f" → port {port}" if asked == "0" and port else "")
    if e.call == "socket":
        return f"socket({e.args.partition(', ')[2] or e.args})"
    if e.call == "connect" and e.protocol == "udp":
        return _cut(f"connect({e.args}): UDP only notes the peer")
    return _cut(f"{e.call}({e.args})" + (f" → {e.result}" if e.result else ""))


def _fail_kind(e: TraceEvent) -> tuple[MessageKind, str] | None:
    """A failed TCP connect: ``refused`` (the SYN met a RST) or some other failure."""
    failed = e.error
    if e.call == "connect_ex" and e.result not in ("", "0"):
        failed = f"error code {e.result}"
    if failed is None:
        return None
    if "ConnectionRefused" in failed or e.result == "111":
        return "refused", f"{e.call}() refused: SYN answered by RST (nothing listens)"
    return "failed", _cut(f"{e.call}() failed: {_error_name(failed)}", 48)


def conversation(events: Iterable[TraceEvent], max_events: int = 40) -> Story:
    """Read the first ``max_events`` events of a trace as lanes, messages and notes.

    Pure: no matplotlib, no sockets. Rows count down from 0 in call order.
    """
    ordered = sorted(events, key=lambda e: (e.time, e.seq))
    shown = ordered[:max_events]
    story = Story(events=shown, rows=_rows(shown), hidden=len(ordered) - len(shown))
    book = _Book(shown)
    taken, eof = _matches(shown)
    took = {i: j for j, i in taken.items()}  # a receiving call -> one send it took
    fin_sent: set[str] = set()
    ys = story.rows
    for i, e in enumerate(shown):
        y, me = ys[i], e.actor
        mine = _port(e.local)
        if e.call in _SENDING and e.ok and e.nbytes:
            j = taken.get(i)
            target = shown[j].actor if j is not None else book.lane(e.protocol, e.peer, mine)
            if target is None:
                story.notes.append(Note(me, y, _note_text(e)))
                continue
            story.messages.append(
                Message(
                    "data",
                    me,
                    target,
                    y,
                    ys[j] if j is not None else y + _STUB,
                    _cut(f"{e.call} {e.args}", 46),
                    received=j is not None or target in book.peers,
                )
            )
        elif e.call in _RECEIVING and e.ok:
            n = e.nbytes or 0
            if i in eof.values():
                text = f"{e.call} → b'' (end of stream)"
            elif i in took or n == 0:
                text = f"{e.call} → {_bytes(n)}" if n else f"{e.call} → {e.result}"
            else:
                # From a traced peer, part of a send whose last byte came later;
                # from an untraced one, data we never saw sent: an arrow of its own.
                source = book.lane(e.protocol, e.peer, mine)
                if source in book.peers:
                    story.messages.append(
                        Message(
                            "data",
                            source,
                            me,
                            y - _LEAD,
                            y,
                            f"{_bytes(n)} (untraced send)",
                            inline=True,
                        )
                    )
                text = f"{e.call} → {_bytes(n)}"
            story.notes.append(Note(me, y, text, boxed=False))
        elif e.call in ("connect", "connect_ex") and e.protocol == "tcp":
            target = book.lane("tcp", e.peer, None)
            failure = _fail_kind(e)
            if target is None:
                story.notes.append(Note(me, y, _note_text(e), error=failure is not None))
            elif failure is not None:
                story.messages.append(Message(failure[0], me, target, y, y + 0.5, failure[1]))
            else:
                step = (_HANDSHAKE_ROWS - 0.6) / 3
                story.messages += [
                    Message("syn", me, target, y, y + step, f"{e.call}(): SYN", inline=True),
                    Message(
                        "syn-ack",
                        target,
                        me,
                        y + step,
                        y + 2 * step,
                        "SYN+ACK (sent by the kernel)",
                        inline=True,
                    ),
                    Message(
                        "ack", me, target, y + 2 * step, y + 3 * step, "ACK: connected", inline=True
                    ),
                ]
        elif e.call == "accept" and e.ok:
            found = re.search(r"new socket (\S+)", e.result)
            if found:
                story.starts[found.group(1)] = y
                story.messages.append(Message("accept", me, found.group(1), y, y, "accept()"))
            else:
                story.notes.append(Note(me, y, _note_text(e)))
        elif _ends_sending(e) and e.ok and e.peer is not None and me not in fin_sent:
            fin_sent.add(me)
            j = eof.get(i)
            target = shown[j].actor if j is not None else book.lane("tcp", e.peer, mine)
            assert target is not None
            story.messages.append(
                Message(
                    "fin",
                    me,
                    target,
                    y,
                    ys[j] if j is not None else y + _STUB,
                    f"{e.call}({e.args}): FIN",
                    received=j is not None or target in book.peers,
                )
            )
        else:
            story.notes.append(Note(me, y, _note_text(e), error=not e.ok))
        if e.call in _WAITING and len(shown) > 1:
            story.waits.append((me, _row_at(shown, ys, e.time - e.duration), y))
        story.ends[me] = (max(y, story.ends.get(me, (y, False))[0]), e.call == "close" and e.ok)
    story.lanes = _lanes(shown, book, story.starts)
    return story


def _row_at(events: list[TraceEvent], ys: list[float], when: float) -> float:
    """The row at which time ``when`` falls, between the rows of the calls around it."""
    for k in range(1, len(events)):
        if events[k].time >= when:
            t0, t1 = events[k - 1].time, events[k].time
            share = 0.0 if t1 <= t0 else max(0.0, (when - t0) / (t1 - t0))
            return ys[k - 1] + share * (ys[k] - ys[k - 1])
    return ys[-1]


def _events(trace: object) -> list[TraceEvent]:
    if isinstance(trace, Trace):
        return list(trace.events)
    if isinstance(trace, (list, tuple)) and all(isinstance(e, TraceEvent) for e in trace):
        return list(trace)
    raise UsageError(
        f"trace must be a labsock Trace (or a list of its events), not {type(trace).__name__}"
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
    label = m.label if m.received else f"{m.label} (no recv took it)"
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
        f"time\n({unit})",
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
                label="data: a send, to the recv that took it",
            )
        )
    if kinds & {"syn", "ack", "fin"}:
        handles.append(
            Line2D(
                [], [], color=COLORS["text"], lw=1.1, marker=">", label="TCP control: SYN, ACK, FIN"
            )
        )
    if any(n.error for n in story.notes) or kinds & {"refused", "failed"}:
        handles.append(Line2D([], [], color=COLORS["lost"], lw=1.6, marker="x", label="error"))
    if any(y_to - y_from >= 0.5 for _, y_from, y_to in story.waits):
        handles.append(
            Patch(
                facecolor=_WAIT_FACE,
                edgecolor=COLORS["reference"],
                label="blocked in accept / recv",
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
        _style.no_data(ax, "no socket calls recorded yet:\nmake some with trace.socket(...)")
        ax.set_axis_off()
        _style.set_title(ax, "What really happened: no socket calls yet")
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
            f"… {plural(story.hidden, 'more call')} not shown "
            f"(plots.sequence(trace, max_events=...) draws more)",
            ha="center",
            va="center",
            fontsize=_TEXT_SIZE,
            color=COLORS["text"],
            gid="hidden",
        )
    _legend(ax, story)
    total = len(story.events) + story.hidden
    *others, last = [lane.key for lane in story.lanes if lane.kind == "actor"] or ["nobody"]
    roles = f"{', '.join(others)} and {last}" if others else last
    title = f"What really happened: {plural(total, 'socket call')} by {roles}"
    if story.hidden:
        title += f" (the first {len(story.events)} drawn)"
    ax.set_title(title, fontsize=_style.TITLE_SIZE, loc="left", color="black", pad=10)
    return fig
