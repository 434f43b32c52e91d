"""The experiments refuse bad settings in Portuguese when the notebook speaks it.

Each test calls the real experiment the way a Portuguese notebook would (after
``labsock.set_language("pt_BR")``) and reads the error a student would read:
Portuguese words, the English identifiers (``protocol``, ``sizes``) kept.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import labsock
from labsock._experiments.fanout import membership_plan


@pytest.fixture
def portuguese() -> Iterator[None]:
    labsock.set_language("pt_BR")
    yield
    labsock.set_language("en")


pytestmark = pytest.mark.usefixtures("portuguese")


def test_ping_and_blast_refuse_an_unknown_protocol_in_portuguese() -> None:
    with pytest.raises(labsock.UsageError, match="protocol deve ser 'udp' ou 'tcp', não 'sctp'"):
        labsock.ping(("127.0.0.1", 9), protocol="sctp")  # type: ignore[arg-type]
    with pytest.raises(labsock.UsageError, match="protocol deve ser 'udp' ou 'tcp', não 'x'"):
        labsock.blast(protocol="x")  # type: ignore[arg-type]


def test_a_tcp_probe_or_blast_too_big_says_so_with_the_numbers() -> None:
    with pytest.raises(labsock.UsageError) as probe:
        labsock.ping(("127.0.0.1", 9), protocol="tcp", size=(64 << 20) + 1)
    assert "size=67,108,865 bytes é grande demais para uma sonda de ping" in str(probe.value)
    assert "use labsock.compare_speed()" in str(probe.value)
    with pytest.raises(labsock.UsageError) as burst:
        labsock.blast(protocol="tcp", count=1000, size=1 << 20)
    assert str(burst.value).startswith(
        "count * size = 1,048,576,000 bytes é demais para uma rajada: no máximo 67,108,864"
    )


def test_compare_speed_refuses_bad_sizes_in_portuguese() -> None:
    with pytest.raises(labsock.UsageError, match="sizes deve ser uma sequência de tamanhos"):
        labsock.compare_speed(sizes="64")  # type: ignore[arg-type]
    with pytest.raises(labsock.UsageError, match="sizes tem 17 valores: no máximo 16"):
        labsock.compare_speed(sizes=[64] * 17)
    with pytest.raises(labsock.UsageError, match="cada valor de sizes"):
        labsock.compare_speed(sizes=[0])


def test_head_of_line_refuses_a_loss_of_one_in_portuguese() -> None:
    with pytest.raises(labsock.UsageError) as refused:
        labsock.head_of_line(loss=1.0)
    assert str(refused.value) == (
        "loss deve ser uma probabilidade de 0 até 1 (sem incluir o 1), não 1.0"
    )


def test_a_fan_out_schedule_that_makes_no_sense_is_refused_in_portuguese() -> None:
    names = ("r1", "r2")
    with pytest.raises(labsock.UsageError, match="nunca sai do grupo, então não pode voltar"):
        membership_plan(names, 5, rejoin={"r2": 3})
    with pytest.raises(labsock.UsageError, match=r"rejoin\['r2'\]=1 deve vir depois de"):
        membership_plan(names, 5, leave={"r2": 2}, rejoin={"r2": 1})
    with pytest.raises(labsock.UsageError, match="leave: não há receptor 'r9'"):
        labsock.fan_out(receivers=2, count=5, leave={"r9": 1})
    with pytest.raises(labsock.UsageError, match="leave deve ser um dict como"):
        labsock.fan_out(receivers=2, count=5, leave=[1])  # type: ignore[arg-type]
    with pytest.raises(labsock.UsageError, match="group deve ser um MulticastGroup"):
        labsock.fan_out(group=5)  # type: ignore[arg-type]


def test_a_real_fan_out_result_names_its_receivers_in_portuguese() -> None:
    result = labsock.fan_out(receivers=2, count=5)
    with pytest.raises(labsock.UsageError) as unknown:
        result.row("r9")
    assert str(unknown.value) == "não há receptor 'r9'; os receptores são ('r1', 'r2')"


def test_the_bulk_comparison_with_no_sizes_says_so_in_portuguese() -> None:
    result = labsock.compare_speed(count=5, requests=5, sizes=(), repeats=1)
    with pytest.raises(labsock.UsageError, match="esta comparação não mediu vazão em massa"):
        result.bulk_at(1024)
