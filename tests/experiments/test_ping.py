"""ping over real loopback sockets: every probe accounted for."""

from __future__ import annotations

import socket
import threading

import pytest

import labsock
from labsock import TCPEchoServer, UDPEchoServer, UsageError
from labsock._core.probe import decode_probe


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
@pytest.mark.parametrize("interval", [None, 0.0005])
def test_direct_ping_gets_every_reply_in_order(protocol: str, interval: float | None) -> None:
    server_class = UDPEchoServer if protocol == "udp" else TCPEchoServer
    with server_class() as server:
        result = labsock.ping(server.address, protocol=protocol, count=200, interval=interval)  # type: ignore[arg-type]
    assert result.sent == result.received == 200
    assert result.lost == 0
    assert result.arrival_order == tuple(range(200))
    assert result.reordered == 0
    assert result.duplicates == 0
    assert result.rtt is not None
    assert 0 < result.rtt.min <= result.rtt.median <= result.rtt.p99 <= result.rtt.max
    assert all(r.received_at is not None and r.received_at >= r.sent_at for r in result.records)
    assert (result.connect_time is not None) == (protocol == "tcp")


def test_every_probe_carries_its_sequence_number_and_size() -> None:
    seen: list[tuple[int, int]] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)

        def echo() -> None:
            for _ in range(5):
                data, peer = server.recvfrom(2048)
                seen.append((decode_probe(data)[0], len(data)))
                server.sendto(data, peer)

        t = threading.Thread(target=echo)
        t.start()
        result = labsock.ping(server.getsockname(), count=5, size=100)
        t.join(5)
    assert seen == [(i, 100) for i in range(5)]
    assert result.received == 5


def test_replies_that_are_not_probes_are_ignored() -> None:
    # A server that answers every probe twice: once with junk, once properly.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)

        def echo() -> None:
            for _ in range(3):
                data, peer = server.recvfrom(2048)
                server.sendto(b"junk that is not a probe", peer)
                server.sendto(data, peer)
                server.sendto(data, peer)  # and a duplicate

        t = threading.Thread(target=echo)
        t.start()
        result = labsock.ping(server.getsockname(), count=3, timeout=1.0)
        t.join(5)
    assert result.received == 3
    assert result.duplicates == 3
    assert result.arrivals.count(0) == 2


def test_silent_peer_makes_every_probe_time_out_as_lost() -> None:
    # A bound socket that never answers: no ICMP error, only silence.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        result = labsock.ping(sink.getsockname(), count=3, timeout=0.05)
    assert result.lost == 3
    assert result.lost_seqs == (0, 1, 2)
    assert result.rtt is None
    assert "no reply" in result.summary()


def test_progress_is_reported_after_each_send() -> None:
    calls: list[tuple[int, int]] = []
    with UDPEchoServer() as server:
        labsock.ping(server.address, count=4, progress=lambda i, n: calls.append((i, n)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_paced_ping_keeps_its_schedule() -> None:
    with UDPEchoServer() as server:
        result = labsock.ping(server.address, count=20, interval=0.01)
    start = result.records[0].sent_at
    # Probe i leaves no earlier than i intervals after the first; lateness is
    # the OS scheduler's business and not asserted.
    for r in result.records:
        assert r.sent_at - start >= r.seq * 0.01 - 1e-6


def test_tcp_ping_reassembles_probes_split_by_the_stream() -> None:
    # Large probes are cut into several segments and recv() calls by TCP.
    with TCPEchoServer() as server:
        result = labsock.ping(server.address, protocol="tcp", count=20, size=200_000)
    assert result.received == 20
    assert result.arrival_order == tuple(range(20))


def test_summary_is_short_and_names_the_figures() -> None:
    with UDPEchoServer() as server:
        result = labsock.ping(server.address, count=10)
    text = str(result)
    assert len(text.splitlines()) <= 5
    for word in ("10 probes", "0 lost", "median", "p99", "reordered 0", "duplicates 0", "jitter"):
        assert word in text
    assert "PingResult" in repr(result)


def test_result_is_frozen() -> None:
    with UDPEchoServer() as server:
        result = labsock.ping(server.address, count=2)
    with pytest.raises(AttributeError):
        result.count = 3  # type: ignore[misc]


def test_tcp_ping_with_a_probe_bigger_than_the_socket_buffers_reads_while_sending() -> None:
    # Sent whole before reading, 16 MiB deadlocks: the echo stops reading
    # once we do not read its echo (both directions' buffers are full).
    size = 16 * 2**20
    with TCPEchoServer() as server:
        result = labsock.ping(server.address, protocol="tcp", size=size, count=2, timeout=10)
        paced = labsock.ping(
            server.address, protocol="tcp", size=size, count=2, interval=0.01, timeout=10
        )
        stats = server.statistics()
    assert result.received == 2
    assert paced.received == 2
    assert stats.bytes_in == stats.bytes_out == 4 * size


def test_tcp_ping_refuses_probes_bigger_than_64_mib_and_says_why() -> None:
    with pytest.raises(UsageError, match="64 MiB"):
        labsock.ping(("127.0.0.1", 9), protocol="tcp", size=64 * 2**20 + 1)
