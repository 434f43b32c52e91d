"""The kernel's socket table, as seen from this process (what ``ss`` or ``netstat`` show).

The lessons on TCP states need to *see* them: a listening socket in LISTEN,
both ends of a connection in ESTABLISHED, the side that closed first waiting
in TIME_WAIT after its socket object is long gone. :func:`socket_table` asks
the operating system (through psutil, on Linux, macOS and Windows) for the
sockets of this process, and, where the OS allows it, for the sockets no
process owns any more (TIME_WAIT) on the ports this process uses.
"""

from __future__ import annotations

import html
import os
import socket
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from labsock._core.errors import UsageError
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.validate import check_port
from labsock._endpoints.base import format_address

__all__ = ["SocketRow", "SocketTable", "socket_table"]

_KINDS = ("inet", "inet4", "inet6", "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6")
# Headings marked with N_, translated where a table is shown.
_COLUMNS = (N_("proto"), N_("local address"), N_("remote address"), N_("state"), "pid", "fd")


def _headings() -> tuple[str, ...]:
    return tuple(_(c) for c in _COLUMNS)


@dataclass(frozen=True, slots=True)
class SocketRow:
    """One socket as the kernel lists it.

    Attributes:
        protocol: ``"tcp"`` or ``"udp"``.
        ip_version: 4 or 6.
        local: the socket's own ``(host, port)``, or None if not bound.
        remote: the peer's ``(host, port)``, or None (listening or
            unconnected sockets).
        state: the TCP state (``"LISTEN"``, ``"SYN_SENT"``, ``"ESTABLISHED"``,
            ``"FIN_WAIT1"``, ``"FIN_WAIT2"``, ``"CLOSE_WAIT"``, ``"LAST_ACK"``,
            ``"TIME_WAIT"``, ``"CLOSING"``, ``"CLOSE"``, ...) as psutil names
            it; ``"NONE"`` for UDP, which keeps no connection state.
        pid: the owning process, or None for a socket no process owns any
            more (TIME_WAIT) or, on some systems, another user's.
        fd: its file descriptor in the owning process, when known.
    """

    protocol: str
    ip_version: int
    local: tuple[str, int] | None
    remote: tuple[str, int] | None
    state: str
    pid: int | None = None
    fd: int | None = None

    @property
    def name(self) -> str:
        """``"tcp"``, ``"tcp6"``, ``"udp"`` or ``"udp6"``, as netstat writes it."""
        return self.protocol + ("6" if self.ip_version == 6 else "")

    @property
    def local_port(self) -> int | None:
        return self.local[1] if self.local else None

    @property
    def remote_port(self) -> int | None:
        return self.remote[1] if self.remote else None

    def cells(self) -> tuple[str, ...]:
        """The row as text cells, in the order of the table's columns."""
        return (
            self.name,
            format_address(self.local) if self.local else "*",
            format_address(self.remote) if self.remote else "*",
            self.state,
            "-" if self.pid is None else str(self.pid),
            "-" if self.fd is None else str(self.fd),
        )

    def __str__(self) -> str:
        return "  ".join(self.cells())


@dataclass(frozen=True)
class SocketTable:
    """A snapshot of the kernel's socket table, limited to this process's sockets.

    Attributes:
        rows: the sockets, sorted by protocol and local port.
        pid: this process.
        ports: the ports the search treated as ours (ownerless TIME_WAIT
            sockets on these ports are listed).
        system_wide: True when the OS let us look for sockets no process
            owns (TIME_WAIT); False when it refused (macOS without
            administrator rights) or the search was not asked for.
        note: why the table may be incomplete, in words; "" when complete.
    """

    rows: tuple[SocketRow, ...]
    pid: int
    ports: frozenset[int] = frozenset()
    system_wide: bool = False
    note: str = ""

    def states(self) -> Counter[str]:
        """How many sockets are in each state: ``Counter({"LISTEN": 1, ...})``."""
        return Counter(row.state for row in self.rows)

    def filter(
        self,
        *,
        port: int | None = None,
        local_port: int | None = None,
        remote_port: int | None = None,
        protocol: str | None = None,
        state: str | None = None,
    ) -> SocketTable:
        """The rows that match every criterion given (a new table).

        ``port`` matches the local or the remote port; ``protocol`` is
        ``"tcp"``/``"udp"`` (either IP version) or ``"tcp6"``-style names;
        ``state`` is a state name such as ``"TIME_WAIT"``.

        >>> table = socket_table()
        >>> table.filter(state="LISTEN", protocol="tcp").states()["ESTABLISHED"]
        0
        """

        def keep(row: SocketRow) -> bool:
            if port is not None and port not in (row.local_port, row.remote_port):
                return False
            if local_port is not None and row.local_port != local_port:
                return False
            if remote_port is not None and row.remote_port != remote_port:
                return False
            if protocol is not None and protocol.lower() not in (row.protocol, row.name):
                return False
            return state is None or row.state == state.upper()

        return replace(self, rows=tuple(row for row in self.rows if keep(row)))

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[SocketRow]:
        return iter(self.rows)

    def __str__(self) -> str:
        cells = [_headings(), *(row.cells() for row in self.rows)]
        widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in cells
        ]
        if not self.rows:
            lines.append(_("(no sockets)"))
        if self.note:
            lines.append(_("note: {note}").format(note=self.note))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in _headings())
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row.cells()) + "</tr>"
            for row in self.rows
        )
        if not self.rows:
            body = f'<tr><td colspan="{len(_COLUMNS)}">{html.escape(_("(no sockets)"))}</td></tr>'
        note = f"<p><em>{html.escape(self.note)}</em></p>" if self.note else ""
        return (
            f'<table class="labsock-sockets"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>{note}"
        )

    def __repr__(self) -> str:
        states = ", ".join(f"{k}={v}" for k, v in sorted(self.states().items()))
        return _("<SocketTable {n} sockets ({states})>").format(
            n=len(self.rows), states=states or _("none")
        )


