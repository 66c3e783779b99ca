"""A `devstack ui` started by a test: its one stdout line read back (url, port, token), plain HTTP
requests with any Host, Origin or token (http.client: nothing added behind the test's back), and
Server-Sent Events read off the wire with deadlines."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.harness import PY, Stack

LINE = re.compile(r"^dashboard: http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)$")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-cased names; repeated headers joined by ", "
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Event:
    id: str
    kind: str
    data: Any


class Dashboard:
    def __init__(self, devstack: list[str], root: Path, env: dict[str, str], *args: str) -> None:
        """`devstack ui --no-browser ARGS` in `root`, run by the `devstack` command given (an
        installed one, or this checkout's: `for_stack`)."""
        self.err_path = root.parent / f"{root.name}-ui.err"
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen([*devstack, "ui", "--no-browser", *args], cwd=root,
                                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=err, start_new_session=True)
        assert self.proc.stdout is not None
        self.line = self.proc.stdout.readline().decode()
        match = LINE.match(self.line.rstrip("\n"))
        assert match, f"not the dashboard line: {self.line!r}; stderr: {self.stderr()}"
        self.port, self.token = int(match[1]), match[2]
        self.url = self.line.split(" ", 1)[1].strip()
        self.host = f"127.0.0.1:{self.port}"

    @classmethod
    def for_stack(cls, stack: Stack, *args: str) -> Dashboard:
        return cls([PY, "-m", "devstack"], stack.root, stack.env(), *args)

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""

    def request(self, method: str, path: str, *, token: bool = True, host: str | None = None,
                headers: dict[str, str] | None = None, timeout: float = 60) -> Reply:
        sent = {"Host": host or self.host, **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {self.token}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, headers=sent)
            resp = conn.getresponse()
            found: dict[str, str] = {}
            for name, value in resp.getheaders():
                key = name.lower()
                found[key] = f"{found[key]}, {value}" if key in found else value
            body = b"" if resp.status == 200 and path.endswith("/events") else resp.read()
            return Reply(resp.status, found, body)
        finally:
            conn.close()

    def events(self, until: Any, timeout: float = 10.0, last_id: str | None = None,
               headers: dict[str, str] | None = None) -> list[Event]:
        """Read the event stream until `until(events)` holds (AssertionError after `timeout`)."""
        sent = {"Host": self.host, "Authorization": f"Bearer {self.token}", **(headers or {})}
        if last_id:
            sent["Last-Event-ID"] = last_id
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        events: list[Event] = []
        deadline = time.monotonic() + timeout
        try:
            conn.request("GET", "/api/v1/events", headers=sent)
            resp = conn.getresponse()
            assert resp.status == 200, resp.read()
            fields: dict[str, str] = {}
            while not until(events):
                if time.monotonic() > deadline:
                    raise AssertionError(f"events: condition not met after {timeout} s: "
                                         f"{[(e.kind, e.data) for e in events][-5:]}")
                raw = resp.readline()
                if not raw:
                    raise AssertionError("the event stream ended")
                line = raw.decode().rstrip("\n")
                if line.startswith(":"):
                    continue
                if line:
                    key, _, value = line.partition(": ")
                    fields[key] = value
                    continue
                if "event" in fields:
                    events.append(Event(fields.get("id", ""), fields["event"], json.loads(fields["data"])))
                fields = {}
            return events
        finally:
            conn.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode
