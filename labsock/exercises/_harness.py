"""Running a student's code under a check: threads, deadlines, and cleaning up after it.

A student's function runs in a daemon thread (:class:`StudentCall`), so a
check can wait for it with a timeout instead of hanging the kernel. Whatever
the check opens (listeners, clients, links) is owned by a :class:`CheckRun`
and closed when the check ends, and the sockets it handed to the student's
code are closed with them. What the check cannot close (a thread of the
student's that never returns, a socket the student's code left open) is
reported as a note in the report, never with ``warnings.warn``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._endpoints.base import close_socket
from labsock.exercises._report import Criterion, Report, Status

__all__ = [
    "CheckRun",
    "NotAttempted",
    "StudentCall",
    "describe",
    "force_shutdown_connections",
    "hang_up",
    "inet_sockets",
]

T = TypeVar("T")

# How long the end of a check waits for threads of the student's to finish
# once their sockets are closed.
_GRACE = 1.0
_HIDDEN_DIRS = {
    os.path.dirname(os.path.abspath(__file__)),
    os.path.dirname(os.path.abspath(socket.__file__)),
}


class NotAttempted(Exception):
    """Raised inside a check when the starter code still raises NotImplementedError."""


def describe(exc: BaseException) -> str:
    """``ValueError: bad value (in serve, line 12)``: what went wrong, and where."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__)
    # The innermost frame outside the checks is where the student's code failed
    # (frames inside the socket module say less than the line that called it).
    own = [f for f in frames if os.path.dirname(os.path.abspath(f.filename)) not in _HIDDEN_DIRS]
    if own:
        frame = own[-1]
        text += _(" (in {function}, line {line})").format(function=frame.name, line=frame.lineno)
    return text


