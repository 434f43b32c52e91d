"""Reference solution of exercise 3: length-prefixed messages over TCP."""

from __future__ import annotations

import socket
import struct

__all__ = ["recv_message", "send_message"]

_HEADER = struct.Struct("!I")  # 4-byte unsigned length, big-endian ("network order")


def send_message(sock: socket.socket, payload: bytes) -> None:
    """Send one message: its length on 4 bytes, then the payload, all of it."""
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Exactly ``n`` bytes; b'' if the peer closed before the first; ConnectionError mid-way."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))  # never more than what is missing
        if not chunk:
            if not buf:
                return b""
            raise ConnectionError(f"the peer closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_message(sock: socket.socket) -> bytes | None:
    """Receive one message; None if the peer closed cleanly between messages."""
    header = _recv_exactly(sock, _HEADER.size)
    if not header:
        return None
    (length,) = _HEADER.unpack(header)
    if length == 0:
        return b""
    payload = _recv_exactly(sock, length)
    if not payload:
        raise ConnectionError("the peer closed after the header, before the payload")
    return payload
