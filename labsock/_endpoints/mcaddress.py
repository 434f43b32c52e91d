"""Multicast addresses and options on loopback: which groups, which interface, which binding.

The ground :mod:`labsock._endpoints.multicast` (groups, receivers, senders) builds on:

* group addresses: :func:`check_group` explains why an address is not a
  usable group; :func:`draw_group` draws a fresh one from 239.255.0.0/16
  (ff11::/16 for IPv6) that no other group of this process has;
* the loopback interface: :func:`loopback_index`, and the checks that refuse
  any other interface, so no datagram and no IGMP report leaves the machine;
* socket options: the membership request that joins on loopback, and the UDP
  socket bound to ``(group, port)`` that shares the port and hears only its
  own group (``SO_REUSEADDR``; ``IP_MULTICAST_ALL`` cleared on Linux);
* :func:`ipv6_multicast_supported`: does this machine deliver IPv6 multicast
  on loopback at all (Linux usually does not)?
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import secrets
import socket
import struct
import sys
import threading
from typing import Any

from labsock._core.errors import NetworkError, UsageError, os_errors
from labsock._core.i18n import gettext as _
from labsock._endpoints.base import close_socket

__all__ = [
    "DEFAULT_BLOCK",
    "DEFAULT_BLOCK_V6",
    "check_group",
    "draw_group",
    "ipv6_multicast_supported",
    "loopback_index",
]

#: Default groups come from here: the IPv4 administratively scoped block
#: (RFC 2365), meant for use inside one organisation, never routed beyond it.
DEFAULT_BLOCK = ipaddress.IPv4Network("239.255.0.0/16")
#: IPv6 default groups: transient (flag T) and interface-local (scope 1), the
#: scope RFC 4291 reserves for loopback transmission of multicast.
DEFAULT_BLOCK_V6 = ipaddress.IPv6Network("ff11::/16")

_CLASS_D = ipaddress.IPv4Network("224.0.0.0/4")
_LOCAL_CONTROL = ipaddress.IPv4Network("224.0.0.0/24")
# 239.255.255.0/24 holds well-known groups (SSDP 239.255.255.250, SLP .253):
# a default group must never land on a service that other programs use.
_DRAW_FIRST = int(ipaddress.IPv4Address("239.255.0.1"))
_DRAW_LAST = int(ipaddress.IPv4Address("239.255.254.255"))
_WINDOWS = sys.platform == "win32"
_LINUX = sys.platform.startswith("linux")
# Python does not export these; the numbers are Linux's (in.h, in6.h).
_IP_MULTICAST_ALL: int | None = getattr(socket, "IP_MULTICAST_ALL", 49 if _LINUX else None)
_IPV6_MULTICAST_ALL: int | None = getattr(socket, "IPV6_MULTICAST_ALL", 29 if _LINUX else None)

_drawn: set[str] = set()
_drawn_lock = threading.Lock()


# -- group addresses (pure) ------------------------------------------------
def check_group(group: object, family: int | None = None) -> tuple[str, int]:
    """Return ``(group, family)`` for a usable multicast group, else raise ``UsageError``.

    IPv4 groups must be class D (224.0.0.0 to 239.255.255.255) and outside
    the local network control block 224.0.0.0/24. IPv6 groups must be
    transient (``ff1X::`` or ``ff3X::``) with a valid scope.

    >>> check_group("239.255.1.2")
    ('239.255.1.2', 4)
    """
    if not isinstance(group, str):
        raise UsageError(
            _("group must be a string such as '239.255.1.2', not {group!r}").format(group=group)
        )
    try:
        addr = ipaddress.ip_address(group)
    except ValueError:
        raise UsageError(
            _(
                "group={group!r} is not an IP address: a multicast group is an address "
                "such as '239.255.1.2' (or leave group=None to draw a free one)"
            ).format(group=group)
        ) from None
    if family is not None and family != addr.version:
        raise UsageError(
            _("group={group!r} is an IPv{version} address, but family={family}").format(
                group=group, version=addr.version, family=family
            )
        )
    if isinstance(addr, ipaddress.IPv4Address):
        if addr not in _CLASS_D:
            raise UsageError(
                _(
                    "group={group!r} is not a multicast address. IPv4 multicast groups are the "
                    "class D addresses, 224.0.0.0 to 239.255.255.255 (224.0.0.0/4: the first "
                    "four bits are 1110). Use one from 239.255.0.0/16 (administratively "
                    "scoped), or group=None to draw a free one."
                ).format(group=group)
            )
        if addr in _LOCAL_CONTROL:
            raise UsageError(
                _(
                    "group={group!r} is in 224.0.0.0/24, the local network control block: its "
                    "groups belong to protocols (224.0.0.1 is all hosts, 224.0.0.2 all routers, "
                    "224.0.0.251 mDNS) and every machine on the network listens to them. Use a "
                    "group from 239.255.0.0/16, or group=None to draw a free one."
                ).format(group=group)
            )
        return str(addr), 4
    if not addr.is_multicast:
        raise UsageError(
            _(
                "group={group!r} is not a multicast address: IPv6 multicast groups start with "
                "ff (ff00::/8). Use one such as 'ff11::1:2', or group=None to draw a free one."
            ).format(group=group)
        )
    flags, scope = (addr.packed[1] >> 4) & 0xF, addr.packed[1] & 0xF
    if not flags & 0x1:
        raise UsageError(
            _(
                "group={group!r} is a permanently assigned (well-known) group, such as "
                "ff02::1 (all nodes): it belongs to a protocol. Use a transient group, "
                "ff1X:: (e.g. 'ff11::1:2'), or group=None to draw a free one."
            ).format(group=group)
        )
    if scope in (0x0, 0xF):
        raise UsageError(
            _("group={group!r} has a reserved scope ({scope:x}): use ff11::/16").format(
                group=group, scope=scope
            )
        )
    return str(addr), 6


def draw_group(family: int = 4) -> str:
    """A random group never drawn before in this process.

    IPv4 groups come from 239.255.0.0/16 (minus the first address and the
    239.255.255.0/24 block of well-known services), IPv6 ones from ff11::/16.
    The randomness comes from the operating system, not from :mod:`random`, so
    a notebook that seeds ``random`` does not make two students draw the same
    group.

    >>> ipaddress.ip_address(draw_group()) in DEFAULT_BLOCK
    True
    """
    if family not in (4, 6):
        raise UsageError(_("family must be 4 or 6, not {family!r}").format(family=family))
    with _drawn_lock:
        for _attempt in range(10_000):
            if family == 4:
                value = _DRAW_FIRST + secrets.randbelow(_DRAW_LAST - _DRAW_FIRST + 1)
                group = str(ipaddress.IPv4Address(value))
            else:
                # Group ID in the low 32 bits (RFC 3307); 0-2 look well-known.
                low = 3 + secrets.randbelow((1 << 32) - 3)
                group = str(ipaddress.IPv6Address(int(DEFAULT_BLOCK_V6.network_address) + low))
            if group not in _drawn:
                _drawn.add(group)
                return group
    raise UsageError(_("no free multicast group left to draw in this process: close some groups"))


def _reserve(group: str) -> bool:
    """Never draw ``group``: a group made by hand holds it. True if it was not yet held."""
    with _drawn_lock:
        new = group not in _drawn
        _drawn.add(group)
        return new


def _unreserve(group: str) -> None:
    """Let ``group`` be drawn again: it was drawn for a group that was never made."""
    with _drawn_lock:
        _drawn.discard(group)


# -- the loopback interface ---------------------------------------------------
def loopback_index() -> int:
    """The interface index of the loopback interface (for IPv6 memberships)."""
    for name in ("lo", "lo0"):
        try:
            return socket.if_nametoindex(name)
        except OSError:
            continue
    import psutil

    for name, addrs in psutil.net_if_addrs().items():
        if any(a.address.split("%")[0] in ("::1", "127.0.0.1") for a in addrs):
            try:
                return socket.if_nametoindex(name)
            except OSError:
                continue
    if _WINDOWS:
        return 1  # "Loopback Pseudo-Interface 1"
    raise NetworkError(_("cannot find the loopback interface of this machine"))


def _ipv4_interface(interface: str) -> str:
    try:
        addr = ipaddress.ip_address(interface)
    except ValueError:
        raise UsageError(
            _("interface must be an address such as '127.0.0.1', not {value!r}").format(
                value=interface
            )
        ) from None
    if not (isinstance(addr, ipaddress.IPv4Address) and addr.is_loopback):
        raise UsageError(
            _(
                "interface={interface!r} is not the loopback interface: the course keeps "
                "multicast on this machine, so groups are joined and sent on '127.0.0.1' only"
            ).format(interface=interface)
        )
    return str(addr)


def _ipv6_interface(interface: str) -> int:
    if interface not in ("::1", "lo", "lo0"):
        raise UsageError(
            _(
                "interface={interface!r} is not the loopback interface: IPv6 groups are joined "
                "and sent on '::1' (the loopback interface) only"
            ).format(interface=interface)
        )
    return loopback_index()


# -- memberships and the bound socket ----------------------------------------
def _mreq(family: int, group: str, interface: str) -> bytes:
    if family == 4:
        # Never 0.0.0.0: that joins on the default-route interface and sends
        # IGMP reports out of the machine.
        return socket.inet_aton(group) + socket.inet_aton(interface)
    return socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", _ipv6_interface(interface))


def _clear_multicast_all(sock: socket.socket, family: int) -> None:
    option = _IP_MULTICAST_ALL if family == 4 else _IPV6_MULTICAST_ALL
    level = socket.IPPROTO_IP if family == 4 else socket.IPPROTO_IPV6
    if option is not None:
        try:
            sock.setsockopt(level, option, 0)
        except OSError:
            pass  # kernels before 4.20 lack the IPv6 one; bound to the group is enough


def _bound_socket(family: int, group: str, port: int, interface: str) -> socket.socket:
    """A UDP socket bound to (group, port), sharing the port, hearing only its group."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    sock = socket.socket(af, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _clear_multicast_all(sock, family)
        host = "" if _WINDOWS else group  # Windows cannot bind a multicast address
        sockaddr: tuple[Any, ...] = (host, port)
        if family == 6:
            sockaddr = (host, port, 0, _ipv6_interface(interface))
        with os_errors("bind", (group, port)):
            sock.bind(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


# -- capability probe -------------------------------------------------------------------
@functools.cache
def ipv6_multicast_supported() -> tuple[bool, str]:
    """Whether IPv6 multicast works on this machine's loopback interface, and why.

    Probes once per process: joins a fresh ff11:: group on loopback, sends one
    datagram with hop limit 1 and waits half a second for it.

    Returns:
        ``(True, explanation)`` or ``(False, reason)``. On Linux the reason is
        usually that the loopback interface has no IPv6 multicast route.
    """
    if not socket.has_ipv6:
        return False, _("this Python was built without IPv6")
    group = draw_group(6)
    receiver = sender = None
    try:
        index = loopback_index()
        receiver = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        receiver.bind(("" if _WINDOWS else group, 0, 0, index))
        mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index)
        receiver.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        receiver.settimeout(0.5)
        sender = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sender.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sender.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        sender.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
        sender.bind(("::1", 0))
        sender.sendto(b"labsock ipv6 multicast probe", (group, receiver.getsockname()[1], 0, index))
        receiver.recv(100)
    except TimeoutError:
        return False, _(
            "a datagram sent to {group} on the loopback interface did not arrive "
            "within 0.5 s: this machine does not deliver IPv6 multicast on loopback"
        ).format(group=group)
    except Exception as exc:
        hint = ""
        if getattr(exc, "errno", None) == errno.ENETUNREACH:
            hint = _(" (the loopback interface has no IPv6 multicast route, as on Linux)")
        return False, _("IPv6 multicast on the loopback interface fails: {error}").format(
            error=exc
        ) + hint
    finally:
        close_socket(receiver)
        close_socket(sender)
    return True, _(
        "IPv6 multicast works on the loopback interface (index {index}, {group})"
    ).format(index=index, group=group)
