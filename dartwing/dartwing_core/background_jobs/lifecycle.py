"""Status transitions: the only code that changes a job's status.

A transition is one compare-and-set UPDATE (on the status the caller saw, and on `attempt` when the
writer is a worker, so a worker that lost its lease cannot overwrite a newer attempt), plus its Job
Execution Log row in the same transaction, plus a `job_status_changed` event published after commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import group_commit
from .errors import InvalidTransitionError
from .events import publish_status_changed
from .runtime import Runtime
from .statements import statement
from .status import TERMINAL, JobStatus, can_transition

LOG_DOCTYPE = "Job Execution Log"
# Statuses whose event carries the job's error message (elsewhere it would be a stale one).
_REPORTS_ERROR = frozenset({JobStatus.FAILED, JobStatus.TIMED_OUT, JobStatus.DEAD_LETTER, JobStatus.CANCELED})


@statement
def _INSERT_LOG(sa, t):
    return sa.insert(t.job_execution_log)


# Compare-and-set on the status the caller saw; the SET columns come from the parameters.
@statement
def _SET_IF_STATUS(sa, t):
    bj = t.background_job
    return sa.update(bj).where(bj.c.name == sa.bindparam("where_name"), bj.c.status == sa.bindparam("where_status"))


@statement
def _SET_IF_STATUS_AND_ATTEMPT(sa, t):
    return _SET_IF_STATUS.build().where(t.background_job.c.attempt == sa.bindparam("where_attempt"))


# As _SET_IF_STATUS_AND_ATTEMPT, and only if no job waits for this one (no Job Dependency row names
# it): a finish that matches proves it has no children to settle, without reading them.
@statement
def _SET_IF_STATUS_AND_ATTEMPT_CHILDLESS(sa, t):
    bj, dep = t.background_job, t.job_dependency
    children = sa.select(dep.c.name).where(dep.c.depends_on == bj.c.name).exists()
    return _SET_IF_STATUS_AND_ATTEMPT.build().where(~children)


def _log_entry(
    rt: Runtime,
    job: dict[str, Any],
    *,
    from_status: str | None,
    to_status: str,
    now: datetime,
    message: str | None = None,
    error_type: str | None = None,
    duration_ms: int | None = None,
    named: bool = True,
) -> dict[str, Any]:
    """One Job Execution Log row for a move of `job` (`named=False`: the caller names it)."""
    user = rt.current_user()
    name = rt.next_autoincrement(LOG_DOCTYPE) if named else None
    return {
        **({} if name is None else {"name": name}),
        "creation": now,
        "modified": now,
        "owner": user,
        "modified_by": user,
        "background_job": job["name"],
        "organization": job["organization"],
        "from_status": from_status,
        "to_status": to_status,
        "attempt": job.get("attempt") or 0,
        "message": message,
        "error_type": error_type,
        "duration_ms": duration_ms or 0,
        "worker": job.get("worker"),
        "timestamp": now,
    }


def _write_log(rt: Runtime, *entries: dict[str, Any]) -> None:
    """Insert `_log_entry` rows, with any a held outcome left to this transaction (group_commit);
    several go in one statement (one round trip)."""
    rows = [*group_commit.take_log_rows(), *entries]
    rt.execute(_INSERT_LOG, rows if len(rows) > 1 else rows[0])


def write_held_log_rows(rt: Runtime) -> None:
    """Insert the log rows a held outcome left, if no other log INSERT of its transaction took them."""
    rows = group_commit.take_log_rows()
    if rows:
        rt.execute(_INSERT_LOG, rows if len(rows) > 1 else rows[0])


def record_submit(rt: Runtime, job: dict[str, Any], now: datetime) -> None:
    """Log a job its submit just inserted. One inserted already Queued (nothing held it) also logs
    and announces its Pending → Queued move, as if it had been inserted Pending and then moved."""
    rows = submit_log_rows(rt, job, now)
    name_log_rows(rt, rows)
    _write_log(rt, *rows)
    announce_submit(rt, job, now)


def submit_log_rows(rt: Runtime, job: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """The log rows `record_submit` writes for `job`, not yet named (a bulk submit names many jobs'
    rows at once: `name_log_rows`)."""
    pending = JobStatus.PENDING.value
    submitted = _log_entry(rt, job, from_status=None, to_status=pending, now=now, message="Submitted", named=False)
    if job["status"] == pending:
        return [submitted]
    return [submitted, {**submitted, "from_status": pending, "to_status": job["status"], "message": None}]


def name_log_rows(rt: Runtime, rows: list[dict[str, Any]]) -> None:
    """Name new log rows in one statement (Frappe: one read of the sequence for all of them, not one
    round trip each); where the database names rows itself they stay unnamed."""
    names = rt.next_autoincrements(LOG_DOCTYPE, len(rows))
    if names is not None:
        for entry, name in zip(rows, names, strict=True):
            entry["name"] = name


def announce_submit(rt: Runtime, job: dict[str, Any], now: datetime) -> None:
    """The event of a job inserted already Queued (one inserted Pending announces its release)."""
    if job["status"] != JobStatus.PENDING.value:
        _announce(rt, job, JobStatus.PENDING.value, JobStatus(job["status"]), now, new_job=True)


def transition(
    rt: Runtime,
    job: dict[str, Any],
    to_status: JobStatus,
    *,
    values: dict[str, Any] | None = None,
    fence_attempt: int | None = None,
    message: str | None = None,
    duration_ms: int | None = None,
    hold_log: bool = False,
    childless_first: bool = False,
) -> bool:
    """Move `job` from the status it holds to `to_status`; False if someone else changed it first.

    On success `job` is updated in place with the written values. Raises InvalidTransitionError when
    the table forbids the move, before touching the database. `hold_log`: the log row is left to the
    transaction's next log INSERT or to `write_held_log_rows` (a held outcome, group_commit.py).
    `childless_first` (a worker's fenced finish): first try the UPDATE that also requires that no
    job waits for this one, which spares the read of its children (almost every job has none); only
    a job with children, or one that lost its lease, runs the plain UPDATE after it.
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
    where = {"where_name": job["name"], "where_status": from_status.value}
    stmt = _SET_IF_STATUS
    if fence_attempt is not None:
        stmt, where["where_attempt"] = _SET_IF_STATUS_AND_ATTEMPT, fence_attempt
    childless = childless_first and fence_attempt is not None
    if childless and rt.execute(_SET_IF_STATUS_AND_ATTEMPT_CHILDLESS, {**where, **changes}).rowcount != 1:
        childless = False
    if not childless and rt.execute(stmt, {**where, **changes}).rowcount != 1:
        return False
    job.update(changes)
    entry = _log_entry(
        rt,
        job,
        from_status=from_status.value,
        to_status=to_status.value,
        now=now,
        message=message,
        error_type=changes.get("error_type"),
        duration_ms=duration_ms,
    )
    if hold_log:
        group_commit.hold(job["name"], [entry])
    else:
        _write_log(rt, entry)
    _announce(rt, job, from_status.value, to_status, now)
    from .release import after_transition  # release moves other jobs through this module

    after_transition(rt, job, from_status, to_status, childless=childless)
    return True


def _announce(
    rt: Runtime, job: dict[str, Any], from_status: str, to_status: JobStatus, now: datetime, *, new_job: bool = False
) -> None:
    publish_status_changed(
        rt,
        job_id=job["name"],
        organization=job["organization"],
        from_status=from_status,
        to_status=to_status.value,
        updated_at=now,
        output_reference=job.get("output_reference"),
        error_message=job.get("error_message") if to_status in _REPORTS_ERROR else None,
        new_job=new_job,
    )
