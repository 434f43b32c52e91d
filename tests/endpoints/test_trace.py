"""Traces of real socket calls, and the tables and Mermaid diagrams made from them."""

from __future__ import annotations

import re
import selectors
import socket
import subprocess
import threading
import weakref

import pytest

from labsock import UsageError
from labsock._endpoints.servers import TCPEchoServer, UDPEchoServer
from labsock._endpoints.trace import Trace, TracedSocket, TraceEvent
from tests.helpers import needs_tool, wait_until

TIMEOUT = 5.0

# Every line of a diagram must have one of these forms; text may hold Mermaid
# entity codes (#59;) but never a raw ';', '#', quote or angle bracket.
_TEXT = r"(?:[^#;\n\"'<>]|#\d+;)*"
_ID = r"[A-Za-z_]\w*"
_PARTICIPANT = re.compile(rf"    participant ({_ID}) as {_TEXT}")
_ARROW = re.compile(rf"    ({_ID})(?:->>|-->>|-x)({_ID}): {_TEXT}")
_NOTE = re.compile(rf"    Note over ({_ID})(?:,({_ID}))?: {_TEXT}")


def check_mermaid(text: str) -> list[str]:
    """Assert ``text`` is a well-formed sequence diagram; return its lines."""
    lines = text.split("\n")
    assert lines[0] == "sequenceDiagram"
    declared: list[str] = []
    body_started = False
    for line in lines[1:]:
        if m := _PARTICIPANT.fullmatch(line):
            assert not body_started, "participants are declared first, in a fixed order"
            declared.append(m.group(1))
            continue
        body_started = True
        m = _ARROW.fullmatch(line) or _NOTE.fullmatch(line)
        assert m is not None, f"not a Mermaid line this module should write: {line!r}"
        for ident in m.groups():
            assert ident is None or ident in declared, f"{ident} used before it was declared"
    assert len(declared) == len(set(declared))
    return lines


def serve_once(listener: socket.socket) -> threading.Thread:
    """Accept one connection and echo it until the client closes (timeouts on every call)."""

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            while data := conn.recv(100):
                conn.sendall(data)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def traced_conversation(payload: bytes = b"hello") -> Trace:
    trace = Trace()
    with trace.socket(socket.AF_INET, socket.SOCK_STREAM, actor="server") as server:
        server.settimeout(TIMEOUT)
        server.bind(("127.0.0.1", 0))
        server.listen()
        thread = serve_once(server)
        try:
            with trace.socket(socket.AF_INET, socket.SOCK_STREAM, actor="client") as client:
                client.settimeout(TIMEOUT)
                client.connect(server.getsockname())
                client.sendall(payload)
                assert client.recv(100) == payload
        finally:
            thread.join(TIMEOUT)
    return trace


def index(trace: Trace, actor: str, call: str, nth: int = 0) -> int:
    """Position in the time-ordered events of ``actor``'s ``nth`` ``call``."""
    hits = [i for i, e in enumerate(trace.events) if e.actor == actor and e.call == call]
    return hits[nth]


# -- what gets recorded ------------------------------------------------------


def test_tcp_conversation_records_each_sides_calls_in_the_order_the_course_shows() -> None:
    trace = traced_conversation()
    assert trace.calls("client") == ["socket", "connect", "sendall", "recv", "close"]
    # The listening socket only accepts; the connection it returns talks.
    assert [e.call for e in trace.events if e.actor == "server"] == [
        "socket",
        "bind",
        "listen",
        "accept",
        "close",
    ]
    assert [e.call for e in trace.events if e.actor == "server#1"] == [
        "recv",
        "sendall",
        "recv",
        "close",
    ]
    # Across the two threads, what causes comes before what it causes.
    assert index(trace, "server", "listen") < index(trace, "client", "connect")
    assert index(trace, "client", "connect") < index(trace, "server", "accept")
    assert index(trace, "client", "sendall") < index(trace, "server#1", "recv")
    assert index(trace, "server#1", "sendall") < index(trace, "client", "recv")
    assert index(trace, "client", "close") < index(trace, "server#1", "recv", 1)
    times = [e.time for e in trace.events]
    assert times == sorted(times)


