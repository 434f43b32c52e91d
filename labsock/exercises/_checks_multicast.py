"""Check of exercise 4: discovery over multicast, kept on the loopback interface.

The student writes two functions:

* ``multicast_sockets(group) -> (sender, receiver)`` opens and configures
  the sockets: the sender sends through 127.0.0.1 (``IP_MULTICAST_IF``) with
  a TTL of at most 1; the receiver shares the group's port
  (``SO_REUSEADDR``), is bound to it, and joined the group on 127.0.0.1.
* ``discover(sender, receiver, group, name, duration) -> set[str]`` announces
  ``b"HELLO <name>"`` every 0.1 s for ``duration`` seconds and returns the
  names others announced.

The check reads the sockets' options back with ``getsockopt`` and, on Linux,
reads the kernel's memberships (``/proc/net/igmp``) *before* ``discover``
runs: a sender configured to leave the machine is never used. Then peers of
the check's own announce (one of them late), send junk, and listen,
including a listener that joins late.
"""

from __future__ import annotations

import errno
import secrets
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path

from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.validate import check_seconds
from labsock._endpoints.multicast import MulticastGroup, MulticastReceiver
from labsock.exercises._harness import CheckRun, StudentCall, describe
from labsock.exercises._report import Phrase, Report

__all__ = ["check_discovery", "memberships"]

MulticastSockets = Callable[[tuple[str, int]], object]
Discover = Callable[[socket.socket, socket.socket, tuple[str, int], str, float], object]

PEERS = ("alice", "bob")
#: The criteria of discover(), in order; the last one is a template (see _timing).
DISCOVER_CRITERIA = (
    N_("announces itself: b'HELLO <name>' reaches the group"),
    N_("keeps announcing, so that members who join later hear it too"),
    N_("lists everyone else who announced (one joined late)"),
    N_("leaves itself and junk datagrams out of the list"),
    N_("returns after about duration = {duration:g} s"),
)
_JOINED = N_("the receiver joined the group on 127.0.0.1, and nowhere else")


def _discover_criteria(duration: float) -> tuple[str, ...]:
    """The names of discover()'s criteria, the duration filled in."""
    return tuple(Phrase(name, duration=duration) for name in DISCOVER_CRITERIA)


LATE_PEER = "carol"
JUNK = (b"garbage", b"HELLO ", b"HELLO \xff\xfe")
_IGMP = Path("/proc/net/igmp")


def memberships(group: str) -> dict[str, int] | None:
    """Interfaces on which this host joined ``group`` (Linux), with their user counts.

    Returns None where the kernel does not publish memberships.

    >>> memberships("239.255.0.1") in (None, {})
    True
    """
    try:
        text = _IGMP.read_text()
    except OSError:
        return None
    found: dict[str, int] = {}
    device = ""
    for line in text.splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        if line[0].isdigit():
            device = fields[1]
        else:
            # The group as the kernel's 32-bit word, printed in host byte order.
            address = socket.inet_ntoa(struct.pack("=I", int(fields[0], 16)))
            if address == group:
                found[device] = int(fields[1])
    return found


