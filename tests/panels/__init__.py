"""Tests of labsock._panels through labsock.widgets: real sockets behind every button."""
