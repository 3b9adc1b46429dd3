"""Run every benchmark in bench/ in sequence, each printing its tables and writing bench/results/*.json.

Each benchmark starts its own redis-server (and, for MariaDB, its own database, dropped at the
end), so they can run one after the other on a shared machine; they are never run in parallel here
because they would skew each other's numbers.

    python bench/run.py            # full sizes (throughput: 6 systems x 3 worker counts x 2 modes: an hour)
    python bench/run.py --quick    # smoke run: every benchmark's --quick size
    python bench/run.py --only throughput,worker_memory
    python bench/run.py --skip orphan_recovery

Order: throughput, submit_latency, bulk_submit, worker_memory, then sweeps_scale, soak, realtime_latency,
orphan_recovery and delay_precision when present, then any other bench/*.py with a main(). A benchmark whose main()
takes no arguments (orphan_recovery: fixed production timings, 1–2 minutes) is left out of --quick.
Exit status: 0 when every benchmark returned 0.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from common import print_table, write_result  # noqa: E402

PREFERRED = (
    "throughput",
    "submit_latency",
    "bulk_submit",
    "worker_memory",
    "sweeps_scale",
    "soak",
    "realtime_latency",
    "orphan_recovery",
    "delay_precision",
    "cold_start",
)
NOT_BENCHMARKS = {"common", "noop_task", "run"}


def discover() -> list[str]:
    present = {p.stem for p in BENCH_DIR.glob("*.py")} - NOT_BENCHMARKS
    return [name for name in PREFERRED if name in present] + sorted(present - set(PREFERRED))


def run_one(name: str, quick: bool) -> tuple[str, float]:
    """('ok' / 'exit N' / 'skipped: why' / 'error: ...', seconds) for one benchmark module."""
    module = importlib.import_module(name)
    main = getattr(module, "main", None)
    if main is None:
        return "skipped: no main()", 0.0
    takes_argv = bool(inspect.signature(main).parameters)
    if quick and not takes_argv:
        return "skipped: no --quick mode", 0.0
    print(f"\n{'=' * 100}\n{name}{' --quick' if quick else ''}\n{'=' * 100}", flush=True)
    started = time.monotonic()
    try:
        code = main(["--quick"] if quick else []) if takes_argv else main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # noqa: BLE001 - report and go on with the next benchmark
        traceback.print_exc()
        return f"error: {type(exc).__name__}: {exc}"[:100], time.monotonic() - started
    return ("ok" if not code else f"exit {code}"), time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark's smoke size")
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--skip", default="", help="comma-separated benchmark names")
    args = parser.parse_args(argv)
    names = discover()
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - set(names)
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; present: {', '.join(names)}")
        names = [n for n in names if n in wanted]
    names = [n for n in names if n not in args.skip.split(",")]

    outcomes = []
    for name in names:
        status, seconds = run_one(name, args.quick)
        outcomes.append([name, status, round(seconds, 1)])
    print_table(
        f"bench/run.py{' --quick' if args.quick else ''}: summary",
        ["benchmark", "result", "seconds"],
        outcomes,
    )
    write_result(
        "run",
        {
            "quick": args.quick,
            "benchmarks": [dict(zip(("name", "result", "seconds"), o, strict=True)) for o in outcomes],
        },
    )
    return 0 if all(o[1] in ("ok",) or o[1].startswith("skipped") for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
