"""Multicast groups, receivers, senders and the fan-out experiment, on real loopback sockets."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import threading
import time

import pytest

import labsock
from labsock._endpoints.mcaddress import (
    DEFAULT_BLOCK,
    DEFAULT_BLOCK_V6,
    check_group,
    draw_group,
    ipv6_multicast_supported,
    loopback_index,
)
from labsock._endpoints.multicast import MulticastGroup, MulticastReceiver, encode_tagged_probe
from labsock._experiments.fanout import fan_out, membership_plan
from labsock._results.fanout import FanOutResult, MembershipEvent
from tests.helpers import needs_ipv6, needs_tool

TIMEOUT = 5.0
LINUX = sys.platform.startswith("linux")
IPV6_OK, IPV6_REASON = ipv6_multicast_supported()
needs_ipv6_multicast = pytest.mark.skipif(not IPV6_OK, reason=IPV6_REASON)


def seqs(receiver: MulticastReceiver) -> list[int | None]:
    return [a.seq for a in receiver.received()]


# -- groups: addresses and arguments ---------------------------------------------
def test_default_groups_are_drawn_from_239_255_and_never_repeat() -> None:
    drawn = [draw_group() for _ in range(500)]
    assert len(set(drawn)) == len(drawn)
    for group in drawn:
        addr = ipaddress.ip_address(group)
        assert addr in DEFAULT_BLOCK
        # The last /24 holds well-known services (SSDP 239.255.255.250, ...).
        assert addr not in ipaddress.ip_network("239.255.255.0/24")


def test_default_ipv6_groups_are_transient_interface_local() -> None:
    drawn = {draw_group(6) for _ in range(100)}
    assert len(drawn) == 100
    assert all(ipaddress.ip_address(g) in DEFAULT_BLOCK_V6 for g in drawn)


def test_two_processes_seeding_random_alike_still_draw_different_groups() -> None:
    code = (
        "import random; random.seed(0)\n"
        "from labsock._endpoints.mcaddress import draw_group\n"
        "print(draw_group())"
    )
    groups = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(groups) == 2


@pytest.mark.parametrize(
    ("group", "words"),
    [
        ("10.0.0.1", ["224.0.0.0 to 239.255.255.255", "1110", "class D"]),
        ("127.0.0.1", ["class D", "239.255.0.0/16"]),
        ("240.0.0.1", ["224.0.0.0/4"]),
        ("224.0.0.1", ["224.0.0.0/24", "local network control", "all hosts"]),
        ("224.0.0.251", ["224.0.0.0/24"]),
        ("not-an-address", ["not an IP address"]),
        ("ff02::1", ["well-known", "transient"]),
        ("2001:db8::1", ["ff00::/8"]),
    ],
)
def test_bad_groups_are_refused_with_an_explanation(group: str, words: list[str]) -> None:
    with pytest.raises(labsock.UsageError) as info:
        MulticastGroup(group)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ttl": 5},
        {"ttl": 2},
        {"ttl": -1},
        {"interface": "192.0.2.2"},
        {"interface": "0.0.0.0"},
        {"family": 5},
        {"group": "239.255.1.1", "family": 6},
        {"port": 70_000},
    ],
)
def test_bad_arguments_are_refused_before_any_socket_exists(kwargs: dict[str, object]) -> None:
    # A TTL above 1 or another interface is the loopback guard's NotLoopback.
    with pytest.raises((labsock.UsageError, labsock.NotLoopback)):
        MulticastGroup(**kwargs)  # type: ignore[arg-type]
    assert labsock.live_endpoints() == []


def test_ttl_above_one_is_refused_because_routers_would_forward_it() -> None:
    with pytest.raises(labsock.NotLoopback, match=r"ttl=5 would let routers forward"):
        MulticastGroup(ttl=5)


def test_good_groups_pass_the_check() -> None:
    assert check_group("239.255.1.2") == ("239.255.1.2", 4)
    assert check_group("224.0.1.200") == ("224.0.1.200", 4)
    assert check_group("ff15::1:2") == ("ff15::1:2", 6)
    assert check_group("FF11::ABCD") == ("ff11::abcd", 6)


def test_group_reserves_a_port_and_exposes_group_and_port() -> None:
    with MulticastGroup() as group:
        host, port = group.address
        assert ipaddress.ip_address(host) in DEFAULT_BLOCK
        assert 0 < port < 65536
        assert (group.group, group.port) == (host, port)
        # A second socket sharing the port works; it is what every receiver does.
        receiver = group.receiver()
        assert receiver.address == (host, port)


# -- senders ---------------------------------------------------------------------
@pytest.mark.parametrize("ttl", [0, 1])
def test_sender_options_read_back_loopback_interface_and_ttl(ttl: int) -> None:
    with MulticastGroup(ttl=ttl) as group:
        sender = group.sender()
        assert sender.socket_options() == {
            "IP_MULTICAST_IF": "127.0.0.1",
            "IP_MULTICAST_TTL": ttl,
            "IP_MULTICAST_LOOP": 1,
        }
        # The source address of its datagrams is loopback too.
        assert sender.address[0] == "127.0.0.1"


def test_ttl_zero_still_reaches_receivers_on_this_host() -> None:
    with MulticastGroup(ttl=0) as group:
        receiver = group.receiver()
        group.send(b"host only")
        assert receiver.wait_received(1, TIMEOUT)
        assert receiver.payloads() == (b"host only",)


def test_str_payload_is_refused_with_a_hint() -> None:
    with MulticastGroup() as group, pytest.raises(labsock.PayloadTypeError, match="encode"):
        group.send("text")  # type: ignore[arg-type]


@pytest.mark.skipif(not LINUX, reason="pins what Linux's loopback interface does")
def test_loop_off_still_delivers_on_linux_loopback_as_the_docstring_says() -> None:
    with MulticastGroup(loop=False) as group:
        sender = group.sender()
        assert sender.socket_options()["IP_MULTICAST_LOOP"] == 0
        receiver = group.receiver()
        sender.send(b"back through lo")
        assert receiver.wait_received(1, TIMEOUT)


# -- receivers ---------------------------------------------------------------------
def test_three_receivers_each_get_every_datagram_once_in_order() -> None:
    count = 500
    with MulticastGroup() as group:
        receivers = [group.receiver(receive_buffer=1 << 20) for _ in range(3)]
        sender = group.sender()
        for seq in range(count):
            sender.send(encode_tagged_probe(seq, 0, b"T" * 8, 64))
            if seq % 50 == 49:
                time.sleep(0.001)  # a modest rate, far below what fills the buffers
        for r in receivers:
            assert r.wait_received(count, TIMEOUT)
        assert [r.name for r in receivers] == ["r1", "r2", "r3"]
        for r in receivers:
            assert seqs(r) == list(range(count))
            stats = r.statistics()
            assert (stats.datagrams, stats.probes, stats.others) == (count, count, 0)
            assert stats.duplicates == 0
            assert stats.bytes_in == 64 * count
            assert {a.sender for a in r.received()} == {sender.address}
        assert sender.sent == count


def test_a_receiver_that_left_hears_nothing_while_a_neighbour_stays_joined() -> None:
    with MulticastGroup() as group:
        leaver, stayer = group.receiver(), group.receiver()
        group.send(b"before")
        assert leaver.wait_received(1, TIMEOUT)
        leaver.leave()
        assert not leaver.joined
        for i in range(20):
            group.send(b"while out %d" % i)
        assert stayer.wait_received(21, TIMEOUT)
        # The stayer heard all 20; had the leave not worked, so would the leaver
        # (Linux delivers to any socket on the port unless IP_MULTICAST_ALL is off).
        assert not leaver.wait_received(2, 0.2)
        leaver.join()
        assert leaver.statistics().joined
        group.send(b"after")
        assert leaver.wait_received(2, TIMEOUT)
        assert leaver.payloads() == (b"before", b"after")
        stats = leaver.statistics()
        assert (stats.joins, stats.leaves, stats.joined) == (2, 1, True)


@pytest.mark.skipif(not LINUX, reason="IP_MULTICAST_ALL is Linux's")
def test_without_multicast_all_off_a_socket_that_never_joined_hears_the_group() -> None:
    # Why receivers clear IP_MULTICAST_ALL: this bare socket shares the port
    # and address but never joins, and still hears what the receiver joined.
    with MulticastGroup() as group:
        bare = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with bare:
            bare.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            bare.bind(group.address)
            bare.settimeout(TIMEOUT)
            receiver = group.receiver()
            group.send(b"overheard")
            assert receiver.wait_received(1, TIMEOUT)
            assert bare.recv(100) == b"overheard"


def test_leave_and_join_twice_do_nothing_more() -> None:
    with MulticastGroup() as group:
        r = group.receiver()
        r.join()
        r.leave()
        r.leave()
        stats = r.statistics()
        assert (stats.joins, stats.leaves, stats.joined) == (1, 1, False)


def test_two_default_groups_on_one_port_hear_nothing_of_each_other() -> None:
    with MulticastGroup() as first, MulticastGroup(port=first.port) as second:
        assert first.group != second.group
        assert first.port == second.port
        a, b = first.receiver(), second.receiver()
        for i in range(20):
            first.send(b"first %d" % i)
            second.send(b"second %d" % i)
        assert a.wait_received(20, TIMEOUT)
        assert b.wait_received(20, TIMEOUT)
        # Give any cross-talk time to show up before judging.
        time.sleep(0.1)
        assert all(p.startswith(b"first") for p in a.payloads())
        assert all(p.startswith(b"second") for p in b.payloads())
        assert len(a.payloads()) == len(b.payloads()) == 20


def test_probes_are_decoded_and_other_payloads_kept_as_they_came() -> None:
    with MulticastGroup() as group:
        r = group.receiver()
        group.send(encode_tagged_probe(7, 123, b"ABCDEFGH", 40))
        group.send(b"plain text")
        group.send(encode_tagged_probe(7, 123, b"ABCDEFGH", 40))
        assert r.wait_received(3, TIMEOUT)
        first, second, third = r.received()
        assert (first.seq, first.tag, len(first.data)) == (7, b"ABCDEFGH", 40)
        assert (second.seq, second.tag, second.data) == (None, None, b"plain text")
        assert first.time <= second.time <= third.time
        stats = r.statistics()
        assert (stats.probes, stats.others, stats.duplicates) == (2, 1, 1)
        assert r.wait_received(2, 0.0, tag=b"ABCDEFGH")
        assert not r.wait_received(1, 0.0, tag=b"otherTag")


def test_wait_received_gives_up_after_the_timeout() -> None:
    with MulticastGroup() as group:
        r = group.receiver()
        started = time.monotonic()
        assert r.wait_received(1, 0.1) is False
        assert time.monotonic() - started < TIMEOUT


def test_keep_bounds_what_is_stored_but_everything_is_counted() -> None:
    with MulticastGroup() as group:
        r = group.receiver(keep=3)
        for i in range(10):
            group.send(b"%d" % i)
        assert r.wait_received(10, TIMEOUT)
        assert r.payloads() == (b"0", b"1", b"2")
        assert r.statistics().not_kept == 7


def test_receiver_reports_the_buffer_the_kernel_granted() -> None:
    with MulticastGroup() as group:
        r = group.receiver(receive_buffer=100_000)
        assert r.receive_buffer >= 100_000


def test_receiver_names_can_be_chosen() -> None:
    with MulticastGroup() as group:
        assert group.receiver("alice").name == "alice"
        assert group.receiver().name == "r2"
        assert [r.name for r in group.receivers] == ["alice", "r2"]


# -- life cycle ---------------------------------------------------------------------
def test_closing_the_group_closes_its_receivers_and_senders() -> None:
    group = MulticastGroup()
    r, s = group.receiver(), group.sender()
    group.send(b"x")
    group.close()
    group.close()  # idempotent
    assert group.closed
    assert r.closed
    assert s.closed
    assert "closed" in repr(r)
    assert "closed" in repr(s)
    assert "closed" in repr(group)
    assert labsock.live_endpoints() == []
    with pytest.raises(labsock.ClosedError):
        r.leave()
    with pytest.raises(labsock.ClosedError):
        s.send(b"late")
    with pytest.raises(labsock.ClosedError):
        group.receiver()
    with pytest.raises(labsock.ClosedError):
        _ = group.address


def test_closing_one_receiver_leaves_the_others_listening() -> None:
    with MulticastGroup() as group:
        gone, kept = group.receiver(), group.receiver()
        gone.close()
        group.send(b"still here")
        assert kept.wait_received(1, TIMEOUT)
        assert group.receivers == (kept,)


# -- outside programs ---------------------------------------------------------------
@needs_tool("socat")
def test_socat_joined_on_loopback_receives_from_our_sender() -> None:
    with MulticastGroup() as group:
        host, port = group.address
        # RECVFROM: socat takes one datagram, prints it and exits. It binds the
        # group address, so it shares the port like our receivers do.
        proc = subprocess.Popen(
            [
                "socat",
                "-u",
                f"UDP4-RECVFROM:{port},bind={host},ip-add-membership={host}:127.0.0.1,reuseaddr",
                "STDOUT",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            # socat joins a moment after it starts: send until it has heard one.
            deadline = time.monotonic() + TIMEOUT
            while proc.poll() is None and time.monotonic() < deadline:
                group.send(b"hello socat\n")
                time.sleep(0.05)
            out, err = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    assert out == b"hello socat\n"


@needs_tool("socat")
def test_our_receiver_hears_socat_sending_on_loopback_with_ttl_0() -> None:
    with MulticastGroup() as group:
        receiver = group.receiver()
        host, port = group.address
        subprocess.run(
            [
                "socat",
                "-u",
                "-",
                f"UDP4-DATAGRAM:{host}:{port},bind=127.0.0.1,"
                "ip-multicast-if=127.0.0.1,ip-multicast-ttl=0",
            ],
            input=b"hello from socat\n",
            capture_output=True,
            timeout=TIMEOUT,
            check=True,
        )
        assert receiver.wait_received(1, TIMEOUT)
        (arrival,) = receiver.received()
    assert arrival.data == b"hello from socat\n"
    assert arrival.sender[0] == "127.0.0.1"
    assert arrival.seq is None


# -- the fan-out experiment -----------------------------------------------------------
def test_fan_out_everyone_gets_everything_and_nobody_else_talks() -> None:
    result = fan_out(receivers=3, count=100)
    assert isinstance(result, FanOutResult)
    assert result.names == ("r1", "r2", "r3")
    assert len(result.matrix) == 3
    assert all(len(row) == 100 for row in result.matrix)
    assert result.matrix == result.expected
    assert all(all(row) for row in result.matrix)
    assert result.received == (100, 100, 100)
    assert result.lost == (0, 0, 0)
    assert result.loss_rate == (0.0, 0.0, 0.0)
    assert result.cross_talk == (0, 0, 0)
    assert result.duplicates == (0, 0, 0)
    assert result.events == ()
    assert len(result.sent_times) == 100
    assert [s for s, _ in result.arrivals[0]] == list(range(100))
    assert ipaddress.ip_address(result.group[0]) in DEFAULT_BLOCK


def test_fan_out_with_leave_and_rejoin_gives_the_exact_matrix() -> None:
    result = fan_out(receivers=3, count=80, leave={"r2": 20, "r3": 70}, rejoin={"r2": 50})
    assert result.row("r1") == (True,) * 80
    assert result.row("r2") == (True,) * 20 + (False,) * 30 + (True,) * 30
    assert result.row("r3") == (True,) * 70 + (False,) * 10
    assert result.missed("r2") == tuple(range(20, 50))
    assert result.matrix == result.expected
    assert result.received == (80, 50, 70)
    assert result.lost == result.unexpected == (0, 0, 0)
    assert result.events == (
        MembershipEvent("r2", "leave", 20),
        MembershipEvent("r2", "join", 50),
        MembershipEvent("r3", "leave", 70),
    )
    text = result.summary()
    assert "left before #20, rejoined before #50: 30 missed by design" in text
    assert "cross-talk: none" in text


def test_fan_out_counts_cross_talk_and_keeps_the_matrix_exact() -> None:
    with MulticastGroup() as group:
        noise_sender = group.sender()
        stop = threading.Event()

        def noise() -> None:
            # Another "session": plain datagrams and probes with another tag.
            seq = 0
            while not stop.is_set() and seq < 5000:
                noise_sender.send(b"noise")
                noise_sender.send(encode_tagged_probe(seq % 50, 0, b"othersss", 64))
                seq += 1
                time.sleep(0.0005)

        thread = threading.Thread(target=noise)
        thread.start()
        try:
            result = fan_out(group, receivers=2, count=100, interval=0.002, leave={"r2": 50})
        finally:
            stop.set()
            thread.join(TIMEOUT)
        # fan_out closed its own receivers and sender, not the group.
        assert not group.closed
        assert group.receivers == ()
    assert all(n > 0 for n in result.cross_talk)
    assert result.matrix == result.expected
    assert result.received == (100, 50)
    assert "datagrams from another session" in result.summary()


def test_fan_out_accepts_a_group_address() -> None:
    group = draw_group()
    result = fan_out(group, receivers=1, count=10)
    assert result.group[0] == group
    assert result.received == (10,)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"rejoin": {"r1": 5}}, "never leaves"),
        ({"leave": {"r1": 5}, "rejoin": {"r1": 5}}, "must come after"),
        ({"leave": {"r9": 5}}, "no receiver 'r9'"),
        ({"leave": {"r1": 100}}, "leave['r1']=100"),
        ({"size": 20}, "size=20"),
        ({"receivers": 0}, "receivers=0"),
        ({"count": 0}, "count=0"),
        ({"interval": -1}, "interval"),
        ({"group": "10.1.2.3"}, "class D"),
    ],
)
def test_fan_out_refuses_bad_arguments(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(labsock.UsageError) as info:
        fan_out(**{"count": 100, **kwargs})  # type: ignore[arg-type]
    assert words in str(info.value)


def test_membership_plan_is_pure_and_exact() -> None:
    plan = membership_plan(("a", "b", "c"), 6, leave={"b": 2, "c": 0}, rejoin={"b": 4})
    assert plan == (
        (True,) * 6,
        (True, True, False, False, True, True),
        (False,) * 6,
    )


def test_fan_out_result_refuses_unknown_names() -> None:
    result = fan_out(receivers=1, count=5)
    with pytest.raises(labsock.UsageError, match="no receiver 'zz'"):
        result.row("zz")


# -- IPv6 ------------------------------------------------------------------------------
def test_ipv6_probe_answers_with_a_reason() -> None:
    ok, reason = ipv6_multicast_supported()
    assert isinstance(ok, bool)
    assert "loopback" in reason or "IPv6" in reason
    assert ipv6_multicast_supported() == (ok, reason)  # probed once, cached


@needs_ipv6
def test_ipv6_group_joins_on_loopback_and_reads_back_its_options() -> None:
    with MulticastGroup(family=6) as group:
        assert ipaddress.ip_address(group.group) in DEFAULT_BLOCK_V6
        assert group.receiver().joined
        options = group.sender().socket_options()
    assert options["IPV6_MULTICAST_IF"] == loopback_index()
    assert options["IPV6_MULTICAST_HOPS"] == 1
    assert options["IPV6_MULTICAST_LOOP"] == 1


@needs_ipv6
@pytest.mark.skipif(IPV6_OK, reason="IPv6 multicast works on this host")
@pytest.mark.skipif("unreachable" not in IPV6_REASON, reason=IPV6_REASON)
def test_ipv6_send_on_a_host_without_route_explains_what_to_do() -> None:
    with MulticastGroup(family=6) as group, pytest.raises(labsock.NetworkError) as info:
        group.send(b"x")
    assert "IPv4" in str(info.value)


@needs_ipv6_multicast
def test_ipv6_fan_out_with_leave_and_rejoin() -> None:
    with MulticastGroup(family=6) as group:
        result = fan_out(group, receivers=2, count=40, leave={"r1": 10}, rejoin={"r1": 30})
    assert result.matrix == result.expected
    assert result.cross_talk == (0, 0)
