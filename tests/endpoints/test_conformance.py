"""Every endpoint keeps the same life-cycle promises; one suite checks them all.

As trio's ``_check_streams`` serves every stream class, these tests run over
every class that registers as an endpoint: open and close it many times,
close it twice, use it after close (a ``ClosedError`` that says so),
``close_all()`` closes it, ``with`` closes it, even on an exception, and its
repr says it is closed. The autouse ``no_leaks`` fixture checks that none of
it left a thread, a descriptor or a live endpoint behind.

The classes are discovered, not listed by hand: every subclass of
``Endpoint`` and every class whose code registers itself with the registry.
A new endpoint class fails ``test_every_endpoint_class_is_in_the_suite``
until it has a line in ``CASES``.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import labsock
from labsock import (
    ClosedError,
    ImpairedLink,
    MulticastGroup,
    MulticastReceiver,
    MulticastSender,
    TCPEchoServer,
    UDPEchoServer,
)
from labsock._endpoints.base import Endpoint
from labsock._endpoints.stepper_machine import StepperMachine

#: How many times each endpoint is opened and closed in a row.
CYCLES = 50

#: Endpoint classes never made directly, only through their subclasses: qualified name -> why.
BASES = {
    "labsock._endpoints.base.Endpoint": "the base every endpoint shares",
    "labsock._endpoints.servers._Server": "what the TCP and UDP echo servers share",
}

#: Endpoint classes with a suite of their own instead: qualified name -> where, and why.
OWN_SUITE = {
    "labsock._endpoints.programs.Program": (
        "a child process, not a socket: a finished program's output stays readable "
        "after close(), so 'use after close' means nothing; tests/endpoints/test_cpp.py "
        "checks that close(), a re-run cell and close_all() kill and reap it"
    ),
}


@dataclass(frozen=True)
class Case:
    """How to make one kind of endpoint, and one call that needs it open."""

    name: str
    cls: type
    #: Makes the endpoint; anything it needs besides (a target, a group) goes on the stack.
    make: Callable[[contextlib.ExitStack], Any]
    #: Works while the endpoint is open; must raise ClosedError once it is closed.
    use: Callable[[Any], object]


CASES = [
    Case("TCPEchoServer", TCPEchoServer, lambda _: TCPEchoServer(), lambda s: s.address),
    Case("UDPEchoServer", UDPEchoServer, lambda _: UDPEchoServer(), lambda s: s.address),
    Case(
        "ImpairedLink-udp",
        ImpairedLink,
        lambda stack: ImpairedLink(stack.enter_context(UDPEchoServer()).address, loss=0.1),
        lambda link: link.address,
    ),
    Case(
        "ImpairedLink-tcp",
        ImpairedLink,
        lambda stack: ImpairedLink(
            stack.enter_context(TCPEchoServer()).address, delay=0.01, protocol="tcp"
        ),
        lambda link: link.address,
    ),
    Case("MulticastGroup", MulticastGroup, lambda _: MulticastGroup(), lambda g: g.send(b"x")),
    Case(
        "MulticastReceiver",
        MulticastReceiver,
        lambda stack: stack.enter_context(MulticastGroup()).receiver(),
        lambda r: r.leave(),
    ),
    Case(
        "MulticastSender",
        MulticastSender,
        lambda stack: stack.enter_context(MulticastGroup()).sender(),
        lambda s: s.send(b"x"),
    ),
    Case(
        "StepperMachine",
        StepperMachine,
        lambda _: StepperMachine(),
        lambda m: m.step("server", "socket"),
    ),
]


def _each_endpoint() -> Any:
    return pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])


def _make(case: Case, stack: contextlib.ExitStack) -> Any:
    """An endpoint, closed by the stack (again: close is idempotent) whatever the test did."""
    endpoint = case.make(stack)
    stack.callback(endpoint.close)
    return endpoint


@pytest.fixture
def stack() -> Any:
    """What the endpoint under test needs (a target server, a group), closed after it."""
    with contextlib.ExitStack() as resources:
        yield resources


# -- the promises ---------------------------------------------------------------------


@_each_endpoint()
def test_open_use_close_many_times_leaves_nothing(case: Case, stack: Any) -> None:
    for _ in range(CYCLES):
        with contextlib.ExitStack() as needs:
            endpoint = _make(case, needs)
            assert endpoint in labsock.live_endpoints()
            assert not endpoint.closed
            case.use(endpoint)
            endpoint.close()
            assert endpoint.closed
            assert endpoint not in labsock.live_endpoints()


@_each_endpoint()
def test_close_twice_is_harmless(case: Case, stack: Any) -> None:
    endpoint = _make(case, stack)
    endpoint.close()
    endpoint.close()
    assert endpoint.closed


@_each_endpoint()
def test_use_after_close_raises_closed_error(case: Case, stack: Any) -> None:
    endpoint = _make(case, stack)
    endpoint.close()
    with pytest.raises(ClosedError, match="closed"):
        case.use(endpoint)


@_each_endpoint()
def test_close_all_closes_it(case: Case, stack: Any) -> None:
    endpoint = _make(case, stack)
    assert endpoint in labsock.live_endpoints()
    assert labsock.close_all() >= 1
    assert endpoint.closed
    assert labsock.live_endpoints() == []


@_each_endpoint()
def test_with_closes_it_even_on_an_exception(case: Case, stack: Any) -> None:
    endpoint = _make(case, stack)
    with endpoint as entered:
        assert entered is endpoint
        assert not endpoint.closed
    assert endpoint.closed
    failing = _make(case, stack)
    with pytest.raises(RuntimeError, match="the cell failed"), failing:
        raise RuntimeError("the cell failed")
    assert failing.closed


@_each_endpoint()
def test_repr_says_closed(case: Case, stack: Any) -> None:
    endpoint = _make(case, stack)
    assert "closed" not in repr(endpoint)
    endpoint.close()
    assert "closed" in repr(endpoint)


# -- no endpoint escapes the suite ----------------------------------------------------


def _labsock_modules() -> list[Any]:
    for info in pkgutil.walk_packages(labsock.__path__, "labsock."):
        if info.name.rpartition(".")[2] != "__main__":  # running it would run a program
            importlib.import_module(info.name)
    return [m for name, m in sorted(sys.modules.items()) if name.startswith("labsock")]


def _registers_itself(cls: type) -> bool:
    """Whether the class's own code calls the registry's ``register(...)``."""
    tree = ast.parse(inspect.getsource(cls).lstrip())
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "register":
            return True  # from labsock._endpoints.registry import register
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "register"
            and isinstance(func.value, ast.Name)
            and "registry" in func.value.id  # not a selector's register()
        ):
            return True
    return False


def _endpoint_classes() -> set[str]:
    found: set[str] = set()
    for module in _labsock_modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue  # imported here, defined elsewhere
            if issubclass(cls, Endpoint) or _registers_itself(cls):
                found.add(f"{cls.__module__}.{cls.__qualname__}")
    return found


def test_every_endpoint_class_is_in_the_suite() -> None:
    covered = {f"{c.cls.__module__}.{c.cls.__qualname__}" for c in CASES}
    missing = _endpoint_classes() - covered - set(BASES) - set(OWN_SUITE)
    assert not missing, f"endpoint classes the conformance suite does not run: {sorted(missing)}"


def test_discovery_finds_subclasses_and_self_registering_classes() -> None:
    found = _endpoint_classes()
    assert "labsock._endpoints.servers.TCPEchoServer" in found  # a subclass of Endpoint
    assert "labsock._endpoints.base.Endpoint" in found  # registers itself (the base)
    # A selector's register() is not the registry's.
    assert not any(name.endswith(".TCPRelay") for name in found)