class _Discovery:
    def __init__(
        self, run: CheckRun, make: MulticastSockets, discover: Discover, duration: float
    ) -> None:
        self.run, self.make, self.discover, self.duration = run, make, discover, duration
        self.group = MulticastGroup()
        run.on_close(self.group.close)
        self.address: tuple[str, int] = self.group.address

    def sockets(self) -> tuple[socket.socket, socket.socket] | None:
        call: StudentCall[object] = self.run.call(self.make, self.address, name="multicast_sockets")
        call.wait(2.0)
        if call.not_implemented:
            self.run.not_attempted()
        name = N_("multicast_sockets returns (sender, receiver)")
        result = call.result
        # Whatever shape it came in (a pair, a list, one socket), every socket
        # returned is closed at the end, whatever else happens.
        items = result if isinstance(result, (tuple, list)) else (result,)
        for item in items:
            if isinstance(item, socket.socket):
                self.run.own(item)
        if not call.finished or call.error is not None:
            hint = (
                _("multicast_sockets raised {error}").format(error=describe(call.error))
                if call.error is not None
                else _("multicast_sockets did not return within 2 s")
            )
            if isinstance(call.error, OSError) and (
                call.error.errno == errno.EADDRINUSE or "in use" in str(call.error)
            ):
                hint = _(
                    "{hint}: other programs share the group's port, so set SO_REUSEADDR on the "
                    "receiver before bind()"
                ).format(hint=hint)
            self.run.check(name, False, hint)
            return None
        if (
            not isinstance(result, tuple)
            or len(result) != 2
            or not all(isinstance(s, socket.socket) for s in result)
        ):
            self.run.check(name, False, _("return a tuple of two sockets: (sender, receiver)"))
            return None
        sender, receiver = result
        self.run.check(name, True)
        return sender, receiver

    def options(self, sender: socket.socket, receiver: socket.socket) -> bool:
        """The sender's and receiver's settings; False if the sender must not be used."""
        run = self.run
        try:
            interface = socket.inet_ntoa(
                sender.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)
            )
            ttl = sender.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL)
        except OSError as exc:
            run.check(N_("the sender is an IPv4 UDP socket"), False, describe(exc))
            return False
        safe_if = run.check(
            N_("the sender sends through the loopback interface (IP_MULTICAST_IF = 127.0.0.1)"),
            interface == "127.0.0.1",
            _(
                "set it before sending: sender.setsockopt(socket.IPPROTO_IP, "
                "socket.IP_MULTICAST_IF, socket.inet_aton('127.0.0.1')). Without it, datagrams "
                "go out through the default network interface, beyond this machine"
            ),
            _("IP_MULTICAST_IF is {interface}").format(interface=interface),
        )
        safe_ttl = run.check(
            N_("the sender's TTL is at most 1"),
            ttl <= 1,
            _(
                "sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1): a TTL above 1 "
                "lets routers carry the datagrams further"
            ),
            _("IP_MULTICAST_TTL is {ttl}").format(ttl=ttl),
        )
        bound = receiver.getsockname()
        run.check(
            N_("the receiver is bound to the group's port"),
            bound[1] == self.address[1] and bound[0] in (self.address[0], "0.0.0.0"),
            _(
                "bind the receiver to (group, port), or ('', port) on Windows: a receiver "
                "bound to 127.0.0.1 or to another port never sees the group's datagrams"
            ),
            _("bound to {bound}, the group is {group}").format(
                bound=f"{bound[0]}:{bound[1]}", group=f"{self.address[0]}:{self.address[1]}"
            ),
        )
        return safe_if and safe_ttl

    def membership(self) -> dict[str, int] | None:
        """Where the group is joined, read before the check's own receivers join it."""
        return memberships(self.address[0])

    def judge_membership(self, joined: dict[str, int] | None, heard: bool | None) -> None:
        name = _JOINED
        hint = _(
            "join with receiver.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, "
            "socket.inet_aton(group) + socket.inet_aton('127.0.0.1')); never with 0.0.0.0, "
            "which joins on the default interface and tells the network about it"
        )
        if joined is None and heard is None:
            self.run.skip(name, _("not checked: on this system only discover() can show it"))
        elif joined is None:  # no /proc/net/igmp: judge by what the receiver heard
            self.run.check(name, bool(heard), hint, _("checked through what the receiver heard"))
        elif set(joined) != {"lo"}:
            where = ", ".join(sorted(joined)) or _("no interface")
            self.run.check(
                name, False, hint, _("the group was joined on {where}").format(where=where)
            )
        else:
            self.run.check(name, True)

    def run_discover(
        self, sender: socket.socket, receiver: socket.socket
    ) -> tuple[StudentCall[object], str, list[bytes], list[bytes], list[tuple[str, int]]]:
        me = f"student-{secrets.token_hex(3)}"
        group = self.group
        listener = group.receiver(name="check")
        peer = group.sender()
        late_listener: list[MulticastReceiver] = []
        start = time.monotonic()
        call: StudentCall[object] = self.run.call(
            self.discover, sender, receiver, self.address, me, self.duration, name="discover"
        )

        def peers() -> None:
            # Alice and Bob announce from the start, Carol from half-way; some
            # junk goes out too; a listener joins at half-time.
            sent_junk = False
            while not self.run.stopping.is_set():
                now = time.monotonic() - start
                if call.finished or now > self.duration + 0.3:
                    return
                names = list(PEERS) + ([LATE_PEER] if now >= self.duration / 2 else [])
                for n in names:
                    peer.send(f"HELLO {n}".encode())
                if not sent_junk:
                    for junk in JUNK:
                        peer.send(junk)
                    sent_junk = True
                if now >= self.duration / 2 and not late_listener:
                    late_listener.append(group.receiver(name="late"))
                self.run.stopping.wait(0.05)

        worker = self.run.worker(peers, "discovery-peers")
        call.wait(self.duration + 2.0)
        worker.join(2.0)
        heard = listener.payloads()
        senders = [a.sender for a in listener.received()]
        late = late_listener[0] if late_listener else None
        late_heard = list(late.payloads()) if late is not None else []
        return call, me, list(heard), late_heard, senders

    def judge(
        self,
        call: StudentCall[object],
        me: str,
        heard: list[bytes],
        late_heard: list[bytes],
        senders: list[tuple[str, int]],
    ) -> None:
        run = self.run
        announces, keeps, names, clean, timing = _discover_criteria(self.duration)
        if call.not_implemented:
            for name in (announces, keeps, names, clean, timing):
                run.check(name, False, _("discover() still raises NotImplementedError: write it"))
            return
        announcement = f"HELLO {me}".encode()
        from_me = [s for d, s in zip(heard, senders, strict=True) if d == announcement]
        run.check(
            announces,
            bool(from_me),
            _(
                "send f'HELLO {name}'.encode() with sender.sendto(..., group), the group being "
                "the (address, port) you were given"
            ),
            _("the group heard {n} announcement(s) from you").format(n=len(from_me)),
        )
        run.check(
            keeps,
            announcement in late_heard,
            _(
                "announce again every 0.1 s until duration is over: a member who joins later "
                "has missed your first announcement"
            ),
        )
        elapsed = call.elapsed
        if call.not_implemented or call.error is not None or not call.finished:
            hint = (
                _("discover() still raises NotImplementedError")
                if call.not_implemented
                else _("discover raised {error}").format(error=describe(call.error))
                if call.error is not None
                else _(
                    "discover did not return within {seconds:g} s: give the "
                    "receiver a timeout and stop listening when duration is over"
                ).format(seconds=self.duration + 2)
            )
            run.check(names, False, hint)
            run.skip(clean, _("not checked: discover must return a set of names first"))
            run.skip(timing, _("not checked: discover must return first"))
            return
        result = call.result
        if not isinstance(result, (set, frozenset, list, tuple)) or not all(
            isinstance(n, str) for n in result
        ):
            run.check(
                names,
                False,
                _("return a set of names as str (decode the bytes you receive)"),
                _("returned {result}").format(result=repr(result))[:120],
            )
            run.skip(clean, _("not checked: discover must return a set of names first"))
        else:
            found = set(result)
            others = {*PEERS, LATE_PEER}
            missing = others - found
            if missing == {LATE_PEER}:
                hint = _(
                    "{peer} started announcing half-way: keep listening until duration is over"
                ).format(peer=LATE_PEER)
            else:
                hint = _(
                    "decode each datagram received on the receiver; those that read "
                    "'HELLO <name>' announce <name>"
                )
            run.check(
                names,
                not missing,
                hint,
                _("returned {result}").format(result=sorted(found)),
            )
            extra = found - others
            run.check(
                clean,
                not extra,
                _(
                    "your own announcements come back to you (multicast loops back on this "
                    "machine): leave your own name out, and ignore datagrams that are not "
                    "'HELLO <name>' with a non-empty name"
                ),
                _("also listed {names}").format(names=sorted(extra)),
            )
        run.check(
            timing,
            self.duration * 0.8 <= elapsed <= self.duration + 0.6,
            _(
                "listen until time.monotonic() reaches start + duration, then return (took "
                "{seconds:.2f} s)"
            ).format(seconds=elapsed),
        )


