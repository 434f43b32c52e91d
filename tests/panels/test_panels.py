"""The multicast lab and the socket stepper: real sockets behind every button."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

import labsock
from labsock._core.errors import ClosedError, UsageError
from labsock._results.fanout import MembershipEvent
from tests.helpers import wait_until

pytest.importorskip("ipywidgets")

from labsock._panels.multicast_lab import MulticastLab
from labsock._panels.stepper import CONVERSATION, SocketStepper

pytestmark = pytest.mark.usefixtures("fonts_loaded", "panel_fonts")

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def panel_fonts(fonts_loaded: None) -> None:
    """Draw both panels' figures once, before the leak checks count descriptors.

    The sequence diagram and the fan-out matrix use fonts (bold, oblique) the
    session-wide ``fonts_loaded`` figures do not, and matplotlib keeps each
    font file it has drawn with open for the life of the process.
    """
    stepper = SocketStepper()
    try:
        stepper.run()
    finally:
        stepper.close()
    lab = MulticastLab(receivers=2, burst=5)
    try:
        lab.run()
        lab.leave("r1")
        lab.run()
    finally:
        lab.close()


@pytest.fixture
def lab() -> Iterator[MulticastLab]:
    panel = MulticastLab(receivers=3, burst=20)
    try:
        yield panel
    finally:
        panel.close()


@pytest.fixture
def stepper() -> Iterator[SocketStepper]:
    panel = SocketStepper()
    try:
        yield panel
    finally:
        panel.close()


# -- MulticastLab ---------------------------------------------------------------


def test_lab_receiver_that_left_misses_exactly_the_burst_sent_while_it_was_out(
    lab: MulticastLab,
) -> None:
    lab.run()
    lab.leave("r2")
    lab.run()
    lab.rejoin("r2")
    result = lab.run()

    assert result.count == 60
    assert result.names == ("r1", "r2", "r3")
    assert result.missed("r2") == tuple(range(20, 40))
    assert result.missed("r1") == result.missed("r3") == ()
    assert result.lost == (0, 0, 0)
    assert result.unexpected == (0, 0, 0)
    assert result.expected[1] == (True,) * 20 + (False,) * 20 + (True,) * 20
    assert result.events == (
        MembershipEvent("r2", "leave", 20),
        MembershipEvent("r2", "join", 40),
    )
    # The numbering went on across bursts: one datagram per sequence number.
    assert [seq for seq, _ in result.arrivals[0]] == list(range(60))
    assert lab.last is result
    assert bytes(lab.figure.value).startswith(PNG)
    assert "every member got every one" in lab.status.value
    assert "missed while a member" in lab.table.value


def test_lab_added_receiver_hears_only_later_bursts_and_a_removed_one_keeps_its_row(
    lab: MulticastLab,
) -> None:
    lab.burst.value = 10
    lab.run()
    assert lab.add_receiver() == "r4"
    assert lab.chooser.options == ("r1", "r2", "r3", "r4")
    lab.run()
    old = lab.receiver("r1")
    lab.remove_receiver("r1")
    assert old.closed
    assert lab.members == ("r2", "r3", "r4")
    assert lab.chooser.options == ("r2", "r3", "r4")
    result = lab.run()

    assert result.names == ("r1", "r2", "r3", "r4")
    assert result.missed("r4") == tuple(range(10))
    assert result.missed("r1") == tuple(range(20, 30))
    assert result.lost == (0, 0, 0, 0)
    assert MembershipEvent("r4", "join", 10) in result.events
    assert MembershipEvent("r1", "leave", 20) in result.events
    assert "removed" in lab.table.value
    with pytest.raises(UsageError, match="no receiver 'r1'"):
        lab.leave("r1")


def test_lab_calls_a_receivers_first_join_a_join_not_a_rejoin(lab: MulticastLab) -> None:
    from labsock import plots

    lab.burst.value = 10
    lab.run()
    lab.add_receiver()
    assert "hears what is sent from #10 on" in lab.status.value
    result = lab.run()
    assert "r4 joined before #10" in lab.status.value
    assert "rejoined" not in lab.status.value
    fig = plots.fan_out(result)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "move-label"]
    notes = [t.get_text() for t in ax.texts if t.get_gid() == "row-note"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["joined before #10"]
    assert notes[3] == "10 sent before it joined"
    assert "not a member (not joined yet)" in legend
    assert "joined the group" in legend
    assert "(joined before #10: 10 sent before it joined)" in result.summary()


def test_lab_receiver_removed_before_any_burst_leaves_no_trace(lab: MulticastLab) -> None:
    lab.remove_receiver()  # the newest, r3
    lab.leave("r2")
    lab.rejoin("r2")  # back before any datagram: nothing to show
    result = lab.run()
    assert result.names == ("r1", "r2")
    assert result.events == ()
    assert result.received == (20, 20)


def test_lab_buttons_change_membership_and_show_errors_instead_of_raising(
    lab: MulticastLab,
) -> None:
    lab.chooser.value = "r1"
    lab.leave_button.click()
    assert not lab.receiver("r1").joined
    assert "r1 left the group" in lab.status.value
    lab.rejoin_button.click()
    assert lab.receiver("r1").joined
    for _ in range(3):
        lab.remove_button.click()
    assert len(lab.members) == 0
    lab.remove_button.click()  # nothing left to remove: said, not raised
    assert "Could not do that" in lab.status.value
    lab.add_button.click()
    assert list(lab.members) == ["r4"]
    lab.run_button.click()
    assert lab.last is not None
    assert lab.last.received == (20,)


def test_lab_close_closes_the_group_and_every_receiver() -> None:
    lab = MulticastLab(receivers=2, burst=5)
    lab.run()
    receivers = [lab.receiver(name) for name in lab.members]
    assert labsock.live_endpoints() == [lab.group]  # the group owns the rest
    lab.close()
    lab.close()  # twice is fine
    assert lab.closed
    assert all(r.closed for r in receivers)
    assert labsock.live_endpoints() == []
    with pytest.raises(ClosedError, match="run the cell"):
        lab.add_receiver()


def test_lab_refuses_bad_settings() -> None:
    with pytest.raises(UsageError, match="receivers"):
        MulticastLab(receivers=100)
    with pytest.raises(UsageError, match="burst"):
        MulticastLab(burst=0)


# -- SocketStepper ----------------------------------------------------------------


def test_stepper_run_makes_the_canonical_calls_in_order(stepper: SocketStepper) -> None:
    trace = stepper.run()
    assert [(e.role, e.call) for e in trace.events] == list(CONVERSATION["tcp"])
    assert all(e.ok for e in trace.events)
    assert trace.calls("client") == ["socket", "connect", "send", "recv", "close"]
    # The client closed first, so its end waits in TIME_WAIT.
    wait_until(
        lambda: stepper.states().get("client") == "TIME_WAIT",
        lambda: f"the client in TIME_WAIT: {stepper.states()}",
    )
    assert stepper.states()["server"] == "LISTEN"
    assert bytes(stepper.figure.value).startswith(PNG)
    assert "TIME_WAIT" in stepper.table.value


def test_stepper_shows_each_tcp_state_as_it_appears(stepper: SocketStepper) -> None:
    def step(actor: str, call: str) -> dict[str, str]:
        result = stepper.step(actor, call, draw=False)
        assert result.ok, result
        return stepper.states()

    step("server", "socket")
    step("server", "bind")
    assert step("server", "listen") == {"server": "LISTEN"}
    step("client", "socket")
    # The kernels finish the handshake before accept(): the connection waits in
    # the queue. The server's half may still be in SYN_RECV for a moment after
    # connect() returns (the last ACK is processed on its own time), hence the wait.
    step("client", "connect")
    queued = {
        "server": "LISTEN",
        "server (not accepted yet)": "ESTABLISHED",
        "client": "ESTABLISHED",
    }
    wait_until(
        lambda: stepper.states() == queued,
        lambda: f"the connection queued, not yet accepted: {stepper.states()}",
    )
    assert step("server", "accept") == {
        "server": "LISTEN",
        "server#1": "ESTABLISHED",
        "client": "ESTABLISHED",
    }
    step("client", "close")
    wait_until(
        lambda: stepper.states().get("client") == "FIN_WAIT2",
        lambda: f"the client in FIN_WAIT2: {stepper.states()}",
    )
    assert stepper.states()["server#1"] == "CLOSE_WAIT"
    assert stepper.step("server", "recv", draw=False).value == b""
    step("server", "close")
    wait_until(
        lambda: stepper.states() == {"server": "LISTEN", "client": "TIME_WAIT"},
        lambda: f"the server listening, the client in TIME_WAIT: {stepper.states()}",
    )
    stepper.step("server", "close")  # the second one closes the listening socket: drawn
    assert stepper.states() == {"client": "TIME_WAIT"}
    assert "TIME_WAIT" in stepper.table.value
    assert bytes(stepper.figure.value).startswith(PNG)


def test_stepper_time_wait_is_on_the_server_when_the_server_closes_first(
    stepper: SocketStepper,
) -> None:
    for actor, call in CONVERSATION["tcp"][:6]:  # up to accept
        assert stepper.step(actor, call, draw=False).ok
    stepper.step("server", "close", draw=False)
    # The server's side reaches FIN_WAIT2 when the client's ACK of its FIN
    # arrives, which on a loaded machine can be a moment after CLOSE_WAIT.
    wait_until(
        lambda: (
            stepper.states().get("client") == "CLOSE_WAIT"
            and stepper.states().get("server#1") == "FIN_WAIT2"
        ),
        lambda: f"the client in CLOSE_WAIT, the server's end in FIN_WAIT2: {stepper.states()}",
    )
    assert stepper.step("client", "recv", draw=False).value == b""
    stepper.step("client", "close", draw=False)
    # The client's socket leaves the table once the server's ACK of its FIN
    # arrives (LAST_ACK -> gone), a moment after the server enters TIME_WAIT.
    wait_until(
        lambda: (
            stepper.states().get("server#1") == "TIME_WAIT" and "client" not in stepper.states()
        ),
        lambda: f"the server's end in TIME_WAIT, the client's gone: {stepper.states()}",
    )


def test_stepper_redraws_the_diagram_and_the_table_after_each_drawn_step(
    stepper: SocketStepper,
) -> None:
    for actor, call in CONVERSATION["tcp"][:5]:  # up to connect
        stepper.step(actor, call, draw=False)
    assert bytes(stepper.figure.value) == b""
    # accept() starts a lifeline for a connection that has made no call yet.
    stepper.step("server", "accept")
    first = bytes(stepper.figure.value)
    assert first.startswith(PNG)
    assert "server#1" in stepper.table.value
    stepper.step("client", "send")
    assert bytes(stepper.figure.value) not in (b"", first)


def test_stepper_explains_calls_made_out_of_order_and_keeps_working(
    stepper: SocketStepper,
) -> None:
    assert stepper.step("server", "bind", draw=False).message == (
        "there is no server socket yet: press server.socket first"
    )
    stepper.step("server", "socket", draw=False)
    stepper.step("server", "bind", draw=False)
    twice = stepper.step("server", "bind", draw=False)
    assert not twice.ok
    assert isinstance(twice.error, OSError)
    assert twice.error.errno == errno.EINVAL
    assert "already bound" in twice.message

    stepper.step("client", "socket", draw=False)
    refused = stepper.step("client", "connect", draw=False)
    assert isinstance(refused.error, ConnectionRefusedError)
    assert "nothing is listening yet: press server.listen first" in refused.message
    assert "Connection refused" in stepper.status.value

    early = stepper.step("server", "accept", draw=False)
    assert isinstance(early.error, OSError)
    assert early.error.errno == errno.EINVAL
    assert "accept() needs a listening socket: call listen() first" in early.message

    assert stepper.step("server", "listen", draw=False).ok
    assert stepper.step("client", "connect", draw=False).ok  # the same socket connects now
    assert stepper.step("server", "accept", draw=False).ok
    nothing = stepper.step("server", "recv", draw=False)
    assert isinstance(nothing.error, TimeoutError)
    assert "nothing to receive yet" in nothing.message
    assert "the client has not sent anything" in nothing.message

    assert stepper.step("client", "send", b"ping", draw=False).value == 4
    assert stepper.step("server", "recv", draw=False).value == b"ping"
    stepper.step("client", "close", draw=False)
    closed = stepper.step("client", "send", draw=False)
    assert isinstance(closed.error, OSError)
    assert closed.error.errno == errno.EBADF
    assert "closed" in closed.message
    # Every call, failed or not, is in the trace with its real error.
    failed = [(e.actor, e.call) for e in stepper.trace.events if not e.ok]
    assert failed == [
        ("server", "bind"),
        ("client", "connect"),
        ("server", "accept"),
        ("server#1", "recv"),
        ("client", "send"),
    ]


def test_stepper_shutdown_sends_fin_but_keeps_receiving(stepper: SocketStepper) -> None:
    for actor, call in CONVERSATION["tcp"][:6]:
        stepper.step(actor, call, draw=False)
    assert stepper.step("client", "shutdown", draw=False).ok
    refused = stepper.step("client", "send", draw=False)
    assert isinstance(refused.error, BrokenPipeError)
    assert "SHUT_WR" in refused.message
    assert stepper.step("server", "recv", draw=False).value == b""
    assert stepper.step("server", "send", b"still here", draw=False).ok
    assert stepper.step("client", "recv", draw=False).value == b"still here"


def test_stepper_over_udp_needs_no_connection_and_says_when_a_datagram_is_lost() -> None:
    stepper = SocketStepper("udp")
    try:
        assert set(stepper.buttons) == {
            ("server", "socket"),
            ("server", "bind"),
            ("server", "recvfrom"),
            ("server", "sendto"),
            ("server", "close"),
            ("client", "socket"),
            ("client", "sendto"),
            ("client", "recvfrom"),
            ("client", "close"),
        }
        trace = stepper.run()
        assert [(e.role, e.call) for e in trace.events] == list(CONVERSATION["udp"])
        stepper.reset()
        stepper.step("server", "socket", draw=False)
        stepper.step("server", "bind", draw=False)
        stepper.step("client", "socket", draw=False)
        answer = stepper.step("server", "sendto", draw=False)
        assert not answer.ok
        assert answer.error is None
        assert "press server.recvfrom first" in answer.message
        assert set(stepper.states()) == {"server"}
        stepper.step("server", "close", draw=False)
        lost = stepper.step("client", "sendto", draw=False)
        assert lost.ok
        assert "lost" in lost.message
        with pytest.raises(UsageError, match="no 'listen' step"):
            stepper.step("server", "listen", draw=False)
    finally:
        stepper.close()


def test_stepper_buttons_show_the_code_and_the_outcome(stepper: SocketStepper) -> None:
    stepper.buttons["server", "socket"].click()
    assert "socket.socket(AF_INET, SOCK_STREAM)" in stepper.status.value
    stepper.buttons["server", "accept"].click()
    assert "Invalid argument" in stepper.status.value
    assert "#D55E00" in stepper.status.value  # said as an error
    stepper.run_button.click()
    assert stepper.last is stepper.trace
    assert len(stepper.trace) == len(CONVERSATION["tcp"])


def test_stepper_refuses_unknown_steps_and_protocols(stepper: SocketStepper) -> None:
    with pytest.raises(UsageError, match="'server' or 'client'"):
        stepper.step("router", "socket", draw=False)
    with pytest.raises(UsageError, match="its steps are"):
        stepper.step("client", "accept", draw=False)
    with pytest.raises(UsageError, match="protocol"):
        SocketStepper("sctp")


def test_stepper_close_closes_every_socket_and_unregisters() -> None:
    stepper = SocketStepper()
    for actor, call in CONVERSATION["tcp"][:6]:
        stepper.step(actor, call, draw=False)
    assert stepper.machine in labsock.live_endpoints()
    stepper.close()
    assert stepper.closed
    assert labsock.live_endpoints() == []


# -- re-running the cell that made a panel ------------------------------------------

RERUN = textwrap.dedent(
    """
    import warnings
    warnings.simplefilter("error")
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()

    def run(source, cell_id):
        shell.run_cell(source, store_history=True, cell_id=cell_id).raise_error()
        return shell.user_ns["labsock"].live_endpoints()

    make = (
        "import labsock\\n"
        "from labsock.widgets import MulticastLab, SocketStepper\\n"
        "lab = MulticastLab(receivers=2, burst=5)\\n"
        "stepper = SocketStepper()"
    )
    print("made", len(run(make, "c1")))
    old_lab, old_stepper = shell.user_ns["lab"], shell.user_ns["stepper"]
    run("lab.add_receiver(); stepper.step('server', 'socket')", "c2")
    print("again", len(run("lab.add_receiver(); lab.run()", "c2")), len(old_lab.members))
    print("remade", len(run(make, "c1")), old_lab.closed, old_stepper.closed)
    print("closed", shell.user_ns["labsock"].close_all())
    """
)


def test_rerunning_the_cell_that_made_the_panels_closes_the_old_ones() -> None:
    pytest.importorskip("IPython")
    out = subprocess.run(
        [sys.executable, "-c", RERUN], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert lines["made"] == "2"  # the lab's group and the stepper
    # Re-running a cell that added receivers adds more; it takes none away.
    assert lines["again"] == "2 4"
    assert lines["remade"] == "2 True True"
    assert lines["closed"] == "2"


RERUN_LINKLAB = textwrap.dedent(
    """
    import warnings
    warnings.simplefilter("error")
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()

    def run(source, cell_id):
        shell.run_cell(source, store_history=True, cell_id=cell_id).raise_error()

    make = "import labsock\\nfrom labsock.widgets import LinkLab\\nlab = LinkLab(count=20, seed=3)"
    run(make, "c1")
    old = shell.user_ns["lab"]
    run("result = lab.run()", "c2")
    live = shell.user_ns["labsock"].live_endpoints()
    print("open", old.run_button.comm is not None, len(live))
    run(make, "c1")
    new = shell.user_ns["lab"]
    gone = old.run_button.comm is None and old.widget.comm is None
    print("rerun", gone, new.widget.comm is not None)
    print("closed", shell.user_ns["labsock"].close_all(), new.widget.comm is None)
    """
)


def test_rerunning_a_link_labs_cell_closes_the_old_panels_widgets() -> None:
    # A LinkLab holds no socket between runs, so it is no endpoint (a lesson's
    # closing check sees no live endpoint while the panel stays usable); its
    # widgets are still closed when its cell runs again, or by close_all().
    pytest.importorskip("IPython")
    out = subprocess.run(
        [sys.executable, "-c", RERUN_LINKLAB],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert lines["open"] == "True 0"
    assert lines["rerun"] == "True True"
    assert lines["closed"] == "0 True"
