"""Reading ``strace`` output: a C++ program's socket calls as :class:`TraceEvent` s.

A compiled program runs under ``strace -f -ttt -T -e trace=network,close``
(see :mod:`labsock._endpoints.programs`); this module turns the lines strace
wrote into the same events a :class:`~labsock._trace.Trace` records for
Python sockets, so the same table, Mermaid diagram and timed plot draw both.

The reading itself (:func:`parse`) is pure: text in, calls out. Only
:func:`record` touches a :class:`Trace`.

What strace shows is the system call, not the C++ method: ``send()`` in
glibc is the ``sendto`` system call with no address, ``recv()`` is
``recvfrom`` with none. Those are named ``send`` and ``recv`` here, as the
program wrote them. Descriptors that are not sockets (the loader's ``close``
of library files) are left out, and so are option calls (``setsockopt``):
a Python trace does not record them either.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from labsock._core.formatting import describe_bytes, format_address
from labsock._core.trace_events import (
    accepted_text,
    bound_text,
    end_of_stream_text,
    from_text,
    received_from_text,
    taken_text,
    to_text,
)
from labsock._endpoints.trace import Trace

__all__ = ["Call", "parse", "record", "socket_addresses"]

Address = tuple[str, int]

_LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<ts>\d+\.\d+)\s+(?P<rest>.*)$")
_CALL = re.compile(
    r"^(?P<name>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+|\?)(?P<tail>.*?)(?:<(?P<dur>[\d.]+)>)?\s*$"
)
_UNFINISHED = re.compile(r"^(?P<head>.*?)\s*<unfinished \.\.\.>\s*$")
_RESUMED = re.compile(r"^<\.\.\. (?P<name>\w+) resumed>\s*(?P<rest>.*)$")
_INET = re.compile(r'sin_port=htons\((?P<port>\d+)\), sin_addr=inet_addr\("(?P<host>[^"]+)"\)')
_INET6 = re.compile(r'sin6_port=htons\((?P<port>\d+)\).*?inet_pton\(AF_INET6, "(?P<host>[^"]+)"')
_STRING = re.compile(r'^"((?:[^"\\]|\\.)*)"(\.\.\.)?')
_ERRNO = re.compile(r"^\s*(?P<code>E[A-Z0-9]+)\s*\((?P<text>[^)]*)\)")

#: Bytes of payload shown in a summary, as the Python trace shows them.
_PREVIEW = 16
_ESCAPES = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "a": 7, "b": 8, '"': 34, "\\": 92}


@dataclass(frozen=True)
class Call:
    """One system call strace saw: who, when (epoch seconds), what, what it returned."""

    pid: int
    start: float
    duration: float
    name: str
    args: str
    ret: int | None
    error: str | None


def _unescape(text: str) -> bytes:
    """Bytes of a C string as strace prints it (``\\n``, ``\\x41``, ``\\101``)."""
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 == len(text):
            out += ch.encode("utf-8", "replace")
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "x" and i + 3 < len(text) + 1:
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        elif nxt.isdigit():
            digits = re.match(r"[0-7]{1,3}", text[i + 1 :])
            assert digits is not None
            out.append(int(digits.group(), 8) & 0xFF)
            i += 1 + len(digits.group())
        else:
            out.append(_ESCAPES.get(nxt, ord(nxt)))
            i += 2
    return bytes(out)


def parse(text: str) -> list[Call]:
    """Every complete system call in ``strace -f -ttt -T`` output, in order of start.

    A call split by another thread (``<unfinished ...>`` then ``<... resumed>``)
    is joined back into one. Lines that are not calls (signals, exits) are
    skipped.
    """
    pending: dict[int, tuple[float, str]] = {}
    calls: list[Call] = []
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if m is None:
            continue
        pid, ts, rest = int(m["pid"]), float(m["ts"]), m["rest"]
        unfinished = _UNFINISHED.match(rest)
        if unfinished is not None:
            pending[pid] = (ts, unfinished["head"])
            continue
        resumed = _RESUMED.match(rest)
        if resumed is not None:
            if pid not in pending:
                continue
            ts, head = pending.pop(pid)
            rest = head + resumed["rest"]
        call = _CALL.match(rest)
        if call is None:
            continue
        ret = None if call["ret"] == "?" else int(call["ret"])
        error = None
        if ret is not None and ret < 0:
            err = _ERRNO.match(call["tail"])
            error = f"{err['code']}: {err['text']}" if err else call["tail"].strip()
        duration = float(call["dur"]) if call["dur"] else 0.0
        calls.append(Call(pid, ts, duration, call["name"], call["args"], ret, error))
    calls.sort(key=lambda c: c.start)
    return calls


def socket_addresses(args: str) -> list[Address]:
    """Every IPv4/IPv6 socket address written in a call's arguments."""
    found = [(m["host"], int(m["port"])) for m in _INET.finditer(args)]
    found += [(m["host"], int(m["port"])) for m in _INET6.finditer(args)]
    return found


def _fmt(address: Address | None) -> str:
    return "?" if address is None else format_address(address)


def _payload(args: str, size: int) -> str:
    """``5 bytes b'hello'`` from a call's buffer argument, as the Python trace writes it."""
    buffer = args.split(", ", 1)[1] if ", " in args else ""
    m = _STRING.match(buffer)
    data = _unescape(m.group(1)) if m else b""
    text = f"{describe_bytes(size)} {bytes(data[:_PREVIEW])!r}"
    return text + ("…" if size > _PREVIEW else "")


