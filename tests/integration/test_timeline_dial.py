"""The timeline's port watch on real sockets: a non-blocking connect tells a listening port from a
refused one (the pure parts of the timeline are tests/unit/test_timeline.py)."""

from __future__ import annotations

import select
import socket

from devstack.engine.timeline import answered, dial


def test_dial_tells_a_listening_port_from_a_closed_one() -> None:
    with socket.socket() as listener, socket.socket() as closed:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
        to_open, to_closed = dial(listener.getsockname()[1]), dial(closed.getsockname()[1])
        # the handshakes are over once every socket is writable (connected or refused)
        for sock in (*to_open, *to_closed):
            assert select.select([], [sock], [], 5)[1], "a connect still under way after 5 s"
        assert answered(to_open) is True
        assert answered(to_closed) is False
