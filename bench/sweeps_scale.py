"""Scale of the sweeps: the minute sweep, the metrics and one cleanup batch at 100k and at 1M jobs.

DESIGN §4 promises that every sweep is an indexed range query whose cost follows the rows it
touches, not the table's size. For each size this refills `tabBackground Job` on the run's own
MariaDB database in bulk (multi-row INSERTs with bound parameters, oldest job first, so keys follow
age as a naming series writes them) with a realistic mix — mostly finished history (Completed, some
Dead Letter and Canceled, over 60 days across 20 organizations, half of it past the 30-day
retention), a fixed 5,000 jobs finished in the last day and a fixed "hot" set the minute sweep must
act on (due retries, orphaned Running jobs, stale Pending and Queued jobs, fan-in children whose two
parents completed, plus waiting ones it must leave alone) — with one Job Execution Log row per job,
and one Job Dependency row for every tenth job (its parent: the job before it). At each size it times:

- the minute sweep (`scheduler.every_minute`) with the hot set in place, then once more idle;
- `get_job_metrics()` for the administrator (every organization) and for one organization;
- one cleanup batch (`cleanup_old_jobs(batch=500, max_batches=1)`: 500 jobs and their logs).

Every SQL statement an operation runs is captured and explained on the same data: SELECTs with
MariaDB's `ANALYZE` (the plan plus the rows really read), UPDATE/DELETE with `EXPLAIN`. The table
shows each operation's dominant statement (the one reading the most rows) side by side per size.

    python bench/sweeps_scale.py                     # 100k vs 1M (about 5 minutes, mostly inserts)
    python bench/sweeps_scale.py --quick             # 10k vs 100k
    python bench/sweeps_scale.py --rows 100000 500000 1000000
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from unittest.mock import patch

import sqlalchemy as sa
from common import (
    engine_stores,
    environment,
    mariadb_reachable,
    print_table,
    write_result,
)
from job_rows import insert_jobs, job_row, utcnow

from dartwing.dartwing_core.background_jobs import schema
from dartwing.dartwing_core.background_jobs.cleanup import cleanup_old_jobs
from dartwing.dartwing_core.background_jobs.metrics import get_job_metrics
from dartwing.dartwing_core.background_jobs.scheduler import every_minute
from dartwing.dartwing_core.standalone import admin
from dartwing.dartwing_core.standalone.seed import ADMIN_USER

bj, jel, dep = schema.background_job, schema.job_execution_log, schema.job_dependency
DEPENDENCY_EVERY = 10  # every tenth history job waited for the one before it
ORGANIZATIONS = [f"Scale Org {i:02d}" for i in range(1, 21)]
INSERT_CHUNK = 5_000
RECENT_JOBS = 5_000  # finished in the last 24 h, at every size
HISTORY_DAYS = 60  # history spread over 60 days; the cleanup retention is 30
# The minute sweep's work, the same at every size: (label, status, count, what the sweep must do).
HOT_SET = (
    ("due retry", "Failed", 200, "requeue"),
    ("retry not due", "Failed", 300, "leave"),
    ("orphan", "Running", 50, "recover"),
    ("running", "Running", 100, "leave"),
    ("stale pending", "Pending", 100, "release"),
    ("stale queued", "Queued", 100, "re-send"),
    ("fan-in parent", "Completed", 2, "leave"),
    ("fan-in child", "Pending", 100, "release"),
    ("fresh queued", "Queued", 500, "leave"),
)
HISTORY_MIX = (("Completed", 90), ("Dead Letter", 5), ("Canceled", 5))
RECENT_MIX = (("Completed", 94), ("Dead Letter", 4), ("Canceled", 2))


# --- bulk generation ------------------------------------------------------------------------------


def _dependency_row(child: str, parent: str, idx: int) -> dict[str, Any]:
    return {"name": f"{child}-{idx}", "parent": child, "parenttype": "Background Job",
            "parentfield": "dependencies", "depends_on": parent, "idx": idx, "settled": 1}


def _insert(conn: sa.Connection, jobs: list[dict[str, Any]], deps: list[dict[str, Any]] | None = None) -> None:
    """One executemany per table: the MariaDB drivers send them as multi-row INSERTs with bound values."""
    insert_jobs(conn, jobs)
    if deps:
        conn.execute(sa.insert(dep), deps)
        deps.clear()


def fill_finished_jobs(engine: sa.Engine, count: int, *, seed: int) -> None:
    """Empty the job tables, then insert `count` finished jobs (RECENT_JOBS of them within the last
    24 h, the rest spread over HISTORY_DAYS) oldest first, named in that order (JOB-H<n>): as a
    naming series and an append-only log would have written them, so a row's age follows its key."""
    rng = random.Random(seed)
    now = utcnow()
    recent = min(RECENT_JOBS, count)
    ages = sorted(
        [rng.uniform(1.1, HISTORY_DAYS) * 86400 for _ in range(count - recent)]
        + [rng.uniform(60, 23 * 3600) for _ in range(recent)],
        reverse=True,
    )
    history = [status for status, weight in HISTORY_MIX for _ in range(weight)]
    latest = [status for status, weight in RECENT_MIX for _ in range(weight)]
    jobs: list[dict[str, Any]] = []
    deps: list[dict[str, Any]] = []
    with engine.begin() as conn:
        conn.execute(sa.delete(jel))
        conn.execute(sa.delete(dep))
        conn.execute(sa.delete(bj))
    for index, age in enumerate(ages):
        status = rng.choice(latest if age < 86400 else history)
        jobs.append(job_row(f"JOB-H{index:08d}", index, status, now - timedelta(seconds=age), rng, organizations=ORGANIZATIONS))
        if index and index % DEPENDENCY_EVERY == 0:
            deps.append(_dependency_row(f"JOB-H{index:08d}", f"JOB-H{index - 1:08d}", 1))
        if len(jobs) == INSERT_CHUNK:
            with engine.begin() as conn:
                _insert(conn, jobs, deps)
    if jobs:
        with engine.begin() as conn:
            _insert(conn, jobs, deps)


