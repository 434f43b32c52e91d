"""Check of exercise 1: a TCP echo server, ``echo_server(listener, stop)``.

The check's clients are real TCP clients on loopback, some of them
adversarial: a client that writes one byte at a time, one that sends a
megabyte (so the server's ``send`` can only take part of it), one that
resets the connection in the middle of a message. Exercise 6 (in
``_checks_concurrent``) reuses the stop criterion and the hints.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable

from labsock._core.i18n import N_
from labsock._core.i18n import gettext as _
from labsock._core.validate import check_seconds
from labsock.exercises._clients import (
    connect,
    read_exactly,
    read_until_eof,
    reset,
    send_bytewise,
    send_while_reading,
)
from labsock.exercises._harness import CheckRun
from labsock.exercises._report import Report
from labsock.exercises._server_under_test import STOP_GRACE, ServerUnderTest, StopOutcome

__all__ = ["MESSAGE", "Server", "check_echo_server", "check_stop", "close_hint"]

Server = Callable[[socket.socket, threading.Event], object]

MESSAGE = b"hello, echo server"
BYTEWISE = b"one byte at a time"
LARGE = 1 << 20
_ONE_RECV = 65_536  # the most a server's recv() usually asks for


def close_hint() -> str:
    """The hint for a server that keeps a finished client's connection open (exercises 1, 6)."""
    return _(
        "when recv() returns b'' the client has finished sending: close that connection "
        "(leave the `with conn:` block) and go back to accept()"
    )


def _no_reply_hint(timeout: float) -> str:
    return _(
        "nothing came back within {timeout:g} s: after recv(), send the same bytes back "
        "with conn.sendall(data)"
    ).format(timeout=timeout)


def _differs_hint() -> str:
    return _("the echo differs from what was sent: send back exactly what recv() returned")


def _echo_once(
    run: CheckRun,
    server: ServerUnderTest,
    name: str,
    timeout: float,
    *,
    extra_hint: str = "",
    after: str | None = None,
) -> bool:
    """One client, one message, one echo: the criterion ``name``."""
    if not server.alive() and not server.end_reported:
        run.check(name, False, server.ended_hint(after))
        return False
    if not server.usable():
        run.skip(name, server.unusable_reason())
        return False
    with connect(server.address, timeout) as client:
        client.sendall(MESSAGE)
        got, _eof = read_exactly(client, len(MESSAGE), timeout, server.alive)
    if got == MESSAGE:
        return run.check(name, True)
    if not server.alive():
        hint = server.ended_hint(after)
    elif not got:
        hint = extra_hint or _no_reply_hint(timeout)
        server.stuck_reason = _("not checked: your server stopped answering new clients")
    else:
        hint = _("the echo differs from what was sent: send back exactly the bytes recv() returned")
    return run.check(
        name, False, hint, _("sent {sent}, got {got}").format(sent=repr(MESSAGE), got=repr(got))
    )


def check_stop(run: CheckRun, server: ServerUnderTest, name: str) -> StopOutcome:
    """The criterion ``name``: the server returns soon after stop; returns how it ended."""
    # A server that just finished with the last client needs a moment to get
    # back to accept(): stop is set while it waits there, as it would be in use.
    if server.alive() and server.stuck_reason is None:
        time.sleep(0.3)
    # A server known to be stuck with a client cannot notice stop: end it soon.
    outcome = server.stop_and_wait(STOP_GRACE if server.stuck_reason is None else 0.3)
    if outcome == "stopped":
        run.check(name, True)
        return outcome
    if outcome == "ended before":
        run.skip(name, _("not checked: your server had already ended"))
        return outcome
    if server.stuck_reason is not None:
        run.check(
            name,
            False,
            _(
                "your server was still busy with an earlier client when stop was set, so it "
                "never got back to its loop to look at stop: fix the criteria above first"
            ),
            _("the check shut the listener and the connections down to end it"),
        )
        return outcome
    run.check(
        name,
        False,
        _(
            "your server did not return within {grace:g} s after stop was set: give the "
            "listener a timeout (listener.settimeout(0.2)), catch TimeoutError around accept(), "
            "and check stop.is_set() each time round the loop"
        ).format(grace=STOP_GRACE),
        _("the check shut the listener and the connections down to end it")
        if outcome == "forced"
        else _("even shutting the sockets down did not end it"),
    )
    return outcome


# -- exercise 1 ----------------------------------------------------------------------
def check_echo_server(echo_server: Server, *, timeout: float = 2.0) -> Report:
    """Check a TCP echo server written as ``echo_server(listener, stop)``.

    The check binds and listens on ``listener`` itself (127.0.0.1, a free
    port) and runs ``echo_server`` in a background thread. Then real clients
    connect one after another: a short message; a second client; a message
    sent one byte at a time; 1 MiB (which a ``send()`` cannot take in one go);
    a client that resets mid-message, then one more client. Finally it sets
    ``stop`` and expects the server to return within 2 s.

    Args:
        echo_server: the function to check.
        timeout: seconds to wait for each echo.

    Returns:
        A :class:`Report`; ``report.passed`` is True when no criterion
        failed. Starter code that still raises ``NotImplementedError`` gives a
        report that says "not attempted yet".

    Example:
        >>> check_echo_server(echo_server).passed  # with your working functions
        True
    """
    timeout = check_seconds(timeout, name="timeout", allow_zero=False, maximum=60)
    with CheckRun("echo_server", N_("Exercise 1: a TCP echo server")) as run:
        server = ServerUnderTest(run, echo_server, "echo-server")
        server.require_attempt()
        _first_client(run, server, timeout)
        _echo_once(
            run,
            server,
            N_("serves a second client after the first one left"),
            timeout,
            after=_("after the first client"),
            extra_hint=_(
                "your server did not answer a second client: after the first client "
                "left, go back to accept() for the next one (accept() belongs inside the loop)"
            ),
        )
        _bytewise_client(run, server, timeout)
        _large_client(run, server, timeout)
        _resetting_client(run, server, timeout)
        check_stop(run, server, N_("returns soon after stop is set"))
    return run.report


