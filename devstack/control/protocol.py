"""The control channel's wire format, defined once: one JSON object per line, each way.

Request:  {"v": 1, "verb": "status", "args": {...}}
Reply:    {"ok": true, "result": ...}  or  {"ok": false, "error": "one line", "exit_code": 2}

Verbs form a fixed allowlist; a request is at most MAX_REQUEST bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

VERSION = 1
MAX_REQUEST = 64 * 1024
VERBS = frozenset({"ping", "status", "start", "stop", "restart", "wait", "down", "apply"})


class ProtocolError(ValueError):
    pass


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def request(verb: str, **args: Any) -> bytes:
    return encode({"v": VERSION, "verb": verb, "args": args})


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def parse_request(line: bytes) -> tuple[str, dict[str, Any]]:
    """(verb, args) of a request line; ProtocolError with a plain message when it is not one."""
    try:
        message = json.loads(line, parse_constant=_not_json)  # NaN and Infinity are Python's, not JSON
    except (ValueError, RecursionError):
        raise ProtocolError("the request is not JSON") from None
    if not isinstance(message, dict):
        raise ProtocolError("the request is not a JSON object")
    if message.get("v") != VERSION:
        raise ProtocolError(f"unsupported protocol version {message.get('v')!r}; expected {VERSION}")
    verb = message.get("verb")
    if not isinstance(verb, str) or verb not in VERBS:
        raise ProtocolError(f"unknown verb {str(verb)[:40]!r}")
    args = message.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError("args must be a JSON object")
    return verb, args


def names_arg(args: dict[str, Any]) -> list[str]:
    names = args.get("names") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ProtocolError("names must be a list of strings")
    return names


def timeout_arg(args: dict[str, Any]) -> float | None:
    timeout = args.get("timeout")
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ProtocolError("timeout must be a number of seconds")
    try:
        seconds = float(timeout)
    except OverflowError:  # an int beyond float's range, e.g. 10**400
        raise ProtocolError("timeout must be a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ProtocolError("timeout must be a finite, non-negative number of seconds")
    return seconds


def ok(result: Any = None) -> bytes:
    return encode({"ok": True, "result": result})


def error(message: str, exit_code: int = 1) -> bytes:
    return encode({"ok": False, "error": message, "exit_code": exit_code})
