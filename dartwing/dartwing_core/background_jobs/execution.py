"""The worker side: claim a job, run its handler with a JobContext, record the outcome.

`run_job` is the function every RQ message names. It does nothing unless its compare-and-set claim
(Queued → Running on the attempt the message carries) succeeds, so a duplicate delivery or a
canceled job is a no-op. Every later write is fenced by the claimed attempt.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from . import group_commit, rate_limits
from .context import JobCanceled, JobContext
from .hashing import canonical_json
from .heartbeat import Heartbeat
from .lifecycle import transition, write_held_log_rows
from .outages import Outage
from .outcomes import fail, finish
from .overdue import run_minute_sweep_if_overdue
from .records import JobRecord
from .retry_policy import ErrorType, classify, is_connection_error
from .runtime import Runtime, get_runtime
from .settings import settings
from .snooze import RetryLater, record_snooze
from .statements import statement
from .status import JobStatus

log = logging.getLogger(__name__)

# A claim that meets an unreachable database waits with backoff (settings.claim_outage_wait_seconds):
# the worker holds its message instead of failing every job it takes, with a traceback each, during
# the outage.
CLAIM_OUTAGE_FIRST_WAIT_SECONDS = 0.5
CLAIM_OUTAGE_MAX_WAIT_SECONDS = 5.0
DATABASE = Outage("the database", "claims wait and retry with backoff", log)

_handlers: dict[str, Callable[[JobContext], Any]] = {}

# What a run reads of its job: the handler's inputs and what the outcome's writes and events need.
_RUN_COLUMNS = (
    "name",
    "job_type",
    "organization",
    "owner",
    "status",
    "priority",
    "parameters",
    "attempt",
    "retry_count",
    "snooze_count",
    "max_retries",
    "timeout",
    "depends_on",
    "worker",
    "output_reference",
    "error_message",
)
# The claim's one read: the job, its handler (a mandatory field, so NULL means the Job Type row is
# gone) and the concurrency caps its finish needs (release.after_transition).
@statement
def _CLAIM_READ(sa, t):
    bj, jt, org = t.background_job, t.job_type, t.organization
    return (
        sa.select(
            *(bj.c[column] for column in _RUN_COLUMNS),
            jt.c.handler_method,
            org.c.max_concurrent_jobs,
            jt.c.max_concurrent_per_org,
            jt.c.rate_limit_count,
            jt.c.rate_limit_period,
            jt.c.rate_limit_per_org,
        )
        .select_from(bj.outerjoin(jt, jt.c.name == bj.c.job_type).outerjoin(org, org.c.name == bj.c.organization))
        .where(bj.c.name == sa.bindparam("job_name"))
    )


def resolve_handler(dotted_path: str) -> Callable[[JobContext], Any]:
    """Import `package.module.function` once per process; raise ImportError/TypeError if unusable."""
    handler = _handlers.get(dotted_path)
    if handler is None:
        module_path, _, attr = dotted_path.rpartition(".")
        if not module_path:
            raise ImportError(f"handler_method {dotted_path!r} is not a dotted path")
        handler = getattr(importlib.import_module(module_path), attr, None)
        if not callable(handler):
            raise TypeError(f"handler_method {dotted_path!r} does not name a callable")
        _handlers[dotted_path] = handler
    return handler


def worker_identity() -> str:
    try:
        from rq import get_current_job

        current = get_current_job()
    except Exception:  # outside an RQ worker (tests calling run_job directly)
        current = None
    name = getattr(current, "worker_name", None)
    return name or f"{socket.gethostname()}:{os.getpid()}"


def run_job(background_job: str, attempt: int) -> str:
    """RQ entry point. Returns the final status (informational: the row is the truth).

    The argument names avoid `job_name`/`job_id`, which `frappe.enqueue` keeps for itself.
    """
    rt = get_runtime()
    claimed = _claim_through_outage(rt, background_job, int(attempt))
    if claimed is None:
        return "not claimed"
    job, handler_method = claimed
    claimed_attempt = job["attempt"]
    started = time.monotonic()
    previous_user = rt.current_user()
    rt.set_user(job["owner"] or previous_user)
    try:
        status = _run_claimed(rt, job, handler_method, claimed_attempt, started)
    finally:
        rt.set_user(previous_user)
    run_minute_sweep_if_overdue(rt, before=flush_outcome)
    return status


def prefetch_claim(rt: Any, rq_message_id: str) -> None:
    """Send the claim's read of the job an RQ message names (`rq_job_id`: name-attempt) ahead, as a
    non-forking worker takes the message: the database reads the row while RQ does its Redis
    bookkeeping, and `_claim` gets the reply without a round trip of its own (a runtime that can
    send ahead: StandaloneRuntime.prefetch)."""
    rt.prefetch(_CLAIM_READ, {"job_name": rq_message_id.rpartition("-")[0]})


def flush_outcome(rt: Runtime) -> None:
    """Commit the outcome the last job left to the next claim (group_commit.py), if any: a
    non-forking worker calls this before it waits for a message or stops. Never raises for a lost
    database: the job stays Running and the orphan checks run it again."""
    if group_commit.pending() is None:
        return
    try:
        _commit_with_held_outcome(rt)
    except Exception as exc:
        if not is_connection_error(exc):
            raise
        _rollback_quietly(rt)
        group_commit.lost(exc)


def _claim_through_outage(rt: Runtime, job_name: str, attempt: int) -> tuple[JobRecord, str | None] | None:
    """`_claim`, retried with backoff while the database is unreachable (logged once per outage)."""
    wait = CLAIM_OUTAGE_FIRST_WAIT_SECONDS
    deadline = time.monotonic() + settings().claim_outage_wait_seconds
    while True:
        try:
            claimed = _claim(rt, job_name, attempt)
        except Exception as exc:
            if group_commit.pending() is not None:  # the held outcome went down with the transaction
                _rollback_quietly(rt)
                group_commit.lost(exc)
            if not is_connection_error(exc):
                raise
            _rollback_quietly(rt)
            DATABASE.began(exc, time.monotonic())
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning(
                    "job %s not claimed: %s still unreachable; the outbox sweep sends it again", job_name, DATABASE.what
                )
                return None
            time.sleep(min(wait, remaining))
            wait = min(wait * 2, CLAIM_OUTAGE_MAX_WAIT_SECONDS)
            continue
        DATABASE.ended(time.monotonic())
        return claimed


def _rollback_quietly(rt: Runtime) -> None:
    """End the failed transaction; on a lost connection that can fail too, and changes nothing."""
    try:
        rt.rollback()
    except Exception as exc:  # noqa: BLE001 - the claim's retry reports the outage
        if not is_connection_error(exc):
            raise


def _claim(rt: Runtime, job_name: str, attempt: int) -> tuple[JobRecord, str | None] | None:
    """Claim the job for `attempt` + 1; (job, its handler's dotted path or None if its Job Type is
    gone), or None if not claimable. The job, its handler and its caps are read in one statement."""
    row = rt.execute(_CLAIM_READ, {"job_name": job_name}).first()
    if row is None or row["status"] != JobStatus.QUEUED.value or int(row["attempt"]) != attempt:
        _end_unclaimed(rt)
        log.info(
            "job %s attempt %s not claimable (%s); message dropped", job_name, attempt, row and row["status"]
        )
        return None
    job = JobRecord(row)
    handler_method = job.pop("handler_method")
    job.caps_at_claim = (
        int(job.pop("max_concurrent_jobs") or 0),
        int(job.pop("max_concurrent_per_org") or 0),
    )
    limit = job.rate_limit_at_claim = rate_limits.of(
        {key: job.pop(key) for key in ("rate_limit_count", "rate_limit_period", "rate_limit_per_org")}
    )
    opens_at = None if limit is None else rate_limits.take_start(rt, job, limit)
    if opens_at is not None:
        # Over the limit: back in line, Pending until the window has room; never failed.
        if rate_limits.hold(rt, job, attempt, opens_at, limit):
            _commit_with_held_outcome(rt)
        else:
            _end_unclaimed(rt)
        log.info("job %s held by its rate limit until %s", job_name, opens_at)
        return None
    values = _claim_values(rt, attempt)
    if not transition(rt, job, JobStatus.RUNNING, values=values, fence_attempt=attempt):
        _end_unclaimed(rt)
        return None
    if limit is not None:
        rate_limits.record_start(rt, job, limit, values["started_at"])
    _commit_with_held_outcome(rt)
    return job, handler_method


def _commit_with_held_outcome(rt: Runtime) -> None:
    """Commit the transaction, and with it the outcome the last job held for it (its log rows
    written first if no log INSERT of the transaction took them)."""
    write_held_log_rows(rt)
    rt.commit()
    group_commit.committed()


def _end_unclaimed(rt: Runtime) -> None:
    """End a claim that wrote nothing: roll back, or commit the outcome the last job held."""
    if group_commit.pending() is None:
        rt.rollback()
    else:
        _commit_with_held_outcome(rt)


def _claim_values(rt: Runtime, attempt: int) -> dict[str, Any]:
    now = rt.now()
    return {
        "attempt": attempt + 1,
        "worker": worker_identity(),
        "started_at": now,
        "heartbeat_at": now,
        "completed_at": None,
        "cancel_requested": 0,
    }


def prepare_statements(rt: Runtime) -> None:
    """Have the runtime compile and cache the claim read and the claim and finish UPDATEs, by running
    them for a job name no row has, in a transaction that is rolled back. The log INSERT and the
    children read run only after an UPDATE matches a row, so a horse still compiles those two
    (the cheapest of the five: about 0.3–0.5 ms each, against 0.6–2 ms for these).

    Why: a forking worker's work horse starts from its parent's caches, and a parent that never runs a
    job leaves them empty. Every horse then compiled the claim read and the claim and finish UPDATEs
    again, and (standalone) let SQLAlchemy learn the server on its first connection, five more
    queries. On MariaDB that came to 61 ms of worker CPU per job against 34 ms prepared
    (bench/cpu_per_job.py --forking, issue 7). A forking worker calls this before it starts. The
    UPDATEs match no row, so nothing else is written or published. (On MariaDB these statements come
    precompiled, mariadb_statements.py, so there it saves the server discovery; the Frappe runtime
    needs neither.)
    """
    try:
        rt.execute(_CLAIM_READ, {"job_name": ""})
        absent = {"name": "", "organization": "", "job_type": "", "status": JobStatus.QUEUED.value}
        transition(rt, absent, JobStatus.RUNNING, values=_claim_values(rt, 0), fence_attempt=0)
        absent = {"name": "", "organization": "", "job_type": "", "status": JobStatus.RUNNING.value}
        transition(
            rt, absent, JobStatus.COMPLETED, values=_success_values(rt, None), fence_attempt=1, childless_first=True
        )
    finally:
        rt.rollback()


def _run_claimed(
    rt: Runtime, job: JobRecord, handler_method: str | None, attempt: int, started: float
) -> str:
    try:
        if handler_method is None:
            raise LookupError(f"Job type {job['job_type']} no longer exists")
        handler = resolve_handler(handler_method)
        cfg = settings()
        context = JobContext(rt, job, attempt, throttle_seconds=cfg.progress_throttle_seconds)
        with Heartbeat(rt, job["name"], attempt, cfg.heartbeat_seconds):
            result = handler(context)
    except BaseException as exc:  # noqa: BLE001 - every outcome must be recorded, then re-raised if fatal
        rt.rollback()
        status = _record_failure(rt, job, attempt, exc, started)
        if not isinstance(exc, Exception) and not _is_rq_timeout(exc):
            raise
        return status
    return _record_success(rt, job, attempt, result, started)


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _record_success(rt: Runtime, job: JobRecord, attempt: int, result: Any, started: float) -> str:
    values = _success_values(rt, result)
    return finish(
        rt,
        job,
        attempt,
        JobStatus.COMPLETED,
        values,
        "Completed",
        duration_ms=_elapsed_ms(started),
        hold=group_commit.enabled(),
    )


def _success_values(rt: Runtime, result: Any) -> dict[str, Any]:
    if result is not None and not isinstance(result, dict):
        result = {"value": result}
    output_reference = (result or {}).get("output_reference")
    return {
        "progress": 100,
        "completed_at": rt.now(),
        "result": _json_or_none(result),
        "output_reference": None if output_reference is None else str(output_reference),
        "error_type": None,
        "error_message": None,
        "traceback": None,
        "next_retry_at": None,
    }


def _record_failure(rt: Runtime, job: JobRecord, attempt: int, exc: BaseException, started: float) -> str:
    if isinstance(exc, RetryLater):
        return record_snooze(rt, job, attempt, exc, duration_ms=_elapsed_ms(started))
    if isinstance(exc, JobCanceled):
        values = {"completed_at": rt.now()}
        return finish(
            rt,
            job,
            attempt,
            JobStatus.CANCELED,
            values,
            str(exc) or "Canceled",
            duration_ms=_elapsed_ms(started),
        )
    return fail(
        rt,
        job,
        attempt,
        error_type=ErrorType.TIMEOUT if _is_rq_timeout(exc) else classify(exc),
        error_message=f"{type(exc).__name__}: {exc}",
        traceback_text="".join(traceback.format_exception(exc)),
        duration_ms=_elapsed_ms(started),
    )


def _is_rq_timeout(exc: BaseException) -> bool:
    try:
        from rq.timeouts import JobTimeoutException
    except ImportError:  # pragma: no cover - rq is a base dependency
        return False
    return isinstance(exc, JobTimeoutException)


def _json_or_none(value: Any) -> str | None:
    return None if value is None else canonical_json(value)
