"""A student's TCP server, run by a check on a listener the check owns.

The exercise signature is ``server(listener, stop)``: the check creates,
binds and listens on ``listener`` itself, so it knows the address, can close
the socket, and can always stop the server: first politely (``stop.set()``),
then by shutting the listener and every connection accepted on it down.
"""

from __future__ import annotations

import socket
import threading
import traceback
from collections.abc import Callable
from typing import Literal

from labsock._core.guard import check_bind
from labsock._core.i18n import gettext as _
from labsock.exercises._harness import CheckRun, NotAttempted, describe, force_shutdown_connections

__all__ = ["STOP_GRACE", "ServerUnderTest"]

#: Seconds a server may take to return once ``stop`` is set: enough for an
#: accept loop that wakes up once a second to notice.
STOP_GRACE = 2.0

# The send buffer of every accepted connection (Linux copies the listener's,
# and doubles it): small enough that a 64 KiB send() really sends only part.
_SNDBUF = 16_384

StopOutcome = Literal["stopped", "forced", "stuck", "ended before"]

# Where the listener binds; it goes through the loopback guard all the same, so
# a change here can never make a check listen beyond this machine.
_HOST = "127.0.0.1"


class ServerUnderTest:
    """Runs ``func(listener, stop)`` in a daemon thread on a fresh loopback listener."""

    def __init__(
        self, run: CheckRun, func: Callable[[socket.socket, threading.Event], object], name: str
    ) -> None:
        self.run = run
        local = check_bind((_HOST, 0), what=_("the check's listener"), kind=socket.SOCK_STREAM)
        listener = run.own(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SNDBUF)
        listener.bind(local)
        listener.listen(128)
        self.listener = listener
        self.address: tuple[str, int] = listener.getsockname()[:2]
        self.stop = threading.Event()
        self.stuck_reason: str | None = None
        self.end_reported = False  # a criterion already said why the server ended
        self.call = run.call(func, listener, self.stop, name=name)
        run.on_close(self._ensure_stopped)

    def require_attempt(self, wait: float = 0.1) -> None:
        """Raise NotAttempted when the server raised NotImplementedError at once."""
        if self.call.wait(wait) and self.call.not_implemented:
            raise NotAttempted

    def alive(self) -> bool:
        return not self.call.finished

    def usable(self) -> bool:
        """Alive and not known to be stuck with an earlier client."""
        return self.alive() and self.stuck_reason is None

    def unusable_reason(self) -> str:
        """Why a criterion was not checked (the criterion that found out says more)."""
        if not self.alive():
            return _("not checked: your server is no longer running (see above)")
        return self.stuck_reason or ""

    def ended_hint(self, after: str | None = None) -> str:
        """Why the server thread is gone, and what to change.

        ``after`` says when it returned ("after the first client"), in the
        student's language; by default "before the check was done with it".
        """
        self.end_reported = True
        if after is None:
            after = _("before the check was done with it")
        error = self.call.error
        if error is None:
            return _(
                "your server returned {after}: keep accepting clients in a loop until stop "
                "is set (`while not stop.is_set(): ... listener.accept() ...`)"
            ).format(after=after)
        if isinstance(error, (ConnectionError, TimeoutError)):
            return _(
                "your server stopped with {error}: one client's trouble ended the "
                "whole server. Catch OSError around each client's conversation (and TimeoutError "
                "around accept()), close that connection and go back to accept()"
            ).format(error=describe(error))
        lines = [f.line or "" for f in traceback.extract_tb(error.__traceback__)]
        if any(".bind(" in line or ".listen(" in line for line in lines):
            return _(
                "your server crashed: {error}. The listener you are given is "
                "already bound and listening: call only accept() (and settimeout()) on it"
            ).format(error=describe(error))
        return _("your server crashed: {error}").format(error=describe(error))

    def stop_and_wait(self, grace: float = STOP_GRACE) -> StopOutcome:
        """Set ``stop``; if the server has not returned after ``grace`` s, force it."""
        if not self.alive():
            self.stop.set()
            return "ended before"
        self.stop.set()
        if self.call.wait(grace):
            return "stopped"
        self._force()
        return "forced" if self.call.wait(1.0) else "stuck"

    def _force(self) -> None:
        try:
            # Wakes an accept() blocked without a timeout (close() alone does not).
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        force_shutdown_connections(self.address[1])

    def _ensure_stopped(self) -> None:
        if self.alive():
            self.stop_and_wait(grace=0.5)
