"""The errors labsock raises, and the one place where ``OSError`` is translated.

Every error is a :class:`LabsockError`. Each message says what happened and
what to do about it, in words a first-year student can act on; the original
``OSError`` is kept as ``__cause__`` for anyone who wants the errno.

The tree separates *your* mistakes (bad arguments, using a closed endpoint)
from what the *network or the peer* did (refused, timed out, reset)::

    LabsockError
    +-- UsageError (ValueError)          bad argument value
    |   +-- DatagramTooLarge
    +-- PayloadTypeError (TypeError)     str where bytes are needed, ...
    +-- ClosedError                      endpoint used after close()
    +-- AddressError (OSError)           bind/resolve problems
    |   +-- AddressInUse
    |   +-- PermissionDenied
    |   +-- HostNotFound
    |   +-- NotLoopback                  refused: it would leave this machine
    +-- NetworkError (OSError)           what the peer or the network did
    |   +-- ConnectionRefused
    |   +-- ConnectionLost
    |   +-- NetworkTimeout (TimeoutError)
    +-- FramingError (ValueError)        a byte stream that breaks its framing
    +-- WorkerError                      a background thread failed
    +-- OutOfResources                   no descriptor, memory or thread left
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "AddressError",
    "AddressInUse",
    "ClosedError",
    "ConnectionLost",
    "ConnectionRefused",
    "DatagramTooLarge",
    "FramingError",
    "HostNotFound",
    "LabsockError",
    "NetworkError",
    "NetworkTimeout",
    "NotLoopback",
    "OutOfResources",
    "PayloadTypeError",
    "PermissionDenied",
    "UsageError",
    "WorkerError",
    "os_errors",
    "translate_oserror",
]

Address = tuple[str, int]


class LabsockError(Exception):
    """Base class of every error labsock raises on purpose."""


class UsageError(LabsockError, ValueError):
    """An argument has a value that makes no sense (a negative count, ...)."""


class DatagramTooLarge(UsageError):
    """A UDP payload larger than one IPv4 datagram can carry (65,507 bytes)."""


class PayloadTypeError(LabsockError, TypeError):
    """An argument has the wrong type, typically ``str`` where ``bytes`` are needed."""


class ClosedError(LabsockError):
    """An endpoint was used after ``close()``: you closed it, not the network."""


class AddressError(LabsockError, OSError):
    """The local address could not be used (in use, privileged, unresolvable)."""


class AddressInUse(AddressError):
    """Another socket already holds this address and port."""


class PermissionDenied(AddressError):
    """The operating system refused, typically a port below 1024."""


class HostNotFound(AddressError):
    """A host name did not resolve to an address."""


class NotLoopback(AddressError):
    """labsock refused an address that is not this machine's loopback.

    Raised before any socket exists (see ``labsock._core.guard``): the course
    runs on shared machines, and nothing it does may leave them. A teacher on
    a private lab network can opt in with ``labsock.allow_network(True)``.
    """


class NetworkError(LabsockError, OSError):
    """Something the peer or the network did, not a mistake in your code."""


class ConnectionRefused(NetworkError):
    """Nothing listens at the address: the peer's kernel answered with a reset."""


class ConnectionLost(NetworkError):
    """An established connection was reset or broken by the peer."""


class NetworkTimeout(NetworkError, TimeoutError):
    """Nothing arrived before the timeout ran out."""


class FramingError(LabsockError, ValueError):
    """A byte stream broke its framing rules (oversized or truncated frame)."""


class WorkerError(LabsockError):
    """A background thread of an endpoint met an unexpected error."""


class OutOfResources(LabsockError):
    """This process or machine ran out of file descriptors, memory or threads.

    Not a mistake in your code and not the network's doing: too many sockets
    or threads are open at once (a busy class shares one machine).
    """


#: errno values that mean "out of descriptors or memory", not "bad request".
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def _where(address: object) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


