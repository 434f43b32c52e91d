"""Argument checks shared by every endpoint and experiment.

Each check raises a :class:`~labsock.UsageError` (or ``PayloadTypeError``)
whose message names the argument, the bad value and the fix, *before* any
socket or thread exists, so a bad call never leaks anything.
"""

from __future__ import annotations

import math

from labsock._core.errors import DatagramTooLarge, PayloadTypeError, UsageError

__all__ = [
    "MAX_UDP_PAYLOAD",
    "LoopbackWarning",
    "check_address",
    "check_count",
    "check_host",
    "check_payload",
    "check_port",
    "check_probability",
    "check_seconds",
    "check_size",
]

#: 65,535 (IPv4 total length) - 20 (IP header) - 8 (UDP header).
MAX_UDP_PAYLOAD = 65_507

# Settings that hold a datagram back: an endless hold is a loss in disguise.
_HELD = ("delay", "jitter")


class LoopbackWarning(UserWarning):
    """Deprecated, never issued any more: kept so that old code still imports.

    labsock used to warn when an endpoint was bound to an address other than
    loopback. It now refuses such addresses with :class:`~labsock.NotLoopback`
    (see ``labsock.allow_network`` for the teacher's opt-in).
    """


def check_port(port: object, *, name: str = "port") -> int:
    """Return ``port`` if it is an int in 0..65535, else raise ``UsageError``."""
    if isinstance(port, bool) or not isinstance(port, int):
        raise UsageError(
            f"{name} must be a whole number from 0 to 65535, not {port!r}; "
            "use port=0 to let the operating system pick a free port"
        )
    if not 0 <= port <= 65535:
        raise UsageError(
            f"{name}={port} is out of range: ports go from 0 to 65535 "
            "(use 0 to let the operating system pick one)"
        )
    return port


def check_host(host: object, *, name: str = "host") -> str:
    """Return ``host`` if it is a non-empty str, else raise ``UsageError``.

    Whether the host is *allowed* (loopback only) is the guard's decision,
    made once the name is resolved: see :mod:`labsock._core.guard`.
    """
    if not isinstance(host, str) or not host:
        raise UsageError(f"{name} must be a non-empty string such as '127.0.0.1', not {host!r}")
    return host


def check_address(address: object, *, name: str = "address") -> tuple[str, int]:
    """Return ``(host, port)`` from a 2-tuple (or an endpoint's ``.address``)."""
    if not isinstance(address, tuple) or len(address) < 2:
        raise UsageError(
            f"{name} must be a (host, port) tuple such as ('127.0.0.1', 5000), not {address!r}; "
            "an endpoint's .address is one"
        )
    host, port = address[0], address[1]
    if not isinstance(host, str) or not host:
        raise UsageError(f"{name}: host must be a string such as '127.0.0.1', not {host!r}")
    return host, check_port(port, name=f"{name} port")


def check_count(value: object, *, name: str, minimum: int = 1, maximum: int = 10_000_000) -> int:
    """An int in ``minimum..maximum``, else ``UsageError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be a whole number, not {value!r}")
    if not minimum <= value <= maximum:
        raise UsageError(f"{name}={value} makes no sense: use a value from {minimum} to {maximum}")
    return value


def check_size(value: object, *, name: str = "size", minimum: int = 0, udp: bool = False) -> int:
    """A payload size in bytes; over UDP at most 65,507 (one IPv4 datagram)."""
    size = check_count(value, name=name, minimum=minimum, maximum=1 << 31)
    if udp and size > MAX_UDP_PAYLOAD:
        raise DatagramTooLarge(
            f"{name}={size} bytes does not fit in one UDP datagram: the limit over IPv4 is "
            f"{MAX_UDP_PAYLOAD:,} bytes (65,535 minus the IP and UDP headers). "
            "Send smaller datagrams, or use TCP for bulk data."
        )
    return size


def check_seconds(
    value: object, *, name: str, allow_zero: bool = True, maximum: float = 3600.0
) -> float:
    """A duration in seconds: a finite, non-negative number (positive if not ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{name} must be a number of seconds, not {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds):
        # Not "must be zero or more": inf IS more. Say what is really wrong.
        hint = " (to lose every datagram instead, use loss=1.0)" if name in _HELD else ""
        raise UsageError(
            f"{name}={value!r} is not a finite number of seconds: labsock never waits "
            f"forever. Use a number from 0 to {maximum:g}{hint}."
        )
    if seconds < 0 or (seconds == 0 and not allow_zero):
        rule = "zero or more" if allow_zero else "more than zero"
        raise UsageError(f"{name}={value!r} makes no sense: it must be {rule} seconds")
    if seconds > maximum:
        raise UsageError(f"{name}={value!r} is too long: at most {maximum:g} seconds")
    return seconds


def check_probability(value: object, *, name: str) -> float:
    """A probability in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{name} must be a probability from 0.0 to 1.0, not {value!r}")
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise UsageError(f"{name}={value!r} is not a probability: use a value from 0.0 to 1.0")
    return p


def check_payload(data: object, *, name: str = "data") -> bytes:
    """Bytes-like data as ``bytes``; a ``str`` gets a hint to encode it."""
    if isinstance(data, str):
        raise PayloadTypeError(
            f"{name} must be bytes, not str: sockets carry bytes. "
            f"Encode the text first, e.g. {data[:20]!r}.encode()"
        )
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise PayloadTypeError(f"{name} must be bytes, not {type(data).__name__}")
