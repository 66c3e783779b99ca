"""Socket addresses as the probes, the impostor check and their messages need them."""

from __future__ import annotations

import socket


def is_ip_literal(host: str) -> bool:
    """An IPv4 or IPv6 address written out: dialled as it is, never resolved."""
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


def show(host: str, port: int) -> str:
    """`127.0.0.1:8001`, `[::1]:8001`: an address as people write it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