def translate_oserror(exc: OSError, *, action: str, address: object = None) -> LabsockError:
    """Turn a low-level ``OSError`` into a :class:`LabsockError` a student can act on.

    ``action`` is a short verb phrase ("bind", "connect to", "send to") used in
    the message. The caller raises the result ``from exc`` so the original
    stays available as ``__cause__``.

    >>> err = translate_oserror(ConnectionRefusedError(111, "refused"),
    ...                         action="connect to", address=("127.0.0.1", 9))
    >>> type(err).__name__
    'ConnectionRefused'
    """
    where = _where(address) if address is not None else "the address"
    port = address[1] if isinstance(address, tuple) and len(address) >= 2 else None
    code = exc.errno

    if isinstance(exc, socket.gaierror):
        return HostNotFound(
            f"cannot {action} {where}: the host name does not resolve ({exc.strerror}). "
            "Use an address such as '127.0.0.1' or 'localhost'."
        )
    if isinstance(exc, ConnectionRefusedError) or code == errno.ECONNREFUSED:
        return ConnectionRefused(
            f"connection refused by {where}: nothing is listening on that port. "
            "Start the server first, and check the port number."
        )
    if isinstance(exc, TimeoutError) or code == errno.ETIMEDOUT:
        return NetworkTimeout(
            f"timed out while trying to {action} {where}: no answer arrived in time. "
            "Is the peer running? Try a longer timeout."
        )
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return ConnectionLost(
            f"the connection to {where} was broken by the peer while trying to {action} it "
            f"({exc.strerror or type(exc).__name__}). The other side closed or crashed."
        )
    if code == errno.EADDRINUSE:
        return AddressInUse(
            f"cannot {action} {where}: the address is already in use by another socket. "
            "Use port=0 to let the operating system pick a free port, or close the old "
            "endpoint first (labsock.close_all())."
        )
    if code == errno.EACCES and action.startswith(("connect", "send", "ping")):
        # Sending or connecting needs no rights on any port: EACCES there
        # means a broadcast address (the kernel wants SO_BROADCAST first).
        return PermissionDenied(
            f"permission denied to {action} {where}: it is a broadcast address, which "
            "reaches every machine of a network, and the kernel refuses to send to it "
            "unless the socket asks with SO_BROADCAST. The course talks to one machine: "
            "use a server's .address, e.g. ('127.0.0.1', port)."
        )
    if code in (errno.EACCES, errno.EPERM):
        hint = (
            f"port {port} is below 1024 and needs administrator rights: use port=0"
            if isinstance(port, int) and 0 < port < 1024
            else "the operating system does not allow it here"
        )
        return PermissionDenied(f"permission denied to {action} {where}: {hint}.")
    if code == errno.EADDRNOTAVAIL:
        return AddressError(
            f"cannot {action} {where}: this machine has no such address. "
            "Use '127.0.0.1' (loopback) for the course."
        )
    if code == errno.EMSGSIZE:
        return DatagramTooLarge(
            f"cannot {action} {where}: the datagram is too large for one packet "
            "(at most 65,507 bytes over IPv4). Split the data, or use TCP."
        )
    if code in RESOURCE_ERRNOS:
        return OutOfResources(
            f"cannot {action} {where}: out of resources ({exc.strerror or exc}). Too many "
            "sockets or threads are open at once: close the endpoints you no longer need "
            "(labsock.close_all()), or wait for other clients to finish."
        )
    return NetworkError(f"cannot {action} {where}: {exc.strerror or exc}")


@contextmanager
def os_errors(action: str, address: object = None) -> Iterator[None]:
    """Translate any ``OSError`` raised in the block (the one boundary).

    >>> with os_errors("bind", ("127.0.0.1", 0)):
    ...     pass
    """
    try:
        yield
    except LabsockError:
        raise
    except OSError as exc:
        raise translate_oserror(exc, action=action, address=address) from exc