def _first_client(run: CheckRun, server: ServerUnderTest, timeout: float) -> None:
    closes = N_("closes the connection when the client has finished")
    echoes = N_("echoes a short message")
    with connect(server.address, timeout) as client:
        client.sendall(MESSAGE)
        got, eof = read_exactly(client, len(MESSAGE), timeout, server.alive)
        if got != MESSAGE:
            if not got and server.alive():
                hint = _no_reply_hint(timeout)
                server.stuck_reason = _("not checked: your server never echoed the first client")
            elif not got:
                hint = server.ended_hint()
            else:
                hint = _differs_hint()
            seen = _("sent {sent}, got {got}").format(sent=repr(MESSAGE), got=repr(got))
            run.check(echoes, False, hint, seen)
            run.skip(closes, _("not checked: the server must echo first"))
            return
        run.check(echoes, True)
        client.shutdown(socket.SHUT_WR)
        rest, eof = read_until_eof(client, timeout, server.alive)
    if eof and not rest:
        run.check(closes, True)
        return
    if not eof and server.alive():
        server.stuck_reason = _("not checked: your server is still busy with the first client")
    run.check(
        closes,
        False,
        close_hint(),
        _("sent {n} unexpected bytes after the echo").format(n=len(rest))
        if rest
        else _("the connection was still open {timeout:g} s after the client finished").format(
            timeout=timeout
        ),
    )


def _bytewise_client(run: CheckRun, server: ServerUnderTest, timeout: float) -> None:
    name = N_("echoes a message that arrives one byte at a time")
    if not server.usable():
        run.skip(name, server.unusable_reason())
        return
    with connect(server.address, timeout) as client:
        try:
            send_bytewise(client, BYTEWISE)
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed early: what came back tells why
        got, eof = read_until_eof(client, timeout, server.alive)
    if got == BYTEWISE:
        run.check(name, True)
        return
    if eof and BYTEWISE.startswith(got):
        hint = _(
            "only {got} of {sent} bytes came back before your server closed the "
            "connection: TCP may deliver a message in many pieces, one recv() each. Keep "
            "calling recv() until it returns b''"
        ).format(got=len(got), sent=len(BYTEWISE))
    elif not server.alive():
        hint = server.ended_hint()
    else:
        hint = _("the echo differs from what was sent: send back every piece recv() returns")
    run.check(
        name,
        False,
        hint,
        _("sent {sent} one byte at a time, got {got}").format(sent=repr(BYTEWISE), got=repr(got)),
    )


def _large_client(run: CheckRun, server: ServerUnderTest, timeout: float) -> None:
    name = N_("echoes 1 MiB completely (send() takes only part of it)")
    if not server.usable():
        run.skip(name, server.unusable_reason())
        return
    payload = random.Random(1).randbytes(LARGE)
    with connect(server.address, timeout) as client:
        echo, eof, send_error = send_while_reading(client, payload, timeout, server.alive)
    if echo == payload:
        run.check(name, True)
        return
    if not server.alive():
        hint = server.ended_hint()
    elif (
        len(echo) < len(payload)
        and eof
        and payload.startswith(echo)
        and (send_error is not None or len(echo) <= _ONE_RECV)
    ):
        # The server hung up after echoing no more than one recv() can return (or
        # while the client was still sending): it read once and left.
        hint = _(
            "your server sent back the first {n:,} bytes, then closed the connection: "
            "it called recv() once, but 1 MiB arrives in many pieces. Keep calling recv() "
            "(and sendall() each piece) until recv() returns b''"
        ).format(n=len(echo))
    elif len(echo) < len(payload) and payload.startswith(echo):
        hint = _(
            "the echo stopped part-way. Two causes fit: send() sends only part of what you give "
            "it (it returns how many bytes it took): use sendall(); or your loop stopped "
            "calling recv() before the client had finished: keep calling it until it returns b''"
        )
    elif len(echo) < len(payload):
        hint = _(
            "bytes are missing from the middle of the echo: send() may send only part of what "
            "you give it (it returns how many bytes it took). Use sendall(), which loops until "
            "all is sent"
        )
    else:
        hint = _differs_hint()
    run.check(
        name,
        False,
        hint,
        _("{got:,} of {sent:,} bytes came back").format(got=len(echo), sent=len(payload)),
    )


def _resetting_client(run: CheckRun, server: ServerUnderTest, timeout: float) -> None:
    name = N_("keeps serving after a client vanished mid-message")
    if not server.usable():
        run.skip(name, server.unusable_reason())
        return
    client = connect(server.address, timeout)
    try:
        client.sendall(b"half a mess")
        # Once its echo is back the server is waiting in recv() for more.
        read_exactly(client, len(b"half a mess"), timeout, server.alive)
    finally:
        reset(client)
    if not server.alive() and server.call.error is None and not server.end_reported:
        server.end_reported = True
        run.check(
            name,
            False,
            _(
                "your server returned when a client reset its connection: catch OSError "
                "(ConnectionResetError) around that one client's recv()/sendall() only, close "
                "that connection and go back to accept()"
            ),
        )
        return
    _echo_once(
        run,
        server,
        name,
        timeout,
        extra_hint=_("your server stopped answering after a client reset its connection"),
    )
