"""Recording how an attempt ended, and the retry policy that decides what happens next.

Used by the worker when a handler returns or raises, and by the orphan sweep when a worker died.
Every write is fenced by the attempt: if a newer attempt (or a cancel) took the job, the outcome of
the old one is discarded rather than written over the new state.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from .lifecycle import transition
from .records import JobRecord, fetch_job
from .retry_policy import ErrorType, delay_before_retry
from .runtime import Runtime
from .settings import settings
from .status import JobStatus

log = logging.getLogger(__name__)


def finish(
    rt: Runtime,
    job: JobRecord,
    attempt: int,
    to_status: JobStatus,
    values: dict[str, Any],
    message: str,
    *,
    duration_ms: int = 0,
    commit: bool = True,
    hold: bool = False,
) -> str:
    """Move the job out of Running for `attempt`; returns the status the job is in afterwards.

    `job` is the Running row as this attempt claimed it. The compare-and-set UPDATE (status Running
    and this attempt) is the lease check, so no read comes first; only a lost lease reads the row.
    `hold`: leave the move uncommitted, its log row unwritten, for the next claim's commit
    (group_commit.py).
    """
    if job["status"] != JobStatus.RUNNING.value or not transition(
        rt,
        job,
        to_status,
        values=values,
        fence_attempt=attempt,
        message=message,
        duration_ms=duration_ms,
        hold_log=hold,
        childless_first=True,
    ):
        rt.rollback()
        current = fetch_job(rt, job["name"])
        rt.rollback()
        log.warning("job %s attempt %s lost its lease; outcome %s discarded", job["name"], attempt, to_status)
        return current["status"] if current else "missing"
    if commit and not hold:
        rt.commit()
    return to_status.value


def fail(
    rt: Runtime,
    job: JobRecord,
    attempt: int,
    *,
    error_type: ErrorType,
    error_message: str,
    traceback_text: str | None = None,
    duration_ms: int = 0,
    retry_delay: timedelta | None = None,
) -> str:
    """Record a failed attempt: Failed/Timed Out with a planned retry, or on to Dead Letter in the
    same transaction, as the retry policy (retry_policy.delay_before_retry) decides. The retry waits
    the policy's backoff, or `retry_delay` when given.
    """
    values: dict[str, Any] = {
        "error_type": error_type.value,
        "error_message": error_message[:2000],
        "traceback": traceback_text[-20000:] if traceback_text else None,
    }
    cfg = settings()
    delay = delay_before_retry(
        job, error_type, base_seconds=cfg.backoff_base_seconds, cap_seconds=cfg.backoff_cap_seconds
    )
    retry = delay is not None
    if retry:
        delay = retry_delay if retry_delay is not None else delay
        values["next_retry_at"] = rt.now() + delay
        values["retry_count"] = int(job["retry_count"]) + 1
        message = (
            f"{error_type.value} error; retry {values['retry_count']} of {job['max_retries']}"
            f" in {delay.total_seconds():.1f}s"
        )
    else:
        values["next_retry_at"] = None
        message = "Permanent error" if error_type is ErrorType.PERMANENT else "Retries exhausted"
    failed_status = JobStatus.TIMED_OUT if error_type is ErrorType.TIMEOUT else JobStatus.FAILED
    status = finish(rt, job, attempt, failed_status, values, message, duration_ms=duration_ms, commit=retry)
    if retry or status != failed_status.value:
        return status
    transition(
        rt,
        job,
        JobStatus.DEAD_LETTER,
        values={"completed_at": rt.now()},
        fence_attempt=attempt,
        message=message,
    )
    rt.commit()
    return job["status"]
