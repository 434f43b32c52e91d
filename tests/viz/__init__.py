"""Tests of labsock._viz through labsock.plots: every figure, artist by artist."""
