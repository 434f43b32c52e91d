"""Figures of what the experiments measured: latency, loss, ordering, fan-out, traces.

The public face of ``labsock._viz``, where every figure builder lives. Every
function takes results (frozen dataclasses) and returns a
:class:`matplotlib.figure.Figure`; none starts or touches a socket, none uses
pyplot. Importing this module imports matplotlib; ``import labsock`` alone
does not.

Example:
    >>> import labsock
    >>> from labsock import plots
    >>> with labsock.UDPEchoServer() as server:
    ...     result = labsock.ping(server.address, count=50)
    >>> fig = plots.ordering(result)   # the last line of a cell shows it
    >>> plots.to_png(fig)[:4]
    b'\\x89PNG'
"""

from labsock._viz.figures import (
    ThroughputPoint,
    compare,
    dashboard,
    fan_out,
    head_of_line,
    latency,
    loss,
    ordering,
    rtt_by_seq,
    sender_cost,
    sequence,
    throughput,
    to_png,
)
from labsock._viz.goodput import goodput

__all__ = [
    "ThroughputPoint",
    "compare",
    "dashboard",
    "fan_out",
    "goodput",
    "head_of_line",
    "latency",
    "loss",
    "ordering",
    "rtt_by_seq",
    "sender_cost",
    "sequence",
    "throughput",
    "to_png",
]
