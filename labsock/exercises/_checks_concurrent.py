"""Check of exercise 6: a server that serves 50 clients at once, ``server(listener, stop)``.

Fifty real clients connect and all stay connected; each expects its echo
while the others wait, which a server that serves one client at a time
cannot give. Then they write one byte each, round after round; a fifth of
them reset mid-message; the rest finish and expect the server to close.
"""

from __future__ import annotations

import socket
import threading
import time

from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.validate import check_count
from labsock._endpoints.sockettable import socket_table
from labsock.exercises._checks_servers import MESSAGE, Server, check_stop, close_hint
from labsock.exercises._clients import connect, exchange_all, read_exactly, reset
from labsock.exercises._harness import CheckRun
from labsock.exercises._report import Phrase, Report
from labsock.exercises._server_under_test import ServerUnderTest

__all__ = ["CLIENTS", "check_concurrent_server"]

CLIENTS = 50
_STALL = 1.0
# Each phase waits at most this long (a correct server needs a fraction of a
# second): the five phases, stop and the thread check together stay far below
# nbgrader's 30 s per cell, whatever the server does.
_PHASE = 4.0


def check_concurrent_server(server_func: Server, *, clients: int = CLIENTS) -> Report:
    """Check a server that serves many clients at once, written as ``server(listener, stop)``.

    ``clients`` (50) real clients connect and all stay connected; each sends
    a message and must get its echo while the others wait, which a server
    that handles one client at a time cannot do. Then all of them send one
    byte each, round after round, interleaved; a fifth of them reset their
    connection mid-message; the rest finish and expect the server to close.
    Finally ``stop`` is set: the server and every thread it started must end.

    Returns:
        A :class:`Report` ("not attempted yet" for the starter code).

    Example:
        >>> check_concurrent_server(concurrent_echo_server).passed  # with your working functions
        True
    """
    check_count(clients, name="clients", minimum=5, maximum=500)
    with CheckRun("concurrent_server", N_("Exercise 6: a server for 50 clients at once")) as run:
        server = ServerUnderTest(run, server_func, "concurrent-server")
        server.require_attempt()
        _Crowd(run, server, clients).check()
    return run.report


