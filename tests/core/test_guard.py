"""Nothing leaves loopback: every labsock call refuses other addresses, before any socket.

These are the only tests that *name* addresses beyond loopback. labsock must
refuse each one before a socket exists (``sockets_made`` proves it), and the
session's audit hook (tests/loopback_audit.py) would block, and fail the
test, if a refused address ever reached the socket layer anyway.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import labsock
from labsock import ImpairedLink, MulticastGroup, NotLoopback, TCPEchoServer, UDPEchoServer
from labsock._core import guard
from labsock._core.errors import translate_oserror
from tests import loopback_audit
from tests.helpers import needs_ipv6

#: Unicast destinations beyond loopback, and why each is in the list.
ELSEWHERE = {
    "10.1.2.3": "private network (10/8)",
    "192.168.1.20": "private network (192.168/16)",
    "8.8.8.8": "public address",
    "::ffff:8.8.8.8": "IPv4-mapped IPv6 of a public address",
    "2001:4860:4860::8888": "public IPv6 address",
    "134744072": "a 'name' that resolves to 8.8.8.8 (inet_aton's single number)",
    "255.255.255.255": "broadcast: every machine on the local network",
    "<broadcast>": "Python's spelling of 255.255.255.255",
    "239.255.1.2": "a multicast group used as a unicast destination",
    "0.0.0.0": "'any address': nothing can be sent to it",
}
#: Bind addresses beyond loopback.
EVERYWHERE = {
    "0.0.0.0": "every IPv4 interface",
    "::": "every IPv6 interface",
    "10.1.2.3": "private network",
    "8.8.8.8": "public address",
    "::ffff:192.168.1.20": "IPv4-mapped private address",
}
PORT = 7  # the echo port: what a student would try


@pytest.fixture(autouse=True)
def switch_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts without the teacher's opt-in, and leaves it so."""
    monkeypatch.delenv(guard.ALLOW_NETWORK_ENV, raising=False)
    labsock.allow_network(None)
    yield
    labsock.allow_network(None)


def _traced_connect(address: tuple[str, int]) -> None:
    with labsock.Trace().socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET) as s:
        s.connect(address)


def _traced_sendto(address: tuple[str, int]) -> None:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with labsock.Trace().socket(family, socket.SOCK_DGRAM) as s:
        s.sendto(b"hello", address)


def _check_client(address: tuple[str, int]) -> None:
    from labsock.exercises._clients import connect

    connect(address, timeout=1.0).close()


def _check_sender(address: tuple[str, int]) -> None:
    from labsock.exercises._checks_reliable import _reference_send
    from labsock.exercises._harness import CheckRun

    # Not `with run:`: a check reports its own errors instead of raising them.
    run = CheckRun("guard", "the check's sender")
    try:
        _reference_send(run, address, [b"hello"])
    finally:
        run.__exit__(None, None, None)


#: Every labsock call that sends, connects or relays, given a destination.
SENDERS: dict[str, Callable[[tuple[str, int]], object]] = {
    "ping udp": lambda a: labsock.ping(a, count=1, timeout=0.05),
    "ping tcp": lambda a: labsock.ping(a, protocol="tcp", count=1, timeout=0.05),
    "link target udp": lambda a: ImpairedLink(a),
    "link target tcp": lambda a: ImpairedLink(a, protocol="tcp"),
    "Trace.create_connection": lambda a: labsock.Trace().create_connection(a, timeout=0.05),
    "TracedSocket.connect": _traced_connect,
    "TracedSocket.sendto": _traced_sendto,
    "check client": _check_client,
    "check sender": _check_sender,
}


def _traced_bind(host: str) -> None:
    with labsock.Trace().socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))


#: Every labsock endpoint that binds, given a host.
BINDERS: dict[str, Callable[[str], object]] = {
    "TCPEchoServer": lambda h: TCPEchoServer(h),
    "UDPEchoServer": lambda h: UDPEchoServer(h),
    "link bind udp": lambda h: ImpairedLink(("127.0.0.1", 9), host=h),
    "link bind tcp": lambda h: ImpairedLink(("127.0.0.1", 9), host=h, protocol="tcp"),
    "TracedSocket.bind": _traced_bind,
}


def _assert_refused_clearly(info: pytest.ExceptionInfo[NotLoopback], shown: str) -> None:
    message = str(info.value)
    assert shown in message  # what was refused
    assert "shared machines" in message
    assert "leave the machine" in message
    assert "127.0.0.1" in message  # what to do


