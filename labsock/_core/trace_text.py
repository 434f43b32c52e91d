"""A trace written out: an aligned text table, and a Mermaid sequence diagram.

:meth:`Trace.table <labsock._endpoints.trace.Trace.table>` and
:meth:`Trace.to_mermaid <labsock._endpoints.trace.Trace.to_mermaid>` return what
:func:`render_table` and :func:`render_mermaid` make of the recorded
:class:`~labsock._endpoints.trace.TraceEvent` objects, and a trace shows both in a
notebook. Pure text: no sockets, no clocks.

In the diagram each role (``client``; ``server`` and its connections) is one
participant, and so is each untraced peer. A ``send`` is an arrow, a TCP
``connect`` the three-way handshake (or how it failed), a connection's first
``close`` or ``shutdown(SHUT_WR)`` its FIN, and every other call a note.
Characters Mermaid would read as markup are escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from labsock._core.formatting import describe_bytes, format_address
from labsock._core.i18n import gettext as _
from labsock._core.trace_events import (
    RECEIVING,
    SENDING,
    Address,
    TraceEvent,
    connect_failure,
    cut,
    ends_sending,
    is_tcp_connect,
)

__all__ = ["render_mermaid", "render_table"]


# -- the table ---------------------------------------------------------------


def render_table(events: Iterable[TraceEvent], width: int) -> str:
    """The events as an aligned text table, one line per call; cells cut at ``width``."""
    header = (_("time (ms)"), _("actor"), _("call"), _("args"), _("result"))
    rows = [
        (
            f"{e.time * 1e3:.3f}",
            e.actor,
            e.call,
            cut(e.args, width),
            cut(_("raised {error}").format(error=e.error) if e.error else e.result, width),
        )
        for e in events
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        time_cell = row[0].rjust(widths[0])
        rest = [cell.ljust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join([time_cell, *rest]).rstrip())
    return "\n".join(lines)


# -- the Mermaid diagram -----------------------------------------------------

# Mermaid reads ';' as a line end and '#' as the start of an entity code, and
# quotes or angle brackets can end or open markup: spell them as entity codes.
_ESCAPES = str.maketrans(
    {c: f"#{ord(c)};" for c in "#;\"'<>&{}"} | {"\n": " ", "\r": " ", "\t": " "}
)
_KEYWORDS = frozenset(
    {
        *("participant", "actor", "as", "note", "over", "left", "right", "of", "end"),
        *("loop", "alt", "else", "opt", "par", "and", "rect", "critical", "break", "box"),
        *("activate", "deactivate", "autonumber", "title", "links", "link", "create"),
        *("destroy", "sequencediagram"),
    }
)


def _escape(text: str) -> str:
    return text.translate(_ESCAPES)


@dataclass(frozen=True)
class _Item:
    """One line of the diagram's story: an event, or a run of alike events."""

    event: TraceEvent
    repeat: int = 1
    nbytes: int | None = None


def _collapse(events: tuple[TraceEvent, ...], limit: int) -> tuple[list[_Item], int]:
    items = [_Item(e, 1, e.nbytes) for e in events]
    if len(items) > limit:
        merged: list[_Item] = []
        for item in items:
            last = merged[-1] if merged else None
            e = item.event
            if (
                last is not None
                and last.event.actor == e.actor
                and last.event.call == e.call
                and last.event.ok
                and e.ok
                and (e.call in SENDING or e.call in RECEIVING)
            ):
                total = (last.nbytes or 0) + (e.nbytes or 0)
                merged[-1] = _Item(last.event, last.repeat + 1, total)
            else:
                merged.append(item)
        items = merged
    hidden = max(0, len(items) - limit)
    return items[:limit], hidden


class _Cast:
    """Who is who in the diagram: one participant per role, plus unknown peers."""

    def __init__(self, events: tuple[TraceEvent, ...]) -> None:
        self.book: dict[Address, str] = {}
        for e in events:
            if e.local is not None and e.local[1] != 0:
                self.book.setdefault(e.local, e.role)
        talkers = [e.role for e in events if e.call in SENDING or e.call == "connect"]
        self.roles = list(dict.fromkeys([*talkers, *(e.role for e in events)]))
        self.strangers: dict[Address, str] = {}
        self.ids: dict[str, str] = {}
        for role in self.roles:
            self._add_id(role)

    def _add_id(self, name: str) -> str:
        ident = re.sub(r"\W", "_", name, flags=re.ASCII) or "p"
        if ident[0].isdigit() or ident.lower() in _KEYWORDS:
            ident = "p_" + ident
        base, n = ident, 1
        while ident in self.ids.values():
            n += 1
            ident = f"{base}{n}"
        self.ids[name] = ident
        return ident

    def of_role(self, role: str) -> str:
        return self.ids[role]

    def at(self, address: Address | None) -> str | None:
        """The participant at ``address``: a traced role, or a stranger we add."""
        if address is None:
            return None
        role = self.book.get(address)
        if role is None:
            # A socket bound to a wildcard address answers on loopback.
            for (host, port), who in self.book.items():
                if port == address[1] and host in ("0.0.0.0", "::", ""):
                    role = who
                    break
        if role is not None:
            return self.ids[role]
        if address not in self.strangers:
            self.strangers[address] = format_address(address)
            self._add_id(f"peer {format_address(address)}")
        return self.ids[f"peer {format_address(address)}"]

    def declarations(self) -> list[str]:
        lines = []
        for role in self.roles:
            label = role[:1].upper() + role[1:]
            lines.append(f"    participant {self.ids[role]} as {_escape(label)}")
        for address, label in self.strangers.items():
            ident = self.ids[f"peer {format_address(address)}"]
            lines.append(f"    participant {ident} as {_escape(label)}")
        return lines


