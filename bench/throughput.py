"""Throughput of the engine beside raw RQ and the durable peers, in one run (issue 17): N no-op jobs.

Why: the engine adds a database row, a compare-and-set claim, execution log rows and events to every
job; this shows what that costs against RQ alone and against what else a Python user would pick for
durable jobs, on the same machine, the same redis-server and in the same rounds.

Systems (`--systems`, all by default; a peer whose packages are missing is skipped with the reason;
`pip install -e '.[bench]'` installs them):

- raw: raw RQ, `rq worker --worker-class rq.SimpleWorker`, `Queue.enqueue(noop, result_ttl=0)`;
- engine: `dartwing-jobs worker --no-forking`, `submit_job` + commit per job, on `--backend`
  (MariaDB by default: the issue's target);
- procrastinate: `procrastinate worker --concurrency 1` on a PostgreSQL database of the run's own;
- celery-db: Celery, prefork pool (its default) `--concurrency 1`, acks_late, Redis broker, SQLAlchemy result backend on that
  PostgreSQL database (the database backend a Celery user would pick: the same server as
  procrastinate's, and what the issue measured);
- dramatiq: `--processes 1 --threads 1`, Redis broker, no result backend (as in the issue's table);
- celery: Celery as celery-db without a result backend (a reference line: nothing durable after the
  ack).

Every worker process runs one job at a time; the bench enqueues one call at a time, except in the
bulk mode. Modes, the same definitions for every system:

- prefilled (drain): all N enqueued with no worker running, then the workers start; the clock runs
  from the first dequeue to the last job finished (worker-side capacity);
- concurrent (end-to-end): the workers are started and ready first; the clock runs from the first
  enqueue to the last job finished, the workers draining while the bench enqueues;
- bulk (bulk end-to-end): as concurrent, but N are enqueued `--batch` (500) at a time with the
  system's bulk API: raw RQ's `Queue.enqueue_many` on one pipeline per batch, the engine's
  `submit_jobs` + commit per batch, procrastinate's `batch_defer`; Celery and dramatiq have none (a
  group sends one message per task) and are skipped in this mode, saying so.

Each system runs at every `--worker-counts` (default 2,4,8); its best count is the one with the
highest median drain rate. `--repeats K` runs K rounds, each over every count, mode and system, with
the systems' order rotated each round; medians and ranges (min–max) are printed, and every ratio is
the median of the same round's ratios.

    python bench/throughput.py                          # N=2,000, every system, 2,4,8 workers
    python bench/throughput.py --quick                  # N=300, 2 workers
    python bench/throughput.py --repeats 3 --profile    # + py-spy summary of the engine's drain
    python bench/throughput.py --systems raw,engine --worker-counts 2 --jobs 10000
    python bench/throughput.py --systems raw,engine --worker-counts 2 --modes bulk,prefilled --repeats 3

The tables are printed (and the results file written) after every round; SIGTERM stops a run and
cleans up. `--profile` first runs one unmeasured prefilled engine drain at 2 workers with py-spy
attached to each worker (wall time, idle included, main thread) and prints its cost by kind (Redis,
commits, statements, the rest), the top functions by own time and the engine's by inclusive time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    BACKENDS,
    available_backends,
    check_alive,
    engine_stores,
    environment,
    print_table,
    stop_processes,
    wait_until,
    write_result,
)
from peers.systems import (  # noqa: E402
    Celery,
    Dramatiq,
    Engine,
    Procrastinate,
    RawRQ,
    System,
    missing_packages,
    own_postgres_database,
    postgres_description,
)

SYSTEMS = ("raw", "engine", "procrastinate", "celery-db", "dramatiq", "celery")
NEEDS_POSTGRES = {"procrastinate", "celery-db"}
MODES = {"prefilled": "drain", "concurrent": "end-to-end", "bulk": "bulk end-to-end"}
TARGETS = (  # (what, system, versus, worker counts: "2" or "best", mode, minimum ratio of its rates)
    ("engine / raw RQ drain at 2 workers", "engine", "raw", "2", "prefilled", 0.7),
    ("engine / raw RQ drain at each side's best count", "engine", "raw", "best", "prefilled", 0.9),
    ("engine / procrastinate drain, best counts", "engine", "procrastinate", "best", "prefilled", 1.5),
    (
        "engine / Celery + database backend drain, best counts",
        "engine", "celery-db", "best", "prefilled", 1.5,
    ),
    ("engine / raw RQ bulk end-to-end at 2 workers", "engine", "raw", "2", "bulk", 0.85),
    ("engine / raw RQ bulk end-to-end at each side's best count", "engine", "raw", "best", "bulk", 0.85),
)
BATCH = 500


def timeout_for(jobs: int) -> float:
    return 120 + jobs * 0.2  # generous: a busy 2-core machine


def measure(
    system: System,
    jobs: int,
    workers: int,
    mode: str,
    attach: Callable[[list], Any] | None = None,
    batch: int = BATCH,
) -> dict[str, float]:
    """One timed run of `jobs` no-op jobs on `workers` fresh worker processes (see the docstring's
    modes; the bulk mode enqueues `batch` at a time); `attach(processes)`, if given, is called at the
    first dequeue of a prefilled drain and what it returns is stopped (`.stop()`) at its end."""
    prefilled = mode == "prefilled"
    system.begin()
    processes = [] if prefilled else system.start_workers(workers)
    attached = None
    try:
        if processes:
            system.wait_ready(processes)
        started = time.perf_counter()
        submit_seconds = system.enqueue_batches(jobs, batch) if mode == "bulk" else system.enqueue(jobs)
        if prefilled:
            processes = system.start_workers(workers)
            wait_until(
                lambda: check_alive(processes) or system.queued() < jobs, 120, "a first dequeue", 0.005
            )
            started = time.perf_counter()
            attached = attach(processes) if attach else None
        wait_until(
            lambda: check_alive(processes) or system.finished() >= jobs,
            timeout_for(jobs),
            f"{jobs} {system.key} jobs to finish",
            0.05,
        )
        seconds = time.perf_counter() - started
        if attached:
            attached.stop()
    finally:
        stop_processes(processes)
    return {
        "jobs_per_second": jobs / seconds,
        "seconds": seconds,
        "submit_jobs_per_second": jobs / submit_seconds,
    }


# --- the run ------------------------------------------------------------------------------------------


@contextmanager
def open_systems(keys: Sequence[str], backend: str) -> Iterator[tuple[list[System], dict[str, Any]]]:
    """The requested systems on one redis-server (the engine's, of the run's own), PostgreSQL peers on
    one database of the run's own; with the environment to print. Skips what cannot run, saying why."""
    keys = list(keys)
    for key in list(keys):
        if missing := missing_packages(key):
            print(f"  skipping {key}: not installed: {', '.join(missing)} (pip install -e '.[bench]')")
            keys.remove(key)
    with ExitStack() as stack:
        rt = stack.enter_context(engine_stores(backend, "throughput"))
        env = environment(database=rt.config.db_url, redis_url=rt.redis_url)
        conninfo = None
        if NEEDS_POSTGRES & set(keys):
            try:
                conninfo = stack.enter_context(own_postgres_database("throughput"))
                env["peers' database"] = postgres_description(conninfo)
            except Exception as exc:  # noqa: BLE001 - say why and run the others
                print(f"  skipping {', '.join(sorted(NEEDS_POSTGRES & set(keys)))}: PostgreSQL: {exc}")
                keys = [k for k in keys if k not in NEEDS_POSTGRES]
        factories = {
            "raw": lambda: RawRQ(rt),
            "engine": lambda: Engine(rt, backend),
            "procrastinate": lambda: Procrastinate(rt, conninfo),
            "celery-db": lambda: Celery(rt, conninfo),
            "dramatiq": lambda: Dramatiq(rt),
            "celery": lambda: Celery(rt),
        }
        systems = []
        for key in keys:
            system = factories[key]()
            stack.callback(system.close)
            systems.append(system)
        for system in systems:
            env[system.label] = system.describe()
        yield systems, env


