"""The socket stepper panel: one real socket call per click, and what the kernel did.

A :class:`SocketStepper` is the view of a
:class:`~labsock._endpoints.stepper_machine.StepperMachine`, which holds a
real server socket and a real client socket, both traced into one
:class:`~labsock.Trace`, and makes the calls. Each button makes ONE call on
one of them, in the kernel's main thread, with a short timeout wherever the
call would wait. After each call the panel redraws the sequence diagram of
every call so far and the kernel's socket table for these sockets' ports, so
a student sees LISTEN, ESTABLISHED, FIN_WAIT2, CLOSE_WAIT and TIME_WAIT come
and go. Calls made in the wrong order really are made, and the real error is
shown with what it means.

Private plumbing for ``labsock.widgets``; imports ipywidgets.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w

from labsock._core.errors import LabsockError, NetworkError
from labsock._core.i18n import gettext as _
from labsock._endpoints.stepper_machine import CALLS, CONVERSATION, StepperMachine
from labsock._endpoints.trace import Trace
from labsock._panels.base import Panel, html_table, png
from labsock._results.stepper import StepResult

__all__ = ["CALLS", "CONVERSATION", "SocketStepper", "StepResult"]


class SocketStepper(Panel[Trace]):
    """A real server and a real client socket, one call at a time.

    Two columns of buttons, one per side. TCP: the server can ``socket``,
    ``bind``, ``listen``, ``accept``, ``recv``, ``send``, ``close``; the
    client ``socket``, ``connect``, ``send``, ``recv``, ``shutdown``
    (``SHUT_WR``), ``close``. UDP (``protocol="udp"``): the server
    ``socket``, ``bind``, ``recvfrom``, ``sendto``, ``close``; the client
    ``socket``, ``sendto``, ``recvfrom``, ``close``. Every press makes the real
    call; below the buttons are the sequence diagram of the calls so far and
    the kernel's table of these sockets with their TCP states.

    The server's ``close`` closes the connection ``accept`` returned while it
    is open, else the listening socket: press it twice to close both.

    From code: :meth:`step` makes one call and returns a :class:`StepResult`
    (an error is a result too, never an exception); :meth:`run` starts over
    and performs the whole conversation, returning the :class:`~labsock.Trace`;
    :meth:`states` reads the TCP states; :meth:`reset` closes everything and
    starts over. The sockets belong to :attr:`machine`, an endpoint of the
    cell that made the stepper: the stepper is closed when that cell runs
    again, by :meth:`close`, and by ``labsock.close_all()``.

    Args:
        protocol: ``"tcp"`` or ``"udp"``.
        timeout: seconds a call that waits (``accept``, ``recv``,
            ``connect``) may wait before it gives up.

    Raises:
        UsageError: for another protocol or a bad timeout.

    Example:
        :meth:`step`, :meth:`run` and :meth:`close` are the machine's; the
        example in :class:`~labsock._endpoints.stepper_machine.StepperMachine`
        shows them, and reads the same with ``SocketStepper()`` in place of
        ``StepperMachine()``.
    """

    def __init__(self, protocol: str = "tcp", *, timeout: float = 0.25) -> None:
        #: The sockets and the calls; the panel only shows what it does.
        self.machine = StepperMachine(protocol, timeout=timeout)
        super().__init__()
        self._passing: list[str] = []  # passing TCP states seen while the table settled
        self._widgets_closed = False

        self.run_button.description = _("whole conversation")
        self.run_button.tooltip = _("start over and make every call of the usual conversation")
        # A button is 148 px wide by default: too narrow for this label, which got cut.
        self.run_button.layout.width = "max-content"
        self.reset_button = w.Button(description=_("start over"), icon="undo")
        self.reset_button.on_click(lambda _b: self._guard(self.reset))
        self.buttons: dict[tuple[str, str], w.Button] = {}
        columns = []
        for actor, calls in CALLS[protocol].items():
            column: list[w.Widget] = [w.HTML(f"<b>{actor}</b>")]
            for call in calls:
                button = w.Button(description=f"{call}()", tooltip=self.machine.code(actor, call))
                button.on_click(lambda _b, a=actor, c=call: self._guard(lambda: self.step(a, c)))
                self.buttons[actor, call] = button
                column.append(button)
            columns.append(w.VBox(column))
        columns.append(w.VBox([w.HTML("&nbsp;"), self.run_button, self.reset_button]))
        self.figure = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.table = w.HTML()
        self.widget = w.VBox(
            [w.HBox(columns), self.status, self.table, self.figure],
            layout=w.Layout(width="100%"),
        )
        self._redraw()
        self._say(
            _("{proto}: press <b>socket()</b> on the server side to begin").format(
                proto=protocol.upper()
            )
        )

    # -- what the machine holds -----------------------------------------------
    @property
    def protocol(self) -> str:
        """``"tcp"`` or ``"udp"``."""
        return self.machine.protocol

    @property
    def timeout(self) -> float:
        """Seconds a call that waits may wait before it gives up."""
        return self.machine.timeout

    @property
    def trace(self) -> Trace:
        """Every call made since the last start over (a new Trace after :meth:`reset`)."""
        return self.machine.trace

    # -- stepping -------------------------------------------------------------
    def step(
        self, actor: str, call: str, data: bytes | None = None, *, draw: bool = True
    ) -> StepResult:
        """Make one real call on one side; redraw; return what happened.

        Args:
            actor: ``"server"`` or ``"client"``.
            call: one of ``CALLS[protocol][actor]``.
            data: what ``send``/``sendto`` sends (a default greeting if None).
            draw: redraw the diagram and the socket table (a fraction of a
                second). A script making many steps may pass False and look
                at the end; the status line is updated either way.

        Returns:
            A :class:`StepResult`. A call that fails is not raised: its real
            exception is in ``.error`` and explained in ``.message``.

        Raises:
            UsageError: for an unknown actor or call (not a socket error).
            ClosedError: once the stepper is closed.
        """
        result = self.machine.step(actor, call, data)
        self._passing = []
        if draw:
            self._redraw()
        self._say(self._story(result), error=not result.ok)
        return result

    def run(self) -> Trace:
        """Start over, then make every call of the usual conversation; return the trace.

        TCP: server socket, bind, listen; client socket, connect; server
        accept; client send; server recv, send; client recv, close; server
        close. Raises :class:`~labsock.NetworkError` (with the explanation)
        if a step fails, which only happens when the machine misbehaves.
        """
        try:
            trace = self.machine.run()
        except NetworkError:
            self._redraw()
            raise
        self._redraw()
        self._say(
            _("the whole {proto} conversation: {n} calls, every one real").format(
                proto=self.protocol.upper(), n=len(trace)
            )
        )
        self.last = trace
        return trace

    def reset(self) -> None:
        """Close every socket and start over with an empty trace."""
        self.machine.reset()
        self._redraw()
        self._say(_("started over: no sockets"))

    def states(self) -> dict[str, str]:
        """The kernel's state of each of our sockets: ``{"server": "LISTEN", ...}``.

        Keys: ``"server"`` (the listening socket), ``"server#1"`` (the
        connection it accepted; ``"server (not accepted yet)"`` while it waits
        in the accept queue), ``"client"``; older sockets are named with their
        port (``"client (port 40312)"``). A socket no process owns any more
        (TIME_WAIT) is still listed. UDP sockets have no state: ``"NONE"``.
        """
        return self.machine.states()

    def close(self) -> None:
        """Close both sockets and the widgets. Safe to call twice."""
        if self._widgets_closed:
            return
        self._widgets_closed = True
        try:
            self.machine.close()
        finally:
            super().close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called (or the machine was closed)."""
        return self.machine.closed

    # -- the view -------------------------------------------------------------------
    def _redraw(self) -> None:
        from labsock._viz import figures as plots

        rows, self._passing = self.machine.settle()
        tcp = self.protocol == "tcp"
        cells = [
            (label, row.name, *row.cells()[1:3], row.state if tcp else "-") for label, row in rows
        ]
        if cells:
            header = [_("who"), _("proto"), _("local address"), _("remote address"), _("state")]
            table = html_table(header, cells)
        else:
            table = f"<p>{_('(the kernel lists none of our sockets)')}</p>"
        if self.machine.note:
            table += f"<p><em>{html.escape(self.machine.note)}</em></p>"
        if not tcp:
            table += (
                f"<p><em>{_('UDP keeps no connection, so there is no state to show.')}</em></p>"
            )
        self.table.value = table
        self.figure.value = png(plots.sequence(self.trace)) if len(self.trace) else b""

    def _story(self, result: StepResult) -> str:
        text = f"<code>{html.escape(result.code)}</code>: {html.escape(result.message)}"
        if self._passing:
            text += html.escape(
                _(" (on the way: {packets})").format(packets=", ".join(self._passing))
            )
        return text

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except LabsockError as exc:
            self._say(f"<b>{_('Could not do that:')}</b> {html.escape(str(exc))}", error=True)