@dataclass
class _Event:
    actor: str
    call: str
    args: str
    result: str
    error: str | None
    start: float
    end: float
    protocol: str
    local: Address | None
    peer: Address | None
    nbytes: int | None = None


@dataclass
class _Socket:
    actor: str
    protocol: str
    local: Address | None = None
    peer: Address | None = None
    events: list[_Event] = field(default_factory=list)


def record(trace: Trace, text: str, actor: str, *, started: float | None = None) -> int:
    """Add the socket calls of one program's strace output to ``trace``, as ``actor``.

    Connections the program accepts become ``actor#1``, ``actor#2``, ...
    as in a Python trace. Times are placed on the trace's own clock; for a
    recording made earlier, ``started`` is the wall-clock time (seconds
    since the epoch) that the trace's start stands for.
    Returns how many calls were added.
    """
    # strace stamps wall-clock time; a Trace counts on perf_counter.
    offset = time.time() - time.perf_counter() if started is None else started - trace._t0
    sockets: dict[int, _Socket] = {}
    events: list[_Event] = []

    def add(
        sock: _Socket,
        call: Call,
        name: str,
        args: str,
        result: str = "",
        *,
        peer: Address | None = None,
        nbytes: int | None = None,
    ) -> None:
        event = _Event(
            actor=sock.actor,
            call=name,
            args=args,
            result=result if call.error is None else "",
            error=call.error,
            start=call.start - offset,
            end=call.start + call.duration - offset,
            protocol=sock.protocol,
            local=sock.local,
            peer=peer if peer is not None else sock.peer,
            nbytes=nbytes,
        )
        sock.events.append(event)
        events.append(event)

    for call in parse(text):
        first = call.args.split(",", 1)[0].strip()
        fd = int(first) if first.isdigit() else -1
        if call.name == "socket":
            if call.ret is None or call.ret < 0 or "AF_INET" not in call.args:
                continue
            kind = (
                "tcp" if "SOCK_STREAM" in call.args else "udp" if "SOCK_DGRAM" in call.args else ""
            )
            family = "AF_INET6" if "AF_INET6" in call.args else "AF_INET"
            sock_type = {"tcp": "SOCK_STREAM", "udp": "SOCK_DGRAM"}.get(kind, "?")
            sockets[call.ret] = sock = _Socket(actor, kind)
            add(sock, call, "socket", f"{family}, {sock_type}", f"fd {call.ret}")
            continue
        sock_or_none = sockets.get(fd)
        if sock_or_none is None:
            continue
        sock = sock_or_none
        where = socket_addresses(call.args)
        if call.name == "bind":
            if where and call.error is None:
                sock.local = where[0]
            add(sock, call, "bind", _fmt(where[0] if where else None))
        elif call.name == "getsockname" and where and call.error is None:
            sock.local = where[0]
            # A port-0 bind or a connect learns its real address only now.
            for event in sock.events:
                if event.local is None or event.local[1] == 0:
                    event.local = where[0]
                if event.call == "bind" and event.error is None:
                    event.result = bound_text(where[0])
                if event.call == "connect" and event.error is None:
                    event.result = from_text(where[0])
        elif call.name == "listen":
            backlog = call.args.split(",")[1].strip() if "," in call.args else ""
            add(sock, call, "listen", backlog)
        elif call.name in ("accept", "accept4"):
            if call.error is not None or call.ret is None:
                add(sock, call, "accept", "")
                continue
            number = trace._next_connection(actor)
            conn = _Socket(
                f"{actor}#{number}", sock.protocol, sock.local, where[0] if where else None
            )
            sockets[call.ret] = conn
            add(
                sock,
                call,
                "accept",
                "",
                accepted_text(conn.actor, _fmt(conn.peer)),
                peer=conn.peer,
            )
        elif call.name == "connect":
            if where:
                sock.peer = where[0]
            add(sock, call, "connect", _fmt(sock.peer), peer=sock.peer)
        elif call.name in ("sendto", "sendmsg"):
            size = call.ret if call.ret is not None and call.ret >= 0 else 0
            if where:  # an address given: a datagram to someone
                text_ = to_text(_payload(call.args, size), where[0])
                add(sock, call, "sendto", text_, taken_text(size), peer=where[0], nbytes=size)
            else:
                add(
                    sock,
                    call,
                    "send",
                    _payload(call.args, size),
                    taken_text(size),
                    nbytes=size,
                )
        elif call.name in ("recvfrom", "recvmsg"):
            size = call.ret if call.ret is not None and call.ret >= 0 else 0
            bufsize = call.args.split(", ")[2] if call.args.count(", ") >= 2 else ""
            got = _payload(call.args, size)
            if size == 0 and sock.protocol == "tcp" and call.error is None:
                got = end_of_stream_text()
            if where:
                add(
                    sock,
                    call,
                    "recvfrom",
                    bufsize,
                    received_from_text(got, where[0]),
                    peer=where[0],
                    nbytes=size,
                )
            else:
                add(sock, call, "recv", bufsize, got, nbytes=size)
        elif call.name == "shutdown":
            how = call.args.split(",")[1].strip() if "," in call.args else ""
            add(sock, call, "shutdown", how)
        elif call.name == "close":
            add(sock, call, "close", "")
            del sockets[fd]
    for e in events:
        trace._record(
            actor=e.actor,
            call=e.call,
            args=e.args,
            result=e.result,
            error=e.error,
            start=e.start,
            end=e.end,
            protocol=e.protocol,
            local=e.local,
            peer=e.peer,
            nbytes=e.nbytes,
        )
    return len(events)
