"""Reference solution of exercise 4: discovery over multicast, on the loopback interface."""

from __future__ import annotations

import socket
import sys
import time

__all__ = ["discover", "multicast_sockets"]

ANNOUNCE_EVERY = 0.1  # seconds between two announcements


def multicast_sockets(group: tuple[str, int]) -> tuple[socket.socket, socket.socket]:
    """A sender that stays on loopback, and a receiver that joined ``group`` on loopback."""
    address, port = group
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        loopback = socket.inet_aton("127.0.0.1")
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, loopback)
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        # Several members on one machine share the port: each sets SO_REUSEADDR.
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Bound to the group address, the socket hears that group only
        # (Windows cannot bind a multicast address: there, bind to '').
        receiver.bind(("" if sys.platform == "win32" else address, port))
        membership = socket.inet_aton(address) + loopback  # group, then interface
        receiver.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    except BaseException:
        sender.close()
        receiver.close()
        raise
    return sender, receiver


def discover(
    sender: socket.socket,
    receiver: socket.socket,
    group: tuple[str, int],
    name: str,
    duration: float,
) -> set[str]:
    """Announce ``name`` every 0.1 s for ``duration`` s; return the names others announced."""
    others: set[str] = set()
    end = time.monotonic() + duration
    next_announce = time.monotonic()
    while (now := time.monotonic()) < end:
        if now >= next_announce:
            sender.sendto(f"HELLO {name}".encode(), group)
            next_announce = now + ANNOUNCE_EVERY
        receiver.settimeout(max(0.001, min(next_announce, end) - now))
        try:
            data, _ = receiver.recvfrom(1024)
        except TimeoutError:
            continue
        text = data.decode("utf-8", errors="replace")
        if text.startswith("HELLO "):
            who = text[len("HELLO ") :].strip()
            if who and who != name and "\ufffd" not in who:
                others.add(who)
    return others
