"""Multicast on the loopback interface: a group, its receivers and its senders.

One datagram sent to a group address reaches every socket that joined the
group. The course keeps it on this machine: every membership is taken on the
loopback interface, every sender sends through it with a TTL of 0 or 1, so no
datagram and no IGMP report ever leaves the machine.

This module holds the group and its senders; its receivers live in
:mod:`labsock._endpoints.mcreceiver`, the tagged probe they exchange in
:mod:`labsock._core.probe`, and :mod:`labsock._endpoints.mcaddress` holds what
they build on: group
addresses, the loopback interface, the membership and binding socket
options, and the probe of whether IPv6 multicast works here.

How a receiver hears its own group and nothing else (the portable strategy):

* It binds to the *group address* and the group's port, not to 0.0.0.0. The
  kernel then hands it only datagrams sent to that group. This works on Linux
  and macOS; Windows refuses a bind to a multicast address, so there it binds
  the port on every address, which Windows filters per membership anyway.
* On Linux it also clears ``IP_MULTICAST_ALL``. Without that, a socket hears a
  group that *any* socket on the host joined, so a receiver that called
  ``leave()`` would keep hearing the group as long as a neighbour stayed in it.
* Experiments add a random session tag to each payload and count foreign
  datagrams, so cross-talk is measured, not assumed away.

All receivers share the group's port (``SO_REUSEADDR``). With ``port=0`` the
group reserves a free port with a placeholder socket that never joins, so the
port stays the group's even while every receiver has left.
"""

from __future__ import annotations

import errno
import socket
import struct
import threading
from typing import Any, NoReturn

from labsock._core.errors import NetworkError, UsageError, os_errors
from labsock._core.guard import check_multicast
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.probe import (
    TAG_SIZE,
    encode_tagged_probe,
)
from labsock._core.validate import check_count, check_payload, check_port
from labsock._endpoints.base import Endpoint, close_socket, format_address
from labsock._endpoints.mcaddress import (
    _bound_socket,
    _ipv4_interface,
    _ipv6_interface,
    _reserve,
    _unreserve,
    check_group,
    draw_group,
)
from labsock._endpoints.mcreceiver import Arrival, MulticastReceiver, ReceiverStats

__all__ = [
    "TAG_SIZE",  # from labsock._core.probe
    "Arrival",  # from labsock._endpoints.mcreceiver, with the two below
    "MulticastGroup",
    "MulticastReceiver",
    "MulticastSender",
    "ReceiverStats",
    "draw_group",  # from labsock._endpoints.mcaddress: benchmarks/_fanout.py imports it from here
    "encode_tagged_probe",  # from labsock._core.probe, where the probe layout lives
]


