"""Activity over a window, for charts: transitions into each status (jobs completed, failed...) and
queue latency, per time bucket.

Transitions are counted from the Job Execution Log (one row per transition), grouped by
minute in SQL through an index range: `(organization, timestamp)` for a member's organizations, and
the log's `modified` index for an administrator's view of all of them (log rows are never updated,
so their `modified` is their `timestamp`). The minutes are folded into the window's buckets here.
Queue latency (claim time minus queue time) comes from the window's Completed jobs through
`(status, modified)`, at most MAX_TIMING_SAMPLES of them (the newest).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from . import schema
from .errors import InvalidInputError
from .metrics import scope_for
from .runtime import Runtime, get_runtime
from .status import JobStatus

# window name -> (length, bucket)
WINDOWS = {"hour": (timedelta(hours=1), timedelta(minutes=1)), "day": (timedelta(days=1), timedelta(minutes=15))}
MAX_TIMING_SAMPLES = 10_000
FAILURES = (JobStatus.FAILED.value, JobStatus.TIMED_OUT.value, JobStatus.DEAD_LETTER.value)
log, bj = schema.job_execution_log, schema.background_job


class minute_text(FunctionElement):
    """A datetime column as `YYYY-MM-DD HH:MM` text, the same on every store."""

    type = sa.String()
    inherit_cache = True
    name = "minute_text"


@compiles(minute_text, "sqlite")
def _minute_sqlite(element, compiler, **kw):
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 16)"


@compiles(minute_text, "mysql")
@compiles(minute_text, "mariadb")
def _minute_mariadb(element, compiler, **kw):
    return compiler.process(sa.func.date_format(*element.clauses, "%Y-%m-%d %H:%i"), **kw)


@compiles(minute_text, "postgresql")
def _minute_postgresql(element, compiler, **kw):
    return compiler.process(sa.func.to_char(*element.clauses, "YYYY-MM-DD HH24:MI"), **kw)


def job_activity(
    window: str = "hour", organization: str | None = None, *, runtime: Runtime | None = None
) -> dict[str, Any]:
    """{window, bucket_seconds, buckets: [{start, completed, failed, by_status, latency_seconds}]},
    oldest first, for the organizations the caller may see (or the one named): `by_status` counts the
    transitions into each status, `failed` those into Failed, Timed Out or Dead Letter."""
    rt = runtime or get_runtime()
    if window not in WINDOWS:
        raise InvalidInputError(f"window must be one of {', '.join(WINDOWS)}, got {window!r}")
    length, bucket = WINDOWS[window]
    scope = scope_for(rt, organization)
    step = int(bucket.total_seconds())
    now = rt.now()
    first = _floor(now - length, step) + bucket
    starts = [first + i * bucket for i in range(int(length / bucket))]
    counts: dict[datetime, dict[str, int]] = {start: {} for start in starts}
    latency: dict[datetime, list[float]] = {start: [] for start in starts}

    minute = minute_text(log.c.timestamp).label("minute")
    stmt = sa.select(minute, log.c.to_status, sa.func.count().label("n"))
    if scope is None:
        stmt = stmt.where(log.c.modified >= first)
    else:
        stmt = stmt.where(log.c.organization.in_(scope or [""]), log.c.timestamp >= first)
    for row in rt.execute(stmt.group_by(minute, log.c.to_status)):
        start = _floor(datetime.strptime(row["minute"], "%Y-%m-%d %H:%M"), step)
        if start in counts:
            by_status = counts[start]
            by_status[row["to_status"]] = by_status.get(row["to_status"], 0) + int(row["n"])

    done = (
        sa.select(bj.c.queued_at, bj.c.started_at, bj.c.completed_at)
        .where(bj.c.status == JobStatus.COMPLETED.value, bj.c.modified >= first)
        .order_by(bj.c.modified.desc())
        .limit(MAX_TIMING_SAMPLES)
    )
    if scope is not None:
        done = done.where(bj.c.organization.in_(scope or [""]))
    for row in rt.execute(done):
        if row["queued_at"] and row["started_at"] and row["completed_at"]:
            start = _floor(row["completed_at"], step)
            if start in latency:
                latency[start].append((row["started_at"] - row["queued_at"]).total_seconds())
    return {
        "window": window,
        "bucket_seconds": step,
        "buckets": [
            {
                "start": rt.aware(start),
                "completed": counts[start].get(JobStatus.COMPLETED.value, 0),
                "failed": sum(counts[start].get(status, 0) for status in FAILURES),
                "by_status": counts[start],
                "latency_seconds": round(sum(latency[start]) / len(latency[start]), 3) if latency[start] else None,
            }
            for start in starts
        ],
    }


def _floor(value: datetime, step: int) -> datetime:
    epoch = datetime(2000, 1, 1)
    seconds = int((value - epoch).total_seconds()) // step * step
    return epoch + timedelta(seconds=seconds)
