"""Daily cleanup: finished jobs older than the retention period go, with their logs, in batches.

Each batch is one short transaction (select a few hundred names through the (status, modified)
index, delete their log rows, delete the jobs, commit), so the cleanup never holds long locks and
its cost follows the rows it deletes. Dead Letter jobs count as finished: after 30 days an operator
has had their chance to retry them.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from . import schema
from .runtime import Runtime, get_runtime
from .status import TERMINAL

RETENTION_DAYS = 30
CLEANUP_BATCH = 500
bj, log, dep = schema.background_job, schema.job_execution_log, schema.job_dependency


def expired_query(cutoff, status: str, batch: int) -> sa.Select:
    return sa.select(bj.c.name).where(bj.c.status == status, bj.c.modified < cutoff).limit(batch)


def delete_batch(rt: Runtime, names: list[str]) -> None:
    rt.execute(sa.delete(log).where(log.c.background_job.in_(names)))
    rt.execute(sa.delete(dep).where(dep.c.parent.in_(names)))
    # A child whose parent is deleted keeps a dangling depends_on (and Job Dependency row); it only
    # matters while Pending, and a Pending child of a finished parent has been released or canceled.
    rt.execute(sa.delete(bj).where(bj.c.name.in_(names)))


def cleanup_old_jobs(
    *,
    retention_days: int = RETENTION_DAYS,
    batch: int = CLEANUP_BATCH,
    max_batches: int | None = None,
    runtime: Runtime | None = None,
) -> int:
    """Delete terminal jobs not modified for `retention_days`; returns how many were deleted.

    Commits after each batch, so a long cleanup holds no lock for long: it is the daily sweep's and
    the `cleanup` job's entry point, never a step inside someone else's transaction.
    """
    rt = runtime or get_runtime()
    cutoff = rt.now() - timedelta(days=retention_days)
    deleted = batches = 0
    for status in sorted(s.value for s in TERMINAL):
        while max_batches is None or batches < max_batches:
            names = [row["name"] for row in rt.execute(expired_query(cutoff, status, batch))]
            if not names:
                rt.rollback()
                break
            delete_batch(rt, names)
            rt.commit()
            deleted += len(names)
            batches += 1
    return deleted