# -- destinations -------------------------------------------------------------------
@pytest.mark.parametrize("host", ELSEWHERE)
@pytest.mark.parametrize("call", SENDERS)
def test_every_sending_call_refuses_addresses_beyond_loopback(call: str, host: str) -> None:
    with (
        loopback_audit.sockets_made() as made,
        pytest.raises(NotLoopback) as info,
    ):
        SENDERS[call]((host, PORT))
    shown = guard._SPECIAL_HOSTS.get(host, host)
    _assert_refused_clearly(info, shown)
    # Refused before any socket existed (the traced-socket cases make their
    # own socket first, as a student does, and are refused at the call).
    assert made == [] or call.startswith("TracedSocket"), made
    assert labsock.live_endpoints() == []


def test_a_multicast_group_is_no_ping_target_even_for_a_teacher() -> None:
    labsock.allow_network(True)
    with pytest.raises(NotLoopback, match="multicast group, not one machine") as info:
        labsock.ping(("239.255.1.2", 5000), count=1)
    assert "MulticastGroup" in str(info.value)
    assert "allow_network" not in str(info.value)  # no opt-in offered: it would not help


def test_a_name_is_resolved_once_and_what_it_resolves_to_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(NotLoopback, match=r"'134744072' resolves to 8\.8\.8\.8"):
        labsock.ping(("134744072", PORT), count=1)
    # Once: the address checked is the address used (a second lookup could answer otherwise).
    lookups: list[object] = []
    real = socket.getaddrinfo

    def counted(*args: Any, **kwargs: Any) -> Any:
        lookups.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counted)
    with UDPEchoServer() as server:
        lookups.clear()
        assert labsock.ping(("localhost", server.port), count=2, timeout=1.0).received == 2
        assert lookups == ["localhost"]
        monkeypatch.undo()
    with UDPEchoServer() as server:
        # 'localhost' and other spellings of loopback work.
        for host in ("localhost", "2130706433", "127.1"):
            assert labsock.ping((host, server.port), count=2, timeout=1.0).received == 2


def test_the_whole_127_network_is_loopback() -> None:
    with UDPEchoServer("127.0.0.2") as server:
        assert labsock.ping(server.address, count=2, timeout=1.0).received == 2


def test_ipv4_mapped_loopback_is_loopback() -> None:
    assert guard.check_destination(("::ffff:127.0.0.1", PORT), what="ping")[0] == (
        "::ffff:127.0.0.1"
    )


@needs_ipv6
def test_ipv6_loopback_works_end_to_end() -> None:
    with UDPEchoServer("::1") as server, ImpairedLink(server.address, host="::1") as link:
        assert labsock.ping(link.address, count=2, timeout=1.0).received == 2


# -- binds --------------------------------------------------------------------------
@pytest.mark.parametrize("host", EVERYWHERE)
@pytest.mark.parametrize("endpoint", BINDERS)
def test_every_endpoint_refuses_to_bind_beyond_loopback(endpoint: str, host: str) -> None:
    with (
        loopback_audit.sockets_made() as made,
        pytest.raises(NotLoopback) as info,
    ):
        BINDERS[endpoint](host)
    shown = guard._SPECIAL_HOSTS.get(host, host)
    _assert_refused_clearly(info, shown)
    assert "port=0" in str(info.value)
    assert made == [] or endpoint.startswith("TracedSocket"), made
    assert labsock.live_endpoints() == []


def test_the_empty_host_is_every_interface_too() -> None:
    # Python binds "" to 0.0.0.0: a traced socket refuses it as such; the
    # endpoints already refuse an empty host as a bad argument.
    with pytest.raises(NotLoopback, match=r"bind 0\.0\.0\.0:0"):
        _traced_bind("")
    with pytest.raises(labsock.UsageError, match="non-empty"):
        UDPEchoServer("")


def test_binding_every_interface_says_what_it_would_mean() -> None:
    with pytest.raises(NotLoopback, match="every network interface") as info:
        TCPEchoServer("0.0.0.0")
    assert "answers any machine" in str(info.value)
    assert "allow_network(True)" in str(info.value)  # the teacher's way, named


# -- multicast ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"ttl": 2}, "routers forward"),
        ({"ttl": 255}, "routers forward"),
        ({"interface": "192.0.2.2"}, "not the loopback interface"),
        ({"interface": "0.0.0.0"}, "not the loopback interface"),
        ({"interface": "::ffff:10.0.0.1"}, "not the loopback interface"),
    ],
)
def test_multicast_stays_on_loopback_with_ttl_at_most_1(kwargs: dict[str, Any], words: str) -> None:
    labsock.allow_network(True)  # the opt-in is for unicast only
    with loopback_audit.sockets_made() as made, pytest.raises(NotLoopback, match=words):
        MulticastGroup(**kwargs)
    assert made == []
    assert labsock.live_endpoints() == []


