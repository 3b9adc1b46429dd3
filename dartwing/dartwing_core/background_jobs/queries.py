"""Read paths: job status, job lists and history, each scoped to what the caller may see.

A job of an organization the caller cannot access is reported exactly like a job that does not
exist (JobNotFoundError), so ids cannot be probed across tenants.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from . import schema, tenancy
from .dependencies import parent_outcomes
from .errors import InvalidInputError, JobNotFoundError
from .inputs import bounded_int
from .records import JobRecord, fetch_job, loads
from .runtime import Runtime, get_runtime
from .status import JobStatus

JOB_ID_PATTERN = re.compile(r"^JOB-\d{4}-\d{5,}$")
# The bounds list_jobs enforces (the OpenAPI document states these same values).
MAX_LIST_LIMIT = 100
MAX_LIST_START = 10**9
MAX_NAME_LENGTH = 140

# What callers see of a job; internal columns (hashes, fencing, RQ ids) stay inside.
PUBLIC_FIELDS = (
    "name",
    "job_type",
    "organization",
    "owner",
    "status",
    "priority",
    "progress",
    "progress_message",
    "output_reference",
    "result",
    "error_type",
    "error_message",
    "retry_count",
    "max_retries",
    "next_retry_at",
    "run_at",
    "snooze_count",
    "timeout",
    "attempt",
    "depends_on",
    "cancel_requested",
    "creation",
    "modified",
    "queued_at",
    "started_at",
    "completed_at",
)
# Stored naive; answered with their offset (Runtime.aware).
TIMESTAMP_FIELDS = ("next_retry_at", "run_at", "creation", "modified", "queued_at", "started_at", "completed_at")


def validate_job_id(job_id: Any) -> str:
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.match(job_id):
        raise InvalidInputError(f"job_id must look like JOB-2026-00001, got {job_id!r}")
    return job_id


def load_visible_job(rt: Runtime, job_id: Any, *, for_update: bool = False) -> JobRecord:
    """The job if the current user may see it; JobNotFoundError otherwise (same for missing)."""
    job = fetch_job(rt, validate_job_id(job_id), for_update=for_update)
    if job is None or not tenancy.can_access(rt, rt.current_user(), job["organization"]):
        raise JobNotFoundError(job_id)
    return job


def public_view(rt: Runtime, job: dict[str, Any]) -> JobRecord:
    view = JobRecord((key, job.get(key)) for key in PUBLIC_FIELDS)
    view["job_id"] = job["name"]
    view["result"] = loads(job.get("result"))
    view["cancel_requested"] = bool(job.get("cancel_requested"))
    _make_aware(rt, view, TIMESTAMP_FIELDS)
    return view


def _make_aware(rt: Runtime, record: dict[str, Any], fields: tuple[str, ...]) -> None:
    for key in fields:
        if record.get(key) is not None:
            record[key] = rt.aware(record[key])


def get_job_status(job_id: str, *, runtime: Runtime | None = None) -> JobRecord:
    """The public view of a job, with `dependencies`: the ids of every job it waits (or waited) for."""
    rt = runtime or get_runtime()
    job = load_visible_job(rt, job_id)
    view = public_view(rt, job)
    view["dependencies"] = [parent["job_id"] for parent in parent_outcomes(rt, job["name"])] or (
        [job["depends_on"]] if job["depends_on"] else []
    )
    return view


def list_jobs(
    organization: str | None = None,
    status: str | list[str] | None = None,
    job_type: str | None = None,
    limit: int = 20,
    start: int = 0,
    *,
    runtime: Runtime | None = None,
) -> list[JobRecord]:
    """Newest first. Filters are exact matches (`status` may be a list); the caller's visibility
    always applies on top."""
    rt = runtime or get_runtime()
    limit = bounded_int("limit", limit, 1, MAX_LIST_LIMIT)
    start = bounded_int("start", start, 0, MAX_LIST_START)
    bj = schema.background_job
    stmt = sa.select(*(bj.c[f] for f in PUBLIC_FIELDS)).order_by(bj.c.creation.desc(), bj.c.name.desc())
    visible = tenancy.visible_organizations(rt, rt.current_user())
    if visible is not None:
        stmt = stmt.where(bj.c.organization.in_(visible))
    if organization is not None:
        stmt = stmt.where(bj.c.organization == _text("organization", organization))
    if isinstance(status, list | tuple | set | frozenset):
        stmt = stmt.where(bj.c.status.in_([_status(s) for s in status]))
    elif status is not None:
        stmt = stmt.where(bj.c.status == _status(status))
    if job_type is not None:
        stmt = stmt.where(bj.c.job_type == _text("job_type", job_type))
    return [public_view(rt, row) for row in rt.execute(stmt.limit(limit).offset(start))]


def get_job_history(job_id: str, *, runtime: Runtime | None = None) -> list[dict[str, Any]]:
    """Every transition of the job, oldest first, from the Job Execution Log."""
    rt = runtime or get_runtime()
    job = load_visible_job(rt, job_id)
    log = schema.job_execution_log
    stmt = (
        sa.select(
            log.c.from_status,
            log.c.to_status,
            log.c.attempt,
            log.c.message,
            log.c.error_type,
            log.c.duration_ms,
            log.c.worker,
            log.c.timestamp,
        )
        .where(log.c.background_job == job["name"])
        .order_by(log.c.timestamp, log.c.name)
    )
    rows = rt.execute(stmt).rows
    for row in rows:
        _make_aware(rt, row, ("timestamp",))
    return rows


def _status(value: Any) -> str:
    try:
        return JobStatus(value).value
    except ValueError:
        raise InvalidInputError(
            f"status must be one of {', '.join(s.value for s in JobStatus)}, got {value!r}"
        ) from None


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_LENGTH:
        raise InvalidInputError(f"{name} must be a string of 1 to {MAX_NAME_LENGTH} characters")
    return value
