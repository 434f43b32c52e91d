"""The practice checks speak Brazilian Portuguese: names, hints, details, notes, titles.

A criterion's name stays the English key (tests, nbgrader and the notebooks'
closing checks compare it); what the report *shows* is Portuguese once the
notebook has called ``set_language("pt_BR")``. Each test runs a real check
against a known-wrong solution (from ``test_exercise_hints``) and reads the
report the student would read.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import labsock
from labsock._core.i18n import N_
from labsock.exercises import (
    Report,
    check_concurrent_server,
    check_echo_server,
    check_framing,
    export_results,
    summarize,
)
from labsock.exercises._harness import CheckRun
from teacher import solutions as S
from tests.exercises.test_exercise_hints import (
    echo_accepts_once,
    recv_message_empty_raises,
    send_message_as_text,
)


@pytest.fixture
def portuguese() -> Iterator[None]:
    labsock.set_language("pt_BR")
    yield
    labsock.set_language("en")


def _serial_server(listener: socket.socket, stop: threading.Event) -> None:
    """The reference echo server of exercise 1: one client at a time (wrong for exercise 6)."""
    S.echo_server(listener, stop)


@pytest.mark.usefixtures("portuguese")
def test_a_failed_echo_server_report_reads_in_portuguese_and_keeps_its_english_key() -> None:
    report = check_echo_server(echo_accepts_once)
    second = report.criterion("serves a second client after the first one left")  # the key
    assert second.status == "failed"
    assert second.name == "serves a second client after the first one left"
    assert second.shown == "atende um segundo cliente depois que o primeiro saiu"
    assert second.hint.startswith("o seu servidor não respondeu a um segundo cliente")
    text = str(report)
    assert text.splitlines()[0].startswith("Exercício 1: um servidor de eco TCP: falhou (")
    assert "✗ atende um segundo cliente depois que o primeiro saiu" in text
    assert "dica: o seu servidor não respondeu" in text
    assert "serves a second client" not in text
    page = report._repr_html_()
    assert "atende um segundo cliente depois que o primeiro saiu" in page
    assert "serves a second client" not in page


@pytest.mark.usefixtures("portuguese")
def test_a_framing_hint_and_what_the_check_saw_read_in_portuguese() -> None:
    report = check_framing(send_message_as_text, S.recv_message)
    header = report.criterion("send_message puts a 4-byte big-endian length before the payload")
    assert header.status == "failed"
    assert header.shown == "send_message põe um comprimento de 4 bytes big-endian antes do payload"
    assert "exatamente 4" in header.hint
    assert header.detail.startswith("enviou b'hello', a rede levou b'5\\nhello'")
    skipped = report.criterion("send_message sends all of a 1 MiB message (send() takes only part)")
    assert skipped.status == "skipped"
    assert skipped.hint == "não verificado: o cabeçalho precisa estar certo primeiro"


@pytest.mark.usefixtures("portuguese")
def test_an_empty_message_that_raises_is_told_so_whatever_the_language() -> None:
    # The check used to look for the English word "raised" in its own hint.
    report = check_framing(S.send_message, recv_message_empty_raises)
    empty = report.criterion("recv_message returns b'' for an empty message")
    assert empty.status == "failed"
    assert empty.hint.startswith("um comprimento 0 é uma mensagem sem bytes: retorne b''")
    assert "Em vez disso, recv_message() lançou ConnectionError" in empty.hint


def test_an_empty_message_that_raises_is_told_so_in_english() -> None:
    report = check_framing(S.send_message, recv_message_empty_raises)
    hint = report.criterion("recv_message returns b'' for an empty message").hint
    assert "there is nothing to read). Instead, recv_message() raised ConnectionError" in hint


@pytest.mark.usefixtures("portuguese")
def test_a_criterion_name_with_a_number_is_translated_with_its_number() -> None:
    report = check_concurrent_server(_serial_server, clients=5)
    at_once = report.criterion("serves 5 clients at once")
    assert at_once.status == "failed"
    assert at_once.shown == "atende 5 clientes ao mesmo tempo"
    assert at_once.detail.endswith("de 5 receberam eco")
    later = report.criterion("keeps serving when clients vanish mid-message")
    assert later.hint == "não verificado: primeiro faça 5 clientes funcionarem ao mesmo tempo"
    assert "Exercício 6: um servidor para 50 clientes ao mesmo tempo" in str(report)


@pytest.mark.usefixtures("portuguese")
def test_a_check_that_breaks_says_so_in_portuguese_under_its_english_key() -> None:
    def boom() -> None:
        raise ValueError("boom")

    with CheckRun("demo", N_("Exercise 1: a TCP echo server")) as run:
        boom()
    (crash,) = run.report.criteria
    assert crash.name == "the check ran to the end"  # what the notebook's closing check compares
    assert crash.shown == "a verificação rodou até o fim"
    assert crash.hint.startswith("a própria verificação parou com um erro")
    assert crash.detail.startswith("ValueError: boom (em boom, linha ")


@pytest.mark.usefixtures("portuguese")
def test_json_and_export_carry_the_english_key_and_the_portuguese_shown(tmp_path: Path) -> None:
    report = check_echo_server(echo_accepts_once)
    data = json.loads(report.to_json())
    assert data["language"] == "pt_BR"
    assert data["title"] == "Exercise 1: a TCP echo server"
    assert data["shown_title"] == "Exercício 1: um servidor de eco TCP"
    assert data["status"] == "failed"  # data, the same in both editions
    second = next(c for c in data["criteria"] if c["status"] == "failed")
    assert second["name"] == "serves a second client after the first one left"
    assert second["shown_name"] == "atende um segundo cliente depois que o primeiro saiu"
    assert second["hint"].startswith("o seu servidor não respondeu")
    path = export_results([report], tmp_path / "results.json")
    saved = json.loads(path.read_text(encoding="utf-8"))["exercises"]["echo_server"]
    assert saved["criteria"] == data["criteria"]


@pytest.mark.usefixtures("portuguese")
def test_the_summary_reads_in_portuguese() -> None:
    report = check_echo_server(echo_accepts_once)
    todo = Report("framing", N_("Exercise 3: messages over a TCP stream"), False)
    summary = summarize([report, todo])
    text = str(summary)
    assert text.splitlines()[0] == "0 de 2 exercícios passaram"
    assert "✗ atende um segundo cliente depois que o primeiro saiu" in text
    assert "Exercício 3: mensagens sobre um fluxo TCP: ainda não tentado" in text
    assert "corrija “atende um segundo cliente depois que o primeiro saiu” primeiro" in text
    page = summary._repr_html_()
    for english in ("exercises passed", "still failing", "Next:", ">failed<", "serves a second"):
        assert english not in page
    assert "ainda falhando" in page
    assert "Próximo passo:" in page
