"""The socket stepper's machine: a real server and a real client socket, one call at a time.

A :class:`StepperMachine` holds a real server socket and a real client socket,
both traced into one :class:`~labsock.Trace`. :meth:`StepperMachine.step`
makes ONE call on one of them, in the caller's thread, with a short timeout
wherever the call would wait, and returns a :class:`StepResult`: what the call
returned, or the real error it raised with what that error means here. Calls
made in the wrong order really are made. The machine also reads the kernel's
table of its sockets (:meth:`StepperMachine.states`), so the TCP states
(LISTEN, ESTABLISHED, FIN_WAIT2, CLOSE_WAIT, TIME_WAIT) can be shown.

Every step goes through one table, :data:`HANDLERS`, keyed by ``(actor,
call)`` (as h11 dispatches through ``READERS``/``WRITERS``): a reader sees
there every call the machine can make and the method that makes it;
:data:`CALLS` says which of them each protocol offers.

The machine draws nothing and imports neither ipywidgets nor matplotlib; the
panel ``labsock.widgets.SocketStepper`` (``labsock._panels.stepper``) is its
view. It is an endpoint: re-running the cell that made it, ``close()`` and
``labsock.close_all()`` close its sockets.
"""

from __future__ import annotations

import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from labsock._core.errors import ClosedError, NetworkError, UsageError
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.stepper_explain import Situation, explain
from labsock._core.validate import check_payload, check_seconds
from labsock._endpoints.base import Endpoint
from labsock._endpoints.sockettable import SocketRow, socket_table
from labsock._endpoints.trace import Trace, TracedSocket
from labsock._results.stepper import StepResult

__all__ = [
    "CALLS",
    "CONVERSATION",
    "DEFAULT_DATA",
    "HANDLERS",
    "SETTLE",
    "TRANSIENT",
    "StepperMachine",
]

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

#: The canonical conversation :meth:`StepperMachine.run` performs, by protocol.
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
#: Seconds to wait for transient states to settle before reading the table.
SETTLE = 0.5
_HOST = "127.0.0.1"
_BUFSIZE = 1024
_LINUX = sys.platform.startswith("linux")


class _NotPossible(Exception):
    """The step cannot be tried at all (the socket it needs does not exist)."""


#: A row of the kernel's socket table, labelled with whose socket it is.
Labelled = tuple[str, SocketRow]


