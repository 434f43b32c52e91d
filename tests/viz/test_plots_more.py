"""plots.fan_out and plots.sequence: the matrix of who got what, and the diagram of a trace."""

from __future__ import annotations

import doctest
import socket
import threading

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch
from matplotlib.text import Text

import labsock
import labsock._core.conversation
import labsock._viz.fanout
import labsock._viz.sequence
from labsock import plots
from labsock._core.conversation import conversation
from labsock._core.errors import UsageError
from labsock._endpoints.trace import Trace, TraceEvent
from labsock._experiments.fanout import fan_out, membership_plan
from labsock._results.fanout import FanOutResult, MembershipEvent
from labsock._viz.fanout import LOST, OUT, RECEIVED, UNEXPECTED, cell_codes
from labsock._viz.style import COLORS

pytestmark = pytest.mark.usefixtures("fonts_loaded")


@pytest.fixture(scope="module", autouse=True)
def _more_fonts_loaded() -> None:
    """Draw a sequence diagram once before the leak checks count descriptors.

    It writes in bold and italic, two more font files than ``fonts_loaded``
    opens, and matplotlib keeps each open for the life of the process.
    """
    events = [
        event(1, "client", "sendall", 3, 1000, 80),
        event(2, "server#1", "recv", 3, 80, 1000),
    ]
    plots.to_png(plots.sequence(events))
    plots.to_png(plots.fan_out(hand_built(5, leave={"r1": 2})))


def texts(fig: Figure, gid: str | None = None) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text) if gid is None or t.get_gid() == gid]


def lines(ax: Axes, gid: str) -> list[Line2D]:
    return [line for line in ax.lines if line.get_gid() == gid]


def arrows(ax: Axes, gid: str) -> list[FancyArrowPatch]:
    return [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_gid() == gid]


def matrix(ax: Axes) -> AxesImage:
    (image,) = [i for i in ax.images if i.get_gid() == "matrix"]
    return image


# -- fan-out -------------------------------------------------------------------------
def hand_built(
    count: int,
    receivers: int = 3,
    *,
    leave: dict[str, int] | None = None,
    rejoin: dict[str, int] | None = None,
    lost: tuple[tuple[int, int], ...] = (),
    heard: tuple[tuple[int, int], ...] = (),
) -> FanOutResult:
    """A FanOutResult as fan_out builds it, with chosen (row, seq) cells lost or heard anyway."""
    names = tuple(f"r{i + 1}" for i in range(receivers))
    expected = membership_plan(names, count, leave, rejoin)
    got = [list(row) for row in expected]
    for row, seq in lost:
        got[row][seq] = False
    for row, seq in heard:
        got[row][seq] = True
    events = sorted(
        [MembershipEvent(n, "leave", s) for n, s in (leave or {}).items()]
        + [MembershipEvent(n, "join", s) for n, s in (rejoin or {}).items()],
        key=lambda e: e.seq,
    )
    return FanOutResult(
        group=("239.255.1.2", 5000),
        names=names,
        count=count,
        size=64,
        interval=0.001,
        matrix=tuple(tuple(row) for row in got),
        expected=expected,
        events=tuple(events),
        sent_times=tuple(i * 1e-3 for i in range(count)),
        arrivals=tuple(tuple((s, s * 1e-3) for s, g in enumerate(row) if g) for row in got),
        cross_talk=(0,) * receivers,
        receive_buffers=(1 << 20,) * receivers,
    )


def test_fan_out_matrix_is_receivers_by_datagrams_from_a_real_run() -> None:
    result = fan_out(receivers=3, count=20, leave={"r2": 5}, rejoin={"r2": 12})
    ax = plots.fan_out(result).axes[0]
    shown = np.asarray(matrix(ax).get_array())
    assert shown.shape == (3, 20)
    assert (shown == cell_codes(result)).all()
    # Out of the group from 5 to 11 by the plan: never "received", never "lost".
    assert (shown[1, 5:12] == OUT).all()
    assert OUT not in shown[[0, 2]]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"r{i + 1}: {result.received[i]}/20" for i in range(3)]
    assert result.received[1] <= 13