def test_events_carry_real_addresses_sizes_and_results() -> None:
    trace = traced_conversation(b"hello")
    events = trace.events
    bind = next(e for e in events if e.call == "bind")
    server_port = bind.local[1] if bind.local else 0
    assert server_port > 0
    assert bind.args == "127.0.0.1:0"
    assert bind.result == f"bound to 127.0.0.1:{server_port}"
    connect = next(e for e in events if e.call == "connect")
    assert connect.peer == ("127.0.0.1", server_port)
    assert connect.local is not None
    client_port = connect.local[1]
    accept = next(e for e in events if e.call == "accept")
    assert accept.result == f"new socket server#1 for 127.0.0.1:{client_port}"
    assert accept.peer == ("127.0.0.1", client_port)
    sendall = next(e for e in events if e.call == "sendall" and e.actor == "client")
    assert (sendall.args, sendall.nbytes, sendall.error) == ("5 bytes b'hello'", 5, None)
    eof = [e for e in events if e.actor == "server#1" and e.call == "recv"][-1]
    assert eof.nbytes == 0
    assert "end of stream" in eof.result
    assert all(e.protocol == "tcp" for e in events)
    with pytest.raises(AttributeError):
        sendall.call = "send"  # type: ignore[misc]


def test_long_payloads_are_cut_in_summaries() -> None:
    trace = traced_conversation(b"x" * 90)
    sendall = next(e for e in trace.events if e.call == "sendall")
    assert sendall.args == "90 bytes b'xxxxxxxxxxxxxxxx'…"
    assert sendall.nbytes == 90


def test_connection_refused_is_recorded_and_reraised_unchanged() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()
    trace = Trace()
    with trace.socket(actor="client") as client:
        client.settimeout(TIMEOUT)
        with pytest.raises(ConnectionRefusedError) as info:
            client.connect(free)
    assert type(info.value) is ConnectionRefusedError
    connect = next(e for e in trace.events if e.call == "connect")
    assert connect.error is not None
    assert connect.error.startswith("ConnectionRefusedError")
    assert not connect.ok
    assert connect.result == ""
    diagram = check_mermaid(trace.to_mermaid())
    assert any("-x" in line and "RST" in line for line in diagram)


def test_create_connection_records_socket_and_connect_and_cleans_up_on_refusal() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()
    trace = Trace()
    with pytest.raises(ConnectionRefusedError):
        trace.create_connection(free, timeout=TIMEOUT)
    assert trace.calls() == ["socket", "connect", "close"]
    # The no_leaks fixture checks the socket was really closed.


def test_a_str_payload_is_refused_by_the_real_call_and_recorded() -> None:
    trace = Trace()
    with (
        trace.socket(socket.AF_INET, socket.SOCK_DGRAM) as traced,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as plain,
    ):
        with pytest.raises(TypeError) as from_plain:
            plain.sendto("hello", ("127.0.0.1", 9))  # type: ignore[call-overload]
        with pytest.raises(TypeError) as from_traced:
            traced.sendto("hello", ("127.0.0.1", 9))  # type: ignore[call-overload]
    assert str(from_traced.value) == str(from_plain.value)
    sendto = next(e for e in trace.events if e.call == "sendto")
    assert sendto.args == "str 'hello' to 127.0.0.1:9"
    assert sendto.error == f"TypeError: {from_plain.value}"


def test_a_recv_timeout_is_recorded_and_reraised() -> None:
    trace = Trace()
    with (
        trace.socket(socket.AF_INET, socket.SOCK_DGRAM, actor="server") as server,
    ):
        server.bind(("127.0.0.1", 0))
        server.settimeout(0.01)
        with pytest.raises(TimeoutError):
            server.recvfrom(100)
    recv = next(e for e in trace.events if e.call == "recvfrom")
    assert recv.error is not None
    assert recv.error.startswith("TimeoutError")
    assert recv.duration > 0


def test_udp_conversation_records_sender_addresses_and_draws_both_arrows() -> None:
    trace = Trace()
    with (
        trace.socket(socket.AF_INET, socket.SOCK_DGRAM, actor="server") as server,
        trace.socket(socket.AF_INET, socket.SOCK_DGRAM, actor="client") as client,
    ):
        server.settimeout(TIMEOUT)
        client.settimeout(TIMEOUT)
        server.bind(("127.0.0.1", 0))
        client.sendto(b"ping", server.getsockname())
        data, peer = server.recvfrom(100)
        server.sendto(data, peer)
        buf = bytearray(100)
        n, _ = client.recvfrom_into(buf)
        assert bytes(buf[:n]) == b"ping"
    recvfrom = next(e for e in trace.events if e.call == "recvfrom")
    assert recvfrom.peer == peer
    assert recvfrom.result == f"4 bytes b'ping' from 127.0.0.1:{peer[1]}"
    assert trace.calls("client") == ["socket", "sendto", "recvfrom_into", "close"]
    lines = check_mermaid(trace.to_mermaid())
    assert any(line.startswith("    client->>server: sendto 4 bytes") for line in lines)
    assert any(line.startswith("    server->>client: sendto 4 bytes") for line in lines)
    # UDP has no handshake and no FIN.
    assert not any("SYN" in line or "FIN" in line for line in lines)


