"""Experiments a lesson runs in one call: endpoints in, a frozen result out.

Each experiment starts its own endpoints, runs, closes everything (also on
error), and returns an immutable result that keeps the raw records, so its
plots can be redrawn and every number re-derived.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from labsock._core.impair import Impairment, LinkStats
from labsock._endpoints.link import ImpairedLink
from labsock._endpoints.servers import TCPEchoServer, UDPEchoServer
from labsock._experiments.ping import Progress, ping
from labsock._results.ping import PingResult

__all__ = ["LinkRun", "run_through_link"]


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
        return f"{self.protocol.upper()} link ({self.settings}), seed {self.seed}\n{self.ping}"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:left'>{what}</td><td>{saw}</td><td>{did}</td></tr>"
            for what, saw, did in self.comparison()
        )
        return (
            "<table><thead><tr><th style='text-align:left'></th><th>the client saw</th>"
            f"<th>the link did</th></tr></thead><tbody>{rows}</tbody></table>"
        )


def run_through_link(
    *,
    protocol: Literal["udp", "tcp"] = "udp",
    loss: float = 0.0,
    delay: float = 0.0,
    jitter: float = 0.0,
    reorder: float = 0.0,
    duplicate: float = 0.0,
    count: int = 200,
    interval: float | None = 0.002,
    size: int = 64,
    seed: int | str = 1,
    timeout: float | None = None,
    progress: Progress | None = None,
) -> LinkRun:
    """Ping an echo server through an impaired link; return both views.

    Starts an echo server and an :class:`ImpairedLink` in front of it,
    sends ``count`` probes through the link, waits until the link holds
    nothing more, and closes everything. Over ``"tcp"`` only ``delay`` is
    possible (the kernel would repair loss below the socket anyway).

    ``timeout`` defaults to four times the worst one-way hold, at least
    0.2 s: long enough that a held reply is not mistaken for a lost one.

    Example:
        >>> run = run_through_link(loss=0.2, count=50, seed=3)
        >>> run.ping.lost == run.link.total.dropped
        True
    """
    if timeout is None:
        timeout = max(0.2, 4 * (delay + jitter) + 0.05)
    server_class = UDPEchoServer if protocol == "udp" else TCPEchoServer
    with (
        server_class() as server,
        ImpairedLink(
            server.address,
            protocol=protocol,
            loss=loss,
            delay=delay,
            jitter=jitter,
            reorder=reorder,
            duplicate=duplicate,
            seed=seed,
        ) as link,
    ):
        result = ping(
            link.address,
            protocol=protocol,
            count=count,
            interval=interval,
            size=size,
            timeout=timeout,
            progress=progress,
        )
        link.wait_idle(timeout=timeout)
        stats = link.statistics()
        settings = link.forward
    return LinkRun(protocol=protocol, settings=settings, seed=seed, ping=result, link=stats)
