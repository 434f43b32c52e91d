"""The socket stepper panel: one real socket call per click, and what the kernel did.

A :class:`SocketStepper` holds a real server socket and a real client socket,
both traced into one :class:`~labsock.Trace`. Each button makes ONE call on
one of them, in the kernel's main thread, with a short timeout wherever the
call would wait. After each call the panel redraws the sequence diagram of
every call so far and the kernel's socket table for these sockets' ports, so
a student sees LISTEN, ESTABLISHED, FIN_WAIT2, CLOSE_WAIT and TIME_WAIT come
and go. Calls made in the wrong order really are made, and the real error is
shown with what it means.

Private plumbing for ``labsock.widgets``; imports ipywidgets.
"""

from __future__ import annotations

import errno
import html
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ipywidgets as w

from labsock._core.errors import ClosedError, LabsockError, NetworkError, UsageError
from labsock._core.validate import check_payload, check_seconds
from labsock._endpoints import registry as _registry
from labsock._endpoints.sockettable import SocketRow, socket_table
from labsock._endpoints.trace import Trace, TracedSocket
from labsock._panels.base import Panel, close_tree, html_table, png

__all__ = ["CALLS", "CONVERSATION", "SocketStepper", "StepResult"]

#: The calls each side can make, by protocol, in the order of the buttons.
CALLS: dict[str, dict[str, tuple[str, ...]]] = {
    "tcp": {
        "server": ("socket", "bind", "listen", "accept", "recv", "send", "close"),
        "client": ("socket", "connect", "send", "recv", "shutdown", "close"),
    },
    "udp": {
        "server": ("socket", "bind", "recvfrom", "sendto", "close"),
        "client": ("socket", "sendto", "recvfrom", "close"),
    },
}

#: The canonical conversation :meth:`SocketStepper.run` performs, by protocol.
CONVERSATION: dict[str, tuple[tuple[str, str], ...]] = {
    "tcp": (
        ("server", "socket"),
        ("server", "bind"),
        ("server", "listen"),
        ("client", "socket"),
        ("client", "connect"),
        ("server", "accept"),
        ("client", "send"),
        ("server", "recv"),
        ("server", "send"),
        ("client", "recv"),
        ("client", "close"),
        ("server", "close"),
    ),
    "udp": (
        ("server", "socket"),
        ("server", "bind"),
        ("client", "socket"),
        ("client", "sendto"),
        ("server", "recvfrom"),
        ("server", "sendto"),
        ("client", "recvfrom"),
        ("client", "close"),
        ("server", "close"),
    ),
}

#: What each side sends when no data is given.
DEFAULT_DATA = {"client": b"hello", "server": b"hi back"}
#: States a TCP socket passes through on its own, a packet (or a delayed ACK) later.
TRANSIENT = frozenset({"SYN_SENT", "SYN_RECV", "FIN_WAIT1", "CLOSING", "LAST_ACK"})
#: Seconds to wait for transient states to settle before drawing the table.
SETTLE = 0.5
_HOST = "127.0.0.1"
_BUFSIZE = 1024
_LINUX = sys.platform.startswith("linux")


@dataclass(frozen=True)
class StepResult:
    """What one step did.

    Attributes:
        actor: ``"server"`` or ``"client"``.
        call: the call (``"bind"``, ``"connect"``, ...).
        ok: True when the call returned normally.
        value: what the call returned (``None`` for calls that return nothing
            or failed): the bytes of a ``recv``, the count of a ``send``, the
            client's address for ``accept``, the descriptor for ``socket``.
        message: what happened, in words, with the reason of an error.
        error: the real exception the call raised (``ConnectionRefusedError``,
            ``TimeoutError``, ...), or ``None``. ``None`` with ``ok`` False
            means the step could not even be tried (no such socket yet).
        code: the line of Python the step ran, e.g. ``server.listen()``.
    """

    actor: str
    call: str
    ok: bool
    value: Any = None
    message: str = ""
    error: BaseException | None = None
    code: str = ""

    def __str__(self) -> str:
        return f"{self.code or f'{self.actor}.{self.call}()'}: {self.message}"


