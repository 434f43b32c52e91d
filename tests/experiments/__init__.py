"""Tests of labsock._experiments: ping, blast, compare, sender cost (fan-out: endpoints/)."""
