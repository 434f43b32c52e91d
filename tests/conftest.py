"""Shared fixtures: every test must leave no thread, socket or endpoint behind."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import labsock
from tests import loopback_audit


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except FileNotFoundError:  # not Linux
        import psutil

        proc = psutil.Process()
        return proc.num_fds() if hasattr(proc, "num_fds") else proc.num_handles()


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Threads, file descriptors and live endpoints are back where they started."""
    threads_before = set(threading.enumerate())
    fds_before = _open_fds()
    yield
    live = labsock.live_endpoints()
    labsock.close_all()
    # Threads finish a moment after close() returns only if close() failed to
    # join them; give them a short grace before calling it a leak.
    deadline = time.monotonic() + 2.0
    while True:
        extra = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        fds_now = _open_fds()
        if (not extra and fds_now <= fds_before) or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not live, f"endpoints left open by the test: {live}"
    assert not extra, f"threads leaked: {[t.name for t in extra]}"
    assert fds_now <= fds_before, f"file descriptors leaked: {fds_before} -> {fds_now}"


# -- nothing leaves loopback: an audit hook for the whole session ------------------
# (tests/loopback_audit.py says what it allows and why). Installed at import,
# before any test or fixture makes a socket; kernels that nbval starts in this
# session load it through an IPython startup file and log what they block.
loopback_audit.install()
_KERNEL_AUDIT: dict[str, Path] = {}


def pytest_configure(config: pytest.Config) -> None:
    directory = Path(tempfile.mkdtemp(prefix="labsock-audit-"))
    log = directory / "blocked.jsonl"
    _KERNEL_AUDIT.update(directory=directory, log=log)
    os.environ.update(loopback_audit.kernel_startup(directory / "ipython", log))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    blocked = loopback_audit.violations()
    if "log" in _KERNEL_AUDIT:
        blocked += loopback_audit.logged(_KERNEL_AUDIT["log"])
        shutil.rmtree(_KERNEL_AUDIT["directory"], ignore_errors=True)
    if blocked:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("")
            reporter.write_sep("=", "socket calls aimed beyond loopback (blocked)", red=True)
            for why in blocked:
                reporter.write_line(f"  {why}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def nothing_leaves_loopback() -> Iterator[None]:
    """Fail the test during which a socket call was aimed beyond loopback."""
    before = len(loopback_audit.violations())
    yield
    new = loopback_audit.violations()[before:]
    assert not new, f"socket calls aimed beyond loopback (blocked by the audit hook): {new}"


def tcp_echo(address: tuple[str, int], payload: bytes) -> bytes:
    """Send ``payload`` to a TCP echo while reading concurrently, then half-close.

    Reading while sending avoids the deadlock of a big payload filling both
    directions' buffers; the half-close tells the echo we are done.
    """
    with socket.create_connection(address, timeout=10.0) as client:
        errors: list[BaseException] = []

        def send() -> None:
            try:
                client.sendall(payload)
                client.shutdown(socket.SHUT_WR)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        chunks = []
        while True:
            chunk = client.recv(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        sender.join(10.0)
        assert not errors
        return b"".join(chunks)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` runs out; return its last value.

    For counters a server thread updates just after the client saw the
    effect (the echo arrives before the server counts it as sent).
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def _can_bind_ipv6() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


HAS_IPV6 = _can_bind_ipv6()
needs_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="this host cannot bind ::1")


def needs_tool(name: str) -> pytest.MarkDecorator:
    """Skip (with the reason) when an outside program such as socat is missing."""
    return pytest.mark.skipif(
        shutil.which(name) is None,
        reason=f"{name} is not installed (make test installs it with apt-get where it can)",
    )


@pytest.fixture(scope="session")
def fonts_loaded() -> None:
    """Draw once before leak checks count file descriptors.

    Matplotlib keeps each font file it has drawn with open for the life of the
    process (a cache, not a leak); the first figure of a test would otherwise
    look like a leak of a descriptor or two to ``no_leaks``.
    """
    from labsock import plots
    from labsock._core.records import build_records
    from labsock._results.ping import PingResult

    records = build_records([0.0, 0.001, 0.002], [(1, 0.0015), (0, 0.002), (0, 0.0021)])
    result = PingResult("udp", ("127.0.0.1", 9), 3, 64, None, 1.0, records, (1, 0, 0))
    plots.to_png(plots.dashboard(result))
    plots.to_png(plots.compare(result, result))
    # The sequence diagram also draws bold and italic text: more font files.
    trace = labsock.Trace()
    with trace.socket(socket.AF_INET, socket.SOCK_DGRAM, actor="client") as s:
        s.bind(("127.0.0.1", 0))
    plots.to_png(plots.sequence(trace))