class _NotPossible(Exception):
    """The step cannot be tried at all (the socket it needs does not exist)."""


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
    starts over. The stepper is closed when the cell that made it runs again,
    by :meth:`close`, and by ``labsock.close_all()``.

    Args:
        protocol: ``"tcp"`` or ``"udp"``.
        timeout: seconds a call that waits (``accept``, ``recv``,
            ``connect``) may wait before it gives up.

    Raises:
        UsageError: for another protocol or a bad timeout.

    Example:
        >>> stepper = SocketStepper()
        >>> stepper.step("client", "socket").ok
        True
        >>> stepper.step("client", "connect").message
        'the server has no address yet: press server.bind (then server.listen) first'
        >>> trace = stepper.run()
        >>> trace.calls("client")
        ['socket', 'connect', 'send', 'recv', 'close']
        >>> stepper.close()
    """

    def __init__(self, protocol: str = "tcp", *, timeout: float = 0.25) -> None:
        if protocol not in CALLS:
            raise UsageError(f"protocol must be 'tcp' or 'udp', not {protocol!r}")
        self.protocol = protocol
        self.timeout = check_seconds(timeout, name="timeout", allow_zero=False, maximum=5.0)
        super().__init__()
        self.trace = Trace()
        self._listener: TracedSocket | None = None
        self._conns: list[TracedSocket] = []
        self._client: TracedSocket | None = None
        self._server_ports: list[int] = []  # oldest first; the last is the current one
        self._client_ports: list[int] = []
        self._accepted: dict[tuple[int, int], str] = {}  # (server port, client port) -> actor
        self._reply_to: tuple[str, int] | None = None  # UDP: whom the server answers
        self._client_shut = False  # the client's socket did shutdown(SHUT_WR)
        self._passing: list[str] = []  # passing TCP states seen while the table settled
        self._note = ""  # why the kernel's table may be incomplete (see SocketTable.note)
        self._closed = False

        self.run_button.description = "whole conversation"
        self.run_button.tooltip = "start over and make every call of the usual conversation"
        self.reset_button = w.Button(description="start over", icon="undo")
        self.reset_button.on_click(lambda _b: self._guard(self.reset))
        self.buttons: dict[tuple[str, str], w.Button] = {}
        columns = []
        for actor, calls in CALLS[protocol].items():
            column: list[w.Widget] = [w.HTML(f"<b>{actor}</b>")]
            for call in calls:
                button = w.Button(description=f"{call}()", tooltip=self._code(actor, call))
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
        _registry.register(self)
        self._redraw()
        self._say(f"{protocol.upper()}: press <b>socket()</b> on the server side to begin")

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
        result = self._step(actor, call, data)
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
        self._check_open()
        self._reset()
        for actor, call in CONVERSATION[self.protocol]:
            result = self._step(actor, call, None)
            if not result.ok:
                self._redraw()
                raise NetworkError(f"{result}") from result.error
        self._redraw()
        self._say(
            f"the whole {self.protocol.upper()} conversation: "
            f"{len(self.trace)} calls, every one real"
        )
        self.last = self.trace
        return self.trace

    def reset(self) -> None:
        """Close every socket and start over with an empty trace."""
        self._check_open()
        self._reset()
        self._redraw()
        self._say("started over: no sockets")

    def _reset(self) -> None:
        self._close_sockets()
        self.trace = Trace()
        self._server_ports.clear()
        self._client_ports.clear()
        self._accepted.clear()
        self._reply_to = None
        self._client_shut = False

    def states(self) -> dict[str, str]:
        """The kernel's state of each of our sockets: ``{"server": "LISTEN", ...}``.

        Keys: ``"server"`` (the listening socket), ``"server#1"`` (the
        connection it accepted; ``"server (not accepted yet)"`` while it waits
        in the accept queue), ``"client"``; older sockets are named with their
        port (``"client (port 40312)"``). A socket no process owns any more
        (TIME_WAIT) is still listed. UDP sockets have no state: ``"NONE"``.
        """
        return {label: row.state for label, row in self._rows()}

    def close(self) -> None:
        """Close both sockets and the widgets. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._close_sockets()
            close_tree(self.widget)
        finally:
            _registry.unregister(self)
            _registry.unregister_panel(self)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    # -- the calls ----------------------------------------------------------------
    def _step(self, actor: str, call: str, data: bytes | None) -> StepResult:
        self._check_open()
        calls = CALLS[self.protocol]
        if actor not in calls:
            raise UsageError(f"actor must be 'server' or 'client', not {actor!r}")
        if call not in calls[actor]:
            raise UsageError(
                f"{actor} has no {call!r} step in {self.protocol.upper()}; "
                f"its steps are {', '.join(calls[actor])}"
            )
        payload = check_payload(data if data is not None else DEFAULT_DATA[actor])
        code = self._code(actor, call, payload)
        operation: Callable[[bytes], tuple[Any, str]] = getattr(self, f"_{actor}_{call}")
        try:
            value, message = operation(payload)
        except _NotPossible as exc:
            return StepResult(actor, call, False, None, str(exc), None, code)
        except OSError as exc:  # TimeoutError included: every socket error is a lesson
            return StepResult(actor, call, False, None, self._why(actor, call, exc), exc, code)
        return StepResult(actor, call, True, value, message, None, code)

    def _code(self, actor: str, call: str, data: bytes | None = None) -> str:
        sent = repr(data if data is not None else DEFAULT_DATA[actor])
        kind = "SOCK_STREAM" if self.protocol == "tcp" else "SOCK_DGRAM"
        target = "client_address" if actor == "server" else "server_address"
        # The server talks on what accept() returned, once there is such a socket.
        conn = self._conn() if self.protocol == "tcp" and actor == "server" else None
        talker = "conn" if conn is not None else actor
        closer = "conn" if conn is not None and conn.fileno() != -1 else actor
        return {
            "socket": f"{actor} = socket.socket(AF_INET, {kind})",
            "bind": f"{actor}.bind(('{_HOST}', 0))",
            "listen": f"{actor}.listen()",
            "accept": "conn, client_address = server.accept()",
            "connect": f"{actor}.connect(server_address)",
            "send": f"{talker}.send({sent})",
            "sendto": f"{actor}.sendto({sent}, {target})",
            "recv": f"{talker}.recv({_BUFSIZE})",
            "recvfrom": f"{actor}.recvfrom({_BUFSIZE})",
            "shutdown": f"{actor}.shutdown(SHUT_WR)",
            "close": f"{closer}.close()",
        }[call]

    def _new_socket(self, actor: str, current: TracedSocket | None) -> TracedSocket:
        if current is not None and current.fileno() != -1:
            raise _NotPossible(
                f"the {actor} already has an open socket (fd {current.fileno()}): "
                f"press {actor}.close first, or start over"
            )
        kind = socket.SOCK_STREAM if self.protocol == "tcp" else socket.SOCK_DGRAM
        sock = self.trace.socket(socket.AF_INET, kind, actor=actor)
        sock.settimeout(self.timeout)
        return sock

    def _need(self, actor: str, sock: TracedSocket | None) -> TracedSocket:
        if sock is None:
            raise _NotPossible(f"there is no {actor} socket yet: press {actor}.socket first")
        return sock

    def _server_address(self) -> tuple[str, int]:
        if not self._server_ports:
            then = " (then server.listen)" if self.protocol == "tcp" else ""
            raise _NotPossible(f"the server has no address yet: press server.bind{then} first")
        return _HOST, self._server_ports[-1]

    def _note_port(self, ports: list[int], sock: TracedSocket) -> int | None:
        try:
            port = int(sock.getsockname()[1])
        except OSError:
            return None
        if port and (not ports or ports[-1] != port):
            if port in ports:
                ports.remove(port)
            ports.append(port)
        return port or None

    def _conn(self) -> TracedSocket | None:
        """The connection the server talks on: the newest open one, else the newest."""
        for conn in reversed(self._conns):
            if conn.fileno() != -1:
                return conn
        return self._conns[-1] if self._conns else None

    # server, both protocols
    def _server_socket(self, _data: bytes) -> tuple[Any, str]:
        self._listener = self._new_socket("server", self._listener)
        kind = "TCP" if self.protocol == "tcp" else "UDP"
        return self._listener.fileno(), (
            f"a new {kind} socket (file descriptor {self._listener.fileno()}): "
            "it has no address yet"
        )

    def _server_bind(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("server", self._listener)
        sock.bind((_HOST, 0))
        port = self._note_port(self._server_ports, sock)
        if self.protocol == "udp":
            return None, (
                f"bound to {_HOST}:{port}: datagrams sent to this port now wait in its "
                "receive buffer (UDP needs no listen and no accept)"
            )
        return None, (
            f"bound to {_HOST}:{port}: the port is the server's, but nothing can connect "
            "yet: it does not listen"
        )

    def _server_close(self, _data: bytes) -> tuple[Any, str]:
        conn = self._conn() if self.protocol == "tcp" else None
        if conn is not None and conn.fileno() != -1:
            conn.close()
            return None, (
                f"closed the connection {conn.actor}: its kernel sends FIN. "
                "The listening socket still listens: press close again to close it too"
            )
        sock = self._need("server", self._listener)
        if sock.fileno() == -1:
            sock.close()
            return None, "it was already closed: closing again does nothing"
        sock.close()
        if self.protocol == "udp":
            return None, "closed the server socket: datagrams sent to its port are now lost"
        return None, "closed the listening socket: new connections are refused from now on"

    # server, TCP
    def _server_listen(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("server", self._listener)
        bound = sock.fileno() == -1 or self._bound(sock)
        sock.listen()
        port = self._note_port(self._server_ports, sock)
        text = (
            f"listening on port {port}: the kernel now answers connection requests (SYN) "
            "by itself and queues the connections until accept()"
        )
        if not bound:
            text += (
                f". There was no bind(): the kernel picked port {port} for you, which no "
                "client knows, so servers bind first"
            )
        return None, text

    def _server_accept(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("server", self._listener)
        conn, address = sock.accept()
        assert isinstance(conn, TracedSocket)
        conn.settimeout(self.timeout)
        self._conns.append(conn)
        server_port, client_port = int(conn.getsockname()[1]), int(address[1])
        self._accepted[server_port, client_port] = conn.actor
        return (str(address[0]), client_port), (
            f"accepted the connection from {address[0]}:{client_port}: accept() returns a NEW "
            f"socket ({conn.actor}) for this client; the listening socket keeps listening"
        )

    def _server_recv(self, _data: bytes) -> tuple[Any, str]:
        sock = self._conn() or self._need("server", self._listener)
        data = sock.recv(_BUFSIZE)
        if not data:
            return data, (
                "recv() returned b'': the client closed its sending side (its FIN arrived). "
                "That is the end of the stream: nothing more will come, so close too"
            )
        return data, f"got {len(data)} bytes: {data!r}"

    def _server_send(self, data: bytes) -> tuple[Any, str]:
        sock = self._conn() or self._need("server", self._listener)
        n = sock.send(data)
        return n, (
            f"the kernel took {n} bytes: they are on their way to the client; send() does "
            "not wait for the client to read them"
        )

    # server, UDP
    def _server_recvfrom(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("server", self._listener)
        data, address = sock.recvfrom(_BUFSIZE)
        self._reply_to = (str(address[0]), int(address[1]))
        return (data, self._reply_to), (
            f"got {len(data)} bytes from {address[0]}:{address[1]}: recvfrom() also says "
            "who sent them, so the server knows whom to answer"
        )

    def _server_sendto(self, data: bytes) -> tuple[Any, str]:
        sock = self._need("server", self._listener)
        if self._reply_to is None:
            raise _NotPossible(
                "the server does not know whom to answer: recvfrom() tells it the client's "
                "address, so press server.recvfrom first"
            )
        n = sock.sendto(data, self._reply_to)
        host, port = self._reply_to
        return n, f"sent {n} bytes to {host}:{port}: every datagram carries its destination"

    # client, both protocols
    def _client_socket(self, _data: bytes) -> tuple[Any, str]:
        self._client = self._new_socket("client", self._client)
        self._client_shut = False
        kind = "TCP" if self.protocol == "tcp" else "UDP"
        return self._client.fileno(), (
            f"a new {kind} socket (file descriptor {self._client.fileno()}): clients "
            "usually do not bind; the kernel gives them a port when they first need one"
        )

    def _client_close(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("client", self._client)
        if sock.fileno() == -1:
            sock.close()
            return None, "it was already closed: closing again does nothing"
        sock.close()
        if self.protocol == "udp":
            return None, "closed the client socket: UDP tells nobody"
        return None, (
            "closed the client socket: its kernel sends FIN (when it is connected) and "
            "finishes the connection on its own, even though the socket object is gone"
        )

    # client, TCP
    def _client_connect(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("client", self._client)
        address = self._server_address()
        self._connect(sock, address)
        port = self._note_port(self._client_ports, sock)
        return None, (
            f"connected from port {port} to port {address[1]}: the three-way handshake "
            "(SYN, SYN+ACK, ACK) is done by the two kernels, before the server calls accept()"
        )

    def _connect(self, sock: TracedSocket, address: tuple[str, int]) -> None:
        if not _LINUX or sock.fileno() == -1:
            sock.connect(address)
            return
        # With a Python timeout the socket is non-blocking inside, and after a
        # refused connect Linux fails the next connect() with ECONNABORTED
        # before a third one works: a student would press connect twice for
        # nothing. A blocking connect bounded by SO_SNDTIMEO has no such step.
        seconds = int(self.timeout)
        micros = int((self.timeout - seconds) * 1e6)
        sock.settimeout(None)
        try:
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("@ll", seconds, micros)
            )
            sock.connect(address)
        finally:
            sock.settimeout(self.timeout)

    def _client_send(self, data: bytes) -> tuple[Any, str]:
        sock = self._need("client", self._client)
        n = sock.send(data)
        return n, (
            f"the kernel took {n} bytes: they are on their way to the server; send() does "
            "not wait for the server to read them"
        )

    def _client_recv(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("client", self._client)
        data = sock.recv(_BUFSIZE)
        if not data:
            return data, (
                "recv() returned b'': the server closed its side (its FIN arrived): "
                "the end of the stream"
            )
        return data, f"got {len(data)} bytes: {data!r}"

    def _client_shutdown(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("client", self._client)
        sock.shutdown(socket.SHUT_WR)
        self._client_shut = True
        return None, (
            "shutdown(SHUT_WR): the client sent FIN, so it will send nothing more, but it "
            "can still receive; the server's recv() will return b''"
        )

    # client, UDP
    def _client_sendto(self, data: bytes) -> tuple[Any, str]:
        sock = self._need("client", self._client)
        address = self._server_address()
        n = sock.sendto(data, address)
        port = self._note_port(self._client_ports, sock)
        text = f"sent {n} bytes from port {port} to port {address[1]}"
        listener = self._listener
        if listener is None or listener.fileno() == -1:
            text += (
                ": no socket is there any more, so the datagram is lost, and sendto() "
                "cannot tell: UDP promises nothing"
            )
        else:
            text += ": no connection, no handshake; it waits in the server's receive buffer"
        return n, text

    def _client_recvfrom(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("client", self._client)
        data, address = sock.recvfrom(_BUFSIZE)
        return (data, (str(address[0]), int(address[1]))), (
            f"got {len(data)} bytes from {address[0]}:{address[1]}: {data!r}"
        )

    def _listening(self) -> bool:
        sock = self._listener
        if sock is None or sock.fileno() == -1 or self.protocol != "tcp":
            return False
        option = getattr(socket, "SO_ACCEPTCONN", None)
        try:
            if option is not None:
                return bool(sock.getsockopt(socket.SOL_SOCKET, option))
        except OSError:
            pass
        return self._bound(sock)  # not every system can tell: a guess

    @staticmethod
    def _bound(sock: TracedSocket) -> bool:
        try:
            return int(sock.getsockname()[1]) != 0
        except OSError:
            return False

    # -- explaining errors ------------------------------------------------------------
    def _why(self, actor: str, call: str, exc: OSError) -> str:
        """The real error, then what it means here, in a student's words."""
        code = exc.errno
        peer = "client" if actor == "server" else "server"
        said = f"{type(exc).__name__}"
        if exc.strerror:
            said += f" [Errno {code}] {exc.strerror}"
        elif str(exc):
            said += f": {exc}"
        if code == errno.EBADF:
            why = f"this {actor} socket is closed: a closed socket cannot be used again"
            listener = self._listener
            if (
                actor == "server"
                and call != "close"
                and listener is not None
                and (listener.fileno() != -1 and self._conn() is not None)
            ):
                why += "; a client must connect again, and the server accept() the new connection"
            else:
                why += f"; press {actor}.socket for a new one"
        elif isinstance(exc, TimeoutError):
            why = self._why_timeout(actor, call, peer)
        elif isinstance(exc, ConnectionRefusedError):
            listener = self._listener
            if listener is not None and listener.fileno() != -1:
                why = "nothing is listening yet: press server.listen first"
            else:
                why = "nothing is listening there any more: the server socket is closed"
        elif code == errno.EINVAL and call == "accept":
            why = "accept() needs a listening socket: call listen() first"
        elif code == errno.EINVAL and call == "bind":
            why = "this socket is already bound: a socket is bound once, to one address"
        elif code == errno.EISCONN:
            why = "this socket is already connected: a TCP socket connects once"
        elif actor == "client" and call == "send" and self._client_shut:
            why = (
                "the client shut down its sending side (SHUT_WR): it cannot send any more; "
                "it can still receive"
            )
        elif code == errno.ENOTCONN or (
            call in ("send", "shutdown") and not self._connected(actor)
        ):
            why = self._why_not_connected(actor)
        elif isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            why = self._why_broken(actor, peer)
        elif isinstance(exc, ConnectionAbortedError):
            why = (
                "the previous connect() failed and left this socket in a failed state: "
                "press connect again, or better, close it and make a new socket"
            )
        elif code == errno.EINPROGRESS:
            why = f"the server did not finish the handshake within {self.timeout:g} s"
        else:
            why = "see the error: it is the kernel's own answer"
        return f"{said}: {why}"

    def _why_timeout(self, actor: str, call: str, peer: str) -> str:
        waited = f"(waited {self.timeout:g} s)"
        if self.protocol == "udp" and actor == "server" and not self._server_ports:
            return (
                f"nothing arrived {waited}: the server socket has no address yet, so nothing "
                "can reach it: press server.bind first"
            )
        if call == "accept":
            return f"no client is waiting to be accepted {waited}: press client.connect first"
        if actor == "server" and self.protocol == "tcp" and self._conn() is None:
            return (
                f"the listening socket carries no data, it only hands out connections, so "
                f"recv() on it waited for nothing {waited}: press server.accept first"
            )
        if call == "connect":
            return f"the server did not answer the handshake {waited}"
        return f"nothing to receive yet {waited}: the {peer} has not sent anything"

    def _why_not_connected(self, actor: str) -> str:
        if actor == "server":
            first = "server.accept" if self._listening() else "server.listen, then server.accept"
            return (
                "the server's own socket is never connected to anyone: it listens and hands "
                f"out connections. Press {first}, and talk on the socket accept() returns"
            )
        return "the client is not connected: press client.connect first"

    def _why_broken(self, actor: str, peer: str) -> str:
        return (
            f"the connection is over: the {peer} closed its socket, and its kernel answered "
            f"what the {actor} sent with a reset (RST)"
        )

    def _connected(self, actor: str) -> bool:
        sock = (self._conn() or self._listener) if actor == "server" else self._client
        if sock is None or sock.fileno() == -1:
            return True  # let EBADF and friends speak for themselves
        try:
            sock.getpeername()
        except OSError:
            return False
        return True

    # -- the view -------------------------------------------------------------------
    def _rows(self) -> list[tuple[str, SocketRow]]:
        ports = set(self._server_ports) | set(self._client_ports)
        if not ports:
            return []
        kinds = "tcp4" if self.protocol == "tcp" else "udp4"
        table = socket_table(ports=ports, kinds=kinds)
        self._note = table.note
        labelled = []
        for row in table.rows:
            label = self._label(row)
            if label is not None:
                labelled.append((label, row))
        return labelled

    def _label(self, row: SocketRow) -> str | None:
        local, remote = row.local_port, row.remote_port
        if local in self._server_ports:
            if remote is None or self.protocol == "udp":
                current = local == self._server_ports[-1]
                return "server" if current else f"server (port {local})"
            name = self._accepted.get((local, remote))
            return name if name is not None else "server (not accepted yet)"
        if local in self._client_ports:
            return "client" if local == self._client_ports[-1] else f"client (port {local})"
        return None

    def _settle(self) -> tuple[list[tuple[str, SocketRow]], list[str]]:
        """The table once no socket is in a passing state; and the passing states seen."""
        deadline = time.monotonic() + SETTLE
        seen: list[str] = []
        while True:
            rows = self._rows()
            passing = [f"{label} {row.state}" for label, row in rows if row.state in TRANSIENT]
            seen.extend(p for p in passing if p not in seen)
            if not passing or time.monotonic() > deadline:
                return rows, seen
            time.sleep(0.01)

    def _redraw(self) -> None:
        from labsock._viz import figures as plots

        rows, self._passing = self._settle() if self.protocol == "tcp" else (self._rows(), [])
        cells = [
            (label, row.name, *row.cells()[1:3], row.state if self.protocol == "tcp" else "-")
            for label, row in rows
        ]
        if cells:
            table = html_table(["who", "proto", "local address", "remote address", "state"], cells)
        else:
            table = "<p>(the kernel lists none of our sockets)</p>"
        if self._note:
            table += f"<p><em>{html.escape(self._note)}</em></p>"
        if self.protocol == "udp":
            table += "<p><em>UDP keeps no connection, so there is no state to show.</em></p>"
        self.table.value = table
        self.figure.value = png(plots.sequence(self.trace)) if len(self.trace) else b""

    def _story(self, result: StepResult) -> str:
        text = f"<code>{html.escape(result.code)}</code>: {html.escape(result.message)}"
        if self._passing:
            text += html.escape(f" (on the way: {', '.join(self._passing)})")
        return text

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except LabsockError as exc:
            self._say(f"<b>Could not do that:</b> {html.escape(str(exc))}", error=True)

    def _check_open(self) -> None:
        if self._closed:
            raise ClosedError(
                "this socket stepper is closed (its cell ran again, or close() or "
                "labsock.close_all() was called): run the cell that made it to start a new one"
            )

    def _close_sockets(self) -> None:
        for sock in [self._client, *reversed(self._conns), self._listener]:
            if sock is not None and sock.fileno() != -1:
                sock.close()
        self._client, self._listener = None, None
        self._conns = []
