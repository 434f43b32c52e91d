"""What every benchmark shares: interleaved rounds, medians, ratios and table rows.

Absolute times drift on a shared machine (other jobs, CPU frequency, which
vCPU a thread lands on), so each pair is measured in the same run, round
after round, alternating the order of the sides, and compared as a ratio of
medians. Every loop is bounded in rounds and in seconds.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "PAIRED",
    "Budget",
    "Row",
    "free_port",
    "interleave",
    "median",
    "per_round",
    "pinned",
    "pooled",
    "round_medians",
    "spread",
]


@dataclass
class Budget:
    """How much work each benchmark may do: ``--quick`` shrinks every figure."""

    quick: bool = False
    rounds: int = 40
    pings: int = 300  # probes per round for round-trip benchmarks
    bulk_bytes: int = 32 << 20  # echoed per round for TCP bulk throughput
    flood_seconds: float = 1.0  # of flooding per round, relay throughput
    fanout_count: int = 2000  # datagrams per round (fits the receive buffers)
    imports: int = 25  # fresh interpreters for the import time
    seconds: float = 30.0  # wall-clock cap for one interleaved benchmark
    reference_seconds: int = 2  # sockperf / iperf3 duration
    pin: bool = True  # round trips on one CPU (see pinned())

    @classmethod
    def quick_budget(cls) -> Budget:
        return cls(
            quick=True,
            rounds=3,
            pings=20,
            bulk_bytes=1 << 20,
            flood_seconds=0.15,
            fanout_count=200,
            imports=3,
            seconds=5.0,
            reference_seconds=1,
        )


@dataclass
class Row:
    """One line of the table: a measure for the C reference, bare Python and labsock.

    ``ratio`` is labsock against bare Python (or the figure the target is
    about); ``met`` is None where the issue sets no target.
    """

    key: str
    title: str
    unit: str
    c_reference: float | None = None
    bare: float | None = None
    labsock: float | None = None
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def interleave(
    sides: Mapping[str, Callable[[], Sequence[float]]], rounds: int, seconds: float
) -> dict[str, list[list[float]]]:
    """Run every side once per round, reversing the order every other round.

    Returns each side's samples, one list per round. Stops after ``rounds``
    rounds, or earlier once ``seconds`` have passed (after at least two
    rounds, so each side has gone first once).
    """
    names = list(sides)
    samples: dict[str, list[list[float]]] = {name: [] for name in names}
    deadline = time.perf_counter() + seconds
    for index in range(rounds):
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(list(sides[name]()))
        if index >= 1 and time.perf_counter() > deadline:
            break
    return samples


def pooled(rounds: list[list[float]]) -> list[float]:
    return [value for samples in rounds for value in samples]


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values (a side that measured nothing)."""
    return statistics.median(values) if values else math.nan


def round_medians(rounds: list[list[float]]) -> list[float]:
    return [median(samples) for samples in rounds if samples]


#: How the table's ratios are taken (said in each row's note).
PAIRED = "ratio: median over rounds of labsock / bare, both measured back to back"


def per_round(
    samples: Mapping[str, list[list[float]]],
    a: str,
    b: str,
    compare: Callable[[float, float], float],
) -> list[float]:
    """``compare(a's median, b's median)`` for each round in which both sides measured.

    The two sides of a round ran back to back, so they saw the same machine:
    on these VMs every round trip is sometimes 4-10 µs longer for a while
    (see benchmarks/README.md, *Pinning*), and pooling all rounds then mixes
    the two modes in different proportions on each side.
    """
    return [
        compare(median(x), median(y))
        for x, y in zip(samples[a], samples[b], strict=True)
        if x and y
    ]


def spread(values: Sequence[float]) -> dict[str, float]:
    """Min, quartiles and max: how much the rounds agreed."""
    if not values:
        return {}
    ordered = sorted(values)
    if len(ordered) == 1:
        q1 = q3 = ordered[0]
    else:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    return {"min": ordered[0], "q1": q1, "median": median(ordered), "q3": q3, "max": ordered[-1]}


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port free on 127.0.0.1 right now, for outside tools that need a number.

    There is a short race (another program may take it before the tool
    binds); the reference benchmarks retry once if the tool fails to start.
    """
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _idlest_cpu(allowed: set[int]) -> int:
    """The allowed CPU that was idle longest over the last 0.2 s (Linux), else the last."""

    def idle() -> dict[int, int]:
        times = {}
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit():
                    times[int(name[3:])] = int(fields[3]) + int(fields[4])  # idle + iowait
        return times

    try:
        first = idle()
        time.sleep(0.2)
        second = idle()
        return max(allowed, key=lambda cpu: second.get(cpu, 0) - first.get(cpu, 0))
    except (OSError, ValueError, IndexError):
        return max(allowed)


@contextlib.contextmanager
def pinned(enabled: bool = True) -> Iterator[int | None]:
    """Run this thread, and the threads and processes it starts, on one CPU.

    Round trips on these VMs are bimodal: about 4 µs shorter when both ends
    run on the same vCPU, and which one the scheduler picks flips from run to
    run. labsock's threads share the GIL, so they gain nothing from a second
    CPU during a ping-pong; pinning both sides of a comparison to one CPU
    takes the flip out of the ratio. Yields the CPU, or None where the OS
    cannot pin (or ``enabled`` is False).
    """
    if not enabled or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    cpu = _idlest_cpu(before)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)
