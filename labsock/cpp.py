"""C++ beside Python: compile and run the lesson's C++ programs (or your own) from a notebook.

The public face of :mod:`labsock._panels.cpp_lesson` and of the C++ program
endpoints; lesson ``05_cpp`` uses it. The programs are in ``labsock/cpp/``
(``socket.hpp``, ``tcp_server.cpp``, ``tcp_client.cpp``, ``udp_sender.cpp``,
``udp_receiver.cpp``, ``multicast_receiver.cpp``); :func:`show` displays one,
highlighted. :func:`start` compiles one (once: builds are cached by source)
and starts it as a child process on loopback; :func:`run` does the same and
waits for its end. A running program is an endpoint: re-running its cell,
``labsock.close_all()`` or shutting the kernel down stops it.

In a notebook, ``%load_ext labsock.cpp`` adds the ``%%cpp`` cell magic::

    %%cpp hello
    #include <iostream>
    int main() { std::cout << "hello from C++\\n"; }

compiles the cell, runs it and prints its output; compiler errors come back
with the cell's line numbers, and no traceback. ``%%cpp NAME [--background]
[--timeout SECONDS] [ARGS ...]``; the run is then in the variable ``NAME``.

Where no compiler exists, :func:`available` says why in one line, and
:func:`recorded_run` gives a run recorded on a machine that had one.

Example:
    >>> from labsock import cpp
    >>> server = cpp.start("tcp_server", "127.0.0.1", 0, 1, ready="listening")
    >>> print(cpp.run("tcp_client", *server.address, "hi").stdout.splitlines()[-1])
    received 2 bytes: hi
    >>> _ = server.wait()
"""

from labsock._endpoints.compiler import CPP_FLAGS, CompileError, Executable, ProgramError
from labsock._endpoints.programs import (
    Program,
    ProgramAddressInUse,
    ProgramCrashed,
    ProgramFailed,
    ProgramTimeout,
)
from labsock._panels import cpp_lesson as _cpp_lesson
from labsock._panels.cpp_lesson import *  # noqa: F403 (its __all__, extended below)

# The program endpoints' names, then the lesson's own: cpp_lesson.__all__ is
# the one list of those, so a name added there is exported here too.
__all__ = [
    "CPP_FLAGS",
    "CompileError",
    "Executable",
    "Program",
    "ProgramAddressInUse",
    "ProgramCrashed",
    "ProgramError",
    "ProgramFailed",
    "ProgramTimeout",
]
__all__ += _cpp_lesson.__all__