class StudentCall(Generic[T]):
    """One call of the student's function, in a daemon thread of its own.

    ``done`` is set when the function returned or raised; ``result`` or
    ``error`` then says which. The thread is a daemon: a call that never
    returns cannot keep the kernel from exiting.
    """

    def __init__(self, func: Callable[..., T], args: tuple[Any, ...], name: str) -> None:
        self.func = func
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.started = time.perf_counter()
        self.finished_at: float | None = None
        self.thread = threading.Thread(
            target=self._run, args=args, name=f"labsock-exercise-{name}", daemon=True
        )
        self.thread.start()

    def _run(self, *args: Any) -> None:
        try:
            self.result = self.func(*args)
        except BaseException as exc:  # recorded, never printed from a thread
            self.error = exc
        finally:
            self.finished_at = time.perf_counter()
            self.done.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True once the call has finished."""
        return self.done.wait(timeout)

    @property
    def finished(self) -> bool:
        return self.done.is_set()

    @property
    def not_implemented(self) -> bool:
        return isinstance(self.error, NotImplementedError)

    @property
    def elapsed(self) -> float:
        end = self.finished_at if self.finished_at is not None else time.perf_counter()
        return end - self.started


class CheckRun:
    """The bookkeeping of one check: criteria found, things to close, notes.

    Use as a context manager; :attr:`report` holds the result afterwards::

        with CheckRun("echo_server", N_("Exercise 1: ...")) as run:
            run.check(N_("echoes"), got == sent, hint=_("..."))
        report = run.report

    The title and the criterion names are English keys marked with ``N_``
    (or a :class:`~labsock.exercises._report.Phrase`), translated where the
    report shows them; hints, details and notes are translated when the
    check builds them (``_("... {x} ...").format(x=...)``).
    """

    def __init__(self, exercise: str, title: str) -> None:
        self.exercise = exercise
        self.title = title
        self.criteria: list[Criterion] = []
        self.notes: list[str] = []
        self.attempted = True
        self.stopping = threading.Event()  # tells the check's own workers to stop
        self._sockets: list[socket.socket] = []
        self._closers: list[Callable[[], None]] = []
        self._calls: list[StudentCall[Any]] = []
        self._workers: list[threading.Thread] = []
        self.threads_before = frozenset(threading.enumerate())
        self._inet_before = inet_sockets()
        self._started = time.perf_counter()
        self._report: Report | None = None
        # A thread of the student's that dies of an exception would print a
        # traceback into whichever cell ran last (and fail a pytest run): while
        # the check runs, such exceptions are collected for the report instead.
        self._crashes: list[str] = []
        self._previous_hook = threading.excepthook
        threading.excepthook = self._thread_crashed

    def _thread_crashed(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or isinstance(args.exc_value, SystemExit):
            return
        name = args.thread.name if args.thread is not None else _("a thread")
        self._crashes.append(f"{name}: {describe(args.exc_value)}")

    # -- criteria ------------------------------------------------------------
    def add(self, name: str, status: Status, hint: str = "", detail: str = "") -> bool:
        self.criteria.append(Criterion(name, status, hint if status != "passed" else "", detail))
        return status == "passed"

    def check(self, name: str, ok: bool, hint: str = "", detail: str = "") -> bool:
        """Record ``name`` as passed when ``ok``, else failed with ``hint``; return ``ok``."""
        return self.add(name, "passed" if ok else "failed", hint, detail)

    def skip(self, name: str, reason: str) -> None:
        self.add(name, "skipped", reason)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def not_attempted(self) -> None:
        raise NotAttempted

    # -- what to clean up ----------------------------------------------------
    def own(self, sock: socket.socket) -> socket.socket:
        """Close ``sock`` when the check ends (also if it was handed to the student)."""
        self._sockets.append(sock)
        return sock

    def on_close(self, closer: Callable[[], None]) -> None:
        """Call ``closer`` when the check ends (before the sockets are closed)."""
        self._closers.append(closer)

    def call(self, func: Callable[..., T], *args: Any, name: str) -> StudentCall[T]:
        """Start ``func(*args)`` in a daemon thread; the check waits for it at the end."""
        call: StudentCall[T] = StudentCall(func, args, name)
        self._calls.append(call)
        return call

    def worker(self, target: Callable[[], None], name: str) -> threading.Thread:
        """A thread of the check's own (a client, a peer); it must watch ``stopping``."""
        thread = threading.Thread(target=target, name=f"labsock-check-{name}", daemon=True)
        self._workers.append(thread)
        thread.start()
        return thread

    # -- the end ---------------------------------------------------------------
    def __enter__(self) -> CheckRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        swallow = False
        if isinstance(exc, NotAttempted):
            self.attempted = False
            self.criteria.clear()
            swallow = True
        elif isinstance(exc, Exception):
            # A bug in a check must not look like the student's: say so, and
            # keep the traceback's last line so it can be reported.
            self.add(
                N_("the check ran to the end"),
                "failed",
                _("the check itself stopped with an error; please tell your teacher"),
                describe(exc),
            )
            swallow = True
        self._cleanup()
        self._report = Report(
            self.exercise,
            self.title,
            self.attempted,
            tuple(self.criteria),
            tuple(self.notes),
            time.perf_counter() - self._started,
        )
        return swallow

    @property
    def report(self) -> Report:
        if self._report is None:
            raise RuntimeError(_("the check has not finished yet"))
        return self._report

    def _cleanup(self) -> None:
        try:
            self._close_everything()
        finally:
            threading.excepthook = self._previous_hook
        if self._crashes:
            shown = "; ".join(self._crashes[:3])
            more = (
                _(" (and {n} more)").format(n=len(self._crashes) - 3)
                if len(self._crashes) > 3
                else ""
            )
            self.note(
                _(
                    "{n} thread(s) of your code stopped with an exception: "
                    "{shown}{more}. Catch OSError where a peer may vanish."
                ).format(n=len(self._crashes), shown=shown, more=more)
            )

    def _close_everything(self) -> None:
        self.stopping.set()
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception as exc:
                self.note(
                    _("closing one of the check's helpers failed: {error}").format(
                        error=describe(exc)
                    )
                )
        for sock in reversed(self._sockets):
            hang_up(sock)
        deadline = time.monotonic() + _GRACE
        for thread in self._workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        for call in self._calls:
            call.wait(max(0.0, deadline - time.monotonic()))
            if not call.finished:
                self.note(
                    _(
                        "your {function}() is still running in a background thread: "
                        "the check closed its sockets but could not stop it. It keeps running "
                        "until it returns by itself or you restart the kernel."
                    ).format(function=call.func.__name__)
                )
        self._note_leftover_threads(deadline)
        self._note_leftover_sockets()

    def _note_leftover_threads(self, deadline: float) -> None:
        ours = {c.thread for c in self._calls} | set(self._workers)

        def extra() -> list[threading.Thread]:
            return [
                t
                for t in threading.enumerate()
                if t not in self.threads_before and t not in ours and t.is_alive()
            ]

        left = extra()
        while left and time.monotonic() < deadline:
            time.sleep(0.01)
            left = extra()
        if left:
            names = ", ".join(sorted(t.name for t in left)[:5])
            self.note(
                _(
                    "{n} thread(s) your code started are still running ({names}): "
                    "make them end when their client leaves or when stop is set."
                ).format(n=len(left), names=names)
            )

    def _note_leftover_sockets(self) -> None:
        after = inet_sockets()
        left = sorted(after - self._inet_before)
        if left:
            shown = "; ".join(_describe_socket(s) for s in left[:4])
            more = _(" and {n} more").format(n=len(left) - 4) if len(left) > 4 else ""
            self.note(
                _(
                    "{n} socket(s) opened during the check are still open: {shown}{more}. "
                    "Close every socket your code opens (a `with` block does it for you)."
                ).format(n=len(left), shown=shown, more=more)
            )


