"""The kernel's socket table, read back while real sockets change state."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from typing import Any

import psutil
import pytest

from labsock import UsageError
from labsock._endpoints.servers import TCPEchoServer
from labsock._endpoints.sockettable import SocketRow, SocketTable, socket_table
from tests.helpers import needs_ipv6, needs_tool

TIMEOUT = 5.0


def wait_for_state(port: int, state: str, **kwargs: Any) -> SocketTable:
    """Poll the table until a socket on ``port`` is in ``state`` (or time runs out)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        table = socket_table(**kwargs).filter(port=port)
        if table.states()[state] or time.monotonic() > deadline:
            return table
        time.sleep(0.01)


def mine(table: SocketTable) -> SocketTable:
    """This process's rows only: an ownerless TIME_WAIT left by an earlier test
    may share a port number with the sockets a test has just opened."""
    return SocketTable(rows=tuple(r for r in table if r.pid == os.getpid()), pid=table.pid)


def test_a_listening_tcp_server_shows_listen_on_its_port() -> None:
    with TCPEchoServer() as server:
        address = server.address
        table = mine(socket_table().filter(port=server.port))
    assert len(table) == 1
    row = table.rows[0]
    assert (row.protocol, row.ip_version, row.state) == ("tcp", 4, "LISTEN")
    assert row.local == address
    assert row.remote is None
    assert row.pid == os.getpid()
    assert row.fd is None or row.fd >= 0


def test_a_connected_client_shows_established_at_both_ends() -> None:
    with (
        TCPEchoServer() as server,
        socket.create_connection(server.address, timeout=TIMEOUT) as client,
    ):
        client.sendall(b"x")
        assert client.recv(1) == b"x"  # accepted and served: both ends exist
        client_port = client.getsockname()[1]
        server_port = server.port
        table = mine(socket_table().filter(port=server_port))
    by_ends = {(r.local_port, r.remote_port): r.state for r in table}
    assert by_ends == {
        (server_port, None): "LISTEN",
        (client_port, server_port): "ESTABLISHED",
        (server_port, client_port): "ESTABLISHED",
    }
    assert table.states() == {"LISTEN": 1, "ESTABLISHED": 2}
    assert {r.pid for r in table} == {os.getpid()}


def test_the_side_that_closes_first_waits_in_time_wait() -> None:
    with TCPEchoServer() as server:
        server_port = server.port
        client = socket.create_connection(server.address, timeout=TIMEOUT)
        client.sendall(b"x")
        assert client.recv(1) == b"x"
        client_port = client.getsockname()[1]
        # The client closes first: FIN, the server answers with its own FIN,
        # and the client's side stays in TIME_WAIT with no process owning it.
        client.close()
        table = wait_for_state(client_port, "TIME_WAIT")
        if not table.system_wide:
            pytest.skip(f"the OS hides ownerless sockets here: {table.note}")
        # (An earlier connection may have used the same client port number
        # towards another server: look at this connection's two ends only.)
        ours = table.filter(local_port=client_port, remote_port=server_port)
        assert [(r.state, r.pid, r.fd) for r in ours] == [("TIME_WAIT", None, None)]
        # The server's side does not wait: it is gone or finishing (LAST_ACK).
        theirs = table.filter(local_port=server_port, remote_port=client_port)
        assert theirs.states()["TIME_WAIT"] == 0
    # With the server gone, no socket of ours uses those ports any more:
    # naming the port is what still finds the TIME_WAIT entry.
    unnamed = socket_table().filter(local_port=client_port, remote_port=server_port)
    assert len(unnamed) == 0
    named = socket_table(ports=[client_port])
    assert named.filter(local_port=client_port, remote_port=server_port).states() == {
        "TIME_WAIT": 1
    }
    assert client_port in named.ports


def test_a_udp_socket_appears_as_udp_without_state() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        table = mine(socket_table().filter(port=port))
        assert [(r.protocol, r.name, r.state) for r in table] == [("udp", "udp", "NONE")]
        assert table.rows[0].fd == sock.fileno() or table.rows[0].fd is None
        assert len(mine(socket_table(kinds="tcp").filter(port=port))) == 0


@needs_ipv6
def test_ipv6_sockets_are_listed_as_tcp6() -> None:
    with TCPEchoServer("::1") as server:
        port = server.port
        table = mine(socket_table(kinds="inet6").filter(port=port))
        assert len(mine(socket_table(kinds="inet4").filter(port=port))) == 0
    assert [(r.name, r.ip_version, r.local) for r in table] == [("tcp6", 6, ("::1", port))]


