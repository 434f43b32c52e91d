"""Self-checking exercises: write socket code, and let real clients and servers judge it.

Each check runs your function against real sockets on loopback, including
adversarial peers (a client that writes one byte at a time, one that resets
mid-message, fifty at once, a link that loses and reorders), and returns a
:class:`Report`: a short list of criteria, each passed or failed, with a hint
at the likely mistake. A check never hangs (every wait has a timeout; a
server under test runs in a daemon thread that the check stops through the
``stop`` event and the sockets it owns), and it reports what it could not
clean up instead of printing warnings.

==============================  =============================================
exercise                        check
==============================  =============================================
1. TCP echo server              ``check_echo_server(echo_server)``
2. UDP pinger with back-off     ``check_udp_ping(udp_ping)``
3. framed messages over TCP     ``check_framing(send_message, recv_message)``
4. multicast discovery          ``check_discovery(multicast_sockets, discover)``
5. reliable delivery over UDP   ``check_reliable(rdt_send, rdt_receive)``,
                                then ``measure_goodput(rdt_send, rdt_receive)``
6. a server for 50 clients      ``check_concurrent_server(server)``
==============================  =============================================

Starter code that still raises ``NotImplementedError`` gives a report that
says "not attempted yet"; displaying it does not fail the cell.

Collecting results (teachers):

* ``export_results(reports, "practice-results-HAND-IN.json")`` writes every
  report, per exercise and per criterion (``report.to_dict()``), to one JSON
  file a student can hand in. Whichever edition the student used, ``title``,
  ``status`` and each criterion's ``name`` are the English keys, so files
  from both editions compare directly; ``shown_title``, ``shown_name``, the
  hints and notes are what the student read, in ``language``.
* With nbgrader: ``report.points(maximum)`` is what a graded test cell ends
  with; it shows the report with its points, and nbgrader reads the points
  as the cell's partial credit (one equal share per criterion). The course's
  nbgrader source notebook, the reference solutions and the teacher's
  commands are outside this package (see docs/teaching-guide.md).

Example:
    >>> from labsock.exercises import check_echo_server
    >>> def echo_server(listener, stop):
    ...     raise NotImplementedError
    >>> check_echo_server(echo_server).status
    'not attempted yet'
"""

from labsock._results.practice import GoodputResult, GoodputRow
from labsock.exercises._checks_concurrent import check_concurrent_server
from labsock.exercises._checks_framing import check_framing
from labsock.exercises._checks_multicast import check_discovery
from labsock.exercises._checks_ping import check_udp_ping
from labsock.exercises._checks_reliable import check_reliable
from labsock.exercises._checks_servers import check_echo_server
from labsock.exercises._goodput import measure_goodput
from labsock.exercises._report import (
    NOT_ATTEMPTED,
    Criterion,
    Report,
    Score,
    Summary,
    export_results,
    summarize,
)

__all__ = [
    "NOT_ATTEMPTED",
    "Criterion",
    "GoodputResult",
    "GoodputRow",
    "Report",
    "Score",
    "Summary",
    "check_concurrent_server",
    "check_discovery",
    "check_echo_server",
    "check_framing",
    "check_reliable",
    "check_udp_ping",
    "export_results",
    "measure_goodput",
    "summarize",
]