# -- the process's own sockets -------------------------------------------------
SocketKey = tuple[int, str, str, str]


def inet_sockets() -> set[SocketKey]:
    """This process's TCP and UDP sockets now: ``(fd, type, local, remote)``."""
    import psutil

    try:
        conns = psutil.Process().net_connections(kind="inet")
    except (psutil.Error, OSError):  # some platforms need privileges: then report nothing
        return set()
    found: set[SocketKey] = set()
    for c in conns:
        kind = "TCP" if c.type == socket.SOCK_STREAM else "UDP"
        local = f"{c.laddr.ip}:{c.laddr.port}" if c.laddr else "-"
        remote = f"{c.raddr.ip}:{c.raddr.port}" if c.raddr else "-"
        found.add((int(c.fd), kind, local, remote))
    return found


def _describe_socket(key: SocketKey) -> str:
    _fd, kind, local, remote = key
    return f"{kind} {local}" + (f" -> {remote}" if remote != "-" else "")


def force_shutdown_connections(port: int) -> int:
    """Shut down every TCP connection of this process whose local port is ``port``.

    The sockets a student's server accepted on a listener the check created:
    shutting them down (through a duplicate descriptor, so the student's own
    socket object stays valid) makes a blocked or spinning ``recv``/``send``
    return or raise, which ends a server that ignores ``stop``. Returns how
    many connections were shut down.
    """
    import psutil

    try:
        conns = psutil.Process().net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return 0
    count = 0
    for c in conns:
        if not (c.laddr and c.raddr and c.laddr.port == port and c.fd >= 0):
            continue
        try:
            dup = socket.socket(fileno=os.dup(c.fd))
        except OSError:
            continue  # closed meanwhile
        try:
            dup.shutdown(socket.SHUT_RDWR)
            count += 1
        except OSError:
            pass
        finally:
            dup.close()
    return count


def hang_up(sock: socket.socket) -> None:
    """Shut ``sock`` down, then close it: wakes a thread blocked in it, which close() does not.

    On Linux a ``recv`` blocked in another thread stays blocked when the
    socket is closed; ``shutdown`` wakes it (for UDP sockets too), and its
    next call fails or returns ``b""``.
    """
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected, or already closed
    close_socket(sock)