def test_filter_keeps_exactly_the_rows_that_match() -> None:
    rows = (
        SocketRow("tcp", 4, ("127.0.0.1", 5000), None, "LISTEN", 1, 3),
        SocketRow("tcp", 4, ("127.0.0.1", 5000), ("127.0.0.1", 6000), "ESTABLISHED", 1, 4),
        SocketRow("tcp", 4, ("127.0.0.1", 6000), ("127.0.0.1", 5000), "ESTABLISHED", 1, 5),
        SocketRow("tcp", 6, ("::1", 7000), ("::1", 5000), "TIME_WAIT"),
        SocketRow("udp", 4, ("127.0.0.1", 5000), None, "NONE", 1, 6),
    )
    table = SocketTable(rows=rows, pid=1, note="n")

    def picked(**criteria: Any) -> list[int]:
        return [rows.index(r) for r in table.filter(**criteria)]

    assert picked(port=5000) == [0, 1, 2, 3, 4]
    assert picked(port=6000) == [1, 2]
    assert picked(local_port=5000) == [0, 1, 4]
    assert picked(remote_port=5000) == [2, 3]
    assert picked(protocol="tcp") == [0, 1, 2, 3]
    assert picked(protocol="TCP6") == [3]
    assert picked(protocol="udp") == [4]
    assert picked(state="established") == [1, 2]
    assert picked(port=5000, protocol="tcp", state="ESTABLISHED", local_port=6000) == [2]
    assert picked(port=9) == []
    # A new table; the original is untouched and the note is kept.
    assert len(table) == 5
    assert table.filter(port=9).note == "n"


def test_filter_on_a_live_table_finds_each_servers_sockets() -> None:
    with (
        TCPEchoServer() as a,
        TCPEchoServer() as b,
        socket.create_connection(a.address, timeout=TIMEOUT) as client,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
    ):
        udp.bind(("127.0.0.1", 0))
        client.sendall(b"x")
        assert client.recv(1) == b"x"
        a_port, b_port, udp_port = a.port, b.port, udp.getsockname()[1]
        client_port = client.getsockname()[1]
        table = socket_table()
    ours = mine(table)
    assert {(r.local_port, r.remote_port) for r in ours.filter(port=a_port)} == {
        (a_port, None),
        (a_port, client_port),
        (client_port, a_port),
    }
    assert [(r.local_port, r.state) for r in ours.filter(port=b_port)] == [(b_port, "LISTEN")]
    assert [r.name for r in ours.filter(port=udp_port)] == ["udp"]
    assert len(ours.filter(port=a_port, state="ESTABLISHED")) == 2


@needs_tool("nc")
def test_a_netcat_client_shows_on_the_server_side_only() -> None:
    with TCPEchoServer() as server:
        host, port = server.address
        nc = subprocess.Popen(
            ["nc", "-N", "-w", "5", host, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while server.statistics().active < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            table = mine(socket_table().filter(port=port, state="ESTABLISHED"))
        finally:
            assert nc.stdin is not None
            nc.stdin.close()
            nc.wait(TIMEOUT)
            assert nc.stdout is not None
            nc.stdout.close()
    # Our end of the connection is listed; netcat's end belongs to netcat.
    assert len(table) == 1
    assert table.rows[0].local_port == port
    assert table.rows[0].pid == os.getpid()


def test_when_the_os_refuses_the_system_wide_list_the_note_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(kind: str = "inet") -> list[Any]:
        raise psutil.AccessDenied()

    monkeypatch.setattr(psutil, "net_connections", refuse)
    with TCPEchoServer() as server:
        table = socket_table().filter(port=server.port)
    assert table.states() == {"LISTEN": 1}
    assert not table.system_wide
    assert "administrator" in table.note
    assert "note: " in str(table)
    assert "administrator" in table._repr_html_()


def test_older_psutil_without_net_connections_is_used_through_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = psutil.Process

    class OldProcess:
        def __init__(self, pid: int) -> None:
            self._process = real(pid)

        def connections(self, kind: str = "inet") -> list[Any]:
            return list(self._process.net_connections(kind=kind))

    monkeypatch.setattr(psutil, "Process", OldProcess)
    with TCPEchoServer() as server:
        table = socket_table(include_time_wait=False).filter(port=server.port)
    assert table.states() == {"LISTEN": 1}
    assert not table.system_wide


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(UsageError):
        socket_table(kinds="unix")
    with pytest.raises(UsageError):
        socket_table(ports=[70_000])
    with pytest.raises(UsageError):
        socket_table(ports="80")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        socket_table(ports=object())  # type: ignore[arg-type]


def test_text_and_html_show_every_row_with_escaping() -> None:
    rows = (
        SocketRow("tcp", 4, ("127.0.0.1", 5000), None, "LISTEN", 42, 3),
        SocketRow("tcp", 6, ("::1", 6000), ("::1", 7000), "TIME_WAIT"),
    )
    table = SocketTable(rows=rows, pid=42, note="a <note> & more")
    text = str(table).splitlines()
    assert text[0].split()[:2] == ["proto", "local"]
    assert text[1].split() == ["tcp", "127.0.0.1:5000", "*", "LISTEN", "42", "3"]
    assert text[2].split() == ["tcp6", "[::1]:6000", "[::1]:7000", "TIME_WAIT", "-", "-"]
    assert text[3] == "note: a <note> & more"
    page = table._repr_html_()
    assert page.count("<tr>") == 3
    assert "a &lt;note&gt; &amp; more" in page
    assert "<note>" not in page
    assert repr(table) == "<SocketTable 2 sockets (LISTEN=1, TIME_WAIT=1)>"
    empty = SocketTable(rows=(), pid=1)
    assert "(no sockets)" in str(empty)
    assert "(no sockets)" in empty._repr_html_()
