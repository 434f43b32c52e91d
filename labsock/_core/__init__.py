"""The pure core: no sockets, no threads, no clocks of its own.

Errors and validation, the probe wire format, framing codecs, the seeded
impairment model, per-probe records, statistics, and the reading of a trace.
Bytes, numbers, seeds and timestamps in; values out. Imports nothing else
from labsock.
"""
