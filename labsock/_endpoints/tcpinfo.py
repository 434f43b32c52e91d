"""The kernel's own view of a TCP connection: ``getsockopt(TCP_INFO)`` on Linux.

TCP's machinery (the round-trip estimate it times its retransmissions by,
the segments it sent again, the congestion window) lives in the kernel, below
the socket, where a notebook cannot watch it work. Linux lets a program read
it, for a socket it owns, without any privilege: ``getsockopt(IPPROTO_TCP,
TCP_INFO)`` fills a ``struct tcp_info`` (``linux/tcp.h``). This module reads
the fields the lessons talk about. Other systems have other structures (or
none): there :func:`tcp_info` returns None and :data:`TCP_INFO_NOTE` says so.

Example:
    >>> import socket
    >>> from labsock import tcp_info
    >>> with socket.create_server(("127.0.0.1", 0)) as listener:
    ...     with socket.create_connection(listener.getsockname(), timeout=2) as client:
    ...         info = tcp_info(client)
    >>> info is None or info.state == "ESTABLISHED"
    True
"""

from __future__ import annotations

import socket
import struct
import sys
from dataclasses import dataclass

from labsock._core.errors import UsageError
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _

__all__ = ["TCP_INFO_NOTE", "TcpInfo", "parse_tcp_info", "tcp_info"]

#: ``struct tcp_info`` up to ``tcpi_total_retrans``: 8 one-byte fields, then
#: 24 unsigned 32-bit ones. Every Linux since 2.6 fills at least this much.
_LAYOUT = struct.Struct("=8B24I")
#: Linux's TCP_INFO option number, where the socket module does not name it.
_TCP_INFO = getattr(socket, "TCP_INFO", 11)

#: ``tcpi_state`` values (``include/net/tcp_states.h``).
_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSE",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
}


#: What to tell a student where the kernel does not show this.
class _Note(str):
    """A message constant: its English text, printed in the language of the moment.

    A module constant is made at import, before a notebook chooses its
    language; ``print`` and f-strings ask for its text later, and get it
    translated then.
    """

    def __str__(self) -> str:
        return _(str(str.__str__(self)))

    def __format__(self, spec: str) -> str:
        return format(self.__str__(), spec)


TCP_INFO_NOTE = _Note(
    N_(
        "this system does not show the kernel's TCP_INFO (Linux does): the round-trip "
        "estimate, retransmissions and congestion window stay hidden in the kernel here"
    )
)


@dataclass(frozen=True, slots=True)
class TcpInfo:
    """A snapshot of what the kernel knows about one TCP connection.

    Attributes:
        state: the TCP state, as ``ss`` prints it (``"ESTABLISHED"``).
        rtt: the kernel's smoothed round-trip estimate, in seconds.
        rttvar: how much the round trip varies (mean deviation), in seconds.
        rto: the retransmission timeout the kernel derives from the two
            (at least 200 ms on Linux), in seconds.
        retransmits: retransmissions of the segment now waiting for its ACK.
        total_retrans: segments sent again over the connection's whole life.
        lost: segments the kernel now believes lost.
        unacked: segments sent and not yet acknowledged.
        snd_cwnd: the congestion window, in segments of ``snd_mss`` bytes.
        snd_mss: bytes per segment the kernel sends.
    """

    state: str
    rtt: float
    rttvar: float
    rto: float
    retransmits: int
    total_retrans: int
    lost: int
    unacked: int
    snd_cwnd: int
    snd_mss: int

    def summary(self) -> str:
        """Two short lines a student can read, e.g. for ``print(info)``."""
        return _(
            "kernel's view: {state}, round trip {rtt:,.0f} µs "
            "(± {rttvar:,.0f} µs), retransmission timeout {rto:,.0f} ms\n"
            "segments sent again: {retrans:,}; congestion window: "
            "{cwnd:,} segments of {mss:,} bytes"
        ).format(
            state=self.state,
            rtt=self.rtt * 1e6,
            rttvar=self.rttvar * 1e6,
            rto=self.rto * 1e3,
            retrans=self.total_retrans,
            cwnd=self.snd_cwnd,
            mss=self.snd_mss,
        )

    def __str__(self) -> str:
        return self.summary()


def parse_tcp_info(data: bytes) -> TcpInfo:
    """Decode the start of a Linux ``struct tcp_info`` (pure: bytes in, a record out).

    Raises :class:`UsageError` when ``data`` is shorter than the fields read.

    >>> fields = [1, 0, 0, 0, 0, 0, 0, 0] + [201_000] + [0] * 5 + [0] * 9 + [28, 14] + [0] * 7
    >>> info = parse_tcp_info(struct.pack("=8B24I", *fields))
    >>> info.state, info.rtt, info.rto
    ('ESTABLISHED', 2.8e-05, 0.201)
    """
    if len(data) < _LAYOUT.size:
        raise UsageError(
            _("a struct tcp_info of {size} bytes is too short: {needed} are needed").format(
                size=len(data), needed=_LAYOUT.size
            )
        )
    values = _LAYOUT.unpack_from(data)
    state, retransmits = values[0], values[2]  # tcpi_state, tcpi_retransmits
    words = values[8:]  # the 32-bit fields, in struct order from tcpi_rto
    rto, snd_mss, unacked, lost = words[0], words[2], words[4], words[6]
    rtt, rttvar, snd_cwnd = words[15], words[16], words[18]
    total_retrans = words[23]
    return TcpInfo(
        state=_STATES.get(state, f"state {state}"),
        rtt=rtt / 1e6,
        rttvar=rttvar / 1e6,
        rto=rto / 1e6,
        retransmits=retransmits,
        total_retrans=total_retrans,
        lost=lost,
        unacked=unacked,
        snd_cwnd=snd_cwnd,
        snd_mss=snd_mss,
    )


def tcp_info(sock: socket.socket) -> TcpInfo | None:
    """The kernel's TCP_INFO of ``sock`` (a TCP socket of this process), or None off Linux.

    Returns None where the system offers no ``struct tcp_info`` in Linux's
    layout (macOS, Windows): print :data:`TCP_INFO_NOTE` then.

    Raises:
        UsageError: ``sock`` is not a TCP socket, or it is closed.
    """
    if not isinstance(sock, socket.socket):
        raise UsageError(_("tcp_info needs a socket, not {type}").format(type=type(sock).__name__))
    if sock.fileno() == -1:
        raise UsageError(_("this socket is closed: read tcp_info before closing it"))
    if sock.type != socket.SOCK_STREAM:
        raise UsageError(_("tcp_info is for TCP sockets (SOCK_STREAM); UDP keeps no connection"))
    if not sys.platform.startswith("linux"):
        return None
    try:
        data = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _LAYOUT.size)
    except OSError:
        return None  # a kernel without TCP_INFO (or one that refuses it): nothing to show
    return parse_tcp_info(data)
