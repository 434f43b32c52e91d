"""More known-wrong solutions: every criterion of every check meets at least two.

``tests/test_exercises.py`` has the first wrong solution of most criteria;
here are the others, each with one realistic mistake, and the criterion it
must fail with the words its hint must contain. Where a wrong solution of
``test_exercises.py`` also fails a second criterion, it is listed again here
for that criterion. ``test_every_criterion_meets_two_wrong_solutions``
counts them.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from labsock.exercises import (
    Report,
    check_concurrent_server,
    check_discovery,
    check_echo_server,
    check_framing,
    check_reliable,
    check_udp_ping,
)
from teacher import solutions as S
from tests.exercises import test_exercises as first

Server = Callable[[socket.socket, threading.Event], None]

# -- exercise 1 ---------------------------------------------------------------------------


def _accept_loop(serve: Callable[[socket.socket], None]) -> Server:
    """A correct accept loop around a per-connection ``serve`` that may be wrong."""

    def server(listener: socket.socket, stop: threading.Event) -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2.0)
                try:
                    serve(conn)
                except OSError:
                    pass

    return server


def _never_echoes(conn: socket.socket) -> None:
    while conn.recv(4096):
        pass  # the mistake: reads, never sends back


def _echo_with_prefix(conn: socket.socket) -> None:
    while data := conn.recv(4096):
        conn.sendall(b"echo: " + data)  # the mistake: adds to what came


def _says_goodbye(conn: socket.socket) -> None:
    while data := conn.recv(4096):
        conn.sendall(data)
    conn.sendall(b"bye\n")  # the mistake: sends more after the client finished


echo_never_echoes = _accept_loop(_never_echoes)
echo_with_prefix = _accept_loop(_echo_with_prefix)
echo_says_goodbye = _accept_loop(_says_goodbye)


def echo_accepts_once(listener: socket.socket, stop: threading.Event) -> None:
    listener.settimeout(2.0)
    try:
        conn, _ = listener.accept()  # the mistake: accept() is outside the loop
    except TimeoutError:
        return
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data)
    while not stop.is_set():
        time.sleep(0.05)


def echo_gives_up_on_any_error(listener: socket.socket, stop: threading.Event) -> None:
    listener.settimeout(0.1)
    try:  # the mistake: one try around everything, so a reset ends the server
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                while data := conn.recv(4096):
                    conn.sendall(data)
    except OSError:
        return


def _echo_until_a_short_read(conn: socket.socket) -> None:
    while True:
        data = conn.recv(1024)
        conn.sendall(data)
        if len(data) < 1024:  # the mistake: a short read taken for the end of the message
            return


echo_stops_at_a_short_read = _accept_loop(_echo_until_a_short_read)


def echo_blocks_in_accept(listener: socket.socket, stop: threading.Event) -> None:
    while not stop.is_set():  # the mistake: looks at stop, but accept() has no timeout
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass


# -- exercise 2 ---------------------------------------------------------------------------


def _pinger(
    *,
    text: Callable[[int, int], str] = lambda s, a: f"ping {s} {a}",
    tries: Callable[[int], int] = lambda retries: retries + 1,
    loss: Callable[[int, int], float] = lambda count, got: (count - got) / count,
    from_latest: bool = False,
) -> Callable[..., dict[str, Any]]:
    def udp_ping(server: tuple[str, int], count: int, timeout: float, retries: int) -> Any:
        rtts: list[float] = []
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for seq in range(count):
                sent_at: dict[int, float] = {}
                for attempt in range(tries(retries)):
                    sock.settimeout(timeout * 2**attempt)
                    sent_at[attempt] = time.perf_counter()
                    sock.sendto(text(seq, attempt).encode(), server)
                    try:
                        while True:
                            parts = sock.recvfrom(100)[0].split()
                            if len(parts) >= 2 and parts[1] == str(seq).encode():
                                a = attempt if from_latest or len(parts) < 3 else int(parts[2])
                                rtts.append(time.perf_counter() - sent_at.get(a, sent_at[0]))
                                break
                    except TimeoutError:
                        continue
                    break
        got = len(rtts)
        return {
            "received": got,
            "loss": loss(count, got),
            "rtt_min": min(rtts, default=None),
            "rtt_avg": sum(rtts) / got if got else None,
            "rtt_max": max(rtts, default=None),
        }

    return udp_ping


ping_without_attempt = _pinger(text=lambda s, a: f"ping {s}")
ping_counts_from_one = _pinger(text=lambda s, a: f"ping {s + 1} {a}")
ping_one_retry_only = _pinger(tries=lambda retries: 2)
ping_one_retry_too_many = _pinger(tries=lambda retries: retries + 2)
ping_loss_over_received = _pinger(loss=lambda count, got: (count - got) / max(got, 1))
ping_times_from_latest_send = _pinger(from_latest=True)


def ping_counts_timeouts_as_lost(
    server: tuple[str, int], count: int, timeout: float, retries: int
) -> Any:
    rtts: list[float] = []
    timeouts = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in range(count):
            for attempt in range(retries + 1):
                sock.settimeout(timeout * 2**attempt)
                sent = time.perf_counter()
                sock.sendto(f"ping {seq} {attempt}".encode(), server)
                try:
                    while sock.recvfrom(100)[0].split()[1:2] != [str(seq).encode()]:
                        pass
                    rtts.append(time.perf_counter() - sent)
                    break
                except TimeoutError:
                    timeouts += 1  # the mistake: a timed-out attempt counted as a lost probe
    received = count - timeouts
    return {
        "received": received,
        "loss": timeouts / count,
        "rtt_min": min(rtts, default=None),
        "rtt_avg": sum(rtts) / len(rtts) if rtts else None,
        "rtt_max": max(rtts, default=None),
    }


def ping_one_long_wait(server: tuple[str, int], count: int, timeout: float, retries: int) -> Any:
    # The mistake: waits long once instead of retransmitting.
    return first._ping(server, count, timeout * 8, retries, retry=False)


# -- exercise 3 ---------------------------------------------------------------------------


def _exactly(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            if not buf:
                return b""
            raise ConnectionError("closed mid-way")
        buf += chunk
    return buf


def send_message_as_text(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(f"{len(payload)}\n".encode() + payload)  # the mistake: a text length


def send_message_two_sends(sock: socket.socket, payload: bytes) -> None:
    sock.send(struct.pack("!I", len(payload)))
    sock.send(payload)  # the mistake: send() may take only part of the payload


def recv_message_header_recv_1024(sock: socket.socket) -> bytes | None:
    data = sock.recv(1024)  # the mistake: asks for more than the header
    if not data:
        return None
    (length,) = struct.unpack("!I", data[:4])
    body = data[4:]
    while len(body) < length:
        body += sock.recv(length - len(body))
    return body[:length]


def recv_message_empty_is_none(sock: socket.socket) -> bytes | None:
    header = _exactly(sock, 4)
    if not header:
        return None
    payload = _exactly(sock, struct.unpack("!I", header)[0])
    return payload or None  # the mistake: an empty message looks like the end


def recv_message_empty_raises(sock: socket.socket) -> bytes | None:
    header = _exactly(sock, 4)
    if not header:
        return None
    (length,) = struct.unpack("!I", header)
    payload = _exactly(sock, length)
    if not payload:  # the mistake: no special case for length 0
        raise ConnectionError("the peer closed before the payload")
    return payload


def recv_message_payload_one_recv(sock: socket.socket) -> bytes | None:
    header = _exactly(sock, 4)
    if not header:
        return None
    return sock.recv(struct.unpack("!I", header)[0])  # the mistake: one recv for the payload


def recv_message_end_is_empty(sock: socket.socket) -> bytes | None:
    header = _exactly(sock, 4)
    if not header:
        return b""  # the mistake: the end of the stream is not None
    return _exactly(sock, struct.unpack("!I", header)[0])


def recv_message_end_raises(sock: socket.socket) -> bytes | None:
    header = sock.recv(4)
    if len(header) < 4:  # the mistake: a clean end raises too (and a short header is lost)
        raise ConnectionError("closed")
    return _exactly(sock, struct.unpack("!I", header)[0])


def recv_message_returns_partial(sock: socket.socket) -> bytes | None:
    header = _exactly(sock, 4)
    if not header:
        return None
    (length,) = struct.unpack("!I", header)
    buf = b""
    while len(buf) < length:
        chunk = sock.recv(length - len(buf))
        if not chunk:
            return buf  # the mistake: half a message returned as if whole
        buf += chunk
    return buf


# -- exercise 4 ---------------------------------------------------------------------------


def sockets_one_socket(group: tuple[str, int]) -> socket.socket:
    sender, receiver = S.multicast_sockets(group)
    sender.close()
    return receiver  # the mistake: one socket, not the pair


def sockets_as_list(group: tuple[str, int]) -> list[socket.socket]:
    return list(S.multicast_sockets(group))  # the mistake: not a tuple


def _with_option(level: int, option: int, value: int) -> Callable[..., Any]:
    def multicast_sockets(group: tuple[str, int]) -> tuple[socket.socket, socket.socket]:
        sender, receiver = S.multicast_sockets(group)
        sender.setsockopt(level, option, value)
        return sender, receiver

    return multicast_sockets


def sockets_default_interface(group: tuple[str, int]) -> tuple[socket.socket, socket.socket]:
    sender, receiver = S.multicast_sockets(group)
    sender.close()
    # The mistake: a sender left on the default interface (never used: the check refuses).
    return socket.socket(socket.AF_INET, socket.SOCK_DGRAM), receiver


sockets_ttl_2 = _with_option(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
sockets_ttl_32 = _with_option(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 32)


def _bound_to(port_of: Callable[[int], int]) -> Callable[..., Any]:
    def multicast_sockets(group: tuple[str, int]) -> tuple[socket.socket, socket.socket]:
        address, port = group
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        loopback = socket.inet_aton("127.0.0.1")
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, loopback)
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        receiver.bind((address, port_of(port)))  # the mistake is in port_of
        membership = socket.inet_aton(address) + loopback
        receiver.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        return sender, receiver

    return multicast_sockets


sockets_bound_to_any_port = _bound_to(lambda port: 0)
sockets_bound_to_next_port = _bound_to(lambda port: port + 1)


def sockets_join_another_group(group: tuple[str, int]) -> tuple[socket.socket, socket.socket]:
    address, port = group
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    loopback = socket.inet_aton("127.0.0.1")
    sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, loopback)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    receiver.bind((address, port))
    other = address.rsplit(".", 1)[0] + ".254" if not address.endswith(".254") else "239.255.9.9"
    # The mistake: joins a fixed, other group (on loopback, as it should).
    membership = socket.inet_aton(other) + loopback
    receiver.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    return sender, receiver


Discover = Callable[[socket.socket, socket.socket, tuple[str, int], str, float], Any]


def _discover(
    *,
    announce: Callable[[str], bytes] = lambda name: f"HELLO {name}".encode(),
    to_port: Callable[[int], int] = lambda port: port,
    every: float = 0.1,
    stop_early: bool = False,
    keep_junk: bool = False,
    as_repr: bool = False,
    duration_of: Callable[[float], float] = lambda d: d,
) -> Discover:
    def discover(
        sender: socket.socket,
        receiver: socket.socket,
        group: tuple[str, int],
        name: str,
        duration: float,
    ) -> set[str]:
        others: set[str] = set()
        end = time.monotonic() + duration_of(duration)
        next_announce = time.monotonic()
        while (now := time.monotonic()) < end:
            if now >= next_announce:
                sender.sendto(announce(name), (group[0], to_port(group[1])))
                next_announce = now + every
            receiver.settimeout(max(0.001, min(next_announce, end) - now))
            try:
                data, _ = receiver.recvfrom(1024)
            except TimeoutError:
                continue
            if keep_junk:
                others.add(data.decode("latin-1").removeprefix("HELLO "))
            elif data.startswith(b"HELLO ") and data[6:] and data[6:] != name.encode():
                try:
                    others.add(repr(data[6:]) if as_repr else data[6:].decode())
                except UnicodeDecodeError:
                    continue
                if stop_early:
                    return others
        return others

    return discover


discover_says_hi = _discover(announce=lambda name: f"HI {name}".encode())
discover_announces_elsewhere = _discover(to_port=lambda port: port + 1)
discover_every_second = _discover(every=1.0)
discover_returns_at_first_name = _discover(stop_early=True)
discover_names_as_bytes_repr = _discover(as_repr=True)
discover_keeps_junk = _discover(keep_junk=True)
discover_ignores_duration = _discover(duration_of=lambda d: 0.15)
discover_takes_three_times_as_long = _discover(duration_of=lambda d: 3 * d)


def discover_only_listens_once(
    sender: socket.socket,
    receiver: socket.socket,
    group: tuple[str, int],
    name: str,
    duration: float,
) -> set[str]:
    # The mistake: one announcement and one recvfrom, then waits out the time.
    sender.sendto(f"HELLO {name}".encode(), group)
    receiver.settimeout(duration)
    others: set[str] = set()
    start = time.monotonic()
    try:
        data, _ = receiver.recvfrom(1024)
        if data.startswith(b"HELLO ") and data[6:] != name.encode():
            others.add(data[6:].decode(errors="replace"))
    except TimeoutError:
        pass
    time.sleep(max(0.0, duration - (time.monotonic() - start)))
    return others


# -- exercise 5 ---------------------------------------------------------------------------


def rdt_send_text_seq(
    sock: socket.socket, peer: tuple[str, int], messages: list[bytes], timeout: float
) -> int:
    sent = 0
    for seq, payload in enumerate(messages):
        packet = b"D" + str(seq).encode() + b" " + payload  # the mistake: seq as text
        while True:
            sock.sendto(packet, peer)
            sent += 1
            sock.settimeout(timeout)
            try:
                sock.recvfrom(64)
                break
            except TimeoutError:
                continue
    return sent


def rdt_send_skips_empty(
    sock: socket.socket, peer: tuple[str, int], messages: list[bytes], timeout: float
) -> int:
    # The mistake: an empty message is skipped, "there is nothing to send".
    return S.rdt_send(sock, peer, [m for m in messages if m], timeout)


def rdt_send_returns_at_timeout(
    sock: socket.socket, peer: tuple[str, int], messages: list[bytes], timeout: float
) -> int:
    sent = 0
    for seq, payload in enumerate(messages):
        sock.sendto(b"D" + struct.pack("!I", seq) + payload, peer)
        sent += 1
        sock.settimeout(timeout)
        try:
            while sock.recvfrom(64)[0] != b"A" + struct.pack("!I", seq):
                pass
        except TimeoutError:
            return sent  # the mistake: gives up at the first timeout
    return sent


def rdt_send_checks_the_letter_only(
    sock: socket.socket, peer: tuple[str, int], messages: list[bytes], timeout: float
) -> int:
    sent = 0
    for seq, payload in enumerate(messages):
        while True:
            sock.sendto(b"D" + struct.pack("!I", seq) + payload, peer)
            sent += 1
            sock.settimeout(timeout)
            try:
                if sock.recvfrom(64)[0][:1] == b"A":  # the mistake: any ACK's letter will do
                    break
            except TimeoutError:
                continue
    return sent


def rdt_send_returns_message_count(
    sock: socket.socket, peer: tuple[str, int], messages: list[bytes], timeout: float
) -> int:
    S.rdt_send(sock, peer, messages, timeout)
    return len(messages)  # the mistake: messages, not datagrams sent


def rdt_send_returns_nothing(
    sock: socket.socket, peer: tuple[str, int], messages: list[bytes], timeout: float
) -> None:
    S.rdt_send(sock, peer, messages, timeout)  # the mistake: forgets to return the count


def rdt_receive_blocks(sock: socket.socket, stop: threading.Event) -> list[bytes]:
    delivered: list[bytes] = []
    expected = 0
    sock.settimeout(None)  # the mistake: recvfrom() never wakes up to look at stop
    while not stop.is_set():
        try:
            packet, sender = sock.recvfrom(65536)
        except OSError:
            break
        (seq,) = struct.unpack_from("!I", packet, 1)
        if seq == expected:
            delivered.append(packet[5:])
            expected += 1
        if seq < expected:
            sock.sendto(b"A" + struct.pack("!I", seq), sender)
    return delivered


def rdt_receive_ignores_stop(sock: socket.socket, stop: threading.Event) -> list[bytes]:
    delivered: list[bytes] = []
    expected = 0
    sock.settimeout(0.1)
    while True:  # the mistake: wakes up every 0.1 s, yet never looks at stop
        try:
            packet, sender = sock.recvfrom(65536)
        except TimeoutError:
            continue
        except OSError:
            return delivered
        (seq,) = struct.unpack_from("!I", packet, 1)
        if seq == expected:
            delivered.append(packet[5:])
            expected += 1
        if seq < expected:
            sock.sendto(b"A" + struct.pack("!I", seq), sender)


# -- exercise 6 ---------------------------------------------------------------------------


def _echo_until_eof(conn: socket.socket) -> None:
    """A correct per-client echo: everything back until the client closes, then close."""
    with conn:
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except OSError:
            pass


def _thread_per_client(
    listener: socket.socket,
    stop: threading.Event,
    serve: Callable[[socket.socket], None],
    *,
    join: bool = True,
    accept_timeout: float | None = 0.1,
) -> None:
    listener.settimeout(accept_timeout)
    threads: list[threading.Thread] = []
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:  # the check shut the listener down
            break
        thread = threading.Thread(target=serve, args=(conn,), daemon=True)
        thread.start()
        threads.append(thread)
    if join:
        for thread in threads:
            thread.join(3.0)


def _line_echo(shared: bytearray, lock: threading.Lock, conn: socket.socket, data: bytes) -> None:
    """Add ``data`` to the line being assembled in ``shared``; echo a whole line to ``conn``."""
    with lock:
        shared.extend(data)
        if b"\n" in shared:
            line, _, rest = bytes(shared).partition(b"\n")
            shared[:] = rest
            conn.sendall(line + b"\n")


def threads_share_one_line(listener: socket.socket, stop: threading.Event) -> None:
    shared = bytearray()  # the mistake: one line buffer for every client
    lock = threading.Lock()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2.0)
            try:
                while data := conn.recv(4096):
                    _line_echo(shared, lock, conn, data)
            except OSError:
                pass

    _thread_per_client(listener, stop, serve)


def selectors_share_one_line(listener: socket.socket, stop: threading.Event) -> None:
    import selectors

    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    shared = bytearray()  # the mistake: one line buffer for every connection
    lock = threading.Lock()
    conns: list[socket.socket] = []
    try:
        while not stop.is_set():
            for key, _ in sel.select(0.1):
                if key.fileobj is listener:
                    conn, _ = listener.accept()
                    conns.append(conn)
                    sel.register(conn, selectors.EVENT_READ)
                    continue
                conn = key.fileobj  # type: ignore[assignment]
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(conn)
                    conns.remove(conn)
                    conn.close()
                    continue
                try:
                    _line_echo(shared, lock, conn, data)
                except OSError:
                    pass
    finally:
        for c in conns:
            c.close()
        sel.close()


def one_clients_error_ends_all(listener: socket.socket, stop: threading.Event) -> None:
    errors: list[OSError] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2.0)
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError as exc:
                errors.append(exc)  # reported to the server, which then gives up

    listener.settimeout(0.1)
    threads: list[threading.Thread] = []
    while not stop.is_set():
        if errors:  # the mistake: one client's trouble ends the server for everyone
            raise errors[0]
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        thread = threading.Thread(target=serve, args=(conn,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(3.0)


def threads_keep_connections_open(listener: socket.socket, stop: threading.Event) -> None:
    def serve(conn: socket.socket) -> None:
        conn.settimeout(0.2)
        try:
            while not stop.is_set():  # the mistake: ignores b'', waits for stop instead
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                if data:
                    conn.sendall(data)
                else:
                    time.sleep(0.05)
        except OSError:
            pass
        finally:
            conn.close()

    _thread_per_client(listener, stop, serve)


def threads_block_in_accept(listener: socket.socket, stop: threading.Event) -> None:
    # The mistake: looks at stop, but accept() has no timeout.
    _thread_per_client(listener, stop, _echo_until_eof, accept_timeout=None)


def threads_ignore_stop(listener: socket.socket, stop: threading.Event) -> None:
    while True:  # the mistake: never looks at stop, blocks in accept()
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=_echo_until_eof, args=(conn,), daemon=True).start()


def threads_never_joined(listener: socket.socket, stop: threading.Event) -> None:
    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass
        time.sleep(1.5)  # the thread lingers after its client left

    _thread_per_client(listener, stop, serve, join=False)  # the mistake: returns at once


def starts_a_housekeeper(listener: socket.socket, stop: threading.Event) -> None:
    done = threading.Event()

    def housekeeper() -> None:
        stop.wait(10.0)
        done.wait(1.5)  # the mistake: it lingers after the server has returned

    threading.Thread(target=housekeeper, daemon=True).start()
    S.concurrent_echo_server(listener, stop)


# -- the table ------------------------------------------------------------------------------

Check = Callable[..., Report]
E1, E2, F, D, R, C = (
    check_echo_server,
    check_udp_ping,
    check_framing,
    check_discovery,
    check_reliable,
    check_concurrent_server,
)

CASES = [
    # exercise 1
    (E1, (echo_never_echoes,), "echoes a short message", ("send the same bytes back",)),
    (E1, (echo_with_prefix,), "echoes a short message", ("exactly",)),
    (E1, (echo_says_goodbye,), "closes the connection", ("close that connection",)),
    (E1, (first.ignores_eof,), "closes the connection", ("recv() returns b''",)),
    (E1, (echo_accepts_once,), "serves a second client", ("go back to accept()",)),
    (E1, (first.returns_after_first_client,), "serves a second client", ("keep accepting",)),
    (E1, (first.recv_once,), "echoes 1 MiB", ("Keep calling recv()",)),
    (E1, (echo_gives_up_on_any_error,), "vanished mid-message", ("catch OSError",)),
    (E1, (echo_blocks_in_accept,), "returns soon after stop", ("listener a timeout",)),
    (E1, (echo_stops_at_a_short_read,), "one byte at a time", ("Keep calling recv()",)),
    # exercise 2
    (E2, (ping_without_attempt,), "sends probes", ("f'ping {seq} {attempt}'",)),
    (E2, (ping_counts_from_one,), "sends probes", ("seq 0 to",)),
    (E2, (ping_one_long_wait,), "retransmits a probe", ("send the same probe again",)),
    (E2, (ping_one_retry_only,), "gives up on a probe", ("retry up to retries=3",)),
    (E2, (ping_one_retry_too_many,), "gives up on a probe", ("at most 1 + retries = 4",)),
    (E2, (ping_loss_over_received,), "counts the replies", ("(count - received) / count",)),
    (E2, (ping_counts_timeouts_as_lost,), "counts the replies", ("once",)),
    (E2, (ping_times_from_latest_send,), "ignores late replies", ("attempt the reply answers",)),
    # exercise 3
    (F, (send_message_as_text, S.recv_message), "4-byte big-endian length", ("exactly 4",)),
    (F, (send_message_two_sends, S.recv_message), "sends all of a 1 MiB", ("sendall()",)),
    (F, (S.send_message, recv_message_header_recv_1024), "leaves the next", ("read past",)),
    (F, (S.send_message, recv_message_empty_is_none), "returns b'' for an empty", ("b''",)),
    (F, (S.send_message, recv_message_empty_raises), "returns b'' for an empty", ("b''",)),
    (F, (S.send_message, recv_message_payload_one_recv), "1 MiB message whole", ("keep calling",)),
    (F, (S.send_message, first.recv_message_one_recv), "1 MiB message whole", ("keep calling",)),
    (F, (S.send_message, recv_message_end_is_empty), "returns None when", ("None",)),
    (F, (S.send_message, recv_message_end_raises), "returns None when", ("None",)),
    (F, (S.send_message, recv_message_returns_partial), "hangs up mid-message", ("Connection",)),
    # exercise 4
    (D, (sockets_one_socket, S.discover), "returns (sender, receiver)", ("(sender, receiver)",)),
    (D, (sockets_as_list, S.discover), "returns (sender, receiver)", ("tuple",)),
    (D, (sockets_default_interface, S.discover), "IP_MULTICAST_IF", ("127.0.0.1",)),
    (D, (sockets_ttl_2, S.discover), "TTL is at most 1", ("IP_MULTICAST_TTL",)),
    (D, (sockets_ttl_32, S.discover), "TTL is at most 1", ("IP_MULTICAST_TTL",)),
    (D, (sockets_bound_to_any_port, S.discover), "bound to the group's port", ("port",)),
    (D, (sockets_bound_to_next_port, S.discover), "bound to the group's port", ("port",)),
    (D, (sockets_join_another_group, S.discover), "joined the group", ("IP_ADD_MEMBERSHIP",)),
    (D, (S.multicast_sockets, discover_says_hi), "announces itself", ("HELLO",)),
    (D, (S.multicast_sockets, discover_announces_elsewhere), "announces itself", ("group",)),
    (D, (S.multicast_sockets, discover_every_second), "keeps announcing", ("every 0.1 s",)),
    (D, (S.multicast_sockets, discover_returns_at_first_name), "lists everyone", ()),
    (D, (S.multicast_sockets, discover_only_listens_once), "lists everyone", ()),
    (D, (S.multicast_sockets, discover_names_as_bytes_repr), "lists everyone", ()),
    (D, (S.multicast_sockets, discover_keeps_junk), "leaves itself and junk", ()),
    (D, (S.multicast_sockets, discover_ignores_duration), "returns after about", ("duration",)),
    (D, (S.multicast_sockets, discover_takes_three_times_as_long), "returns after about", ()),
    # exercise 5
    (R, (rdt_send_text_seq, S.rdt_receive), "rdt_send sends DATA", ("struct.pack('!I', seq)",)),
    (R, (first.rdt_send_any_ack, S.rdt_receive), "rdt_send delivers every", ("moved on",)),
    (R, (rdt_send_skips_empty, S.rdt_receive), "rdt_send delivers every", ()),
    (R, (rdt_send_returns_at_timeout, S.rdt_receive), "rdt_send retransmits", ("again",)),
    (R, (rdt_send_checks_the_letter_only, S.rdt_receive), "ACK of the current", ("seq",)),
    (R, (rdt_send_returns_message_count, S.rdt_receive), "returns how many", ("count every",)),
    (R, (rdt_send_returns_nothing, S.rdt_receive), "returns how many", ("return it",)),
    (R, (S.rdt_send, rdt_receive_blocks), "rdt_receive returns soon", ("stop.is_set()",)),
    (R, (S.rdt_send, rdt_receive_ignores_stop), "rdt_receive returns soon", ("times out",)),
    # exercise 6
    (C, (threads_share_one_line,), "client's bytes apart", ("own buffer",)),
    (C, (selectors_share_one_line,), "client's bytes apart", ("own buffer",)),
    (C, (one_clients_error_ends_all,), "vanish mid-message", ("one client's trouble",)),
    (C, (threads_keep_connections_open,), "closes each connection", ("recv() returns b''",)),
    (C, (threads_ignore_stop,), "returns soon after stop", ("stop.is_set()",)),
    (C, (threads_block_in_accept,), "returns soon after stop", ("listener a timeout",)),
    (C, (threads_never_joined,), "leaves no thread running", ("join()",)),
    (C, (starts_a_housekeeper,), "leaves no thread running", ("threads of your server",)),
]


@pytest.mark.parametrize(
    ("check", "functions", "fails", "hint_words"),
    CASES,
    ids=[c[1][-1].__name__ + "-" + re.sub(r"\W+", "-", c[2]) for c in CASES],
)
def test_wrong_solution_fails_the_criterion_it_gets_wrong(
    check: Check,
    functions: tuple[Callable[..., Any], ...],
    fails: str,
    hint_words: tuple[str, ...],
) -> None:
    report = check(*functions)
    assert report.attempted
    failed = first.criterion(report, fails)
    assert failed.status == "failed", str(report)
    assert failed.hint, str(report)
    for words in hint_words:
        assert words in failed.hint, f"{words!r} not in the hint: {failed.hint}\n{report}"


def test_every_criterion_meets_two_wrong_solutions() -> None:
    """Each check's criteria (as the reference passes them) against the wrong solutions here."""
    reports = {
        check_echo_server: check_echo_server(S.echo_server),
        check_udp_ping: check_udp_ping(S.udp_ping),
        check_framing: check_framing(S.send_message, S.recv_message),
        check_discovery: check_discovery(S.multicast_sockets, S.discover),
        check_reliable: check_reliable(S.rdt_send, S.rdt_receive),
        check_concurrent_server: check_concurrent_server(S.concurrent_echo_server),
    }
    listed = [(p.values[0], p.values[2]) for p in first.WRONG] + [(c[0], c[2]) for c in CASES]
    assert {check for check, _ in listed} <= set(reports), "a case of a check not counted here"
    short = []
    for check, report in reports.items():
        for c in report.criteria:
            # Only this check's wrong solutions count: "one byte at a time" is also
            # a criterion of the framing check.
            n = sum(1 for chk, fragment in listed if chk is check and fragment in c.name)
            if n < 2:
                short.append(f"{check.__name__}: {c.name}: {n}")
    assert not short, short
