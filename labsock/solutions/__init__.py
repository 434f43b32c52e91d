"""Reference solutions of the practice notebook (``05_practice.ipynb``).

**Teachers can delete this folder before handing the course out.** Nothing
else in ``labsock`` imports it: only the tests do (every check must pass on
these), and :func:`fill_notebook`, which writes a copy of the practice
notebook with these solutions filled in
(``python -m labsock.solutions SOURCE TARGET``).

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

from labsock.solutions._fill import fill_notebook
from labsock.solutions._framing import recv_message, send_message
from labsock.solutions._multicast import discover, multicast_sockets
from labsock.solutions._ping import udp_ping
from labsock.solutions._reliable import rdt_receive, rdt_send
from labsock.solutions._servers import concurrent_echo_server, echo_server, selectors_echo_server

__all__ = [
    "concurrent_echo_server",
    "discover",
    "echo_server",
    "fill_notebook",
    "multicast_sockets",
    "rdt_receive",
    "rdt_send",
    "recv_message",
    "selectors_echo_server",
    "send_message",
    "udp_ping",
]
