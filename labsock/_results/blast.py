"""What one ``blast`` measured: UDP's kernel drops against TCP's flow control."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from labsock._core.formatting import format_seconds, wrap_lines

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
        kernel = (
            f"the kernel made it {self.effective_buffer:,}"
            if self.effective_buffer != self.requested_buffer
            else "granted as asked"
        )
        what = (
            f"{self.count:,} datagrams of {self.size:,} bytes"
            if self.protocol == "udp"
            else f"{self.count * self.size:,} bytes ({self.count:,} × {self.size:,})"
        )
        lines = [
            f"{self.protocol.upper()} blast: {what} into a receiver with a "
            f"{self.requested_buffer:,}-byte receive buffer ({kernel}), reading "
            f"{'one datagram' if self.protocol == 'udp' else f'up to {self.size:,} bytes'} "
            + (
                f"every {format_seconds(self.read_delay)}"
                if self.read_delay
                else "at a time, as fast as it can"
            ),
            f"received {self.received:,} of {self.sent:,} {self.unit}, "
            f"lost {self.lost:,} ({self.loss_rate:.1%})",
        ]
        if self.protocol == "udp":
            lines.extend(self._udp_lines())
        else:
            lines.extend(self._tcp_lines())
        if self.timed_out:
            lines.append(f"the run stopped at the {self.timeout:g} s timeout before it drained")
        return wrap_lines(lines)

    def _udp_lines(self) -> list[str]:
        lines = [
            f"sender: done in {format_seconds(self.send_elapsed)} "
            f"({self.send_rate / 1e6:,.1f} MB/s); the receiver had read "
            f"{self.received_when_sent:,} datagrams by then"
            + (". Nobody told the sender about the losses." if self.lost else "")
        ]
        if self.send_errors:
            lines.append(f"the kernel refused {self.send_errors:,} sends outright (ENOBUFS)")
        if self.kernel_drops is not None:
            accounted = self.received + self.kernel_drops
            check = "all accounted for" if accounted == self.sent else "NOT all accounted for"
            lines.append(
                f"kernel: dropped {self.kernel_drops:,} datagrams on this socket (buffer full); "
                f"{check}: {self.received:,} received + {self.kernel_drops:,} dropped = "
                f"{accounted:,} of {self.sent:,} sent"
            )
        else:
            lines.append("(this system does not show the kernel's per-socket drop counter)")
        if self.rcvbuf_errors is not None:
            lines.append(
                f"system-wide RcvbufErrors grew by {self.rcvbuf_errors:,} "
                "(other programs' drops count there too)"
            )
        return lines

    def _tcp_lines(self) -> list[str]:
        if not self.intact:
            check = "the bytes that arrived DIFFER from those sent"
        elif self.lost:
            check = "what arrived is exactly the start of what was sent, in order (checked)"
        else:
            check = "every byte arrived, in order (checked)"
        lines = [
            f"content: {check}",
            f"sendall returned after {format_seconds(self.send_elapsed)}, when the reader had "
            f"read {self.received_when_sent:,} bytes",
        ]
        waiting = self.sent - self.received_when_sent
        if waiting > self.sent // 2:
            lines.append(
                f"the other {waiting:,} bytes waited in the kernels' buffers: sendall returns "
                "once the data is in the sender's buffer, and flow control paced the delivery"
            )
        else:
            lines.append(
                "flow control held the sender back: the receiver's window closed whenever "
                "its buffer was full, and sendall waited"
            )
        lines.append(
            f"whole transfer: {format_seconds(self.elapsed)} "
            f"({self.receive_rate / 1e6:,.2f} MB/s, the pace of the reader)"
        )
        return lines

    def __str__(self) -> str:
        return self.summary()
