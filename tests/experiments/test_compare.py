"""compare_speed: UDP against TCP, measured three ways over real loopback sockets.

No test here says which protocol is faster at what: on a shared, noisy machine
that could go either way from run to run. The one exception is the request
on a new TCP connection, which does strictly more work than a UDP request
(see its test). Everything else pins shapes, accounting and bounds.
"""

from __future__ import annotations

import re
import statistics
import sys
from typing import Any

import pytest

from labsock import DatagramTooLarge, UsageError
from labsock._core.validate import MAX_UDP_PAYLOAD
from labsock._experiments.compare import DEFAULT_MAX_MESSAGES, DEFAULT_SIZES, compare_speed
from labsock._results.compare import BulkTransfer, SpeedComparison, _faster


@pytest.fixture(scope="module")
def comparison() -> SpeedComparison:
    # The defaults, as the notebook runs them (about 2 s here).
    return compare_speed()


# -- shapes -----------------------------------------------------------------------


def test_ping_results_are_one_of_each_protocol_with_the_same_count_and_size(
    comparison: SpeedComparison,
) -> None:
    udp, tcp = comparison.udp_ping, comparison.tcp_ping
    assert (udp.protocol, tcp.protocol) == ("udp", "tcp")
    assert udp.sent == tcp.sent == 200
    assert udp.size == tcp.size == 64
    assert udp.interval is None  # ping-pong
    assert tcp.interval is None
    assert tcp.connect_time is not None
    assert udp.connect_time is None
    assert udp.address != tcp.address
    assert udp.kind == tcp.kind == "probe"
    assert str(udp).startswith("UDP ping 127.0.0.1:")
    assert "round trip: min" in str(tcp)


def test_request_runs_hold_one_record_per_request_for_each_protocol(
    comparison: SpeedComparison,
) -> None:
    udp, tcp = comparison.udp_requests, comparison.tcp_requests
    assert (udp.protocol, tcp.protocol) == ("udp", "tcp")
    assert udp.kind == tcp.kind == "request"  # so figures call them requests
    assert str(udp).startswith("UDP requests to 127.0.0.1:")
    assert "100 requests of 64 bytes" in str(tcp)
    assert "request time: min" in str(tcp)
    assert "probe" not in str(tcp)
    assert "round trip" not in str(tcp)
    assert udp.sent == tcp.sent == 100
    assert tcp.lost == 0  # a TCP request that fails raises instead
    assert udp.received >= 95  # loopback, one datagram at a time: nothing to lose
    n = tcp.sent
    phases = (comparison.tcp_connect_times, comparison.tcp_echo_times, comparison.tcp_close_times)
    assert all(len(times) == n for times in phases)
    # Each request's phases add up to (at most) the request as a whole.
    for total, *parts in zip(tcp.rtts, *phases, strict=True):
        assert all(part > 0 for part in parts)
        assert sum(parts) <= total
    assert tcp.connect_time == statistics.median(comparison.tcp_connect_times)


def test_every_median_is_positive(comparison: SpeedComparison) -> None:
    for result in (
        comparison.udp_ping,
        comparison.tcp_ping,
        comparison.udp_requests,
        comparison.tcp_requests,
    ):
        assert result.rtt is not None
        assert 0 < result.rtt.min <= result.rtt.median <= result.rtt.max


