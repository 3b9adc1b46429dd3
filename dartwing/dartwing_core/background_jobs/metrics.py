"""get_job_metrics: the numbers an operator (or a member, for their organizations) watches.

Every figure is scoped to the organizations the caller may see, and every query is an indexed
range: counts by (organization, status), processing times over the last day's Completed rows
through (status, modified).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from . import schema, tenancy
from .errors import InvalidInputError, NotPermittedError
from .queries import MAX_NAME_LENGTH
from .runtime import Runtime, get_runtime
from .status import JobStatus, Priority

WINDOW = timedelta(hours=24)
MAX_TIMING_SAMPLES = 10_000
bj = schema.background_job


def get_job_metrics(organization: str | None = None, *, runtime: Runtime | None = None) -> dict[str, Any]:
    """Counts by status, queue depth by priority, processing times (24 h), failure and retry rates
    (24 h), Dead Letter size and the age of the oldest queued job. Reads in the caller's transaction
    and leaves it open."""
    rt = runtime or get_runtime()
    scope = scope_for(rt, organization)
    now = rt.now()

    def scoped(stmt: sa.Select) -> sa.Select:
        return stmt if scope is None else stmt.where(bj.c.organization.in_(scope))

    by_status = {
        row["status"]: int(row["n"])
        for row in rt.execute(
            scoped(sa.select(bj.c.status, sa.func.count().label("n")).group_by(bj.c.status))
        )
    }
    depth = {p.value: 0 for p in Priority}
    for row in rt.execute(
        scoped(
            sa.select(bj.c.priority, sa.func.count().label("n"))
            .where(bj.c.status == JobStatus.QUEUED.value)
            .group_by(bj.c.priority)
        )
    ):
        depth[row["priority"]] = int(row["n"])
    oldest = rt.execute(
        scoped(sa.select(sa.func.min(bj.c.queued_at)).where(bj.c.status == JobStatus.QUEUED.value))
    ).scalar()

    since = now - WINDOW
    durations = completed_durations(rt, scope, since)
    finished = {
        row["status"]: (int(row["n"]), int(row["retried"] or 0))
        for row in rt.execute(
            scoped(
                sa.select(
                    bj.c.status,
                    sa.func.count().label("n"),
                    sa.func.sum(sa.case((bj.c.retry_count > 0, 1), else_=0)).label("retried"),
                )
                .where(
                    bj.c.status.in_([JobStatus.COMPLETED.value, JobStatus.DEAD_LETTER.value]),
                    bj.c.modified >= since,
                )
                .group_by(bj.c.status)
            )
        )
    }
    done, done_retried = finished.get(JobStatus.COMPLETED.value, (0, 0))
    dead, dead_retried = finished.get(JobStatus.DEAD_LETTER.value, (0, 0))
    total = done + dead
    return {
        "organization": organization,
        "job_count_by_status": by_status,
        "queue_depth_by_priority": depth,
        "processing_time": {
            "samples": len(durations),
            "average_seconds": round(sum(durations) / len(durations), 3) if durations else None,
            "p95_seconds": round(_percentile(durations, 0.95), 3) if durations else None,
        },
        "failure_rate": round(dead / total, 4) if total else 0.0,
        "retry_rate": round((done_retried + dead_retried) / total, 4) if total else 0.0,
        "dead_letter_count": by_status.get(JobStatus.DEAD_LETTER.value, 0),
        "oldest_queued_age_seconds": round((now - oldest).total_seconds(), 3) if oldest else None,
        "window_hours": WINDOW.total_seconds() / 3600,
    }


def completed_durations(rt: Runtime, scope: list[str] | None, since) -> list[float]:
    """Seconds from start to completion of the newest Completed jobs since `since`, ascending."""
    stmt = (
        sa.select(bj.c.started_at, bj.c.completed_at)
        .where(bj.c.status == JobStatus.COMPLETED.value, bj.c.modified >= since)
        .order_by(bj.c.modified.desc())
        .limit(MAX_TIMING_SAMPLES)
    )
    if scope is not None:
        stmt = stmt.where(bj.c.organization.in_(scope))
    return sorted(
        (row["completed_at"] - row["started_at"]).total_seconds()
        for row in rt.execute(stmt)
        if row["started_at"] and row["completed_at"]
    )


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


def _percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(0, min(len(sorted_values) - 1, int(round(fraction * len(sorted_values) + 0.5)) - 1))
    return sorted_values[rank]
