"""Status transitions: the only code that changes a job's status.

A transition is one compare-and-set UPDATE (on the status the caller saw, and on `attempt` when the
writer is a worker, so a worker that lost its lease cannot overwrite a newer attempt), plus its Job
Execution Log row in the same transaction, plus a `job_status_changed` event published after commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from . import schema
from .errors import InvalidTransitionError
from .events import publish_status_changed
from .runtime import Runtime
from .status import TERMINAL, JobStatus, can_transition

# Statuses whose event carries the job's error message (elsewhere it would be a stale one).
_REPORTS_ERROR = frozenset({JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.DEAD_LETTER, JobStatus.CANCELED})


def write_log(
    rt: Runtime,
    job: dict[str, Any],
    *,
    from_status: str | None,
    to_status: str,
    now: datetime,
    message: str | None = None,
    error_type: str | None = None,
    duration_ms: int | None = None,
    worker: str | None = None,
) -> None:
    user = rt.current_user()
    name = rt.next_autoincrement("Job Execution Log")
    rt.execute(
        sa.insert(schema.job_execution_log).values(
            **({} if name is None else {"name": name}),
            creation=now,
            modified=now,
            owner=user,
            modified_by=user,
            background_job=job["name"],
            organization=job["organization"],
            from_status=from_status,
            to_status=to_status,
            attempt=job.get("attempt") or 0,
            message=message,
            error_type=error_type,
            duration_ms=duration_ms or 0,
            worker=worker if worker is not None else job.get("worker"),
            timestamp=now,
        )
    )


def transition(
    rt: Runtime,
    job: dict[str, Any],
    to_status: JobStatus,
    *,
    values: dict[str, Any] | None = None,
    fence_attempt: int | None = None,
    message: str | None = None,
    duration_ms: int | None = None,
) -> bool:
    """Move `job` from the status it holds to `to_status`; False if someone else changed it first.

    On success `job` is updated in place with the written values. Raises InvalidTransitionError when
    the table forbids the move, before touching the database.
    """
    from_status = JobStatus(job["status"])
    if not can_transition(from_status, to_status):
        raise InvalidTransitionError(
            f"Background Job {job['name']} cannot go from {from_status} to {to_status}"
        )
    now = rt.now()
    changes = {"status": to_status.value, "modified": now, "modified_by": rt.current_user(), **(values or {})}
    if to_status in TERMINAL:
        changes["job_hash"] = None  # a finished job gives up its dedup slot
    bj = schema.background_job
    stmt = sa.update(bj).where(bj.c.name == job["name"], bj.c.status == from_status.value)
    if fence_attempt is not None:
        stmt = stmt.where(bj.c.attempt == fence_attempt)
    if rt.execute(stmt.values(**changes)).rowcount != 1:
        return False
    job.update(changes)
    write_log(
        rt,
        job,
        from_status=from_status.value,
        to_status=to_status.value,
        now=now,
        message=message,
        error_type=changes.get("error_type"),
        duration_ms=duration_ms,
    )
    publish_status_changed(
        rt,
        job_id=job["name"],
        organization=job["organization"],
        from_status=from_status.value,
        to_status=to_status.value,
        updated_at=now,
        output_reference=job.get("output_reference"),
        error_message=job.get("error_message") if to_status in _REPORTS_ERROR else None,
    )
    from .release import after_transition  # release moves other jobs through this module

    after_transition(rt, job, from_status, to_status)
    return True
