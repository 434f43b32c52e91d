"""A refused multicast group leaves the process's set of groups as it found it."""

from __future__ import annotations

import socket
from typing import Any

import pytest

import labsock
from labsock import AddressInUse, LabsockError, MulticastGroup
from labsock._endpoints import mcaddress

#: Arguments every check refuses after the group itself has passed its own.
#: Each with its own group: a group that was made stays reserved for the process.
REFUSED: dict[str, tuple[str, dict[str, Any]]] = {
    "ttl above 1": ("239.255.77.71", {"ttl": 5}),
    "another interface": ("239.255.77.72", {"interface": "10.1.2.3"}),
    "bad port": ("239.255.77.73", {"port": 70000}),
    "bad ttl type": ("239.255.77.74", {"ttl": "1"}),
}


def drawn() -> set[str]:
    with mcaddress._drawn_lock:
        return set(mcaddress._drawn)


@pytest.mark.parametrize(("group", "kwargs"), REFUSED.values(), ids=list(REFUSED))
def test_a_refused_group_given_by_hand_is_not_reserved(group: str, kwargs: dict[str, Any]) -> None:
    before = drawn()
    assert group not in before
    with pytest.raises(LabsockError):
        MulticastGroup(group, **kwargs)
    assert drawn() == before
    assert labsock.live_endpoints() == []
    # The same group, with good arguments, is then made as usual.
    with MulticastGroup(group) as made:
        assert made.address[0] == group
        assert group in drawn()


@pytest.mark.parametrize("kwargs", [k for _, k in REFUSED.values()], ids=list(REFUSED))
def test_a_refused_default_group_draws_nothing(kwargs: dict[str, Any]) -> None:
    before = drawn()
    with pytest.raises(LabsockError):
        MulticastGroup(**kwargs)
    assert drawn() == before


def test_a_group_whose_port_is_taken_is_not_reserved() -> None:
    group = "239.255.77.78"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        # Bound to the group and a port without SO_REUSEADDR: nobody shares it.
        holder.bind((group, 0))
        port = holder.getsockname()[1]
        before = drawn()
        with pytest.raises(AddressInUse):
            MulticastGroup(group, port)
    assert drawn() == before
