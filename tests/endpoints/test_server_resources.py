"""The TCP echo server under a busy class: out of descriptors, out of threads, many clients.

The server runs in a child process (tests/endpoints/_server_child.py) whose limits are
lowered for real; the clients are real sockets in this process, driven by
one selector so that a thousand of them need no thousand threads.
"""

from __future__ import annotations

import json
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labsock import TCPEchoServer, Trace
from labsock._endpoints.servers import default_backlog
from tests.helpers import tcp_echo

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="needs Linux /proc to lower and read limits"
)

ROOT = Path(__file__).resolve().parent.parent


class Child:
    """The server's process: one command in, one JSON answer out (with a timeout)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.endpoints._server_child"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)

    def ask(self, command: str, timeout: float = 30.0) -> dict[str, Any]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        if not self.selector.select(timeout):
            raise AssertionError(f"the server's process did not answer {command!r} in {timeout}s")
        line = self.proc.stdout.readline()
        assert line, f"the server's process died on {command!r}"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def wait_stats(self, predicate: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            stats = self.ask("stats")
            if predicate(stats) or time.monotonic() > deadline:
                return stats
            time.sleep(0.05)

    def stop(self) -> None:
        self.selector.close()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def child() -> Iterator[Child]:
    c = Child()
    try:
        yield c
    finally:
        c.stop()


def run_clients(port: int, count: int, size: int = 100, timeout: float = 60.0) -> dict[str, int]:
    """``count`` clients at once, each sending ``size`` bytes of its own and reading the echo.

    Every client stays connected until every client has its answer, so the
    server holds them all at the same time. Returns how many were served
    (byte-exact echo), told (closed or reset before a full echo), wrong
    (a different echo) and hanging (no answer by the timeout).
    """
    selector = selectors.DefaultSelector()
    clients: dict[socket.socket, dict[str, Any]] = {}
    outcome = {"served": 0, "told": 0, "wrong": 0, "hanging": 0}
    try:
        for i in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            payload = i.to_bytes(4, "big") * (size // 4)
            clients[sock] = {"payload": payload, "sent": 0, "got": bytearray(), "done": False}
            selector.register(sock, selectors.EVENT_WRITE | selectors.EVENT_READ)
        left = count
        deadline = time.monotonic() + timeout
        while left and time.monotonic() < deadline:
            for key, events in selector.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                state = clients[sock]
                try:
                    if events & selectors.EVENT_WRITE and state["sent"] < len(state["payload"]):
                        state["sent"] += sock.send(state["payload"][state["sent"] :])
                        if state["sent"] == len(state["payload"]):
                            selector.modify(sock, selectors.EVENT_READ)
                        continue
                    if not events & selectors.EVENT_READ:
                        continue
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:  # reset (or refused): the client was told
                    chunk = b""
                if chunk:
                    state["got"] += chunk
                    if len(state["got"]) < len(state["payload"]):
                        continue
                    verdict = "served" if state["got"] == state["payload"] else "wrong"
                else:
                    verdict = "told"
                outcome[verdict] += 1
                state["done"] = True
                selector.unregister(sock)
                left -= 1
        outcome["hanging"] = left
    finally:
        selector.close()
        for sock in clients:
            sock.close()
    return outcome


def test_backlog_defaults_to_the_kernels_cap() -> None:
    with open("/proc/sys/net/core/somaxconn", encoding="ascii") as f:
        somaxconn = int(f.read())
    assert default_backlog() == somaxconn
    # What listen() was really given, as a trace of the server's calls shows.
    for backlog, expected in ((None, somaxconn), (7, 7)):
        trace = Trace()
        with TCPEchoServer(backlog=backlog, trace=trace) as server:
            assert tcp_echo(server.address, b"x") == b"x"
        listens = [e.args for e in trace.events if e.call == "listen"]
        assert listens == [str(expected)]


def test_out_of_descriptors_clients_are_told_and_the_server_goes_on(child: Child) -> None:
    child.ask("nofile 128")
    port = child.ask("start")["port"]
    baseline = child.ask("stats")["fds"]
    # More clients than descriptors: those the server cannot take are reset.
    outcome = run_clients(port, 200, timeout=30.0)
    assert outcome["hanging"] == 0, outcome
    assert outcome["wrong"] == 0, outcome
    assert outcome["told"] > 0, outcome
    assert outcome["served"] > 0, outcome
    # A connection's socket is closed just after it stops counting as active.
    stats = child.wait_stats(lambda s: s["active"] == 0 and s["fds"] <= baseline)
    assert stats["active"] == 0, stats
    assert stats["refused"] >= outcome["told"], (stats, outcome)
    assert stats["out_of_resources"] > 0, stats
    assert stats["accepting"], stats
    assert stats["errors"] == ["OutOfResources"], stats
    assert "Too many sockets or threads" in stats["messages"][0]
    assert stats["fds"] <= baseline, (baseline, stats)
    # Descriptors are free again: the server serves as before.
    assert run_clients(port, 20, timeout=30.0) == {
        "served": 20,
        "told": 0,
        "wrong": 0,
        "hanging": 0,
    }
    assert child.ask("close")["raised"] is None


def test_a_thread_that_cannot_start_turns_the_client_away(child: Child) -> None:
    port = child.ask("start")["port"]
    start_fds = child.ask("stats")["fds"]
    assert run_clients(port, 1)["served"] == 1
    baseline = child.wait_stats(lambda s: s["active"] == 0 and s["fds"] == start_fds)
    assert baseline["fds"] == start_fds, baseline
    child.ask("no-threads")
    outcome = run_clients(port, 3, timeout=20.0)
    assert outcome == {"served": 0, "told": 3, "wrong": 0, "hanging": 0}
    stats = child.ask("stats")
    assert stats["accepting"], "the accept thread died"
    assert stats["active"] == 0, stats
    assert stats["connections"] == 1, stats
    assert stats["refused"] == 3, stats
    assert stats["out_of_resources"] == 3, stats
    assert stats["fds"] == baseline["fds"], "the accepted sockets leaked"
    assert stats["errors"] == ["OutOfResources"], stats
    child.ask("threads")
    assert run_clients(port, 2)["served"] == 2
    assert child.ask("close")["raised"] is None


def test_close_raises_only_labsock_errors_even_with_a_thread_that_never_started(
    child: Child,
) -> None:
    port = child.ask("start")["port"]
    child.ask("no-threads")
    # Keep the refused client's socket open while close() runs.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        child.wait_stats(lambda s: s["refused"] == 1)
        answer = child.ask("close")
    assert answer["raised"] is None, answer


@pytest.mark.slow
def test_a_thousand_clients_with_1024_descriptors(child: Child) -> None:
    """The issue's acceptance run: every client served byte-exact or told, none hanging."""
    child.ask("nofile 1024")
    # A Jupyter kernel already holds descriptors of its own (ZeroMQ, files).
    child.ask("hold 100")
    port = child.ask("start")["port"]
    baseline = child.ask("stats")["fds"]
    outcome = run_clients(port, 1000, timeout=90.0)
    assert outcome["hanging"] == 0, outcome
    assert outcome["wrong"] == 0, outcome
    assert outcome["served"] + outcome["told"] == 1000, outcome
    assert outcome["told"] > 0, f"the limit was never reached: {outcome}"
    stats = child.wait_stats(lambda s: s["active"] == 0 and s["fds"] <= baseline)
    assert stats["accepting"], stats
    assert stats["active"] == 0, stats
    assert stats["fds"] <= baseline, (baseline, stats)
    assert run_clients(port, 10) == {"served": 10, "told": 0, "wrong": 0, "hanging": 0}
    assert child.ask("close")["raised"] is None
