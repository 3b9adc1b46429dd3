"""Throughput of the engine beside raw RQ (issue 7, item 1): N no-op jobs submitted and drained.

Why: the engine adds a database row, a compare-and-set claim, an execution log row per transition
and events to every job; this shows what that costs against RQ alone, on the same machine.

For each database backend (SQLite file, MariaDB) and worker class (rq.SimpleWorker = non-forking,
rq.Worker = forking), on one redis-server started for the run:

- raw RQ: 2 `rq worker` processes of that class on queue `bench-raw`; the bench enqueues N calls of
  the module-level `noop_task.noop` with `Queue.enqueue` one at a time (no pipeline; result_ttl=0 like
  the engine), and the clock stops when the workers' finished-job counters reach N;
- engine: 2 `dartwing-jobs worker` processes of that class; the bench submits N `noop` jobs with
  `submit_job` and commits after each one, as a caller would (the commit queues the job and sends
  its RQ message, one at a time like the raw side), and the clock stops when N rows are Completed.
  `--batch-commit K` also measures a labelled variant committing every K submits.

Workers are started and registered before the clock starts, and keep draining while the bench
submits. Printed per combination: submit rate and end-to-end rate (jobs/s) for both sides and the
ratio engine/raw (target issue 7: >= 0.5 with non-forking workers on MariaDB).

    python bench/throughput.py                        # N=10,000, sqlite+mariadb, non-forking+forking
    python bench/throughput.py --quick                # N=500, concurrent mode only
    python bench/throughput.py --backends mariadb --classes non-forking --jobs 10000 --batch-commit 100

Profile the engine side with py-spy, which follows the worker subprocesses:
    py-spy record --subprocesses --rate 200 --format raw -o bench/results/throughput.pyspy.txt -- \\
        python bench/throughput.py --backends mariadb --classes non-forking --sides engine
"""

from __future__ import annotations

import argparse
import sys
import time
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
    print_environment,
    print_table,
    ratio,
    rq_jobs_done,
    start_engine_workers,
    start_rq_workers,
    stop_processes,
    submit_noops,
    wait_drain_started,
    wait_engine_completed,
    wait_raw_drained,
    wait_workers_ready,
    worker_class_label,
    write_result,
)

CLASSES = {"non-forking": False, "forking": True}
SIDES = ("raw", "engine")
MODES = ("concurrent", "prefilled")
ENGINE = "engine, commit per submit"


def _timeout(jobs: int) -> float:
    return 300 + jobs * 0.2  # generous: forking workers on a busy 2-core machine


def run_raw(rt: Any, jobs: int, workers: int, forking: bool, prefilled: bool) -> dict[str, float]:
    """Concurrent: workers wait, then the clock runs over enqueue + drain. Prefilled: enqueue with no
    worker running, start the workers, clock from their first dequeue to the last job finished."""
    processes = [] if prefilled else start_rq_workers(rt, workers, forking=forking)
    try:
        if processes:
            wait_workers_ready(rt, RAW_QUEUE, processes)
        baseline = rq_jobs_done(rt)
        started = time.perf_counter()
        submit_seconds = enqueue_raw(rt, jobs)
        if prefilled:
            processes = start_rq_workers(rt, workers, forking=forking)
            started = wait_drain_started(rt, RAW_QUEUE, jobs, processes)
        wait_raw_drained(rt, jobs, _timeout(jobs), processes, baseline=baseline)
        total = time.perf_counter() - started
    finally:
        stop_processes(processes)
    return _rates(jobs, submit_seconds, total)


def run_engine(
    rt: Any, jobs: int, workers: int, forking: bool, prefilled: bool, commit_every: int = 1
) -> dict[str, float]:
    """As run_raw, with submit_job (commit every `commit_every` submits) and Completed rows."""
    processes = [] if prefilled else start_engine_workers(rt, workers, forking=forking)
    try:
        if processes:
            wait_workers_ready(rt, engine_queue(), processes)
        expected = count_jobs(rt) + jobs
        started = time.perf_counter()
        submit_seconds = submit_noops(rt, jobs, commit_every=commit_every)
        if prefilled:
            processes = start_engine_workers(rt, workers, forking=forking)
            started = wait_drain_started(rt, engine_queue(), jobs, processes)
        wait_engine_completed(rt, expected, _timeout(jobs), processes)
        total = time.perf_counter() - started
    finally:
        stop_processes(processes)
    return _rates(jobs, submit_seconds, total)


