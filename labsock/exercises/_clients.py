"""The check's own TCP clients, polite and adversarial.

Every read here polls in short slices against a deadline, and gives up early
when the server under test has died (``alive()`` turns False): a check waits
as long as a slow correct server needs, and no longer than it takes to see
that a broken one will never answer.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from labsock._core.guard import check_bind, check_destination
from labsock._core.i18n import gettext as _

__all__ = [
    "Exchange",
    "connect",
    "exchange_all",
    "read_exactly",
    "read_until_eof",
    "reset",
    "send_bytewise",
    "send_while_reading",
    "tcp_pair",
]

Alive = Callable[[], bool]

_SLICE = 0.05  # seconds per poll while waiting for a reply
# Where tcp_pair listens; through the loopback guard all the same.
_HOST = "127.0.0.1"


def _always() -> bool:
    return True


def connect(address: tuple[str, int], timeout: float = 2.0) -> socket.socket:
    """A TCP client connected to ``address``, with ``TCP_NODELAY`` and a timeout.

    Every client of the checks connects here, through the loopback guard.
    """
    sockaddr = check_destination(address, what=_("the check's client"), kind=socket.SOCK_STREAM)
    sock = socket.create_connection(sockaddr[:2], timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_exactly(
    sock: socket.socket, n: int, timeout: float, alive: Alive = _always
) -> tuple[bytes, bool]:
    """Read up to ``n`` bytes; return ``(data, eof)``: what came, and whether the peer closed.

    Stops at ``n`` bytes, at end of stream, at the deadline, or (after one
    more read) when ``alive()`` turns False.
    """
    buf = bytearray()
    deadline = time.monotonic() + timeout
    sock.settimeout(_SLICE)
    last_chance = False
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except TimeoutError:
            if last_chance or time.monotonic() > deadline:
                break
            last_chance = not alive()
            continue
        except OSError:
            return bytes(buf), True  # reset by the server: nothing more will come
        if not chunk:
            return bytes(buf), True
        buf += chunk
    return bytes(buf), False


def read_until_eof(
    sock: socket.socket, timeout: float, alive: Alive = _always, limit: int = 1 << 24
) -> tuple[bytes, bool]:
    """Read until the peer closes; return ``(data, eof)`` (eof False: timed out)."""
    data, eof = read_exactly(sock, limit, timeout, alive)
    return data, eof


def send_bytewise(sock: socket.socket, data: bytes, pause: float = 0.002) -> None:
    """Send ``data`` one byte per segment (``TCP_NODELAY``), pausing between bytes.

    The receiver's ``recv`` then gets one byte at a time: what a slow link
    or a busy sender makes TCP do, and what breaks code that expects a whole
    message per ``recv``.
    """
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(data)):
        sock.sendall(data[i : i + 1])
        time.sleep(pause)


def reset(sock: socket.socket) -> None:
    """Close with a reset (RST): the peer's next ``recv``/``send`` raises ConnectionResetError.

    That is what a client that crashes, or loses its network, looks like.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def send_while_reading(
    sock: socket.socket, payload: bytes, timeout: float, alive: Alive = _always
) -> tuple[bytes, bool, BaseException | None]:
    """Send ``payload`` (then end our side) while reading the echo; no deadlock on big data.

    Returns ``(echo, eof, send_error)``.
    """
    errors: list[BaseException] = []

    def send() -> None:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except BaseException as exc:  # reported to the caller
            errors.append(exc)

    sock.settimeout(timeout)
    sender = threading.Thread(target=send, name="labsock-check-sender", daemon=True)
    sender.start()
    echo, eof = read_exactly(sock, len(payload) + 1, timeout, alive)
    sender.join(timeout)
    return echo, eof, errors[0] if errors else None


@dataclass
class Exchange:
    """What each of many clients got back (see :func:`exchange_all`)."""

    received: list[bytearray]
    eof: list[bool]

    def complete(self, expected: Sequence[bytes]) -> int:
        """How many clients got at least as many bytes as expected."""
        return sum(len(r) >= len(e) for r, e in zip(self.received, expected, strict=True))


def exchange_all(
    socks: Sequence[socket.socket],
    expected: Sequence[bytes],
    *,
    stall: float,
    timeout: float,
    until_eof: bool = False,
    alive: Alive = _always,
) -> Exchange:
    """Read from many clients at once (one selector) until each has its bytes.

    Stops when every client has ``len(expected[i])`` bytes (or, with
    ``until_eof``, has seen the server close), when nothing new arrived for
    ``stall`` seconds, at ``timeout``, or when ``alive()`` turns False.
    The sockets are left non-blocking.
    """
    received = [bytearray() for _s in socks]
    eof = [False] * len(socks)
    sel = selectors.DefaultSelector()
    try:
        for i, s in enumerate(socks):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)

        def done(i: int) -> bool:
            return eof[i] if until_eof else len(received[i]) >= len(expected[i])

        pending = {i for i in range(len(socks)) if not done(i)}
        start = last = time.monotonic()
        while pending:
            now = time.monotonic()
            if now - last > stall or now - start > timeout or not alive():
                break
            for key, _events in sel.select(_SLICE):
                i = key.data
                try:
                    chunk = socks[i].recv(65_536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    chunk = b""
                last = time.monotonic()
                if chunk:
                    received[i] += chunk
                else:
                    eof[i] = True
                    sel.unregister(socks[i])
                if done(i) or eof[i]:
                    pending.discard(i)
    finally:
        sel.close()
    return Exchange(received, eof)


def tcp_pair(timeout: float = 2.0) -> tuple[socket.socket, socket.socket]:
    """Two ends of one real TCP connection on loopback: ``(client, server)``."""
    local = check_bind((_HOST, 0), what=_("the check's connection"), kind=socket.SOCK_STREAM)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(local)
        listener.listen(1)
        listener.settimeout(timeout)
        client = socket.create_connection(listener.getsockname(), timeout=timeout)
        try:
            server, _peer = listener.accept()
        except BaseException:
            client.close()
            raise
    server.settimeout(timeout)
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client, server
