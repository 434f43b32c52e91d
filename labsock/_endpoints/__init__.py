"""Endpoints: real sockets served by real threads.

The registry (re-running a cell replaces what it made), the endpoint base,
echo servers, the impaired UDP/TCP links, multicast groups, traced sockets and
the kernel's socket table. Each endpoint owns its sockets and threads, binds
before its constructor returns and closes idempotently. Imports ``_core`` and
``_results`` only.
"""