def _rates(jobs: int, submit_seconds: float, total_seconds: float) -> dict[str, float]:
    return {
        "jobs": jobs,
        "submit_seconds": submit_seconds,
        "submit_jobs_per_second": jobs / submit_seconds,
        "total_seconds": total_seconds,
        "jobs_per_second": jobs / total_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs per side (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="N=500 (a smoke run)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per side (default 2)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,mariadb")
    parser.add_argument("--classes", default=",".join(CLASSES), help="non-forking,forking")
    parser.add_argument("--sides", default=",".join(SIDES), help="raw,engine (engine alone: for profiling)")
    parser.add_argument(
        "--modes",
        help="concurrent (submit while workers drain: the headline) and/or prefilled (drain only);"
        " default both, --quick: concurrent",
    )
    parser.add_argument(
        "--batch-commit",
        type=int,
        default=0,
        metavar="K",
        help="also measure the engine committing every K submits",
    )
    parser.add_argument("--output", default="throughput", help="results file name (bench/results/NAME.json)")
    args = parser.parse_args(argv)
    jobs = 500 if args.quick else args.jobs
    sides = args.sides.split(",")
    modes = args.modes.split(",") if args.modes else ["concurrent"] if args.quick else list(MODES)
    classes = args.classes.split(",")

    results, rows = [], []
    for backend in available_backends(args.backends.split(",")):
        for class_name in classes:
            forking = CLASSES[class_name]
            with engine_stores(backend, "throughput") as rt:
                env = environment(
                    workers=args.workers,
                    worker_class=worker_class_label(forking),
                    database=rt.config.db_url,
                    redis_url=rt.redis_url,
                    jobs=jobs,
                )
                measured = measure(rt, jobs, args, forking, sides, modes)
            for (mode, side), rates in measured.items():
                raw = measured.get((mode, "raw RQ"))
                rates["ratio_vs_raw"] = (
                    ratio(rates["jobs_per_second"], raw["jobs_per_second"]) if raw else None
                )
                rates["submit_ratio_vs_raw"] = (
                    ratio(rates["submit_jobs_per_second"], raw["submit_jobs_per_second"]) if raw else None
                )
                row = [backend, class_name, mode, side, jobs, rates["submit_jobs_per_second"]]
                row += [rates["total_seconds"], rates["jobs_per_second"], _fmt_ratio(rates["ratio_vs_raw"])]
                rows.append(row)
                print(
                    f"  {backend}, {class_name}, {mode}, {side}: {rates['jobs_per_second']:.0f} jobs/s",
                    flush=True,
                )
            results.append(
                {
                    "backend": backend,
                    "worker_class": class_name,
                    "environment": env,
                    "measured": [{"mode": m, "side": s, **r} for (m, s), r in measured.items()],
                }
            )

    print_table(
        f"Throughput, all combinations: {jobs:,} no-op jobs per side, {args.workers} workers per side",
        ["backend", "workers", "mode", "side", "N", "submit jobs/s", "timed s", "jobs/s", "engine/raw"],
        rows,
    )
    for result in results:
        print(f"  [{result['backend']}, {result['worker_class']}]", end="")
        print_environment(result["environment"])
    print(
        "  concurrent: the clock runs over submit + drain with workers already waiting (the headline);\n"
        "  prefilled: all N queued with no worker running, clock from the first dequeue to the last job\n"
        "  done (worker-side capacity); submit jobs/s: the submitting loop alone."
    )
    for result in results:
        for m in result["measured"]:
            if (result["backend"], result["worker_class"], m["side"]) == ("mariadb", "non-forking", ENGINE):
                verdict = "met" if (m["ratio_vs_raw"] or 0) >= 0.5 else "NOT met"
                print(
                    f"  target engine/raw >= 0.5 on MariaDB, non-forking, {m['mode']}: "
                    f"{_fmt_ratio(m['ratio_vs_raw'])} ({verdict})"
                )
    write_result(args.output, {"jobs": jobs, "workers": args.workers, "results": results})
    return 0


def measure(rt: Any, jobs: int, args: Any, forking: bool, sides: list[str], modes: list[str]) -> dict:
    """{(mode, side): rates} for one backend and worker class; raw and engine back to back per mode."""
    measured: dict[tuple[str, str], dict[str, float]] = {}
    for mode in modes:
        prefilled = mode == "prefilled"
        if "raw" in sides:
            measured[(mode, "raw RQ")] = run_raw(rt, jobs, args.workers, forking, prefilled)
        if "engine" in sides:
            measured[(mode, ENGINE)] = run_engine(rt, jobs, args.workers, forking, prefilled)
            if args.batch_commit > 1:
                side = f"engine, commit per {args.batch_commit} submits"
                measured[(mode, side)] = run_engine(
                    rt, jobs, args.workers, forking, prefilled, args.batch_commit
                )
    return measured


def _fmt_ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
