"""Benchmarks: labsock against bare sockets and the loopback limit, side by side.

Run ``make bench`` (or ``python -m benchmarks.run``); see ``benchmarks/README.md``.
Nothing here is imported by ``labsock`` or by the course.
"""