def test_fan_out_marks_each_leave_and_rejoin_on_its_row_at_its_seq() -> None:
    result = fan_out(receivers=3, count=20, leave={"r2": 5, "r3": 15}, rejoin={"r2": 12})
    ax = plots.fan_out(result).axes[0]
    (leave_r2, leave_r3) = sorted(lines(ax, "leave"), key=lambda line: line.get_xdata()[0])
    (join_r2,) = lines(ax, "join")
    assert list(leave_r2.get_xdata()) == [4.5, 4.5]  # between datagram 4 and 5
    assert list(join_r2.get_xdata()) == [11.5, 11.5]
    assert list(leave_r3.get_xdata()) == [14.5, 14.5]
    for line, row in ((leave_r2, 1), (join_r2, 1), (leave_r3, 2)):
        low, high = line.get_ydata()
        assert row - 0.5 < low < high < row + 0.5
    labels = " | ".join(texts(ax.figure, "move-label"))  # type: ignore[arg-type]
    assert "left before #5" in labels
    assert "rejoined before #12" in labels
    assert "left before #15" in labels


def test_lost_while_a_member_and_not_a_member_are_told_apart() -> None:
    result = hand_built(30, leave={"r2": 10}, rejoin={"r2": 20}, lost=((0, 3), (2, 25)))
    codes = cell_codes(result)
    assert codes[0, 3] == LOST
    assert codes[2, 25] == LOST
    assert (codes[1, 10:20] == OUT).all()
    assert (codes == RECEIVED).sum() == 3 * 30 - 10 - 2
    fig = plots.fan_out(result)
    ax = fig.axes[0]
    image = matrix(ax)
    colour = {code: to_hex(image.cmap(image.norm(code))) for code in (RECEIVED, LOST, OUT)}
    assert colour[LOST] == COLORS["lost"].lower()
    assert colour[RECEIVED] == COLORS["reply"].lower()
    assert len(set(colour.values())) == 3
    legend = ax.get_legend()
    assert legend is not None
    names = [t.get_text() for t in legend.get_texts()]
    assert "lost while a member" in names
    assert "not a member (had left the group)" in names
    notes = texts(fig, "row-note")
    assert notes[0].startswith("1 lost")
    assert notes[1] == "10 sent while it was out"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["r1: 29/30", "r2: 20/30", "r3: 29/30"]


def test_a_datagram_heard_while_out_of_the_group_gets_its_own_colour() -> None:
    result = hand_built(10, receivers=2, leave={"r2": 4}, heard=((1, 6),))
    assert cell_codes(result)[1, 6] == UNEXPECTED
    fig = plots.fan_out(result)
    legend = fig.axes[0].get_legend()
    assert legend is not None
    assert "heard while not a member" in [t.get_text() for t in legend.get_texts()]
    assert "1 heard while out" in texts(fig, "row-note")[1]


def test_eight_receivers_by_500_datagrams_stay_readable() -> None:
    result = hand_built(
        500,
        receivers=8,
        leave={"r2": 100, "r7": 0, "r5": 498},
        rejoin={"r2": 300, "r7": 50},
        lost=((3, 200),),
    )
    fig = plots.fan_out(result)
    ax = fig.axes[0]
    assert np.asarray(matrix(ax).get_array()).shape == (8, 500)
    # One lost datagram in 500 is a hairline in the image: drawn again, wide enough to see.
    marks = [c for c in ax.collections if c.get_gid() == "lost-marks"]
    assert len(marks) == 1
    assert marks[0].get_linewidth()[0] >= 2.0
    assert 3.0 <= fig.get_figheight() <= 12.0
    assert plots.to_png(fig).startswith(b"\x89PNG")
    # A label that cannot fit inside a narrow span goes beside it, in one piece.
    assert "left before #0, rejoined before #50" in texts(fig, "move-label")


def test_fan_out_refuses_what_is_not_a_fan_out_result() -> None:
    with pytest.raises(UsageError, match="FanOutResult"):
        plots.fan_out("r1 got everything")  # type: ignore[arg-type]


# -- sequence --------------------------------------------------------------------------
def echo_conversation(trace: Trace, messages: tuple[bytes, ...] = (b"hello", b"world")) -> None:
    """A traced TCP echo: server thread accepts once, echoes until EOF; client half-closes."""
    server = trace.socket(actor="server")
    server.settimeout(5)
    server.bind(("127.0.0.1", 0))
    server.listen()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(5)
                while data := conn.recv(100):
                    conn.sendall(data)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with trace.socket(actor="client") as client:
            client.settimeout(5)
            client.connect(server.getsockname())
            for message in messages:
                client.sendall(message)
                got = b""
                while len(got) < len(message):
                    got += client.recv(100)
            client.shutdown(socket.SHUT_WR)
            assert client.recv(100) == b""
    finally:
        thread.join(5)
        server.close()
    assert not thread.is_alive()
    assert not errors


