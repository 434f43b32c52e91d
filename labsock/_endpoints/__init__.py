"""Endpoints: real sockets in real threads, and child processes, each with a life cycle."""
