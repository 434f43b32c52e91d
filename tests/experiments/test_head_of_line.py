"""Head-of-line blocking over real lost datagrams; the kernel's TCP_INFO of a connection."""

from __future__ import annotations

import itertools
import socket
import struct
import sys

import pytest

import labsock
from labsock import plots
from labsock._endpoints.tcpinfo import parse_tcp_info


def test_a_lost_message_holds_up_the_stream_behind_it_but_no_datagram() -> None:
    run = labsock.head_of_line(count=60, interval=0.004, loss=0.15, delay=0.004, seed=5)
    lost = run.lost_originals
    assert lost, "a seeded 15 % loss drops some first copies"
    assert run.delivered == run.count  # the stream repaired every loss...
    assert run.retransmissions >= len(lost)
    delivered = [m.delivered for m in run.messages]
    assert None not in delivered
    assert all(a <= b for a, b in itertools.pairwise(delivered))  # type: ignore[operator]
    # ...and every message it held back had arrived on time behind an earlier loss.
    assert run.held_back
    assert all(any(hole < seq for hole in lost) for seq in run.held_back)
    assert all(run.datagram_delays[seq] is None for seq in lost)
    for seq in run.held_back:
        datagram, stream = run.datagram_delays[seq], run.stream_delays[seq]
        assert datagram is not None
        assert stream is not None
        # As a datagram it waited only the link's own delay (and the kernel's
        # hand-over); the stream held it until a hole before it was filled,
        # which takes a retransmission: a time out after that message's send.
        assert datagram >= run.delay
        message = run.messages[seq]
        assert message.delivered is not None
        assert any(
            message.delivered >= run.messages[hole].sent + run.rto for hole in lost if hole < seq
        )
    # Every first copy the client lost is one the link dropped.
    assert len(lost) <= run.link.forward.dropped
    assert run.link.backward.dropped == 0
    assert not labsock.live_endpoints()
    fig = plots.head_of_line(run)
    gids = {line.get_gid() for line in fig.axes[0].lines}
    assert {"stream", "datagrams", "lost", "delay"} <= gids


def test_without_loss_nothing_waits_and_nothing_is_sent_twice() -> None:
    # A generous rto: a loaded machine must not make a late ACK look lost.
    run = labsock.head_of_line(count=30, loss=0.0, delay=0.002, rto=0.5, seed=1)
    assert run.lost_originals == ()
    assert run.held_back == ()
    assert run.retransmissions == 0
    assert run.delivered == 30
    assert "0 retransmissions" in " ".join(str(run).split())


def test_head_of_line_refuses_bad_settings() -> None:
    with pytest.raises(labsock.UsageError, match="loss"):
        labsock.head_of_line(loss=1.0)
    with pytest.raises(labsock.UsageError, match="count"):
        labsock.head_of_line(count=0)


def test_tcp_info_decodes_the_fields_of_linux_struct_tcp_info() -> None:
    fields = [6, 0, 2, 0, 0, 0, 0, 0] + [0] * 24
    fields[8 + 0] = 204_000  # rto, µs
    fields[8 + 2] = 1448  # snd_mss
    fields[8 + 15], fields[8 + 16] = 31, 9  # rtt, rttvar, µs
    fields[8 + 18] = 10  # snd_cwnd
    fields[8 + 23] = 3  # total_retrans
    info = parse_tcp_info(struct.pack("=8B24I", *fields) + b"later fields")
    assert (info.state, info.retransmits, info.total_retrans) == ("TIME_WAIT", 2, 3)
    assert (info.rtt, info.rttvar, info.rto) == (31e-6, 9e-6, 0.204)
    assert (info.snd_cwnd, info.snd_mss) == (10, 1448)
    with pytest.raises(labsock.UsageError, match="too short"):
        parse_tcp_info(b"\x01" * 50)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO is Linux's")
def test_tcp_info_reads_the_kernels_view_of_a_real_loopback_connection() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname(), timeout=2) as client:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(2)
                for _ in range(20):
                    client.sendall(b"ping")
                    conn.recv(16)
                    conn.sendall(b"pong")
                    client.recv(16)
                info = labsock.tcp_info(client)
    assert info is not None
    assert info.state == "ESTABLISHED"
    assert info.rto >= 0.2  # Linux never retransmits sooner than 200 ms
    assert 0 < info.rtt < info.rto
    assert info.total_retrans == 0  # loopback loses nothing
    assert info.snd_cwnd >= 1
    assert "segments sent again: 0" in str(info)


def test_tcp_info_refuses_udp_and_closed_sockets() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(labsock.UsageError, match="TCP sockets"):
            labsock.tcp_info(udp)
    closed = socket.socket()
    closed.close()
    with pytest.raises(labsock.UsageError, match="closed"):
        labsock.tcp_info(closed)