@pytest.mark.parametrize("group", ["10.1.2.3", "8.8.8.8", "255.255.255.255"])
def test_fan_out_refuses_a_group_that_is_not_one(group: str) -> None:
    with loopback_audit.sockets_made() as made, pytest.raises(labsock.UsageError):
        labsock.fan_out(group, receivers=1, count=1)
    assert made == []


# -- calls with no address: their fixed loopback address goes through the guard too --
@pytest.mark.parametrize(
    ("module", "call"),
    [
        ("labsock._experiments.blast", lambda: labsock.blast(count=1)),
        ("labsock._experiments.compare", lambda: labsock.compare_speed(count=1)),
        ("labsock._experiments.sender_cost", lambda: labsock.sender_cost(count=1)),
    ],
)
def test_experiments_with_a_fixed_address_check_it_too(
    monkeypatch: pytest.MonkeyPatch, module: str, call: Callable[[], object]
) -> None:
    # Were someone to change the experiment's address, the guard would refuse it.
    monkeypatch.setattr(f"{module}._HOST", "10.1.2.3")
    with loopback_audit.sockets_made() as made, pytest.raises(NotLoopback):
        call()
    assert made == []


@pytest.fixture(scope="module")
def stepper_drawn(fonts_loaded: None) -> None:
    """One stepper run before the leak check counts descriptors (its figure's fonts)."""
    from labsock.widgets import SocketStepper

    stepper = SocketStepper()
    try:
        stepper.run()
    finally:
        stepper.close()


@pytest.mark.usefixtures("stepper_drawn")
def test_the_stepper_goes_through_the_traced_sockets_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from labsock.widgets import SocketStepper

    monkeypatch.setattr("labsock._endpoints.stepper_machine._HOST", "10.1.2.3")
    stepper = SocketStepper("udp")
    try:
        stepper.step("server", "socket")
        result = stepper.step("server", "bind")
    finally:
        stepper.close()
    assert not result.ok
    assert isinstance(result.error, NotLoopback)


# -- once per call, never per datagram ----------------------------------------------
def test_ping_checks_its_destination_once_not_per_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []

    def counting(address: object, **kwargs: Any) -> tuple[Any, ...]:
        calls.append(address)
        return guard.check_destination(address, **kwargs)

    monkeypatch.setattr("labsock._experiments.ping.check_destination", counting)
    with UDPEchoServer() as server:
        assert labsock.ping(server.address, count=20).received == 20
    assert len(calls) == 1


def test_a_traced_socket_checks_each_destination_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []

    def counting(address: object, **kwargs: Any) -> tuple[Any, ...]:
        calls.append(address)
        return guard.check_destination(address, **kwargs)

    monkeypatch.setattr("labsock._endpoints.trace.check_destination", counting)
    trace = labsock.Trace()
    with UDPEchoServer() as server, trace.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(2.0)
        for _ in range(5):
            client.sendto(b"hi", server.address)
            assert client.recv(10) == b"hi"
    assert len(calls) == 1


def test_a_refused_traced_call_is_recorded_with_its_error() -> None:
    trace = labsock.Trace()
    with trace.socket(socket.AF_INET, socket.SOCK_DGRAM, actor="client") as s:
        with pytest.raises(NotLoopback):
            s.sendto(b"hi", ("8.8.8.8", 53))
    refused = [e for e in trace.events if e.call == "sendto"]
    assert len(refused) == 1
    assert refused[0].error is not None
    assert "NotLoopback" in refused[0].error


# -- the teacher's switch -----------------------------------------------------------
def test_allow_network_lifts_the_rule_for_unicast_only() -> None:
    assert not labsock.network_allowed()
    with pytest.raises(NotLoopback):
        guard.check_destination(("10.1.2.3", PORT), what="ping")
    labsock.allow_network(True)
    assert labsock.network_allowed()
    # Decided only: nothing is sent from a test.
    assert guard.check_destination(("10.1.2.3", PORT), what="ping") == ("10.1.2.3", PORT)
    assert guard.check_bind(("0.0.0.0", 0), what="server") == ("0.0.0.0", 0)
    for never in ("239.255.1.2", "0.0.0.0"):
        with pytest.raises(NotLoopback):
            guard.check_destination((never, PORT), what="ping")
    labsock.allow_network(False)
    with pytest.raises(NotLoopback):
        guard.check_destination(("10.1.2.3", PORT), what="ping")


