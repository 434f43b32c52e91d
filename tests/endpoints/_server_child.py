"""A TCP echo server in a child process with lowered limits, driven over stdin/stdout.

Resource limits (descriptors, address space) apply to a whole process, so the
tests that exhaust them run the server here, not in pytest's own process.
Run as ``python -m tests._server_child``; each line on stdin is a command,
each answer one JSON line on stdout:

    nofile N        lower RLIMIT_NOFILE to N (soft), before ``start``
    hold N          open N spare descriptors, as a Jupyter kernel has open
    start           start the server; answers its port
    stats           statistics, open descriptors, errors, accept thread alive
    no-threads      make every new thread fail to start (see below)
    threads         let threads start again
    close           close the server; answers what close() raised, if anything

Why ``no-threads`` works without root tricks: it asks for 512 MiB thread
stacks while RLIMIT_AS leaves 256 MiB of address space, so the kernel
refuses every new thread's stack (``RuntimeError: can't start new thread``),
the real failure of a process short of memory. RLIMIT_NPROC would be the
obvious limit, but root ignores it, and CI runs as root.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
from typing import Any

from labsock import TCPEchoServer


def _vm_size() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def main() -> None:
    server: TCPEchoServer | None = None
    held: list[int] = []
    for line in sys.stdin:
        command, *args = line.split()
        answer: dict[str, Any] = {}
        if command == "nofile":
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (int(args[0]), hard))
        elif command == "hold":
            held += [os.open(os.devnull, os.O_RDONLY) for _ in range(int(args[0]))]
        elif command == "start":
            server = TCPEchoServer()
            answer["port"] = server.port
        elif command == "stats":
            assert server is not None
            stats = server.statistics()
            answer = {name: getattr(stats, name) for name in stats.__slots__}
            answer["fds"] = len(os.listdir("/proc/self/fd"))
            answer["errors"] = [type(e).__name__ for e in server.errors]
            answer["messages"] = [str(e) for e in server.errors]
            answer["accepting"] = any(
                t.name.startswith("labsock-tcp-accept") for t in threading.enumerate()
            )
        elif command == "no-threads":
            resource.setrlimit(
                resource.RLIMIT_AS, (_vm_size() + (256 << 20), resource.RLIM_INFINITY)
            )
            threading.stack_size(512 << 20)
        elif command == "threads":
            threading.stack_size(0)
        elif command == "close":
            assert server is not None
            try:
                server.close()
                answer["raised"] = None
            except BaseException as exc:  # reported to the test, which judges it
                answer["raised"] = type(exc).__name__
                answer["labsock"] = type(exc).__module__.startswith("labsock")
        print(json.dumps(answer), flush=True)
        if command == "close":
            break
    for fd in held:
        os.close(fd)


if __name__ == "__main__":
    main()