class StepperMachine(Endpoint):
    """A real server and a real client socket, one call at a time; no widgets.

    TCP: the server can ``socket``, ``bind``, ``listen``, ``accept``,
    ``recv``, ``send``, ``close``; the client ``socket``, ``connect``,
    ``send``, ``recv``, ``shutdown`` (``SHUT_WR``), ``close``. UDP
    (``protocol="udp"``): the server ``socket``, ``bind``, ``recvfrom``,
    ``sendto``, ``close``; the client ``socket``, ``sendto``, ``recvfrom``,
    ``close``. The server's ``close`` closes the connection ``accept``
    returned while it is open, else the listening socket.

    :meth:`step` makes one call and returns a :class:`StepResult` (an error is
    a result too, never an exception); :meth:`run` starts over and performs
    the whole conversation; :meth:`states` reads the TCP states; :meth:`reset`
    closes every socket and starts over. Every call is recorded in
    :attr:`trace`.

    Args:
        protocol: ``"tcp"`` or ``"udp"``.
        timeout: seconds a call that waits (``accept``, ``recv``,
            ``connect``) may wait before it gives up.

    Raises:
        UsageError: for another protocol or a bad timeout.

    Example:
        >>> machine = StepperMachine()
        >>> machine.step("client", "socket").ok
        True
        >>> machine.step("client", "connect").message
        'the server has no address yet: press server.bind (then server.listen) first'
        >>> machine.run().calls("client")
        ['socket', 'connect', 'send', 'recv', 'close']
        >>> machine.close()
    """

    kind = N_("socket stepper")

    def __init__(self, protocol: str = "tcp", *, timeout: float = 0.25) -> None:
        if protocol not in CALLS:
            raise UsageError(
                _("protocol must be 'tcp' or 'udp', not {protocol!r}").format(protocol=protocol)
            )
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
        self._note = ""  # why the kernel's table may be incomplete (see SocketTable.note)
        self._register()

    @property
    def calls(self) -> dict[str, tuple[str, ...]]:
        """The calls each side can make in this protocol: ``CALLS[protocol]``."""
        return CALLS[self.protocol]

    # -- stepping -------------------------------------------------------------
    def step(self, actor: str, call: str, data: bytes | None = None) -> StepResult:
        """Make one real call on one side; return what happened.

        Args:
            actor: ``"server"`` or ``"client"``.
            call: one of ``CALLS[protocol][actor]``.
            data: what ``send``/``sendto`` sends (a default greeting if None).

        Returns:
            A :class:`StepResult`. A call that fails is not raised: its real
            exception is in ``.error`` and explained in ``.message``.

        Raises:
            UsageError: for an unknown actor or call (not a socket error).
            ClosedError: once the machine is closed.
        """
        self._check_open()
        calls = self.calls
        if actor not in calls:
            raise UsageError(
                _("actor must be 'server' or 'client', not {actor!r}").format(actor=actor)
            )
        if call not in calls[actor]:
            raise UsageError(
                _("{actor} has no {call!r} step in {protocol}; its steps are {steps}").format(
                    actor=actor,
                    call=call,
                    protocol=self.protocol.upper(),
                    steps=", ".join(calls[actor]),
                )
            )
        payload = check_payload(data if data is not None else DEFAULT_DATA[actor])
        code = self.code(actor, call, payload)
        handler = HANDLERS[actor, call]
        try:
            value, message = handler(self, payload)
        except _NotPossible as exc:
            return StepResult(actor, call, False, None, str(exc), None, code)
        except OSError as exc:  # TimeoutError included: every socket error is a lesson
            why = explain(actor, call, exc, self._situation(actor))
            return StepResult(actor, call, False, None, why, exc, code)
        return StepResult(actor, call, True, value, message, None, code)

    def run(self) -> Trace:
        """Start over, then make every call of the usual conversation; return the trace.

        TCP: server socket, bind, listen; client socket, connect; server
        accept; client send; server recv, send; client recv, close; server
        close.

        Raises:
            NetworkError: (with the explanation) if a step fails, which only
                happens when the machine misbehaves.
            ClosedError: once the machine is closed.
        """
        self.reset()
        for actor, call in CONVERSATION[self.protocol]:
            result = self.step(actor, call)
            if not result.ok:
                raise NetworkError(f"{result}") from result.error
        return self.trace

    def reset(self) -> None:
        """Close every socket and start over with an empty trace.

        Raises:
            ClosedError: once the machine is closed.
        """
        self._check_open()
        self._close_sockets()
        self.trace = Trace()
        self._server_ports.clear()
        self._client_ports.clear()
        self._accepted.clear()
        self._reply_to = None
        self._client_shut = False

    # -- the kernel's view of our sockets ----------------------------------------
    def states(self) -> dict[str, str]:
        """The kernel's state of each of our sockets: ``{"server": "LISTEN", ...}``.

        Keys: ``"server"`` (the listening socket), ``"server#1"`` (the
        connection it accepted; ``"server (not accepted yet)"`` while it waits
        in the accept queue), ``"client"``; older sockets are named with their
        port (``"client (port 40312)"``). A socket no process owns any more
        (TIME_WAIT) is still listed. UDP sockets have no state: ``"NONE"``.
        """
        return {label: row.state for label, row in self.rows()}

    def rows(self) -> list[Labelled]:
        """The kernel's rows for our sockets' ports, each labelled as :meth:`states` names it."""
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

    @property
    def note(self) -> str:
        """Why the table :meth:`rows` last read may be incomplete ("" when it is whole)."""
        return self._note

    def settle(self, seconds: float = SETTLE) -> tuple[list[Labelled], list[str]]:
        """The rows once no socket is in a passing state; and the passing states seen.

        A TCP socket passes through some states (``TRANSIENT``) on its own, a
        packet later: this polls the table for at most ``seconds`` until none
        is left, and names the ones it saw on the way (``"client FIN_WAIT1"``).
        UDP has no states: the rows at once, and no passing state.
        """
        if self.protocol != "tcp":
            return self.rows(), []
        deadline = time.monotonic() + seconds
        seen: list[str] = []
        while True:
            rows = self.rows()
            passing = [f"{label} {row.state}" for label, row in rows if row.state in TRANSIENT]
            seen.extend(p for p in passing if p not in seen)
            if not passing or time.monotonic() > deadline:
                return rows, seen
            time.sleep(0.01)

    def _label(self, row: SocketRow) -> str | None:
        local, remote = row.local_port, row.remote_port
        if local in self._server_ports:
            if remote is None or self.protocol == "udp":
                current = local == self._server_ports[-1]
                return "server" if current else _("server (port {port})").format(port=local)
            name = self._accepted.get((local, remote))
            return name if name is not None else _("server (not accepted yet)")
        if local in self._client_ports:
            if self.protocol == "tcp" and remote is not None and remote not in self._server_ports:
                # The same ephemeral port, earlier, to another server: a stranger
                # still in TIME_WAIT, not our client.
                return None
            if local == self._client_ports[-1]:
                return "client"
            return _("client (port {port})").format(port=local)
        return None

    # -- the end ------------------------------------------------------------------
    def _check_open(self, action: str = N_("use this {kind}")) -> None:
        if self.closed:
            raise ClosedError(
                _(
                    "this socket stepper is closed (its cell ran again, or close() or "
                    "labsock.close_all() was called): run the cell that made it to start a new one"
                )
            )

    def _release(self) -> None:
        self._close_sockets()

    def __repr__(self) -> str:
        state = _("closed") if self.closed else _("{n} calls").format(n=len(self.trace))
        return _("<StepperMachine {protocol} {state}>").format(
            protocol=self.protocol.upper(), state=state
        )

    def _close_sockets(self) -> None:
        for sock in [self._client, *reversed(self._conns), self._listener]:
            if sock is not None and sock.fileno() != -1:
                sock.close()
        self._client, self._listener = None, None
        self._conns = []

    # -- the calls ----------------------------------------------------------------
    def code(self, actor: str, call: str, data: bytes | None = None) -> str:
        """The line of Python that step ``actor.call`` runs now, e.g. ``server.listen()``."""
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
                _(
                    "the {actor} already has an open socket (fd {fd}): "
                    "press {actor}.close first, or start over"
                ).format(actor=actor, fd=current.fileno())
            )
        kind = socket.SOCK_STREAM if self.protocol == "tcp" else socket.SOCK_DGRAM
        sock = self.trace.socket(socket.AF_INET, kind, actor=actor)
        sock.settimeout(self.timeout)
        return sock

    def _need(self, actor: str, sock: TracedSocket | None) -> TracedSocket:
        if sock is None:
            raise _NotPossible(
                _("there is no {actor} socket yet: press {actor}.socket first").format(actor=actor)
            )
        return sock

    def _server_address(self) -> tuple[str, int]:
        if not self._server_ports:
            raise _NotPossible(
                _("the server has no address yet: press server.bind (then server.listen) first")
                if self.protocol == "tcp"
                else _("the server has no address yet: press server.bind first")
            )
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
            _("a new {kind} socket (file descriptor {fd}): it has no address yet").format(
                kind=kind, fd=self._listener.fileno()
            )
        )

    def _server_bind(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("server", self._listener)
        sock.bind((_HOST, 0))
        port = self._note_port(self._server_ports, sock)
        if self.protocol == "udp":
            return None, (
                _(
                    "bound to {host}:{port}: datagrams sent to this port now wait in its "
                    "receive buffer (UDP needs no listen and no accept)"
                ).format(host=_HOST, port=port)
            )
        return None, (
            _(
                "bound to {host}:{port}: the port is the server's, but nothing can connect "
                "yet: it does not listen"
            ).format(host=_HOST, port=port)
        )

    def _server_close(self, _data: bytes) -> tuple[Any, str]:
        conn = self._conn() if self.protocol == "tcp" else None
        if conn is not None and conn.fileno() != -1:
            conn.close()
            return None, (
                _(
                    "closed the connection {name}: its kernel sends FIN. "
                    "The listening socket still listens: press close again to close it too"
                ).format(name=conn.actor)
            )
        sock = self._need("server", self._listener)
        if sock.fileno() == -1:
            sock.close()
            return None, _("it was already closed: closing again does nothing")
        sock.close()
        if self.protocol == "udp":
            return None, _("closed the server socket: datagrams sent to its port are now lost")
        return None, _("closed the listening socket: new connections are refused from now on")

    # server, TCP
    def _server_listen(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("server", self._listener)
        bound = sock.fileno() == -1 or self._bound(sock)
        sock.listen()
        port = self._note_port(self._server_ports, sock)
        text = _(
            "listening on port {port}: the kernel now answers connection requests (SYN) "
            "by itself and queues the connections until accept()"
        ).format(port=port)
        if not bound:
            text += _(
                ". There was no bind(): the kernel picked port {port} for you, which no "
                "client knows, so servers bind first"
            ).format(port=port)
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
            _(
                "accepted the connection from {host}:{port}: accept() returns a NEW "
                "socket ({name}) for this client; the listening socket keeps listening"
            ).format(host=address[0], port=client_port, name=conn.actor)
        )

    def _server_recv(self, _data: bytes) -> tuple[Any, str]:
        sock = self._conn() or self._need("server", self._listener)
        data = sock.recv(_BUFSIZE)
        if not data:
            return data, (
                _(
                    "recv() returned b'': the client closed its sending side (its FIN arrived). "
                    "That is the end of the stream: nothing more will come, so close too"
                )
            )
        return data, _("got {n} bytes: {data}").format(n=len(data), data=repr(data))

    def _server_send(self, data: bytes) -> tuple[Any, str]:
        sock = self._conn() or self._need("server", self._listener)
        n = sock.send(data)
        return n, (
            _(
                "the kernel took {n} bytes: they are on their way to the client; send() does "
                "not wait for the client to read them"
            ).format(n=n)
        )

    # server, UDP
    def _server_recvfrom(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("server", self._listener)
        data, address = sock.recvfrom(_BUFSIZE)
        self._reply_to = (str(address[0]), int(address[1]))
        return (data, self._reply_to), (
            _(
                "got {n} bytes from {host}:{port}: recvfrom() also says "
                "who sent them, so the server knows whom to answer"
            ).format(n=len(data), host=address[0], port=address[1])
        )

    def _server_sendto(self, data: bytes) -> tuple[Any, str]:
        sock = self._need("server", self._listener)
        if self._reply_to is None:
            raise _NotPossible(
                _(
                    "the server does not know whom to answer: recvfrom() tells it the client's "
                    "address, so press server.recvfrom first"
                )
            )
        n = sock.sendto(data, self._reply_to)
        host, port = self._reply_to
        return n, _(
            "sent {n} bytes to {host}:{port}: every datagram carries its destination"
        ).format(n=n, host=host, port=port)

    # client, both protocols
    def _client_socket(self, _data: bytes) -> tuple[Any, str]:
        self._client = self._new_socket("client", self._client)
        self._client_shut = False
        kind = "TCP" if self.protocol == "tcp" else "UDP"
        return self._client.fileno(), (
            _(
                "a new {kind} socket (file descriptor {fd}): clients usually do not bind; "
                "the kernel gives them a port when they first need one"
            ).format(kind=kind, fd=self._client.fileno())
        )

    def _client_close(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("client", self._client)
        if sock.fileno() == -1:
            sock.close()
            return None, _("it was already closed: closing again does nothing")
        sock.close()
        if self.protocol == "udp":
            return None, _("closed the client socket: UDP tells nobody")
        return None, _(
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
            _(
                "connected from port {port} to port {server}: the three-way handshake "
                "(SYN, SYN+ACK, ACK) is done by the two kernels, before the server calls accept()"
            ).format(port=port, server=address[1])
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
            _(
                "the kernel took {n} bytes: they are on their way to the server; send() does "
                "not wait for the server to read them"
            ).format(n=n)
        )

    def _client_recv(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("client", self._client)
        data = sock.recv(_BUFSIZE)
        if not data:
            return data, (
                _(
                    "recv() returned b'': the server closed its side (its FIN arrived): "
                    "the end of the stream"
                )
            )
        return data, _("got {n} bytes: {data}").format(n=len(data), data=repr(data))

    def _client_shutdown(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("client", self._client)
        sock.shutdown(socket.SHUT_WR)
        self._client_shut = True
        return None, (
            _(
                "shutdown(SHUT_WR): the client sent FIN, so it will send nothing more, but it "
                "can still receive; the server's recv() will return b''"
            )
        )

    # client, UDP
    def _client_sendto(self, data: bytes) -> tuple[Any, str]:
        sock = self._need("client", self._client)
        address = self._server_address()
        n = sock.sendto(data, address)
        port = self._note_port(self._client_ports, sock)
        text = _("sent {n} bytes from port {port} to port {server}").format(
            n=n, port=port, server=address[1]
        )
        listener = self._listener
        if listener is None or listener.fileno() == -1:
            text += _(
                ": no socket is there any more, so the datagram is lost, and sendto() "
                "cannot tell: UDP promises nothing"
            )
        else:
            text += _(": no connection, no handshake; it waits in the server's receive buffer")
        return n, text

    def _client_recvfrom(self, _data: bytes) -> tuple[Any, str]:
        sock = self._need("client", self._client)
        data, address = sock.recvfrom(_BUFSIZE)
        return (data, (str(address[0]), int(address[1]))), (
            _("got {n} bytes from {host}:{port}: {data}").format(
                n=len(data), host=address[0], port=address[1], data=repr(data)
            )
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
    def _situation(self, actor: str) -> Situation:
        """The sockets as they are now, for :func:`explain` (it makes no call itself)."""
        listener = self._listener
        return Situation(
            protocol=self.protocol,
            timeout=self.timeout,
            listener_open=listener is not None and listener.fileno() != -1,
            accepted=self._conn() is not None,
            server_bound=bool(self._server_ports),
            client_shut=self._client_shut,
            connected=self._connected(actor),
            listening=self._listening(),
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


#: What a handler does: make its call with ``data`` (what send/sendto sends),
#: and return what the call returned and what happened, in words.
Handler = Callable[[StepperMachine, bytes], tuple[Any, str]]

#: Every step the machine can make, by ``(actor, call)``, and the method that
#: makes it: the one place a step is dispatched (as h11 dispatches through
#: ``READERS``/``WRITERS``). ``CALLS`` says which of them each protocol offers;
#: a key shared by both protocols (``socket``, ``bind``, ``close``) has one
#: handler that looks at the protocol itself.
HANDLERS: dict[tuple[str, str], Handler] = {
    # server, both protocols
    ("server", "socket"): StepperMachine._server_socket,
    ("server", "bind"): StepperMachine._server_bind,
    ("server", "close"): StepperMachine._server_close,
    # server, TCP
    ("server", "listen"): StepperMachine._server_listen,
    ("server", "accept"): StepperMachine._server_accept,
    ("server", "recv"): StepperMachine._server_recv,
    ("server", "send"): StepperMachine._server_send,
    # server, UDP
    ("server", "recvfrom"): StepperMachine._server_recvfrom,
    ("server", "sendto"): StepperMachine._server_sendto,
    # client, both protocols
    ("client", "socket"): StepperMachine._client_socket,
    ("client", "close"): StepperMachine._client_close,
    # client, TCP
    ("client", "connect"): StepperMachine._client_connect,
    ("client", "send"): StepperMachine._client_send,
    ("client", "recv"): StepperMachine._client_recv,
    ("client", "shutdown"): StepperMachine._client_shutdown,
    # client, UDP
    ("client", "sendto"): StepperMachine._client_sendto,
    ("client", "recvfrom"): StepperMachine._client_recvfrom,
}
