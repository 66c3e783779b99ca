"""Log promises: no line lost, split or merged; long lines; partial last lines; bad UTF-8; `logs`."""

from __future__ import annotations

import re

from tests.support.harness import PY, Stack, q
from tests.support.waiting import wait_until

FLOOD = r'''
import sys, time
out = sys.stdout.buffer
n = int(sys.argv[1])
for start in range(0, n, 1000):
    out.write(b"".join(b"line %07d %s\n" % (i, b"x" * 80) for i in range(start, min(n, start + 1000))))
out.flush()
print("flood done", flush=True)
time.sleep(600)
'''


def _records(stack: Stack, name: str) -> list[str]:
    """Every record's text in the service's log files, oldest rotated file first."""
    logs = stack.root / ".devstack" / "logs"
    files = [logs / f"{name}.log.{i}" for i in (3, 2, 1)] + [logs / f"{name}.log"]
    text = "".join(f.read_text(errors="replace") for f in files if f.exists())
    return [line.split(" ", 2)[2] for line in text.splitlines() if line.count(" ") >= 2]


def test_flood_of_200k_lines_is_kept_whole_and_in_order(stack: Stack) -> None:
    stack.write("flood.py", FLOOD)
    stack.toml(f"""
[services.flood]
command = {q(f"{PY} flood.py 200000")}

[services.other]
command = {q(f"{PY} flood.py 20000")}
""")
    assert stack.run("up", "-d").code == 0
    wait_until(lambda: "flood done" in stack.log_text("flood"), 60, "the flood to finish")
    lines = [r for r in _records(stack, "flood") if r.startswith("line ")]
    assert len(lines) == 200000
    assert lines == [f"line {i:07d} {'x' * 80}" for i in range(200000)]
    assert (stack.root / ".devstack" / "logs" / "flood.log.1").exists()  # 25 MB: rotated at 10 MB
    assert len(stack.run("logs", "flood", "-n", "250000").out.splitlines()) == 200001
    # every record carries an ISO timestamp and its stream
    first = (stack.root / ".devstack" / "logs" / "flood.log.2").read_text().splitlines()[0]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z stdout line 0000000 ", first), first


ODD = r'''
import sys, time
out = sys.stdout.buffer
out.write(b"A" * 200000 + b"\n")          # far longer than asyncio's 64 KiB line limit
out.write(b"bad bytes: \xff\xfe end\n")   # not UTF-8
out.flush()
sys.stderr.write("to stderr\n"); sys.stderr.flush()
out.write(b"no newline at exit")
out.flush()
'''


def test_long_lines_bad_utf8_and_a_last_line_without_newline(stack: Stack) -> None:
    stack.write("odd.py", ODD)
    stack.toml(f"""
[services.odd]
command = {q(f"{PY} odd.py")}
restart = "no"
""")
    stack.run("up", "-d")
    wait_until(lambda: "no newline at exit" in stack.log_text("odd"), 20, "the last line")
    records = stack.log_text("odd").splitlines()
    streams = {line.split(" ", 2)[2][:12]: line.split(" ", 2)[1] for line in records}
    assert streams["A" * 12] == "stdout" and streams["to stderr"] == "stderr"
    assert [r for r in _records(stack, "odd") if r.startswith("A")] == ["A" * 200000]
    assert "bad bytes: \ufffd\ufffd end" in _records(stack, "odd")
    assert "no newline at exit" in _records(stack, "odd")
    svc = stack.service("odd")
    assert svc["state"] == "exited" and svc["exit_code"] == 0


TALKER = r'''
import time
for i in range(1, 31):
    print(f"talker line {i:02d}", flush=True)
time.sleep(600)
'''


def test_logs_command_tail_unknown_name_and_after_down(stack: Stack) -> None:
    stack.write("talker.py", TALKER)
    stack.toml(f"""
[services.talker]
command = {q(f"{PY} talker.py")}

[services.quiet]
command = {q([PY, "-c", "import time; print('quiet here', flush=True); time.sleep(600)"])}
""")
    assert stack.run("up", "-d").code == 0
    wait_until(lambda: "talker line 30" in stack.log_text("talker"), 20, "talker's lines")
    r = stack.run("logs", "talker", "-n", "3")
    assert r.code == 0
    assert r.out.splitlines() == ["talker | talker line 28", "talker | talker line 29",
                                  "talker | talker line 30"]
    both = stack.run("logs", "-n", "1000")
    assert "quiet  | quiet here" in both.out and "talker | talker line 01" in both.out
    bad = stack.run("logs", "talkr")
    assert bad.code == 2
    assert bad.err.strip() == ("Error: No service named 'talkr'; did you mean 'talker'? "
                               "Known services: talker, quiet.")
    assert stack.run("down").code == 0
    after = stack.run("logs", "talker", "-n", "1", "--timestamps")
    assert after.code == 0
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d talker \| talker line 30$",
                    after.out.strip()), after.out
