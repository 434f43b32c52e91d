"""ImpairedLink: a real relay between real sockets that drops, delays, copies and reorders.

Students on Binder or a JupyterHub have no root, so ``tc netem`` is out of
reach. This relay is how the course shows a bad network: clients send to
``link.address``, the link passes each datagram on to the target (an echo
server, say) and the replies back to the client, and on the way it does
what a seeded :class:`~labsock._core.impair.ImpairmentModel` decides. The
datagrams really cross the kernel twice more, and the delays are real
waits, so what ``ping`` measures through a link is measured, not invented.

How the UDP relay works, and why it is built so: ``labsock._endpoints.udplink``.

``protocol="tcp"`` relays a byte stream instead (see ``labsock._endpoints.tcplink``); it can
only add delay and limit bandwidth.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from typing import Literal

from labsock._core.errors import UsageError
from labsock._core.guard import check_bind, check_destination, family_of
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.impair import Impairment, ImpairmentModel, LinkEvent, LinkStats, direction_rng
from labsock._core.validate import check_address, check_count, check_host, check_port
from labsock._endpoints.base import Endpoint, format_address
from labsock._endpoints.tcplink import TCPRelay, check_bandwidth, check_stream_settings
from labsock._endpoints.udplink import BACKWARD, DIRECTIONS, FORWARD, UDPRelay

__all__ = ["DEFAULT_KEEP_EVENTS", "DIRECTIONS", "ImpairedLink"]

#: How many per-datagram events a link keeps by default (the latest ones).
DEFAULT_KEEP_EVENTS = 100_000

_SETTINGS = ("loss", "delay", "jitter", "reorder", "duplicate")


class ImpairedLink(Endpoint):
    """A relay that drops, delays, duplicates and reorders, between real sockets.

    Clients send to ``link.address`` instead of the target; the link passes
    every datagram on to ``target`` and every reply back, impairing both
    directions. Use it to see what loss and reordering do to a protocol,
    without root rights (``tc netem`` needs them).

    Args:
        target: ``(host, port)`` the link passes datagrams on to, e.g. an
            echo server's ``.address``.
        loss, delay, jitter, reorder, duplicate: the impairment, applied to
            **both** directions (requests and replies) unless ``forward`` or
            ``backward`` replaces it for one. See :class:`Impairment`: delay
            is a minimum, jitter adds a uniform extra of up to ``jitter``
            seconds, reorder lets a datagram skip the delay (needs delay).
            A reply to a request that had ``delay`` waits ``delay`` again:
            the round trip grows by twice the delay.
        seed: makes the link reproducible: each datagram's fate depends
            only on the seed and on which datagram it is (a ``ping`` probe:
            its direction, sequence number and copy; anything else: its
            place among its client's datagrams in that direction), never on
            timing, so the same seed drops, copies and holds the same probes
            at any pace. (The kernel may still drop a datagram when a socket
            buffer overflows; the link never sees those.) ``None`` draws a
            seed at random; ``link.seed`` tells which, to replay it.
        host, port: where the link listens; port 0 lets the OS pick.
        forward: an :class:`Impairment` for client -> target only. The
            Kurose & Ross UDP pinger lab, whose server drops 30 % of the
            requests, is ``ImpairedLink(target, forward=Impairment(loss=0.3))``
            (the replies pass untouched); plain ``loss=0.3`` drops 30 % each
            way, so about 1 - 0.7**2 = 51 % of round trips fail.
        backward: an :class:`Impairment` for target -> client only
            (``Impairment()`` is a perfect direction).
        protocol: ``"udp"`` (default) or ``"tcp"``. A TCP link relays a byte
            stream and can only add ``delay`` (and a ``bandwidth`` limit):
            loss, jitter, reordering and duplication are refused, because a
            relay above TCP cannot emulate them; the kernel repairs loss
            below the socket and hands over an in-order stream.
        bandwidth: TCP only: bytes per second each direction may carry
            (``None``: no limit).
        keep_events: how many per-datagram records :meth:`events` keeps
            (the latest ones; 0 keeps none).

    Raises:
        UsageError: bad settings (with what to use instead).
        AddressInUse, PermissionDenied, HostNotFound: the link cannot bind.
        NotLoopback: ``target`` or ``host`` is not this machine's loopback
            (refused before any socket exists; see ``labsock.allow_network``).

    Example:
        >>> from labsock import UDPEchoServer, ping
        >>> with UDPEchoServer() as server, ImpairedLink(server.address, loss=0.5, seed=1) as link:
        ...     result = ping(link.address, count=20, timeout=0.05)
        ...     stats = link.statistics()
        >>> result.lost == 20 - result.received > 0
        True
        >>> stats.forward.dropped + stats.backward.dropped == result.lost
        True
    """

    kind = N_("impaired link")

    def __init__(
        self,
        target: tuple[str, int],
        *,
        loss: float = 0.0,
        delay: float = 0.0,
        jitter: float = 0.0,
        reorder: float = 0.0,
        duplicate: float = 0.0,
        seed: int | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        forward: Impairment | None = None,
        backward: Impairment | None = None,
        protocol: Literal["udp", "tcp"] = "udp",
        bandwidth: float | None = None,
        keep_events: int = DEFAULT_KEEP_EVENTS,
    ) -> None:
        super().__init__()
        # Every argument is checked before any socket or thread exists.
        target_host, target_port = check_address(target, name="target")
        check_host(target_host, name="target host")
        self._host = check_host(host)
        check_port(port)
        if protocol not in ("udp", "tcp"):
            raise UsageError(
                _("protocol must be 'udp' or 'tcp', not {protocol!r}").format(protocol=protocol)
            )
        check_count(keep_events, name="keep_events", minimum=0, maximum=10_000_000)
        if seed is None:
            seed = random.SystemRandom().randrange(1 << 32)
        elif isinstance(seed, bool) or not isinstance(seed, (int, str)):
            raise UsageError(
                _("seed must be a whole number or a string, not {seed!r}").format(seed=seed)
            )
        both = Impairment(loss, delay, jitter, reorder, duplicate)
        settings = [
            _checked_direction(forward, "forward") or both,
            _checked_direction(backward, "backward") or both,
        ]
        if protocol == "tcp":
            _check_stream(settings)
            bandwidth = check_bandwidth(bandwidth)
        elif bandwidth is not None:
            raise UsageError(
                _(
                    "bandwidth= is for TCP links (protocol='tcp'); a UDP link limits nothing "
                    "but can drop and delay: use loss= and delay="
                )
            )
        self.seed: int | str = seed
        self.protocol: str = protocol
        self.target: tuple[str, int] = (target_host, target_port)
        self._configure_lock = threading.Lock()
        self._models = [
            ImpairmentModel(value, direction_rng(seed, name))
            for value, name in zip(settings, DIRECTIONS, strict=True)
        ]
        kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
        # The loopback guard, for where the link relays to and where it
        # listens: names resolved once, refused before any socket exists.
        to = check_destination((target_host, target_port), what="ImpairedLink target", kind=kind)
        local = check_bind((host, port), what="ImpairedLink", kind=kind)[0]
        resolved = (family_of(to), to)
        self._relay: UDPRelay | TCPRelay
        if protocol == "udp":
            self._relay = UDPRelay(self, local, port, resolved, self._models, keep_events)
            self._start_worker(self._relay.run, f"udp-link-{self._relay.address[1]}")
        else:
            self._relay = TCPRelay(self, local, port, resolved, self._models, bandwidth)
            self._start_worker(self._relay.run, f"tcp-link-{self._relay.address[1]}")
        self._register()

    # -- where ---------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` where clients send to reach the target through the link."""
        self._check_open(N_("get the address of this {kind}"))
        return self._relay.address

    @property
    def host(self) -> str:
        return self._relay.address[0]

    @property
    def port(self) -> int:
        return self._relay.address[1]

    # -- settings ------------------------------------------------------------
    @property
    def forward(self) -> Impairment:
        """The impairment applied to client -> target datagrams now."""
        return self._models[FORWARD].settings

    @property
    def backward(self) -> Impairment:
        """The impairment applied to target -> client datagrams (the replies) now."""
        return self._models[BACKWARD].settings

    def configure(
        self,
        *,
        loss: float | None = None,
        delay: float | None = None,
        jitter: float | None = None,
        reorder: float | None = None,
        duplicate: float | None = None,
        forward: Impairment | None = None,
        backward: Impairment | None = None,
    ) -> None:
        """Change the impairment of a running link; the next datagram sees it.

        Named settings change in both directions (the others keep their
        values); ``forward=``/``backward=`` replace one direction's settings
        whole. Everything is checked first: on a bad value nothing changes.
        Datagrams already held keep the release time they were given.

        Raises:
            UsageError: a bad value, or (TCP) a setting TCP cannot emulate.

        Example:
            >>> from labsock import UDPEchoServer
            >>> with UDPEchoServer() as server, ImpairedLink(server.address) as link:
            ...     link.configure(loss=0.25, delay=0.01)
            ...     link.forward
            Impairment(loss=0.25, delay=0.01, jitter=0.0, reorder=0.0, duplicate=0.0)
        """
        self._check_open(N_("configure this {kind}"))
        given = {
            name: value
            for name, value in zip(
                _SETTINGS, (loss, delay, jitter, reorder, duplicate), strict=True
            )
            if value is not None
        }
        overrides = (
            _checked_direction(forward, "forward"),
            _checked_direction(backward, "backward"),
        )
        with self._configure_lock:
            new = [
                override or model.settings.replace(**given)
                for override, model in zip(overrides, self._models, strict=True)
            ]
            if self.protocol == "tcp":
                _check_stream(new)
            for model, value in zip(self._models, new, strict=True):
                model.settings = value
            if isinstance(self._relay, UDPRelay):
                self._relay.settings_changed()

    # -- what happened ---------------------------------------------------------
    def statistics(self) -> LinkStats:
        """An immutable snapshot of what the link did, per direction.

        Compare it with what the receiver saw: ``ping``'s ``lost`` is the
        link's ``dropped`` (both directions) when the kernel lost nothing.
        """
        return self._relay.statistics()

    def events(self, direction: str | None = None) -> tuple[LinkEvent, ...]:
        """The fate of each datagram, oldest first (the latest ``keep_events``).

        ``direction`` keeps only ``"forward"`` or ``"backward"`` events. A
        TCP link records none. For a ping, ``event.seq`` is the probe number:

        >>> from labsock import UDPEchoServer, ping
        >>> with UDPEchoServer() as server, ImpairedLink(server.address, loss=0.3, seed=4) as link:
        ...     result = ping(link.address, count=10, timeout=0.05)
        ...     lost = {e.seq for e in link.events() if e.dropped}
        >>> lost == set(result.lost_seqs)
        True
        """
        if direction is not None and direction not in DIRECTIONS:
            raise UsageError(
                _("direction must be 'forward', 'backward' or None, not {direction!r}").format(
                    direction=direction
                )
            )
        events = self._relay.events()
        return tuple(e for e in events if direction is None or e.direction == direction)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no datagram is held in the link; False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        while True:
            if isinstance(self._relay, UDPRelay):
                # Not statistics(): it reads the kernel's drop counters too.
                idle = self._relay.held() == 0
            else:
                stats = self._relay.statistics()
                idle = stats.forward.held == 0 and stats.backward.held == 0
            if idle:
                return True
            if time.monotonic() >= deadline or self.closed:
                return False
            time.sleep(0.002)

    # -- life cycle ------------------------------------------------------------
    def _wake(self) -> None:
        relay = getattr(self, "_relay", None)  # absent if the constructor failed
        if relay is not None:
            relay.wake()

    def _release(self) -> None:
        relay = getattr(self, "_relay", None)
        if relay is not None:
            relay.release()

    def __repr__(self) -> str:
        relay = getattr(self, "_relay", None)
        if relay is None:
            return _("<ImpairedLink that failed to start>")
        where = format_address(relay.address)
        state = _("closed") if self.closed else _("relaying")
        if self.forward == self.backward:
            how = str(self.forward)
        else:
            how = _("forward: {forward}; backward: {backward}").format(
                forward=self.forward, backward=self.backward
            )
        return _("<ImpairedLink {protocol} {where} -> {target} ({how}) {state}>").format(
            protocol=self.protocol,
            where=where,
            target=format_address(self.target),
            how=how,
            state=state,
        )


def _check_stream(settings: list[Impairment]) -> None:
    if settings[0] == settings[1]:
        check_stream_settings(settings[0])
    else:
        for direction, value in zip(DIRECTIONS, settings, strict=True):
            check_stream_settings(value, direction)


def _checked_direction(value: object, name: str) -> Impairment | None:
    if value is None or isinstance(value, Impairment):
        return value
    raise UsageError(
        _(
            "{name} must be an Impairment(loss=..., delay=...) or None, not {value!r}; "
            "e.g. {name}=Impairment(loss=0.1)"
        ).format(name=name, value=value)
    )
