"""The pure core: no sockets, no threads, no clocks of its own.

Errors and validation, the probe wire format, framing codecs, the seeded
impairment model, per-probe records, statistics, and the reading of a trace.
One exception to "no sockets": the loopback guard (``guard``) resolves host
names with ``getaddrinfo`` before it decides; it opens no socket.
Bytes, numbers, seeds and timestamps in; values out. Imports nothing else
from labsock.
"""