# -- senders ----------------------------------------------------------------------
class MulticastSender(Endpoint):
    """A socket that sends to the group through the loopback interface only.

    It sets ``IP_MULTICAST_IF`` to 127.0.0.1 (``IPV6_MULTICAST_IF`` to the
    loopback index), the TTL (hop limit) to the group's, 0 or 1, and
    ``IP_MULTICAST_LOOP`` as asked; it binds to 127.0.0.1 (``::1``), so its
    datagrams carry a loopback source address. Made by
    :meth:`MulticastGroup.sender`.
    """

    kind = N_("multicast sender")

    def __init__(self, group: MulticastGroup) -> None:
        super().__init__()
        self._group_ref = group
        v4 = group.family == 4
        self._sock = socket.socket(socket.AF_INET if v4 else socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            if v4:
                level, opts = socket.IPPROTO_IP, socket.inet_aton(group.interface)
                names = (socket.IP_MULTICAST_IF, socket.IP_MULTICAST_TTL, socket.IP_MULTICAST_LOOP)
                self._dest: tuple[Any, ...] = (group.group, group.port)
                local: tuple[Any, ...] = (group.interface, 0)
            else:
                index = _ipv6_interface(group.interface)
                level, opts = socket.IPPROTO_IPV6, struct.pack("@I", index)
                names = (
                    socket.IPV6_MULTICAST_IF,
                    socket.IPV6_MULTICAST_HOPS,
                    socket.IPV6_MULTICAST_LOOP,
                )
                self._dest = (group.group, group.port, 0, index)
                local = ("::1", 0)
            with os_errors("configure multicast on", group.address):
                self._sock.setsockopt(level, names[0], opts)
                self._sock.setsockopt(level, names[1], group.ttl)
                self._sock.setsockopt(level, names[2], int(group.loop))
            with os_errors("bind", local):
                self._sock.bind(local)
            self._address: tuple[str, int] = self._sock.getsockname()[:2]
        except BaseException:
            self._sock.close()
            raise
        self._sent = 0
        self._register()

    @property
    def address(self) -> tuple[str, int]:
        """The sender's own ``(host, port)``: the source of its datagrams."""
        return self._address

    @property
    def destination(self) -> tuple[str, int]:
        """The group's ``(group, port)``."""
        return self._group_ref.group, self._group_ref.port

    @property
    def sent(self) -> int:
        """Datagrams sent so far."""
        return self._sent

    def send(self, data: bytes) -> int:
        """Send one datagram to the group; return the number of bytes sent.

        Raises:
            PayloadTypeError: ``data`` is not bytes.
            DatagramTooLarge: more than one datagram can carry.
            NetworkError: the machine cannot send multicast on loopback.
        """
        # Bytes go as they are; anything else is checked (and a str refused).
        payload = data if data.__class__ is bytes else check_payload(data)
        try:
            n = self._sock.sendto(payload, self._dest)
        except OSError:
            # Checked and translated here, on the error path only: a context
            # manager around every send cost a microsecond per datagram (a
            # quarter of a fan-out's cost, measured in benchmarks/). A closed
            # sender's socket fails with EBADF, and lands here too.
            self._check_open(N_("send with this {kind}"))
            self._raise_send_error()
        self._sent += 1
        return n

    def _raise_send_error(self) -> NoReturn:
        try:
            with os_errors("send to", self.destination):
                raise  # the OSError being handled, translated by os_errors
        except NetworkError as exc:
            if getattr(exc.__cause__, "errno", None) == errno.ENETUNREACH:
                raise NetworkError(
                    _(
                        "cannot send to {where}: this machine "
                        "has no multicast route on the loopback interface (Linux has none for "
                        "IPv6). Use an IPv4 group (the default); see ipv6_multicast_supported()."
                    ).format(where=format_address(self.destination))
                ) from exc.__cause__
            raise

    def socket_options(self) -> dict[str, Any]:
        """The multicast options read back from the kernel with ``getsockopt``.

        >>> with MulticastGroup() as group:
        ...     group.sender().socket_options()
        {'IP_MULTICAST_IF': '127.0.0.1', 'IP_MULTICAST_TTL': 1, 'IP_MULTICAST_LOOP': 1}
        """
        self._check_open(N_("read the options of this {kind}"))
        s = self._sock
        if self._group_ref.family == 4:
            lvl = socket.IPPROTO_IP
            return {
                "IP_MULTICAST_IF": socket.inet_ntoa(s.getsockopt(lvl, socket.IP_MULTICAST_IF, 4)),
                "IP_MULTICAST_TTL": s.getsockopt(lvl, socket.IP_MULTICAST_TTL),
                "IP_MULTICAST_LOOP": s.getsockopt(lvl, socket.IP_MULTICAST_LOOP),
            }
        lvl = socket.IPPROTO_IPV6
        return {
            "IPV6_MULTICAST_IF": s.getsockopt(lvl, socket.IPV6_MULTICAST_IF),
            "IPV6_MULTICAST_HOPS": s.getsockopt(lvl, socket.IPV6_MULTICAST_HOPS),
            "IPV6_MULTICAST_LOOP": s.getsockopt(lvl, socket.IPV6_MULTICAST_LOOP),
        }

    def _release(self) -> None:
        close_socket(self._sock)

    def __repr__(self) -> str:
        state = _("closed") if self.closed else _("{n} sent").format(n=self._sent)
        return _("<MulticastSender to {where} {state}>").format(
            where=format_address(self.destination), state=state
        )


# -- the group ----------------------------------------------------------------------
class MulticastGroup(Endpoint):
    """A multicast group on the loopback interface, with its port reserved.

    Args:
        group: the group address; ``None`` draws a fresh one from
            239.255.0.0/16 (ff11::/16 with ``family=6``), never one already
            drawn in this process.
        port: the UDP port every receiver shares; 0 reserves a free one.
        family: 4 or 6; by default that of ``group``, else 4.
        ttl: 0 (this host only) or 1 (the local link, here loopback). A TTL
            above 1 would let routers forward the datagrams: refused.
        loop: ``IP_MULTICAST_LOOP`` for senders. On Linux's loopback
            interface receivers hear the group even with ``loop=False``,
            because the interface itself brings every datagram back.
        interface: the loopback address, '127.0.0.1' (IPv4) or '::1' (IPv6);
            ``None`` picks it. Any other interface is refused.

    Raises:
        UsageError: for a group that is not multicast (with an explanation),
            or in 224.0.0.0/24.
        NotLoopback: a TTL above 1, or an interface other than loopback
            (``labsock.allow_network`` does not change this).
        AddressInUse: when ``port`` is held by a socket that does not share.

    Example:
        >>> with MulticastGroup() as group:
        ...     a, b = group.receiver(), group.receiver()
        ...     _ = group.send(b"to everyone")
        ...     a.wait_received(1) and b.wait_received(1)
        True
    """

    kind = N_("multicast group")

    def __init__(
        self,
        group: str | None = None,
        port: int = 0,
        *,
        family: int | None = None,
        ttl: int = 1,
        loop: bool = True,
        interface: str | None = None,
    ) -> None:
        if family not in (None, 4, 6):
            raise UsageError(_("family must be 4 or 6, not {family!r}").format(family=family))
        # Every check comes before a group is drawn or reserved: a refused
        # group must leave the process's set of groups as it found it.
        if group is not None:
            group, family = check_group(group, family)
        family = family or 4
        check_port(port)
        ttl = check_count(ttl, name="ttl", minimum=0, maximum=255)
        if interface is None:
            interface = "127.0.0.1" if family == 4 else "::1"
        # The loopback guard: the group's interface (where receivers join and
        # senders send) and its TTL, checked once for all of them.
        check_multicast(interface, ttl, what="MulticastGroup")
        if family == 4:
            interface = _ipv4_interface(interface)
        else:
            _ipv6_interface(interface)
        if group is None:
            group, ours = draw_group(family), True  # reserved as it is drawn
        else:
            ours = _reserve(group)  # a group given by hand is never drawn for another
        # The placeholder holds the port for the group's life; it never joins
        # and hears nothing (IP_MULTICAST_ALL cleared, tiny buffer).
        try:
            placeholder = _bound_socket(family, group, port, interface)
            try:
                placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
                bound_port: int = placeholder.getsockname()[1]
            except BaseException:
                placeholder.close()
                raise
        except BaseException:
            if ours:
                _unreserve(group)  # no group was made: leave the set as it was
            raise
        super().__init__()
        self._placeholder = placeholder
        self.port = bound_port
        self.group, self.family, self.ttl, self.loop = group, family, ttl, bool(loop)
        self.interface = interface
        self._children: list[Endpoint] = []
        self._children_lock = threading.Lock()
        self._default_sender: MulticastSender | None = None
        self._names = 0
        self._register()

    @property
    def address(self) -> tuple[str, int]:
        """``(group, port)``: where senders send and receivers listen."""
        self._check_open(N_("get the address of this {kind}"))
        return self.group, self.port

    def receiver(
        self, name: str | None = None, receive_buffer: int | None = None, *, keep: int = 100_000
    ) -> MulticastReceiver:
        """A new receiver, joined and listening before it is returned.

        Args:
            name: a label for tables and plots; ``"r1"``, ``"r2"``, ... by default.
            receive_buffer: ask for this ``SO_RCVBUF`` in bytes (the kernel may
                double or clamp it; see ``.receive_buffer``).
            keep: store at most this many arrivals (the rest are only counted).
        """
        self._check_open(N_("add a receiver to this {kind}"))
        if receive_buffer is not None:
            check_count(receive_buffer, name="receive_buffer", minimum=1, maximum=1 << 30)
        check_count(keep, name="keep", minimum=0)
        with self._children_lock:
            self._names += 1
            label = name if name is not None else f"r{self._names}"
        if not isinstance(label, str) or not label:
            raise UsageError(_("name must be a non-empty string, not {name!r}").format(name=name))
        child = MulticastReceiver(self, label, receive_buffer, keep)
        self._adopt(child)
        return child

    def sender(self) -> MulticastSender:
        """A new sender to this group, on the loopback interface, TTL ``ttl``."""
        self._check_open(N_("add a sender to this {kind}"))
        child = MulticastSender(self)
        self._adopt(child)
        return child

    def send(self, data: bytes) -> int:
        """Send one datagram to the group (with a sender made on first use)."""
        self._check_open(N_("send to this {kind}"))
        if self._default_sender is None or self._default_sender.closed:
            self._default_sender = self.sender()
        return self._default_sender.send(data)

    @property
    def receivers(self) -> tuple[MulticastReceiver, ...]:
        """The receivers not yet closed."""
        with self._children_lock:
            return tuple(
                c for c in self._children if isinstance(c, MulticastReceiver) and not c.closed
            )

    def _adopt(self, child: Endpoint) -> None:
        with self._children_lock:
            closed = self._closed.is_set()
            if not closed:
                self._children.append(child)
        if closed:
            child.close()
            self._check_open(N_("add to this {kind}"))

    def _wake(self) -> None:
        with self._children_lock:
            children = list(self._children)
        for child in reversed(children):
            try:
                child.close()
            except Exception as exc:  # keep closing the others; report below
                self._record_error(exc)

    def _release(self) -> None:
        close_socket(self._placeholder)

    def __repr__(self) -> str:
        state = _("closed") if self.closed else _("{n} receivers").format(n=len(self.receivers))
        return _("<MulticastGroup {where} {state}>").format(
            where=format_address((self.group, self.port)), state=state
        )
