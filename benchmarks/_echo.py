"""Benchmarks 1-3: labsock's echo servers and ``ping`` against bare loops.

1. UDP round trip: ``UDPEchoServer`` + ``ping`` against a bare server thread
   and a bare client loop (``settimeout`` once, like ``ping``).
2. TCP round trip: ``TCPEchoServer`` + ``ping(protocol="tcp")``, the same.
3. TCP bulk: the same bare client (sending and receiving at once) through
   ``TCPEchoServer`` and through a bare echo loop.
"""

from __future__ import annotations

import operator
from typing import Literal

from benchmarks._bare import (
    BareTCPEchoServer,
    BareUDPEchoServer,
    bulk_echo,
    tcp_ping_pong,
    udp_ping_pong,
)
from benchmarks._harness import (
    PAIRED,
    Budget,
    Row,
    interleave,
    median,
    per_round,
    pinned,
    pooled,
    round_medians,
    spread,
)
from labsock import TCPEchoServer, UDPEchoServer, ping

__all__ = ["bench_bulk", "bench_rtt"]

_SIZE = 64


def bench_rtt(protocol: Literal["udp", "tcp"], budget: Budget) -> Row:
    """Median round trip of labsock (server + ping) against bare sockets."""
    with pinned(budget.pin) as cpu:
        samples = _rtt_samples(protocol, budget)
    # Each round's two sides ran back to back: compare them round by round.
    ratios = per_round(samples, "labsock", "bare", operator.truediv)
    ratio = median(ratios)
    lab = median(round_medians(samples["labsock"]))
    bare = median(round_medians(samples["bare"]))
    name = protocol.upper()
    return Row(
        key=f"{protocol}_rtt",
        title=f"{name} echo round trip, median",
        unit="µs",
        bare=bare * 1e6,
        labsock=lab * 1e6,
        ratio=ratio,
        target="ratio <= 1.10",
        met=ratio <= 1.10,
        note=PAIRED,
        details={
            "size": _SIZE,
            "pinned_cpu": cpu,
            "rounds": len(samples["labsock"]),
            "probes_per_round": budget.pings,
            "labsock_round_medians_us": spread(
                [v * 1e6 for v in round_medians(samples["labsock"])]
            ),
            "bare_round_medians_us": spread([v * 1e6 for v in round_medians(samples["bare"])]),
            "round_ratios": spread(ratios),
            "pooled_medians_us": {
                "labsock": median(pooled(samples["labsock"])) * 1e6,
                "bare": median(pooled(samples["bare"])) * 1e6,
            },
        },
    )


def _rtt_samples(protocol: Literal["udp", "tcp"], budget: Budget) -> dict[str, list[list[float]]]:
    count = budget.pings
    lab_server: UDPEchoServer | TCPEchoServer
    bare_server: BareUDPEchoServer | BareTCPEchoServer
    if protocol == "udp":
        lab_server, bare_server = UDPEchoServer(), BareUDPEchoServer()
        bare_loop = udp_ping_pong
    else:
        lab_server, bare_server = TCPEchoServer(), BareTCPEchoServer()
        bare_loop = tcp_ping_pong
    try:

        def labsock_side() -> list[float]:
            result = ping(lab_server.address, protocol=protocol, count=count, size=_SIZE)
            return list(result.rtts)

        def bare_side() -> list[float]:
            return bare_loop(bare_server.address, count, _SIZE)

        # Warm both paths (first connection, caches) before measuring.
        labsock_side()
        bare_side()
        return interleave(
            {"labsock": labsock_side, "bare": bare_side}, budget.rounds, budget.seconds
        )
    finally:
        lab_server.close()
        bare_server.close()


def bench_bulk(budget: Budget) -> Row:
    """TCP bulk echo throughput through TCPEchoServer against a bare echo loop."""
    total = budget.bulk_bytes
    lab_server, bare_server = TCPEchoServer(), BareTCPEchoServer()
    try:
        samples = interleave(
            {
                "labsock": lambda: [bulk_echo(lab_server.address, total)],
                "bare": lambda: [bulk_echo(bare_server.address, total)],
            },
            max(4, budget.rounds // 2),
            budget.seconds,
        )
    finally:
        lab_server.close()
        bare_server.close()
    ratios = per_round(samples, "labsock", "bare", operator.truediv)
    ratio = median(ratios)
    lab, bare = median(pooled(samples["labsock"])), median(pooled(samples["bare"]))
    return Row(
        key="tcp_bulk",
        title="TCP bulk echo throughput, median",
        unit="MB/s",
        bare=bare / 1e6,
        labsock=lab / 1e6,
        ratio=ratio,
        target="ratio >= 0.90",
        met=ratio >= 0.90,
        note="bytes echoed per second (each crosses loopback twice); C: iperf3 one way; " + PAIRED,
        details={
            "bytes_per_round": total,
            "rounds": len(samples["labsock"]),
            "labsock_MBps": spread([v / 1e6 for v in pooled(samples["labsock"])]),
            "bare_MBps": spread([v / 1e6 for v in pooled(samples["bare"])]),
            "round_ratios": spread(ratios),
        },
    )