class _Crowd:
    """The clients of exercise 6 and the criteria they check."""

    def __init__(self, run: CheckRun, server: ServerUnderTest, clients: int) -> None:
        self.run, self.server, self.n = run, server, clients
        self.socks: list[socket.socket] = []

    def check(self) -> None:
        run, server = self.run, self.server
        at_once = Phrase(N_("serves {n} clients at once"), n=self.n)
        later = (
            N_("keeps each client's bytes apart (interleaved one-byte writes)"),
            N_("keeps serving when clients vanish mid-message"),
            N_("closes each connection when its client has finished"),
        )
        for _i in range(self.n):
            self.socks.append(run.own(connect(server.address)))
        if not self._all_at_once(at_once):
            for name in later:
                run.skip(
                    name, _("not checked: first make {n} clients work at once").format(n=self.n)
                )
        else:
            self._interleaved(later[0])
            self._resets(later[1])
            self._finish(later[2])
        for s in self.socks:
            s.close()
        outcome = check_stop(run, server, N_("returns soon after stop is set"))
        threads = N_("leaves no thread running once stopped")
        if outcome == "ended before":
            run.skip(threads, _("not checked: your server had ended before it was stopped"))
        elif outcome != "stopped":
            run.skip(threads, _("not checked: your server itself did not return when stopped"))
        else:
            self._threads_ended(threads)

    def _all_at_once(self, name: str) -> bool:
        messages = [f"client {i} says hello\n".encode() for i in range(self.n)]
        for s, m in zip(self.socks, messages, strict=True):
            s.sendall(m)
        got = exchange_all(
            self.socks, messages, stall=_STALL, timeout=_PHASE, alive=self.server.alive
        )
        served = got.complete(messages)
        wrong = [i for i in range(self.n) if bytes(got.received[i]) != messages[i]]
        if served == self.n and not wrong:
            return self.run.check(name, True)
        foreign = [i for i in range(self.n) if not messages[i].startswith(bytes(got.received[i]))]
        if not self.server.alive():
            hint = self.server.ended_hint()
        elif foreign:
            # Bytes reached a client that never sent them: the connections share state.
            hint = _(
                "{n} clients got bytes another client sent: your connections share "
                "one buffer (or one variable for 'the current connection'). Keep a buffer per "
                "connection, e.g. a dict {{conn: bytearray()}}, and send each one's bytes back "
                "to that connection only"
            ).format(n=len(foreign))
        elif served < self.n:
            hint = _(
                "only {served} of {n} clients got an echo while all {n} were "
                "connected: a server that serves one client at a time makes the others wait "
                "until it has finished. Give each client its own thread "
                "(threading.Thread(target=serve_one, args=(conn,))) or use selectors"
            ).format(served=served, n=self.n)
        else:
            hint = _("some clients got bytes that were not theirs: keep one buffer per connection")
        return self.run.check(
            name, False, hint, _("{served} of {n} echoed").format(served=served, n=self.n)
        )

    def _interleaved(self, name: str) -> None:
        if not self.server.alive():
            self.run.skip(name, self.server.unusable_reason())
            return
        rounds = 8
        messages = [bytes([65 + (i + r) % 26 for r in range(rounds)]) for i in range(self.n)]
        for s in self.socks:
            s.setblocking(True)
            s.settimeout(2.0)
        for r in range(rounds):
            for s, m in zip(self.socks, messages, strict=True):
                s.sendall(m[r : r + 1])
            time.sleep(0.002)
        got = exchange_all(
            self.socks, messages, stall=_STALL, timeout=_PHASE, alive=self.server.alive
        )
        wrong = [i for i in range(self.n) if bytes(got.received[i]) != messages[i]]
        hint = (
            self.server.ended_hint()
            if not self.server.alive()
            else _(
                "each connection needs its own loop (or its own buffer with selectors): bytes "
                "from one client must go back to that client only, all of them, in order"
            )
        )
        self.run.check(
            name,
            not wrong,
            hint,
            _("{wrong} of {n} clients got a wrong echo").format(wrong=len(wrong), n=self.n),
        )

    def _resets(self, name: str) -> None:
        if not self.server.alive():
            self.run.skip(name, self.server.unusable_reason())
            return
        vanish = self.n // 5
        for s in self.socks[:vanish]:
            s.setblocking(True)
            s.sendall(b"half a mess")  # the rest of the message never comes
        # The server has (very likely) read them before the resets arrive; then
        # its recv() or send() on those connections fails with a reset.
        exchange_all(
            self.socks[:vanish],
            [b"half a mess"] * vanish,
            stall=_STALL,
            timeout=_PHASE,
            alive=self.server.alive,
        )
        gone = {s.getsockname()[1] for s in self.socks[:vanish]}
        for s in self.socks[:vanish]:
            reset(s)
        del self.socks[:vanish]
        _let_the_server_see(self.server.address[1], gone)
        with connect(self.server.address) as newcomer:
            newcomer.sendall(MESSAGE)
            got, _eof = read_exactly(newcomer, len(MESSAGE), 3.0, self.server.alive)
        survivors = [bytes([66]) for _s in self.socks]
        for s in self.socks:
            s.setblocking(True)
            s.sendall(b"B")
        still = exchange_all(
            self.socks, survivors, stall=_STALL, timeout=_PHASE, alive=self.server.alive
        )
        ok = got == MESSAGE and still.complete(survivors) == len(self.socks)
        hint = (
            self.server.ended_hint()
            if not self.server.alive()
            else _(
                "after some clients reset their connections, your server stopped serving "
                "others: catch OSError (ConnectionResetError) for each connection, close it, and "
                "carry on with the rest"
            )
        )
        self.run.check(
            name,
            ok,
            hint,
            _("new client got {got}; {still} of {n} connected clients still echoed").format(
                got=repr(got), still=still.complete(survivors), n=len(self.socks)
            ),
        )

    def _finish(self, name: str) -> None:
        if not self.server.alive():
            self.run.skip(name, self.server.unusable_reason())
            return
        for s in self.socks:
            s.setblocking(True)
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        got = exchange_all(
            self.socks,
            [b""] * len(self.socks),
            stall=_STALL,
            timeout=_PHASE,
            until_eof=True,
            alive=self.server.alive,
        )
        closed = sum(got.eof)
        self.run.check(
            name,
            closed == len(self.socks),
            close_hint(),
            _("{closed} of {n} connections closed after their client finished").format(
                closed=closed, n=len(self.socks)
            ),
        )

    def _threads_ended(self, name: str) -> None:
        # Threads the server started: those alive now that were not before
        # the check, other than the server's own thread and the check's.
        def left() -> list[threading.Thread]:
            return [
                t
                for t in threading.enumerate()
                if t.is_alive()
                and t not in self.run.threads_before
                and not t.name.startswith(("labsock-check-", "labsock-exercise-"))
            ]

        deadline = time.monotonic() + 1.0
        while left() and time.monotonic() < deadline:
            time.sleep(0.01)
        still = left()
        self.run.check(
            name,
            not still,
            _(
                "threads of your server are still running after it returned: let each client's "
                "thread end when its client leaves, and join() them (or use selectors, one thread)"
            ),
            ", ".join(sorted(t.name for t in still)[:5]),
        )


def _let_the_server_see(server_port: int, client_ports: set[int], limit: float = 2.0) -> None:
    """Wait (at most ``limit`` s) until the server has dealt with the reset connections.

    A reset reaches the server's threads a moment after the client sends it,
    later still on a busy machine: until then a server that gives up on any
    client's error has not yet had the chance to. When the server's side of
    every reset connection has left the kernel's table (the server closed
    it), and one poll interval of a typical accept loop more, the check goes
    on, so that it judges what the server did with the resets, not the race.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        rows = socket_table(kinds="tcp").rows
        if not any(
            r.local is not None
            and r.local[1] == server_port
            and r.remote is not None
            and r.remote[1] in client_ports
            and r.state not in ("TIME_WAIT", "CLOSE")
            for r in rows
        ):
            break
        time.sleep(0.02)
    time.sleep(0.25)
