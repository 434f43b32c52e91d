"""Benchmark 5: multicast fan-out to 3 receivers, labsock against bare sockets.

Each round one sender sends a burst of sequence-numbered, tagged probes
(the payload ``fan_out`` sends, 64 bytes) to a fresh group on the loopback
interface; the clock stops when all three receivers have every datagram.
Delivered datagrams per second = 3 x burst / that time. Receive buffers are
as large as the kernel allows (``net.core.rmem_max``) and a burst fits in
them, so no datagram is lost: the benchmark checks that, and says so if not.

labsock: ``MulticastGroup``, ``group.receiver(receive_buffer=...)`` (which
records every arrival: payload, sender, time) and ``group.sender().send``;
the wait is for the session's tag, as ``fan_out`` waits. Bare: three sockets
joined on 127.0.0.1, each read by a thread that keeps what ``recvfrom``
gives (payload and sender), the loop every socket tutorial shows.

All threads run on one CPU (see ``pinned``): on two, the rate of either side
swung threefold from round to round with where the scheduler put the sender
and the three receivers (they share one GIL). On one CPU the ratio compares
what each side costs per datagram.
"""

from __future__ import annotations

import operator
import secrets
import socket
import threading
import time
from typing import Any

from benchmarks._harness import (
    PAIRED,
    Budget,
    Row,
    interleave,
    median,
    per_round,
    pinned,
    pooled,
    spread,
)
from labsock import MulticastGroup
from labsock._endpoints.multicast import draw_group, encode_tagged_probe

__all__ = ["bench_fanout"]

_RECEIVERS = 3
_SIZE = 64
_BUFFER = 8 << 20  # the kernel clamps it to rmem_max (then doubles it)
_TIMEOUT = 10.0


def _payloads(count: int) -> tuple[bytes, list[bytes]]:
    tag = secrets.token_bytes(8)
    return tag, [encode_tagged_probe(seq, 0, tag, _SIZE) for seq in range(count)]


def _labsock_round(tag: bytes, payloads: list[bytes]) -> tuple[float, int]:
    """Seconds for every receiver to get the burst, and datagrams missing.

    Waits as ``fan_out`` does, for this session's tag: so the clock also
    covers reading every probe's header (which a receiver does when asked).
    """
    count = len(payloads)
    with MulticastGroup() as group:
        receivers = [group.receiver(receive_buffer=_BUFFER) for _ in range(_RECEIVERS)]
        sender = group.sender()
        t0 = time.perf_counter()
        for payload in payloads:
            sender.send(payload)
        for receiver in receivers:
            receiver.wait_received(count, timeout=_TIMEOUT, tag=tag)
        elapsed = time.perf_counter() - t0
        missing = sum(count - r.statistics().datagrams for r in receivers)
    return elapsed, missing


class _BareReceiver:
    """A joined socket and a thread keeping every datagram until ``count`` arrived."""

    def __init__(self, group: str, port: int, count: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER)
        self.sock.bind((group, port))
        mreq = socket.inet_aton(group) + socket.inet_aton("127.0.0.1")  # loopback only
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        self.sock.settimeout(1.0)
        self.count = count
        self.got: list[tuple[bytes, Any]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="bare-mcast-recv", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        got, recvfrom = self.got, self.sock.recvfrom
        try:
            while len(got) < self.count:
                got.append(recvfrom(2048))
        except OSError:
            pass  # timeout or closed: the round reports what is missing
        finally:
            self.done.set()


def _bare_round(tag: bytes, payloads: list[bytes]) -> tuple[float, int]:
    count = len(payloads)
    group = draw_group()
    # The first receiver picks the port; the others share it (SO_REUSEADDR).
    first = _BareReceiver(group, 0, count)
    port = first.sock.getsockname()[1]
    receivers = [first] + [_BareReceiver(group, port, count) for _ in range(_RECEIVERS - 1)]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sender.bind(("127.0.0.1", 0))
        destination = (group, port)
        t0 = time.perf_counter()
        for payload in payloads:
            sender.sendto(payload, destination)
        for receiver in receivers:
            receiver.done.wait(_TIMEOUT)
        elapsed = time.perf_counter() - t0
    finally:
        sender.close()
        for receiver in receivers:
            receiver.done.wait(_TIMEOUT)
            receiver.thread.join(_TIMEOUT)
            receiver.sock.close()
    return elapsed, sum(count - len(r.got) for r in receivers)


def bench_fanout(budget: Budget) -> Row:
    """Delivered datagrams per second to 3 receivers, labsock against bare sockets."""
    tag, payloads = _payloads(budget.fanout_count)
    missing = {"labsock": 0, "bare": 0}
    delivered = _RECEIVERS * len(payloads)

    def side(name: str) -> list[float]:
        run = _labsock_round if name == "labsock" else _bare_round
        elapsed, lost = run(tag, payloads)
        missing[name] += lost
        return [delivered / elapsed]

    with pinned(budget.pin) as cpu:
        side("labsock")  # warm-up
        side("bare")
        missing = {"labsock": 0, "bare": 0}
        samples = interleave(
            {"labsock": lambda: side("labsock"), "bare": lambda: side("bare")},
            budget.rounds,
            budget.seconds,
        )
    ratios = per_round(samples, "labsock", "bare", operator.truediv)
    ratio = median(ratios)
    lab, bare = median(pooled(samples["labsock"])), median(pooled(samples["bare"]))
    lossless = missing["labsock"] == 0 and missing["bare"] == 0
    return Row(
        key="fanout",
        title=f"Multicast fan-out to {_RECEIVERS} receivers, median",
        unit="datagrams/s",
        bare=bare,
        labsock=lab,
        ratio=ratio,
        target="ratio >= 0.90, no loss",
        met=ratio >= 0.90 and lossless,
        note=f"bursts of {len(payloads)} x {_SIZE} B; lost: labsock {missing['labsock']}, "
        f"bare {missing['bare']}; {PAIRED}",
        details={
            "pinned_cpu": cpu,
            "burst": len(payloads),
            "rounds": len(samples["labsock"]),
            "missing": missing,
            "labsock": spread(pooled(samples["labsock"])),
            "bare": spread(pooled(samples["bare"])),
            "round_ratios": spread(ratios),
        },
    )
