"""The benchmark: devstack side by side with honcho, supervisord and concurrently, one table.

    .venv/bin/python bench/run.py                 # every workload, 3 repetitions (~15 min)
    .venv/bin/python bench/run.py --only W1,W5    # some workloads
    .venv/bin/python bench/run.py --quick         # a smoke run: smaller loads, 1 repetition

Prints one markdown table (median [min–max], ratio to the floor measured in the same run) and
writes it with the machine description to bench/last-run.md. bench/RESULTS.md is the reviewed
copy: figures, targets, and for each miss what limits it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, Bench, machine, table

WORKLOADS = ["w1_relay", "w2_idle", "w3_restart", "w4_scale", "w5_control", "w6_ready", "w7_demo",
             "w8_dashboard"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3; 1 with --quick)")
    parser.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W5")
    parser.add_argument("--quick", action="store_true", help="smaller loads, for a smoke run")
    args = parser.parse_args()
    reps = args.reps or (1 if args.quick else 3)
    only = {w.strip().upper() for w in args.only.split(",") if w.strip()}
    failed = []
    with tempfile.TemporaryDirectory(prefix="devstack-bench-") as scratch:
        bench = Bench(reps, args.quick, Path(scratch))
        bench.peers.install()
        for module_name in WORKLOADS:
            if only and module_name.split("_")[0].upper() not in only:
                continue
            module = importlib.import_module(module_name)
            print(f"== {module.WORKLOAD} {module.TITLE}", file=sys.stderr, flush=True)
            started = time.monotonic()
            try:
                module.run(bench)
            except Exception:  # one broken workload must not hide the others' figures
                traceback.print_exc()
                failed.append(module.WORKLOAD)
            print(f"   {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    head = (f"machine: {json.dumps(machine())}\npeers: {json.dumps(bench.peers.versions())}\n"
            f"repetitions: {reps}{' (quick)' if args.quick else ''}\n")
    text = head + "\n" + table(bench) + "\n" + "".join(f"\n- {n}" for n in bench.notes) + "\n"
    print(text)
    (BENCH / "last-run.md").write_text(text)
    if failed:
        print(f"workloads that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
