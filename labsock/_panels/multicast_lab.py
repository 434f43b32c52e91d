"""The multicast lab panel: receivers join and leave a real group between bursts.

A :class:`MulticastLab` owns one :class:`~labsock.MulticastGroup` on the
loopback interface, a sender and a few receivers. Each burst sends
sequence-numbered datagrams (the numbering goes on from burst to burst) and
waits, bounded, until every member has them. The lab keeps the history of
every burst and every membership change, so its view, the fan-out matrix of
everything sent so far, shows who left when and what they missed because of
it.

Private plumbing for ``labsock.widgets``; imports ipywidgets.
"""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import ipywidgets as w

from labsock._core.errors import ClosedError, LabsockError, UsageError
from labsock._core.validate import check_count, check_seconds
from labsock._endpoints import registry as _registry
from labsock._endpoints.base import Endpoint
from labsock._endpoints.kernel import udp_rcvbuf_errors
from labsock._endpoints.multicast import (
    TAG_SIZE,
    Arrival,
    MulticastGroup,
    MulticastReceiver,
    encode_tagged_probe,
)
from labsock._experiments.fanout import tally
from labsock._panels.base import Panel, close_tree, html_table, png
from labsock._results.fanout import FanOutResult, MembershipEvent

__all__ = ["MulticastLab"]

#: Receivers alive at once, at most (each is a socket and a thread).
MAX_RECEIVERS = 12
#: Datagrams per burst, at most.
MAX_BURST = 500
#: Datagrams in the lab's whole history, at most: the matrix must stay readable.
MAX_HISTORY = 5_000
#: Bytes per datagram: a probe header, the session tag, a little padding.
SIZE = 64
#: Seconds to wait for datagrams still on their way, after a burst or before a leave.
SETTLE_TIMEOUT = 1.0
_RECEIVE_BUFFER = 1 << 20


@dataclass
class _Row:
    """One receiver's history: whether it was a member for each datagram sent."""

    name: str
    receiver: MulticastReceiver | None
    buffer: int
    expected: list[bool] = field(default_factory=list)
    # What it had heard when it was removed; None while it lives.
    final: tuple[Arrival, ...] | None = None

    @property
    def alive(self) -> bool:
        return self.receiver is not None

    def arrivals(self) -> tuple[Arrival, ...]:
        if self.final is not None:
            return self.final
        return self.receiver.received() if self.receiver is not None else ()


