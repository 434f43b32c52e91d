"""Tests of labsock._core: pure code, no sockets (errors, framing, impairment, statistics)."""