@pytest.fixture
def tcp_trace() -> Trace:
    trace = Trace()
    echo_conversation(trace)
    return trace


def lane_x(ax: Axes) -> dict[str, float]:
    heads = [t for t in ax.texts if t.get_gid() == "head"]
    return {t.get_text().partition("\n")[0]: t.get_position()[0] for t in heads}


def test_sequence_draws_one_arrow_per_send_from_sender_to_receiver(tcp_trace: Trace) -> None:
    fig = plots.sequence(tcp_trace)
    ax = fig.axes[0]
    sends = [e for e in tcp_trace.events if e.call == "sendall"]
    assert len(sends) == 4  # two messages, each echoed
    data = arrows(ax, "data")
    assert len(data) == len(sends)
    x = lane_x(ax)
    ends = sorted((round(a._posA_posB[0][0]), round(a._posA_posB[1][0])) for a in data)  # type: ignore[attr-defined]
    client, connection = round(x["client"]), round(x["server#1"])
    assert ends == sorted([(client, connection)] * 2 + [(connection, client)] * 2)
    labels = texts(fig, "data-label")
    assert sum("5 bytes b'hello'" in t for t in labels) == 2


def test_sequence_has_labelled_lifelines_the_handshake_and_both_fins(tcp_trace: Trace) -> None:
    fig = plots.sequence(tcp_trace)
    ax = fig.axes[0]
    assert set(texts(fig, "head")) == {
        "client",
        "server\n(listening socket)",
        "server#1\n(connection)",
    }
    assert [len(arrows(ax, kind)) for kind in ("syn", "syn-ack", "ack")] == [1, 1, 1]
    x = lane_x(ax)
    (syn,) = arrows(ax, "syn")
    start, end = syn._posA_posB  # type: ignore[attr-defined]
    # The SYN goes to the listening socket; data goes to the accepted connection.
    assert (start[0], end[0]) == (x["client"], x["server"])
    fins = texts(fig, "fin-label")
    assert sorted(fins) == ["close(): FIN", "shutdown(SHUT_WR): FIN"]
    assert len(texts(fig, "time")) == len(tcp_trace)
    assert (
        fig.axes[0]
        .get_title(loc="left")
        .startswith(f"What really happened: {len(tcp_trace)} socket calls by client and server")
    )
    assert plots.to_png(fig).startswith(b"\x89PNG")


def test_a_refused_connect_is_a_red_arrow_ending_in_x() -> None:
    trace = Trace()
    with socket.socket() as placeholder:  # a port sure to have no listener
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        with trace.socket(actor="client") as client:
            client.settimeout(5)
            with pytest.raises(ConnectionRefusedError):
                client.connect(("127.0.0.1", port))
    fig = plots.sequence(trace)
    ax = fig.axes[0]
    (refused,) = arrows(ax, "refused")
    assert to_hex(refused.get_edgecolor()) == COLORS["lost"].lower()
    (cross,) = lines(ax, "refused-end")
    assert cross.get_marker() == "x"
    assert f"127.0.0.1:{port}\n(not traced)" in texts(fig, "head")
    assert any("refused" in t for t in texts(fig, "refused-label"))


def test_an_empty_trace_says_nothing_was_recorded() -> None:
    fig = plots.sequence(Trace())
    assert any("no socket calls recorded yet" in t for t in texts(fig))
    assert plots.to_png(fig).startswith(b"\x89PNG")


def test_long_traces_are_cut_at_max_events_and_say_so() -> None:
    trace = Trace()
    echo_conversation(trace, tuple(f"message {i}".encode() for i in range(12)))
    total = len(trace)
    assert total > 40
    fig = plots.sequence(trace, max_events=20)
    assert len(texts(fig, "time")) == 20
    (hidden,) = texts(fig, "hidden")
    assert hidden.startswith(f"… {total - 20} more calls not shown")
    assert "(the first 20 drawn)" in fig.axes[0].get_title(loc="left")
    tall = plots.sequence(trace, max_events=1000)
    assert fig.get_figheight() < tall.get_figheight() <= 13.0