def _address(value: Any) -> tuple[str, int] | None:
    # psutil gives addr(ip, port) namedtuples, or () when there is none.
    if value and len(value) >= 2:
        return str(value[0]), int(value[1])
    return None


def _row(conn: Any, pid: int | None) -> SocketRow | None:
    if conn.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    protocol = {socket.SOCK_STREAM: "tcp", socket.SOCK_DGRAM: "udp"}.get(conn.type)
    if protocol is None:
        return None
    fd = getattr(conn, "fd", -1)
    return SocketRow(
        protocol=protocol,
        ip_version=6 if conn.family == socket.AF_INET6 else 4,
        local=_address(conn.laddr),
        remote=_address(conn.raddr),
        state=str(conn.status),
        pid=pid,
        fd=fd if isinstance(fd, int) and fd >= 0 else None,
    )


def _check_ports(ports: Iterable[int] | int | None) -> frozenset[int]:
    if ports is None:
        return frozenset()
    if isinstance(ports, int):
        ports = [ports]
    try:
        values = list(ports)
    except TypeError:
        raise UsageError(
            _("ports must be a port number or a list of them, not {ports!r}").format(ports=ports)
        ) from None
    return frozenset(check_port(p, name="ports") for p in values)


def socket_table(
    *,
    ports: Iterable[int] | int | None = None,
    kinds: str = "inet",
    include_time_wait: bool = True,
) -> SocketTable:
    """The sockets of this process as the operating system lists them.

    Args:
        ports: more port numbers to treat as ours when looking for sockets no
            process owns (say, the port of a client socket you already
            closed, now in TIME_WAIT). The ports of this process's own
            sockets are always included.
        kinds: which sockets: ``"inet"`` (TCP and UDP, IPv4 and IPv6),
            ``"tcp"``, ``"udp"``, or with ``4``/``6`` appended for one IP
            version (``"tcp4"``, ``"udp6"``, ...).
        include_time_wait: also search the whole system's table for
            sockets no process owns (TIME_WAIT) whose local or remote port is
            one of ours. Some systems refuse that without administrator
            rights (macOS); the table then says so in ``.note``.

    Returns:
        A :class:`SocketTable`. Print it, or show it in a notebook as HTML.

    Raises:
        UsageError: for an unknown ``kinds`` or a bad port.

    Example:
        >>> from labsock import TCPEchoServer
        >>> with TCPEchoServer() as server:
        ...     table = socket_table().filter(port=server.port)
        >>> [row.state for row in table]
        ['LISTEN']
    """
    if kinds not in _KINDS:
        raise UsageError(
            _("kinds must be one of {choices}; not {kinds!r}").format(
                choices=", ".join(_KINDS), kinds=kinds
            )
        )
    extra_ports = _check_ports(ports)
    import psutil

    pid = os.getpid()
    notes: list[str] = []
    rows: list[SocketRow] = []
    process = psutil.Process(pid)
    # psutil 6 renamed Process.connections to net_connections.
    own = getattr(process, "net_connections", None) or process.connections
    try:
        for conn in own(kind=kinds):
            row = _row(conn, pid)
            if row is not None:
                rows.append(row)
    except (psutil.Error, OSError, NotImplementedError) as exc:
        notes.append(
            _("the operating system would not list this process's sockets ({error!r})").format(
                error=exc
            )
        )

    ours = extra_ports | {row.local_port for row in rows if row.local_port}
    system_wide = False
    if include_time_wait:
        seen = {(r.protocol, r.ip_version, r.local, r.remote) for r in rows}
        try:
            everyone = psutil.net_connections(kind=kinds)
        except (psutil.AccessDenied, PermissionError):
            notes.append(
                _(
                    "this system lists other processes' sockets only to an administrator, so "
                    "sockets no process owns any more (TIME_WAIT) are not shown"
                )
            )
        except (psutil.Error, OSError, NotImplementedError) as exc:
            notes.append(
                _("the system-wide socket list is unavailable ({error!r})").format(error=exc)
            )
        else:
            system_wide = True
            for conn in everyone:
                # No owner: None on Linux and macOS, 0 ("System Idle") on Windows.
                if conn.pid not in (None, 0):
                    continue
                row = _row(conn, None)
                if row is None or not ({row.local_port, row.remote_port} & ours):
                    continue
                key = (row.protocol, row.ip_version, row.local, row.remote)
                if key not in seen:
                    seen.add(key)
                    rows.append(row)

    rows.sort(key=lambda r: (r.protocol, r.ip_version, r.local_port or 0, r.remote_port or 0))
    return SocketTable(
        rows=tuple(rows),
        pid=pid,
        ports=frozenset(ours),
        system_wide=system_wide,
        note="; ".join(notes),
    )
