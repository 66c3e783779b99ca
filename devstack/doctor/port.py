"""The `port` check: the service's `port` is free, or its holder is named, and recognised as this
stack's own (a leftover, another service, the service itself) by the tag it carries. Who holds
a port is process/ports.py's question.
"""

from __future__ import annotations

import os

from devstack.control.paths import stack_id
from devstack.doctor.findings import Context, Finding, Severity
from devstack.process.owners import PortHolder, PortOwner

_COMMAND_SHOWN = 120  # characters of another process's command line


def check_port(ctx: Context, port_owner: PortOwner) -> list[Finding]:
    """The service's `port` is free, or its holder is named (and recognised as this
    stack's own when it carries the stack's tag)."""
    port = ctx.service.port
    if port is None:
        return []
    return [_port_finding(ctx, port, holder) for holder in port_owner(port)]


def _holder_text(ctx: Context, holder: PortHolder) -> str:
    command = ctx.redact(holder.cmdline)
    if len(command) > _COMMAND_SHOWN:
        command = command[: _COMMAND_SHOWN - 1] + "…"
    inside = f"{holder.name}: {command}" if holder.name and command else (holder.name or command or "?")
    return f"pid {holder.pid} ({inside})"


def _port_finding(ctx: Context, port: int, holder: PortHolder) -> Finding:
    name = ctx.service.name
    change = f"change `port` of {name} in stack.toml"
    if holder.pid is None:
        return ctx.finding(Severity.ERROR, "port", f"port {port} is in use by a process devstack may not "
                           "inspect (another user's?)",
                           f"find it with `sudo lsof -nP -iTCP:{port} -sTCP:LISTEN`, or {change}")
    who = _holder_text(ctx, holder)
    prefix = stack_id(ctx.stack.root) + "/"
    if holder.tag is None or not holder.tag.startswith(prefix):
        return ctx.finding(Severity.ERROR, "port", f"port {port} is held by {who}",
                           f"kill {holder.pid} (or stop it, or {change})")
    owner = holder.tag[len(prefix):]
    if holder.supervisor is None:
        return ctx.finding(Severity.ERROR, "port", f"port {port} is held by {who}, a leftover of this "
                           f"stack's previous run ({owner})", "devstack down")
    if owner != name:
        return ctx.finding(Severity.ERROR, "port", f"port {port} is held by {who}, this stack's running "
                           f"service {owner}", f"give {name} and {owner} different ports in stack.toml")
    if holder.supervisor != os.getpid():
        return ctx.finding(Severity.INFO, "port", f"port {port} is in use by {name} itself, running under "
                           f"this stack's supervisor (pid {holder.supervisor})")
    # We are that supervisor, about to start the service again: an earlier process of it lingers.
    return ctx.finding(Severity.ERROR, "port", f"port {port} is still held by {who}, an earlier process "
                       f"of {name}", f"kill {holder.pid}")