def test_traced_socket_is_a_real_socket_usable_with_selectors() -> None:
    trace = Trace()
    a, b = socket.socketpair()
    with a, b, trace.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        assert isinstance(sock, socket.socket)
        assert isinstance(sock, TracedSocket)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(TIMEOUT)
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            sock.sendto(b"me", sock.getsockname())
            assert sel.select(timeout=TIMEOUT)
        assert sock.recv(10) == b"me"
        sock.close()  # and again by the with block: recorded once
    assert trace.calls().count("close") == 1
    assert sock.fileno() == -1


def test_dup_and_makefile_keep_recording_as_the_same_actor() -> None:
    trace = Trace()
    with trace.socket(socket.AF_INET, socket.SOCK_STREAM, actor="server") as server:
        server.settimeout(TIMEOUT)
        server.bind(("127.0.0.1", 0))
        server.listen()
        thread = serve_once(server)
        try:
            with trace.create_connection(server.getsockname(), timeout=TIMEOUT) as client:
                twin = client.dup()
                with twin:
                    assert isinstance(twin, TracedSocket)
                    assert twin.actor == "client"
                    assert twin.gettimeout() == TIMEOUT
                    twin.sendall(b"line\n")
                with client.makefile("rb") as lines:
                    assert lines.readline() == b"line\n"
        finally:
            thread.join(TIMEOUT)
    # makefile reads through recv_into, so the read is in the trace too.
    assert trace.calls("client") == ["socket", "connect", "sendall", "close", "recv_into", "close"]


def test_a_forgotten_traced_socket_is_reclaimed_like_a_plain_one() -> None:
    trace = Trace()
    sock = trace.socket(actor="forgetful")
    ref = weakref.ref(sock)
    # Nothing (the trace included) keeps the socket alive, not even a cycle:
    # dropping the last name frees it at once, and the interpreter closes
    # the descriptor with its usual warning, exactly as for a plain socket.
    with pytest.warns(ResourceWarning):
        del sock
    assert ref() is None
    assert trace.calls() == ["socket"]


