"""The multicast lab panel: receivers join and leave a real group between bursts.

A :class:`MulticastLab` owns one :class:`~labsock.MulticastGroup` on the
loopback interface, a sender and a few receivers. Each burst sends
sequence-numbered datagrams (the numbering goes on from burst to burst) and
waits, bounded, until every member has them. The lab keeps the history of
every burst and every membership change, so its view, the fan-out matrix of
everything sent so far, shows who left when and what they missed because of
it. The sending, the waiting and the history are the fan-out experiment's
own loop: a :class:`~labsock._experiments.fanout.FanOutSession` the lab keeps
alive between bursts; the lab holds the widgets and says what happened.

Private plumbing for ``labsock.widgets``; imports ipywidgets.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w

from labsock._core.errors import ClosedError, LabsockError, UsageError
from labsock._core.validate import check_count, check_seconds
from labsock._endpoints import registry as _registry
from labsock._endpoints.base import Endpoint
from labsock._endpoints.multicast import MulticastGroup, MulticastReceiver
from labsock._experiments.fanout import FanOutSession
from labsock._panels.base import Panel, close_tree, html_table, png
from labsock._results.fanout import FanOutResult, move_words

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
        self._bursts = 0
        # The group is the lab's one endpoint, tagged with the cell now
        # running: running that cell again closes it, receivers and all.
        self.group = MulticastGroup()
        try:
            self.session = FanOutSession(
                self.group, size=SIZE, interval=self.interval, timeout=SETTLE_TIMEOUT
            )
            self._own(self.session.sender)
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
        return self.session.members

    @property
    def sent(self) -> int:
        """Datagrams sent so far, over all bursts."""
        return self.session.sent

    def receiver(self, name: str) -> MulticastReceiver:
        """The live receiver called ``name``; ``UsageError`` if there is none."""
        return self._live(name)

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
        self.session.add(receiver)  # a join, when datagrams were sent before
        if self.sent:
            # Its first join: it was never out, it was not there yet.
            self._refresh(
                f"{receiver.name} joined the group: it hears what is sent from #{self.sent} on"
            )
        else:
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
        self._live(name)
        self.session.remove(name)
        self._refresh(f"{name} was removed: its socket is closed")

    def leave(self, name: str) -> None:
        """Receiver ``name`` leaves the group: it misses what is sent until it rejoins.

        Everything sent to it before is let in first (bounded wait), so the
        boundary is exact. Leaving while out does nothing.
        """
        self._check_open()
        self._live(name)
        if not self.session.leave(name):
            self._refresh(f"{name} is already out of the group")
            return
        self._refresh(f"{name} left the group: IP_DROP_MEMBERSHIP on 127.0.0.1")

    def rejoin(self, name: str) -> None:
        """Receiver ``name`` joins the group again: it hears what is sent from now on."""
        self._check_open()
        self._live(name)
        if not self.session.join(name):
            self._refresh(f"{name} is already a member")
            return
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
            self.session.send(count)
        finally:
            self.run_button.disabled = False
        self._bursts += 1
        result = self.result()
        self.last = result
        self._refresh(draw=True)
        self._say(self._burst_story(result, first, count))
        return result

    def result(self) -> FanOutResult:
        """The fan-out result of every burst so far (receivers ever added, in order)."""
        return self.session.result()

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

    def _live(self, name: object) -> MulticastReceiver:
        """The live receiver called ``name``; else ``UsageError``, in the lab's words."""
        receiver = self.session.receiver(name) if isinstance(name, str) else None
        if receiver is None:
            raise UsageError(
                f"there is no receiver {name!r} in this lab; the receivers are {self.members}"
            )
        return receiver

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
        # The membership changes just before this burst, in the figure's words.
        words = zip(result.events, move_words(result.events), strict=True)
        parts.extend(f"{e.receiver} {said}" for e, said in words if e.seq == first)
        lost_any = False
        for i, name in enumerate(result.names):
            expected, got = result.expected[i][first:], result.matrix[i][first:]
            if not any(expected):
                if self.session.receiver(name) is not None:
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
            receiver = self.session.receiver(name)
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
