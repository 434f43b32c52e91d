"""What many test modules share: waiting for a state, talking to an echo, skip markers.

Fixtures live in ``conftest.py`` (the autouse leak check among them); plain
functions and constants live here, imported by name like any module
(``from tests.helpers import wait_until``), as h11 keeps its ``helpers.py``.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, TypeVar

import pytest

from labsock._core.records import build_records
from labsock._results.ping import PingResult

#: The repository's root (notebooks/, binder/, benchmarks/ ...), wherever a test sits.
ROOT = Path(__file__).resolve().parents[1]

#: How long a test waits for something a background thread does; far above need.
T = TypeVar("T")

WAIT = 10.0


def wait_until(
    predicate: Callable[[], T],
    what: str | Callable[[], str],
    timeout: float = WAIT,
    *,
    every: float = 0.002,
) -> T:
    """Poll ``predicate`` until it holds and return its value; fail saying ``what`` did not happen.

    ``what`` names the awaited state ("3 clients connected"); pass a function
    to describe it at the moment of failure (with the state actually seen).

    For a state a background thread reaches a moment after the effect the
    test saw (an echo arrives before the server counts it as sent; an
    evicted flow's thread exits after its mapping is gone). Polls every
    ``every`` seconds (a check that drives a browser polls less often), so a
    slow machine only makes the wait longer, never the test wrong.

    Raises:
        AssertionError: ``predicate`` still false after ``timeout`` seconds,
            with ``what`` and the timeout in the message.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"waited for: {said} (not true after {timeout:g} s)")
        time.sleep(every)


def tcp_echo(address: tuple[str, int], payload: bytes) -> bytes:
    """Send ``payload`` to a TCP echo while reading concurrently, then half-close.

    Reading while sending avoids the deadlock of a big payload filling both
    directions' buffers; the half-close tells the echo we are done.
    """
    with socket.create_connection(address, timeout=WAIT) as client:
        errors: list[BaseException] = []

        def send() -> None:
            try:
                client.sendall(payload)
                client.shutdown(socket.SHUT_WR)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        chunks = []
        while True:
            chunk = client.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        sender.join(WAIT)
        assert not errors
        return b"".join(chunks)


def _can_bind_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _can_bind_ipv6()
needs_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="this host cannot bind ::1")


def needs_tool(name: str) -> pytest.MarkDecorator:
    """Skip (with the reason) when an outside program such as socat is missing."""
    return pytest.mark.skipif(
        shutil.which(name) is None,
        reason=f"{name} is not installed (make test installs it with apt-get where it can)",
    )


def make_result(
    count: int,
    arrivals: Sequence[int],
    *,
    protocol: str = "udp",
    rtt: Callable[[int], float] = lambda seq: 0.012,
    connect_time: float | None = None,
    unreachable: int = 0,
    kind: Literal["probe", "request"] = "probe",
) -> PingResult:
    """A PingResult as ping would build it: probe i sent at i ms, replies in the given order.

    Each reply arrives ``rtt(seq)`` after its probe, or just after the
    previous reply if that is later, so the list order is the arrival order.
    """
    sent = [i * 1e-3 for i in range(count)]
    timed: list[tuple[int, float]] = []
    last = 0.0
    for seq in arrivals:
        last = max(last + 1e-6, sent[seq] + rtt(seq))
        timed.append((seq, last))
    return PingResult(
        protocol=protocol,
        address=("127.0.0.1", 9),
        count=count,
        size=64,
        interval=1e-3,
        timeout=1.0,
        records=build_records(sent, timed),
        arrivals=tuple(arrivals),
        connect_time=connect_time,
        unreachable=unreachable,
        kind=kind,
    )
