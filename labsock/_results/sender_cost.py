"""What one multicast send saves the sender, as measured by ``sender_cost``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from labsock._core.formatting import format_seconds
from labsock._core.stats import percentile

__all__ = ["SenderCost"]


@dataclass(frozen=True)
class SenderCost:
    """Per-message sender time for N unicast copies and for one multicast datagram.

    Attributes:
        receivers: N, the number of receivers reached each way.
        count, size: messages sent each way, and bytes per message.
        unicast: seconds the sender spent on each message sent as N copies.
        multicast: seconds the sender spent on each message sent once to the group.
        unicast_delivered, multicast_delivered: datagrams that arrived, over
            all receivers (``count * receivers`` each when nothing was lost).
        group: the multicast group used.
    """

    receivers: int
    count: int
    size: int
    unicast: tuple[float, ...]
    multicast: tuple[float, ...]
    unicast_delivered: int
    multicast_delivered: int
    group: str

    @cached_property
    def unicast_median(self) -> float:
        return percentile(self.unicast, 50)

    @cached_property
    def multicast_median(self) -> float:
        return percentile(self.multicast, 50)

    @property
    def ratio(self) -> float:
        """How many times longer the sender works per message with unicast."""
        return self.unicast_median / self.multicast_median

    @property
    def expected(self) -> int:
        """Datagrams each method should deliver: one per message per receiver."""
        return self.count * self.receivers

    def summary(self) -> str:
        return (
            f"reaching {self.receivers} receivers with {self.count} messages "
            f"of {self.size} bytes:\n"
            f"  unicast:   {self.receivers} sendto() per message, "
            f"median {format_seconds(self.unicast_median)} per message, "
            f"delivered {self.unicast_delivered}/{self.expected}\n"
            f"  multicast: 1 sendto() per message, "
            f"median {format_seconds(self.multicast_median)} per message, "
            f"delivered {self.multicast_delivered}/{self.expected}\n"
            f"  the sender works {self.ratio:.1f}x longer per message with unicast"
        )

    def __str__(self) -> str:
        return self.summary()
