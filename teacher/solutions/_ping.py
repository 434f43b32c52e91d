"""Reference solution of exercise 2: a UDP pinger with a timeout and exponential back-off."""

from __future__ import annotations

import socket
import time

__all__ = ["udp_ping"]


def udp_ping(
    server: tuple[str, int], count: int, timeout: float, retries: int
) -> dict[str, float | int | None]:
    """Ping ``server`` ``count`` times; retry a silent probe with a doubling timeout.

    Probe ``seq``'s attempt ``a`` is the datagram ``b"ping <seq> <a>"``. The
    RTT of a probe is measured from the send of the attempt its first reply
    answers, so a late reply to attempt 0 that arrives during attempt 1 is
    still timed correctly.
    """
    rtts: list[float] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in range(count):
            sent_at: dict[int, float] = {}
            for attempt in range(retries + 1):
                wait = timeout * 2**attempt  # exponential back-off
                sent_at[attempt] = time.perf_counter()
                sock.sendto(f"ping {seq} {attempt}".encode(), server)
                deadline = sent_at[attempt] + wait
                rtt = _await_reply(sock, seq, sent_at, deadline)
                if rtt is not None:
                    rtts.append(rtt)
                    break
    received = len(rtts)
    return {
        "received": received,
        "loss": (count - received) / count,
        "rtt_min": min(rtts) if rtts else None,
        "rtt_avg": sum(rtts) / received if rtts else None,
        "rtt_max": max(rtts) if rtts else None,
    }


def _await_reply(
    sock: socket.socket, seq: int, sent_at: dict[int, float], deadline: float
) -> float | None:
    """The RTT of the first reply to probe ``seq`` before ``deadline``, else None."""
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            data, _ = sock.recvfrom(1024)
        except TimeoutError:
            return None
        now = time.perf_counter()
        parts = data.split()
        if len(parts) != 3 or parts[0] != b"ping" or not (parts[1] + parts[2]).isdigit():
            continue  # not a reply of ours
        if int(parts[1]) != seq or int(parts[2]) not in sent_at:
            continue  # a late reply to an earlier probe: ignore it
        return now - sent_at[int(parts[2])]
