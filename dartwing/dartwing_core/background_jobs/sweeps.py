"""The minute sweeps that make the guarantees hold after crashes.

- due retries: Failed / Timed Out jobs whose `next_retry_at` has passed go back to Queued;
- orphans: Running jobs whose heartbeat stopped (worker killed) are failed and queued again at
  once. A lost worker is not the handler's failure: the backoff exists to spare a failing handler's
  dependencies, and a crash says nothing about them, while the silence before the sweep noticed it
  has already cost 35-45 s. The run still counts as a retry, so a job that kills its worker every
  time (out of memory, say) ends in Dead Letter after max_retries + 1 runs;
- delayed: Pending jobs whose run time has come, for when no delay releaser runs (delays.py);
- outbox: Pending jobs that were never released (crash after commit, parent done, slot free) are
  released (or canceled, if the parent ended Dead Letter / Canceled before they committed), and
  Queued jobs whose RQ message is gone (Redis flushed or restarted) are re-sent.

Each selects with an indexed range query and a batch limit, so its cost follows the rows it touches.
Each job is handled in its own transaction: one bad row cannot block the rest. The outbox sweep pages
through every stale row (keyset pagination), not just the oldest batch: rows that rightly stay where
they are — a capped tenant's waiting flood, a backlog RQ still holds — must not hide newer rows that
need it, such as another tenant's job stranded by a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

import sqlalchemy as sa

from . import schema
from .outcomes import fail, finish
from .queueing import queue_and_send, queue_for, send
from .records import JobRecord, fetch_job
from .release import held_by_time, release_or_settle
from .retry_policy import ErrorType
from .runtime import Runtime, get_runtime
from .settings import settings
from .status import JobStatus

log = logging.getLogger(__name__)

SWEEP_BATCH = 500
bj, jt = schema.background_job, schema.job_type


def _with_type_queue() -> sa.Select:
    return sa.select(bj, jt.c.queue.label("type_queue")).select_from(
        bj.join(jt, jt.c.name == bj.c.job_type, isouter=True)
    )


def _rows(rt: Runtime, stmt: sa.Select) -> list[JobRecord]:
    rows = [JobRecord(row) for row in rt.execute(stmt).rows]
    rt.rollback()
    return rows


def due_retry_query(now, batch: int = SWEEP_BATCH) -> sa.Select:
    return (
        _with_type_queue()
        .where(
            bj.c.status.in_([JobStatus.FAILED.value, JobStatus.TIMED_OUT.value]), bj.c.next_retry_at <= now
        )
        .order_by(bj.c.next_retry_at)
        .limit(batch)
    )


def orphan_query(cutoff, batch: int = SWEEP_BATCH) -> sa.Select:
    return (
        _with_type_queue()
        .where(bj.c.status == JobStatus.RUNNING.value, bj.c.heartbeat_at < cutoff)
        .order_by(bj.c.heartbeat_at)
        .limit(batch)
    )


def stale_query(status: JobStatus, cutoff, batch: int = SWEEP_BATCH, after: tuple | None = None) -> sa.Select:
    """Rows of `status` untouched since `cutoff`, oldest first; `after` = (modified, name) of the
    previous page's last row. A delayed job waiting for its run time is nobody's leftover (the delay
    releaser and `release_due` queue it); a released one ran its run time before `cutoff`."""
    stmt = _with_type_queue().where(
        bj.c.status == status.value,
        bj.c.modified < cutoff,
        sa.or_(bj.c.run_at.is_(None), bj.c.run_at < cutoff),
    )
    if after is not None:
        modified, name = after
        stmt = stmt.where(
            sa.or_(bj.c.modified > modified, sa.and_(bj.c.modified == modified, bj.c.name > name))
        )
    return stmt.order_by(bj.c.modified, bj.c.name).limit(batch)


def _stale_pages(rt: Runtime, status: JobStatus, cutoff, batch: int) -> Iterator[list[JobRecord]]:
    """Every stale row of `status`, a page of `batch` per read."""
    after = None
    while True:
        page = _rows(rt, stale_query(status, cutoff, batch, after))
        if page:
            yield page
        if len(page) < batch:
            return
        after = (page[-1]["modified"], page[-1]["name"])


def requeue_due_retries(
    *, runtime: Runtime | None = None, batch: int = SWEEP_BATCH, due_by: datetime | None = None
) -> int:
    """Returns how many jobs went back to Queued: those due now, or by `due_by` (testing.drain_jobs)."""
    rt = runtime or get_runtime()
    requeued = 0
    for job in _rows(rt, due_retry_query(due_by or rt.now(), batch)):
        requeued += queue_and_send(
            rt, job, queue_for(job, {"queue": job.pop("type_queue")}), message="Retry due"
        )
    return requeued


def recover_orphans(*, runtime: Runtime | None = None, batch: int = SWEEP_BATCH) -> int:
    """Running jobs with no heartbeat for `orphan_after_seconds`: fail them and queue them again at
    once while retries remain (else Dead Letter), or cancel them if a cancel was requested (a forced
    stop ends the same way). Returns how many."""
    rt = runtime or get_runtime()
    silence = timedelta(seconds=settings().orphan_after_seconds)
    recovered = 0
    for job in _rows(rt, orphan_query(rt.now() - silence, batch)):
        attempt = int(job["attempt"])
        type_queue = job.pop("type_queue")
        if job["cancel_requested"]:
            status = finish(
                rt, job, attempt, JobStatus.CANCELED, {"completed_at": rt.now()}, "Canceled; worker stopped"
            )
        else:
            message = f"Worker {job['worker']} lost: no heartbeat since {job['heartbeat_at']}"
            status = fail(
                rt,
                job,
                attempt,
                error_type=ErrorType.TRANSIENT,
                error_message=message,
                retry_delay=timedelta(0),
            )
            if status == JobStatus.FAILED.value and (failed := fetch_job(rt, job["name"])):
                queued = queue_and_send(
                    rt,
                    failed,
                    queue_for(failed, {"queue": type_queue}),
                    message="Re-run after the worker was lost",
                )
                status = JobStatus.QUEUED.value if queued else status
        recovered += status != JobStatus.RUNNING.value
        log.warning("recovered orphaned job %s (attempt %s) -> %s", job["name"], attempt, status)
    return recovered


def recover_outbox(*, runtime: Runtime | None = None, batch: int = SWEEP_BATCH) -> int:
    """Release Pending jobs left behind and re-send Queued jobs RQ lost. Returns how many moved."""
    rt = runtime or get_runtime()
    cutoff = rt.now() - timedelta(seconds=settings().outbox_grace_seconds)
    moved = 0
    # (organization, job type) pairs found at their cap in this sweep: slots only free up when a job
    # finishes, and that finish releases the waiting jobs itself, so their other rows can be skipped.
    at_cap: set[tuple[str, str]] = set()
    for job in (job for page in _stale_pages(rt, JobStatus.PENDING, cutoff, batch) for job in page):
        job.pop("type_queue")
        pair = (job["organization"], job["job_type"])
        if (pair in at_cap and not job["depends_on"]) or held_by_time(job):
            continue  # a rate-held job: rate_limits.release_all_due, in the same minute sweep
        if release_or_settle(rt, job, message="Released by sweep"):
            rt.commit()
            moved += 1
        else:
            rt.rollback()
            if not job["depends_on"]:
                at_cap.add(pair)
    # A backlog keeps many Queued rows older than the grace period: ask RQ about a page at a time.
    for page in _stale_pages(rt, JobStatus.QUEUED, cutoff, batch):
        pending = rt.messages_pending([job["rq_job_id"] or "" for job in page])
        for job in page:
            queue = queue_for(job, {"queue": job.pop("type_queue")})
            if (job["rq_job_id"] or "") not in pending:
                moved += send(rt, job, queue)
                log.warning("re-sent lost RQ message of %s", job["name"])
    return moved
