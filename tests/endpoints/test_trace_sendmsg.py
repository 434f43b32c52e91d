"""A traced socket's ``sendmsg``: recorded, and checked by the loopback guard first."""

from __future__ import annotations

import socket

import pytest

from labsock import NotLoopback
from labsock._endpoints.servers import UDPEchoServer
from labsock._endpoints.trace import Trace

TIMEOUT = 5.0


def test_sendmsg_beyond_loopback_is_refused_before_any_packet() -> None:
    trace = Trace()
    with (
        trace.socket(socket.AF_INET, socket.SOCK_DGRAM, actor="client") as client,
        pytest.raises(NotLoopback, match="shared machines"),
    ):
        # Refused by labsock's guard (NotLoopback), not by the test session's
        # audit hook (which would raise LeftLoopback at the system call).
        client.sendmsg([b"he", b"llo"], [], 0, ("192.168.1.20", 7))
    refused = [e for e in trace.events if e.call == "sendmsg"]
    assert len(refused) == 1
    assert refused[0].error is not None
    assert refused[0].error.startswith("NotLoopback")


def test_sendmsg_to_loopback_is_sent_and_recorded_with_its_destination() -> None:
    trace = Trace()
    with (
        UDPEchoServer() as server,
        trace.socket(socket.AF_INET, socket.SOCK_DGRAM, actor="client") as client,
    ):
        client.settimeout(TIMEOUT)
        host, port = server.address
        assert client.sendmsg([b"he", b"llo"], [], 0, server.address) == 5
        assert client.recv(100) == b"hello"
    sent = next(e for e in trace.events if e.call == "sendmsg")
    assert sent.ok
    assert sent.nbytes == 5
    assert sent.args == f"5 bytes b'hello' to {host}:{port}"
    assert sent.peer == (host, port)
