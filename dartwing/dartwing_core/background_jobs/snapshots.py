"""The metrics snapshot: the figures of `get_job_metrics`, per organization, taken every 5 minutes.

Counting a million jobs by status on every view costs seconds, so the 5-minute sweep
(scheduler.every_five_minutes) counts them once and replaces the Job Metrics Snapshot rows: one per
organization with jobs, and one for every organization together (organization empty), which also
says when the last snapshot was taken. A reader sums the rows of the organizations it may see
(metrics.py), a few rows however many jobs there are.

A snapshot reads, in this order: the Queued jobs by organization and priority (their rows, through
`(status, modified)`), the jobs by organization and status (from the `(organization, status,
modified)` index alone: its cost follows the table's size, once per 5 minutes), and the last 24
hours' Completed and Dead Letter jobs (their rows, through `(status, modified)`), grouped in SQL by
organization, retries and run-time bucket. The figures are as of `taken_at`, give or take the
transitions that commit while those reads run (a fraction of a second's worth; the next snapshot
has them).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from . import schema
from .hashing import canonical_json
from .records import loads
from .runtime import Runtime
from .status import JobStatus, Priority

WINDOW = timedelta(hours=24)
# Upper bounds (seconds) of the run-time buckets; the last bucket ("+Inf") has none.
PROCESSING_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800)
BUCKET_KEYS = tuple(str(bound) for bound in PROCESSING_BUCKETS) + ("+Inf",)
ALL = None  # the organization of the row for every organization

bj, snap = schema.background_job, schema.job_metrics_snapshot


class seconds_between(FunctionElement):
    """`end - start` in seconds (a float), the same on every store."""

    type = sa.Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element, compiler, **kw):
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@compiles(seconds_between, "mysql")
@compiles(seconds_between, "mariadb")
def _seconds_mariadb(element, compiler, **kw):
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"(TIMESTAMPDIFF(MICROSECOND, {start}, {end}) / 1000000.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element, compiler, **kw):
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


def empty_figures() -> dict[str, Any]:
    return {
        "job_counts": {},
        "queue_depth": {p.value: 0 for p in Priority},
        "oldest_queued_at": None,
        "completed_24h": 0,
        "dead_letter_24h": 0,
        "retried_24h": 0,
        "processing_seconds": 0.0,
        "processing_histogram": dict.fromkeys(BUCKET_KEYS, 0),
    }


def collect(rt: Runtime, scope: list[str] | None, now: datetime) -> dict[str, dict[str, Any]]:
    """The figures of each organization in `scope` (None: every one) that has jobs, read now."""
    figures: dict[str, dict[str, Any]] = {}

    def of(organization: str) -> dict[str, Any]:
        return figures.setdefault(organization, empty_figures())

    def scoped(stmt: sa.Select) -> sa.Select:
        return stmt if scope is None else stmt.where(bj.c.organization.in_(scope or [""]))

    queued = scoped(
        sa.select(bj.c.organization, bj.c.priority, sa.func.count().label("n"), sa.func.min(bj.c.queued_at).label("oldest"))
        .where(bj.c.status == JobStatus.QUEUED.value)
        .group_by(bj.c.organization, bj.c.priority)
    )
    for row in rt.execute(queued):
        entry = of(row["organization"])
        entry["queue_depth"][row["priority"]] = entry["queue_depth"].get(row["priority"], 0) + int(row["n"])
        entry["oldest_queued_at"] = _earliest(entry["oldest_queued_at"], row["oldest"])
    counts = scoped(
        sa.select(bj.c.organization, bj.c.status, sa.func.count().label("n")).group_by(bj.c.organization, bj.c.status)
    )
    for row in rt.execute(counts):
        of(row["organization"])["job_counts"][row["status"]] = int(row["n"])

    seconds = seconds_between(bj.c.started_at, bj.c.completed_at)
    finished = scoped(
        sa.select(
            bj.c.organization,
            bj.c.status,
            (bj.c.retry_count > 0).label("retried"),
            sa.case(*((seconds <= bound, i) for i, bound in enumerate(PROCESSING_BUCKETS)), else_=len(PROCESSING_BUCKETS))
            .label("bucket"),
            seconds.label("seconds"),
        ).where(
            bj.c.status.in_([JobStatus.COMPLETED.value, JobStatus.DEAD_LETTER.value]),
            bj.c.modified >= now - WINDOW,
        )
    ).subquery()
    grouped = sa.select(
        finished.c.organization,
        finished.c.status,
        finished.c.retried,
        finished.c.bucket,
        sa.func.count().label("n"),
        sa.func.sum(finished.c.seconds).label("seconds"),
    ).group_by(finished.c.organization, finished.c.status, finished.c.retried, finished.c.bucket)
    for row in rt.execute(grouped):
        entry, n = of(row["organization"]), int(row["n"])
        entry["retried_24h"] += n if row["retried"] else 0
        if row["status"] == JobStatus.DEAD_LETTER.value:
            entry["dead_letter_24h"] += n
            continue
        entry["completed_24h"] += n
        if row["seconds"] is not None:  # a row without its start or end time has no run time
            entry["processing_histogram"][BUCKET_KEYS[int(row["bucket"])]] += n
            entry["processing_seconds"] += float(row["seconds"])
    return figures


def combine(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The figures of several organizations together."""
    total = empty_figures()
    for part in parts:
        for key in ("job_counts", "queue_depth", "processing_histogram"):
            for name, n in part[key].items():
                total[key][name] = total[key].get(name, 0) + n
        for key in ("completed_24h", "dead_letter_24h", "retried_24h", "processing_seconds"):
            total[key] += part[key]
        total["oldest_queued_at"] = _earliest(total["oldest_queued_at"], part["oldest_queued_at"])
    return total


