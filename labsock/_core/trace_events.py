"""One recorded socket call (:class:`TraceEvent`), and what a call means.

Pure data: the traced sockets that record events live in
``labsock._endpoints.trace``. The two drawings of a trace, its Mermaid text
(``labsock._core.trace_text``) and the story ``plots.sequence`` draws
(``labsock._core.conversation``), lay calls out differently but read them
through the one set of rules here: which calls send or wait, when a TCP
call sends a FIN, and how a connect failed (refused by a RST, or otherwise).
Change a rule here and both drawings follow.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Any

from labsock._core.formatting import describe_bytes, format_address
from labsock._core.i18n import gettext as _

__all__ = [
    "RECEIVING",
    "SENDING",
    "WAITING",
    "Address",
    "ConnectFailure",
    "TraceEvent",
    "accepted_text",
    "address_of",
    "bound_text",
    "connect_failure",
    "cut",
    "end_of_stream_text",
    "ends_sending",
    "error_name",
    "from_text",
    "is_tcp_connect",
    "received_from_text",
    "taken_text",
    "to_text",
]

Address = tuple[str, int]

#: Calls that hand data to the kernel.
SENDING = frozenset({"send", "sendall", "sendto", "sendmsg"})
#: Calls that return data the kernel received.
RECEIVING = frozenset({"recv", "recv_into", "recvfrom", "recvfrom_into"})
#: Calls placed at the moment they returned: they wait for something to arrive.
WAITING = RECEIVING | {"accept"}


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One socket call, as a trace recorded it.

    Attributes:
        time: seconds since the trace started, when the call took effect
            (made, for calls that hand something to the kernel; returned,
            for ``recv``/``accept``, which wait for something to arrive).
        actor: who made it: ``"client"``, ``"server"``, a name you gave, or
            ``"server#1"`` for the first connection a ``"server"`` accepted.
        call: the method name (``"sendall"``, ``"recv"``, ...).
        args: a short summary of the arguments (``'5 bytes b"hello"'``).
        result: a short summary of what it returned ("" on error).
        error: ``"ConnectionRefusedError: [Errno 111] ..."`` if the call
            raised, else ``None``.
        duration: seconds the call took (how long it blocked).
        protocol: ``"tcp"``, ``"udp"`` or ``""`` for other sockets.
        local: the socket's own ``(host, port)`` after the call, if known.
        peer: the other end's ``(host, port)`` for this call, if known.
        nbytes: bytes sent or received by the call, for data calls.
        seq: the order in which calls were recorded (breaks ties in time).
    """

    time: float
    actor: str
    call: str
    args: str
    result: str
    error: str | None = None
    duration: float = 0.0
    protocol: str = ""
    local: Address | None = None
    peer: Address | None = None
    nbytes: int | None = None
    seq: int = 0

    @property
    def role(self) -> str:
        """The actor without its connection number: ``"server#1"`` -> ``"server"``."""
        return self.actor.partition("#")[0]

    @property
    def ok(self) -> bool:
        """True when the call returned normally."""
        return self.error is None

    def __str__(self) -> str:
        outcome = _("raised {error}").format(error=self.error) if self.error else self.result
        return f"{self.time * 1e3:9.3f} ms  {self.actor}: {self.call}({self.args}) -> {outcome}"


def address_of(value: Any) -> Address | None:
    """``(host, port)`` from a socket address, or None for anything else."""
    if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[1], int):
        return str(value[0]), value[1]
    return None


# -- the words of a recorded call: one wording for Python's and strace's traces ----
# Written in the student's language when the call is recorded. conversation.py
# reads the new actor of an accept from its name ("server#1"), not from them.


def bound_text(address: Any) -> str:
    """A bind's result: ``bound to 127.0.0.1:5000``."""
    return _("bound to {address}").format(address=format_address(address))


def from_text(address: Any) -> str:
    """A connect's result: ``from 127.0.0.1:41000`` (the local address it got)."""
    return _("from {address}").format(address=format_address(address))


def accepted_text(actor: str, address: Any) -> str:
    """An accept's result: ``new socket server#1 for 127.0.0.1:41000``."""
    return _("new socket {actor} for {address}").format(
        actor=actor, address=format_address(address)
    )


def taken_text(nbytes: int) -> str:
    """A send's result: ``5 bytes taken`` (by the kernel)."""
    return _("{size} taken").format(size=describe_bytes(nbytes))


def to_text(payload: str, address: Any) -> str:
    """A sendto's arguments: ``5 bytes b'hello' to 127.0.0.1:5000``."""
    return _("{payload} to {address}").format(payload=payload, address=format_address(address))


def received_from_text(payload: str, address: Any) -> str:
    """A recvfrom's result: ``5 bytes b'hello' from 127.0.0.1:41000``."""
    return _("{payload} from {address}").format(payload=payload, address=format_address(address))


def end_of_stream_text() -> str:
    """What a TCP recv returning no bytes means."""
    return _("b'' (end of stream: the peer closed its side)")


# -- what a call means: the rules both drawings of a trace follow ---------------


def cut(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in "…" when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def error_name(error: str) -> str:
    """``"ConnectionRefusedError: [Errno 111] ..."`` -> ``"ConnectionRefusedError"``."""
    return error.partition(":")[0]


def is_tcp_connect(e: TraceEvent) -> bool:
    """A TCP ``connect``/``connect_ex``: drawn as the three-way handshake, or its failure."""
    return e.call in ("connect", "connect_ex") and e.protocol == "tcp"


def ends_sending(e: TraceEvent) -> bool:
    """A TCP call after which this side sends no more: the kernel sends a FIN.

    (Only the first such call of a connection sends it; callers keep track.)
    """
    return e.protocol == "tcp" and (
        e.call == "close" or (e.call == "shutdown" and e.args in ("SHUT_WR", "SHUT_RDWR"))
    )


@dataclass(frozen=True, slots=True)
class ConnectFailure:
    """How a connect failed: ``refused`` when the SYN met a RST, else ``failed``."""

    refused: bool
    error: str  # what the call raised, or "error code N" for connect_ex


def connect_failure(e: TraceEvent) -> ConnectFailure | None:
    """How this connect failed, or None if it connected (or is no connect)."""
    failed = e.error
    if e.call == "connect_ex" and e.result not in ("", "0"):
        failed = _("error code {code}").format(code=e.result)
    if failed is None:
        return None
    refused = "ConnectionRefused" in failed or e.result == str(errno.ECONNREFUSED)
    return ConnectFailure(refused, failed)
