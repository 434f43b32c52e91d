"""The life cycle every endpoint shares: start a worker, track it, close it once.

An endpoint owns its sockets and its threads. It is ready before its
constructor returns, ``close()`` is idempotent, wakes the workers, joins them
with a timeout, and raises (once) any error a worker met. Worker errors are
also kept in ``.errors``: a background thread never prints to stderr, because
in a notebook that text would land in whichever cell ran last.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from labsock._core.errors import ClosedError, WorkerError
from labsock._core.formatting import format_address
from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._endpoints import registry as _registry

__all__ = [
    "JOIN_TIMEOUT",
    "Endpoint",
    "close_socket",
    "format_address",
    "loopback_of",
    "receive_timeout",
    "wake_receiver",
]

_E = TypeVar("_E", bound="Endpoint")

#: How long close() waits for each worker thread before giving up on it.
JOIN_TIMEOUT = 5.0


def loopback_of(address: tuple[Any, ...]) -> tuple[str, int]:
    """Where to reach a socket bound to ``address`` from this machine.

    A wildcard bind (0.0.0.0 or ::) is reached on loopback, never on a
    routable address.
    """
    host = str(address[0])
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, int(address[1])


def wake_receiver(sock: socket.socket, address: tuple[Any, ...]) -> None:
    """Wake a thread blocked in ``recvfrom`` on the UDP socket bound to ``address``.

    On Linux ``shutdown`` alone does it; elsewhere it may fail on an
    unconnected socket, so a wake datagram follows (the woken thread checks
    its endpoint's closed flag before it looks at what it received).
    """
    try:
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    try:
        with socket.socket(sock.family, socket.SOCK_DGRAM) as poke:
            poke.sendto(b"", loopback_of(address))
    except OSError:
        pass


def receive_timeout(sock: socket.socket, seconds: float) -> None:
    """Make a blocking socket's waits end after ``seconds`` (``SO_RCVTIMEO``).

    The socket stays blocking for Python (one system call per ``recv``, no
    ``poll`` first, as ``settimeout`` would add); a wait that runs out raises
    ``BlockingIOError``. Where the option cannot be set, waits are woken by
    ``shutdown`` alone.
    """
    if sys.platform == "win32":
        value = struct.pack("I", int(seconds * 1000))
    else:
        whole = int(seconds)
        value = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    except OSError:
        pass


class Endpoint:
    """Base class: a thread-owning, socket-owning context manager.

    Subclasses open their sockets in ``__init__``, then call
    :meth:`_start_worker` for each background loop, and implement
    :meth:`_wake` to unblock those loops when closing.
    """

    #: A short name for messages ("TCP echo server"), marked with N_ where a
    #: class sets it and translated where a message shows it.
    kind = N_("endpoint")

    def __init__(self) -> None:
        self._closed = threading.Event()
        self._close_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self._errors_lock = threading.Lock()
        self._survived: set[int] = set()  # ids of errors in _errors a worker lived through
        self._reported = False

    # -- for subclasses -------------------------------------------------
    def _register(self) -> None:
        _registry.register(self)

    def _start_worker(self, target: Callable[[], None], name: str) -> threading.Thread:
        def run() -> None:
            try:
                target()
            except BaseException as exc:
                if not self._closed.is_set():
                    self._record_error(exc)

        thread = threading.Thread(target=run, name=f"labsock-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def _record_error(self, exc: BaseException, *, survived: bool = False) -> None:
        """Keep a worker's error in ``.errors``.

        ``survived``: the worker handled it and carried on (e.g. a server out
        of descriptors for a moment). Such errors are reported in ``.errors``
        but do not make ``close()`` raise: nothing stopped working.
        """
        with self._errors_lock:
            self._errors.append(exc)
            if survived:
                self._survived.add(id(exc))

    def _wake(self) -> None:
        """Unblock every worker; called once by close() after the closed flag is set."""

    def _release(self) -> None:
        """Close the sockets; called once by close() after the workers stopped."""

    def _check_open(self, action: str = N_("use this {kind}")) -> None:
        """Raise ClosedError once closed.

        ``action`` is marked with N_ by the caller and names the endpoint with
        ``{kind}`` ("get the address of this {kind}"), so that a translation
        can word the whole phrase; one without ``{kind}`` gets " this {kind}".
        """
        if self._closed.is_set():
            kind = _(self.kind)
            if "{kind}" in action:
                what = _(action).format(kind=kind)
            else:
                what = _("{action} this {kind}").format(action=_(action), kind=kind)
            raise ClosedError(
                _(
                    "cannot {what}: it was closed. Create a new one "
                    "(re-running the cell that made it does that)."
                ).format(what=what)
            )

    # -- public ---------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once ``close()`` has been called."""
        return self._closed.is_set()

    @property
    def errors(self) -> tuple[BaseException, ...]:
        """Errors the background threads met, oldest first (a snapshot)."""
        with self._errors_lock:
            return tuple(self._errors)

    def close(self) -> None:
        """Stop the workers, close the sockets. Safe to call many times.

        Raises :class:`WorkerError` (once, on the first close) if a worker
        thread met an unexpected error; the errors stay in ``.errors``
        (with those a worker lived through, which do not raise here).
        """
        with self._close_lock:
            if self._closed.is_set():
                return
            self._closed.set()
            try:
                self._wake()
                current = threading.current_thread()
                stuck = []
                for thread in self._threads:
                    if thread is current:
                        continue
                    try:
                        thread.join(JOIN_TIMEOUT)
                    except RuntimeError:
                        continue  # never started (start() failed): nothing to wait for
                    if thread.is_alive():
                        stuck.append(thread.name)
                if stuck:
                    self._record_error(
                        WorkerError(
                            _("threads did not stop within {seconds}s: {names}").format(
                                seconds=JOIN_TIMEOUT, names=stuck
                            )
                        )
                    )
            finally:
                self._release()
                _registry.unregister(self)
        self._raise_worker_errors()

    def _raise_worker_errors(self) -> None:
        with self._errors_lock:
            errors = tuple(e for e in self._errors if id(e) not in self._survived)
        if errors and not self._reported:
            self._reported = True
            first = errors[0]
            more = (
                _(" (and {n} more, see .errors)").format(n=len(errors) - 1)
                if len(errors) > 1
                else ""
            )
            raise WorkerError(
                _("the {kind}'s background thread failed: {error!r}").format(
                    kind=_(self.kind), error=first
                )
                + more
            ) from first

    def __enter__(self: _E) -> _E:
        # Typed as the subclass, so `with TCPEchoServer() as s:` gives s its
        # real type (3.10 has no typing.Self).
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        # An exception is already on its way: close, but don't mask it.
        try:
            self.close()
        except WorkerError:
            pass

    def __del__(self) -> None:
        # A forgotten endpoint must not keep a thread and a port alive. The
        # registry holds a strong reference, so this runs only for endpoints
        # whose constructor failed half-way, or at interpreter shutdown.
        closed = getattr(self, "_closed", None)
        if closed is not None and not closed.is_set():
            try:
                self.close()
            except Exception:
                pass


def close_socket(sock: socket.socket | None) -> None:
    """Close a socket, ignoring errors (used on shutdown paths only)."""
    if sock is None:
        return
    try:
        sock.close()
    except OSError:
        pass
