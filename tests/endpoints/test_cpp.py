"""The C++ lesson's programs, run for real beside labsock's Python endpoints.

Every program is compiled once per session (with -Werror); the runs use
those builds. Without a C++ compiler every test here skips with the reason;
without a usable strace, the tracing tests do.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import labsock
from labsock import cpp
from labsock._endpoints import compiler, programs
from labsock._endpoints import strace as strace_reader
from labsock._endpoints.compiler import compile_program
from labsock._panels import cpp_lesson
from tests.helpers import ROOT, tcp_echo

HAS_CXX, CXX_REASON = cpp.available()
HAS_STRACE, STRACE_REASON = cpp.tracing()
needs_cxx = pytest.mark.skipif(not HAS_CXX, reason=CXX_REASON)
needs_strace = pytest.mark.skipif(not HAS_STRACE, reason=STRACE_REASON)

PROGRAMS = ("tcp_server", "tcp_client", "udp_sender", "udp_receiver", "multicast_receiver")
STRICT = ("-Werror",)
COMPILERS = [c for c in ("g++", "clang++") if shutil.which(c)]
LOCAL = "127.0.0.1"


@pytest.fixture(scope="session")
def built() -> dict[str, cpp.Executable]:
    """Every lesson program, compiled once with -Wall -Wextra -Werror -std=c++17."""
    if not HAS_CXX:
        pytest.skip(CXX_REASON)
    return {name: compile_program(f"{name}.cpp", flags=STRICT) for name in PROGRAMS}


@pytest.fixture(autouse=True)
def no_children() -> Iterator[None]:
    """No child process outlives a test: every program was killed and reaped.

    Children that were there before the test (a browser session another test
    module keeps for the whole run) are not this test's.
    """
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    children = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert not children, f"child processes left running: {children}"


# -- compiling ----------------------------------------------------------------------
@needs_cxx
@pytest.mark.parametrize("name", PROGRAMS)
@pytest.mark.parametrize("cxx", COMPILERS or ["g++"])
def test_every_program_compiles_without_a_warning(name: str, cxx: str) -> None:
    if shutil.which(cxx) is None:
        pytest.skip(f"{cxx} is not installed")
    exe = compile_program(f"{name}.cpp", flags=STRICT, cxx=cxx)
    assert exe.path.is_file()
    assert "-std=c++17" in cpp.CPP_FLAGS


@needs_cxx
def test_a_second_compile_of_the_same_source_is_the_cached_build(
    built: dict[str, cpp.Executable],
) -> None:
    again = compile_program("tcp_server.cpp", flags=STRICT)
    assert again.path == built["tcp_server"].path
    changed = compile_program("tcp_server.cpp", flags=(*STRICT, "-DCHANGED"))
    assert changed.path != built["tcp_server"].path


@needs_cxx
def test_a_compile_error_names_the_cells_own_line() -> None:
    source = '#include <iostream>\nint main() {\n    std::cout << missing << "\\n";\n}\n'
    with pytest.raises(cpp.CompileError) as caught:
        compile_program(source, name="broken", first_line=2)
    message = str(caught.value)
    # The C++ starts on the cell's line 2 (the %%cpp line is line 1): the error is on line 4.
    assert "cell:4:" in message, message
    assert "missing" in message, message
    assert "was not declared" in message, message
    assert "1 error" in message


# -- echo, both ways, byte for byte -------------------------------------------------------
SIZES = [1, 1000, 65536, 65537, 1 << 20]


def _payload(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@pytest.mark.parametrize("size", SIZES)
def test_cpp_client_gets_its_bytes_back_from_the_python_echo_server(
    built: dict[str, cpp.Executable], size: int
) -> None:
    data = _payload(size)
    with labsock.TCPEchoServer() as server:
        client = cpp.run(built["tcp_client"], *server.address, stdin=data)
    assert client.stdout_bytes == data
    assert "connected from 127.0.0.1:" in client.stderr


def test_python_client_gets_its_bytes_back_from_the_cpp_server(
    built: dict[str, cpp.Executable],
) -> None:
    server = cpp.start(built["tcp_server"], LOCAL, 0, len(SIZES), ready="listening")
    with server:
        for size in SIZES:
            data = _payload(size)
            assert tcp_echo(server.address, data) == data, f"{size} bytes"
        server.wait()
    for size in SIZES:
        assert f"echoed {size} bytes" in server.stdout


def test_labsock_tcp_ping_works_against_the_cpp_server(built: dict[str, cpp.Executable]) -> None:
    with cpp.start(built["tcp_server"], LOCAL, 0, 1, ready="listening") as server:
        result = labsock.ping(server.address, protocol="tcp", count=20, timeout=2.0)
        server.wait()
    assert result.received == 20
    assert result.lost == 0


def test_the_cpp_server_serves_fifty_python_clients_at_once(
    built: dict[str, cpp.Executable],
) -> None:
    clients = 50
    server = cpp.start(built["tcp_server"], LOCAL, 0, clients, ready="listening", timeout=30)
    replies: dict[int, bytes] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(clients)

    def talk(number: int) -> None:
        try:
            start.wait(10)
            replies[number] = tcp_echo(server.address, _payload(1000 + number))
        except BaseException as exc:
            errors.append(exc)

    with server:
        threads = [threading.Thread(target=talk, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        server.wait()
    assert not errors, errors[:3]
    assert replies == {n: _payload(1000 + n) for n in range(clients)}
    assert server.stdout.count("then the client closed") == clients


# -- UDP and multicast --------------------------------------------------------------------
def test_cpp_udp_sender_reports_the_loss_the_seeded_link_made(
    built: dict[str, cpp.Executable],
) -> None:
    count = 100
    with (
        labsock.UDPEchoServer() as echo,
        labsock.ImpairedLink(echo.address, loss=0.2, seed=16) as link,
    ):
        sender = cpp.run(built["udp_sender"], *link.address, count)
        stats = link.statistics()
    match = re.search(r"sent (\d+), received (\d+), lost (\d+)", sender.stdout)
    assert match is not None, sender.stdout
    sent, received, lost = map(int, match.groups())
    dropped = stats.forward.dropped + stats.backward.dropped
    assert sent == count == stats.forward.received
    assert lost == dropped > 0, (sender.stdout, stats)
    assert received == stats.backward.forwarded
    assert stats.forward.failed == stats.backward.failed == 0


def test_python_ping_gets_every_reply_from_the_cpp_udp_receiver(
    built: dict[str, cpp.Executable],
) -> None:
    with cpp.start(built["udp_receiver"], LOCAL, 0, 30, ready="bound to") as receiver:
        result = labsock.ping(receiver.address, count=30, timeout=2.0)
        receiver.wait()
    assert result.received == 30
    assert "received and echoed 30 datagram(s)" in receiver.stdout


def test_cpp_multicast_receiver_counts_what_labsock_sent(
    built: dict[str, cpp.Executable],
) -> None:
    count = 25
    with labsock.MulticastGroup(ttl=1) as group:
        assert group.group.startswith("239.255.")
        assert group.interface == "127.0.0.1"
        receiver = cpp.start(
            built["multicast_receiver"], group.group, group.port, count, 2, ready="joined"
        )
        with receiver:
            sender = group.sender()
            for n in range(count):
                sender.send(f"datagram {n}".encode())
            receiver.wait()
        sent = sender.sent
    assert sent == count
    assert f"received {count} datagram(s)" in receiver.stdout, receiver.stdout


# -- the trace -----------------------------------------------------------------------------
def _python_echo_trace() -> labsock.Trace:
    """The experiment of lesson 01 with an echo: Python server and client, traced."""
    trace = labsock.Trace()
    listener = trace.socket(socket.AF_INET, socket.SOCK_STREAM, actor="server")
    listener.settimeout(5)
    listener.bind((LOCAL, 0))
    listener.listen()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            while data := conn.recv(65536):
                conn.sendall(data)

    thread = threading.Thread(target=serve)
    thread.start()
    client = trace.socket(socket.AF_INET, socket.SOCK_STREAM, actor="client")
    client.settimeout(5)
    client.connect(listener.getsockname())
    client.sendall(b"hello")
    client.recv(1024)
    client.close()
    thread.join(5)
    listener.close()
    return trace


def _cpp_echo_trace(built: dict[str, cpp.Executable]) -> labsock.Trace:
    trace = labsock.Trace()
    with cpp.start(
        built["tcp_server"], LOCAL, 0, 1, ready="listening", trace=trace, actor="server"
    ) as server:
        cpp.run(built["tcp_client"], *server.address, "hello", trace=trace, actor="client")
        server.wait()
    return trace


@needs_strace
def test_the_cpp_trace_has_the_materials_calls_in_order(built: dict[str, cpp.Executable]) -> None:
    trace = _cpp_echo_trace(built)
    assert cpp.life_cycle(trace, "server") == [
        "socket",
        "bind",
        "listen",
        "accept",
        "recv",
        "send",
        "recv",
        "close",
    ]
    assert cpp.life_cycle(trace, "client") == ["socket", "connect", "send", "recv", "close"]
    last_recv = [e for e in trace.events if e.actor == "server#1" and e.call == "recv"][-1]
    assert last_recv.nbytes == 0
    assert "end of stream" in last_recv.result
    accept = next(e for e in trace.events if e.call == "accept")
    connect = next(e for e in trace.events if e.call == "connect")
    assert accept.peer == connect.local, "accept names the client's own address"


@needs_strace
def test_the_cpp_trace_has_the_shape_of_the_python_trace(
    built: dict[str, cpp.Executable],
) -> None:
    cpp_trace, python_trace = _cpp_echo_trace(built), _python_echo_trace()
    for actor in ("server", "client"):
        assert cpp.life_cycle(cpp_trace, actor) == cpp.life_cycle(python_trace, actor), actor
    assert set(cpp_trace.actors) == set(python_trace.actors) == {"server", "server#1", "client"}
    # The same diagram: data arrows client -> server#1 and back, the handshake, the FINs.
    from labsock._core.conversation import conversation

    def arrows(trace: labsock.Trace) -> list[tuple[str, str, str]]:
        # Sorted: whether the client's send or the server's accept comes first is a race.
        return sorted((m.kind, m.source, m.target) for m in conversation(trace.events).messages)

    assert arrows(cpp_trace) == arrows(python_trace)


def test_the_recorded_run_reads_as_the_live_one() -> None:
    recorded = cpp.recorded_run()
    assert cpp.life_cycle(recorded.trace, "client") == [
        "socket",
        "connect",
        "send",
        "recv",
        "close",
    ]
    assert cpp.life_cycle(recorded.trace, "server")[:4] == ["socket", "bind", "listen", "accept"]
    assert "received 5 bytes: hello" in recorded.outputs["client"]
    assert recorded.trace.events[0].time > 0


def test_strace_lines_split_by_another_thread_are_joined() -> None:
    text = (
        "10 1.000000 accept(3, <unfinished ...>\n"
        "11 1.100000 close(5) = 0 <0.000001>\n"
        "10 1.200000 <... accept resumed>{sa_family=AF_INET, sin_port=htons(4000), "
        'sin_addr=inet_addr("127.0.0.1")}, [16]) = 4 <0.200000>\n'
        '10 1.300000 recvfrom(4, "a\\nb\\0\\377", 65536, 0, NULL, NULL) = 5 <0.000010>\n'
    )
    calls = strace_reader.parse(text)
    assert [c.name for c in calls] == ["accept", "close", "recvfrom"]
    assert calls[0].start == 1.0
    assert calls[0].ret == 4
    assert strace_reader.socket_addresses(calls[0].args) == [("127.0.0.1", 4000)]
    assert strace_reader._unescape("a\\nb\\0\\377") == b"a\nb\x00\xff"


# -- bad input: each a clear error, nothing left running -----------------------------------
@needs_cxx
def test_a_segfault_is_a_crash_with_its_name() -> None:
    exe = compile_program("int main() { volatile int* p = nullptr; return *p; }", name="segfault")
    with pytest.raises(cpp.ProgramCrashed, match="segmentation fault"):
        cpp.run(exe)
    assert not labsock.live_endpoints()


@needs_cxx
def test_a_program_that_never_exits_is_stopped_at_its_time_limit() -> None:
    exe = compile_program("#include <unistd.h>\nint main() { for (;;) pause(); }", name="forever")
    program = cpp.start(exe, timeout=0.5)
    with pytest.raises(cpp.ProgramTimeout, match=r"did not finish within 0\.5 s"):
        program.wait()
    assert program.returncode is not None
    assert not program.running
    assert not labsock.live_endpoints()


@needs_cxx
def test_close_all_stops_a_running_program() -> None:
    exe = compile_program("#include <unistd.h>\nint main() { for (;;) pause(); }", name="forever")
    program = cpp.start(exe, timeout=600)  # far beyond the test: only close_all can stop it
    assert program.running
    assert program in labsock.live_endpoints()
    assert labsock.close_all() >= 1
    assert not program.running
    assert program.returncode is not None


def test_a_port_in_use_is_said_so(built: dict[str, cpp.Executable]) -> None:
    with socket.socket() as holder:
        holder.bind((LOCAL, 0))
        holder.listen()
        with pytest.raises(cpp.ProgramAddressInUse, match="already in use") as caught:
            cpp.run(built["tcp_server"], *holder.getsockname())
    assert isinstance(caught.value, labsock.AddressInUse)
    assert "port 0" in str(caught.value)


@needs_cxx
def test_a_non_loopback_argument_is_refused_before_anything_runs() -> None:
    # A program that makes no socket at all: even if the guard failed, nothing would be sent.
    exe = compile_program("int main() { return 0; }", name="quiet")
    before = psutil.Process().children()
    with pytest.raises(labsock.LabsockError, match="not a loopback address"):
        cpp.start(exe, "192.0.2.1", 7, "hello")
    with pytest.raises(labsock.LabsockError, match="not a loopback address"):
        cpp.start(exe, "10.1.2.3:80")
    assert psutil.Process().children() == before
    assert not labsock.live_endpoints()


@needs_cxx
@needs_strace
def test_the_strace_watch_stops_a_program_that_binds_a_non_loopback_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # bind() sends nothing: the watch over the trace can be shown safely. The
    # library inside the program would refuse first: without it, strace sees the call.
    monkeypatch.setattr(programs, "preload_library", lambda: (None, "off for this test"))
    source = (
        '#include "socket.hpp"\n'
        "int main() {\n"
        "    labsock::Socket s(SOCK_DGRAM);\n"
        '    try { s.bind(labsock::Address("192.0.2.1", 9)); } catch (...) {}\n'
        "    return 0;\n"
        "}\n"
    )
    exe = compile_program(source, name="binds_outside")
    trace = labsock.Trace()
    with pytest.raises(labsock.LabsockError, match="not a loopback address"):
        cpp.run(exe, trace=trace, actor="outsider")
    assert trace.calls("outsider")[:2] == ["socket", "bind"]


@needs_cxx
def test_the_cell_magic_prints_compile_errors_without_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cpp_lesson._cpp_magic("oops", "int main() { return nope; }\n")
    err = capsys.readouterr().err
    assert err.startswith("oops does not compile (1 error; the line numbers are the cell's)")
    assert "cell:2:" in err
    assert "Traceback" not in err


@needs_cxx
def test_the_cell_magic_runs_the_cell_and_prints_its_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cpp_lesson._cpp_magic(
        "hello 127.0.0.1",
        "#include <iostream>\nint main(int, char** argv) "
        '{ std::cout << "hi " << argv[1] << "\\n"; }\n',
    )
    out = capsys.readouterr()
    assert out.out == "hi 127.0.0.1\n", out


def test_the_trace_watch_refuses_each_way_out_and_passes_loopback() -> None:
    def call(name: str, args: str) -> strace_reader.Call:
        return strace_reader.Call(1, 0.0, 0.0, name, args, 0, None)

    inet = 'sin_port=htons(53), sin_addr=inet_addr("{}")'
    join = 'imr_multiaddr=inet_addr("239.255.1.2"), imr_interface=inet_addr("{}")'
    refused = [
        call("connect", "3, {sa_family=AF_INET, " + inet.format("8.8.8.8") + "}, 16"),
        call("sendto", '3, "x", 1, 0, {sa_family=AF_INET, ' + inet.format("239.255.1.2") + "}"),
        call("bind", "3, {sa_family=AF_INET, " + inet.format("0.0.0.0") + "}, 16"),
        call("setsockopt", "3, SOL_IP, IP_ADD_MEMBERSHIP, {" + join.format("10.0.0.5") + "}, 8"),
        call("setsockopt", "3, SOL_IP, IP_MULTICAST_TTL, [2], 4"),
    ]
    for each in refused:
        with pytest.raises(labsock.NotLoopback):
            programs.check_call(each, what="test")
    allowed = [
        call("connect", "3, {sa_family=AF_INET, " + inet.format("127.0.0.1") + "}, 16"),
        call("bind", "3, {sa_family=AF_INET, " + inet.format("239.255.1.2") + "}, 16"),
        call("setsockopt", "3, SOL_IP, IP_ADD_MEMBERSHIP, {" + join.format("127.0.0.1") + "}, 8"),
        call("setsockopt", "3, SOL_IP, IP_MULTICAST_TTL, [1], 4"),
    ]
    for each in allowed:
        programs.check_call(each, what="test")


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"LABSOCK_CXX": "none"}, "C++ compiler: no C++ compiler on this machine"),
        ({"LABSOCK_STRACE": "none"}, "tracing C++ programs: tracing is turned off here"),
    ],
    ids=["no-compiler", "no-strace"],
)
def test_the_lesson_runs_without_a_compiler_or_strace_and_says_so_once(
    tmp_path: Path, env: dict[str, str], line: str
) -> None:
    root = ROOT
    done = subprocess.run(
        [
            *(sys.executable, "scripts/execute_notebooks.py"),
            *("--output-dir", str(tmp_path), "--jobs", "1", "notebooks/05_cpp.ipynb"),
        ],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    executed = json.loads((tmp_path / "05_cpp.ipynb").read_text())
    streams = [
        (out["name"], "".join(out["text"]))
        for cell in executed["cells"]
        for out in cell.get("outputs", [])
        if out["output_type"] == "stream"
    ]
    assert any(line in text for _, text in streams), streams[:2]
    assert not any(
        o["output_type"] == "error" for c in executed["cells"] for o in c.get("outputs", [])
    )
    assert not any("Traceback" in text for _, text in streams)


@needs_cxx
def test_the_guard_inside_the_program_refuses_before_the_call() -> None:
    # 0.0.0.0 as a destination means this machine on Linux, and a TTL refused
    # sends nothing: even a broken guard could not let a packet out here.
    connects = compile_program(
        '#include "socket.hpp"\n#include <iostream>\nint main() {\n'
        "    labsock::Socket s(SOCK_STREAM);\n"
        '    try { s.connect(labsock::Address("0.0.0.0", 9)); }\n'
        "    catch (const std::exception& e) { std::cout << e.what() << std::endl; }\n"
        "    for (;;) {}\n}\n",
        name="connects_anywhere",
    )
    program = cpp.start(connects, timeout=20)
    with pytest.raises(labsock.NotLoopback, match=r"refused its connect to 0\.0\.0\.0:9") as caught:
        program.wait()
    assert "before the call was made" in str(caught.value)
    # The library said so before the call (the program may be killed before it prints).
    assert "labsock-guard: refused connect to 0.0.0.0:9" in program.stderr
    assert not program.running, "stopped at once, long before its time limit"
    raises_ttl = compile_program(
        '#include "socket.hpp"\nint main() {\n    labsock::Socket s(SOCK_DGRAM);\n'
        "    int ttl = 5;\n    s.set_option(IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);\n}\n",
        name="raises_ttl",
    )
    with pytest.raises(labsock.NotLoopback, match="IP_MULTICAST_TTL"):
        cpp.run(raises_ttl)


@needs_cxx
def test_a_python_process_that_exits_takes_its_programs_with_it() -> None:
    # What kernel shutdown does: the registry's atexit hook closes every endpoint.
    script = (
        "from labsock import cpp\n"
        "exe = cpp.build('#include <unistd.h>\\nint main() { for (;;) pause(); }')\n"
        "program = cpp.start(exe, timeout=600)\n"
        "print(program.pid, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    pid = int(done.stdout.split()[0])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_the_lessons_class_diagram_names_only_what_the_sources_have() -> None:
    notebook = ROOT / "notebooks" / "05_cpp.ipynb"
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    diagram = next("".join(c["source"]) for c in cells if "classDiagram" in "".join(c["source"]))
    sources = {name: cpp.source(name) for name in cpp.programs()}
    classes = re.findall(r"class (\w+) \{(.*?)\}", diagram, re.DOTALL)
    assert {name for name, _ in classes} >= {"Socket", "Address", "SocketError"}
    assert {name for name, _ in classes} >= {"EchoServer", "EchoClient"}
    for name, body in classes:
        text = next(t for t in sources.values() if re.search(rf"class {name}\b", t))
        for member in re.findall(r"[+-]~?(\w+)", body):
            assert re.search(rf"\b{member}\b", text), f"{name}.{member} is not in the source"


@needs_cxx
def test_a_background_cell_program_runs_until_close_all(capsys: pytest.CaptureFixture[str]) -> None:
    source = (
        "#include <iostream>\n#include <unistd.h>\n"
        'int main() { std::cout << "up" << std::endl; for (;;) pause(); }\n'
    )
    cpp_lesson._cpp_magic("--background --timeout 600 waiter", source)
    out = capsys.readouterr().out
    assert out.startswith("waiter is running (pid "), out
    assert "up" in out
    (program,) = labsock.live_endpoints()
    assert isinstance(program, cpp.Program)
    assert program.running
    labsock.close_all()
    assert not program.running


def test_a_build_folder_others_can_write_to_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a shared hub, such a folder could hand this user someone else's program.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("LABSOCK_BUILD_DIR", str(shared))
    monkeypatch.setattr(compiler, "_private_build", None)
    chosen = compiler._build_dir()
    assert chosen != shared
    assert chosen.stat().st_mode & 0o077 == 0
    chosen.rmdir()
    own = tmp_path / "own"
    monkeypatch.setenv("LABSOCK_BUILD_DIR", str(own))
    assert compiler._build_dir() == own


def test_a_system_that_forbids_ptrace_is_detected_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What strace says in a container whose seccomp profile forbids ptrace.
    fake = tmp_path / "strace"
    fake.write_text(
        "#!/bin/sh\necho 'strace: ptrace(PTRACE_TRACEME, ...): Operation not permitted' >&2\n"
        "exit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    compiler.strace_status.cache_clear()
    try:
        ok, why = compiler.strace_status()
    finally:
        compiler.strace_status.cache_clear()
    assert not ok
    assert "forbids ptrace" in why
    assert "Operation not permitted" in why
    assert "recorded run" in why
