"""Re-running a notebook cell replaces the endpoints it made; close_all stops everything."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import labsock

# A real IPython shell in a fresh interpreter: the registry hooks into it once,
# and this test must not depend on whether another test imported IPython.
SCRIPT = textwrap.dedent(
    """
    import warnings
    warnings.simplefilter("error")
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()

    def run(source, cell_id=None):
        shell.run_cell(source, store_history=True, cell_id=cell_id).raise_error()
        return shell.user_ns["labsock"].live_endpoints()

    # The first cell imports labsock and starts a server in one go.
    first = "import labsock\\nserver = labsock.UDPEchoServer()"
    live = run(first)
    old = shell.user_ns["server"]
    print("first", len(live))
    live = run(first)
    print("rerun", len(live), old.closed)

    # Two endpoints in one cell live side by side; re-running replaces both.
    two = "a = labsock.TCPEchoServer(); b = labsock.UDPEchoServer()"
    print("two", len(run(two, cell_id="c2")))
    a_port = shell.user_ns["a"].port
    print("two-again", len(run(two, cell_id="c2")))

    # An edited cell (same cell id, new source) still replaces its endpoints,
    # and can rebind the very port the old server had.
    edited = f"a = labsock.TCPEchoServer(port={a_port})"
    print("edited", len(run(edited, cell_id="c2")))

    # Other cells' endpoints are left alone.
    print("other", len(run("c = labsock.UDPEchoServer()", cell_id="c3")))
    print("closed", shell.user_ns["labsock"].close_all())
    print("after", len(shell.user_ns["labsock"].live_endpoints()))
    """
)


def test_rerunning_a_cell_replaces_its_endpoints_in_a_real_ipython_shell() -> None:
    pytest.importorskip("IPython")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert lines["first"] == "1"
    assert lines["rerun"] == "1 True"  # the old server was closed, the new one lives
    assert lines["two"] == "3"
    assert lines["two-again"] == "3"
    assert lines["edited"] == "2"  # a and b replaced by one server on a's old port
    assert lines["other"] == "3"
    assert lines["closed"] == "3"
    assert lines["after"] == "0"


def test_close_all_stops_every_endpoint_outside_ipython() -> None:
    servers = [labsock.TCPEchoServer(), labsock.UDPEchoServer(), labsock.UDPEchoServer()]
    assert set(labsock.live_endpoints()) >= set(servers)
    assert labsock.close_all() >= 3
    assert all(s.closed for s in servers)
    assert labsock.live_endpoints() == []


def test_kernel_exit_stops_endpoints_and_exits_promptly() -> None:
    # A process that forgets to close its servers must still exit at once:
    # workers are daemon threads and atexit runs close_all().
    script = (
        "import labsock\n"
        "s = labsock.TCPEchoServer(); u = labsock.UDPEchoServer()\n"
        "labsock.ping(u.address, count=2)\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert "ResourceWarning" not in out.stderr


EDITS = textwrap.dedent(
    """
    import warnings
    warnings.simplefilter("error")
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()

    def run(source, cell_id=None):
        shell.run_cell(source, store_history=True, cell_id=cell_id).raise_error()
        return shell.user_ns["labsock"].live_endpoints()

    # JupyterLab: the very first cell imports labsock and starts a server on a
    # fixed port; the student edits that cell (same id) and runs it again.
    first = "import labsock\\nserver = labsock.TCPEchoServer()"
    run(first, cell_id="first")
    old = shell.user_ns["server"]
    port = old.port
    edited = f"import labsock\\nserver = labsock.TCPEchoServer(port={port})  # edited"
    live = run(edited, cell_id="first")
    print("edited-first", len(live), old.closed, shell.user_ns["server"].port == port)

    # No cell ids: an edited cell is a new cell, its old endpoint stays, but
    # only endpoints of the latest MAX_UNNAMED_CELLS id-less cells stay alive.
    from labsock._endpoints.registry import MAX_UNNAMED_CELLS, StaleEndpointWarning
    warnings.simplefilter("always", StaleEndpointWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StaleEndpointWarning)
        for n in range(MAX_UNNAMED_CELLS + 5):
            live = run(f"s = labsock.UDPEchoServer()  # version {n}")
    unnamed = len(live) - 1  # the JupyterLab cell's server lives on
    print("unnamed", unnamed, MAX_UNNAMED_CELLS, len(caught))
    print("kept-named", not shell.user_ns["server"].closed)
    print("closed", shell.user_ns["labsock"].close_all())
    """
)


def test_edited_cells_replace_what_they_made_and_id_less_cells_leak_boundedly() -> None:
    pytest.importorskip("IPython")
    out = subprocess.run(
        [sys.executable, "-c", EDITS], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    # The old server of the edited first cell was closed, its port reused.
    assert lines["edited-first"] == "1 True True"
    unnamed, limit, warned = map(int, lines["unnamed"].split())
    assert unnamed == limit
    assert warned == 5
    assert lines["kept-named"] == "True"
