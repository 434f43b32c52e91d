"""Bad input gets a clear LabsockError that names the problem and the fix, and leaks nothing.

The autouse ``no_leaks`` fixture checks that every failed call left no
thread, socket or endpoint behind.
"""

from __future__ import annotations

import errno
import socket
import sys

import pytest

import labsock
from labsock import TCPEchoServer, UDPEchoServer
from labsock._core.errors import translate_oserror

SERVERS = [TCPEchoServer, UDPEchoServer]


@pytest.mark.parametrize("server_class", SERVERS)
@pytest.mark.parametrize("port", [-1, 65536, 10**6])
def test_port_out_of_range_is_refused_with_the_valid_range(server_class: type, port: int) -> None:
    with pytest.raises(labsock.UsageError, match=r"0 to 65535"):
        server_class(port=port)


@pytest.mark.parametrize("server_class", SERVERS)
@pytest.mark.parametrize("port", ["8080", 80.0, None, True])
def test_port_that_is_not_an_int_is_refused(server_class: type, port: object) -> None:
    with pytest.raises(labsock.UsageError, match=r"whole number.*port=0"):
        server_class(port=port)


@pytest.mark.parametrize("server_class", SERVERS)
def test_port_already_in_use_says_so_and_suggests_port_0(server_class: type) -> None:
    with server_class() as first:
        with pytest.raises(labsock.AddressInUse, match=r"already in use.*port=0") as info:
            server_class(port=first.port)
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.EADDRINUSE


@pytest.mark.parametrize("server_class", SERVERS)
def test_host_that_does_not_resolve_is_explained(server_class: type) -> None:
    # .invalid is reserved (RFC 2606) and never resolves, without asking any server.
    # Nothing else comes first (warnings are errors here): the name's one
    # problem is that it does not resolve. (Refusals: tests/core/test_guard.py.)
    with pytest.raises(labsock.HostNotFound) as info:
        server_class("no-such-host.invalid")
    assert "does not resolve" in str(info.value)
    assert isinstance(info.value.__cause__, socket.gaierror)


def test_str_payload_is_refused_with_the_encode_hint() -> None:
    codec = labsock.LengthPrefixCodec()
    with pytest.raises(labsock.PayloadTypeError, match=r"\.encode\(\)"):
        codec.encode("hello")  # type: ignore[arg-type]
    with pytest.raises(TypeError):  # still a TypeError for generic handlers
        labsock.LineCodec().encode("hello")  # type: ignore[arg-type]


def test_udp_datagram_larger_than_65507_bytes_is_refused() -> None:
    with UDPEchoServer() as server:
        with pytest.raises(labsock.DatagramTooLarge, match=r"65,507"):
            labsock.ping(server.address, size=65_508)
        # The limit itself is fine.
        assert labsock.ping(server.address, size=65_507, count=2).received == 2


def test_kernel_refusing_an_oversized_datagram_is_translated() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        with pytest.raises(labsock.DatagramTooLarge, match="too large"):
            with labsock._core.errors.os_errors("send to", ("127.0.0.1", 9)):
                s.sendto(bytes(70_000), ("127.0.0.1", 9))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"count": 0}, "count=0"),
        ({"count": -5}, "count=-5"),
        ({"count": 2.5}, "whole number"),
        ({"size": 4}, "size=4"),
        ({"timeout": 0}, "timeout=0"),
        ({"timeout": -1}, "timeout=-1"),
        ({"timeout": float("nan")}, "timeout=nan"),
        ({"interval": -0.1}, "interval=-0.1"),
        ({"interval": "fast"}, "number of seconds"),
        ({"protocol": "sctp"}, "'udp' or 'tcp'"),
    ],
)
def test_ping_arguments_that_make_no_sense_are_refused(
    kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(labsock.UsageError, match=match):
        labsock.ping(("127.0.0.1", 9), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("address", ["127.0.0.1:80", ("127.0.0.1",), (1, 2), ("x", "80")])
def test_ping_address_must_be_a_host_port_tuple(address: object) -> None:
    with pytest.raises(labsock.UsageError, match="address"):
        labsock.ping(address)  # type: ignore[arg-type]


def test_closed_error_and_address_in_use_are_distinguishable() -> None:
    # "You closed this" is not "the network broke it".
    assert not issubclass(labsock.ClosedError, labsock.NetworkError)
    assert issubclass(labsock.ConnectionRefused, labsock.NetworkError)
    assert issubclass(labsock.NetworkTimeout, TimeoutError)


def test_udp_ping_where_nothing_listens_loses_every_probe_and_says_why() -> None:
    with UDPEchoServer() as server:
        address = server.address
    # The server is gone; its port is free again (nobody else binds it so fast).
    result = labsock.ping(address, count=3, timeout=0.5)
    assert result.received == 0
    assert result.lost == 3
    assert "no reply" in result.summary()
    if sys.platform == "linux":  # the kernel reports ICMP port unreachable on loopback
        assert result.unreachable
    if result.unreachable:
        assert "nothing is listening" in result.summary()


def test_tcp_ping_where_nothing_listens_explains_connection_refused() -> None:
    with TCPEchoServer() as server:
        address = server.address
    with pytest.raises(labsock.ConnectionRefused, match="nothing is listening") as info:
        labsock.ping(address, protocol="tcp", count=1)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_privileged_port_error_suggests_port_0() -> None:
    err = translate_oserror(
        PermissionError(errno.EACCES, "Permission denied"), action="bind", address=("127.0.0.1", 80)
    )
    assert isinstance(err, labsock.PermissionDenied)
    assert "port 80" in str(err)
    assert "port=0" in str(err)
