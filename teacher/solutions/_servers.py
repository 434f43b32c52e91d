"""Reference solutions of exercises 1 and 6: TCP echo servers, serial and concurrent."""

from __future__ import annotations

import selectors
import socket
import threading

__all__ = ["concurrent_echo_server", "echo_server", "selectors_echo_server"]


def _echo_until_eof(conn: socket.socket) -> None:
    """Send back every byte until the client has finished; a vanished client just ends it."""
    with conn:
        conn.settimeout(5.0)
        try:
            while True:
                data = conn.recv(65_536)
                if not data:  # the client has finished sending
                    return
                conn.sendall(data)  # send() could take only part of it
        except OSError:
            pass  # reset, or silent for 5 s: this client is gone


def echo_server(listener: socket.socket, stop: threading.Event) -> None:
    """Exercise 1: echo every byte back, one client after another, until ``stop`` is set."""
    listener.settimeout(0.1)  # wake up regularly to look at `stop`
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        _echo_until_eof(conn)


def concurrent_echo_server(listener: socket.socket, stop: threading.Event) -> None:
    """Exercise 6: a thread per client, so that fifty clients are served at once.

    The accept loop only accepts; each client's conversation runs in its own
    thread. When ``stop`` is set the loop ends and waits for those threads,
    which end as their clients leave.
    """
    listener.settimeout(0.1)
    workers: list[threading.Thread] = []
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        worker = threading.Thread(target=_echo_until_eof, args=(conn,), daemon=True)
        worker.start()
        workers.append(worker)
        workers = [w for w in workers if w.is_alive()]  # forget the finished ones
    for worker in workers:
        worker.join(5.0)


def selectors_echo_server(listener: socket.socket, stop: threading.Event) -> None:
    """Exercise 6 again, in one thread with ``selectors``: no thread per client.

    Each connection keeps its own buffer of bytes still to send back; the
    selector tells which sockets can be read (or written) without waiting.
    """
    listener.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, None)
    pending: dict[socket.socket, bytearray] = {}

    def drop(conn: socket.socket) -> None:
        sel.unregister(conn)
        pending.pop(conn, None)
        conn.close()

    try:
        while not stop.is_set():
            for key, events in sel.select(timeout=0.1):
                if key.data is None:  # the listener: a new client
                    try:
                        new, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    new.setblocking(False)
                    pending[new] = bytearray()
                    sel.register(new, selectors.EVENT_READ, "client")
                    continue
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                try:
                    if events & selectors.EVENT_READ:
                        data = conn.recv(65_536)
                        if not data:
                            drop(conn)
                            continue
                        pending[conn] += data
                    if pending[conn]:
                        sent = conn.send(pending[conn])
                        del pending[conn][:sent]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:  # reset by the client: forget it, serve the others
                    drop(conn)
                    continue
                # Ask for writability only while there is something left to send.
                wanted = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending[conn] else 0)
                if key.events != wanted:
                    sel.modify(conn, wanted, "client")
    finally:
        for conn in list(pending):
            drop(conn)
        sel.close()
