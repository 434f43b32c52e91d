"""What one multicast send saves the sender: N unicast copies against one datagram.

To reach N receivers with unicast, the sender itself sends N copies of every
message, one ``sendto`` each. With multicast it sends one datagram to the
group, and the network (here: the kernel's loopback) makes the copies. This
experiment measures the sender's side of that, message by message, with the
two methods interleaved so that both meet the same machine noise, and checks
that both really delivered every copy.
"""

from __future__ import annotations

import socket
import time

from labsock._core.guard import check_bind
from labsock._core.validate import check_count, check_size
from labsock._endpoints.mcaddress import _bound_socket, _mreq
from labsock._endpoints.multicast import MulticastGroup
from labsock._results.sender_cost import SenderCost

__all__ = ["sender_cost"]

_HOST = "127.0.0.1"  # the unicast sinks' address
_BUFFER = 4 << 20


def _drain(sock: socket.socket) -> int:
    got = 0
    while True:
        try:
            sock.recv(65_536, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return got
        got += 1


def sender_cost(*, receivers: int = 4, count: int = 300, size: int = 512) -> SenderCost:
    """Measure the sender's time per message: N unicast copies vs one multicast send.

    Receivers on both sides are plain sockets, read only after the last
    send, so that no receiving thread competes with the sender for the CPU.
    Each asks for a 4 MiB receive buffer (the kernel may clamp it); at these
    counts nothing should be lost, and the result says what was delivered.

    Example:
        >>> cost = sender_cost(receivers=3, count=50)
        >>> cost.unicast_delivered == cost.multicast_delivered == 150
        True
    """
    receivers = check_count(receivers, name="receivers", maximum=32)
    count = check_count(count, name="count", maximum=10_000)
    size = check_size(size, minimum=1, udp=True)
    payload = bytes(size)
    # The loopback guard, once per call: the unicast sinks' address.
    local = check_bind((_HOST, 0), what="sender_cost")
    unicast_times: list[float] = []
    multicast_times: list[float] = []
    sinks: list[socket.socket] = []
    members: list[socket.socket] = []
    try:
        for _ in range(receivers):
            sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sinks.append(sink)
            sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER)
            sink.bind(local)
        targets = [s.getsockname() for s in sinks]
        with (
            MulticastGroup() as group,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as unicaster,
        ):
            # Plain joined sockets, drained at the end, like the unicast sinks:
            # receiver threads running during the sends would compete with
            # the sender for the CPU and blur what is measured.
            for _ in range(receivers):
                member = _bound_socket(4, group.group, group.port, "127.0.0.1")
                members.append(member)
                member.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER)
                member.setsockopt(
                    socket.IPPROTO_IP,
                    socket.IP_ADD_MEMBERSHIP,
                    _mreq(4, group.group, "127.0.0.1"),
                )
            multicaster = group.sender()
            clock = time.perf_counter
            for _ in range(count):
                t0 = clock()
                for target in targets:
                    unicaster.sendto(payload, target)
                t1 = clock()
                multicaster.send(payload)
                t2 = clock()
                unicast_times.append(t1 - t0)
                multicast_times.append(t2 - t1)
            unicast_delivered = sum(_drain(s) for s in sinks)
            multicast_delivered = sum(_drain(m) for m in members)
            group_address = group.group
    finally:
        for sock in (*sinks, *members):
            sock.close()
    return SenderCost(
        receivers=receivers,
        count=count,
        size=size,
        unicast=tuple(unicast_times),
        multicast=tuple(multicast_times),
        unicast_delivered=unicast_delivered,
        multicast_delivered=multicast_delivered,
        group=group_address,
    )
