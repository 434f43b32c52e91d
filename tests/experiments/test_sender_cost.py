"""The sender-cost experiment: N unicast copies against one multicast datagram."""

from __future__ import annotations

import pytest

import labsock
from labsock._experiments.sender_cost import sender_cost


def test_both_methods_deliver_one_copy_per_receiver_per_message() -> None:
    cost = sender_cost(receivers=3, count=40, size=200)
    assert cost.expected == 120
    assert cost.unicast_delivered == 120
    assert cost.multicast_delivered == 120
    assert len(cost.unicast) == len(cost.multicast) == 40
    assert all(t > 0 for t in (*cost.unicast, *cost.multicast))
    assert cost.group.startswith("239.255.")
    text = cost.summary()
    assert "3 sendto() per message" in text
    assert "delivered 120/120" in text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"receivers": 0}, "receivers=0"), ({"count": -1}, "count=-1"), ({"size": 70_000}, "65,507")],
)
def test_bad_arguments_are_refused(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(labsock.UsageError, match=match):
        sender_cost(**kwargs)


@pytest.mark.usefixtures("fonts_loaded")
def test_sender_cost_plot_draws_one_point_per_receiver_count_each_way() -> None:
    from labsock import plots

    costs = [sender_cost(receivers=n, count=20) for n in (1, 3)]
    fig = plots.sender_cost(costs)
    ax = fig.axes[0]
    lines = [line for line in ax.lines if line.get_label().startswith(("unicast", "multicast"))]
    assert len(lines) == 2
    for line in lines:
        assert list(line.get_xdata()) == [1, 3]
    assert "receivers" in ax.get_xlabel()
    assert "µs" in ax.get_ylabel()
    with pytest.raises(labsock.UsageError):
        plots.sender_cost([])