def test_bulk_measures_every_size_for_both_protocols_side_by_side(
    comparison: SpeedComparison,
) -> None:
    repeats = 2
    assert len(comparison.tcp_bulk) == len(comparison.udp_bulk) == repeats * len(DEFAULT_SIZES)
    assert comparison.sizes == DEFAULT_SIZES
    for udp, tcp in zip(comparison.udp_bulk, comparison.tcp_bulk, strict=True):
        assert (udp.protocol, tcp.protocol) == ("udp", "tcp")
        # UDP cannot carry 64 KiB in one datagram: capped at its maximum.
        assert udp.message_size == min(tcp.message_size, MAX_UDP_PAYLOAD)
        assert not udp.cut_short
        assert not tcp.cut_short
        expected = min(DEFAULT_MAX_MESSAGES, (16 << 20) // tcp.message_size)
        assert tcp.messages_sent == expected
        assert udp.messages_sent + udp.send_errors == expected
        assert tcp.bytes_per_second > 0
        assert udp.bytes_per_second > 0


def test_tcp_bulk_delivers_every_byte(comparison: SpeedComparison) -> None:
    for tcp in comparison.tcp_bulk:
        assert tcp.bytes_delivered == tcp.bytes_sent == tcp.messages_sent * tcp.message_size
        assert tcp.lost == 0
        assert tcp.loss_rate == 0.0
        assert tcp.messages_delivered == tcp.messages_sent
        assert tcp.receive_calls >= 1


def test_udp_bulk_delivers_at_most_what_was_sent_one_read_per_datagram(
    comparison: SpeedComparison,
) -> None:
    for udp in comparison.udp_bulk:
        assert 0 <= udp.messages_delivered <= udp.messages_sent
        assert udp.bytes_delivered == udp.messages_delivered * udp.message_size
        assert udp.receive_calls == udp.messages_delivered
        assert udp.lost == udp.messages_sent - udp.messages_delivered
        assert 0.0 <= udp.loss_rate <= 1.0
        assert udp.receive_buffer > 0


@pytest.mark.skipif(sys.platform != "linux", reason="the drop counter is read from /proc")
def test_udp_bulk_loss_is_the_kernels_own_drop_count(comparison: SpeedComparison) -> None:
    for udp in comparison.udp_bulk:
        assert udp.kernel_drops == udp.lost


def test_a_request_on_a_new_tcp_connection_costs_more_than_a_udp_request(
    comparison: SpeedComparison,
) -> None:
    """The one speed claim safe to assert on a noisy machine.

    A TCP request does everything a UDP request does (a new socket, one
    message out, its echo back, close) and more on top: connect() waits
    for the handshake (a round trip of its own), the server accepts and
    starts a thread for the connection, and closing exchanges FINs. The
    requests alternate, so a burst of load hits both protocols alike, and
    medians over 100 requests each ignore the odd slow one. Here TCP costs
    about three times as much; for the medians to swap, the extra work would
    have to cost nothing in more than half of the requests.
    """
    assert comparison.tcp_requests.sent >= 50
    udp, tcp = comparison.udp_requests.rtt, comparison.tcp_requests.rtt
    assert udp is not None
    assert tcp is not None
    assert tcp.median > udp.median
    assert comparison.per_request.startswith("UDP")


def test_the_whole_comparison_stays_bounded(comparison: SpeedComparison) -> None:
    assert 0 < comparison.elapsed < 60  # about 2 s here; a guard against hangs


# -- words and points ---------------------------------------------------------------


def test_summary_states_a_verdict_with_a_ratio_for_each_case(
    comparison: SpeedComparison,
) -> None:
    text = comparison.summary()
    # One statement per line; a long one goes on in indented lines (no mid-number wraps).
    assert all(len(line) <= 88 for line in text.splitlines())
    lines = text.replace("\n  ", " ").splitlines()
    assert len(lines) == 4
    verdict = r"((UDP|TCP) \d+\.\dx faster|about even \((UDP|TCP) \d\.\d\dx faster\))"
    assert re.match(rf"per message on an open connection: {verdict} \(median", lines[0])
    assert re.match(rf"per request with a new connection: {verdict} \(median", lines[1])
    assert "connect() " in lines[1]
    assert re.match(
        rf"bulk throughput at 1 KiB messages: {verdict} \(UDP lost \d+\.\d%\)", lines[2]
    )
    assert re.match(r"bulk throughput, 64 B to 64 KiB: TCP delivered more at \d of 6", lines[3])
    assert str(comparison) == text
    assert repr(comparison).startswith("<SpeedComparison per message: ")


def test_bulk_rows_give_one_row_per_size(comparison: SpeedComparison) -> None:
    rows = comparison.bulk_rows()
    assert [row[0] for row in rows] == ["64 B", "256 B", "1 KiB", "4 KiB", "16 KiB", "64 KiB"]
    assert all(row[3].endswith("%") for row in rows)
    udp, tcp = comparison.bulk_at(1000)  # the nearest size measured: 1 KiB
    assert {b.message_size for b in udp + tcp} == {1024}
    assert len(udp) == len(tcp) == 2


def test_throughput_points_feed_the_throughput_plot(
    comparison: SpeedComparison, fonts_loaded: None
) -> None:
    from labsock import plots

    points = comparison.throughput_points()
    assert len(points) == 2 * len(comparison.tcp_bulk)
    assert all(isinstance(p, plots.ThroughputPoint) for p in points)
    by_key = {(p.protocol, p.message_size) for p in points}
    assert ("udp", MAX_UDP_PAYLOAD) in by_key
    assert ("tcp", 65536) in by_key
    first = comparison.tcp_bulk[0]
    assert first.point() == plots.ThroughputPoint("tcp", 64, first.bytes_per_second)
    bulk = plots.throughput(points)
    assert bulk.axes[0].get_yscale() == "log"  # 64 B and 64 KiB differ ~100-fold
    assert plots.to_png(bulk)[:4] == b"\x89PNG"
    # Request runs are PingResults: the comparison plot draws them, as requests.
    fig = plots.compare(comparison.udp_requests, comparison.tcp_requests)
    assert fig.get_suptitle().endswith("100 + 100 requests")
    assert fig.axes[0].get_xlabel().startswith("request time, new socket to close")
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == [
        "UDP\nrequest",
        "TCP\nrequest",
        "TCP\nconnect()\n(median)",
    ]
    assert plots.to_png(fig)[:4] == b"\x89PNG"


def test_bulk_transfer_summary_reports_goodput_and_loss(comparison: SpeedComparison) -> None:
    udp, tcp = comparison.udp_bulk[0], comparison.tcp_bulk[0]
    assert str(udp).startswith("UDP 64 B messages: ")
    assert f"{udp.messages_delivered:,} of {udp.messages_sent:,} datagrams arrived" in str(udp)
    assert f"{tcp.bytes_delivered:,} of {tcp.bytes_sent:,} bytes arrived" in str(tcp)


@pytest.mark.parametrize(
    ("a", "b", "higher", "expected"),
    [
        (25e-6, 50e-6, False, "UDP 2.0x faster"),
        (50e-6, 25e-6, False, "TCP 2.0x faster"),
        (1.0e-4, 1.02e-4, False, "about even (UDP 1.02x faster)"),
        (1e8, 3e8, True, "TCP 3.0x faster"),
        (3e8, 1e8, True, "UDP 3.0x faster"),
        (0.0, 1e8, True, "TCP only (the other measured nothing)"),
        (0.0, 0.0, True, "no comparison (nothing measured)"),
    ],
)
def test_verdict_names_the_faster_protocol_and_the_ratio(
    a: float, b: float, higher: bool, expected: str
) -> None:
    assert _faster("UDP", a, "TCP", b, higher_is_faster=higher) == expected


# -- small runs, limits, bad arguments ------------------------------------------------


def test_no_sizes_skips_the_bulk_measurement() -> None:
    result = compare_speed(count=5, requests=5, sizes=())
    assert result.udp_bulk == result.tcp_bulk == ()
    assert len(result.summary().replace("\n  ", " ").splitlines()) == 2
    assert result.throughput_points() == []
    with pytest.raises(UsageError, match="no bulk"):
        result.bulk_at(1024)


def test_a_tiny_time_limit_cuts_the_run_short_and_says_so() -> None:
    result = compare_speed(count=5, requests=10_000, sizes=(64,), repeats=1, time_limit=0.01)
    assert result.tcp_requests.sent < 10_000
    tcp, udp = result.tcp_bulk[0], result.udp_bulk[0]
    assert tcp.cut_short
    assert udp.cut_short
    assert tcp.messages_sent < DEFAULT_MAX_MESSAGES
    assert tcp.bytes_delivered == tcp.bytes_sent  # what was sent still all arrived
    assert "[cut short at the time limit]" in str(tcp)
    result.summary()  # words even for a run with next to nothing in it


def test_a_udp_receiver_that_keeps_up_loses_nothing() -> None:
    # 64 datagrams of 1 KiB fit in any receive buffer many times over.
    result = compare_speed(count=5, requests=5, sizes=(1024,), budget=64 * 1024, repeats=1)
    udp = result.udp_bulk[0]
    assert (udp.messages_sent, udp.messages_delivered, udp.lost) == (64, 64, 0)
    assert isinstance(udp, BulkTransfer)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"count": 0}, UsageError, "count"),
        ({"size": 8}, UsageError, "size"),
        ({"size": 70_000}, DatagramTooLarge, "65,507"),
        ({"requests": -1}, UsageError, "requests"),
        ({"sizes": [64] * 17}, UsageError, "at most 16"),
        ({"sizes": "64"}, UsageError, "sequence"),
        ({"sizes": (0,)}, UsageError, "sizes"),
        ({"sizes": (2 << 20,)}, UsageError, "sizes"),
        ({"budget": 10}, UsageError, "budget"),
        ({"max_messages": 0}, UsageError, "max_messages"),
        ({"repeats": 0}, UsageError, "repeats"),
        ({"receive_buffer": 0}, UsageError, "receive_buffer"),
        ({"timeout": 0}, UsageError, "timeout"),
        ({"time_limit": float("nan")}, UsageError, "time_limit"),
        ({"count": True}, UsageError, "count"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        compare_speed(**kwargs)
