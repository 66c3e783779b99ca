"""A small synchronous client of the control socket, for the CLI (no asyncio, no HTTP client: fast)."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

from devstack.control import protocol
from devstack.errors import ControlError, DevstackError, NotRunning, UsageError

if TYPE_CHECKING:
    from pathlib import Path


def call(path: Path, verb: str, io_timeout: float | None = 30.0, **args: Any) -> Any:
    """Send one request and return its result; NotRunning when nobody listens on the socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(io_timeout)
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise NotRunning("no supervisor is running for this stack; start it with `devstack up`") from None
        except OSError as exc:
            raise ControlError(f"cannot reach the supervisor at {path}: {exc.strerror or exc}") from None
        sock.sendall(protocol.request(verb, **args))
        data = b""
        while not data.endswith(b"\n"):
            try:
                chunk = sock.recv(1 << 20)
            except TimeoutError:
                raise ControlError(f"the supervisor did not answer `{verb}` within {io_timeout} s") from None
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    if not data:
        raise ControlError(f"the supervisor closed the connection without answering `{verb}`")
    reply = json.loads(data)
    if not reply.get("ok"):
        message = str(reply.get("error") or "the supervisor refused the request")
        code = int(reply.get("exit_code") or 1)
        error: DevstackError = UsageError(message) if code == 2 else ControlError(message)
        error.exit_code = code
        raise error
    return reply.get("result")


def ping(path: Path, timeout: float = 2.0) -> int | None:
    """The supervisor's pid if one answers on the socket, else None."""
    try:
        result = call(path, "ping", io_timeout=timeout)
    except (NotRunning, ControlError, OSError):
        return None
    return int(result["pid"]) if isinstance(result, dict) and "pid" in result else None