def test_a_reply_from_an_untraced_server_comes_from_a_lifeline_of_its_own() -> None:
    trace = Trace()
    with labsock.UDPEchoServer() as server, trace.socket(type=socket.SOCK_DGRAM) as client:
        host, port = server.address
        client.settimeout(5)
        client.sendto(b"hello", (host, port))
        assert client.recvfrom(100)[0] == b"hello"
    fig = plots.sequence(trace)
    assert f"{host}:{port}\n(not traced)" in texts(fig, "head")
    labels = texts(fig, "data-label")
    assert len(arrows(fig.axes[0], "data")) == 2
    assert any(t.startswith("sendto 5 bytes b'hello'") for t in labels)
    assert "5 bytes (untraced send)" in labels


def event(seq: int, actor: str, call: str, nbytes: int | None, local: int, peer: int) -> TraceEvent:
    return TraceEvent(
        time=seq * 1e-5,
        actor=actor,
        call=call,
        args="",
        result="",
        protocol="tcp",
        local=("127.0.0.1", local),
        peer=("127.0.0.1", peer),
        nbytes=nbytes,
        seq=seq,
    )


def test_tcp_sends_merged_into_one_recv_all_point_at_that_recv() -> None:
    # Client port 1000 sends 3 + 4 bytes; server#1 (port 80) reads 7, then the FIN.
    events = [
        event(1, "client", "sendall", 3, 1000, 80),
        event(2, "client", "sendall", 4, 1000, 80),
        event(3, "server#1", "recv", 7, 80, 1000),
        event(4, "client", "close", None, 1000, 80),
        event(5, "server#1", "recv", 0, 80, 1000),
    ]
    story = conversation(events)
    data = [m for m in story.messages if m.kind == "data"]
    assert [(m.source, m.target, m.y1) for m in data] == [("client", "server#1", story.rows[2])] * 2
    (fin,) = [m for m in story.messages if m.kind == "fin"]
    assert (fin.y0, fin.y1) == (story.rows[3], story.rows[4])
    assert [lane.key for lane in story.lanes] == ["client", "server#1"]


def test_a_send_nobody_read_stops_short_and_says_so() -> None:
    events = [
        event(1, "client", "sendall", 3, 1000, 80),
        event(2, "server#1", "recv", 2, 80, 1000),  # only part of it: the rest still queued
    ]
    (message,) = [m for m in conversation(events).messages if m.kind == "data"]
    assert not message.received
    fig = plots.sequence(events)
    (arrow,) = arrows(fig.axes[0], "data")
    assert arrow.get_linestyle() == ":"
    assert "(no recv took it)" in texts(fig, "data-label")[0]


def test_an_accepted_connection_that_made_no_call_yet_still_has_a_lifeline() -> None:
    # What a step-by-step panel draws right after accept() returned.
    accepted = TraceEvent(
        time=1e-4,
        actor="server",
        call="accept",
        args="",
        result="new socket server#1 for 127.0.0.1:1000",
        protocol="tcp",
        local=("127.0.0.1", 80),
        peer=("127.0.0.1", 1000),
        seq=2,
    )
    connect = event(1, "client", "connect", None, 1000, 80)
    fig = plots.sequence([connect, accepted])
    assert "server#1\n(connection)" in texts(fig, "head")
    assert [a.get_gid() for a in fig.axes[0].texts if a.get_gid() == "accept"] == ["accept"]


def test_sequence_refuses_bad_arguments(tcp_trace: Trace) -> None:
    with pytest.raises(UsageError, match="Trace"):
        plots.sequence("client connects")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="max_events"):
        plots.sequence(tcp_trace, max_events=0)


# -- the plumbing ------------------------------------------------------------------------
def test_new_figures_are_exported_and_old_names_unchanged() -> None:
    for name in ("ThroughputPoint", "compare", "throughput", "fan_out", "sequence"):
        assert name in plots.__all__
        assert getattr(plots, name) is not None
    assert plots.compare.__module__ == "labsock._viz.compare"


def test_docstring_examples_of_the_new_modules_run() -> None:
    for module in (labsock._viz.fanout, labsock._viz.sequence, labsock._core.conversation):
        failures, tried = doctest.testmod(module, extraglobs={"plots": plots})
        assert tried > 0, module.__name__
        assert failures == 0, module.__name__