def reset_hot_set(engine: sa.Engine, round_no: int) -> dict[str, int]:
    """Replace the hot set with a fresh one (named JOB-W<round>-...); returns counts by label."""
    rng = random.Random(round_no)
    now = utcnow()
    old = now - timedelta(minutes=10)  # older than the orphan threshold and the outbox grace
    jobs: list[dict[str, Any]] = []
    deps: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    parents: list[str] = []
    index = 0
    for label, status, count, _ in HOT_SET:
        counts[label] = count
        for _ in range(count):
            name = f"JOB-W{round_no}-{index:05d}"
            job = job_row(name, index, status, old, rng, organizations=ORGANIZATIONS)
            job.update(completed_at=None, progress=0, retry_count=0, attempt=0, rq_job_id=f"{name}-0")
            if label == "due retry":
                job.update(attempt=1, retry_count=0, next_retry_at=now - timedelta(seconds=5))
            elif label == "retry not due":
                job.update(attempt=1, next_retry_at=now + timedelta(hours=1))
            elif label == "orphan":
                job.update(attempt=1, heartbeat_at=old)
            elif label == "running":
                job.update(attempt=1, modified=now, heartbeat_at=now)
            elif label == "fresh queued":
                job.update(modified=now, queued_at=now)
            elif label == "fan-in parent":
                job.update(completed_at=old, progress=100, attempt=1)
                parents.append(name)
            elif label == "fan-in child":
                job.update(depends_on=parents[0], open_parents=0)
                deps += [_dependency_row(name, parent, idx) for idx, parent in enumerate(parents, start=1)]
            jobs.append(job)
            index += 1
    with engine.begin() as conn:
        conn.execute(sa.delete(jel).where(jel.c.background_job.like("JOB-W%")))
        conn.execute(sa.delete(dep).where(dep.c.parent.like("JOB-W%")))
        conn.execute(sa.delete(bj).where(bj.c.name.like("JOB-W%")))
        _insert(conn, jobs, deps)
    return counts


def table_rows(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() for t in (bj, jel))


# --- statement capture and plans --------------------------------------------------------------------


