"""What labsock's core and endpoints say to a student, in Portuguese (real calls).

The tests run in English (tests/conftest.py); each test here switches to
pt_BR with the ``portuguese`` fixture and back, and checks that a real
labsock call speaks Portuguese, with what to do, while names stay as they are.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import labsock
from labsock import (
    ClosedError,
    Impairment,
    LengthPrefixCodec,
    MulticastGroup,
    NotLoopback,
    PayloadTypeError,
    UDPEchoServer,
    UsageError,
)
from labsock._core.conversation import conversation
from labsock._endpoints.servers import TCPEchoServer
from labsock._endpoints.sockettable import socket_table
from labsock._endpoints.trace import Trace
from tests.endpoints.test_trace import check_mermaid, traced_conversation

TIMEOUT = 5.0


@pytest.fixture
def portuguese() -> Iterator[None]:
    labsock.set_language("pt_BR")
    yield
    labsock.set_language("en")


@pytest.mark.usefixtures("portuguese")
def test_a_traced_socket_refused_by_the_loopback_guard_says_so_in_portuguese() -> None:
    trace = Trace()
    with (
        trace.socket(socket.AF_INET, socket.SOCK_DGRAM, actor="client") as client,
        pytest.raises(NotLoopback) as info,
    ):
        client.sendto(b"oi", ("8.8.8.8", 53))
    message = str(info.value)
    assert message.startswith("socket rastreado 'client': envio para 8.8.8.8:53 recusado.")
    assert "máquinas compartilhadas" in message
    assert "127.0.0.1" in message  # what to do
    refused = next(e for e in trace.events if e.call == "sendto")
    assert refused.args == "2 bytes b'oi' para 8.8.8.8:53"


@pytest.mark.usefixtures("portuguese")
def test_a_multicast_ttl_above_one_is_refused_in_portuguese() -> None:
    with pytest.raises(NotLoopback) as info:
        MulticastGroup(ttl=5)
    message = str(info.value)
    assert "ttl=5 deixaria roteadores encaminharem os datagramas" in message
    assert "Use ttl=1 (ou 0, só este host)." in message


@pytest.mark.parametrize(
    ("group", "words"),
    [
        ("10.0.0.1", "não é um endereço multicast. Os grupos multicast IPv4"),
        ("224.0.0.251", "o bloco de controle da rede local"),
        ("não-é-ip", "não é um endereço IP"),
    ],
)
@pytest.mark.usefixtures("portuguese")
def test_a_bad_multicast_group_is_explained_in_portuguese(group: str, words: str) -> None:
    with pytest.raises(UsageError) as info:
        MulticastGroup(group)
    assert words in str(info.value)
    assert "group=None para sortear um livre" in str(info.value)  # what to do


@pytest.mark.usefixtures("portuguese")
def test_a_bad_impairment_and_its_description_are_in_portuguese() -> None:
    with pytest.raises(UsageError, match=r"reorder=0\.1 precisa de um atraso"):
        Impairment(reorder=0.1)
    with pytest.raises(UsageError, match="configuração"):
        Impairment().replace(lost=0.1)
    both = Impairment(loss=0.1, delay=0.01, jitter=0.002, duplicate=0.05)
    assert str(both) == "perda 10 %, atraso 10 ms + até 2 ms de jitter, duplicação 5 %"
    assert str(Impairment()) == "perfeito"


def test_the_english_description_of_an_impairment_is_unchanged() -> None:
    both = Impairment(loss=0.1, delay=0.01, jitter=0.002, reorder=0.2, duplicate=0.05)
    assert str(both) == "loss 10 %, delay 10 ms + up to 2 ms jitter, reorder 20 %, duplicate 5 %"
    assert str(Impairment(delay=0.01)) == "delay 10 ms"
    assert str(Impairment()) == "perfect"


@pytest.mark.usefixtures("portuguese")
def test_a_codec_fed_text_says_to_encode_it_in_portuguese() -> None:
    with pytest.raises(PayloadTypeError) as info:
        LengthPrefixCodec().feed("olá")  # type: ignore[arg-type]
    assert str(info.value) == (
        "LengthPrefixCodec.feed() precisa de bytes, não str: um socket transporta bytes. "
        "Codifique o texto antes, por exemplo 'olá'.encode() (UTF-8)."
    )


@pytest.mark.usefixtures("portuguese")
def test_a_closed_server_says_what_happened_and_what_to_do_in_portuguese() -> None:
    server = UDPEchoServer()
    server.close()
    with pytest.raises(ClosedError) as info:
        _ = server.address
    assert str(info.value) == (
        "não é possível obter o endereço deste servidor de eco UDP: ele foi fechado. "
        "Crie um novo (rodar de novo a célula que o criou faz isso)."
    )


@pytest.mark.usefixtures("portuguese")
def test_a_trace_table_and_diagram_are_in_portuguese_and_the_diagram_stays_valid() -> None:
    trace = traced_conversation()
    table = trace.table()
    assert table.splitlines()[0].split() == [
        "tempo",
        "(ms)",
        "ator",
        "chamada",
        "argumentos",
        "resultado",
    ]
    assert "novo socket server#1 para 127.0.0.1:" in table
    diagram = check_mermaid(trace.to_mermaid())
    assert any("SYN+ACK (enviado pelo kernel, antes de qualquer accept)" in x for x in diagram)
    assert any("ACK: conectado, de 127.0.0.1:" in x for x in diagram)
    assert repr(trace) == f"<Trace {len(trace)} chamadas de server, client, server#1>"


@pytest.mark.usefixtures("portuguese")
def test_the_sequence_story_finds_the_accepted_connection_in_a_portuguese_trace() -> None:
    trace = traced_conversation()
    accept = next(e for e in trace.events if e.call == "accept")
    assert accept.result.startswith("novo socket server#1 para ")
    story = conversation(trace.events)
    accepted = [m for m in story.messages if m.kind == "accept"]
    assert [(m.source, m.target) for m in accepted] == [("server", "server#1")]
    assert "server#1" in story.starts


@pytest.mark.usefixtures("portuguese")
def test_a_recv_of_nothing_and_the_socket_table_read_in_portuguese() -> None:
    trace = Trace()
    with TCPEchoServer() as server:
        with trace.socket(actor="client") as client:
            client.settimeout(TIMEOUT)
            client.connect(server.address)
            client.shutdown(socket.SHUT_WR)
            assert client.recv(100) == b""
            table = str(socket_table(ports=server.port))
    recv = next(e for e in trace.events if e.call == "recv")
    assert recv.result == "b'' (fim do fluxo: o outro lado fechou o seu lado)"
    assert table.splitlines()[0].split()[:3] == ["proto", "endereço", "local"]


def test_tcp_info_note_prints_in_the_language_of_the_moment() -> None:
    english = str(labsock.TCP_INFO_NOTE)
    assert english.startswith("this system does not show the kernel's TCP_INFO")
    labsock.set_language("pt_BR")
    try:
        assert str(labsock.TCP_INFO_NOTE).startswith("este sistema não mostra o TCP_INFO")
        assert f"{labsock.TCP_INFO_NOTE}" == str(labsock.TCP_INFO_NOTE)
    finally:
        labsock.set_language("en")
    assert english == labsock.TCP_INFO_NOTE  # still the English str it always was
