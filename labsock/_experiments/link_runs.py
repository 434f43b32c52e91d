"""Experiments a lesson runs in one call: endpoints in, a frozen result out.

Each experiment starts its own endpoints, runs, closes everything (also on
error), and returns an immutable result that keeps the raw records, so its
plots can be redrawn and every number re-derived.
"""

from __future__ import annotations

from typing import Literal

from labsock._endpoints.link import ImpairedLink
from labsock._endpoints.servers import TCPEchoServer, UDPEchoServer
from labsock._experiments.ping import Progress, ping
from labsock._results.link import LinkRun

__all__ = ["run_through_link"]


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
