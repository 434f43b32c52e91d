"""Is UDP faster? The records ``compare_speed`` returns, and the throughput points figures read.

:class:`SpeedComparison` holds both halves of the measurement (request round
trips and bulk transfers per message size); :class:`BulkTransfer` one bulk
point; :class:`ThroughputPoint` one (protocol, message size, rate) point as
``plots.throughput`` draws it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from labsock._core.errors import UsageError
from labsock._core.formatting import (
    format_rate,
    format_seconds,
    format_share,
    format_size,
    wrap_lines,
)
from labsock._core.i18n import gettext as _
from labsock._results.ping import PingResult

__all__ = ["BulkTransfer", "SpeedComparison", "ThroughputPoint"]

#: Two measurements closer than this ratio are "about even".
_EVEN = 1.05


# -- throughput ------------------------------------------------------------------------
@dataclass(frozen=True)
class ThroughputPoint:
    """One measurement: ``protocol`` moved ``bytes_per_second`` in ``message_size``-byte messages.

    Raises :class:`UsageError` for an empty protocol, a size under 1 or a
    negative or non-finite rate.

    >>> ThroughputPoint("tcp", 65536, 3.4e9).message_size
    65536
    """

    protocol: str
    message_size: int
    bytes_per_second: float

    def __post_init__(self) -> None:
        if not isinstance(self.protocol, str) or not self.protocol:
            raise UsageError(
                _("protocol must be a name such as 'tcp', not {protocol!r}").format(
                    protocol=self.protocol
                )
            )
        size = self.message_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise UsageError(
                _("message_size must be a whole number of bytes >= 1, not {size!r}").format(
                    size=size
                )
            )
        rate = self.bytes_per_second
        if (
            isinstance(rate, bool)
            or not isinstance(rate, (int, float))
            or not (math.isfinite(rate) and rate >= 0)
        ):
            raise UsageError(
                _("bytes_per_second must be a finite number >= 0, not {rate!r}").format(rate=rate)
            )


def _faster(name_a: str, a: float, name_b: str, b: float, *, higher_is_faster: bool) -> str:
    """'UDP 1.8x faster' from two measurements of the same thing (times or rates)."""
    if a <= 0 and b <= 0:
        return _("no comparison (nothing measured)")
    if higher_is_faster:
        a, b = b, a  # from here on, smaller is faster
    if a <= 0 or b <= 0:
        return _("{name} only (the other measured nothing)").format(
            name=name_a if a <= 0 else name_b
        )
    ratio = max(a, b) / min(a, b)
    winner = name_a if a < b else name_b
    if ratio < _EVEN:
        return _("about even ({winner} {ratio:.2f}x faster)").format(winner=winner, ratio=ratio)
    return _("{winner} {ratio:.1f}x faster").format(winner=winner, ratio=ratio)


@dataclass(frozen=True)
class BulkTransfer:
    """One bulk measurement: a budget of bytes sent as fast as possible.

    Attributes:
        protocol: ``"tcp"`` or ``"udp"``.
        message_size: bytes per send call (per datagram over UDP).
        messages_sent: send calls that completed (UDP: datagrams the kernel
            accepted).
        messages_delivered: UDP: datagrams the receiver read. TCP: the bytes
            read, in whole messages (a stream has no messages of its own).
        bytes_sent, bytes_delivered: bytes handed to the kernel, and read by
            the receiving program.
        receive_calls: how many ``recv`` calls the receiver made: one per
            datagram over UDP, far fewer than the messages over TCP.
        send_errors: UDP sends the kernel refused outright (``ENOBUFS``).
        kernel_drops: Linux, UDP: datagrams the kernel dropped on the
            receiving socket (its buffer was full); ``None`` elsewhere.
        receive_buffer: the receiver's ``SO_RCVBUF`` as the kernel granted it.
        send_elapsed: seconds from the first send until the last returned.
        elapsed: seconds from the first send until the last byte was read.
        cut_short: the sender stopped at the time limit, before the budget.
    """

    protocol: str
    message_size: int
    messages_sent: int
    messages_delivered: int
    bytes_sent: int
    bytes_delivered: int
    receive_calls: int
    send_errors: int
    kernel_drops: int | None
    receive_buffer: int
    send_elapsed: float
    elapsed: float
    cut_short: bool

    @property
    def bytes_per_second(self) -> float:
        """Goodput: bytes the receiving program got, per second of the whole transfer."""
        return self.bytes_delivered / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def offered_per_second(self) -> float:
        """Bytes per second the sender handed to its kernel."""
        return self.bytes_sent / self.send_elapsed if self.send_elapsed > 0 else 0.0

    @property
    def lost(self) -> int:
        """UDP: datagrams sent but never read. TCP: bytes (0 unless cut off)."""
        if self.protocol == "udp":
            return self.messages_sent - self.messages_delivered
        return self.bytes_sent - self.bytes_delivered

    @property
    def loss_rate(self) -> float:
        """Share of what was sent that never reached the receiver, 0.0 to 1.0."""
        sent = self.messages_sent if self.protocol == "udp" else self.bytes_sent
        return self.lost / sent if sent else 0.0

    def point(self) -> ThroughputPoint:
        """This measurement as a :class:`labsock.plots.ThroughputPoint` (delivered goodput)."""
        return ThroughputPoint(self.protocol, self.message_size, self.bytes_per_second)

    def summary(self) -> str:
        """One line: size, goodput, loss."""
        line = _("{proto} {size} messages: {rate} delivered").format(
            proto=self.protocol.upper(),
            size=format_size(self.message_size),
            rate=format_rate(self.bytes_per_second),
        )
        if self.protocol == "udp":
            line += _(
                ", offered {offered}; {delivered:,} of {sent:,} datagrams arrived (lost {rate:.1%})"
            ).format(
                offered=format_rate(self.offered_per_second),
                delivered=self.messages_delivered,
                sent=self.messages_sent,
                rate=self.loss_rate,
            )
        else:
            line += _("; {delivered:,} of {sent:,} bytes arrived in {reads:,} reads").format(
                delivered=self.bytes_delivered, sent=self.bytes_sent, reads=self.receive_calls
            )
        if self.cut_short:
            line += _(" [cut short at the time limit]")
        return line

    def __str__(self) -> str:
        return self.summary()


@dataclass(frozen=True)
class SpeedComparison:
    """UDP against TCP on this machine, measured three ways in one run.

    Attributes:
        udp_ping, tcp_ping: ping-pong over one UDP socket and over one open
            TCP connection (same count and size).
        udp_requests: one request per new UDP socket: ``connect`` (which
            sends nothing over UDP), ``send`` one datagram, read the reply,
            close. Each request is a record (``kind == "request"``); its
            "round trip" is the whole request.
        tcp_requests: one request per new TCP connection: ``connect``,
            ``sendall``, read the reply, close. ``connect_time`` is the
            median of the connects.
        tcp_connect_times, tcp_echo_times, tcp_close_times: where each TCP
            request's time went, in seconds: ``connect()`` (the handshake),
            ``sendall`` until the whole echo was read, and ``close()``. The
            server's ``accept`` and the thread it starts for each connection
            run in this process too, and take the interpreter lock when they
            wake: their cost lands in whichever phase the client is in then,
            so the split is indicative; the sum is what counts.
        udp_bulk, tcp_bulk: one :class:`BulkTransfer` per message size and
            repeat, in the order measured (every size, then every size
            again); ``udp_bulk[i]`` ran right next to ``tcp_bulk[i]``. UDP
            sizes are capped at 65,507 bytes.
        elapsed: seconds the whole comparison took.

    Request records and ping records are both :class:`PingResult`, so every
    plot of ``labsock.plots`` works on them, e.g.
    ``plots.compare(c.udp_requests, c.tcp_requests)``.
    """

    udp_ping: PingResult
    tcp_ping: PingResult
    udp_requests: PingResult
    tcp_requests: PingResult
    tcp_connect_times: tuple[float, ...]
    tcp_echo_times: tuple[float, ...]
    tcp_close_times: tuple[float, ...]
    udp_bulk: tuple[BulkTransfer, ...]
    tcp_bulk: tuple[BulkTransfer, ...]
    elapsed: float

    # -- the three verdicts ----------------------------------------------------
    @staticmethod
    def _median(result: PingResult) -> float:
        return result.rtt.median if result.rtt is not None else 0.0

    @property
    def per_message(self) -> str:
        """Which protocol's round trip on an open connection was faster, and by how much."""
        return _faster(
            "UDP",
            self._median(self.udp_ping),
            "TCP",
            self._median(self.tcp_ping),
            higher_is_faster=False,
        )

    @property
    def per_request(self) -> str:
        """Which protocol's request with a new socket/connection was faster."""
        return _faster(
            "UDP",
            self._median(self.udp_requests),
            "TCP",
            self._median(self.tcp_requests),
            higher_is_faster=False,
        )

    @property
    def sizes(self) -> tuple[int, ...]:
        """The bulk message sizes measured, smallest first (TCP's; UDP caps at 65,507)."""
        return tuple(sorted({b.message_size for b in self.tcp_bulk}))

    def bulk_at(self, size: int) -> tuple[tuple[BulkTransfer, ...], tuple[BulkTransfer, ...]]:
        """``(udp_runs, tcp_runs)``: every repeat at the message size closest to ``size``."""
        if not self.tcp_bulk:
            raise UsageError(_("this comparison measured no bulk throughput (sizes=())"))
        nearest = min(self.sizes, key=lambda s: abs(s - size))
        indices = [i for i, b in enumerate(self.tcp_bulk) if b.message_size == nearest]
        return (
            tuple(self.udp_bulk[i] for i in indices),
            tuple(self.tcp_bulk[i] for i in indices),
        )

    @staticmethod
    def _goodput(runs: Sequence[BulkTransfer]) -> float:
        return statistics.median(b.bytes_per_second for b in runs)

    @staticmethod
    def _loss(runs: Sequence[BulkTransfer]) -> float:
        sent = sum(b.messages_sent for b in runs)
        return sum(b.lost for b in runs) / sent if sent else 0.0

    @staticmethod
    def _lost_share(runs: Sequence[BulkTransfer]) -> str:
        # Not rounded away: 25 lost of 54,528 is 0.046 %, not "0.0 %".
        return format_share(sum(b.lost for b in runs), sum(b.messages_sent for b in runs))

    def bulk_verdict(self, size: int = 1024) -> str:
        """Which protocol delivered more (median of repeats) at the size closest to ``size``."""
        udp, tcp = self.bulk_at(size)
        verdict = _faster(
            "UDP", self._goodput(udp), "TCP", self._goodput(tcp), higher_is_faster=True
        )
        return _("{verdict} (UDP lost {share})").format(
            verdict=verdict, share=self._lost_share(udp)
        )

    def throughput_points(self) -> list[ThroughputPoint]:
        """Delivered goodput of every bulk measurement, for ``plots.throughput``."""
        return [b.point() for b in (*self.tcp_bulk, *self.udp_bulk)]

    def bulk_rows(self) -> list[tuple[str, str, str, str]]:
        """Rows of (message size, TCP delivered, UDP delivered, UDP lost) for a table.

        Rates are medians over the repeats; the loss counts every repeat.
        """
        rows = []
        for size in self.sizes:
            udp, tcp = self.bulk_at(size)
            rows.append(
                (
                    format_size(size),
                    format_rate(self._goodput(tcp)),
                    format_rate(self._goodput(udp)),
                    self._lost_share(udp),
                )
            )
        return rows

    def summary(self) -> str:
        """A few lines that say which was faster, by how much, and what it cost."""
        udp_ping, tcp_ping = self._median(self.udp_ping), self._median(self.tcp_ping)
        udp_req, tcp_req = self._median(self.udp_requests), self._median(self.tcp_requests)
        lines = [
            _(
                "per message on an open connection: {verdict} (median round trip UDP {udp}, "
                "TCP {tcp}; {n} probes each)"
            ).format(
                verdict=self.per_message,
                udp=format_seconds(udp_ping),
                tcp=format_seconds(tcp_ping),
                n=self.udp_ping.sent,
            ),
            _(
                "per request with a new connection: {verdict} (median UDP {udp}, TCP {tcp}"
                "{phases}; {n} requests each)"
            ).format(
                verdict=self.per_request,
                udp=format_seconds(udp_req),
                tcp=format_seconds(tcp_req),
                phases=self._tcp_phases(),
                n=self.tcp_requests.sent,
            ),
        ]
        if self.tcp_bulk:
            udp, tcp = self.bulk_at(1024)
            lines.append(
                _(
                    "bulk throughput at {size} messages: {verdict}; TCP {tcp}, UDP {udp} delivered"
                ).format(
                    size=format_size(tcp[0].message_size),
                    verdict=self.bulk_verdict(1024),
                    tcp=format_rate(self._goodput(tcp)),
                    udp=format_rate(self._goodput(udp)),
                )
            )
            pairs = [self.bulk_at(size) for size in self.sizes]
            tcp_wins = sum(self._goodput(t) > self._goodput(u) for u, t in pairs)
            sent = sum(u.messages_sent for u in self.udp_bulk)
            lost = sum(u.lost for u in self.udp_bulk)
            lines.append(
                _(
                    "bulk throughput, {smallest} to {largest}: TCP delivered more at "
                    "{wins} of {sizes} sizes; UDP lost {lost:,} of {sent:,} datagrams, all "
                    "sizes together ({share}; the share differs from size to size)"
                ).format(
                    smallest=format_size(self.sizes[0]),
                    largest=format_size(self.sizes[-1]),
                    wins=tcp_wins,
                    sizes=len(self.sizes),
                    lost=lost,
                    sent=sent,
                    share=format_share(lost, sent),
                )
            )
        return wrap_lines(lines)

    def _tcp_phases(self) -> str:
        if not self.tcp_connect_times:
            return ""
        connect, echo, close = (
            format_seconds(statistics.median(times))
            for times in (self.tcp_connect_times, self.tcp_echo_times, self.tcp_close_times)
        )
        return _(
            "; medians of TCP's parts: connect() {connect}, send + echo {echo}, close() {close}"
        ).format(connect=connect, echo=echo, close=close)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<SpeedComparison per message: {self.per_message}; per request: {self.per_request}>"
