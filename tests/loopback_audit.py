"""An audit hook that blocks, and records, any socket call aimed beyond loopback.

Installed for the whole test session by ``conftest.py`` (and, through an
IPython startup file, in every kernel nbval starts during that session), it
sees the address of every ``socket.connect``, ``socket.sendto``,
``socket.sendmsg`` and ``socket.bind`` that Python code makes, whoever makes
it: labsock, a test, a notebook, a library. A call to an address that is not
loopback raises :class:`LeftLoopback` *before* the system call runs, so a
regression can never send a packet, and is recorded, so that the test (or
the session) fails even if the code under test swallowed the exception.

What is allowed:

* loopback: 127.0.0.0/8, ``::1``, ``::ffff:127.x.y.z``; names that resolve
  only to those (``localhost``);
* a multicast group as a destination only from a socket whose multicast
  interface is loopback (``IP_MULTICAST_IF`` 127.0.0.1, or
  ``IPV6_MULTICAST_IF`` the loopback index) and whose TTL (hop limit) is 0
  or 1: what labsock's senders set; a socket that never set them would send
  by the default route;
* binding a multicast group (that is how a receiver hears only its group;
  binding sends nothing);
* anything that is not an internet socket (Unix sockets, socketpairs).

This module imports nothing from pytest: the kernel's startup file loads it
by path. It cannot see what C code does on its own (libzmq, a resolver
asking a DNS server, ``setsockopt`` joining a group: no audit event).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "EVENTS",
    "LeftLoopback",
    "expect_blocked",
    "install",
    "kernel_startup",
    "logged",
    "sockets_made",
    "verdict",
    "violations",
]

EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg", "socket.bind"})

#: Environment variables a kernel reads at start-up (see ``kernel_startup``).
LOG_ENV = "LABSOCK_AUDIT_LOG"
MODULE_ENV = "LABSOCK_AUDIT_MODULE"


class LeftLoopback(RuntimeError):
    """A socket call was aimed beyond loopback; the audit hook blocked it.

    Not an ``OSError`` on purpose: labsock translates ``OSError`` into its
    own errors, and this one must stay recognisable.
    """


_state = threading.local()
_lock = threading.Lock()
_violations: list[str] = []
_expecting: list[list[str]] = []
_installed = False
_log: Path | None = None


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    addr = ipaddress.ip_address(host.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _resolved(host: str, family: int) -> list[Any]:
    # Resolving runs socket.getaddrinfo, which is audited too (not one of
    # EVENTS): the flag only keeps a hook inside a hook from recursing.
    _state.busy = True
    try:
        return [info[4][0] for info in socket.getaddrinfo(host, None, family)]
    finally:
        _state.busy = False


def _multicast_on_loopback(sock: socket.socket, v6: bool) -> str | None:
    """None if ``sock`` sends multicast on loopback with TTL <= 1, else why not."""
    try:
        if v6:
            index = sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF)
            hops = sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS)
            if index not in _loopback_indexes():
                return f"IPV6_MULTICAST_IF is {index}, not the loopback interface"
            if hops > 1:
                return f"IPV6_MULTICAST_HOPS is {hops}"
            return None
        interface = socket.inet_ntoa(sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4))
        ttl = sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL)
    except OSError as exc:
        return f"cannot read its multicast options ({exc})"
    if not ipaddress.IPv4Address(interface).is_loopback:
        return f"IP_MULTICAST_IF is {interface}, not 127.0.0.1"
    if ttl > 1:
        return f"IP_MULTICAST_TTL is {ttl}"
    return None


def _loopback_indexes() -> set[int]:
    indexes = set()
    for name in ("lo", "lo0"):
        try:
            indexes.add(socket.if_nametoindex(name))
        except OSError:
            continue
    return indexes


def verdict(event: str, sock: Any, address: Any) -> str | None:
    """Why this call must not run, or None if it may."""
    if address is None or not isinstance(address, tuple) or len(address) < 2:
        return None  # sendmsg on a connected socket; Unix paths
    family = getattr(sock, "family", None)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    if sock.fileno() == -1:
        return None  # closed: the call fails (EBADF) without sending anything
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return None  # the socket call itself will reject it
    host = {"": "0.0.0.0", "<broadcast>": "255.255.255.255"}.get(host, host)
    try:
        addrs = [_ip(host)]
    except ValueError:
        try:
            addrs = [_ip(str(a)) for a in _resolved(host, family)]
        except OSError:
            return None  # does not resolve: the call will fail without sending
    for addr in addrs:
        if addr.is_loopback:
            continue
        if addr.is_multicast:
            if event == "socket.bind":
                continue
            why = _multicast_on_loopback(sock, family == socket.AF_INET6)
            if why is None:
                continue
            return f"{event} to multicast group {host}: {why}"
        return f"{event} to {host} ({addr}), which is not loopback"
    return None


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.__new__":
        made = getattr(_state, "made", None)
        if made is not None:
            made.append(args[1:3])
        return
    if event not in EVENTS or getattr(_state, "busy", False):
        return
    sock, address = args[0], args[1]
    try:
        why = verdict(event, sock, address)
    except Exception as exc:  # never let a bug here pass a packet silently
        why = f"{event} to {address!r}: the audit hook could not decide ({exc!r})"
    if why is None:
        return
    with _lock:
        (_expecting[-1] if _expecting else _violations).append(why)
        expected = bool(_expecting)
    if _log is not None and not expected:
        with _log.open("a") as f:
            f.write(json.dumps({"pid": os.getpid(), "argv": sys.argv[:3], "why": why}) + "\n")
    raise LeftLoopback(f"blocked by the test session's loopback audit hook: {why}")


def install(log: str | os.PathLike[str] | None = None) -> None:
    """Install the hook in this process (once; audit hooks cannot be removed).

    ``log``: a file to which each violation is appended as one JSON line,
    for a process (a kernel) whose memory the test session cannot read.
    """
    global _installed, _log
    if log is not None:
        _log = Path(log)
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True


def violations() -> list[str]:
    """What the hook blocked in this process so far (outside ``expect_blocked``)."""
    with _lock:
        return list(_violations)


@contextmanager
def expect_blocked() -> Iterator[list[str]]:
    """Collect what the hook blocks in the block instead of counting it as a violation.

    Only for the tests of the hook itself.
    """
    got: list[str] = []
    with _lock:
        _expecting.append(got)
    try:
        yield got
    finally:
        with _lock:
            _expecting.remove(got)


@contextmanager
def sockets_made() -> Iterator[list[tuple[int, int]]]:
    """The sockets this thread creates in the block, as ``(family, type)``.

    For tests that a refusal comes before any socket exists.
    """
    made: list[tuple[int, int]] = []
    _state.made = made
    try:
        yield made
    finally:
        _state.made = None


def kernel_startup(directory: Path, log: Path) -> dict[str, str]:
    """Make kernels started from this session install the hook too.

    Writes an IPython profile whose startup file loads this module by path
    and installs it with ``log``; returns the environment variables that
    point kernels at it (``IPYTHONDIR`` and two of ours).
    """
    startup = directory / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-labsock-loopback-audit.py").write_text(
        "import importlib.util, os\n"
        f"_spec = importlib.util.spec_from_file_location('labsock_loopback_audit', "
        f"os.environ[{MODULE_ENV!r}])\n"
        "_audit = importlib.util.module_from_spec(_spec)\n"
        "_spec.loader.exec_module(_audit)\n"
        f"_audit.install(os.environ[{LOG_ENV!r}])\n"
        "del _spec, _audit\n"
    )
    return {"IPYTHONDIR": str(directory), MODULE_ENV: __file__, LOG_ENV: str(log)}


def logged(log: Path) -> list[str]:
    """The violations kernels appended to ``log``."""
    if not log.exists():
        return []
    return [json.loads(line)["why"] for line in log.read_text().splitlines() if line.strip()]
