"""Operator and client actions on one job: cancel, manual retry and delete.

Each joins the caller's transaction and never commits or rolls it back: the caller (a request, a CLI
command, a test) commits once, and what the action sends to RQ (a removed message, a new message, a
stop command) leaves only after that commit. An action that raises leaves the transaction as it was
(its writes are undone to a savepoint), though the row lock it took is held until the caller ends it.
"""

from __future__ import annotations

import sqlalchemy as sa

from . import schema, tenancy
from .cleanup import delete_batch
from .errors import InvalidTransitionError, NotPermittedError
from .lifecycle import transition
from .queries import load_visible_job, public_view
from .queueing import mark_queued, queue_for, rq_job_id
from .records import JobRecord, fetch_job_type
from .runtime import Runtime, get_runtime
from .status import RETRYABLE, TERMINAL, JobStatus

CANCEL_AT_ONCE = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.FAILED, JobStatus.TIMED_OUT)


def cancel_job(job_id: str, *, force: bool = False, runtime: Runtime | None = None) -> JobRecord:
    """Cancel a job in the caller's transaction and return its resulting state.

    Pending, Queued, Failed and Timed Out jobs are Canceled at once (their RQ message is removed after
    the commit). A Running job gets `cancel_requested`, honoured at its next progress update or cancel
    check; with `force`, its RQ job is also told to stop after the commit. Finished jobs raise
    InvalidTransitionError.
    """
    rt = runtime or get_runtime()
    with rt.savepoint():
        return _cancel(rt, job_id, force)


def _cancel(rt: Runtime, job_id: str, force: bool) -> JobRecord:
    job = load_visible_job(rt, job_id, for_update=True)  # the row lock keeps its status still
    status = JobStatus(job["status"])
    if status in CANCEL_AT_ONCE:
        message = f"Canceled by {rt.current_user()}"
        if not transition(rt, job, JobStatus.CANCELED, values={"completed_at": rt.now()}, message=message):
            raise InvalidTransitionError(f"Background Job {job['name']} changed while canceling; try again")
        queued_message = rq_job_id(job["name"], int(job["attempt"]))
        rt.after_commit(lambda: rt.remove_message(queued_message))
    elif status is JobStatus.RUNNING:
        bj = schema.background_job
        rt.execute(
            sa.update(bj).where(bj.c.name == job["name"]).values(cancel_requested=1, modified=rt.now())
        )
        job["cancel_requested"] = 1
        if force:
            running_message = rq_job_id(job["name"], int(job["attempt"]) - 1)
            rt.after_commit(lambda: rt.stop_running(running_message))
    else:
        raise InvalidTransitionError(f"Background Job {job['name']} is {status} and cannot be canceled")
    return public_view(rt, job)


def retry_job(job_id: str, *, runtime: Runtime | None = None) -> JobRecord:
    """Administrators put a Dead Letter, Failed, Timed Out or Canceled job back in the queue, in the
    caller's transaction (its RQ message leaves after the commit).

    The retry count starts again from zero; the Job Execution Log records who retried it.
    """
    rt = runtime or get_runtime()
    with rt.savepoint():
        return _retry(rt, job_id)


def _retry(rt: Runtime, job_id: str) -> JobRecord:
    user = rt.current_user()
    job = load_visible_job(rt, job_id, for_update=True)
    if not tenancy.is_admin(rt, user):
        raise NotPermittedError("Only a System Manager or Job Administrator may retry jobs")
    if JobStatus(job["status"]) not in RETRYABLE:
        raise InvalidTransitionError(f"Background Job {job['name']} is {job['status']} and cannot be retried")
    bj = schema.background_job
    rt.execute(sa.update(bj).where(bj.c.name == job["name"]).values(retry_count=0, cancel_requested=0))
    job.update(retry_count=0, cancel_requested=0)
    queue = queue_for(job, fetch_job_type(rt, job["job_type"]))
    if not mark_queued(rt, job, queue, message=f"Manual retry by {user}"):
        raise InvalidTransitionError(f"Background Job {job['name']} changed while retrying; try again")
    return public_view(rt, job)


def delete_job(job_id: str, *, runtime: Runtime | None = None) -> dict:
    """Administrators delete a finished job (Completed, Canceled, Dead Letter) with its log, in the
    caller's transaction."""
    rt = runtime or get_runtime()
    with rt.savepoint():
        job = load_visible_job(rt, job_id, for_update=True)
        if not tenancy.is_admin(rt, rt.current_user()):
            raise NotPermittedError("Only a System Manager or Job Administrator may delete jobs")
        if JobStatus(job["status"]) not in TERMINAL:
            raise InvalidTransitionError(
                f"Background Job {job['name']} is {job['status']}; only finished jobs can be deleted"
            )
        delete_batch(rt, [job["name"]])
    return {"job_id": job["name"], "deleted": True}
