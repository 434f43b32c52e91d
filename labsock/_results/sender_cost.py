"""What one multicast send saves the sender, as measured by ``sender_cost``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from labsock._core.formatting import format_seconds
from labsock._core.i18n import gettext as _
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
        lines = [
            _("reaching {receivers} receivers with {count} messages of {size} bytes:"),
            "  "
            + _(
                "unicast:   {receivers} sendto() per message, median {unicast} per message, "
                "delivered {unicast_delivered}/{expected}"
            ),
            "  "
            + _(
                "multicast: 1 sendto() per message, median {multicast} per message, "
                "delivered {multicast_delivered}/{expected}"
            ),
            "  " + _("the sender works {ratio:.1f}x longer per message with unicast"),
        ]
        return "\n".join(lines).format(
            receivers=self.receivers,
            count=self.count,
            size=self.size,
            unicast=format_seconds(self.unicast_median),
            unicast_delivered=self.unicast_delivered,
            expected=self.expected,
            multicast=format_seconds(self.multicast_median),
            multicast_delivered=self.multicast_delivered,
            ratio=self.ratio,
        )

    def __str__(self) -> str:
        return self.summary()
