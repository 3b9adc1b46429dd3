"""Background Job and Job Execution Log rows made in bulk, for benchmarks and tests at scale.

Rows are built as dicts and inserted with one executemany per table (the MariaDB drivers and SQLite
send them as multi-row INSERTs with bound values), thousands of times faster than submitting jobs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any

import sqlalchemy as sa

from dartwing.dartwing_core.background_jobs import schema

bj, jel = schema.background_job, schema.job_execution_log
ADMIN_USER = "Administrator"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, as the runtime stores it


def job_row(
    name: str, index: int, status: str, modified: datetime, rng: random.Random, *, organizations: Sequence[str]
) -> dict[str, Any]:
    """A job that reached `status` at `modified`, of `organizations[index % n]`; `noop` or `echo`."""
    started = modified - timedelta(seconds=rng.uniform(0.05, 30))
    retried = status == "Dead Letter" or rng.random() < 0.05
    return {
        "name": name,
        "creation": started - timedelta(seconds=rng.uniform(0.01, 5)),
        "modified": modified,
        "modified_by": ADMIN_USER,
        "owner": ADMIN_USER,
        "job_type": "noop" if index % 3 else "echo",
        "organization": organizations[index % len(organizations)],
        "status": status,
        "priority": ("Normal", "Normal", "High", "Low")[index % 4],
        "parameters": f'{{"i": {index}}}',
        "parameters_hash": f"{index:064x}",
        "timeout": 300,
        "max_retries": 5,
        "retry_count": (3 if status == "Dead Letter" else 1) if retried else 0,
        "attempt": (4 if status == "Dead Letter" else 2) if retried else 1,
        "progress": 100 if status == "Completed" else 0,
        "queued_at": started,
        "started_at": started,
        "completed_at": modified if status != "Running" else None,
        "heartbeat_at": modified,
        "next_retry_at": None,
        "depends_on": None,
        "open_parents": 0,
        "worker": "bench-worker",
        "rq_job_id": f"{name}-1",
    }


def log_row(job: dict[str, Any]) -> dict[str, Any]:
    """The log row of the job's last transition (from Running to its status)."""
    when = job["modified"]
    return {
        "creation": when,
        "modified": when,
        "owner": ADMIN_USER,
        "background_job": job["name"],
        "organization": job["organization"],
        "from_status": "Running",
        "to_status": job["status"],
        "attempt": job["attempt"],
        "timestamp": when,
        "worker": job["worker"],
    }


def insert_jobs(conn: sa.Connection, jobs: list[dict[str, Any]], *, logged_since: datetime | None = None) -> None:
    """Insert the jobs and a log row for each (for each changed since `logged_since`, if given): one
    executemany per table; then empty the list."""
    logs = [log_row(job) for job in jobs if logged_since is None or job["modified"] >= logged_since]
    for table, rows in ((bj, jobs), (jel, logs)):
        if not rows:
            continue
        if conn.dialect.name == "sqlite":
            _sqlite_executemany(conn, table, rows)
        else:
            conn.execute(sa.insert(table), rows)
    jobs.clear()


def _sqlite_executemany(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """The driver's executemany with times as SQLAlchemy stores them in SQLite: several times faster
    than SQLAlchemy's per-value bind processing, which is most of the cost at 100,000 rows."""
    keys = list(rows[0])
    columns = ", ".join(f'"{key}"' for key in keys)
    sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({", ".join("?" for _ in keys)})'

    def value(item: Any) -> Any:
        return item.isoformat(" ", "microseconds") if isinstance(item, datetime) else item

    conn.exec_driver_sql(sql, [tuple(value(row[key]) for key in keys) for row in rows])


MIX = (
    ("Completed", 80),
    ("Dead Letter", 6),
    ("Canceled", 4),
    ("Queued", 4),
    ("Failed", 3),
    ("Pending", 1),
    ("Running", 1),
    ("Timed Out", 1),
)
ERRORS = ("Permanent", "Transient", "Timeout")
INSERT_CHUNK = 5_000


def mixed_jobs(
    count: int, organizations: Sequence[str], *, seed: int, spread: timedelta, prefix: str = "JOB-2025-"
) -> Iterator[dict[str, Any]]:
    """`count` jobs of every status (MIX), changed over the last `spread`, named oldest first like a
    naming series (`<prefix>0000001`...); failed ones carry an error, parameters a customer id."""
    rng = random.Random(seed)
    now = utcnow()
    statuses = [status for status, weight in MIX for _ in range(weight)]
    ages = sorted((rng.uniform(5, spread.total_seconds()) for _ in range(count)), reverse=True)
    for index, age in enumerate(ages):
        status = rng.choice(statuses)
        job = job_row(f"{prefix}{index + 1:07d}", index, status, now - timedelta(seconds=age), rng,
                      organizations=organizations)
        job["parameters"] = f'{{"customer": "cust-{index % 5000:04d}", "i": {index}}}'
        job["job_type"] = rng.choice(("noop", "noop", "echo"))  # not tied to the organization's index
        job.update(error_type=None, error_message=None, traceback=None)  # every row names the same columns
        if status in ("Dead Letter", "Failed", "Timed Out"):
            error = ERRORS[index % len(ERRORS)]
            job.update(error_type=error, error_message=f"{error.lower()} failure {index % 50}",
                       traceback=f"Traceback (most recent call last):\n  ...\nError: {error} {index}")
        if job["started_at"] is not None:
            job["queued_at"] = job["started_at"] - timedelta(seconds=rng.uniform(0.01, 3))
        if status in ("Queued", "Pending"):
            job.update(started_at=None, completed_at=None, progress=0, attempt=0)
        yield job


def insert_in_chunks(engine: sa.Engine, jobs: Iterable[dict[str, Any]], *, logged_since: datetime | None = None) -> None:
    """insert_jobs, INSERT_CHUNK rows per transaction (a generator of rows is never held whole)."""
    rows = iter(jobs)
    while chunk := list(islice(rows, INSERT_CHUNK)):
        with engine.begin() as conn:
            insert_jobs(conn, chunk, logged_since=logged_since)
