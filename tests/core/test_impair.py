"""The pure impairment model: validation, seeded determinism, and the rates it draws."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labsock import UsageError
from labsock._core.impair import (
    Decision,
    DirectionStats,
    Impairment,
    ImpairmentModel,
    LinkEvent,
    LinkStats,
    arrival_identity,
    direction_rng,
    probe_identity,
)

N = 2000


def decisions(settings: Impairment, seed: object, n: int = N) -> list[Decision]:
    model = ImpairmentModel(settings, direction_rng(seed, "forward"))
    return [model.decide(float(i)) for i in range(n)]


def within_5_sigma(hits: int, n: int, p: float) -> bool:
    sigma = math.sqrt(n * p * (1 - p))
    return abs(hits - n * p) <= 5 * sigma


# -- validation -------------------------------------------------------------------


def test_default_impairment_is_perfect() -> None:
    assert Impairment().perfect
    assert not Impairment(loss=0.01).perfect
    assert str(Impairment()) == "perfect"


@pytest.mark.parametrize("name", ["loss", "reorder", "duplicate"])
@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan, math.inf])
def test_probabilities_outside_0_to_1_are_refused_by_name(name: str, value: float) -> None:
    settings = {name: value, "delay": 0.01}
    with pytest.raises(UsageError, match=f"{name}=.* is not a probability"):
        Impairment(**settings)


@pytest.mark.parametrize("value", ["0.1", None, True, [0.1]])
def test_probabilities_of_the_wrong_type_are_refused(value: object) -> None:
    with pytest.raises(UsageError, match="loss must be a probability"):
        Impairment(loss=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["delay", "jitter"])
def test_negative_times_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match=f"{name}=-0.001 makes no sense.*zero or more"):
        Impairment(**{name: -0.001})


@pytest.mark.parametrize("name", ["delay", "jitter"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_endless_times_are_refused_as_not_finite(name: str, value: float) -> None:
    # inf IS "zero or more": the message names what is really wrong with it.
    with pytest.raises(UsageError, match=f"{name}=.* is not a finite number of seconds") as info:
        Impairment(**{name: value})
    assert "zero or more" not in str(info.value)
    assert "loss=1.0" in str(info.value)


def test_delays_over_a_minute_are_refused() -> None:
    with pytest.raises(UsageError, match="too long"):
        Impairment(delay=61)


def test_reorder_without_delay_is_refused_with_the_reason() -> None:
    with pytest.raises(UsageError, match="needs a delay") as info:
        Impairment(reorder=0.2)
    assert "nobody can be overtaken" in str(info.value)
    assert Impairment(reorder=0.2, delay=0.01).reorder == 0.2


def test_integers_are_accepted_and_normalised_to_float() -> None:
    settings = Impairment(loss=1, delay=0)
    assert settings == Impairment(loss=1.0)
    assert isinstance(settings.loss, float)
    assert isinstance(settings.delay, float)


def test_replace_validates_and_refuses_unknown_settings() -> None:
    base = Impairment(loss=0.1)
    assert base.replace(delay=0.02) == Impairment(loss=0.1, delay=0.02)
    assert base.loss == 0.1  # frozen: replace made a copy
    with pytest.raises(UsageError, match="unknown setting"):
        base.replace(latency=0.1)
    with pytest.raises(UsageError, match="loss=2"):
        base.replace(loss=2)


def test_impairment_is_frozen() -> None:
    settings = Impairment()
    with pytest.raises(AttributeError):
        settings.loss = 0.5  # type: ignore[misc]


def test_str_reads_like_netem_settings() -> None:
    text = str(Impairment(loss=0.1, delay=0.02, jitter=0.005, reorder=0.25, duplicate=0.01))
    assert text == "loss 10 %, delay 20 ms + up to 5 ms jitter, reorder 25 %, duplicate 1 %"


def test_model_refuses_settings_that_are_not_an_impairment() -> None:
    with pytest.raises(UsageError, match="must be an Impairment"):
        ImpairmentModel({"loss": 0.1}, random.Random(1))  # type: ignore[arg-type]


def test_direction_rng_knows_only_two_directions() -> None:
    with pytest.raises(UsageError, match="'forward' or 'backward'"):
        direction_rng(1, "sideways")


# -- decisions --------------------------------------------------------------------


def test_decision_properties() -> None:
    dropped = Decision(1.0, ())
    assert dropped.dropped
    assert not dropped.duplicated
    assert dropped.first == -1
    twice = Decision(1.0, (0.3, 0.1))
    assert twice.duplicated
    assert twice.delayed
    assert twice.releases == (1.3, 1.1)
    assert twice.first == 1  # the copy held for less goes first
    assert Decision(1.0, (0.2, 0.2)).first == 0  # a tie: the earlier copy
    assert not Decision(1.0, (0.0,)).delayed


@pytest.mark.parametrize("holds", [(), (0.0,), (0.01,), (0.02, 0.01)])
def test_a_link_event_reads_drops_and_copies_as_its_decision_does(
    holds: tuple[float, ...],
) -> None:
    # Built positionally, as the relays build it.
    event = LinkEvent(2.0, "forward", ("127.0.0.1", 5000), 3, 7, 64, holds, False)
    decision = Decision(2.0, holds)
    assert event.dropped == decision.dropped == (len(holds) == 0)
    assert event.duplicated == decision.duplicated == (len(holds) == 2)
    assert (event.seq, event.size, event.holds, event.express) == (7, 64, holds, False)
    assert LinkEvent.__match_args__ == (
        "time",
        "direction",
        "client",
        "index",
        "seq",
        "size",
        "holds",
        "express",
    )
    # Slotted records: the shared properties add no per-instance dict.
    assert not hasattr(event, "__dict__")
    assert not hasattr(decision, "__dict__")


def test_perfect_settings_pass_everything_at_once_and_draw_nothing() -> None:
    rng = random.Random(5)
    state = rng.getstate()
    model = ImpairmentModel(Impairment(), rng)
    assert model.passthrough
    for i in range(100):
        assert model.decide(float(i)) == Decision(float(i), (0.0,))
    assert rng.getstate() == state
    assert model.decisions == 100


def test_same_seed_gives_exactly_the_same_decisions() -> None:
    settings = Impairment(loss=0.2, delay=0.01, jitter=0.02, reorder=0.1, duplicate=0.1)
    assert decisions(settings, 42) == decisions(settings, 42)
    assert decisions(settings, "lab-3") == decisions(settings, "lab-3")


def test_different_seeds_give_different_decisions() -> None:
    settings = Impairment(loss=0.2, delay=0.01, jitter=0.02)
    assert decisions(settings, 1, 200) != decisions(settings, 2, 200)


def test_the_two_directions_of_one_seed_draw_differently() -> None:
    settings = Impairment(loss=0.5)
    forward = ImpairmentModel(settings, direction_rng(9, "forward"))
    backward = ImpairmentModel(settings, direction_rng(9, "backward"))
    assert [forward.decide(0).dropped for _ in range(100)] != [
        backward.decide(0).dropped for _ in range(100)
    ]


def test_decisions_depend_on_the_count_of_datagrams_not_on_time() -> None:
    settings = Impairment(loss=0.3, delay=0.01, jitter=0.01, duplicate=0.2)
    a = ImpairmentModel(settings, random.Random(3))
    b = ImpairmentModel(settings, random.Random(3))
    for i in range(500):
        da, db = a.decide(i * 0.001), b.decide(1000.0 + i * 7.3)
        assert da.holds == db.holds
        assert da.releases == tuple(i * 0.001 + h for h in da.holds)


def test_more_loss_drops_a_superset_with_the_same_seed() -> None:
    # Five draws per datagram whatever the outcome: the datagrams lost at a
    # lower rate are also lost at a higher one, so a slider compares like for like.
    low = {i for i, d in enumerate(decisions(Impairment(loss=0.1), 8)) if d.dropped}
    high = {i for i, d in enumerate(decisions(Impairment(loss=0.3), 8)) if d.dropped}
    assert low < high


def test_new_settings_apply_from_the_next_decision() -> None:
    model = ImpairmentModel(Impairment(), random.Random(1))
    assert not model.decide(0).dropped
    model.settings = Impairment(loss=1.0)
    assert model.decide(0).dropped
    assert model.settings == Impairment(loss=1.0)
    assert not model.passthrough


def test_loss_1_drops_all_and_duplicate_1_copies_all() -> None:
    assert all(d.dropped for d in decisions(Impairment(loss=1.0), 1, 300))
    assert all(len(d.holds) == 2 for d in decisions(Impairment(duplicate=1.0), 1, 300))


def test_loss_rate_is_within_5_sigma_of_the_setting() -> None:
    dropped = sum(d.dropped for d in decisions(Impairment(loss=0.3), 11))
    assert within_5_sigma(dropped, N, 0.3), dropped


def test_duplicate_rate_is_within_5_sigma_of_the_setting() -> None:
    copied = sum(d.duplicated for d in decisions(Impairment(duplicate=0.1), 12))
    assert within_5_sigma(copied, N, 0.1), copied


def test_reorder_rate_is_within_5_sigma_and_express_datagrams_do_not_wait() -> None:
    got = decisions(Impairment(delay=0.05, reorder=0.25), 13)
    express = [d for d in got if d.express]
    assert within_5_sigma(len(express), N, 0.25), len(express)
    assert all(d.holds == (0.0,) for d in express)
    assert all(d.holds == (0.05,) for d in got if not d.express)


def test_delay_is_never_undershot_and_jitter_stays_within_its_bound() -> None:
    got = decisions(Impairment(delay=0.01, jitter=0.004, duplicate=0.5), 14)
    holds = [h for d in got for h in d.holds]
    assert len(holds) > N
    assert min(holds) >= 0.01
    assert max(holds) <= 0.014
    # Uniform extra: the mean sits half-way into the jitter (5 sigma of a
    # uniform of width 4 ms over a few thousand samples is well under 0.2 ms).
    assert abs(sum(holds) / len(holds) - 0.012) < 0.0002


def test_each_copy_of_a_duplicate_gets_its_own_jitter() -> None:
    got = decisions(Impairment(delay=0.01, jitter=0.01, duplicate=1.0), 15, 100)
    assert sum(d.holds[0] != d.holds[1] for d in got) > 90


settings_strategy = st.builds(
    Impairment,
    loss=st.floats(0, 1),
    delay=st.floats(0.001, 1),
    jitter=st.floats(0, 1),
    reorder=st.floats(0, 1),
    duplicate=st.floats(0, 1),
)


@given(settings=settings_strategy, seed=st.integers(0, 2**32))
def test_every_decision_respects_its_settings(settings: Impairment, seed: int) -> None:
    for d in decisions(settings, seed, 50):
        assert len(d.holds) in (0, 1, 2)
        if d.express:
            assert d.holds
            assert all(h == 0.0 for h in d.holds)
        else:
            assert all(settings.delay <= h <= settings.delay + settings.jitter for h in d.holds)
        assert d.duplicated <= (settings.duplicate > 0)
        assert d.dropped <= (settings.loss > 0)


# -- the records a link reports --------------------------------------------------


def test_direction_stats_add_up_field_by_field() -> None:
    a = DirectionStats(received=3, forwarded=2, dropped=1, bytes_in=30, bytes_out=20)
    b = DirectionStats(received=1, forwarded=2, duplicated=1, bytes_in=10, bytes_out=20)
    stats = LinkStats("udp", a, b)
    assert stats.total == DirectionStats(
        received=4, forwarded=4, dropped=1, duplicated=1, bytes_in=40, bytes_out=40
    )


def test_decisions_by_identity_do_not_depend_on_arrival_order() -> None:
    settings = Impairment(loss=0.2, delay=0.01, jitter=0.01, duplicate=0.1, reorder=0.1)
    ids = [probe_identity(seq, copy) for seq in range(300) for copy in range(2)]
    ids += [arrival_identity(i) for i in range(300)]
    shuffled = random.Random(5).sample(ids, len(ids))
    a = ImpairmentModel(settings, direction_rng(4, "forward"))
    b = ImpairmentModel(settings, direction_rng(4, "forward"))
    in_order = {i: a.decide(0.0, i).holds for i in ids}
    assert {i: b.decide(7.0, i).holds for i in shuffled} == in_order
    # The seed and the direction matter; lower loss drops a subset.
    other = ImpairmentModel(settings, direction_rng(4, "backward"))
    assert {i: other.decide(0.0, i).holds for i in ids} != in_order
    lighter = ImpairmentModel(settings.replace(loss=0.1), direction_rng(4, "forward"))
    dropped = {i for i, holds in in_order.items() if not holds}
    assert {i for i in ids if lighter.decide(0.0, i).dropped} < dropped
    assert 0.1 < len(dropped) / len(ids) < 0.3