class MulticastLab(Panel[FanOutResult]):
    """A multicast group you can play with: add receivers, make them leave and rejoin.

    Every control does the real thing on a real group on the loopback
    interface (a random 239.255.x.y group, TTL 1): *add receiver* opens a
    socket that joins the group, *leave* and *rejoin* drop and take the
    membership again (``IP_DROP_MEMBERSHIP`` / ``IP_ADD_MEMBERSHIP``),
    *send burst* sends ``burst`` numbered datagrams. The figure is the
    fan-out matrix of every datagram sent so far, with the joins and leaves
    marked; the table says, per receiver, what it got and what it missed
    while it was a member (real loss, normally none).

    Every control is also a method: :meth:`run` sends one burst and returns
    the :class:`~labsock.FanOutResult` of the whole history so far;
    :meth:`add_receiver`, :meth:`remove_receiver`, :meth:`leave` and
    :meth:`rejoin` change the membership. The group is an endpoint of the
    cell that made the lab: running that cell again closes it, and so does
    :meth:`close` or ``labsock.close_all()``.

    Args:
        receivers: receivers at the start, named ``"r1"``, ``"r2"``, ...
        burst: datagrams per burst (the slider's start value).
        interval: seconds between two datagrams of a burst.

    Raises:
        UsageError: for a value out of range.

    Example:
        >>> lab = MulticastLab(receivers=2, burst=10)
        >>> _ = lab.run()
        >>> lab.leave("r2")
        >>> result = lab.run()
        >>> result.received, result.lost
        ((20, 10), (0, 0))
        >>> lab.close()
    """

    def __init__(self, *, receivers: int = 3, burst: int = 20, interval: float = 0.001) -> None:
        receivers = check_count(receivers, name="receivers", minimum=0, maximum=MAX_RECEIVERS)
        burst = check_count(burst, name="burst", maximum=MAX_BURST)
        self.interval = check_seconds(interval, name="interval", maximum=0.1)
        super().__init__()
        self._tag = secrets.token_bytes(TAG_SIZE)
        self._rows: dict[str, _Row] = {}
        self._events: list[MembershipEvent] = []
        self._sent_times: list[float] = []
        self._bursts = 0
        self._elapsed = 0.0
        self._kernel_drops: int | None = 0
        # The group is the lab's one endpoint, tagged with the cell now
        # running: running that cell again closes it, receivers and all.
        self.group = MulticastGroup()
        try:
            self._sender = self.group.sender()
            self._own(self._sender)
            for _ in range(receivers):
                self.add_receiver()
        except BaseException:
            self.group.close()
            raise

        self.run_button.description = "send burst"
        self.run_button.icon = "paper-plane"
        self.burst = w.IntSlider(value=burst, min=1, max=MAX_BURST, description="burst")
        self.chooser = w.Dropdown(description="receiver")
        self.add_button = w.Button(description="add receiver", icon="plus")
        self.remove_button = w.Button(description="remove receiver", icon="minus")
        self.leave_button = w.Button(description="leave", icon="sign-out")
        self.rejoin_button = w.Button(description="rejoin", icon="sign-in")
        self.add_button.on_click(lambda _b: self._guard(self.add_receiver))
        self.remove_button.on_click(lambda _b: self._guard(self._remove_chosen))
        self.leave_button.on_click(lambda _b: self._guard(lambda: self.leave(self._chosen())))
        self.rejoin_button.on_click(lambda _b: self._guard(lambda: self.rejoin(self._chosen())))
        self.figure = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.table = w.HTML()
        controls = w.HBox(
            [
                w.VBox([self.burst, self.run_button]),
                w.VBox([self.chooser, w.HBox([self.leave_button, self.rejoin_button])]),
                w.VBox([self.add_button, self.remove_button]),
            ]
        )
        self.widget = w.VBox(
            [controls, self.status, self.figure, self.table], layout=w.Layout(width="100%")
        )
        self._refresh()
        host, port = self.group.address
        self._say(
            f"group {host}:{port} on the loopback interface, {len(self.members)} receivers: "
            "press <b>send burst</b>"
        )

    # -- what the lab holds -------------------------------------------------
    @property
    def members(self) -> tuple[str, ...]:
        """The receivers alive now (joined or not), oldest first."""
        self._sync()
        return tuple(name for name, row in self._rows.items() if row.alive)

    @property
    def sent(self) -> int:
        """Datagrams sent so far, over all bursts."""
        return len(self._sent_times)

    def receiver(self, name: str) -> MulticastReceiver:
        """The live receiver called ``name``; ``UsageError`` if there is none."""
        receiver = self._live(name).receiver
        assert receiver is not None
        return receiver

    # -- membership ---------------------------------------------------------
    def add_receiver(self) -> str:
        """Open a new receiver, joined to the group; return its name.

        It hears the datagrams sent from now on. Raises ``UsageError`` when
        ``MAX_RECEIVERS`` are already alive, ``ClosedError`` once the lab is closed.
        """
        self._check_open()
        if len(self.members) >= MAX_RECEIVERS:
            raise UsageError(f"the lab already has {MAX_RECEIVERS} receivers: remove one first")
        receiver = self.group.receiver(receive_buffer=_RECEIVE_BUFFER, keep=2 * MAX_HISTORY)
        self._own(receiver)
        row = _Row(receiver.name, receiver, receiver.receive_buffer, [False] * self.sent)
        self._rows[receiver.name] = row
        if self.sent:
            self._event(receiver.name, "join")
        self._refresh(f"{receiver.name} joined the group")
        return receiver.name

    def remove_receiver(self, name: str | None = None) -> None:
        """Close receiver ``name`` (the newest one if None): it leaves and its socket closes.

        Its row stays in the history, as a leave. Raises ``UsageError`` for
        an unknown name or when there is no receiver left.
        """
        self._check_open()
        if name is None:
            if not self.members:
                raise UsageError("there is no receiver to remove: add one first")
            name = self.members[-1]
        row = self._live(name)
        receiver = row.receiver
        assert receiver is not None
        self._settle(row)
        row.final, row.receiver = receiver.received(), None
        receiver.close()
        if any(row.expected):
            self._event(name, "leave")
        else:
            # It never was a member for any datagram: nothing to keep.
            del self._rows[name]
            self._events = [e for e in self._events if e.receiver != name]
        self._refresh(f"{name} was removed: its socket is closed")

    def leave(self, name: str) -> None:
        """Receiver ``name`` leaves the group: it misses what is sent until it rejoins.

        Everything sent to it before is let in first (bounded wait), so the
        boundary is exact. Leaving while out does nothing.
        """
        self._check_open()
        row = self._live(name)
        receiver = row.receiver
        assert receiver is not None
        if not receiver.joined:
            self._refresh(f"{name} is already out of the group")
            return
        self._settle(row)
        receiver.leave()
        self._event(name, "leave")
        self._refresh(f"{name} left the group: IP_DROP_MEMBERSHIP on 127.0.0.1")

    def rejoin(self, name: str) -> None:
        """Receiver ``name`` joins the group again: it hears what is sent from now on."""
        self._check_open()
        receiver = self._live(name).receiver
        assert receiver is not None
        if receiver.joined:
            self._refresh(f"{name} is already a member")
            return
        receiver.join()
        self._event(name, "join")
        self._refresh(f"{name} joined again: IP_ADD_MEMBERSHIP on 127.0.0.1")

    # -- bursts ---------------------------------------------------------------
    def run(self) -> FanOutResult:
        """Send one burst of ``burst.value`` datagrams; return the result of all bursts so far.

        Waits (at most ``SETTLE_TIMEOUT`` seconds) until every member has the
        burst; whatever has not arrived by then counts as lost.

        Raises:
            UsageError: when the history would pass ``MAX_HISTORY`` datagrams.
            ClosedError: once the lab is closed.
        """
        self._check_open()
        count = self.burst.value
        first = self.sent
        if first + count > MAX_HISTORY:
            raise UsageError(
                f"the lab has sent {first} datagrams and keeps at most {MAX_HISTORY}: "
                "run the cell that made it again to start a fresh lab"
            )
        self.run_button.disabled = True
        try:
            self._burst(first, count)
        finally:
            self.run_button.disabled = False
        self._bursts += 1
        result = self.result()
        self.last = result
        self._refresh(draw=True)
        self._say(self._burst_story(result, first, count))
        return result

    def _burst(self, first: int, count: int) -> None:
        rows = list(self._rows.values())
        members = [
            row.receiver is not None and row.receiver.joined and not row.receiver.closed
            for row in rows
        ]
        drops_before = udp_rcvbuf_errors()
        started = next_send = time.perf_counter()
        for seq in range(first, first + count):
            delay = next_send - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            now = time.perf_counter()
            self._sender.send(encode_tagged_probe(seq, int(now * 1e9), self._tag, SIZE))
            self._sent_times.append(now)
            next_send = max(next_send + self.interval, now)
        for row, member in zip(rows, members, strict=True):
            row.expected.extend([member] * count)
        deadline = time.perf_counter() + SETTLE_TIMEOUT
        for row, member in zip(rows, members, strict=True):
            if member and row.receiver is not None:
                left = max(0.0, deadline - time.perf_counter())
                row.receiver.wait_received(sum(row.expected), left, tag=self._tag)
        self._elapsed += time.perf_counter() - started
        drops_after = udp_rcvbuf_errors()
        if drops_before is None or drops_after is None or self._kernel_drops is None:
            self._kernel_drops = None
        else:
            self._kernel_drops += drops_after - drops_before

    def result(self) -> FanOutResult:
        """The fan-out result of every burst so far (receivers ever added, in order)."""
        self._sync()
        count = self.sent
        names = tuple(self._rows)
        matrix, arrivals, cross_talk = [], [], []
        for row in self._rows.values():
            got, mine, foreign = tally(row.arrivals(), self._tag, count)
            matrix.append(got)
            arrivals.append(mine)
            cross_talk.append(foreign)
        host, port = self.group.group, self.group.port
        return FanOutResult(
            group=(host, port),
            names=names,
            count=count,
            size=SIZE,
            interval=self.interval,
            matrix=tuple(matrix),
            expected=tuple(tuple(row.expected) for row in self._rows.values()),
            # A change after the last burst has no datagram to stand before yet.
            events=tuple(e for e in self._events if e.seq < count),
            sent_times=tuple(self._sent_times),
            arrivals=tuple(arrivals),
            cross_talk=tuple(cross_talk),
            receive_buffers=tuple(row.buffer for row in self._rows.values()),
            kernel_drops=self._kernel_drops,
            elapsed=self._elapsed,
        )

    # -- the end ------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once the lab's group is closed (by close(), a re-run, or close_all())."""
        return self.group.closed

    def close(self) -> None:
        """Close the widgets, the group, its sender and every receiver. Safe to call twice."""
        try:
            close_tree(self.widget)
        finally:
            _registry.unregister_panel(self)
            self.group.close()

    # -- helpers ----------------------------------------------------------------------
    def _own(self, child: Endpoint) -> None:
        # Receivers and the sender belong to the group, which closes them: the
        # registry tracks only the group, so re-running some later cell that
        # happened to add a receiver (or was the last to run before a click)
        # does not pull a receiver out from under the lab.
        _registry.unregister(child)

    def _check_open(self) -> None:
        if self.group.closed:
            raise ClosedError(
                "this multicast lab is closed (its cell ran again, or close() or "
                "labsock.close_all() was called): run the cell that made it to start a new one"
            )

    def _sync(self) -> None:
        # A receiver closed behind the lab's back (say, by close_all()) is a removal.
        for row in self._rows.values():
            if row.receiver is not None and row.receiver.closed:
                row.final, row.receiver = row.receiver.received(), None
                if self.sent and not self.group.closed:
                    self._event(row.name, "leave")

    def _live(self, name: object) -> _Row:
        row = self._rows.get(name) if isinstance(name, str) else None
        if row is None or row.receiver is None or row.receiver.closed:
            raise UsageError(
                f"there is no receiver {name!r} in this lab; the receivers are {self.members}"
            )
        return row

    def _settle(self, row: _Row) -> None:
        # Let everything sent to it land before it leaves: a datagram still in
        # the kernel's backlog when it leaves would be dropped and blur the edge.
        if row.receiver is not None and row.receiver.joined:
            row.receiver.wait_received(sum(row.expected), SETTLE_TIMEOUT, tag=self._tag)

    def _event(self, name: str, action: Literal["leave", "join"]) -> None:
        seq = self.sent
        undo = "join" if action == "leave" else "leave"
        pending = [e for e in self._events if e.receiver == name and e.seq == seq]
        if pending and pending[-1].action == undo:
            # Left and came back (or the reverse) with no datagram between:
            # nothing happened as far as any datagram is concerned.
            self._events.remove(pending[-1])
            return
        self._events.append(MembershipEvent(name, action, seq))

    def _chosen(self) -> str:
        name = self.chooser.value
        if not isinstance(name, str):
            raise UsageError("choose a receiver first (add one if there is none)")
        return name

    def _remove_chosen(self) -> None:
        self.remove_receiver(self._chosen())

    def _guard(self, action: Callable[[], object]) -> None:
        # As Panel._clicked: a click never raises into the widget machinery.
        try:
            action()
        except LabsockError as exc:
            self._say(f"<b>Could not do that:</b> {html.escape(str(exc))}", error=True)

    def _burst_story(self, result: FanOutResult, first: int, count: int) -> str:
        host, port = result.group
        parts = [
            f"burst {self._bursts}: datagrams #{first} to #{first + count - 1} "
            f"sent to {host}:{port}"
        ]
        lost_any = False
        for i, name in enumerate(result.names):
            expected, got = result.expected[i][first:], result.matrix[i][first:]
            if not any(expected):
                if self._rows[name].alive:
                    parts.append(f"{name} was out of the group and missed them by design")
                continue
            lost = sum(e and not g for e, g in zip(expected, got, strict=True))
            if lost:
                lost_any = True
                parts.append(f"{name} missed {lost} while a member (real loss)")
        if not lost_any:
            parts.append("every member got every one")
        return html.escape("; ".join(parts))

    def _table(self) -> str:
        result = self.result()
        rows = []
        for i, name in enumerate(result.names):
            row = self._rows[name]
            receiver = row.receiver
            now = "removed" if receiver is None else "yes" if receiver.joined else "no (left)"
            rows.append(
                (
                    name,
                    now,
                    result.received[i],
                    sum(result.expected[i]),
                    result.lost[i],
                )
            )
        if not rows:
            return "<p>No receivers: press <b>add receiver</b>.</p>"
        header = [
            "receiver",
            "joined now?",
            "received",
            "sent while a member",
            "missed while a member",
        ]
        return html_table(header, rows)

    def _refresh(self, message: str | None = None, *, draw: bool = False) -> None:
        if not hasattr(self, "table"):
            return  # still building the widgets
        members = self.members
        self.chooser.options = members
        if members and self.chooser.value not in members:
            self.chooser.value = members[-1]
        self.table.value = self._table()
        if draw and self.last is not None and self.last.names and self.last.count:
            from labsock._viz import figures as plots

            self.figure.value = png(plots.fan_out(self.last))
        if message is not None:
            self._say(html.escape(message))