@contextmanager
def captured(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """The (SQL, parameters) of every single-statement execute on the driver's cursors inside the block.

    Taken at the driver, not from SQLAlchemy's cursor events: the engine's prebuilt statements run
    on the DBAPI cursor directly (standalone/compiled.py) and fire no SQLAlchemy event.
    """
    statements: list[tuple[str, Any]] = []
    cursor_class = engine.dialect.loaded_dbapi.cursors.Cursor
    execute = cursor_class.execute

    def recording(cursor, query, args=None):
        statements.append((query, args))
        return execute(cursor, query, args)

    with patch.object(cursor_class, "execute", recording):
        yield statements


def plans(engine: sa.Engine, statements: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """One plan row per table access of each distinct statement on the job tables.

    SELECTs run under ANALYZE (estimate `rows` and actual `r_rows`); UPDATE/DELETE under EXPLAIN.
    """
    seen: set[str] = set()
    out = []
    with engine.connect() as conn:
        for sql, params in statements:
            verb = sql.lstrip().split(None, 1)[0].upper()
            if (
                sql in seen
                or verb not in ("SELECT", "UPDATE", "DELETE")
                or not (bj.name in sql or jel.name in sql or dep.name in sql)
            ):
                continue
            seen.add(sql)
            prefix = "ANALYZE " if verb == "SELECT" else "EXPLAIN "
            for row in conn.exec_driver_sql(prefix + sql, params).mappings():
                if row["table"] in (bj.name, jel.name, dep.name):
                    out.append(
                        {
                            "verb": verb,
                            "sql": " ".join(sql.split())[:160],
                            "table": row["table"],
                            "type": row["type"],
                            "key": row["key"],
                            "rows": int(row["rows"] or 0),
                            "r_rows": float(row["r_rows"]) if row.get("r_rows") is not None else None,
                            "extra": row["Extra"],
                        }
                    )
        conn.rollback()
    return out


def dominant(plan_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The plan row that reads the most rows (actual where known, else the estimate)."""
    return max(plan_rows, key=lambda r: (r["r_rows"] if r["r_rows"] is not None else r["rows"], r["rows"]))


# --- one size ---------------------------------------------------------------------------------------


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return (time.perf_counter() - started) * 1000, value


def measure(rt: Any, round_no: int, repeats: int) -> dict[str, Any]:
    """Every operation at the table's current size: time (ms), rows touched, plans."""
    engine = rt.engine
    hot = reset_hot_set(engine, round_no)
    with engine.connect() as conn:
        for table in (bj, jel, dep):
            conn.exec_driver_sql(f"ANALYZE TABLE `{table.name}`").all()
    jobs, logs = table_rows(engine)
    results: dict[str, Any] = {"jobs": jobs, "logs": logs, "hot_set": hot}

    def record(
        label: str,
        fn: Callable[[], Any],
        touched: Callable[[Any], int],
        runs: int,
        restore: Callable[[], Any] | None = None,
    ) -> None:
        times, values, plan_rows = [], [], []
        for run in range(runs):
            with captured(engine) as statements:
                ms, value = _timed(fn)
            times.append(ms)
            values.append(value)
            if run == 0:  # explain the first run's statements on the state that run found
                if restore:
                    restore()
                plan_rows = plans(engine, statements)
                if restore:
                    fn()
        results[label] = {
            "ms_median": statistics.median(times),
            "ms_runs": times,
            "rows_touched": touched(values[0]),
            "full_scans": [r for r in plan_rows if r["type"] == "ALL"],
            "dominant": dominant(plan_rows),
            "plans": plan_rows,
        }

    def sweep_touched(value: dict[str, int] | None) -> int:
        if value is None:
            raise RuntimeError("the minute sweep failed (see the log above)")
        return sum(value.values())

    record(
        "minute sweep (hot set)",
        every_minute,
        sweep_touched,
        1,
        restore=lambda: reset_hot_set(engine, round_no),
    )
    record("minute sweep (idle)", every_minute, sweep_touched, repeats)
    record(
        "metrics, all organizations",
        lambda: get_job_metrics(runtime=rt),
        lambda v: sum(v["job_count_by_status"].values()),
        repeats,
    )
    record(
        "metrics, one organization",
        lambda: get_job_metrics(ORGANIZATIONS[0], runtime=rt),
        lambda v: sum(v["job_count_by_status"].values()),
        repeats,
    )
    record(
        "cleanup batch (500 jobs)",
        lambda: cleanup_old_jobs(batch=500, max_batches=1, runtime=rt),
        lambda v: v,
        repeats,
    )
    return results


# --- report -----------------------------------------------------------------------------------------


OPERATIONS = (
    "minute sweep (hot set)",
    "minute sweep (idle)",
    "metrics, all organizations",
    "metrics, one organization",
    "cleanup batch (500 jobs)",
)


def _plan_cell(row: dict[str, Any]) -> str:
    return f"{row['type']}/{row['key'] or '-'}"


def report(sizes: list[dict[str, Any]], env: dict[str, Any]) -> None:
    labels = [f"{s['jobs']:,} jobs" for s in sizes]
    headers = ["operation"]
    for label in labels:
        headers += [f"ms @{label}", f"touched @{label}", f"read @{label}"]
    headers += ["dominant plan (type/index)"]
    rows = []
    for op in OPERATIONS:
        row: list[Any] = [op]
        for size in sizes:
            r = size[op]
            top = r["dominant"]
            read = top["r_rows"] if top["r_rows"] is not None else top["rows"]
            row += [round(r["ms_median"], 1), r["rows_touched"], int(read)]
        row.append(" | ".join(dict.fromkeys(_plan_cell(s[op]["dominant"]) for s in sizes)))
        rows.append(row)
    print_table(
        "Sweeps at scale (median ms; rows touched; rows read by the dominant statement)", headers, rows, env
    )
    print("\n  every statement's plan at the largest size (ANALYZE for SELECT: est. rows / actual r_rows):")
    largest = sizes[-1]
    for op in OPERATIONS:
        print(f"  {op}:")
        for p in largest[op]["plans"]:
            actual = "" if p["r_rows"] is None else f" r_rows={p['r_rows']:,.0f}"
            print(
                f"    {p['verb']:<6} {p['type']:<6} key={p['key'] or '-':<32} rows={p['rows']:<9,}{actual}  {p['sql'][:90]}"
            )
    scans = [(s["jobs"], op, p["sql"]) for s in sizes for op in OPERATIONS for p in s[op]["full_scans"]]
    print(f"\n  full table scans (EXPLAIN type ALL): {len(scans)}")
    for jobs, op, sql in scans:
        print(f"    at {jobs:,}: {op}: {sql}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[100_000, 1_000_000], help="table sizes, ascending"
    )
    parser.add_argument("--quick", action="store_true", help="10k vs 100k")
    parser.add_argument("--repeats", type=int, default=5, help="runs per operation (the median is shown)")
    args = parser.parse_args(argv)
    targets = [10_000, 100_000] if args.quick else sorted(args.rows)
    if reason := mariadb_reachable():
        print(f"  skipped: {reason}")
        return 0

    sizes: list[dict[str, Any]] = []
    with engine_stores("mariadb", "sweeps") as rt:
        for org in ORGANIZATIONS:
            admin.add_organization(rt, org)
        rt.commit()
        rt.set_user(ADMIN_USER)
        env = environment(
            database=rt.config.db_url, redis_url=rt.redis_url, sizes=",".join(map(str, targets))
        )
        hot = sum(count for _, _, count, _ in HOT_SET)
        for round_no, target in enumerate(targets, 1):
            started = time.perf_counter()
            fill_finished_jobs(rt.engine, target - hot, seed=target)
            print(f"  filled {target:,} jobs in {time.perf_counter() - started:.1f}s", flush=True)
            sizes.append(measure(rt, round_no, args.repeats))
        report(sizes, env)
        write_result(
            "sweeps_scale_quick" if args.quick else "sweeps_scale",
            {"environment": env, "hot_set": [list(h) for h in HOT_SET], "sizes": sizes},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