def run_rounds(
    systems: list[System],
    jobs: int,
    counts: list[int],
    modes: list[str],
    repeats: int,
    after_round: Callable[[dict, int], None],
    batch: int = BATCH,
) -> dict:
    """{(key, workers, mode): [rates per round]}, the systems' order rotated by one each round (the
    bulk mode leaves out systems without a bulk API); `after_round(samples, rounds done)` after each."""
    samples: dict[tuple[str, int, str], list[dict[str, float]]] = defaultdict(list)
    for round_index in range(repeats):
        shift = round_index % len(systems)
        order = systems[shift:] + systems[:shift]
        for workers in counts:
            for mode in modes:
                for system in (s for s in order if mode != "bulk" or s.bulk_api):
                    rates = measure(system, jobs, workers, mode, batch=batch)
                    samples[(system.key, workers, mode)].append(rates)
                    print(
                        f"  round {round_index + 1}/{repeats}, {workers} workers, {MODES[mode]}, "
                        f"{system.key}: {rates['jobs_per_second']:.0f} jobs/s",
                        flush=True,
                    )
        after_round(samples, round_index + 1)
    return samples


# --- figures ------------------------------------------------------------------------------------------


def median_rate(samples: dict, key: str, workers: int, mode: str) -> float | None:
    runs = samples.get((key, workers, mode))
    return statistics.median(r["jobs_per_second"] for r in runs) if runs else None


