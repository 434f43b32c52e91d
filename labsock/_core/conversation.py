"""A trace read as the story of a sequence diagram: lifelines, messages, notes.

The pure half of ``plots.sequence``: :func:`conversation` reads the recorded
:class:`~labsock._endpoints.trace.TraceEvent` objects and returns a :class:`Story` (which
calls are messages between sockets, which ``recv`` got which ``send``, where a
FIN went, the row of each call). No matplotlib, no sockets: the drawing, in
:mod:`labsock._viz.sequence`, only places what it returns.

Each socket owner is a lifeline: ``client``, ``server`` (its listening
socket) and one per accepted connection (``server#1``), created by the
``accept`` that returned it. Untraced peers (an echo server started without
a trace, or a port where nothing listens) get a lifeline of their own.

Example (UDP needs no thread):
    >>> import socket
    >>> from labsock._endpoints.trace import Trace
    >>> trace = Trace()
    >>> with trace.socket(type=socket.SOCK_DGRAM, actor="server") as server, \\
    ...      trace.socket(type=socket.SOCK_DGRAM, actor="client") as client:
    ...     server.bind(("127.0.0.1", 0))
    ...     client.sendto(b"ping", server.getsockname())
    ...     server.settimeout(2)
    ...     _ = server.recvfrom(100)
    4
    >>> story = conversation(trace.events)
    >>> [(m.kind, m.source, m.target) for m in story.messages]
    [('data', 'client', 'server')]
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from labsock._core.formatting import describe_bytes
from labsock._core.i18n import gettext as _
from labsock._core.trace_events import (
    RECEIVING,
    SENDING,
    WAITING,
    TraceEvent,
    connect_failure,
    cut,
    ends_sending,
    error_name,
    is_tcp_connect,
)

__all__ = ["Lane", "Message", "Note", "Story", "conversation"]

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
        self.peers.setdefault(key, Lane(key, "peer", f"{key}\n{_('(not traced)')}"))
        return key


def _port(address: tuple[str, int] | None) -> int | None:
    return None if address is None else address[1]


def _lanes(events: list[TraceEvent], book: _Book, created: Iterable[str]) -> list[Lane]:
    """Actors in order (those who connect or send first), each beside its connections.

    ``created``: connections an ``accept`` returned, which may have made no call yet.
    """
    talkers = [e.role for e in events if e.call in SENDING or e.call.startswith("connect")]
    roles = list(dict.fromkeys([*talkers, *(e.role for e in events)]))
    actors = list(dict.fromkeys([*(e.actor for e in events), *created]))
    listening = {e.actor for e in events if e.call == "listen"}
    lanes: list[Lane] = []
    for index, role in enumerate(roles):
        connections = [
            Lane(a, "connection", f"{a}\n{_('(connection)')}")
            for a in actors
            if a.partition("#")[0] == role and a != role
        ]
        what = "\n" + _("(listening socket)") if role in listening else ""
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
        if e.call in SENDING and e.nbytes and e.peer is not None:
            key = (e.protocol, e.local[1], e.peer[1])
            sent[key] += e.nbytes
            sends[key].append((i, sent[key] if e.protocol == "tcp" else e.nbytes))
        elif ends_sending(e) and e.peer is not None:
            fins[(e.protocol, e.local[1], e.peer[1])].append(i)
        elif e.call in RECEIVING and e.nbytes is not None:
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


def _note_text(e: TraceEvent) -> str:
    if e.error:
        return cut(_("{call}() failed: {error}").format(call=e.call, error=error_name(e.error)), 42)
    if e.call == "bind":
        port = e.local[1] if e.local else None
        asked = e.args.rpartition(":")[2]
        return f"bind({e.args})" + (
            _(" → port {port}").format(port=port) if asked == "0" and port else ""
        )
    if e.call == "socket":
        return f"socket({e.args.partition(', ')[2] or e.args})"
    if e.call == "connect" and e.protocol == "udp":
        return cut(_("connect({args}): UDP only notes the peer").format(args=e.args), 42)
    return cut(f"{e.call}({e.args})" + (f" → {e.result}" if e.result else ""), 42)


def _fail_kind(e: TraceEvent) -> tuple[MessageKind, str] | None:
    """A failed TCP connect: ``refused`` (the SYN met a RST) or some other failure."""
    failure = connect_failure(e)
    if failure is None:
        return None
    if failure.refused:
        return "refused", _("{call}() refused: SYN answered by RST (nothing listens)").format(
            call=e.call
        )
    return "failed", cut(
        _("{call}() failed: {error}").format(call=e.call, error=error_name(failure.error)), 48
    )


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
        if e.call in SENDING and e.ok and e.nbytes:
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
                    cut(f"{e.call} {e.args}", 46),
                    received=j is not None or target in book.peers,
                )
            )
        elif e.call in RECEIVING and e.ok:
            n = e.nbytes or 0
            if i in eof.values():
                text = _("{call} → b'' (end of stream)").format(call=e.call)
            elif i in took or n == 0:
                text = f"{e.call} → {describe_bytes(n)}" if n else f"{e.call} → {e.result}"
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
                            _("{bytes} (untraced send)").format(bytes=describe_bytes(n)),
                            inline=True,
                        )
                    )
                text = f"{e.call} → {describe_bytes(n)}"
            story.notes.append(Note(me, y, text, boxed=False))
        elif is_tcp_connect(e):
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
                        _("SYN+ACK (sent by the kernel)"),
                        inline=True,
                    ),
                    Message(
                        "ack",
                        me,
                        target,
                        y + 2 * step,
                        y + 3 * step,
                        _("ACK: connected"),
                        inline=True,
                    ),
                ]
        elif e.call == "accept" and e.ok:
            # The new socket's actor is this one's with a connection number
            # ("server#1"), whatever language the result is written in.
            found = re.search(rf"(?<!\S)({re.escape(e.actor)}#\d+)(?!\S)", e.result)
            if found:
                story.starts[found.group(1)] = y
                story.messages.append(Message("accept", me, found.group(1), y, y, "accept()"))
            else:
                story.notes.append(Note(me, y, _note_text(e)))
        elif ends_sending(e) and e.ok and e.peer is not None and me not in fin_sent:
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
        if e.call in WAITING and len(shown) > 1:
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
