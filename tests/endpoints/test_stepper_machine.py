"""The socket stepper's machine on its own: one dispatch table, no widgets, real sockets."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from labsock._core.errors import ClosedError, UsageError
from labsock._core.stepper_explain import Situation, explain
from labsock._endpoints.stepper_machine import CALLS, CONVERSATION, HANDLERS, StepperMachine
from labsock._results.stepper import StepResult


def _supported() -> set[tuple[str, str]]:
    return {
        (actor, call)
        for by_actor in CALLS.values()
        for actor, calls in by_actor.items()
        for call in calls
    }


def test_the_dispatch_table_names_every_call_the_machine_supports_and_no_other() -> None:
    assert set(HANDLERS) == _supported()
    assert len(HANDLERS) == 17
    # Each entry is a method of the machine (a reader can follow it there).
    for (actor, call), handler in HANDLERS.items():
        assert getattr(StepperMachine, handler.__name__) is handler, (actor, call)


@pytest.mark.parametrize("protocol", sorted(CALLS))
def test_every_call_of_every_protocol_is_dispatched_and_gives_a_result(protocol: str) -> None:
    # Pressed in button order on a fresh machine, many calls fail: a failure
    # is a result (explained), never an exception, and still in the trace.
    with StepperMachine(protocol, timeout=0.05) as machine:
        for actor, calls in CALLS[protocol].items():
            for call in calls:
                result = machine.step(actor, call)
                assert isinstance(result, StepResult)
                assert (result.actor, result.call) == (actor, call)
                assert result.code, result
                assert result.message, result
        assert machine.trace.calls("server")[:2] == ["socket", "bind"]


@pytest.mark.parametrize(
    ("protocol", "actor", "call", "words"),
    [
        ("tcp", "router", "socket", "'server' or 'client'"),
        ("tcp", "client", "accept", "its steps are socket, connect, send"),
        ("tcp", "server", "_server_socket", "no '_server_socket' step"),
        ("udp", "server", "listen", "no 'listen' step in UDP"),  # in the table, not in UDP
        ("tcp", "client", "recvfrom", "no 'recvfrom' step in TCP"),
    ],
)
def test_an_unknown_call_is_refused_with_a_usage_error_and_nothing_is_called(
    protocol: str, actor: str, call: str, words: str
) -> None:
    with StepperMachine(protocol) as machine:
        with pytest.raises(UsageError, match=words):
            machine.step(actor, call)
        assert len(machine.trace) == 0
        assert machine.step("server", "socket").ok  # refused, and still usable


def test_the_machine_runs_the_conversation_and_reads_the_kernels_states() -> None:
    with StepperMachine() as machine:
        trace = machine.run()
        assert [(e.role, e.call) for e in trace.events] == list(CONVERSATION["tcp"])
        assert all(e.ok for e in trace.events)
        rows, _passing = machine.settle()
        states = {label: row.state for label, row in rows}
        assert states["server"] == "LISTEN"
        # The client closed first: the kernel keeps its end, half-closed or waiting.
        assert states["client"] in {"FIN_WAIT2", "TIME_WAIT"}, states
        machine.reset()
        assert len(machine.trace) == 0
        assert machine.states() == {}


def test_the_machine_says_its_protocol_and_calls_then_that_it_is_closed() -> None:
    # The life cycle every endpoint shares is checked in endpoints/test_conformance.py.
    machine = StepperMachine("udp")
    machine.step("server", "socket")
    assert repr(machine) == "<StepperMachine UDP 1 calls>"
    machine.close()
    assert repr(machine) == "<StepperMachine UDP closed>"
    with pytest.raises(ClosedError, match="run the cell that made it"):
        machine.step("server", "bind")


def test_the_same_error_is_explained_by_the_situation_without_touching_a_socket() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    assert explain(
        "client", "connect", refused, Situation("tcp", 0.25, listener_open=True)
    ).endswith("nothing is listening yet: press server.listen first")
    assert explain("client", "connect", refused, Situation("tcp", 0.25)).endswith(
        "nothing is listening there any more: the server socket is closed"
    )
    waited = TimeoutError("timed out")
    before = explain("server", "recv", waited, Situation("tcp", 0.25, listener_open=True))
    assert before.startswith("TimeoutError: timed out: the listening socket carries no data")
    after = explain("server", "recv", waited, Situation("tcp", 0.25, accepted=True))
    assert after.endswith(
        "nothing to receive yet (waited 0.25 s): the client has not sent anything"
    )


ALONE = textwrap.dedent(
    """
    import sys
    import warnings
    warnings.simplefilter("error")
    from labsock._endpoints.stepper_machine import StepperMachine

    def heavy():
        return sorted(
            name for name in sys.modules
            if name.split(".")[0] in ("ipywidgets", "matplotlib", "IPython")
            or name.startswith(("labsock._panels", "labsock._viz", "labsock.widgets"))
        )

    print("imported", heavy())
    for protocol in ("tcp", "udp"):
        with StepperMachine(protocol) as machine:
            print(protocol, machine.run().calls("client"), machine.states().get("server"))
    print("ran", heavy())
    """
)


def test_the_machine_alone_imports_no_widgets_and_no_plotting() -> None:
    out = subprocess.run(
        [sys.executable, "-c", ALONE], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert lines["imported"] == "[]"
    assert lines["tcp"] == "['socket', 'connect', 'send', 'recv', 'close'] LISTEN"
    assert lines["udp"] == "['socket', 'sendto', 'recvfrom', 'close'] None"
    assert lines["ran"] == "[]"
