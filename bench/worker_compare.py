"""The engine's non-forking worker at this checkout against another checkout's, in alternated runs.

Why: on 2 shared cores a throughput ratio moves by a third from one round to the next, so a change
to the worker is hard to see in `throughput.py`. This takes the worker alone: one worker, in its
own process, drains N prefilled `noop` jobs on MariaDB (the run's own database and redis-server per
run), and reports per job its wall time, its own CPU (user + system) and mariadbd's CPU over the
drain. The two checkouts alternate (A B, B A, ...), each run a fresh process whose PYTHONPATH puts
that checkout first, so drift hits both alike.

    git worktree add --detach /tmp/base <rev>
    python bench/worker_compare.py --base /tmp/base [--jobs 1500] [--rounds 4]

mariadbd is this machine's shared server: all of its CPU during the drain is counted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import MARIADB_SERVER_URL, environment, print_table, write_result  # noqa: E402

CHECKOUT = Path(__file__).resolve().parent.parent

# One drain, run in a fresh process with the checkout under test first on PYTHONPATH.
DRAIN = r"""
import json, os, subprocess, sys, time
sys.path.insert(0, sys.argv[2])
from common import engine_stores, submit_noops
from dartwing.dartwing_core.standalone.worker import run_worker

def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")

mariadbd = int(subprocess.run(["pgrep", "-x", "mariadbd"], capture_output=True, text=True).stdout.split()[0])
jobs = int(sys.argv[1])
with engine_stores("mariadb", "worker_compare") as rt:
    submit_noops(rt, jobs)
    before, server, started = os.times(), cpu_seconds(mariadbd), time.monotonic()
    run_worker(rt, forking=False, burst=True, logging_level="WARNING")
    wall, after = time.monotonic() - started, os.times()
    server = cpu_seconds(mariadbd) - server
mine = (after.user - before.user) + (after.system - before.system)
print(json.dumps({"wall_ms": wall / jobs * 1e3, "worker_cpu_ms": mine / jobs * 1e3, "mariadbd_cpu_ms": server / jobs * 1e3}))
"""
MEASURES = ("wall_ms", "worker_cpu_ms", "mariadbd_cpu_ms")


def drain(checkout: Path, jobs: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = subprocess.run(
        [sys.executable, "-c", DRAIN, str(jobs), str(Path(__file__).resolve().parent)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        raise RuntimeError(f"drain at {checkout} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, type=Path, help="the other checkout (a git worktree)")
    parser.add_argument("--jobs", type=int, default=1500, help="jobs per drain (default 1,500)")
    parser.add_argument("--rounds", type=int, default=4, help="drains per side, alternated (default 4)")
    args = parser.parse_args(argv)
    sides = {"this checkout": CHECKOUT, f"base ({args.base})": args.base.resolve()}
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    load_before = os.getloadavg()
    for index in range(args.rounds):
        order = list(sides) if index % 2 == 0 else list(reversed(sides))
        for side in order:
            runs[side].append(drain(sides[side], args.jobs))
            print(f"  round {index + 1}/{args.rounds}, {side}: {runs[side][-1]}", flush=True)
    rows = [
        [
            side,
            *(
                f"{statistics.median(r[m] for r in runs[side]):.2f} ({min(r[m] for r in runs[side]):.2f}–"
                f"{max(r[m] for r in runs[side]):.2f})"
                for m in MEASURES
            ),
        ]
        for side in sides
    ]
    this, base = (runs[side] for side in sides)
    rows.append(
        [
            "this / base (median of rounds)",
            *(
                f"{statistics.median(a[m] / b[m] for a, b in zip(this, base, strict=True)):.2f}"
                for m in MEASURES
            ),
        ]
    )
    env = environment(
        workers=1,
        worker_class="rq.SimpleWorker (non-forking), in its own process",
        database=MARIADB_SERVER_URL,
        **{"load average before": " ".join(f"{x:.2f}" for x in load_before), "jobs per drain": args.jobs},
    )
    print_table(
        f"One worker draining {args.jobs:,} prefilled noop jobs, per job, median (min–max) of "
        f"{args.rounds} alternated rounds",
        ["side", "wall ms", "worker CPU ms", "mariadbd CPU ms"],
        rows,
        env,
    )
    write_result("worker_compare", {"runs": runs, "environment": env})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
