"""The impostor check on real sockets: the service's own listening socket, remembered; a port
held by another process that was there first."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from devstack.doctor.listeners import KnownSockets, find_impostor, still_holds
from devstack.probes.target import Target
from devstack.process.ports import listening_sockets


def test_own_socket_is_no_impostor_and_is_remembered() -> None:
    with socket.socket() as own:
        own.bind(("127.0.0.1", 0))
        own.listen()
        port = own.getsockname()[1]
        assert [ip for ip, _inode in listening_sockets(port) or []] == ["127.0.0.1"]
        known: KnownSockets = {}
        assert find_impostor("api", Target("localhost", port), {os.getpid()}, time.time(), known) is None
        assert known == {listening_sockets(port)[0][1]: (os.getpid(), own.fileno())}  # type: ignore[index]
        assert still_holds(known)  # the next check is one readlink: the socket is still open there
        assert find_impostor("api", Target("localhost", port), {os.getpid()}, time.time(), known) is None
    assert not still_holds(known)  # closed: the next check reads the socket tables again


def test_a_port_held_by_an_older_process_is_named() -> None:
    code = ("import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
            "print(s.getsockname()[1], flush=True); time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        known = {123456789: (os.getpid(), 9999)}  # a stale memory of a socket no longer held
        found = find_impostor("api", Target("127.0.0.1", port), {os.getpid()}, time.time() + 60, known)
        assert found is not None and f"pid {holder.pid}" in found and "not by api" in found
        assert not known
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]


def test_a_holder_carrying_the_service_tag_is_the_service() -> None:
    """A child that left the tree (setsid) still carries the service's tag: not an impostor."""
    from devstack.process.tree import TAG_VAR

    code = ("import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
            "print(s.getsockname()[1], flush=True); time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, TAG_VAR: "abc123/api"})
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        target = Target("127.0.0.1", port)
        assert find_impostor("api", target, {os.getpid()}, time.time() + 60, {}, "abc123/api") is None
        assert find_impostor("api", target, {os.getpid()}, time.time() + 60, {}, "abc123/web") is not None
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]