def best_count(samples: dict, key: str, counts: list[int]) -> int:
    """The worker count with the highest median drain rate (when drains were not run, the rate of the
    first mode the system ran, in MODES' order)."""
    ran = {k[2] for k in samples if k[0] == key}
    mode = next((m for m in MODES if m in ran), "prefilled")
    return max(counts, key=lambda n: median_rate(samples, key, n, mode) or 0)


def round_ratios(samples: dict, key: str, workers: int, versus: str, versus_workers: int, mode: str) -> list:
    """The ratio of `key`'s rate to `versus`'s in each round (each round ran both, close in time)."""
    mine, theirs = samples.get((key, workers, mode), []), samples.get((versus, versus_workers, mode), [])
    return [a["jobs_per_second"] / b["jobs_per_second"] for a, b in zip(mine, theirs, strict=False)]


def spread(values: Sequence[float], digits: int = 0) -> str:
    """'median' alone for one value, else 'median (min–max)'."""
    if not values:
        return ""
    fmt = f"{{:,.{digits}f}}"
    middle = fmt.format(statistics.median(values))
    return middle if len(values) == 1 else f"{middle} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def enqueue_modes(modes: list[str]) -> list[str]:
    """The modes whose enqueue rates a table shows: the first one-call-at-a-time mode, and bulk."""
    return [m for m in modes if m != "bulk"][:1] + (["bulk"] if "bulk" in modes else [])


def rows_for(samples: dict, keys: list[str], picks: dict[str, int], modes: list[str], labels: dict) -> list:
    """One table row per system at worker count picks[key]; ratios against raw and the engine at
    their own picks[...] (the same count, or each side's best). A mode a system did not run (bulk,
    without a bulk API) leaves its cells empty."""
    rows = []
    for key in keys:
        workers = picks[key]
        row: list[Any] = [labels[key], workers]
        for mode in modes:
            row.append(spread([r["jobs_per_second"] for r in samples.get((key, workers, mode), [])]))
        for mode in modes:
            for versus in ("raw", "engine"):
                if versus in picks and versus != key:
                    row.append(spread(round_ratios(samples, key, workers, versus, picks[versus], mode), 2))
                else:
                    row.append("")
        for mode in enqueue_modes(modes):
            runs = samples.get((key, workers, mode), [])
            row.append(spread([r["submit_jobs_per_second"] for r in runs]))
        rows.append(row)
    return rows


def headers_for(modes: list[str]) -> list[str]:
    headers = ["system", "workers"] + [f"{MODES[m]} jobs/s" for m in modes]
    headers += [f"{MODES[m]} / {versus}" for m in modes for versus in ("raw", "engine")]
    return headers + [f"{'bulk ' if m == 'bulk' else ''}enqueue jobs/s" for m in enqueue_modes(modes)]


def print_targets(samples: dict, keys: list[str], counts: list[int], best: dict[str, int]) -> list[str]:
    lines = []
    for what, key, versus, at, mode, minimum in TARGETS:
        if key not in keys or versus not in keys or (2 not in counts if at == "2" else len(counts) < 2):
            continue
        mine, theirs = (2, 2) if at == "2" else (best[key], best[versus])
        ratios = round_ratios(samples, key, mine, versus, theirs, mode)
        if ratios:
            value = statistics.median(ratios)
            verdict = "met" if value >= minimum else "NOT met"
            lines.append(f"  target {what} >= {minimum}: {spread(ratios, 2)} ({verdict})")
    for line in lines:
        print(line)
    return lines


# --- profile ------------------------------------------------------------------------------------------