def _prefix(e: TraceEvent) -> str:
    """``"(#1) "`` for the first connection a listening socket accepted, else ""."""
    number = e.actor.partition("#")[2]
    return f"(#{number}) " if number else ""


def _label(item: _Item) -> str:
    e = item.event
    prefix = _prefix(e)
    if item.repeat > 1:
        return prefix + _("{call} ×{n}: {size} in all").format(
            call=e.call, n=item.repeat, size=describe_bytes(item.nbytes or 0)
        )
    if e.call in SENDING:
        text = f"{e.call} {e.args}"
    elif e.args:
        text = f"{e.call}({e.args})"
    else:
        text = f"{e.call}()"
    if e.error:
        return prefix + _("{call} failed: {error}").format(call=text, error=e.error)
    if e.result and e.call not in SENDING:
        return f"{prefix}{text} → {e.result}"
    return prefix + text


def _handshake(e: TraceEvent, me: str, target: str) -> list[str]:
    """A TCP connect: the three-way handshake, or how it failed."""
    prefix = _prefix(e)
    failure = connect_failure(e)
    if failure is not None:
        failed = _("{call} failed: {error}").format(call=f"{e.call}()", error=failure.error)
        if failure.refused:
            failed += _(" (the SYN was answered by RST: nothing listens there)")
        return [f"    {me}-x{target}: {_escape(prefix + failed)}"]
    connected = (
        _("ACK: connected, {result}").format(result=e.result) if e.result else _("ACK: connected")
    )
    syn_ack = _("SYN+ACK (sent by the kernel, before any accept)")
    return [
        f"    {me}->>{target}: {_escape(f'{prefix}{e.call}(): SYN')}",
        f"    {target}-->>{me}: {_escape(syn_ack)}",
        f"    {me}->>{target}: {_escape(connected)}",
    ]


def _story(item: _Item, cast: _Cast, fin_sent: set[str]) -> list[str]:
    """The diagram lines for one item."""
    e = item.event
    me = cast.of_role(e.role)
    label = _label(item)
    note = [f"    Note over {me}: {_escape(label)}"]
    if e.call in SENDING:
        target = cast.at(e.peer)
        if target is None:
            return note
        arrow = "->>" if e.ok else "-x"
        return [f"    {me}{arrow}{target}: {_escape(label)}"]
    if is_tcp_connect(e):
        target = cast.at(e.peer)
        return note if target is None else _handshake(e, me, target)
    if e.call == "connect" and e.protocol == "udp" and e.ok:
        only_peer = _(": UDP sends nothing, it only sets the peer")
        return [f"    Note over {me}: {_escape(label + only_peer)}"]
    if ends_sending(e) and e.ok and e.actor not in fin_sent:
        target = cast.at(e.peer)
        if target is not None:
            fin_sent.add(e.actor)
            return [f"    {me}->>{target}: {_escape(label + ': FIN')}"]
    return note


def render_mermaid(events: tuple[TraceEvent, ...], limit: int) -> str:
    """A Mermaid ``sequenceDiagram`` of the events (see :meth:`Trace.to_mermaid`)."""
    items, hidden = _collapse(events, max(1, limit))
    cast = _Cast(tuple(item.event for item in items))
    fin_sent: set[str] = set()
    body: list[str] = []
    for item in items:
        body.extend(_story(item, cast, fin_sent))
    if hidden:
        everyone = ",".join(cast.ids[r] for r in cast.roles[:2]) or "nobody"
        more = _("… {n} more calls not shown").format(n=hidden)
        body.append(f"    Note over {everyone}: {_escape(more)}")
    if not cast.roles:
        return "\n".join(
            [
                "sequenceDiagram",
                "    participant trace as Trace",
                f"    Note over trace: {_escape(_('no socket calls were traced'))}",
            ]
        )
    return "\n".join(["sequenceDiagram", *cast.declarations(), *body])
