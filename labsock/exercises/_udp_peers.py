"""The check's own UDP peers: an echo that writes down every datagram it answers.

Exercises 2 and 5 talk to these through an :class:`~labsock.ImpairedLink`;
what the peer recorded, together with the link's per-datagram events, is the
ground truth the student's numbers are compared with.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from labsock._core.guard import check_bind
from labsock._core.i18n import gettext as _
from labsock.exercises._harness import CheckRun

__all__ = ["Datagram", "RecordingEcho", "udp_socket"]

# Where the check's UDP sockets bind; through the loopback guard all the same.
_HOST = "127.0.0.1"


def udp_socket(run: CheckRun) -> socket.socket:
    """A UDP socket bound to 127.0.0.1 on a free port, closed when the check ends."""
    local = check_bind((_HOST, 0), what=_("the check's UDP peer"))  # the loopback guard
    sock = run.own(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    sock.bind(local)
    return sock


@dataclass(frozen=True, slots=True)
class Datagram:
    """One datagram a peer received: when (``perf_counter``), from whom, what."""

    time: float
    peer: tuple[str, int]
    data: bytes


class RecordingEcho:
    """A UDP echo in a check worker thread that records each datagram before echoing it.

    ``answer`` decides the reply (the echo by default; None sends nothing).
    """

    def __init__(
        self, run: CheckRun, answer: Callable[[bytes], bytes | None] | None = None
    ) -> None:
        self._sock = udp_socket(run)
        self._sock.settimeout(0.05)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._answer = answer
        self._lock = threading.Lock()
        self._log: list[Datagram] = []
        self._stopping = run.stopping
        run.worker(self._serve, "udp-echo")

    def _serve(self) -> None:
        sock = self._sock
        while not self._stopping.is_set():
            try:
                data, peer = sock.recvfrom(65_536)
            except TimeoutError:
                continue
            except OSError:
                return  # closed: the check is over
            with self._lock:
                self._log.append(Datagram(time.perf_counter(), (peer[0], peer[1]), data))
            reply = data if self._answer is None else self._answer(data)
            if reply is not None:
                try:
                    sock.sendto(reply, peer)
                except OSError:
                    pass

    @property
    def log(self) -> list[Datagram]:
        with self._lock:
            return list(self._log)

    def last_arrival(self) -> float | None:
        with self._lock:
            return self._log[-1].time if self._log else None
