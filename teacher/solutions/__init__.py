"""Reference solutions of the practice notebook, as importable modules (teachers only).

This folder lives outside the ``labsock`` package: the wheel, the sdist and
the students' notebooks never contain it. The tests import it (every check
must pass on these, and the known-wrong solutions reuse pieces of them); the
same code sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` in the
nbgrader source notebook, ``teacher/source/practice/practice.ipynb``.

Each solution is the plain ``socket`` code a student is expected to write,
one module per topic:

* exercise 1: :func:`echo_server`
* exercise 2: :func:`udp_ping`
* exercise 3: :func:`send_message`, :func:`recv_message`
* exercise 4: :func:`multicast_sockets`, :func:`discover`
* exercise 5: :func:`rdt_send`, :func:`rdt_receive`
* exercise 6: :func:`concurrent_echo_server` (a thread per client) and
  :func:`selectors_echo_server` (one thread, ``selectors``)
"""

from teacher.solutions._framing import recv_message, send_message
from teacher.solutions._multicast import discover, multicast_sockets
from teacher.solutions._ping import udp_ping
from teacher.solutions._reliable import rdt_receive, rdt_send
from teacher.solutions._servers import concurrent_echo_server, echo_server, selectors_echo_server

__all__ = [
    "concurrent_echo_server",
    "discover",
    "echo_server",
    "multicast_sockets",
    "rdt_receive",
    "rdt_send",
    "recv_message",
    "selectors_echo_server",
    "send_message",
    "udp_ping",
]