class PySpy:
    """py-spy recording each worker (raw collapsed stacks, idle samples kept: wall time); stop()
    interrupts them, which makes each write its file."""

    def __init__(self, processes: Sequence[subprocess.Popen], directory: Path, rate: int = 100):
        binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self.paths = [directory / f"worker-{p.pid}.txt" for p in processes]
        self.spies = [
            subprocess.Popen(
                [binary, "record", "--pid", str(p.pid), "--rate", str(rate), "--format", "raw", "--idle"]
                + ["--threads", "--nonblocking", "--output", str(path)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for p, path in zip(processes, self.paths, strict=True)
        ]

    def stop(self) -> None:
        for spy in self.spies:
            spy.send_signal(signal.SIGINT)
        for spy in self.spies:
            spy.wait(60)


def collapsed_stacks(paths: Sequence[Path], thread: str = "MainThread") -> Counter:
    """{(frame, ...): samples} of one thread (the worker's job loop) summed over py-spy raw files."""
    stacks: Counter = Counter()
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            if len(frames) > 1 and frames[0].endswith(f": {thread}"):
                stacks[tuple(_function(f) for f in frames[1:])] += int(count)
    return stacks


def _function(frame: str) -> str:
    """'commit (dartwing/x.py:12)' -> 'commit (dartwing/x.py)': summed over lines of one function."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


COST_KINDS = (  # (kind, test on one frame); a sample is the kind of its innermost frame that has one
    ("Redis round trips (RQ's commands, events)", lambda f: "(redis/" in f),
    ("database commits", lambda f: "commit (" in f.lower() and ("sqlalchemy/" in f or "MySQLdb/" in f)),
    (
        "database statements",
        lambda f: any(m in f for m in ("(MySQLdb/", "(pymysql/", "(sqlite3/", "(psycopg/", "(sqlalchemy/")),
    ),
)
JOB_ENTRY = "run_job (dartwing/"  # the engine's per-job function, below RQ's loop


def cost_kind(frames: Sequence[str]) -> str:
    for frame in reversed(frames):
        for kind, matches in COST_KINDS:
            if matches(frame):
                return kind
    return "Python, the rest (RQ's loop, the engine, the interpreter)"


def profile_summary(stacks: Counter, top: int = 12) -> dict[str, list[tuple[str, float]]]:
    """As % of the workers' wall time: the kinds of cost (Redis, commits, statements, the rest), the
    top functions by own time (the leaf frame), the share inside the engine's per-job function and
    the engine's functions below it by inclusive time."""
    total = sum(stacks.values()) or 1
    kinds: Counter = Counter()
    own: Counter = Counter()
    inclusive: Counter = Counter()
    for frames, count in stacks.items():
        kinds[cost_kind(frames)] += count
        own[frames[-1]] += count
        entry = next((i for i, f in enumerate(frames) if f.startswith(JOB_ENTRY)), None)
        if entry is not None:
            for name in set(frames[entry:]):
                if "dartwing/" in name:
                    inclusive[name] += count

    def shares(counter: Counter, n: int = top) -> list[tuple[str, float]]:
        return [(name, 100 * c / total) for name, c in counter.most_common(n)]

    return {
        "samples": total,
        "kinds": shares(kinds),
        "own": shares(own),
        "engine_inclusive": shares(inclusive),
    }


def run_profile(engine: System, jobs: int, workers: int = 2) -> dict:
    directory = Path(tempfile.mkdtemp(prefix="dartwing-bench-pyspy-"))
    try:
        rates = measure(engine, jobs, workers, "prefilled", attach=lambda ps: PySpy(ps, directory))
        summary = profile_summary(collapsed_stacks(sorted(directory.glob("worker-*.txt"))))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(
        f"\nProfile of the engine's drain ({jobs:,} jobs, {workers} workers, py-spy 100 Hz, wall time of"
        f" the workers' main threads, {summary['samples']:,} samples; {rates['jobs_per_second']:.0f}"
        " jobs/s under the profiler, not a measurement)"
    )
    print("  by kind (innermost frame that says):")
    for name, share in summary["kinds"]:
        print(f"    {share:5.1f} %  {name}")
    print("  top functions by own time:")
    for name, share in summary["own"]:
        print(f"    {share:5.1f} %  {name}")
    print(f"  engine functions by inclusive time, from {JOB_ENTRY.split()[0]} down:")
    for name, share in summary["engine_inclusive"]:
        print(f"    {share:5.1f} %  {name}")
    return {"profiled_jobs_per_second": rates["jobs_per_second"], **summary}


# --- main -----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2_000, help="jobs per measurement (default 2,000)")
    parser.add_argument("--quick", action="store_true", help="N=300 and 2 workers (a smoke run)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=",".join(SYSTEMS))
    parser.add_argument("--worker-counts", help="worker processes per system (default 2,4,8; --quick: 2)")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=", ".join(f"{m} ({what})" for m, what in MODES.items())
    )
    parser.add_argument(
        "--batch", type=int, default=BATCH, help=f"jobs per bulk enqueue call, bulk mode (default {BATCH})"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, metavar="K", help="rounds, order rotated (default 1)"
    )
    parser.add_argument("--backend", default="mariadb", choices=BACKENDS, help="the engine's database")
    parser.add_argument("--profile", action="store_true", help="py-spy summary of the engine's drain")
    parser.add_argument("--output", default="throughput", help="results file name (bench/results/NAME.json)")
    args = parser.parse_args(argv)
    jobs = 300 if args.quick else args.jobs
    counts = [int(n) for n in (args.worker_counts or ("2" if args.quick else "2,4,8")).split(",")]
    modes = [m for m in MODES if m in args.modes.split(",")]
    requested = args.systems.split(",")
    if unknown := set(requested) - set(SYSTEMS):
        parser.error(f"unknown systems {', '.join(sorted(unknown))}; known: {', '.join(SYSTEMS)}")
    if not modes or min(args.repeats, jobs, min(counts), args.batch) < 1:
        parser.error(f"--modes: some of {', '.join(MODES)}; --repeats, --jobs, --worker-counts, --batch >= 1")
    if not available_backends([args.backend]):
        return 1

    load_before = os.getloadavg()
    with open_systems([k for k in SYSTEMS if k in requested], args.backend) as (systems, env):
        keys = [s.key for s in systems]
        labels = {s.key: s.label for s in systems}
        engine = next((s for s in systems if s.key == "engine"), None)
        if "bulk" in modes:
            env["bulk end-to-end"] = f"{args.batch} jobs per call; " + "; ".join(
                f"{s.key}: {s.bulk_api}" for s in systems if s.bulk_api
            )
            for system in systems:
                if not system.bulk_api:
                    print(f"  skipping {system.key} in the bulk mode: {system.no_bulk_api}")
        profile = run_profile(engine, jobs) if args.profile and engine else None

        def after_round(samples: dict, rounds: int) -> None:
            """The tables so far (a long run cut short still says what it measured)."""
            round_env = {
                **env,
                "load average at start / now (1/5/15 min)": " / ".join(
                    " ".join(f"{x:.2f}" for x in load) for load in (load_before, os.getloadavg())
                ),
                "jobs": jobs,
                "rounds": f"{rounds} of {args.repeats}",
                "worker counts": ",".join(map(str, counts)),
            }
            report(samples, keys, labels, counts, modes, round_env, profile, args.output)

        run_rounds(systems, jobs, counts, modes, args.repeats, after_round, args.batch)
    return 0


def report(
    samples: dict,
    keys: list[str],
    labels: dict[str, str],
    counts: list[int],
    modes: list[str],
    env: dict[str, Any],
    profile: dict | None,
    output: str,
) -> None:
    """Print the tables, environment and targets; write bench/results/<output>.json."""
    best = {key: best_count(samples, key, counts) for key in keys}
    title = f"Throughput, {env['jobs']:,} no-op jobs, {env['rounds']} round(s): median (min–max)"
    if 2 in counts:
        print_table(
            f"{title}, 2 workers, concurrency 1 each",
            headers_for(modes),
            rows_for(samples, keys, dict.fromkeys(keys, 2), modes, labels),
        )
    if len(counts) > 1:
        print_table(
            f"{title}, each system at its best worker count (highest drain)",
            headers_for(modes),
            rows_for(samples, keys, best, modes, labels),
        )
        rows = []
        for workers in counts:
            rows += rows_for(samples, keys, dict.fromkeys(keys, workers), modes, labels)
        print_table(f"{title}, every worker count", headers_for(modes), rows)
    print("  environment:")
    for key, value in env.items():
        print(f"    {key}: {value}")
    print(
        "  drain: all N enqueued with no worker running, clock from the first dequeue to the last job\n"
        "  finished; end-to-end: workers ready first, clock from the first enqueue to the last job finished;\n"
        "  bulk end-to-end: the same, N enqueued a batch per call (systems without a bulk API: empty);\n"
        "  ratios: median of each round's ratio (best-count rows: each side at its own best count)."
    )
    targets = print_targets(samples, keys, counts, best)
    write_result(
        output,
        {
            "environment": env,
            "best_worker_counts": best,
            "samples": [
                {"system": key, "workers": workers, "mode": mode, "runs": runs}
                for (key, workers, mode), runs in samples.items()
            ],
            "targets": targets,
            "profile": profile,
        },
    )


def _exit_on_sigterm(signum: int, _frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C, so workers, redis-server and databases of the run are cleaned up
    (a run started in the background ignores SIGINT)."""
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sys.exit(main())
