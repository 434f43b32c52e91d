"""Figures, the C++ lesson and the package refuse wrong input in Portuguese too.

The type checks of ``labsock.plots`` are what a student meets first when a
cell passes the wrong thing: each is called for real after
``labsock.set_language("pt_BR")``; the text is Portuguese, the type names and
the functions to call instead stay as they are.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from matplotlib.figure import Figure

import labsock
from labsock import cpp, plots
from labsock._results.practice import GoodputResult


@pytest.fixture
def portuguese() -> Iterator[None]:
    labsock.set_language("pt_BR")
    yield
    labsock.set_language("en")


pytestmark = pytest.mark.usefixtures("fonts_loaded", "portuguese")  # fonts open once


@pytest.mark.parametrize(
    ("draw", "said"),
    [
        (plots.latency, "result deve ser um PingResult (o que labsock.ping retorna), não str"),
        (plots.fan_out, "result deve ser um FanOutResult (o que labsock.fan_out retorna), não str"),
        (
            plots.head_of_line,
            "result deve ser um HeadOfLineResult (o que labsock.head_of_line retorna), não str",
        ),
        (
            plots.sequence,
            "trace deve ser um Trace do labsock (ou uma lista dos eventos dele), não str",
        ),
    ],
    ids=lambda x: getattr(x, "__name__", "said"),
)
def test_a_figure_given_the_wrong_thing_says_so_in_portuguese(draw: object, said: str) -> None:
    with pytest.raises(labsock.UsageError) as wrong:
        draw("oops")  # type: ignore[operator]
    assert str(wrong.value) == said


def test_axes_dpi_and_points_are_refused_in_portuguese() -> None:
    with labsock.UDPEchoServer() as server:
        result = labsock.ping(server.address, count=3)
    with pytest.raises(labsock.UsageError, match="ax deve ser um Axes do matplotlib ou um par"):
        plots.latency(result, ax=[1, 2, 3])  # type: ignore[list-item]
    with pytest.raises(
        labsock.UsageError, match="ax deve ser um Axes do matplotlib ou None, não int"
    ):
        plots.ordering(result, ax=7)  # type: ignore[arg-type]
    with pytest.raises(labsock.UsageError, match="dpi deve ser um número de 10 a 1000, não 5"):
        plots.to_png(Figure(), dpi=5)
    with pytest.raises(labsock.UsageError, match="cada ponto deve ser um ThroughputPoint"):
        plots.throughput(["tcp"])  # type: ignore[list-item]
    with pytest.raises(labsock.UsageError, match="sender_cost precisa de pelo menos uma medição"):
        plots.sender_cost([])
    with pytest.raises(labsock.UsageError, match="protocol deve ser um nome como 'tcp', não ''"):
        plots.ThroughputPoint("", 64, 1.0)


def test_a_speed_comparison_given_to_throughput_points_at_its_points_in_portuguese() -> None:
    comparison = labsock.compare_speed(count=5, requests=5, sizes=(), repeats=1)
    with pytest.raises(labsock.UsageError) as wrong:
        plots.throughput(comparison)  # type: ignore[arg-type]
    assert str(wrong.value) == (
        "points deve ser uma lista de ThroughputPoint, não SpeedComparison; "
        "um SpeedComparison os fornece com .throughput_points()"
    )
    assert plots.throughput(comparison.throughput_points()).axes  # what it says works


def test_the_wrong_thing_given_to_sender_cost_goodput_or_to_png_is_refused_in_portuguese() -> None:
    one = labsock.sender_cost(receivers=1, count=5)
    with pytest.raises(labsock.UsageError, match="costs deve ser uma lista de SenderCost"):
        plots.sender_cost(one)  # type: ignore[arg-type]
    with pytest.raises(labsock.UsageError, match="cada valor de costs deve ser um SenderCost"):
        plots.sender_cost([one, "two"])  # type: ignore[list-item]
    assert plots.sender_cost([one]).axes  # the list the message asks for works
    with pytest.raises(labsock.UsageError, match="result deve ser um GoodputResult"):
        plots.goodput("x")  # type: ignore[arg-type]
    with pytest.raises(labsock.UsageError, match="fig deve ser uma Figure do matplotlib"):
        plots.to_png("x")  # type: ignore[arg-type]


def test_a_sequence_diagram_labels_its_time_axis_in_portuguese() -> None:
    trace = labsock.Trace()
    with trace.socket(socket.AF_INET, socket.SOCK_DGRAM, actor="client") as s:
        s.bind(("127.0.0.1", 0))
    fig = plots.sequence(trace)
    words = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(w.startswith("tempo\n(") for w in words), words


def test_the_cpp_lesson_refuses_in_portuguese() -> None:
    with pytest.raises(labsock.UsageError, match=r"não há fonte da lição chamada 'nope\.cpp'"):
        cpp.source("nope.cpp")
    with pytest.raises(labsock.UsageError, match="passe dois traces ou duas figuras"):
        cpp.side_by_side(Figure(), labsock.Trace())


def test_a_name_labsock_lacks_is_said_in_portuguese() -> None:
    with pytest.raises(AttributeError, match="o módulo 'labsock' não tem o atributo 'nothere'"):
        _ = labsock.nothere  # type: ignore[attr-defined]


def test_a_goodput_report_not_attempted_says_so_in_portuguese_in_html() -> None:
    report = GoodputResult(
        attempted=False, messages=0, payload_bytes=0, delay=0.01, rows=(), tcp=None
    )
    page = report._repr_html_()
    assert "goodput: <b>ainda não tentado</b>" in page, page
