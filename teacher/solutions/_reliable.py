"""Reference solution of exercise 5: stop-and-wait over UDP, both ends."""

from __future__ import annotations

import socket
import struct
import threading

__all__ = ["rdt_receive", "rdt_send"]

_SEQ = struct.Struct("!I")


def rdt_send(
    sock: socket.socket, peer: tuple[str, int], messages: list[bytes], timeout: float
) -> int:
    """Send each message and wait for its ACK, resending after ``timeout``; return DATA sends."""
    sent = 0
    for seq, payload in enumerate(messages):
        packet = b"D" + _SEQ.pack(seq) + payload
        acked = False
        while not acked:
            sock.sendto(packet, peer)
            sent += 1
            sock.settimeout(timeout)
            try:
                while True:  # read ACKs until ours comes, or the timeout
                    reply, _ = sock.recvfrom(64)
                    if reply == b"A" + _SEQ.pack(seq):
                        acked = True
                        break
                    # Anything else is an old or duplicated ACK: ignore it.
            except TimeoutError:
                pass  # no ACK in time: send the same packet again
    return sent


def rdt_receive(sock: socket.socket, stop: threading.Event) -> list[bytes]:
    """ACK every DATA packet; deliver each message once, in order; return them when stopped."""
    delivered: list[bytes] = []
    expected = 0
    sock.settimeout(0.1)  # look at `stop` ten times a second
    while not stop.is_set():
        try:
            packet, sender = sock.recvfrom(65_536)
        except TimeoutError:
            continue
        if len(packet) < 5 or packet[:1] != b"D":
            continue  # not a DATA packet
        (seq,) = _SEQ.unpack_from(packet, 1)
        if seq == expected:
            delivered.append(packet[5:])
            expected += 1
        if seq < expected:
            # New, or a copy whose ACK was lost: (re-)acknowledge it.
            sock.sendto(b"A" + _SEQ.pack(seq), sender)
    return delivered