def test_calls_from_many_threads_are_all_kept_in_time_order() -> None:
    trace = Trace()
    threads_n, sends = 8, 50
    with trace.socket(socket.AF_INET, socket.SOCK_DGRAM, actor="sink") as sink:
        sink.bind(("127.0.0.1", 0))
        target = sink.getsockname()

        def blast(name: str) -> None:
            with trace.socket(socket.AF_INET, socket.SOCK_DGRAM, actor=name) as s:
                for _ in range(sends):
                    s.sendto(b"x", target)

        threads = [threading.Thread(target=blast, args=(f"t{i}",)) for i in range(threads_n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
    events = trace.events
    assert len(events) == len(trace) == 3 + threads_n * (sends + 2)
    assert [e.seq for e in events].count(0) == 0
    assert len({e.seq for e in events}) == len(events)
    assert [e.time for e in events] == sorted(e.time for e in events)
    for i in range(threads_n):
        assert trace.calls(f"t{i}") == ["socket", *["sendto"] * sends, "close"]


def test_actor_names_are_checked() -> None:
    trace = Trace()
    for bad in ("", "   ", "server#2", 7):
        with pytest.raises(UsageError):
            trace.socket(actor=bad)  # type: ignore[arg-type]
    assert len(trace) == 0


# -- the echo servers, traced ---------------------------------------------------


def test_traced_tcp_echo_server_records_accept_recv_sendall_and_fin() -> None:
    trace = Trace()
    with TCPEchoServer(trace=trace) as server:
        with trace.create_connection(server.address, timeout=TIMEOUT) as client:
            client.sendall(b"hi")
            assert client.recv(10) == b"hi"
            client.shutdown(socket.SHUT_WR)
            assert client.recv(10) == b""
            # The connection's thread closes its socket right after its FIN;
            # on a loaded machine that can come after our recv returned.
            wait_until(lambda: trace.calls("server#1")[-1:] == ["close"], "server#1 closed")
    assert trace.calls("server")[:3] == ["socket", "bind", "listen"]
    conn = [e.call for e in trace.events if e.actor == "server#1"]
    assert conn[:4] == ["recv_into", "sendall", "recv_into", "shutdown"]
    assert conn[-1] == "close"
    lines = check_mermaid(trace.to_mermaid())
    assert "    client->>server: shutdown(SHUT_WR): FIN" in lines
    assert "    server->>client: (#35;1) shutdown(SHUT_WR): FIN" in lines
    assert "    server->>client: (#35;1) sendall 2 bytes b#39;hi#39;" in lines


def test_traced_udp_echo_server_records_recvfrom_and_sendto() -> None:
    trace = Trace()
    with (
        UDPEchoServer(trace=trace) as server,
        trace.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
    ):
        client.settimeout(TIMEOUT)
        client.sendto(b"echo?", server.address)
        assert client.recvfrom(100)[0] == b"echo?"
        # The server may still be between recvfrom and the record of its sendto.
    server_calls = trace.calls("server")
    assert server_calls[:3] == ["socket", "bind", "recvfrom_into"]
    assert "sendto" in server_calls
    assert server_calls[-1] == "close"
    check_mermaid(trace.to_mermaid())


@needs_tool("nc")
def test_a_traced_server_talking_to_netcat_draws_netcat_as_a_stranger() -> None:
    trace = Trace()
    with trace.socket(actor="server") as server:
        server.settimeout(TIMEOUT)
        server.bind(("127.0.0.1", 0))
        server.listen()
        thread = serve_once(server)
        host, port = server.getsockname()
        out = subprocess.run(
            ["nc", "-N", "-w", "2", host, str(port)],
            input=b"from nc\n",
            capture_output=True,
            timeout=TIMEOUT,
            check=True,
        )
        thread.join(TIMEOUT)
    assert out.stdout == b"from nc\n"
    lines = check_mermaid(trace.to_mermaid())
    strangers = [
        line for line in lines if re.fullmatch(r"    participant \w+ as 127\.0\.0\.1:\d+", line)
    ]
    assert len(strangers) == 1
    stranger = strangers[0].split()[1]
    assert f"    server->>{stranger}: (#35;1) sendall 8 bytes b#39;from nc\\n#39;" in lines


# -- table and diagram ---------------------------------------------------------


def test_mermaid_of_a_tcp_conversation_shows_handshake_data_and_fin() -> None:
    lines = check_mermaid(traced_conversation(b"hello").to_mermaid())
    assert lines[1:3] == ["    participant client as Client", "    participant server as Server"]
    handshake = lines.index("    client->>server: connect(): SYN")
    assert lines[handshake + 1].startswith("    server-->>client: SYN+ACK")
    assert lines[handshake + 2].startswith("    client->>server: ACK: connected")
    assert "    client->>server: sendall 5 bytes b#39;hello#39;" in lines
    assert "    server->>client: (#35;1) sendall 5 bytes b#39;hello#39;" in lines
    assert "    client->>server: close(): FIN" in lines
    assert "    server->>client: (#35;1) close(): FIN" in lines
    # Local calls are notes on their own lifeline.
    assert any(line.startswith("    Note over server: listen(") for line in lines)
    assert 10 <= len(lines) <= 30


def test_mermaid_escapes_the_characters_mermaid_cannot_read() -> None:
    trace = traced_conversation(b'a;b#c"d<e>\n')
    text = trace.to_mermaid()
    check_mermaid(text)
    assert "a#59;b#35;c#34;d#60;e#62;" in text


def test_long_traces_are_merged_and_cut_to_stay_readable() -> None:
    trace = Trace()
    with (
        trace.socket(socket.AF_INET, socket.SOCK_DGRAM, actor="server") as server,
        trace.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
    ):
        server.bind(("127.0.0.1", 0))
        server.settimeout(TIMEOUT)
        for _ in range(200):
            client.sendto(b"abcd", server.getsockname())
        for _ in range(200):
            server.recv(100)
    assert len(trace) == 405
    lines = check_mermaid(trace.to_mermaid(limit=20))
    assert any("sendto ×200: 800 bytes in all" in line for line in lines)
    assert any("recv ×200: 800 bytes in all" in line for line in lines)
    assert len(lines) < 20
    cut = check_mermaid(trace.to_mermaid(limit=3))
    assert cut[-1].endswith("more calls not shown")


def test_table_has_one_aligned_line_per_call() -> None:
    trace = traced_conversation()
    lines = trace.table().splitlines()
    assert lines[0].split() == ["time", "(ms)", "actor", "call", "args", "result"]
    assert len(lines) == 1 + len(trace)
    call_column = lines[0].index("call")
    for line, event in zip(lines[1:], trace.events, strict=True):
        assert line[call_column:].startswith(event.call)
    assert str(trace) == trace.table()


def test_notebooks_get_a_mermaid_mime_bundle_and_a_text_fallback() -> None:
    trace = traced_conversation()
    bundle = trace._repr_mimebundle_()
    assert bundle["text/vnd.mermaid"].startswith("sequenceDiagram")
    assert bundle["text/plain"] == trace.table()
    assert "client" in repr(trace)


def test_an_empty_trace_still_draws() -> None:
    trace = Trace()
    check_mermaid(trace.to_mermaid())
    assert trace.table().startswith("time (ms)")
    assert trace.events == ()


def test_event_str_reads_as_a_call() -> None:
    event = TraceEvent(time=0.0015, actor="client", call="recv", args="100", result="2 bytes b'hi'")
    assert str(event) == "    1.500 ms  client: recv(100) -> 2 bytes b'hi'"
    assert event.role == "client"
    assert TraceEvent(0, "server#3", "recv", "", "").role == "server"
