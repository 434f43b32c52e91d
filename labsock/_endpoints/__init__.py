"""Endpoints: real sockets served by real threads.

The registry (re-running a cell replaces what it made), the endpoint base,
echo servers, the impaired UDP/TCP links, multicast groups, traced sockets,
the kernel's socket table and the socket stepper's machine (its calls go
through one dispatch table; the panel in ``_panels`` only shows it). Each
endpoint owns its sockets and threads, binds before its constructor returns
and closes idempotently. Imports ``_core`` and ``_results`` only.
"""
