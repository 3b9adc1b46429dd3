"""How late delayed jobs start: lateness = started_at - run_at, on a free worker.

Submits N `noop` jobs in one bulk submit with delays spread uniformly over [1, max] seconds, with one
`dartwing-jobs worker` and one `dartwing-jobs scheduler` (whose thread is the delay releaser,
background_jobs/delays.py) running, and reports p50 / p99 / max lateness per store. The target is a
p99 under 2 s. Beside it, the same delays through raw RQ (`enqueue_in`, a worker started with
`--with-scheduler`, whose scheduler polls every second) for reference. Runs on the benchmark's own
redis-server and, for MariaDB, a database of its own (dropped at the end).

    python bench/delay_precision.py [--jobs 200] [--max-delay 20] [--backends sqlite,mariadb] [--quick]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from common import (
    BENCH_DIR,
    CLI,
    available_backends,
    child_env,
    engine_queue,
    engine_stores,
    environment,
    percentiles,
    print_table,
    start_engine_workers,
    stop_processes,
    wait_until,
    wait_workers_ready,
    write_result,
)

from dartwing.dartwing_core.background_jobs import schema, submit_jobs
from dartwing.dartwing_core.background_jobs.settings import settings
from dartwing.dartwing_core.standalone.seed import DEMO_ORGANIZATION

RAW_DELAY_QUEUE = "bench-delayed"
TARGET_P99_SECONDS = 2.0


def _delays(count: int, max_delay: float, seed: int = 15) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(1, max_delay) for _ in range(count)]


def _engine_lateness(rt, delays: list[float]) -> list[float]:
    processes = start_engine_workers(rt, 1, forking=False)
    processes.append(subprocess.Popen([*CLI, "scheduler"], env=child_env(rt), stderr=subprocess.DEVNULL))
    try:
        wait_workers_ready(rt, engine_queue(), processes[:1])
        jobs = submit_jobs([
            {"job_type": "noop", "organization": DEMO_ORGANIZATION, "parameters": {"i": i}, "delay": delay}
            for i, delay in enumerate(delays)
        ])
        rt.commit()
        names = [job.name for job in jobs]
        bj = schema.background_job
        query = sa.select(bj.c.run_at, bj.c.started_at).where(bj.c.name.in_(names), bj.c.status == "Completed")

        def done():
            rows = rt.execute(query).rows
            rt.rollback()
            return rows if len(rows) == len(names) else None

        rows = wait_until(done, max(delays) + 120, "every delayed job to complete", 0.5)
    finally:
        stop_processes(processes)
    return [(row["started_at"] - row["run_at"]).total_seconds() for row in rows]


def _rq_lateness(rt, delays: list[float]) -> list[float]:
    from rq import Queue

    worker = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--url", rt.redis_url, "--with-scheduler", "--quiet",
         "--worker-class", "rq.worker.SimpleWorker", "--path", str(BENCH_DIR), RAW_DELAY_QUEUE],
        env=child_env(rt),
    )
    try:
        queue = Queue(RAW_DELAY_QUEUE, connection=rt.redis)
        now = datetime.now(timezone.utc)
        jobs = [(queue.enqueue_at(now + timedelta(seconds=delay), "noop_task.noop"), now + timedelta(seconds=delay))
                for delay in delays]

        def done():
            for job, _ in jobs:
                job.refresh()
            return all(job.get_status(refresh=False) == "finished" for job, _ in jobs)

        wait_until(done, max(delays) + 120, "every RQ job to finish", 0.5)
    finally:
        stop_processes([worker])
    return [(job.started_at.replace(tzinfo=timezone.utc) - due).total_seconds() for job, due in jobs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--max-delay", type=float, default=20.0)
    parser.add_argument("--backends", default="sqlite,mariadb")
    parser.add_argument("--no-rq", action="store_true", help="leave out raw RQ's enqueue_at")
    parser.add_argument("--quick", action="store_true", help="40 jobs over 1-5 s")
    args = parser.parse_args(argv)
    count, max_delay = (40, 5.0) if args.quick else (args.jobs, args.max_delay)
    delays = _delays(count, max_delay)
    rows, results, env = [], {}, None
    for backend in available_backends(args.backends.split(",")):
        with engine_stores(backend, "delays") as rt:
            env = environment(workers=1, worker_class="rq.SimpleWorker (non-forking)", redis_url=rt.redis_url,
                              jobs=count, delays=f"uniform 1-{max_delay:g} s",
                              releaser_poll_seconds=settings().delay_poll_seconds)
            lateness = _engine_lateness(rt, delays)
            stats = percentiles(lateness)
            results[backend] = {**stats, "early": sum(value < 0 for value in lateness)}
            rows.append([f"dartwing standalone, {backend}", *_cells(stats), results[backend]["early"]])
            if not args.no_rq and backend == "sqlite":
                rq_stats = percentiles(_rq_lateness(rt, delays))
                results["rq enqueue_at"] = rq_stats
                rows.append(["raw RQ enqueue_at (--with-scheduler)", *_cells(rq_stats), "-"])
    if not rows:
        print("  no backend available")
        return 1
    print_table(
        f"Delayed-job lateness (started_at - run_at), seconds; target p99 < {TARGET_P99_SECONDS:g} s",
        ["runtime", "p50", "p99", "max", "p99 / target", "started early"],
        rows,
        env,
    )
    write_result("delay_precision", {"environment": env, "results": results})
    return 0 if all(r["p99"] < TARGET_P99_SECONDS for k, r in results.items() if k != "rq enqueue_at") else 1


def _cells(stats: dict[str, float]) -> list[float]:
    return [stats["p50"], stats["p99"], stats["max"], stats["p99"] / TARGET_P99_SECONDS]


if __name__ == "__main__":
    sys.exit(main())
