"""Handing jobs to RQ: Queued in the database first, then one RQ message after the commit.

The row is the truth and RQ is the transport: the transition to Queued commits before the message is
sent, so a worker never sees a message whose row is not Queued yet. A crash in between leaves a
Queued row with no message, which the minute sweep re-sends; the RQ job id is derived from name and
attempt, so sending twice is harmless (the worker's claim is a compare-and-set).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .lifecycle import transition
from .runtime import Runtime
from .status import JobStatus, Priority

RUN_JOB = "dartwing.dartwing_core.background_jobs.execution.run_job"
# RQ statuses of a message that RQ will still deliver (or is delivering).
_DELIVERY_PENDING = frozenset({"queued", "started", "deferred", "scheduled"})


def pending_among(redis_client: Any, keys: dict[str, str]) -> set[str]:
    """Which of `keys` ({our id: RQ job id}) name an RQ job still waiting for delivery: the `status`
    field of each `rq:job:<id>` hash (RQ's own layout on 1.15 and 2.x), read in one pipeline."""
    if not keys:
        return set()
    with redis_client.pipeline(transaction=False) as pipe:
        for rq_id in keys.values():
            pipe.hget(f"rq:job:{rq_id}", "status")
        statuses = pipe.execute()
    return {
        ours
        for ours, status in zip(keys, statuses, strict=True)
        if status and waiting_for_delivery(status.decode() if isinstance(status, bytes) else status)
    }


def waiting_for_delivery(rq_status: Any) -> bool:
    """Whether an RQ job status (a JobStatus enum on rq 1.15 and 2.x, or its string) is still pending.

    `str(JobStatus.QUEUED)` reads "JobStatus.QUEUED" on both rq versions, so compare the value.
    """
    return str(getattr(rq_status, "value", rq_status)) in _DELIVERY_PENDING


def rq_job_id(job_name: str, attempt: int) -> str:
    return f"{job_name}-{attempt}"


def queue_for(job: dict[str, Any], job_type: dict[str, Any] | None = None) -> Priority:
    """The priority queue a job goes to: its Job Type's fixed queue, else its own priority."""
    override = (job_type or {}).get("queue")
    return Priority(override or job["priority"] or Priority.NORMAL)


def send(rt: Runtime, job: dict[str, Any], queue: Priority) -> bool:
    """Put the RQ message for the job's current attempt on its queue (no database write).

    A failure is logged, not raised: the row is already Queued and committed, and the minute sweep
    re-sends Queued jobs that RQ does not hold.
    """
    attempt = int(job.get("attempt") or 0)
    try:
        rt.enqueue(
            queue.value,
            rq_job_id(job["name"], attempt),
            {"background_job": job["name"], "attempt": attempt},
            int(job["timeout"]),
        )
    except Exception as exc:  # noqa: BLE001 - any transport error leaves the job to the sweep
        rt.log_error(
            "Dartwing enqueue failed", f"{job['name']} attempt {attempt}: {exc!r}; the sweep will resend it"
        )
        return False
    return True


def queued_values(rt: Runtime, job: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The columns a move to Queued at `now` (default: the runtime's clock) writes besides the status.
    A queued job has no worker: the last one stays in the log rows of the attempts it ran, not on the
    row (or the log row) of the next."""
    attempt = int(job.get("attempt") or 0)
    return {
        "queued_at": now or rt.now(),
        "rq_job_id": rq_job_id(job["name"], attempt),
        "next_retry_at": None,
        "worker": None,
    }


def send_after_commit(rt: Runtime, job: dict[str, Any], queue: Priority) -> None:
    rt.after_commit(lambda: send(rt, job, queue))


def mark_queued(rt: Runtime, job: dict[str, Any], queue: Priority, *, message: str | None = None) -> bool:
    """Move the job to Queued in the current transaction; its RQ message goes out after the commit."""
    if not transition(rt, job, JobStatus.QUEUED, values=queued_values(rt, job), message=message):
        return False
    send_after_commit(rt, job, queue)
    return True


def queue_and_send(rt: Runtime, job: dict[str, Any], queue: Priority, *, message: str | None = None) -> bool:
    """`mark_queued` in a transaction of its own, committed (which sends the message)."""
    if not mark_queued(rt, job, queue, message=message):
        rt.rollback()
        return False
    rt.commit()
    return True
