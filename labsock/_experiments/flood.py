"""The receiving side of a flood, shared by ``blast`` and ``compare_speed``.

Both experiments push data as fast as they can into a receiver that runs in
a thread of its own, then wait for that thread and close the sockets. What
the thread counts lives in one :class:`FloodReceiver`; how it is stopped,
and how its error reaches the caller, in :func:`finish`; which errors of a
UDP send mean "the kernel would not take it now" in :data:`REFUSED_SEND`.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Sequence

from labsock._core.errors import WorkerError
from labsock._core.i18n import gettext as _
from labsock._endpoints.base import JOIN_TIMEOUT, close_socket

__all__ = ["REFUSED_SEND", "FloodReceiver", "finish"]

#: What a kernel says when it will not take a datagram now: the sender counts
#: it as not sent and goes on (Linux ENOBUFS/EAGAIN, Windows WSAENOBUFS).
REFUSED_SEND = frozenset({errno.ENOBUFS, errno.EAGAIN, getattr(errno, "WSAENOBUFS", errno.ENOBUFS)})


class FloodReceiver:
    """What a receiving thread counted; written by that thread only, once it runs.

    ``received`` counts what the experiment's unit is (datagrams over UDP,
    bytes over TCP); ``arrivals`` the sequence numbers in arrival order
    where the payload carries them; ``effective_buffer`` the SO_RCVBUF the
    kernel granted.
    """

    def __init__(self) -> None:
        self.received = 0
        self.bytes = 0
        self.datagrams = 0
        self.reads = 0
        self.arrivals: list[int] = []
        self.intact = True
        self.effective_buffer = 0
        self.timed_out = False
        self.last_at = 0.0  # when the last read returned
        self.error: BaseException | None = None


def finish(
    thread: threading.Thread | None,
    receiver: FloodReceiver,
    sockets: Sequence[socket.socket | None],
    *,
    failed: bool,
    what: str,
) -> None:
    """Wait for the receiving thread, close the sockets, surface its error.

    Normally the thread has finished by itself (the stream ended, or the
    queue stayed empty). If the sender ``failed``, or the thread hangs,
    shutting the sockets down wakes it from ``accept``/``recv`` at once,
    which closing alone does not do on every OS. The receiver's error is
    raised as a :class:`WorkerError` naming ``what`` (marked with ``N_``,
    translated here) only when the sender did
    not fail: otherwise the sender's error is the one on its way, and says
    more.
    """
    try:
        if thread is None or thread.ident is None:  # setup failed before it started
            return
        if not failed:
            thread.join(JOIN_TIMEOUT)
        if thread.is_alive():
            for sock in sockets:
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            thread.join(JOIN_TIMEOUT)
    finally:
        for sock in sockets:
            close_socket(sock)
    if receiver.error is not None and not failed:
        raise WorkerError(
            _("{what} failed: {error!r}").format(what=_(what), error=receiver.error)
        ) from receiver.error
