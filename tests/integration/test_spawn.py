"""The spawn seam's views of real processes: the process tree under a child, and the processes
carrying a stack's tag."""

from __future__ import annotations


def test_tree_walk_finds_the_same_processes_as_psutil() -> None:
    """spawn.tree() walks /proc/PID/task/TID/children; it must agree with psutil's full scan,
    grandchildren and children of a background subshell included."""
    import subprocess
    import time

    import psutil

    from devstack.process.tree import tree

    proc = subprocess.Popen(["sh", "-c", "sleep 60 & (sleep 61 & sleep 62; wait) & wait"])
    try:
        deadline = time.monotonic() + 5
        while len(psutil.Process(proc.pid).children(recursive=True)) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        expected = {proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))}
        assert len(expected) == 5
        assert {p.pid for p in tree(proc.pid)} == expected
    finally:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
        proc.wait()


def test_tagged_processes_finds_exactly_the_tagged_ones() -> None:
    """The escaper sweep reads /proc/*/environ raw: a process tagged with the prefix is found,
    one with another stack's tag or a tag that merely contains the prefix is not."""
    import os
    import subprocess
    import time
    import uuid

    from devstack.process.tree import TAG_VAR, tagged_processes

    stack = uuid.uuid4().hex[:12]
    env = dict(os.environ)
    procs = [subprocess.Popen(["sleep", "60"], env={**env, TAG_VAR: tag})
             for tag in (f"{stack}/api", f"other{stack}/api", f"x{stack}/web")]
    try:
        deadline = time.monotonic() + 5
        found: list[int] = []
        while time.monotonic() < deadline:
            found = [p.pid for p in tagged_processes(f"{stack}/")]
            if found:
                break
        assert found == [procs[0].pid]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()

