"""Shared fixtures: every test must leave no thread, socket or endpoint behind."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course website, built once per session by ``scripts/build_site.py`` (minutes).

    The build folder: ``site/`` is the site, ``executed/`` the executed
    notebooks. Shared by the site test and the browser's offline test, so
    the notebooks are executed for the site only once.
    """
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    if shutil.which("npm") is None and not list((root / "build" / "vendor").glob("mermaid-*.js")):
        pytest.skip(
            "npm is not installed: the site ships Mermaid, fetched with npm pack "
            "(make test installs the Debian package 'npm' where apt-get and root rights are)"
        )
    build = tmp_path_factory.mktemp("site-build")
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / "build_site.py"), "--build-dir", str(build)],
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
        cwd=root,
    )
    if done.returncode != 0:
        pytest.fail(f"the site did not build:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return build