def take_snapshot(rt: Runtime) -> dict[str, Any]:
    """Replace the snapshot with one taken now, in the caller's transaction (the sweep commits it);
    returns the figures of every organization together, with `taken_at` and how many organizations
    have a row."""
    now = rt.now()
    figures = collect(rt, None, now)
    total = combine(figures.values())
    user = rt.current_user()
    stamp = now.strftime("%Y%m%d%H%M%S%f")
    rows = [
        {
            "name": f"{stamp}-{i}",
            "creation": now,
            "modified": now,
            "owner": user,
            "modified_by": user,
            "organization": organization,
            "taken_at": now,
            **_stored(entry),
        }
        for i, (organization, entry) in enumerate([(ALL, total), *sorted(figures.items())])
    ]
    rt.execute(sa.delete(snap))
    rt.execute(sa.insert(snap), rows)
    return {**total, "taken_at": now, "organizations": len(figures)}


def read_snapshot(rt: Runtime, scope: list[str] | None) -> tuple[datetime, dict[str, Any]] | None:
    """(taken_at, the figures of `scope` together) from the last snapshot; None when none was taken.
    An organization with no row had no jobs then."""
    if scope is None:
        rows = rt.execute(sa.select(snap).where(snap.c.organization.is_(None))).rows
    else:
        rows = rt.execute(
            sa.select(snap).where(sa.or_(snap.c.organization.is_(None), snap.c.organization.in_(scope or [""])))
        ).rows
    marker = next((row for row in rows if row["organization"] is None), None)
    if marker is None:
        return None
    mine = [row for row in rows if row["organization"] is not None and row["taken_at"] == marker["taken_at"]]
    figures = _loaded(marker) if scope is None else combine(_loaded(row) for row in mine)
    return marker["taken_at"], figures


def _stored(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        **entry,
        **{key: canonical_json(entry[key]) for key in ("job_counts", "queue_depth", "processing_histogram")},
    }


def _loaded(row: dict[str, Any]) -> dict[str, Any]:
    entry = empty_figures()
    for key in ("job_counts", "queue_depth", "processing_histogram"):
        entry[key].update(loads(row[key]) or {})
    entry["oldest_queued_at"] = row["oldest_queued_at"]
    for key in ("completed_24h", "dead_letter_24h", "retried_24h"):
        entry[key] = int(row[key] or 0)
    entry["processing_seconds"] = float(row["processing_seconds"] or 0)
    return entry


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min((v for v in (a, b) if v is not None), default=None)
