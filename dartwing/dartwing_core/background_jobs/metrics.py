"""get_job_metrics: the numbers an operator (or a member, for their organizations) watches.

Every figure is scoped to the organizations the caller may see, and no read counts the jobs table:

- counts by status and queue depth by priority are the last metrics snapshot's (snapshots.py, at
  most 5 minutes old while the scheduler runs) plus the transitions logged since, read from the
  Job Execution Log through `(organization, timestamp)` (or its `modified` index for every
  organization), at most LIVE_LOG_ROWS of them; so they are live. When more were logged, the
  snapshot's figures are given as they are (`live` false). A job deleted since the snapshot stays
  counted until the next one (a deletion logs no transition);
- the oldest queued job is read live: the first Queued entry of `(status, modified)` or of each
  organization's `(organization, status, modified)` (nothing else writes a Queued row, so its
  `modified` is when it was queued);
- the 24-hour figures (processing times, failure and retry rates) are the snapshot's, as of
  `snapshot_at`;
- before the first snapshot there is nothing to add to, and the figures are counted from the jobs
  themselves (`snapshot_at` None), as the snapshot would count them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import schema, snapshots, tenancy
from .errors import InvalidInputError, NotPermittedError
from .queries import MAX_NAME_LENGTH
from .runtime import Runtime, get_runtime
from .status import JobStatus, Priority

LIVE_LOG_ROWS = 20_000
bj, log = schema.background_job, schema.job_execution_log
QUEUED = JobStatus.QUEUED.value


def get_job_metrics(organization: str | None = None, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Counts by status, queue depth by priority, processing times (24 h), failure and retry rates
    (24 h), Dead Letter size and the age of the oldest queued job (see the module doc for how fresh
    each is). Reads in the caller's transaction and leaves it open."""
    rt = runtime or get_runtime()
    scope = scope_for(rt, organization)
    now = rt.now()
    taken = snapshots.read_snapshot(rt, scope)
    if taken is None:
        snapshot_at, live = None, True
        figures = snapshots.combine(snapshots.collect(rt, scope, now).values())
    else:
        snapshot_at, figures = taken
        live = _add_transitions_since(rt, scope, snapshot_at, figures)
    by_status = {status: n for status, n in figures["job_counts"].items() if n > 0}
    depth = {p.value: max(0, figures["queue_depth"].get(p.value, 0)) for p in Priority}
    oldest = _oldest_queued(rt, scope)
    done, dead = figures["completed_24h"], figures["dead_letter_24h"]
    finished = done + dead
    histogram = figures["processing_histogram"]
    samples = sum(histogram.values())
    return {
        "organization": organization,
        "job_count_by_status": by_status,
        "queue_depth_by_priority": depth,
        "processing_time": {
            "samples": samples,
            "average_seconds": round(figures["processing_seconds"] / samples, 3) if samples else None,
            "p95_seconds": round(_quantile(histogram, 0.95), 3) if samples else None,
            "buckets": histogram,
            "total_seconds": round(figures["processing_seconds"], 3),
        },
        "failure_rate": round(dead / finished, 4) if finished else 0.0,
        "retry_rate": round(figures["retried_24h"] / finished, 4) if finished else 0.0,
        "dead_letter_count": by_status.get(JobStatus.DEAD_LETTER.value, 0),
        "oldest_queued_age_seconds": round(max(0.0, (now - oldest).total_seconds()), 3) if oldest else None,
        "window_hours": snapshots.WINDOW.total_seconds() / 3600,
        "snapshot_at": rt.aware(snapshot_at) if snapshot_at else None,
        "live": live,
    }


def _add_transitions_since(rt: Runtime, scope: list[str] | None, since, figures: dict[str, Any]) -> bool:
    """Add to the snapshot's counts and queue depth the transitions logged since it was taken (each
    moves a job out of one status and into another); False, leaving them as they are, when more than
    LIVE_LOG_ROWS were."""
    if scope is None:
        recent = sa.select(log.c.background_job, log.c.from_status, log.c.to_status).where(log.c.modified >= since)
    else:
        recent = sa.select(log.c.background_job, log.c.from_status, log.c.to_status).where(
            log.c.organization.in_(scope or [""]), log.c.timestamp >= since
        )
    moved = recent.limit(LIVE_LOG_ROWS + 1).subquery()
    # a move into or out of Queued also changes its priority's depth: that job's row, by primary key
    queue_move = sa.or_(moved.c.from_status == QUEUED, moved.c.to_status == QUEUED)
    stmt = (
        sa.select(moved.c.from_status, moved.c.to_status, bj.c.priority, sa.func.count().label("n"))
        .select_from(moved.outerjoin(bj, sa.and_(bj.c.name == moved.c.background_job, queue_move)))
        .group_by(moved.c.from_status, moved.c.to_status, bj.c.priority)
    )
    rows = rt.execute(stmt).rows
    if sum(int(row["n"]) for row in rows) > LIVE_LOG_ROWS:
        return False
    counts, depth = figures["job_counts"], figures["queue_depth"]
    for row in rows:
        n = int(row["n"])
        counts[row["to_status"]] = counts.get(row["to_status"], 0) + n
        if row["from_status"] is not None:  # None: the job's submit
            counts[row["from_status"]] = counts.get(row["from_status"], 0) - n
        if row["priority"] is not None:
            sign = (row["to_status"] == QUEUED) - (row["from_status"] == QUEUED)
            depth[row["priority"]] = depth.get(row["priority"], 0) + sign * n
    return True


def _oldest_queued(rt: Runtime, scope: list[str] | None):
    """When the longest-waiting Queued job was queued: one index entry per organization."""
    if scope is None:
        return rt.execute(sa.select(sa.func.min(bj.c.modified)).where(bj.c.status == QUEUED)).scalar()
    firsts = (
        sa.select(sa.func.min(bj.c.modified).label("first"))
        .where(bj.c.organization.in_(scope or [""]), bj.c.status == QUEUED)
        .group_by(bj.c.organization)
    )
    return min((row["first"] for row in rt.execute(firsts) if row["first"] is not None), default=None)


def scope_for(rt: Runtime, organization: str | None) -> list[str] | None:
    """The organizations a read covers: the one named (if the caller may see it), else all the
    caller may see (None: every organization, for an administrator)."""
    visible = tenancy.visible_organizations(rt, rt.current_user())
    if organization is None:
        return visible
    if not isinstance(organization, str) or not 1 <= len(organization) <= MAX_NAME_LENGTH:
        raise InvalidInputError(f"organization must be a string of 1 to {MAX_NAME_LENGTH} characters")
    if visible is not None and organization not in visible:
        raise NotPermittedError(
            f"User {rt.current_user()} is not an active member of organization {organization}"
        )
    return [organization]


def _quantile(histogram: dict[str, int], fraction: float) -> float:
    """The `fraction` quantile of a run-time histogram, interpolated within its bucket (as Prometheus'
    histogram_quantile does); the last finite bound when it falls in the open bucket."""
    rank, seen, lower = fraction * sum(histogram.values()), 0, 0.0
    for key, bound in zip(snapshots.BUCKET_KEYS, snapshots.PROCESSING_BUCKETS, strict=False):
        n = histogram.get(key, 0)
        if n and seen + n >= rank:
            return lower + (bound - lower) * (rank - seen) / n
        seen, lower = seen + n, bound
    return snapshots.PROCESSING_BUCKETS[-1]
