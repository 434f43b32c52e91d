"""What a run through an impaired link measured, and what the link says it did."""

from __future__ import annotations

from dataclasses import dataclass

from labsock._core.formatting import wrap_lines
from labsock._core.impair import Impairment, LinkStats
from labsock._results.ping import PingResult

__all__ = ["LinkRun"]


@dataclass(frozen=True)
class LinkRun:
    """Probes sent through an :class:`ImpairedLink` to an echo server.

    ``ping`` is what the client measured; ``link`` is what the link says it
    did. Comparing the two is the point: every probe the client lost was
    dropped by the link (one way or the other), every duplicate was made by
    it, and so on.
    """

    protocol: str
    settings: Impairment
    seed: int | str
    ping: PingResult
    link: LinkStats

    def comparison(self) -> list[tuple[str, int, int]]:
        """Rows of (what, the client saw, the link did) for a summary table.

        Reordering is not additive: a reply held back on the way home can
        undo a request that jumped ahead, so the client may see fewer
        reorderings than the link made in its two directions together.
        """
        fwd, back, total = self.link.forward, self.link.backward, self.link.total
        if self.protocol == "tcp":
            # A stream has no datagrams: the link sees chunks of bytes.
            return [
                ("bytes sent / relayed", self.ping.sent * self.ping.size, fwd.bytes_in),
                ("bytes echoed / relayed back", self.ping.received * self.ping.size, back.bytes_in),
                ("probes lost / dropped", self.ping.lost, total.dropped),
                ("reordered", self.ping.reordered, total.reordered),
            ]
        return [
            ("probes sent / relayed", self.ping.sent, fwd.received),
            ("lost / dropped (both ways)", self.ping.lost, total.dropped),
            ("reordered / reordered (both ways)", self.ping.reordered, total.reordered),
            ("duplicates / duplicated (both ways)", self.ping.duplicates, total.duplicated),
        ]

    def summary(self) -> str:
        """Two or three lines: the settings, then what the client measured."""
        head = f"{self.protocol.upper()} link ({self.settings}), seed {self.seed}"
        return f"{wrap_lines([head])}\n{self.ping}"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:left'>{what}</td><td>{saw}</td><td>{did}</td></tr>"
            for what, saw, did in self.comparison()
        )
        return (
            "<table><thead><tr><th style='text-align:left'></th><th>the client saw</th>"
            f"<th>the link did</th></tr></thead><tbody>{rows}</tbody></table>"
        )
