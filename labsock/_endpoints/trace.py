"""Traces: every socket call both sides make, recorded in order.

A :class:`Trace` hands out :class:`TracedSocket` objects. A traced socket *is*
a real ``socket.socket`` (a subclass), so the lesson's code stays plain
socket code except the line that creates the socket; each call it makes
(``socket``, ``bind``, ``listen``, ``connect``, ``accept``, ``send``,
``sendall``, ``sendto``, ``sendmsg``, ``recv`` and friends, ``shutdown``,
``close``) is recorded as a frozen :class:`TraceEvent`. Errors the real call raises are
recorded and re-raised unchanged. The echo servers record their calls into a
trace too (``TCPEchoServer(trace=trace)``).

The trace is then a table (:meth:`Trace.table`) or a Mermaid sequence diagram
(:meth:`Trace.to_mermaid`), which JupyterLab draws from a Markdown cell; both
are written by :mod:`labsock._core.trace_text`. ``plots.sequence`` draws it with
matplotlib (:mod:`labsock._viz.sequence`).

When does a call "happen"? A call that hands something to the kernel
(``send``, ``connect``, ``close``) is placed at the moment it was made; one
that waits for something to arrive (``recv``, ``accept``) at the moment it
returned. So a ``recv`` always comes after the ``send`` whose bytes it got,
even when the two run in different threads.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from labsock._core.errors import UsageError
from labsock._core.formatting import describe_bytes, format_address
from labsock._core.guard import check_bind, check_destination, family_of
from labsock._core.i18n import gettext as _
from labsock._core.trace_events import (
    WAITING,
    Address,
    TraceEvent,
    accepted_text,
    address_of,
    bound_text,
    end_of_stream_text,
    from_text,
    received_from_text,
    taken_text,
    to_text,
)

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

__all__ = ["Trace", "TraceEvent", "TracedSocket"]

T = TypeVar("T")

#: Bytes of payload shown in a summary; the rest is collapsed to "…".
_PREVIEW = 16


def _size(buffer: Any) -> int:
    with memoryview(buffer) as view:
        return view.nbytes


def _payload(data: Any) -> tuple[int, str]:
    """Size and a summary: ``5 bytes b'hello'``, long payloads cut with "…"."""
    try:
        view = memoryview(data)
    except TypeError:
        # Not bytes (a str, say): the real call will refuse it, and that
        # refusal is what the trace must show, so no error of our own here.
        return 0, f"{type(data).__name__} {repr(data)[:_PREVIEW]}"
    with view, view.cast("B") as flat, flat[:_PREVIEW] as head:
        size = flat.nbytes
        preview = repr(bytes(head))
    return size, f"{describe_bytes(size)} {preview}" + ("…" if size > _PREVIEW else "")


def _received(data: Any, protocol: str) -> str:
    size, text = _payload(data)
    if size == 0 and protocol == "tcp":
        return end_of_stream_text()
    return text


def _error(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _family_and_kind(family: int, kind: int) -> str:
    try:
        family_name = socket.AddressFamily(family).name
    except ValueError:
        family_name = str(family)
    try:
        kind_name = socket.SocketKind(kind).name
    except ValueError:
        kind_name = str(kind)
    return f"{family_name}, {kind_name}"


_SHUT_NAMES = {socket.SHUT_RD: "SHUT_RD", socket.SHUT_WR: "SHUT_WR", socket.SHUT_RDWR: "SHUT_RDWR"}


class TracedSocket(socket.socket):
    """A real ``socket.socket`` that records its calls into a :class:`Trace`.

    Make one with :meth:`Trace.socket` (or get one from ``accept()`` on a
    traced listening socket). Everything else behaves exactly like a plain
    socket: timeouts, options, ``with`` blocks, selectors. A traced socket
    that is never closed is reclaimed like a plain one (the interpreter
    closes its descriptor and warns with ``ResourceWarning``); the trace keeps
    no reference to it.
    """

    def __init__(
        self,
        family: int = -1,
        type: int = -1,
        proto: int = -1,
        fileno: int | None = None,
        *,
        trace: Trace,
        actor: str,
    ) -> None:
        super().__init__(family, type, proto, fileno)
        self._trace = trace
        self._actor = actor
        self._close_recorded = False
        # The loopback guard's last verdict on a destination: (address as
        # given, resolved address). A server answering one client, or a
        # client sending to one server, is checked once, not per datagram.
        self._cleared: tuple[Any, Any] | None = None

    @property
    def actor(self) -> str:
        """Who this socket records as (``"client"``, ``"server#1"``, ...)."""
        return self._actor

    @property
    def trace(self) -> Trace:
        """The trace this socket records into."""
        return self._trace

    # -- the loopback guard ---------------------------------------------
    def _guard(self, address: Any, *, bind: bool = False) -> Any:
        """The address to hand to the kernel, once the loopback guard agrees.

        Raises ``NotLoopback`` (recorded as the call's error) for an address
        other than loopback. Only internet sockets are checked: a Unix
        socket's path never leaves the machine.
        """
        if self.family not in (socket.AF_INET, socket.AF_INET6):
            return address
        what = _("traced socket {actor!r}").format(actor=self._actor)
        if bind:
            return check_bind(address, what=what, kind=self.type, family=self.family)
        cleared = self._cleared
        if cleared is not None and cleared[0] == address:
            return cleared[1]
        sockaddr = check_destination(address, what=what, kind=self.type, family=self.family)
        self._cleared = (address, sockaddr)
        return sockaddr

    # -- recording ------------------------------------------------------
    def _protocol(self) -> str:
        if self.family not in (socket.AF_INET, socket.AF_INET6):
            return ""
        return {socket.SOCK_STREAM: "tcp", socket.SOCK_DGRAM: "udp"}.get(self.type, "")

    def _local(self) -> Address | None:
        try:
            return address_of(self.getsockname())
        except OSError:
            return None

    def _peer(self) -> Address | None:
        try:
            return address_of(self.getpeername())
        except OSError:
            return None

    def _emit(
        self,
        call: str,
        args: str,
        start: float,
        *,
        result: str = "",
        error: str | None = None,
        peer: Address | None = None,
        nbytes: int | None = None,
        local: Address | None = None,
    ) -> None:
        end = time.perf_counter()
        self._trace._record(
            actor=self._actor,
            call=call,
            args=args,
            result=result,
            error=error,
            start=start,
            end=end,
            protocol=self._protocol(),
            local=local if local is not None else self._local(),
            peer=peer if peer is not None else self._peer(),
            nbytes=nbytes,
        )

    def _traced(
        self,
        call: str,
        args: str,
        run: Callable[[], T],
        describe: Callable[[T], tuple[str, int | None, Address | None]],
        *,
        peer: Address | None = None,
    ) -> T:
        if peer is None:
            # Read before the call: once a shutdown or the peer's FIN has
            # finished the connection, the kernel no longer says who it was.
            peer = self._peer()
        start = time.perf_counter()
        try:
            value = run()
        except BaseException as exc:
            self._emit(call, args, start, error=_error(exc), peer=peer)
            raise
        result, nbytes, got_peer = describe(value)
        self._emit(call, args, start, result=result, nbytes=nbytes, peer=got_peer or peer)
        return value

    # -- local calls ----------------------------------------------------
    def bind(self, address: Any, /) -> None:
        """``socket.bind``, recorded with the address the OS really bound."""

        def describe(_: None) -> tuple[str, int | None, Address | None]:
            local = self._local()
            return (bound_text(local) if local else "", None, None)

        self._traced(
            "bind",
            format_address(address),
            lambda: socket.socket.bind(self, self._guard(address, bind=True)),
            describe,
        )

    def listen(self, backlog: int | None = None, /) -> None:
        """``socket.listen``, recorded."""

        def run() -> None:
            if backlog is None:
                socket.socket.listen(self)
            else:
                socket.socket.listen(self, backlog)

        self._traced("listen", "" if backlog is None else str(backlog), run, _nothing)

    # -- connections ----------------------------------------------------
    def connect(self, address: Any, /) -> None:
        """``socket.connect``, recorded with the local address it got."""

        def describe(_: None) -> tuple[str, int | None, Address | None]:
            local = self._local()
            return (from_text(local) if local else "", None, None)

        self._traced(
            "connect",
            format_address(address),
            lambda: socket.socket.connect(self, self._guard(address)),
            describe,
            peer=address_of(address),
        )

    def connect_ex(self, address: Any, /) -> int:
        """``socket.connect_ex``, recorded; a non-zero result is an errno."""
        return self._traced(
            "connect_ex",
            format_address(address),
            lambda: socket.socket.connect_ex(self, self._guard(address)),
            lambda code: (str(code), None, None),
            peer=address_of(address),
        )

    def accept(self) -> tuple[TracedSocket, Any]:
        """``socket.accept``: the new connection is a traced socket too.

        Its actor is this socket's actor with the connection number:
        ``"server#1"``, ``"server#2"``, ...
        """
        start = time.perf_counter()
        try:
            fd, addr = self._accept()  # type: ignore[attr-defined]
        except BaseException as exc:
            self._emit("accept", "", start, error=_error(exc))
            raise
        actor = f"{self._actor}#{self._trace._next_connection(self._actor)}"
        try:
            conn = TracedSocket(
                self.family, self.type, self.proto, fileno=fd, trace=self._trace, actor=actor
            )
        except BaseException:
            socket.close(fd)
            raise
        # The same rule as socket.socket.accept: inherit blocking mode.
        if socket.getdefaulttimeout() is None and self.gettimeout():
            conn.setblocking(True)
        self._emit(
            "accept",
            "",
            start,
            result=accepted_text(actor, addr),
            peer=address_of(addr),
        )
        return conn, addr

    # -- data -------------------------------------------------------------
    def send(self, data: ReadableBuffer, flags: int = 0, /) -> int:
        """``socket.send``, recorded (how many bytes the kernel took)."""
        _, text = _payload(data)
        return self._traced(
            "send",
            text,
            lambda: socket.socket.send(self, data, flags),
            lambda sent: (taken_text(sent), sent, None),
        )

    def sendall(self, data: ReadableBuffer, flags: int = 0, /) -> None:
        """``socket.sendall``, recorded."""
        size, text = _payload(data)
        self._traced(
            "sendall",
            text,
            lambda: socket.socket.sendall(self, data, flags),
            lambda _: ("", size, None),
        )

    @overload
    def sendto(self, data: ReadableBuffer, address: Any, /) -> int: ...
    @overload
    def sendto(self, data: ReadableBuffer, flags: int, address: Any, /) -> int: ...
    def sendto(self, data: ReadableBuffer, flags_or_address: Any, address: Any = None, /) -> int:
        """``socket.sendto``, recorded with the destination."""
        if address is None:
            flags, address = 0, flags_or_address
        else:
            flags = flags_or_address
        _, text = _payload(data)
        return self._traced(
            "sendto",
            to_text(text, address),
            lambda: socket.socket.sendto(self, data, flags, self._guard(address)),
            lambda sent: (taken_text(sent), sent, None),
            peer=address_of(address),
        )

    def sendmsg(
        self,
        buffers: Iterable[ReadableBuffer],
        ancdata: Iterable[Any] = (),
        flags: int = 0,
        address: Any = None,
        /,
    ) -> int:
        """``socket.sendmsg``, recorded; a destination passes the loopback guard first.

        Without ``address`` (a connected socket) nothing new is checked: the
        guard saw the destination at ``connect``.
        """
        chunks = list(buffers)  # an iterator is read once: here, not by the real call too
        _, text = _payload(b"".join(chunks))
        args = text if address is None else to_text(text, address)

        def run() -> int:
            # The guard runs inside the recorded call, as for sendto: a refusal
            # is the call's error in the trace, and no packet has left.
            target = None if address is None else self._guard(address)
            return socket.socket.sendmsg(self, chunks, ancdata, flags, target)

        return self._traced(
            "sendmsg",
            args,
            run,
            lambda sent: (taken_text(sent), sent, None),
            peer=None if address is None else address_of(address),
        )

    def recv(self, bufsize: int, flags: int = 0, /) -> bytes:
        """``socket.recv``, recorded (``b''`` on TCP means the peer closed)."""
        return self._traced(
            "recv",
            str(bufsize),
            lambda: socket.socket.recv(self, bufsize, flags),
            lambda data: (_received(data, self._protocol()), len(data), None),
        )

    def recv_into(self, buffer: WriteableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        """``socket.recv_into``, recorded."""

        def describe(n: int) -> tuple[str, int | None, Address | None]:
            with memoryview(buffer) as view, view.cast("B") as flat, flat[:n] as got:
                return (_received(got, self._protocol()), n, None)

        size = nbytes or _size(buffer)
        return self._traced(
            "recv_into",
            str(size),
            lambda: socket.socket.recv_into(self, buffer, nbytes, flags),
            describe,
        )

    def recvfrom(self, bufsize: int, flags: int = 0, /) -> tuple[bytes, Any]:
        """``socket.recvfrom``, recorded with the sender's address."""
        return self._traced(
            "recvfrom",
            str(bufsize),
            lambda: socket.socket.recvfrom(self, bufsize, flags),
            lambda got: (
                received_from_text(_received(got[0], self._protocol()), got[1]),
                len(got[0]),
                address_of(got[1]),
            ),
        )

    def recvfrom_into(
        self, buffer: WriteableBuffer, nbytes: int = 0, flags: int = 0
    ) -> tuple[int, Any]:
        """``socket.recvfrom_into``, recorded with the sender's address."""

        def describe(got: tuple[int, Any]) -> tuple[str, int | None, Address | None]:
            n, addr = got
            with memoryview(buffer) as view, view.cast("B") as flat, flat[:n] as data:
                text = _received(data, self._protocol())
            return (received_from_text(text, addr), n, address_of(addr))

        size = nbytes or _size(buffer)
        return self._traced(
            "recvfrom_into",
            str(size),
            lambda: socket.socket.recvfrom_into(self, buffer, nbytes, flags),
            describe,
        )

    def dup(self) -> TracedSocket:
        """``socket.dup``: a traced socket on a copy of the descriptor, same actor.

        The connection ends (FIN) only when its last descriptor is closed; the
        diagram cannot know that and draws the FIN at the first ``close``.
        """
        fd = socket.dup(self.fileno())
        try:
            sock = TracedSocket(
                self.family, self.type, self.proto, fileno=fd, trace=self._trace, actor=self._actor
            )
        except BaseException:
            socket.close(fd)
            raise
        sock.settimeout(self.gettimeout())
        return sock

    # -- the end ----------------------------------------------------------
    def shutdown(self, how: int, /) -> None:
        """``socket.shutdown``, recorded (``SHUT_WR`` sends a FIN on TCP)."""
        self._traced(
            "shutdown",
            _SHUT_NAMES.get(how, str(how)),
            lambda: socket.socket.shutdown(self, how),
            _nothing,
        )

    def close(self) -> None:
        """``socket.close``, recorded once (closing twice is a no-op, as usual)."""
        if self._close_recorded:
            super().close()
            return
        self._close_recorded = True
        # Where it was connected must be read before the descriptor goes.
        local, peer = self._local(), self._peer()
        start = time.perf_counter()
        try:
            super().close()
        except BaseException as exc:
            self._emit("close", "", start, error=_error(exc), local=local, peer=peer)
            raise
        self._emit("close", "", start, local=local, peer=peer)


def _nothing(_: None) -> tuple[str, int | None, Address | None]:
    return ("", None, None)


class Trace:
    """A recording of the socket calls of every traced socket, in time order.

    Thread-safe: servers in background threads and the client in the
    notebook record into the same trace.

    Example:
        >>> import socket, threading
        >>> trace = Trace()
        >>> server = trace.socket(socket.AF_INET, socket.SOCK_STREAM, actor="server")
        >>> server.settimeout(2); server.bind(("127.0.0.1", 0)); server.listen()
        >>> def serve():
        ...     conn, _ = server.accept()
        ...     with conn:
        ...         conn.sendall(conn.recv(100))
        >>> thread = threading.Thread(target=serve); thread.start()
        >>> with trace.socket(actor="client") as client:
        ...     client.settimeout(2)
        ...     client.connect(server.getsockname())
        ...     client.sendall(b"hello")
        ...     client.recv(100)
        b'hello'
        >>> thread.join(2); server.close()
        >>> trace.calls("client")
        ['socket', 'connect', 'sendall', 'recv', 'close']
        >>> print(trace.to_mermaid())  # doctest: +ELLIPSIS
        sequenceDiagram
            participant client as Client
        ...
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[TraceEvent] = []
        self._connections: dict[str, int] = {}
        self._seq = 0
        self._t0 = time.perf_counter()

    # -- making sockets ---------------------------------------------------
    def socket(
        self,
        family: int = socket.AF_INET,
        type: int = socket.SOCK_STREAM,
        proto: int = 0,
        *,
        actor: str = "client",
    ) -> TracedSocket:
        """A new real socket whose calls are recorded as ``actor``.

        Same arguments as ``socket.socket``; use it wherever a lesson writes
        ``socket.socket(...)``. Raises what ``socket.socket`` raises.
        """
        if not isinstance(actor, str) or not actor.strip() or "#" in actor:
            raise UsageError(
                _(
                    "actor must be a non-empty name such as 'client' or 'server', without '#' "
                    "(it numbers the connections a server accepts), not {actor!r}"
                ).format(actor=actor)
            )
        start = time.perf_counter()
        args = _family_and_kind(family, type)
        try:
            sock = TracedSocket(family, type, proto, trace=self, actor=actor)
        except BaseException as exc:
            self._record(
                actor=actor,
                call="socket",
                args=args,
                result="",
                error=_error(exc),
                start=start,
                end=time.perf_counter(),
                protocol="",
                local=None,
                peer=None,
                nbytes=None,
            )
            raise
        sock._emit("socket", args, start, result=f"fd {sock.fileno()}")
        return sock

    def create_connection(
        self, address: tuple[str, int], timeout: float | None = None, *, actor: str = "client"
    ) -> TracedSocket:
        """Like ``socket.create_connection``: a connected, traced TCP socket.

        Records ``socket`` and ``connect``. Raises what ``connect`` raises
        (``ConnectionRefusedError`` when nothing listens, ``TimeoutError``),
        and, before any socket exists, ``NotLoopback`` for an address other
        than loopback or ``HostNotFound`` for a name that does not resolve.
        """
        # The loopback guard: the name is resolved once, here.
        sockaddr = check_destination(
            address, what="Trace.create_connection", kind=socket.SOCK_STREAM
        )
        sock = self.socket(family_of(sockaddr), socket.SOCK_STREAM, actor=actor)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            sock.connect(sockaddr)
        except BaseException:
            sock.close()
            raise
        return sock

    # -- recording (called by traced sockets) -----------------------------
    def _next_connection(self, actor: str) -> int:
        with self._lock:
            number = self._connections.get(actor, 0) + 1
            self._connections[actor] = number
            return number

    def _record(
        self,
        *,
        actor: str,
        call: str,
        args: str,
        result: str,
        error: str | None,
        start: float,
        end: float,
        protocol: str,
        local: Address | None,
        peer: Address | None,
        nbytes: int | None,
    ) -> None:
        when = end if call in WAITING else start
        with self._lock:
            self._seq += 1
            self._events.append(
                TraceEvent(
                    time=when - self._t0,
                    actor=actor,
                    call=call,
                    args=args,
                    result=result,
                    error=error,
                    duration=end - start,
                    protocol=protocol,
                    local=local,
                    peer=peer,
                    nbytes=nbytes,
                    seq=self._seq,
                )
            )

    # -- reading ----------------------------------------------------------
    @property
    def events(self) -> tuple[TraceEvent, ...]:
        """Every recorded call, in time order (a snapshot)."""
        with self._lock:
            events = list(self._events)
        return tuple(sorted(events, key=lambda e: (e.time, e.seq)))

    @property
    def actors(self) -> tuple[str, ...]:
        """Every actor that made a call, in order of first appearance."""
        return tuple(dict.fromkeys(e.actor for e in self.events))

    def calls(self, actor: str | None = None) -> list[str]:
        """The names of the calls, in order; of one actor and its connections if given.

        ``trace.calls("server")`` includes the calls of ``"server#1"``, ...
        """
        return [
            e.call
            for e in self.events
            if actor is None or e.actor == actor or e.actor.startswith(actor + "#")
        ]

    def clear(self) -> None:
        """Forget every event (sockets keep recording into this trace)."""
        with self._lock:
            self._events.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def table(self, *, width: int = 40) -> str:
        """The events as an aligned text table, one line per call.

        Cells longer than ``width`` characters are cut with "…".
        """
        from labsock._core.trace_text import render_table  # it imports this module

        return render_table(self.events, width)

    def to_mermaid(self, *, limit: int = 60) -> str:
        """A Mermaid ``sequenceDiagram`` of the trace.

        Paste it in a Markdown cell between ```` ```mermaid ```` fences, or
        ``display(Markdown(...))`` it: JupyterLab 4.1+ draws it. Data calls
        are arrows (``client->>server: sendall 5 bytes b'hello'``); local
        calls (``socket``, ``bind``, ``listen``, ``recv``) are notes; a TCP
        ``connect`` shows the three-way handshake; ``close`` or
        ``shutdown(SHUT_WR)`` on a connection shows the FIN. When there are
        more than ``limit`` calls, runs of the same call by the same actor
        are merged, and what still does not fit is counted in a final note.
        """
        from labsock._core.trace_text import render_mermaid  # it imports this module

        return render_mermaid(self.events, limit)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return _("<Trace {n} calls by {actors}>").format(
            n=len(self), actors=", ".join(self.actors) or _("nobody")
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        # JupyterLab 4.1+ draws text/vnd.mermaid; other front ends show the table.
        return {"text/plain": self.table(), "text/vnd.mermaid": self.to_mermaid()}
