"""Worker memory (issue 7, item 4): peak RSS of a worker after 100 jobs vs after 10,000.

Why: a worker lives for days; anything the engine keeps per job (handler cache, SQLAlchemy caches,
threads, log handlers, event payloads) would show up as RSS growing with the number of jobs run.

On each database backend and redis-server started for the run, one `dartwing-jobs worker`
(non-forking by default, so the jobs run in the measured process) and, as the peer, one plain
`rq worker` of the same class running `noop_task.noop`. Jobs are fed in chunks; at each checkpoint
(100, N/10, N jobs done, and the worker idle) the worker's VmRSS and VmHWM (peak RSS) are read from
/proc/<pid>/status. With forking workers the measured process is the long-lived parent (each job
runs in a fresh work horse). Growth = peak RSS after N minus peak RSS after 100; the verdict allows
max(2 MiB, 5 %) of noise.

    python bench/worker_memory.py                 # N=10,000, sqlite+mariadb, non-forking
    python bench/worker_memory.py --quick         # N=500
    python bench/worker_memory.py --classes non-forking,forking --backends mariadb
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    BACKENDS,
    RAW_QUEUE,
    available_backends,
    count_jobs,
    engine_queue,
    engine_stores,
    enqueue_raw,
    environment,
    print_table,
    rq_jobs_done,
    rss_mib,
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

CLASSES = {"non-forking": False, "forking": True}
NOISE_MIB, NOISE_FRACTION = 2.0, 0.05


def checkpoints(jobs: int) -> list[int]:
    return sorted({min(100, jobs), max(min(100, jobs), jobs // 10), jobs})


def _profile(
    feed: Callable[[int, int], None], wait: Callable[[int], None], pid: int, points: list[int]
) -> list[dict[str, float]]:
    """Feed jobs up to each checkpoint, wait until they are done, read the worker's memory."""
    done, samples = 0, []
    for point in points:
        feed(done, point - done)
        wait(point)
        done = point
        rss, peak = rss_mib(pid)
        samples.append({"jobs": point, "rss_mib": rss, "peak_rss_mib": peak})
    return samples


def measure_engine(rt: Any, points: list[int], forking: bool) -> list[dict[str, float]]:
    processes = start_engine_workers(rt, 1, forking=forking)
    try:
        wait_workers_ready(rt, engine_queue(), processes)
        baseline = count_jobs(rt)

        def feed(start: int, count: int) -> None:
            submit_noops(rt, count, start=start)

        def wait(total: int) -> None:
            wait_engine_completed(rt, baseline + total, 300 + total * 0.2, processes)

        return _profile(feed, wait, processes[0].pid, points)
    finally:
        stop_processes(processes)


def measure_raw(rt: Any, points: list[int], forking: bool) -> list[dict[str, float]]:
    processes = start_rq_workers(rt, 1, forking=forking)
    try:
        wait_workers_ready(rt, RAW_QUEUE, processes)
        baseline = rq_jobs_done(rt)

        def wait(total: int) -> None:
            wait_raw_drained(rt, total, 300 + total * 0.2, processes, baseline=baseline)

        return _profile(lambda _start, count: enqueue_raw(rt, count), wait, processes[0].pid, points)
    finally:
        stop_processes(processes)


def growth(samples: list[dict[str, float]]) -> tuple[float, bool]:
    """(peak RSS growth first → last checkpoint in MiB, within noise?)."""
    first, last = samples[0]["peak_rss_mib"], samples[-1]["peak_rss_mib"]
    grown = last - first
    return grown, grown <= max(NOISE_MIB, NOISE_FRACTION * first)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per worker (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="N=500")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,mariadb")
    parser.add_argument("--classes", default="non-forking", help="non-forking and/or forking")
    args = parser.parse_args(argv)
    jobs = 500 if args.quick else args.jobs
    points = checkpoints(jobs)

    results, rows, ok = [], [], True
    for backend in available_backends(args.backends.split(",")):
        for class_name in args.classes.split(","):
            forking = CLASSES[class_name]
            with engine_stores(backend, "memory") as rt:
                env = environment(
                    workers=1, worker_class=worker_class_label(forking), database=rt.config.db_url, jobs=jobs
                )
                measured = {
                    "raw RQ": measure_raw(rt, points, forking),
                    "engine": measure_engine(rt, points, forking),
                }
            for side, samples in measured.items():
                grown, within = growth(samples)
                ok = ok and (within or side != "engine")
                rows.append(
                    [backend, class_name, side]
                    + [f"{s['rss_mib']:.1f} / {s['peak_rss_mib']:.1f}" for s in samples]
                    + [round(grown, 2), "yes" if within else "NO"]
                )
            results.append({"backend": backend, "worker_class": class_name, "environment": env, **measured})
            print_table(
                f"Worker memory, {backend}, {class_name}: RSS / peak RSS (MiB) after each number of jobs",
                [
                    "backend",
                    "workers",
                    "side",
                    *(f"after {p:,}" for p in points),
                    "peak growth MiB",
                    "in noise",
                ],
                rows[-2:],
                env,
            )
    if len(results) > 1:
        print_table(
            "Worker memory, all combinations (RSS / peak RSS MiB)",
            ["backend", "workers", "side", *(f"after {p:,}" for p in points), "peak growth MiB", "in noise"],
            rows,
        )
    print(f"  noise allowance: max({NOISE_MIB} MiB, {NOISE_FRACTION:.0%} of the peak after {points[0]} jobs)")
    write_result("worker_memory", {"jobs": jobs, "checkpoints": points, "results": results})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
