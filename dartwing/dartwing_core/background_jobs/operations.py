"""Operator and client actions on one job: cancel, manual retry and delete."""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from . import schema, tenancy
from .cleanup import delete_batch
from .errors import InvalidTransitionError, NotPermittedError
from .lifecycle import transition
from .queries import load_visible_job, public_view
from .queueing import queue_and_send, queue_for, rq_job_id
from .records import JobRecord, fetch_job_type
from .runtime import Runtime, get_runtime
from .status import RETRYABLE, TERMINAL, JobStatus


@contextmanager
def _rolled_back_on_error(rt: Runtime):
    """These actions commit their own work; on an error they leave nothing behind, not even a lock."""
    try:
        yield
    except BaseException:
        rt.rollback()
        raise


_CANCEL_AT_ONCE = (JobStatus.PENDING, JobStatus.QUEUED, JobStatus.FAILED, JobStatus.TIMED_OUT)


def cancel_job(job_id: str, *, force: bool = False, runtime: Runtime | None = None) -> JobRecord:
    """Cancel a job and return its resulting state (commits).

    Pending, Queued, Failed and Timed Out jobs are Canceled at once (and their RQ message removed).
    A Running job gets `cancel_requested`, honoured at its next progress update or cancel check;
    with `force`, its RQ job is also told to stop. Finished jobs raise InvalidTransitionError.
    """
    rt = runtime or get_runtime()
    with _rolled_back_on_error(rt):
        return _cancel(rt, job_id, force)


def _cancel(rt: Runtime, job_id: str, force: bool) -> JobRecord:
    job = load_visible_job(rt, job_id, for_update=True)
    status = JobStatus(job["status"])
    user = rt.current_user()
    if status in _CANCEL_AT_ONCE:
        if not transition(
            rt, job, JobStatus.CANCELED, values={"completed_at": rt.now()}, message=f"Canceled by {user}"
        ):
            rt.rollback()
            return _cancel(rt, job_id, force)  # it moved under us: decide again
        rt.commit()
        rt.remove_message(rq_job_id(job["name"], int(job["attempt"])))
    elif status is JobStatus.RUNNING:
        bj = schema.background_job
        rt.execute(
            sa.update(bj).where(bj.c.name == job["name"]).values(cancel_requested=1, modified=rt.now())
        )
        job["cancel_requested"] = 1
        rt.commit()
        if force:
            rt.stop_running(rq_job_id(job["name"], int(job["attempt"]) - 1))
    else:
        raise InvalidTransitionError(f"Background Job {job['name']} is {status} and cannot be canceled")
    return public_view(job)


def retry_job(job_id: str, *, runtime: Runtime | None = None) -> JobRecord:
    """Administrators put a Dead Letter, Failed, Timed Out or Canceled job back in the queue (commits).

    The retry count starts again from zero; the Job Execution Log records who retried it.
    """
    rt = runtime or get_runtime()
    with _rolled_back_on_error(rt):
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
    if not queue_and_send(rt, job, queue, message=f"Manual retry by {user}"):
        raise InvalidTransitionError(f"Background Job {job['name']} changed while retrying; try again")
    return public_view(job)


def delete_job(job_id: str, *, runtime: Runtime | None = None) -> dict:
    """Administrators delete a finished job (Completed, Canceled, Dead Letter) with its log (commits)."""
    rt = runtime or get_runtime()
    with _rolled_back_on_error(rt):
        job = load_visible_job(rt, job_id, for_update=True)
        if not tenancy.is_admin(rt, rt.current_user()):
            raise NotPermittedError("Only a System Manager or Job Administrator may delete jobs")
        if JobStatus(job["status"]) not in TERMINAL:
            raise InvalidTransitionError(
                f"Background Job {job['name']} is {job['status']}; only finished jobs can be deleted"
            )
        delete_batch(rt, [job["name"]])
        rt.commit()
    return {"job_id": job["name"], "deleted": True}
