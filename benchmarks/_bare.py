"""Bare-socket counterparts of labsock's endpoints: the baselines.

Each is the loop a student would write from the socket documentation, with
nothing around it: no counters, no error translation, no records. Servers
run in a thread of this process, as labsock's do in a kernel. Every
blocking call has a timeout or is woken by ``close()``.
"""

from __future__ import annotations

import socket
import threading
import time

__all__ = [
    "BareRelay",
    "BareTCPEchoServer",
    "BareUDPEchoServer",
    "bulk_echo",
    "tcp_ping_pong",
    "udp_ping_pong",
]

_JOIN = 5.0


class BareUDPEchoServer:
    """``recvfrom_into`` then ``sendto``, forever; a zero-length datagram stops it."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.address: tuple[str, int] = self._sock.getsockname()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="bare-udp-echo", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        sock = self._sock
        buf = bytearray(65_536)
        view = memoryview(buf)
        while True:
            n, peer = sock.recvfrom_into(buf)
            if self._stop:
                return
            sock.sendto(view[:n], peer)

    def close(self) -> None:
        self._stop = True
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as poke:
            poke.sendto(b"", self.address)
        self._thread.join(_JOIN)
        self._sock.close()


class BareTCPEchoServer:
    """``accept`` in one thread; per connection ``recv_into`` then ``sendall`` in its own."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)  # the accept loop checks for close() this often
        self.address: tuple[str, int] = self._listener.getsockname()
        self._stop = False
        self._lock = threading.Lock()
        self._conns: list[tuple[socket.socket, threading.Thread]] = []
        self._thread = threading.Thread(target=self._accept, name="bare-tcp-accept", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._conns.append((conn, thread))
            thread.start()

    @staticmethod
    def _serve(conn: socket.socket) -> None:
        buf = bytearray(65_536)
        view = memoryview(buf)
        try:
            while True:
                n = conn.recv_into(buf)
                if n == 0:
                    conn.shutdown(socket.SHUT_WR)
                    return
                conn.sendall(view[:n])
        except OSError:
            return

    def close(self) -> None:
        self._stop = True
        self._thread.join(_JOIN)
        with self._lock:
            conns = list(self._conns)
        for conn, thread in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            thread.join(_JOIN)
            conn.close()
        self._listener.close()


def udp_ping_pong(
    address: tuple[str, int], count: int, size: int = 64, timeout: float = 1.0
) -> list[float]:
    """Round-trip times (s) of ``count`` datagrams sent one after the other, like ``ping``."""
    rtts: list[float] = []
    payload = bytes(size)
    buf = bytearray(65_536)
    clock = time.perf_counter
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.settimeout(timeout)
        for _ in range(count):
            t0 = clock()
            sock.send(payload)
            try:
                sock.recv_into(buf)
            except TimeoutError:
                continue  # lost: no round trip to record
            rtts.append(clock() - t0)
    return rtts


def tcp_ping_pong(
    address: tuple[str, int], count: int, size: int = 64, timeout: float = 1.0
) -> list[float]:
    """Round-trip times (s) of ``count`` messages on one connection (TCP_NODELAY)."""
    rtts: list[float] = []
    payload = bytes(size)
    buf = bytearray(65_536)
    clock = time.perf_counter
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            t0 = clock()
            sock.sendall(payload)
            got = 0
            while got < size:  # a stream may hand the echo back in pieces
                n = sock.recv_into(buf)
                if n == 0:
                    raise ConnectionError("the echo server closed the connection")
                got += n
            rtts.append(clock() - t0)
    return rtts


def bulk_echo(
    address: tuple[str, int], total: int, chunk: int = 65_536, timeout: float = 10.0
) -> float:
    """Echo ``total`` bytes through a TCP echo server; return echoed bytes per second.

    One thread sends while this one receives, so the pipe stays full both
    ways; the clock runs from the first send to the last byte back.
    """
    payload = bytes(chunk)
    errors: list[BaseException] = []
    with socket.create_connection(address, timeout=timeout) as sock:

        def send() -> None:
            try:
                left = total
                while left > 0:
                    piece = min(chunk, left)
                    sock.sendall(payload[:piece] if piece < chunk else payload)
                    left -= piece
            except OSError as exc:
                errors.append(exc)

        sender = threading.Thread(target=send, name="bulk-sender", daemon=True)
        buf = bytearray(4 * chunk)
        got = 0
        t0 = time.perf_counter()
        sender.start()
        while got < total:
            n = sock.recv_into(buf)
            if n == 0:
                break
            got += n
        elapsed = time.perf_counter() - t0
        sender.join(timeout)
    if errors:
        raise errors[0]
    if got < total:
        raise ConnectionError(f"the echo server sent back {got} of {total} bytes")
    return total / elapsed


class BareRelay:
    """The floor for a Python UDP relay in this process: nothing but forwarding.

    One blocking thread per direction, for one client: ``recvfrom_into`` on
    the listening socket then ``send`` upstream; ``recv_into`` upstream then
    ``sendto`` the client. No selector, no counters, no records.
    ``relayed`` counts forwarded datagrams (one writer per direction).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._upstream.connect(target)
        self.address: tuple[str, int] = self._sock.getsockname()
        self._client: tuple[str, int] | None = None
        self._stop = False
        self.forwarded = 0
        self.returned = 0
        self.threads = [
            threading.Thread(target=self._forward, name="bare-relay-fwd", daemon=True),
            threading.Thread(target=self._backward, name="bare-relay-back", daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _forward(self) -> None:
        sock, upstream = self._sock, self._upstream
        buf = bytearray(65_536)
        view = memoryview(buf)
        while True:
            n, client = sock.recvfrom_into(buf)
            if self._stop:
                return
            self._client = client
            try:
                upstream.send(view[:n])
            except OSError:
                continue  # the target's port bounced an earlier datagram
            self.forwarded += 1

    def _backward(self) -> None:
        sock, upstream = self._sock, self._upstream
        buf = bytearray(65_536)
        view = memoryview(buf)
        while True:
            try:
                n = upstream.recv_into(buf)
            except ConnectionRefusedError:
                continue
            except OSError:
                return  # shut down by close()
            if self._stop:
                return
            client = self._client
            if client is not None:
                sock.sendto(view[:n], client)
                self.returned += 1

    def close(self) -> None:
        self._stop = True
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as poke:
            poke.sendto(b"", self.address)
        try:
            self._upstream.shutdown(socket.SHUT_RDWR)  # wakes the backward thread (Linux)
        except OSError:
            pass
        for thread in self.threads:
            thread.join(_JOIN)
        self._sock.close()
        self._upstream.close()
