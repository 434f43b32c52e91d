"""The kernel's own drop counters: what it threw away, in its own words.

One reader for every experiment and endpoint that reports kernel drops: a
socket's own ``drops`` column (exact, per socket) and the system-wide UDP
``RcvbufErrors`` counter (shared by every program on the host, so a
difference over a run is an upper bound). Linux only; elsewhere each returns
None and callers say "not available" instead of guessing.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Sequence

__all__ = ["udp_rcvbuf_errors", "udp_socket_drops", "udp_sockets_drops"]


def udp_socket_drops(sock: socket.socket) -> int | None:
    """The ``drops`` column of /proc/net/udp[6] for this socket, or None."""
    return udp_sockets_drops([sock])[0]


def udp_sockets_drops(socks: Sequence[socket.socket]) -> list[int | None]:
    """The ``drops`` of several sockets, reading the tables once (a link has hundreds).

    One entry per socket, in order: None where the kernel does not say (not
    Linux, or the socket is not in the table). Raises OSError for a closed socket.
    """
    if sys.platform != "linux":
        return [None] * len(socks)
    inodes = [str(os.fstat(sock.fileno()).st_ino) for sock in socks]
    wanted = set(inodes)
    found: dict[str, int] = {}
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as table:
                lines = table.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 13 and fields[9] in wanted:
                found[fields[9]] = int(fields[-1])
        if len(found) == len(wanted):
            break
    return [found.get(inode) for inode in inodes]


def udp_rcvbuf_errors() -> int | None:
    """The system-wide UDP ``RcvbufErrors`` counter of /proc/net/snmp, or None (not Linux)."""
    if sys.platform != "linux":
        return None
    try:
        with open("/proc/net/snmp") as snmp:
            udp = [line.split() for line in snmp if line.startswith("Udp:")]
        names, values = udp[0], udp[1]
        return int(values[names.index("RcvbufErrors")])
    except (OSError, IndexError, ValueError):
        return None
