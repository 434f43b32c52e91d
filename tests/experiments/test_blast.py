"""Floods into a slow receiver: UDP loses what the kernel drops, TCP loses nothing."""

from __future__ import annotations

import sys
import time

import pytest

from labsock import DatagramTooLarge, UsageError, WorkerError
from labsock._experiments.blast import MAX_TCP_BYTES, blast
from labsock._results.blast import BlastResult

linux_only = pytest.mark.skipif(
    sys.platform != "linux", reason="the kernel's drop counters are read from Linux's /proc"
)


@pytest.fixture(scope="module")
def udp_flood() -> BlastResult:
    # The reader takes at most 1,000 datagrams a second from a buffer that
    # holds a handful; the sender pushes 2,000 in a few milliseconds. Even a
    # sender 50 times slower than here would see most of them dropped.
    return blast(protocol="udp", count=2000, size=1024, receive_buffer=4096, read_delay=0.001)


def test_udp_flood_into_a_small_buffer_loses_datagrams(udp_flood: BlastResult) -> None:
    r = udp_flood
    assert r.sent + r.send_errors == 2000
    assert r.received >= 1  # the first datagram always finds room
    assert r.lost >= r.sent // 4
    assert r.lost == r.sent - r.received
    assert 0.25 <= r.loss_rate < 1.0
    assert r.unit == "datagrams"
    assert not r.timed_out


def test_udp_arrivals_are_sent_datagrams_each_intact_and_counted_once(
    udp_flood: BlastResult,
) -> None:
    r = udp_flood
    assert r.intact
    assert len(r.arrivals) == r.received == len(set(r.arrivals))
    assert all(0 <= seq < r.count for seq in r.arrivals)
    assert set(r.lost_seqs) == set(range(r.count)) - set(r.arrivals)
    assert len(r.lost_seqs) == r.count - r.received
    assert r.bytes_received == r.received * 1024
    assert r.reads == r.received


@linux_only
def test_udp_loss_equals_the_kernels_drop_counter_for_that_socket(udp_flood: BlastResult) -> None:
    r = udp_flood
    assert r.kernel_drops is not None
    assert r.lost == r.kernel_drops
    # System-wide: other programs may drop datagrams at the same time.
    assert r.rcvbuf_errors is not None
    assert r.rcvbuf_errors >= r.kernel_drops
    assert "all accounted for" in r.summary()


def test_udp_summary_reports_the_loss(udp_flood: BlastResult) -> None:
    text = udp_flood.summary()
    assert text.startswith("UDP blast: 2,000 datagrams of 1,024 bytes")
    assert f"lost {udp_flood.lost:,}" in text
    assert "Nobody told the sender" in " ".join(text.split())
    assert str(udp_flood) == text


def test_udp_into_a_buffer_big_enough_for_everything_loses_nothing() -> None:
    r = blast(protocol="udp", count=200, size=512, receive_buffer=1 << 20, read_delay=0)
    if r.effective_buffer < 200 * 4096:
        pytest.skip(f"the OS capped the buffer at {r.effective_buffer} bytes")
    # 200 datagrams cannot fill the buffer, whatever the reader does.
    assert (r.sent, r.received, r.lost) == (200, 200, 0)
    assert sorted(r.arrivals) == list(range(200))
    assert r.kernel_drops in (0, None)


def test_tcp_flood_delivers_every_byte_in_order() -> None:
    r = blast(protocol="tcp", count=2000, size=1024, receive_buffer=4096, read_delay=0.0002)
    assert r.sent == r.received == 2000 * 1024
    assert r.lost == 0
    assert r.intact  # compared byte by byte with the stream that was sent
    assert r.unit == "bytes"
    # Never more than `size` bytes per read, plus the read that saw the FIN.
    assert r.reads >= 2000 + 1
    assert r.kernel_drops is None
    assert "every byte arrived, in order" in r.summary()


def test_tcp_flow_control_holds_back_a_sender_with_small_buffers() -> None:
    total = 1000 * 1024
    r = blast(protocol="tcp", count=1000, size=1024, receive_buffer=4096, send_buffer=4096)
    assert r.lost == 0
    assert r.intact
    # sendall could only return once all but what fits in the two kernels'
    # small buffers had been read by the (slow) receiver.
    assert r.received_when_sent >= total - 256 * 1024
    assert "flow control held the sender back" in r.summary()


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_the_kernel_grants_at_least_the_requested_buffer(protocol: str) -> None:
    r = blast(protocol=protocol, count=20, size=100, receive_buffer=8192, read_delay=0)  # type: ignore[arg-type]
    assert r.requested_buffer == 8192
    assert r.effective_buffer >= 8192
    if sys.platform == "linux":
        assert r.effective_buffer == 2 * 8192  # Linux doubles it for its bookkeeping
    assert r.lost == 0 or protocol == "udp"


def test_a_timeout_ends_the_run_and_says_so() -> None:
    started = time.monotonic()
    r = blast(
        protocol="tcp",
        count=1000,
        size=1024,
        receive_buffer=4096,
        send_buffer=4096,
        read_delay=0.01,
        timeout=0.3,
    )
    assert time.monotonic() - started < 10  # generous: the point is that it ends
    assert r.timed_out
    assert 0 < r.received < r.sent
    assert r.intact  # what did arrive is the start of the stream, in order
    assert "timeout" in r.summary()


def test_results_are_frozen() -> None:
    r = blast(protocol="udp", count=10, size=64, read_delay=0)
    with pytest.raises(AttributeError):
        r.sent = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"protocol": "sctp"}, UsageError),
        ({"count": 0}, UsageError),
        ({"count": True}, UsageError),
        ({"count": 2.5}, UsageError),
        ({"size": 3}, UsageError),
        ({"size": 70_000}, DatagramTooLarge),
        ({"protocol": "tcp", "size": 0}, UsageError),
        ({"protocol": "tcp", "count": 1000, "size": MAX_TCP_BYTES}, UsageError),
        ({"receive_buffer": 0}, UsageError),
        ({"send_buffer": -1}, UsageError),
        ({"read_delay": -0.1}, UsageError),
        ({"read_delay": 5}, UsageError),
        ({"timeout": 0}, UsageError),
        ({"timeout": float("nan")}, UsageError),
    ],
)
def test_bad_arguments_are_refused_before_any_socket_exists(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        blast(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_a_failing_receiver_is_reported_and_nothing_is_left_behind(
    protocol: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    boom = RuntimeError("the reader fell over")

    def fall_over(seconds: float) -> None:
        raise boom  # only the receiving thread sleeps in blast()

    monkeypatch.setattr(time, "sleep", fall_over)
    with pytest.raises(WorkerError) as info:
        blast(protocol=protocol, count=500, size=1024, read_delay=0.001)  # type: ignore[arg-type]
    assert info.value.__cause__ is boom
    # The autouse no_leaks fixture checks that no thread or socket survived.
