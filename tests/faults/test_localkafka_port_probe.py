"""localkafka promises that a named broker keeps its port across stop/start. It does not when the broker closed
client connections at shutdown: those leave TIME_WAIT sockets on the broker's port, and `port_is_free` (a plain
bind, without SO_REUSEADDR) then calls the port taken, so `_choose_ports` picks a new one. The JVM binds its
listener with SO_REUSEADDR and could have used the old port; services configured with it never reconnect.

Found by the broker-restart fault test (test_faults.py works around it); the deterministic reproduction below
needs no broker: a listener that closes an accepted connection first leaves exactly such a TIME_WAIT socket.
"""

from __future__ import annotations

import socket

from localkafka.broker import port_is_free


def _time_wait_on_a_listening_port() -> int:
    """A port whose listener is gone but whose server side of a closed connection is in TIME_WAIT."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the JVM does
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server closes first, as a broker shutting down does: its side goes to TIME_WAIT
    client.recv(1)  # sees the FIN
    client.close()
    listener.close()
    return port


def test_a_listener_with_so_reuseaddr_can_take_the_port_back():
    port = _time_wait_on_a_listening_port()
    again = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    again.bind(("127.0.0.1", port))  # what the restarted broker would do
    again.close()


def test_port_is_free_ignores_time_wait_sockets_of_a_closed_listener():
    port = _time_wait_on_a_listening_port()
    assert port_is_free(port)


def test_port_is_free_still_sees_a_listening_port():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        assert not port_is_free(listener.getsockname()[1])
    finally:
        listener.close()
