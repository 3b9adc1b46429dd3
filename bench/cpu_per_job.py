"""Where each job's CPU goes (issue 7: what limits throughput), engine beside raw RQ.

Why: on a 2-core machine the submitter, the workers, the database and Redis share the CPU, so
throughput follows the total CPU one job costs across all of them. For each side, 2 workers
(non-forking, or forking with `--forking`) are started and registered first; then the clock and the
CPU meters (user + system time from /proc; a worker's includes its finished work horses) run while
N no-op jobs are submitted one by one and drained, as in throughput.py's concurrent mode: raw RQ
`Queue.enqueue` and `rq worker`, then `submit_job` + commit and `dartwing-jobs worker`, on MariaDB
and the run's own redis-server.

mariadbd is this machine's shared server: all of its CPU during the phase is counted, so run this on
an otherwise idle machine.

    python bench/cpu_per_job.py [--jobs 3000] [--quick] [--forking]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    RAW_QUEUE,
    count_jobs,
    engine_queue,
    engine_stores,
    enqueue_raw,
    environment,
    print_environment,
    print_table,
    rq_jobs_done,
    start_engine_workers,
    start_rq_workers,
    stop_processes,
    submit_noops,
    wait_engine_completed,
    wait_raw_drained,
    wait_workers_ready,
    worker_class_label,
    write_result,
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far, with its children that it has waited for (a forking
    worker's work horses); 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def pids_named(name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


class Meter:
    """CPU of named process groups between `start()` and `stop()`, in ms per job."""

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups

    def start(self) -> None:
        self.before = {name: sum(map(cpu_seconds, pids)) for name, pids in self.groups.items()}

    def stop(self, jobs: int) -> dict[str, float]:
        return {
            name: (sum(map(cpu_seconds, pids)) - self.before[name]) / jobs * 1000
            for name, pids in self.groups.items()
        }


def measure(rt, jobs: int, redis_pid: int, mariadb: list[int], forking: bool) -> dict[str, dict[str, float]]:
    """{side: {process kind: CPU ms per job, "jobs/s": rate}} for raw RQ and the engine."""
    result = {}
    for side in ("raw RQ", "engine"):
        workers = (start_rq_workers if side == "raw RQ" else start_engine_workers)(rt, 2, forking=forking)
        try:
            wait_workers_ready(rt, RAW_QUEUE if side == "raw RQ" else engine_queue(), workers)
            groups = {"submitter": [os.getpid()], "workers": [p.pid for p in workers]}
            meter = Meter({**groups, "mariadbd": mariadb, "redis-server": [redis_pid]})
            expected = count_jobs(rt) + jobs
            baseline = rq_jobs_done(rt)
            meter.start()
            started = time.perf_counter()
            if side == "raw RQ":
                enqueue_raw(rt, jobs)
                wait_raw_drained(rt, jobs, 600, workers, baseline=baseline)
            else:
                submit_noops(rt, jobs)
                wait_engine_completed(rt, expected, 600, workers)
            seconds = time.perf_counter() - started
            result[side] = {**meter.stop(jobs), "jobs/s": jobs / seconds}
        finally:
            stop_processes(workers)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="N=300 (a smoke run)")
    parser.add_argument("--forking", action="store_true", help="forking workers (work horses counted)")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs = 300
    mariadb = pids_named("mariadbd") or pids_named("mysqld")
    with engine_stores("mariadb", "cpu") as rt:
        redis_pid = int(rt.redis.info("server")["process_id"])
        env = environment(
            workers=2,
            worker_class=worker_class_label(args.forking),
            database=rt.config.db_url,
            redis_url=rt.redis_url,
        )
        measured = measure(rt, args.jobs, redis_pid, mariadb, args.forking)
    kinds = ["submitter", "workers", "mariadbd", "redis-server"]
    rows = [
        [side, *(values[kind] for kind in kinds), sum(values[kind] for kind in kinds), values["jobs/s"]]
        for side, values in measured.items()
    ]
    print_table(
        f"CPU per job (ms) while {args.jobs:,} no-op jobs are submitted and drained (MariaDB, 2 workers)",
        ["side", *kinds, "all", "jobs/s"],
        rows,
    )
    print_environment(env)
    write_result("cpu_per_job", {"jobs": args.jobs, "environment": env, "measured": measured})
    return 0


if __name__ == "__main__":
    sys.exit(main())
