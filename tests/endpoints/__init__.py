"""Tests of labsock._endpoints: servers, links, multicast, traces, registry, socket table."""
