"""Why a call of the socket stepper failed, in a student's words.

Pure: :func:`explain` reads the real error a call raised and a snapshot of
the stepper's sockets (:class:`Situation`: which exist, whether they are
bound, connected, listening) and returns text; it makes no call of its own.
The stepper's machine (``labsock._endpoints.stepper_machine``) owns the
sockets, takes the snapshot and puts the text in its ``StepResult``.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

__all__ = ["Situation", "explain"]


@dataclass(frozen=True)
class Situation:
    """What the stepper's sockets looked like when a call failed.

    Attributes:
        protocol: ``"tcp"`` or ``"udp"``.
        timeout: seconds a call that waits waited before it gave up.
        listener_open: the server's own socket (the listening one, in TCP)
            exists and is open.
        accepted: ``accept()`` has returned a connection (open or closed since).
        server_bound: the server's socket has had an address (a port).
        client_shut: the client's socket did ``shutdown(SHUT_WR)``.
        connected: the socket that made the call has a peer (True when it is
            gone or closed: those errors speak for themselves).
        listening: the server's socket listens.
    """

    protocol: str
    timeout: float
    listener_open: bool = False
    accepted: bool = False
    server_bound: bool = False
    client_shut: bool = False
    connected: bool = True
    listening: bool = False


def explain(actor: str, call: str, exc: OSError, situation: Situation) -> str:
    """The real error, then what it means here, in a student's words.

    Args:
        actor: ``"server"`` or ``"client"``: who made the call.
        call: the call (``"connect"``, ``"recv"``, ...).
        exc: what the call raised.
        situation: the sockets as they were when it failed.

    Returns:
        ``"<error>: <what it means>"``.

    >>> refused = ConnectionRefusedError(111, "Connection refused")
    >>> said = explain("client", "connect", refused, Situation("tcp", 0.25, listener_open=True))
    >>> said.removeprefix("ConnectionRefusedError [Errno 111] Connection refused: ")
    'nothing is listening yet: press server.listen first'
    """
    s = situation
    code = exc.errno
    peer = "client" if actor == "server" else "server"
    said = f"{type(exc).__name__}"
    if exc.strerror:
        said += f" [Errno {code}] {exc.strerror}"
    elif str(exc):
        said += f": {exc}"
    if code == errno.EBADF:
        why = f"this {actor} socket is closed: a closed socket cannot be used again"
        if actor == "server" and call != "close" and s.listener_open and s.accepted:
            why += "; a client must connect again, and the server accept() the new connection"
        else:
            why += f"; press {actor}.socket for a new one"
    elif isinstance(exc, TimeoutError):
        why = _why_timeout(actor, call, peer, s)
    elif isinstance(exc, ConnectionRefusedError):
        if s.listener_open:
            why = "nothing is listening yet: press server.listen first"
        else:
            why = "nothing is listening there any more: the server socket is closed"
    elif code == errno.EINVAL and call == "accept":
        why = "accept() needs a listening socket: call listen() first"
    elif code == errno.EINVAL and call == "bind":
        why = "this socket is already bound: a socket is bound once, to one address"
    elif code == errno.EISCONN:
        why = "this socket is already connected: a TCP socket connects once"
    elif actor == "client" and call == "send" and s.client_shut:
        why = (
            "the client shut down its sending side (SHUT_WR): it cannot send any more; "
            "it can still receive"
        )
    elif code == errno.ENOTCONN or (call in ("send", "shutdown") and not s.connected):
        why = _why_not_connected(actor, s)
    elif isinstance(exc, (BrokenPipeError, ConnectionResetError)):
        why = (
            f"the connection is over: the {peer} closed its socket, and its kernel answered "
            f"what the {actor} sent with a reset (RST)"
        )
    elif isinstance(exc, ConnectionAbortedError):
        why = (
            "the previous connect() failed and left this socket in a failed state: "
            "press connect again, or better, close it and make a new socket"
        )
    elif code == errno.EINPROGRESS:
        why = f"the server did not finish the handshake within {s.timeout:g} s"
    else:
        why = "see the error: it is the kernel's own answer"
    return f"{said}: {why}"


def _why_timeout(actor: str, call: str, peer: str, s: Situation) -> str:
    waited = f"(waited {s.timeout:g} s)"
    if s.protocol == "udp" and actor == "server" and not s.server_bound:
        return (
            f"nothing arrived {waited}: the server socket has no address yet, so nothing "
            "can reach it: press server.bind first"
        )
    if call == "accept":
        return f"no client is waiting to be accepted {waited}: press client.connect first"
    if actor == "server" and s.protocol == "tcp" and not s.accepted:
        return (
            f"the listening socket carries no data, it only hands out connections, so "
            f"recv() on it waited for nothing {waited}: press server.accept first"
        )
    if call == "connect":
        return f"the server did not answer the handshake {waited}"
    return f"nothing to receive yet {waited}: the {peer} has not sent anything"


def _why_not_connected(actor: str, s: Situation) -> str:
    if actor == "server":
        first = "server.accept" if s.listening else "server.listen, then server.accept"
        return (
            "the server's own socket is never connected to anyone: it listens and hands "
            f"out connections. Press {first}, and talk on the socket accept() returns"
        )
    return "the client is not connected: press client.connect first"
