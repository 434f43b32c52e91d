"""labsock: real sockets, real measurements, for a Jupyter course on socket programming.

Every endpoint here is a real socket served by a real thread, bound to
loopback; labsock refuses to send to, or bind, any other address
(:class:`NotLoopback`) unless a teacher opts in with :func:`allow_network`. Quick tour::

    >>> import labsock
    >>> with labsock.UDPEchoServer() as server:
    ...     result = labsock.ping(server.address, count=10)
    >>> result.lost
    0

Plots (``labsock.plots``) and interactive panels (``labsock.widgets``) are
imported on first use, so ``import labsock`` stays fast and pulls in neither
matplotlib nor ipywidgets.
"""

# The layout, bottom to top; a module imports only from its own layer and
# those below it (tests/test_layers.py keeps it so):
#   _core/         pure: errors, validation, formatting, probe format, framing,
#                  impairment model, records, statistics, trace events/readings
#   _results/      frozen result records
#   _endpoints/    real sockets in threads: registry, servers, links, multicast,
#                  traced sockets, kernel counters, the socket table
#   _experiments/  ping, blast, compare, fan-out, sender cost, link runs, head of line
#   _viz/          figure builders (public face: plots.py)
#   _panels/       ipywidgets panels (public face: widgets.py)
#   exercises/     the practice's checks; may use everything below _viz
# This file, plots.py and widgets.py only re-export.

from labsock._core.errors import (
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
    NotLoopback,
    OutOfResources,
    PayloadTypeError,
    PermissionDenied,
    UsageError,
    WorkerError,
)
from labsock._core.framing import LengthPrefixCodec, LineCodec
from labsock._core.guard import allow_network, network_allowed
from labsock._core.i18n import gettext as _
from labsock._core.i18n import language, set_language
from labsock._core.impair import DirectionStats, Impairment, LinkEvent, LinkStats
from labsock._core.records import ProbeRecord
from labsock._core.stats import Reordering, RttSummary
from labsock._core.validate import MAX_UDP_PAYLOAD, LoopbackWarning
from labsock._endpoints.link import ImpairedLink
from labsock._endpoints.mcaddress import ipv6_multicast_supported
from labsock._endpoints.multicast import (
    Arrival,
    MulticastGroup,
    MulticastReceiver,
    MulticastSender,
    ReceiverStats,
)
from labsock._endpoints.registry import StaleEndpointWarning, close_all, live_endpoints
from labsock._endpoints.servers import ServerStats, TCPEchoServer, UDPEchoServer
from labsock._endpoints.sockettable import SocketRow, SocketTable, socket_table
from labsock._endpoints.tcpinfo import TCP_INFO_NOTE, TcpInfo, tcp_info
from labsock._endpoints.trace import Trace, TracedSocket, TraceEvent
from labsock._experiments.blast import blast
from labsock._experiments.compare import compare_speed
from labsock._experiments.fanout import fan_out
from labsock._experiments.head_of_line import head_of_line
from labsock._experiments.link_runs import run_through_link
from labsock._experiments.ping import ping
from labsock._experiments.sender_cost import sender_cost
from labsock._results.blast import BlastResult
from labsock._results.compare import BulkTransfer, SpeedComparison
from labsock._results.fanout import FanOutResult, MembershipEvent
from labsock._results.head_of_line import HeadOfLineResult
from labsock._results.link import LinkRun
from labsock._results.ping import PingResult
from labsock._results.sender_cost import SenderCost

__all__ = [
    "MAX_UDP_PAYLOAD",
    "TCP_INFO_NOTE",
    "AddressError",
    "AddressInUse",
    "Arrival",
    "BlastResult",
    "BulkTransfer",
    "ClosedError",
    "ConnectionLost",
    "ConnectionRefused",
    "DatagramTooLarge",
    "DirectionStats",
    "FanOutResult",
    "FramingError",
    "HeadOfLineResult",
    "HostNotFound",
    "ImpairedLink",
    "Impairment",
    "LabsockError",
    "LengthPrefixCodec",
    "LineCodec",
    "LinkEvent",
    "LinkRun",
    "LinkStats",
    "LoopbackWarning",
    "MembershipEvent",
    "MulticastGroup",
    "MulticastReceiver",
    "MulticastSender",
    "NetworkError",
    "NetworkTimeout",
    "NotLoopback",
    "OutOfResources",
    "PayloadTypeError",
    "PermissionDenied",
    "PingResult",
    "ProbeRecord",
    "ReceiverStats",
    "Reordering",
    "RttSummary",
    "SenderCost",
    "ServerStats",
    "SocketRow",
    "SocketTable",
    "SpeedComparison",
    "StaleEndpointWarning",
    "TCPEchoServer",
    "TcpInfo",
    "Trace",
    "TraceEvent",
    "TracedSocket",
    "UDPEchoServer",
    "UsageError",
    "WorkerError",
    "allow_network",
    "blast",
    "close_all",
    "compare_speed",
    "fan_out",
    "head_of_line",
    "ipv6_multicast_supported",
    "language",
    "live_endpoints",
    "network_allowed",
    "ping",
    "run_through_link",
    "sender_cost",
    "set_language",
    "socket_table",
    "tcp_info",
]
__version__ = "0.1.0"

_LAZY = ("cpp", "exercises", "plots", "widgets")


def __getattr__(name: str) -> object:
    # matplotlib and ipywidgets cost hundreds of milliseconds to import: load
    # them when a plot or a panel is first used, not on `import labsock`.
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"labsock.{name}")
    raise AttributeError(_("module 'labsock' has no attribute {name!r}").format(name=name))


def __dir__() -> list[str]:
    return sorted([*__all__, *_LAZY])
