"""What one ``blast`` measured: UDP's kernel drops against TCP's flow control."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from labsock._core.formatting import format_seconds, wrap_lines
from labsock._core.i18n import gettext as _

__all__ = ["BlastResult"]


@dataclass(frozen=True)
class BlastResult:
    """What one :func:`blast` measured.

    Counts are datagrams over UDP and bytes over TCP (see ``unit``).

    Attributes:
        protocol, count, size, read_delay, timeout: the settings of the run.
        requested_buffer: the ``SO_RCVBUF`` asked for the receiver.
        effective_buffer: what the kernel granted, read back with
            ``getsockopt`` (Linux doubles the request, then clamps it).
        requested_send_buffer, effective_send_buffer: the same for the
            sender's ``SO_SNDBUF`` (requested ``None``: the OS default).
        sent: datagrams the kernel accepted from the sender (UDP), or bytes
            handed to ``sendall`` (TCP; all of them, even if a timeout cut
            the run short).
        received: datagrams (UDP) or bytes (TCP) the receiver read.
        arrivals: UDP sequence numbers in the order they arrived.
        intact: every datagram that arrived had the size and content sent
            (UDP); every byte that arrived is the byte sent at that place in
            the stream (TCP; with ``lost == 0`` the whole stream is exact).
        send_errors: UDP sends the kernel refused outright (``ENOBUFS``).
        reads: how many receive calls the receiver made.
        received_when_sent: what the receiver had read by the moment the
            sender was done (its last ``send`` or ``sendall`` returned).
        send_elapsed: seconds the sender took to hand everything over.
        elapsed: seconds from the first send until the receiver had drained.
        kernel_drops: Linux, UDP: datagrams the kernel dropped on this very
            socket (the ``drops`` column of ``/proc/net/udp``); else None.
        rcvbuf_errors: Linux, UDP: how much the system-wide ``RcvbufErrors``
            counter of ``/proc/net/snmp`` grew during the run. Other
            programs' drops count too, so it is at least ``kernel_drops``.
        timed_out: the run hit ``timeout`` before the receiver drained.
    """

    protocol: str
    count: int
    size: int
    read_delay: float
    timeout: float
    requested_buffer: int
    effective_buffer: int
    requested_send_buffer: int | None
    effective_send_buffer: int
    sent: int
    received: int
    arrivals: tuple[int, ...] = field(repr=False)
    intact: bool
    send_errors: int
    reads: int
    received_when_sent: int
    send_elapsed: float
    elapsed: float
    kernel_drops: int | None
    rcvbuf_errors: int | None
    timed_out: bool

    @property
    def unit(self) -> str:
        """``"datagrams"`` (UDP) or ``"bytes"`` (TCP): what the counts count."""
        return "datagrams" if self.protocol == "udp" else "bytes"

    @property
    def lost(self) -> int:
        """Sent but never read: dropped by the kernel (UDP), or cut off by the timeout."""
        return self.sent - self.received

    @property
    def loss_rate(self) -> float:
        """Share of what was sent that never arrived, 0.0 to 1.0."""
        return self.lost / self.sent if self.sent else 0.0

    @cached_property
    def lost_seqs(self) -> tuple[int, ...]:
        """UDP: the sequence numbers that never arrived (empty for TCP)."""
        if self.protocol != "udp":
            return ()
        arrived = set(self.arrivals)
        return tuple(seq for seq in range(self.count) if seq not in arrived)

    @property
    def bytes_sent(self) -> int:
        return self.sent * self.size if self.protocol == "udp" else self.sent

    @property
    def bytes_received(self) -> int:
        return self.received * self.size if self.protocol == "udp" else self.received

    @property
    def send_rate(self) -> float:
        """Bytes per second the sender handed to its kernel."""
        return self.bytes_sent / self.send_elapsed if self.send_elapsed > 0 else 0.0

    @property
    def receive_rate(self) -> float:
        """Bytes per second that reached the receiving program, over the whole run."""
        return self.bytes_received / self.elapsed if self.elapsed > 0 else 0.0

    def summary(self) -> str:
        """A few lines a student can read, e.g. for ``print(result)``."""
        udp = self.protocol == "udp"
        kernel = (
            _("the kernel made it {n:,}").format(n=self.effective_buffer)
            if self.effective_buffer != self.requested_buffer
            else _("granted as asked")
        )
        what = (
            _("{count:,} datagrams of {size:,} bytes")
            if udp
            else _("{total:,} bytes ({count:,} × {size:,})")
        ).format(count=self.count, size=self.size, total=self.count * self.size)
        reading = (
            _("one datagram") if udp else _("up to {size:,} bytes").format(size=self.size)
        ) + " "
        reading += (
            _("every {interval}").format(interval=format_seconds(self.read_delay))
            if self.read_delay
            else _("at a time, as fast as it can")
        )
        lines = [
            _(
                "{proto} blast: {what} into a receiver with a {buffer:,}-byte receive buffer "
                "({kernel}), reading {reading}"
            ).format(
                proto=self.protocol.upper(),
                what=what,
                buffer=self.requested_buffer,
                kernel=kernel,
                reading=reading,
            ),
            (
                _("received {received:,} of {sent:,} datagrams, lost {lost:,} ({rate:.1%})")
                if udp
                else _("received {received:,} of {sent:,} bytes, lost {lost:,} ({rate:.1%})")
            ).format(received=self.received, sent=self.sent, lost=self.lost, rate=self.loss_rate),
        ]
        if self.protocol == "udp":
            lines.extend(self._udp_lines())
        else:
            lines.extend(self._tcp_lines())
        if self.timed_out:
            lines.append(
                _("the run stopped at the {timeout:g} s timeout before it drained").format(
                    timeout=self.timeout
                )
            )
        return wrap_lines(lines)

    def _udp_lines(self) -> list[str]:
        lines = [
            _(
                "sender: done in {elapsed} ({rate:,.1f} MB/s); the receiver had read "
                "{read:,} datagrams by then"
            ).format(
                elapsed=format_seconds(self.send_elapsed),
                rate=self.send_rate / 1e6,
                read=self.received_when_sent,
            )
            + (_(". Nobody told the sender about the losses.") if self.lost else "")
        ]
        if self.send_errors:
            lines.append(
                _("the kernel refused {n:,} sends outright (ENOBUFS)").format(n=self.send_errors)
            )
        if self.kernel_drops is not None:
            accounted = self.received + self.kernel_drops
            check = _("all accounted for") if accounted == self.sent else _("NOT all accounted for")
            lines.append(
                _(
                    "kernel: dropped {dropped:,} datagrams on this socket (buffer full); "
                    "{check}: {received:,} received + {dropped:,} dropped = "
                    "{accounted:,} of {sent:,} sent"
                ).format(
                    dropped=self.kernel_drops,
                    check=check,
                    received=self.received,
                    accounted=accounted,
                    sent=self.sent,
                )
            )
        else:
            lines.append(_("(this system does not show the kernel's per-socket drop counter)"))
        if self.rcvbuf_errors is not None:
            lines.append(
                _(
                    "system-wide RcvbufErrors grew by {n:,} (other programs' drops count there too)"
                ).format(n=self.rcvbuf_errors)
            )
        return lines

    def _tcp_lines(self) -> list[str]:
        if not self.intact:
            check = _("the bytes that arrived DIFFER from those sent")
        elif self.lost:
            check = _("what arrived is exactly the start of what was sent, in order (checked)")
        else:
            check = _("every byte arrived, in order (checked)")
        lines = [
            _("content: {check}").format(check=check),
            _("sendall returned after {elapsed}, when the reader had read {read:,} bytes").format(
                elapsed=format_seconds(self.send_elapsed), read=self.received_when_sent
            ),
        ]
        waiting = self.sent - self.received_when_sent
        if waiting > self.sent // 2:
            lines.append(
                _(
                    "the other {n:,} bytes waited in the kernels' buffers: sendall returns "
                    "once the data is in the sender's buffer, and flow control paced the delivery"
                ).format(n=waiting)
            )
        else:
            lines.append(
                _(
                    "flow control held the sender back: the receiver's window closed whenever "
                    "its buffer was full, and sendall waited"
                )
            )
        lines.append(
            _("whole transfer: {elapsed} ({rate:,.2f} MB/s, the pace of the reader)").format(
                elapsed=format_seconds(self.elapsed), rate=self.receive_rate / 1e6
            )
        )
        return lines

    def __str__(self) -> str:
        return self.summary()
