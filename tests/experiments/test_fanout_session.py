"""The fan-out session: the one fan-out loop, which fan_out and MulticastLab both run."""

from __future__ import annotations

import pytest

from labsock._core.errors import UsageError
from labsock._endpoints.multicast import MulticastGroup
from labsock._experiments.fanout import FanOutSession
from labsock._results.fanout import MembershipEvent


def test_session_numbers_on_across_bursts_and_keeps_every_membership_change_exact() -> None:
    with MulticastGroup() as group:
        session = FanOutSession(group, interval=0.0)
        session.add(group.receiver("r1"))
        session.add(group.receiver("r2"))
        session.send(10)
        assert session.leave("r2")
        assert not session.leave("r2")  # already out: nothing happens
        session.send(10)
        session.add(group.receiver("r3"))  # added late: a join before #20
        assert session.join("r2")
        session.send(10, schedule={25: [("r1", "leave")]})
        result = session.result()

    assert result.count == 30
    assert result.names == ("r1", "r2", "r3")
    assert result.expected == (
        (True,) * 25 + (False,) * 5,
        (True,) * 10 + (False,) * 10 + (True,) * 10,
        (False,) * 20 + (True,) * 10,
    )
    assert result.matrix == result.expected
    assert result.lost == result.unexpected == result.cross_talk == (0, 0, 0)
    assert result.events == (
        MembershipEvent("r2", "leave", 10),
        MembershipEvent("r3", "join", 20),
        MembershipEvent("r2", "join", 20),
        MembershipEvent("r1", "leave", 25),
    )
    assert [seq for seq, _ in result.arrivals[0]] == list(range(25))
    assert len(result.sent_times) == 30


def test_a_change_undone_before_the_next_datagram_is_no_change_and_a_removal_keeps_its_row() -> (
    None
):
    with MulticastGroup() as group:
        session = FanOutSession(group, interval=0.0)
        session.add(group.receiver("r1"))
        session.add(group.receiver("r2"))
        session.add(group.receiver("r3"))
        session.remove("r3")  # never a member for any datagram: no row
        session.send(5)
        session.leave("r1")
        session.join("r1")  # back before any datagram: nothing to show
        session.remove("r2")
        session.send(5)
        result = session.result()
        assert session.members == ("r1",)
        assert session.receiver("r2") is None

    assert result.names == ("r1", "r2")
    assert result.events == (MembershipEvent("r2", "leave", 5),)
    assert result.received == (10, 5)
    assert result.missed("r2") == tuple(range(5, 10))


def test_session_refuses_unknown_receivers_and_closes_its_own_endpoints_only() -> None:
    with MulticastGroup() as group:
        session = FanOutSession(group)
        session.add(group.receiver("r1"))
        with pytest.raises(UsageError, match="no receiver 'r9'"):
            session.leave("r9")
        with pytest.raises(UsageError, match="already is a receiver 'r1'"):
            session.add(group.receiver("r1"))
        session.close()
        assert session.sender.closed
        assert not group.closed
        assert len(group.receivers) == 1  # the refused second r1 is the group's, not the session's
    with pytest.raises(UsageError, match="size"):
        FanOutSession(group, size=8)
