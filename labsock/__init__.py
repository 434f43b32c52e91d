"""labsock: real sockets, real measurements, for a Jupyter course on socket programming.

Every endpoint here is a real socket served by a real thread, bound to
loopback unless you say otherwise. Quick tour::

    >>> import labsock
    >>> with labsock.UDPEchoServer() as server:
    ...     result = labsock.ping(server.address, count=10)
    >>> result.lost
    0

Plots (``labsock.plots``) and interactive panels (``labsock.widgets``) are
imported on first use, so ``import labsock`` stays fast and pulls in neither
matplotlib nor ipywidgets.
"""

from labsock._errors import (
    AddressError,
    AddressInUse,
    ClosedError,
    ConnectionLost,
    ConnectionRefused,
    DatagramTooLarge,
    FramingError,
    HostNotFound,
    LabsockError,
    NetworkError,
    NetworkTimeout,
    PayloadTypeError,
    PermissionDenied,
    UsageError,
    WorkerError,
)
from labsock._framing import LengthPrefixCodec, LineCodec
from labsock._ping import ping
from labsock._records import ProbeRecord
from labsock._registry import close_all, live_endpoints
from labsock._results import PingResult
from labsock._servers import ServerStats, TCPEchoServer, UDPEchoServer
from labsock._stats import Reordering, RttSummary
from labsock._validate import MAX_UDP_PAYLOAD, LoopbackWarning

__all__ = [
    "MAX_UDP_PAYLOAD",
    "AddressError",
    "AddressInUse",
    "ClosedError",
    "ConnectionLost",
    "ConnectionRefused",
    "DatagramTooLarge",
    "FramingError",
    "HostNotFound",
    "LabsockError",
    "LengthPrefixCodec",
    "LineCodec",
    "LoopbackWarning",
    "NetworkError",
    "NetworkTimeout",
    "PayloadTypeError",
    "PermissionDenied",
    "PingResult",
    "ProbeRecord",
    "Reordering",
    "RttSummary",
    "ServerStats",
    "TCPEchoServer",
    "UDPEchoServer",
    "UsageError",
    "WorkerError",
    "close_all",
    "live_endpoints",
    "ping",
]
__version__ = "0.1.0"
