"""The echo servers, on real loopback sockets."""

from __future__ import annotations

import os
import random
import selectors
import socket
import struct
import subprocess
import time

import pytest

import labsock
import labsock._endpoints.servers as servers_module
from labsock import TCPEchoServer, UDPEchoServer
from labsock._endpoints.base import JOIN_TIMEOUT
from tests.helpers import needs_ipv6, needs_tool, tcp_echo, wait_until

TIMEOUT = 10.0


@pytest.mark.parametrize("size", [1, 2, 1000, 65_535, 65_536, 1 << 20, 8 << 20])
def test_tcp_echo_returns_payloads_byte_exact(size: int) -> None:
    payload = random.Random(size).randbytes(size)
    with TCPEchoServer() as server:
        assert tcp_echo(server.address, payload) == payload
        # The connection has ended on both sides before the counters settle.
        wait_until(lambda: server.statistics().active == 0, "the connection ended on the server")
        stats = server.statistics()
    assert stats.bytes_in == stats.bytes_out == size
    assert stats.connections == 1
    assert stats.active == 0


def test_tcp_server_serves_200_concurrent_clients_every_byte_checked() -> None:
    clients, messages = 200, 200
    with TCPEchoServer() as server:
        socks = [socket.create_connection(server.address, timeout=TIMEOUT) for _ in range(clients)]
        try:
            # All 200 are connected at once before any message flows.
            wait_until(
                lambda: server.statistics().active == clients, f"{clients} clients connected"
            )
            # One selector drives every client: each sends its next message as
            # soon as the previous one came back intact.
            sel = selectors.DefaultSelector()
            expected: dict[socket.socket, bytes] = {}
            got: dict[socket.socket, bytearray] = {}
            sent: dict[socket.socket, int] = {}

            def message(i: int, n: int) -> bytes:
                return struct.pack("!HH", i, n) + bytes([i % 251]) * (n % 97)

            for i, s in enumerate(socks):
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, i)
                expected[s] = message(i, 0)
                got[s] = bytearray()
                sent[s] = 1
                s.sendall(expected[s])
            done = 0
            end = time.monotonic() + 60
            while done < clients:
                assert time.monotonic() < end, "200 clients did not finish in 60 s"
                for key, _ in sel.select(timeout=1.0):
                    s, i = key.fileobj, key.data
                    assert isinstance(s, socket.socket)
                    got[s] += s.recv(65536)
                    if len(got[s]) < len(expected[s]):
                        continue
                    assert bytes(got[s]) == expected[s]
                    if sent[s] == messages:
                        sel.unregister(s)
                        done += 1
                        continue
                    expected[s] = message(i, sent[s])
                    got[s] = bytearray()
                    sent[s] += 1
                    s.setblocking(True)
                    s.sendall(expected[s])
                    s.setblocking(False)
            sel.close()
        finally:
            for s in socks:
                s.close()
        assert server.statistics().connections == clients


def test_tcp_server_survives_clients_that_vanish_reset_or_half_close() -> None:
    with TCPEchoServer() as server:
        # 1. vanish mid-message: part of a "message", then gone.
        with socket.create_connection(server.address, timeout=TIMEOUT) as c:
            c.sendall(b"half a mess")
        # 2. reset: SO_LINGER 0 makes close() send RST instead of FIN.
        c = socket.create_connection(server.address, timeout=TIMEOUT)
        c.sendall(b"x" * 100_000)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        # 3. half-close: we stop sending, the echo still comes back in full.
        assert tcp_echo(server.address, b"after the storm") == b"after the storm"
        wait_until(lambda: server.statistics().active == 0, "every connection ended on the server")
        stats = server.statistics()
    assert stats.connections == 3
    assert stats.active == 0
    assert server.errors == ()


def test_udp_echo_of_10000_datagrams_returns_each_one() -> None:
    with UDPEchoServer() as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(TIMEOUT)
        c.connect(server.address)
        window, total = 16, 10_000
        seen: set[int] = set()
        # A bounded window keeps the receive buffers from overflowing, so
        # every datagram must come back, each with its own boundaries.
        next_seq = 0
        while len(seen) < total:
            while next_seq < total and next_seq - len(seen) < window:
                c.send(struct.pack("!I", next_seq) + b"d" * (next_seq % 300))
                next_seq += 1
            data = c.recv(2048)
            seq = struct.unpack_from("!I", data)[0]
            assert data == struct.pack("!I", seq) + b"d" * (seq % 300)
            seen.add(seq)
        # The server counts a datagram as sent after sendto() returns, which
        # can be just after our recv() saw it.
        wait_until(lambda: server.statistics().datagrams_out == total, f"{total} datagrams echoed")
        stats = server.statistics()
    assert seen == set(range(total))
    assert stats.datagrams_in == stats.datagrams_out == total


