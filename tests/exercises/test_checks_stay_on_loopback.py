"""The practice checks' own sockets go through the loopback guard, like every labsock endpoint.

Each check binds its listeners and peers at a fixed loopback address; these
tests change that address to one beyond the machine (as a careless edit
could) and show that the guard refuses it before any socket exists.
"""

from __future__ import annotations

import socket

import pytest

from labsock import NotLoopback
from labsock.exercises import check_echo_server, measure_goodput
from labsock.exercises._clients import tcp_pair
from labsock.exercises._harness import CheckRun
from labsock.exercises._udp_peers import udp_socket
from teacher import solutions as S
from tests import loopback_audit

ELSEWHERE = "10.1.2.3"  # a refusal test: nothing is ever sent there


def test_the_listener_of_a_server_check_goes_through_the_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("labsock.exercises._server_under_test._HOST", ELSEWHERE)
    with loopback_audit.sockets_made() as made:
        report = check_echo_server(S.echo_server)
    crash = report.criterion("the check ran to the end")
    assert crash.status == "failed"
    assert crash.detail.startswith("NotLoopback: ")
    assert made == []


def test_the_checks_tcp_connections_go_through_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("labsock.exercises._clients._HOST", ELSEWHERE)
    with loopback_audit.sockets_made() as made, pytest.raises(NotLoopback):
        tcp_pair()
    assert made == []


def test_the_checks_udp_peers_go_through_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("labsock.exercises._udp_peers._HOST", ELSEWHERE)
    with loopback_audit.sockets_made() as made, CheckRun("udp", "udp") as run:
        udp_socket(run)
    assert run.report.criterion("the check ran to the end").detail.startswith("NotLoopback: ")
    assert made == []


def test_the_tcp_goodput_sink_goes_through_the_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("labsock.exercises._goodput._HOST", ELSEWHERE)
    with loopback_audit.sockets_made() as made, pytest.raises(NotLoopback):
        measure_goodput(S.rdt_send, S.rdt_receive, losses=(0.0,), messages=5)
    # The stop-and-wait transfer ran (UDP); the refused TCP sink never existed.
    assert made
    assert all(kind != socket.SOCK_STREAM for _family, kind in made)
