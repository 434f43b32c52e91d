"""Immutable results of experiments. Every figure is derived from raw records.

A result keeps what was measured (one record per probe, every arrival in
order) and computes each figure from it with the pure functions of
``_stats``, so any plot can be redrawn and any number re-derived.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from labsock._core import stats as _stats
from labsock._core.formatting import format_seconds, wrap_lines
from labsock._core.records import ProbeRecord

__all__ = ["PingResult", "format_seconds"]


@dataclass(frozen=True)
class PingResult:
    """What one :func:`~labsock.ping` run measured.

    Attributes:
        protocol: ``"udp"`` or ``"tcp"``.
        address: where the probes went.
        count, size, interval, timeout: the settings of the run.
        records: one :class:`ProbeRecord` per probe, by sequence number.
        arrivals: the sequence number of every reply in the order it
            arrived, duplicates included.
        connect_time: seconds ``connect()`` took (TCP), else ``None``.
        unreachable: how many times the kernel reported "port unreachable"
            (UDP to a port where nothing listens).
        elapsed: wall time of the whole run, in seconds.
        kind: what each record timed. ``"probe"`` (what ``ping`` does): one
            exchange on an open socket, send to reply. ``"request"`` (the
            per-request runs of :func:`~labsock.compare_speed`): a whole
            request on a new socket, from creating it to closing it.
            ``plots.compare`` names its axes and bars after it.

    The derived figures (``rtt``, ``lost``, ``reordered``, ...) are computed
    on first use from ``records`` and ``arrivals``.
    """

    protocol: str
    address: tuple[str, int]
    count: int
    size: int
    interval: float | None
    timeout: float
    records: tuple[ProbeRecord, ...]
    arrivals: tuple[int, ...]
    connect_time: float | None = None
    unreachable: int = 0
    elapsed: float = 0.0
    kind: Literal["probe", "request"] = "probe"

    # -- loss ------------------------------------------------------------
    @property
    def sent(self) -> int:
        """Probes sent."""
        return len(self.records)

    @cached_property
    def lost(self) -> int:
        """Probes whose reply never arrived."""
        return _stats.loss_count(self.records)

    @property
    def received(self) -> int:
        """Probes answered at least once."""
        return self.sent - self.lost

    @cached_property
    def loss_rate(self) -> float:
        """Share of probes lost, 0.0 to 1.0."""
        return _stats.loss_rate(self.records)

    @cached_property
    def lost_seqs(self) -> tuple[int, ...]:
        """Sequence numbers of the lost probes."""
        return tuple(r.seq for r in self.records if r.lost)

    # -- timing ----------------------------------------------------------
    @cached_property
    def rtts(self) -> tuple[float, ...]:
        """Round-trip times in seconds of the answered probes, by sequence number."""
        return tuple(r.rtt for r in self.records if r.rtt is not None)

    @cached_property
    def rtt(self) -> _stats.RttSummary | None:
        """min/median/p99/... of the RTTs, or ``None`` if nothing came back."""
        return _stats.summarize_rtts(self.rtts)

    @cached_property
    def jitter(self) -> float | None:
        """RFC 3550 interarrival jitter in seconds (``None`` under two replies)."""
        return _stats.jitter_rfc3550(self.records)

    # -- order -----------------------------------------------------------
    @cached_property
    def arrival_order(self) -> tuple[int, ...]:
        """Sequence numbers of first copies, in the order they arrived."""
        return _stats.first_arrival_order(self.records)

    @cached_property
    def reordering(self) -> _stats.Reordering:
        """RFC 4737 reordering of the first copies."""
        return _stats.reordering(self.arrival_order)

    @property
    def reordered(self) -> int:
        """Replies that arrived after a reply to a later probe."""
        return self.reordering.count

    @property
    def max_displacement(self) -> int:
        """The largest reordering extent: how many places a reply was late."""
        return self.reordering.max_extent

    @cached_property
    def duplicates(self) -> int:
        """Extra copies of replies that had already arrived."""
        return _stats.duplicates(self.arrivals)

    # -- words -----------------------------------------------------------
    def summary(self) -> str:
        """A few lines a student can read, e.g. for ``print(result)``."""
        where = f"{self.address[0]}:{self.address[1]}"
        # A request run times whole requests (new socket to close), not probes.
        run, unit, timed = (
            ("ping", "probes", "round trip")
            if self.kind == "probe"
            else ("requests to", "requests", "request time")
        )
        lines = [
            f"{self.protocol.upper()} {run} {where}: {self.sent} {unit} of {self.size} bytes, "
            f"{self.received} answered, {self.lost} lost ({self.loss_rate:.1%})"
        ]
        if self.rtt is not None:
            r = self.rtt
            lines.append(
                f"{timed}: min {format_seconds(r.min)}, median {format_seconds(r.median)}, "
                f"p99 {format_seconds(r.p99)}, max {format_seconds(r.max)}"
            )
        order = f"reordered {self.reordered}"
        if self.reordered:
            order += f" (up to {self.max_displacement} places late)"
        order += f", duplicates {self.duplicates}"
        if self.jitter is not None:
            order += f", jitter {format_seconds(self.jitter)}"
        lines.append(order)
        if self.connect_time is not None:
            lines.append(f"connection set-up: {format_seconds(self.connect_time)}")
        if self.received == 0:
            if self.unreachable:
                lines.append(
                    "no reply at all: the kernel reported the port unreachable, "
                    "so nothing is listening there. Start the server, check the port."
                )
            else:
                lines.append("no reply at all: is an echo server running at that address?")
        return wrap_lines(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"<PingResult {self.protocol} sent={self.sent} received={self.received} "
            f"lost={self.lost} reordered={self.reordered} duplicates={self.duplicates}>"
        )
