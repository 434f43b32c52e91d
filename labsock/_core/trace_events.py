"""One recorded socket call (:class:`TraceEvent`) and the words for its addresses and sizes.

Pure data: the traced sockets that record events live in
``labsock._endpoints.trace``; the readings of a trace (its table, its Mermaid
diagram, its conversation) in ``labsock._core.trace_text`` and
``labsock._core.conversation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Address", "TraceEvent", "address_of", "describe_bytes", "format_address"]

Address = tuple[str, int]


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
        outcome = f"raised {self.error}" if self.error else self.result
        return f"{self.time * 1e3:9.3f} ms  {self.actor}: {self.call}({self.args}) -> {outcome}"


def address_of(value: Any) -> Address | None:
    """``(host, port)`` from a socket address, or None for anything else."""
    if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[1], int):
        return str(value[0]), value[1]
    return None


def format_address(value: Any) -> str:
    address = address_of(value)
    if address is None:
        return str(value)
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def describe_bytes(n: int) -> str:
    return "1 byte" if n == 1 else f"{n} bytes"
