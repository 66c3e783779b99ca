"""Containment faults (SPEC "Containment"), against the real CLI with the supervisor as child
subreaper: a service that daemonizes at every start and crashes, hundreds of times over.

Ground truth never comes from devstack's status: starts and each daemon's new parent come from
the helper's own log (tests/fault/helpers/daemonize.py), fds from /proc/<supervisor>/fd, zombies
from /proc/*/stat, survivors from the test's tag in /proc/*/environ (passed on even through
`env -i`, where devstack's own tag is gone).

    python -m pytest tests/fault/test_containment.py -q -s            # CI variant: 200 restarts
    python -m pytest tests/fault/test_containment.py -q -s --soak     # 2,000
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fault.test_processes import Sampler, safe, supervisors, tagged, zombie_children
from tests.support.ground_truth import supervisor_pid
from tests.support.harness import PY, Stack, q
from tests.support.waiting import wait_until

DAEMONIZE = Path(__file__).parent / "helpers" / "daemonize.py"

Figure = Callable[..., None]


def lines(log: Path, kind: str) -> list[list[str]]:
    if not log.exists():
        return []
    return [line.split() for line in log.read_text().splitlines() if line.startswith(kind + " ")]


@pytest.mark.timeout(900)
def test_a_service_that_daemonizes_then_crashes_leaks_nothing(stack: Stack, soak: bool,
                                                              figure: Figure) -> None:
    """Each start leaves a daemon (setsid + env -i, double fork, `&`, in turn) and exits 1 after
    50 ms; restart "always", backoff 10 ms doubling to 50 ms. Every daemon is adopted by the
    supervisor (its new parent, by its own account), named, stopped before the next start and
    reaped: the supervisor's fds stay flat, no zombie stays, nothing survives `stop`."""
    target = 2000 if soak else 200
    log = stack.root.parent / "daemons.log"
    stack.toml(f"""
[services.d]
command = {q(f"{PY} -S {safe(DAEMONIZE)} --log {safe(log)} --after 0.05 --code 1")}
restart = "always"
backoff = "10ms"
backoff_max = "50ms"
max_restarts = 1000000
stop_timeout = "2s"
""")
    stack.run("up", "-d", "--timeout", "100ms")  # it never settles: don't wait for it
    sup = supervisor_pid(stack)
    t0 = time.monotonic()
    with Sampler(sup) as sampler:
        wait_until(lambda: len(lines(log, "start")) >= target, target * 2.0, f"{target} starts", interval=0.1)
    elapsed = time.monotonic() - t0
    # Between two starts (backoff), the reason names what the last one left.
    error = stack.wait_state("d", "backoff", timeout=10)["health"]["error"] or ""
    stop = stack.run("stop", "d")
    assert stop.code == 0, stop
    left = [p for p in tagged(stack.tag) if p.pid not in {s.pid for s in supervisors(stack.tag)}]
    time.sleep(0.2)  # the last exits' SIGCHLDs
    zombies_after = zombie_children(sup)
    daemons = lines(log, "daemon")
    adopted = sum(int(d[2]) == sup for d in daemons)
    starts = len(lines(log, "start"))

    samples = sampler.samples
    warm = [s for s in samples if s.t <= samples[0].t + 3.0]
    last = [s for s in samples if s.t >= samples[-1].t - 3.0]
    fd_delta = min(s.fds for s in last) - min(s.fds for s in warm)
    figure("starts", starts, "starts", target)
    figure("restart_rate", round(starts / elapsed, 1), "starts/s", None)
    figure("daemons_adopted_by_the_supervisor", f"{adopted} of {len(daemons)}", "daemons", "all")
    figure("fd_delta", fd_delta, "fds", "0±2")
    figure("zombies_end_of_run", min(s.zombies for s in last), "processes", 0)
    figure("zombies_seen_max", max(s.zombies for s in samples), "processes", None)
    figure("zombies_after_stop", zombies_after, "processes", 0)
    figure("thread_delta", min(s.threads for s in last) - min(s.threads for s in warm), "threads", None)
    figure("survivors_after_stop", len(left), "processes", 0)
    assert daemons and adopted == len(daemons), f"daemons not adopted by {sup}: {daemons[:5]}"
    assert abs(fd_delta) <= 2, f"fd count grew by {fd_delta}"
    assert min(s.zombies for s in last) == 0 and zombies_after == 0, "zombie children of the supervisor"
    assert not left, f"alive after `stop`: {left}"
    assert "but left pid" in error and "devstack stopped it" in error, error