def test_the_environment_variable_opts_in_and_allow_network_overrides_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABSOCK_ALLOW_NETWORK", "1")
    assert labsock.network_allowed()
    labsock.allow_network(False)
    assert not labsock.network_allowed()
    labsock.allow_network(None)
    assert labsock.network_allowed()
    monkeypatch.setenv("LABSOCK_ALLOW_NETWORK", "0")
    assert not labsock.network_allowed()


@pytest.mark.parametrize("value", ["yes", 1, "True"])
def test_allow_network_takes_only_a_bool_or_none(value: object) -> None:
    with pytest.raises(labsock.UsageError):
        labsock.allow_network(value)  # type: ignore[arg-type]


def test_loopback_warning_is_kept_as_a_deprecated_name() -> None:
    # Old notebooks may filter it; nothing issues it any more (refusal instead).
    assert issubclass(labsock.LoopbackWarning, UserWarning)
    assert "Deprecated" in (labsock.LoopbackWarning.__doc__ or "")


# -- messages that name the real problem --------------------------------------------
def test_loopback_broadcast_is_refused_by_the_kernel_with_the_right_reason() -> None:
    # 127.255.255.255 is loopback (the guard lets it pass: nothing can leave),
    # but it is a broadcast address: the kernel says EACCES, which used to
    # read "port 7 is below 1024".
    with pytest.raises(labsock.PermissionDenied) as info:
        labsock.ping(("127.255.255.255", PORT), count=1)
    message = str(info.value)
    assert "broadcast address" in message
    assert "SO_BROADCAST" in message
    assert "below 1024" not in message


def test_eacces_when_binding_still_means_a_privileged_port() -> None:
    err = translate_oserror(
        PermissionError(errno.EACCES, "Permission denied"), action="bind", address=("127.0.0.1", 7)
    )
    assert "below 1024" in str(err)


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_ping_to_port_0_says_port_0_is_no_destination(protocol: str) -> None:
    # It used to report every probe lost, silently.
    with pytest.raises(labsock.UsageError, match="port 0 is not a port anything listens on"):
        labsock.ping(("127.0.0.1", 0), protocol=protocol, count=1)  # type: ignore[arg-type]


def test_a_link_to_port_0_says_so_too() -> None:
    with pytest.raises(labsock.UsageError, match="port 0"):
        ImpairedLink(("127.0.0.1", 0))


# -- the session's audit hook, the net under all of this -----------------------------
def test_the_audit_hook_blocks_and_records_a_connect_beyond_loopback() -> None:
    # UDP connect sends nothing, even were the hook to fail: a safe probe.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        with (
            loopback_audit.expect_blocked() as blocked,
            pytest.raises(loopback_audit.LeftLoopback),
        ):
            s.connect(("192.0.2.1", PORT))
    assert len(blocked) == 1
    assert "192.0.2.1" in blocked[0]


def test_the_audit_hook_blocks_a_bind_on_every_interface() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        with (
            loopback_audit.expect_blocked() as blocked,
            pytest.raises(loopback_audit.LeftLoopback),
        ):
            s.bind(("", 0))
    assert len(blocked) == 1


def test_the_audit_hook_lets_loopback_and_unix_sockets_through() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        assert loopback_audit.verdict("socket.sendto", s, ("127.0.0.1", PORT)) is None
        assert loopback_audit.verdict("socket.connect", s, ("localhost", PORT)) is None
        assert loopback_audit.verdict("socket.sendmsg", s, None) is None
        assert loopback_audit.verdict("socket.sendto", s, ("10.0.0.1", PORT)) is not None
        assert loopback_audit.verdict("socket.bind", s, ("0.0.0.0", 0)) is not None
    a, b = socket.socketpair()
    with a, b:
        assert loopback_audit.verdict("socket.connect", a, "/tmp/x") is None


def test_the_audit_hook_allows_multicast_only_from_a_loopback_interface_with_ttl_1() -> None:
    group = ("239.255.1.2", 5000)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # A socket that never set its multicast interface sends by the default route.
        assert "IP_MULTICAST_IF" in (loopback_audit.verdict("socket.sendto", s, group) or "")
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 5)
        assert "TTL" in (loopback_audit.verdict("socket.sendto", s, group) or "")
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        assert loopback_audit.verdict("socket.sendto", s, group) is None
        # A receiver binds its group: binding sends nothing.
        assert loopback_audit.verdict("socket.bind", s, group) is None


def test_labsock_multicast_senders_pass_the_audit_hook() -> None:
    with MulticastGroup() as group:
        receiver = group.receiver()
        group.send(b"hello")
        assert receiver.wait_received(1, timeout=2.0)
    assert loopback_audit.violations() == []