def check_discovery(
    multicast_sockets: MulticastSockets, discover: Discover, *, duration: float = 0.8
) -> Report:
    """Check ``multicast_sockets(group)`` and ``discover(sender, receiver, group, name, duration)``.

    The check draws a fresh group on the loopback interface
    (:class:`~labsock.MulticastGroup`), calls ``multicast_sockets`` with its
    ``(address, port)``, inspects the two sockets, and only if the sender
    is safe (loopback interface, TTL <= 1) runs ``discover`` among its own
    peers. It closes both sockets at the end.

    Returns:
        A :class:`Report` ("not attempted yet" for the starter code).

    Example:
        >>> check_discovery(multicast_sockets, discover).passed  # with your working functions
        True
    """
    duration = check_seconds(duration, name="duration", allow_zero=False, maximum=60)
    with CheckRun("discovery", N_("Exercise 4: discovery over multicast")) as run:
        d = _Discovery(run, multicast_sockets, discover, duration)
        later = (_JOINED, *_discover_criteria(duration))
        pair = d.sockets()
        if pair is None:
            for name in later:
                run.skip(name, _("not checked: multicast_sockets must return the sockets first"))
        else:
            sender, receiver = pair
            joined = d.membership()
            if not d.options(sender, receiver):
                for name in later:
                    run.skip(
                        name,
                        _(
                            "not checked: the check does not send with a socket that could send "
                            "beyond this machine; fix the sender's options first"
                        ),
                    )
            else:
                call, me, heard, late_heard, senders = d.run_discover(sender, receiver)
                result = call.result
                heard_peers = (
                    None
                    if call.not_implemented
                    else isinstance(result, (set, frozenset, list, tuple))
                    and set(PEERS) <= set(result)
                )
                d.judge_membership(joined, heard_peers)
                d.judge(call, me, heard, late_heard, senders)
    return run.report