def test_udp_server_reports_the_receive_buffer_the_kernel_granted() -> None:
    with UDPEchoServer(receive_buffer=8192) as server:
        granted = server.receive_buffer
    # Linux doubles the request (for bookkeeping overhead); others keep it.
    assert granted >= 4096
    assert granted != 0


@needs_ipv6
@pytest.mark.parametrize("server_class", [TCPEchoServer, UDPEchoServer])
def test_servers_work_on_ipv6_loopback(server_class: type) -> None:
    with server_class("::1") as server:
        assert server.address[0] == "::1"
        protocol = "tcp" if server_class is TCPEchoServer else "udp"
        result = labsock.ping(server.address, protocol=protocol, count=5)
    assert result.received == 5


def test_address_is_real_and_ready_before_the_constructor_returns() -> None:
    for _ in range(20):
        with TCPEchoServer() as server:
            host, port = server.address
            assert host == "127.0.0.1"
            assert port > 0
            # No sleep: the server must already accept.
            with socket.create_connection((host, port), timeout=TIMEOUT) as c:
                c.sendall(b"!")
                assert c.recv(1) == b"!"


@pytest.mark.parametrize("server_class", [TCPEchoServer, UDPEchoServer])
def test_close_while_clients_are_connected_stops_every_thread(server_class: type) -> None:
    server = server_class()
    kind = socket.SOCK_STREAM if server_class is TCPEchoServer else socket.SOCK_DGRAM
    clients = []
    for _ in range(10):
        c = socket.socket(socket.AF_INET, kind)
        c.settimeout(TIMEOUT)
        c.connect(server.address)
        c.send(b"hi")
        assert c.recv(10) == b"hi"
        clients.append(c)
    server.close()
    for c in clients:
        c.close()


def test_statistics_is_an_immutable_snapshot() -> None:
    with UDPEchoServer() as server:
        before = server.statistics()
        labsock.ping(server.address, count=3)
        after = server.statistics()
        with pytest.raises(AttributeError):
            before.datagrams_in = 5  # type: ignore[misc]
    assert before.datagrams_in == 0
    assert after.datagrams_in == 3


# -- clients we did not write --------------------------------------------------


@needs_tool("socat")
def test_tcp_server_answers_socat() -> None:
    with TCPEchoServer() as server:
        host, port = server.address
        out = subprocess.run(
            ["socat", "-t", "2", "-", f"TCP:{host}:{port}"],
            input=b"hello from socat\n",
            capture_output=True,
            timeout=TIMEOUT,
            check=True,
        )
    assert out.stdout == b"hello from socat\n"


@needs_tool("socat")
def test_udp_server_answers_socat() -> None:
    with UDPEchoServer() as server:
        host, port = server.address
        out = subprocess.run(
            ["socat", "-t", "1", "-", f"UDP:{host}:{port}"],
            input=b"datagram from socat\n",
            capture_output=True,
            timeout=TIMEOUT,
            check=True,
        )
        stats = server.statistics()
    assert out.stdout == b"datagram from socat\n"
    assert stats.datagrams_in == 1


@needs_tool("nc")
def test_tcp_server_answers_netcat() -> None:
    with TCPEchoServer() as server:
        host, port = server.address
        # -N: shut down the sending side at end of input (netcat-openbsd),
        # so the server's echo and close end the conversation.
        out = subprocess.run(
            ["nc", "-N", "-w", "2", host, str(port)],
            input=b"hello from netcat\n",
            capture_output=True,
            timeout=TIMEOUT,
            check=True,
        )
    assert out.stdout == b"hello from netcat\n"


def test_worker_errors_are_kept_and_raised_once_by_close() -> None:
    server = UDPEchoServer()
    boom = RuntimeError("injected")
    server._record_error(boom)  # what a worker does when it fails
    with pytest.raises(labsock.WorkerError) as info:
        server.close()
    assert info.value.__cause__ is boom
    assert server.errors == (boom,)
    server.close()  # second close: already reported, no raise


def test_no_worker_writes_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with TCPEchoServer() as server:
        c = socket.create_connection(server.address, timeout=TIMEOUT)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sendall(os.urandom(1000))
        c.close()
        labsock.ping(server.address, protocol="tcp", count=3)
    out, err = capfd.readouterr()
    assert err == ""
    assert out == ""


def test_a_udp_server_stops_even_when_the_wake_up_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # close() wakes the blocked recvfrom at once (shutdown + a wake datagram).
    # Should both fail (as they may on some systems), the kernel's receive
    # timeout still ends the wait within a second, and close() returns
    # cleanly instead of giving up on a stuck thread after JOIN_TIMEOUT.
    monkeypatch.setattr(servers_module, "wake_receiver", lambda sock, address: None)
    server = UDPEchoServer()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5.0)
        client.sendto(b"alive", server.address)
        assert client.recv(16) == b"alive"
    started = time.monotonic()
    server.close()
    took = time.monotonic() - started
    assert server.errors == ()
    assert took < JOIN_TIMEOUT - 1.0
