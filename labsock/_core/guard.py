"""The loopback guard: the one place that decides which addresses labsock may use.

The course runs on shared machines (a class JupyterHub, Binder), where
traffic to other machines can disturb other people and get the course
banned. So every labsock call that sends, connects, relays or binds hands
its address here first, once per call or per endpoint (never per
datagram), before any socket exists:

* :func:`check_destination`: where data goes (ping, a link's target, the
  practice checks' clients, a traced socket's ``connect``/``sendto``);
* :func:`check_bind`: where an endpoint listens (servers, links, ...);
* :func:`check_multicast`: a group's interface and TTL.

A host name is resolved once, here, and the *resolved* address is both what
is checked and what the caller then uses: ``'localhost'`` works, and a name
that points elsewhere is refused. Anything that is not loopback
(127.0.0.0/8, ``::1``, or the IPv4-mapped ``::ffff:127.x.y.z``) is refused
with :class:`~labsock.NotLoopback`, whose message says why and what to do.

127.255.255.255, the broadcast address of the loopback network, passes: it
is loopback, nothing sent there can leave the machine. (The kernel then
refuses the send itself, and ``translate_oserror`` says it is a broadcast.)

The teacher's switch, :func:`allow_network` (or ``LABSOCK_ALLOW_NETWORK=1``
in the environment), lifts the rule for unicast destinations and binds, for
a lab on a private network. It never lets a multicast group off the loopback
interface, never makes a group a unicast destination, and never makes
0.0.0.0 a destination: those are mistakes on any network.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any, Literal

from labsock._core.errors import NotLoopback, UsageError, os_errors
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.validate import check_port

__all__ = [
    "ALLOW_NETWORK_ENV",
    "allow_network",
    "check_bind",
    "check_destination",
    "check_multicast",
    "family_of",
    "network_allowed",
    "refusal",
]

#: The environment variable that lifts the rule for a whole session: "1" opts in.
ALLOW_NETWORK_ENV = "LABSOCK_ALLOW_NETWORK"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Role = Literal["destination", "bind"]

# None: follow the environment variable; True/False: allow_network() said so.
_switch: bool | None = None

_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
# Python's own spellings: bind(("", p)) binds every interface, and
# sendto(..., ("<broadcast>", p)) sends to 255.255.255.255.
_SPECIAL_HOSTS = {"": "0.0.0.0", "<broadcast>": "255.255.255.255"}

# English, marked with N_: translated with _() when a refusal is raised.
_WHY = N_(
    "The course runs on shared machines (a class JupyterHub, Binder), and nothing "
    "it does may leave the machine."
)
_OPT_IN = N_(
    " (A teacher running a lab on a private network can lift this rule with "
    "labsock.allow_network(True), or LABSOCK_ALLOW_NETWORK=1 in the environment: "
    "see the teaching guide.)"
)
_TODO: dict[Role, str] = {
    "destination": N_(
        "Use the address of an endpoint you started on this machine, e.g. "
        "ping(server.address), or ('127.0.0.1', port)."
    ),
    "bind": N_("Use host='127.0.0.1' (the default) with port=0."),
}


# -- the teacher's switch ---------------------------------------------------------
def allow_network(allowed: bool | None = True) -> None:
    """Let labsock send to, and bind, addresses other than loopback (teachers only).

    Without it, labsock refuses every address that is not this machine's
    loopback. A teacher running a lab on a private network, where students
    ping each other's machines, can opt in with ``allow_network(True)``, or
    for a whole session with ``LABSOCK_ALLOW_NETWORK=1`` in the environment.
    The risk: endpoints bound to 0.0.0.0 answer anyone who can reach the
    machine, and pings go wherever they are pointed. Multicast stays on the
    loopback interface whatever this says.

    Args:
        allowed: ``True`` opts in, ``False`` opts out (whatever the
            environment says), ``None`` follows ``LABSOCK_ALLOW_NETWORK`` again.

    Raises:
        UsageError: for anything but True, False or None.
    """
    global _switch
    if allowed is not None and not isinstance(allowed, bool):
        raise UsageError(
            _("allow_network() takes True, False or None, not {value!r}").format(value=allowed)
        )
    _switch = allowed


def network_allowed() -> bool:
    """True when the teacher has opted in (:func:`allow_network`, or the variable)."""
    if _switch is not None:
        return _switch
    return os.environ.get(ALLOW_NETWORK_ENV, "").strip().lower() in ("1", "true", "yes")


# -- the decision (pure) ------------------------------------------------------------
def _parse(host: str) -> IPAddress:
    """The address in ``host``, IPv4-mapped IPv6 unwrapped (``::ffff:8.8.8.8`` is 8.8.8.8)."""
    addr = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def refusal(host: str, role: Role, *, allowed: bool = False) -> tuple[str, bool] | None:
    """Why the numeric address ``host`` may not be used as ``role``, or None if it may.

    Returns ``(reason, liftable)``: ``liftable`` says whether the teacher's
    switch would allow it. ``allowed`` is the switch's state.

    >>> refusal("127.0.0.1", "destination") is None
    True
    >>> refusal("8.8.8.8", "destination")[1]
    True
    >>> refusal("239.255.1.2", "destination", allowed=True)[1]
    False
    """
    addr = _parse(host)
    if addr.is_loopback:
        return None
    if addr.is_unspecified:
        if role == "destination":
            return (
                _(
                    "{addr} means 'any address': a socket binds to it, but nothing can be "
                    "sent to it."
                ).format(addr=addr),
                False,
            )
        reason = _(
            "{addr} means every network interface of this machine: bound there, the "
            "endpoint answers any machine that can reach this one."
        ).format(addr=addr)
        return None if allowed else (reason, True)
    if addr.is_multicast:
        if role == "destination":
            return (
                _(
                    "{addr} is a multicast group, not one machine: sent like this, a datagram "
                    "leaves by the default network interface, without the group's safety "
                    "settings. Use labsock.MulticastGroup, which keeps groups on the loopback "
                    "interface."
                ).format(addr=addr),
                False,
            )
        return (
            _(
                "{addr} is a multicast group: only a group's receivers bind it. Use "
                "labsock.MulticastGroup and its receivers."
            ).format(addr=addr),
            False,
        )
    if allowed:
        return None
    if addr == _LIMITED_BROADCAST:
        return (
            _(
                "{addr} is the broadcast address: a datagram sent there reaches every "
                "machine on the local network."
            ).format(addr=addr),
            True,
        )
    if role == "destination":
        return (
            _("{addr} is not a loopback address: data sent there leaves this machine.").format(
                addr=addr
            ),
            True,
        )
    return (
        _(
            "{addr} is not a loopback address: bound there, the endpoint answers other machines."
        ).format(addr=addr),
        True,
    )


# -- the checks ---------------------------------------------------------------------
def family_of(sockaddr: tuple[Any, ...]) -> socket.AddressFamily:
    """The address family of a resolved ``sockaddr`` (IPv6 ones have 4 fields)."""
    return socket.AF_INET6 if len(sockaddr) == 4 else socket.AF_INET


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _check(address: object, role: Role, what: str, kind: int, family: int) -> tuple[Any, ...]:
    if not isinstance(address, tuple) or len(address) < 2 or not isinstance(address[0], str):
        raise UsageError(
            _(
                "{what}: the address must be a (host, port) tuple such as ('127.0.0.1', 5000), "
                "not {value}; an endpoint's .address is one"
            ).format(what=what, value=repr(address))
        )
    host, port = address[0], check_port(address[1], name=f"{what}: port")
    if role == "destination" and port == 0:
        raise UsageError(
            _(
                "{what}: port 0 is not a port anything listens on. Port 0 asks the operating "
                "system to pick a free port when an endpoint *binds*; send to the port it got "
                "instead, e.g. ping(server.address) (server.port tells which)."
            ).format(what=what)
        )
    name = _SPECIAL_HOSTS.get(host, host)
    try:
        _parse(name)
    except ValueError:
        # A name: resolve it once, here. What it resolves to is what is
        # checked, and what the caller connects to (no second lookup that
        # could answer differently).
        with os_errors("resolve", (host, port)):
            infos = socket.getaddrinfo(name, port, family, kind)
        sockaddr: tuple[Any, ...] = infos[0][4]
    else:
        with os_errors("resolve", (host, port)):
            infos = socket.getaddrinfo(
                name, port, family, kind, 0, socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
            )
        sockaddr = infos[0][4]
    resolved = str(sockaddr[0])
    verdict = refusal(resolved, role, allowed=network_allowed())
    if verdict is None:
        return sockaddr
    reason, liftable = verdict
    named = (
        _("{host} resolves to {resolved}: ").format(host=repr(host), resolved=resolved)
        if resolved != name
        else ""
    )
    refused = (
        _("{what}: refused to send to {where}.")
        if role == "destination"
        else _("{what}: refused to bind {where}.")
    )
    raise NotLoopback(
        f"{refused.format(what=what, where=_where(name, port))} {named}{reason} {_(_WHY)} "
        f"{_(_TODO[role])}{_(_OPT_IN) if liftable else ''}"
    )


def check_destination(
    address: object, *, what: str, kind: int = socket.SOCK_DGRAM, family: int = 0
) -> tuple[Any, ...]:
    """Resolve ``address`` once; return it if labsock may send to or connect to it.

    Args:
        address: ``(host, port)`` (or an IPv6 sockaddr); ``host`` may be a
            name such as ``'localhost'``.
        what: who asks, for the message ("ping", "ImpairedLink target", ...).
        kind: ``socket.SOCK_DGRAM`` or ``SOCK_STREAM``, for the lookup.
        family: restrict the lookup to one address family (0: any).

    Returns:
        The resolved sockaddr, e.g. ``('127.0.0.1', 5000)`` or
        ``('::1', 5000, 0, 0)``: pass it to ``connect``/``sendto`` as is.

    Raises:
        NotLoopback: the address is not loopback (or is a multicast group,
            0.0.0.0 or a broadcast address), before any socket exists.
        UsageError: not a ``(host, port)``, or port 0.
        HostNotFound: the name does not resolve.

    >>> check_destination(("localhost", 7), what="ping")[1]
    7
    """
    return _check(address, "destination", what, kind, family)


def check_bind(
    address: object, *, what: str, kind: int = socket.SOCK_DGRAM, family: int = 0
) -> tuple[Any, ...]:
    """Resolve ``address`` once; return it if labsock may bind it.

    0.0.0.0 and ``::`` (every interface) are refused, as is any address
    that is not loopback, unless the teacher opted in (:func:`allow_network`).

    Returns:
        The resolved sockaddr to pass to ``bind``.

    Raises:
        NotLoopback, UsageError, HostNotFound: as :func:`check_destination`.

    >>> check_bind(("127.0.0.1", 0), what="TCPEchoServer")
    ('127.0.0.1', 0)
    """
    return _check(address, "bind", what, kind, family)


def check_multicast(interface: str, ttl: int, *, what: str) -> None:
    """Refuse a multicast interface other than loopback, and a TTL above 1.

    A group is used on the loopback interface only ('127.0.0.1', or '::1',
    'lo', 'lo0' for IPv6), with a TTL (hop limit) of 0 or 1, whatever
    :func:`allow_network` says: joined elsewhere, a group sends IGMP reports
    out of the machine; with a larger TTL, routers forward its datagrams.

    Raises:
        NotLoopback: with what to use instead.
    """
    if not isinstance(interface, str):
        raise UsageError(
            _("interface must be an address such as '127.0.0.1', not {value!r}").format(
                value=interface
            )
        )
    if ttl > 1:
        raise NotLoopback(
            _(
                "{what}: ttl={ttl} would let routers forward the datagrams beyond this "
                "machine. {why} Use ttl=1 (or 0, this host only)."
            ).format(what=what, ttl=ttl, why=_(_WHY))
        )
    if interface in ("lo", "lo0"):
        return
    try:
        on_loopback = _parse(interface).is_loopback
    except ValueError:
        on_loopback = False
    if not on_loopback:
        raise NotLoopback(
            _(
                "{what}: interface={interface!r} is not the loopback interface: joined or sent "
                "there, the group's traffic leaves the machine. "
                "{why} Use interface='127.0.0.1' (IPv4) or '::1' (IPv6), or leave it out."
            ).format(what=what, interface=interface, why=_(_WHY))
        )
